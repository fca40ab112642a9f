"""Property tests for the POP3 core: never raises on client bytes, dot-stuffing round-trips,
chunking invariance."""

from hypothesis import given, settings
from hypothesis import strategies as st

from hivemail.pop3_proto import (
    CapaCommand,
    CommandError,
    CommandReceived,
    Continuation,
    DotStuffer,
    MultiLine,
    Ok,
    Pop3ServerConnection,
    AuthCommand,
    AuthResponse,
    Limits,
    dot_stuff,
    dot_unstuff,
    parse_line,
    stuffed_size,
)

# Bytes biased towards what matters for POP3: line ends, dots, spaces, digits, keywords.
ATOMS = [b"\r\n", b"\n", b"\r", b".", b"..", b" ", b"0", b"1", b"-", b"*", b"=",
         b"USER a", b"PASS b", b"STAT", b"LIST", b"RETR 1", b"TOP 1 2", b"AUTH PLAIN",
         b"STLS", b"QUIT", b"UIDL", b"CAPA", b"UTF8", b"\xff", b"\x00"]
wire_bytes = st.one_of(
    st.binary(max_size=400),
    st.lists(st.one_of(st.sampled_from(ATOMS), st.binary(max_size=5)), max_size=60).map(b"".join),
)


def split_at(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    # no empty chunks: receive_data(b"") means EOF
    return [data[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def respond(conn, event):
    """A session that answers everything, logs in via AUTH, and alternates Ok/Err."""
    if isinstance(event, AuthResponse):
        conn.send(Ok("in"))
    elif isinstance(event, CommandReceived):
        cmd = event.command
        if isinstance(cmd, AuthCommand):
            conn.send(Continuation(b"c"))
        elif isinstance(cmd, CapaCommand):
            conn.send(MultiLine("caps", b"TOP\r\n.X\r\n"))
        else:
            conn.send(Ok(cmd.NAME))


def drive(chunks, limits=None):
    conn = Pop3ServerConnection(limits)
    conn.send(Ok("hi"))
    out = bytearray(conn.data_to_send())
    events = []
    for chunk in [*chunks, b""]:
        if conn.closed:
            break
        conn.receive_data(chunk)
        for event in conn.events():
            events.append(event)
            respond(conn, event)
            out += conn.data_to_send()
        # a STLS +OK waits for the handshake: pretend it completed
        if conn._tls_pending and not conn.closed:  # noqa: SLF001 - test shortcut
            conn.start_tls_done()
    return bytes(out), events


@given(wire_bytes)
def test_parse_line_never_raises_anything_but_command_error(data):
    try:
        parse_line(data)
    except CommandError as exc:
        assert exc.text and "\r" not in exc.text and "\n" not in exc.text


@settings(max_examples=300)
@given(wire_bytes, st.lists(st.integers(min_value=0), max_size=8))
def test_connection_never_raises_and_chunking_is_invisible(data, cuts):
    limits = Limits(max_line_length=40, max_auth_line_length=60)
    whole = drive([data], limits)
    split = drive(split_at(data, cuts), limits)
    assert split == whole
    # every response line is well-formed
    for line in whole[0].split(b"\r\n")[:-1]:
        assert line[:1] in (b"+", b"-", b"T", b".", b"")


@given(st.binary(max_size=2000))
def test_dot_stuff_round_trips_and_size_matches(data):
    wire = dot_stuff(data, final=True)
    assert stuffed_size(data) == len(wire) - 3
    expected = data if (not data or data.endswith(b"\r\n")) else data + b"\r\n"
    assert dot_unstuff(wire) == expected


def client_lines(wire):
    """What an LF-splitting client (poplib) recovers: stop at ".", strip one leading dot."""
    out, consumed = [], 0
    for line in wire.split(b"\n")[:-1]:
        line = line + b"\n"
        consumed += len(line)
        if line == b".\r\n":
            return b"".join(out), consumed
        out.append(line[1:] if line.startswith(b".") else line)
    return b"".join(out), None


@given(st.lists(st.sampled_from([b"a", b".", b"\r\n", b"\r", b"\n", b"..", b"x."]), max_size=40).map(b"".join))
def test_no_content_line_looks_like_the_terminator(data):
    wire = dot_stuff(data, final=True)
    assert wire.endswith(b"\r\n.\r\n") or wire == b".\r\n"
    body, consumed = client_lines(wire)
    # the first ".\r\n" line a client meets is the real terminator, at the very end
    assert consumed == len(wire)
    crlf_only = b"\r" not in data.replace(b"\r\n", b"") and b"\n" not in data.replace(b"\r\n", b"")
    if crlf_only:
        assert body == (data if not data or data.endswith(b"\r\n") else data + b"\r\n")


@given(st.binary(max_size=1000), st.lists(st.integers(min_value=0), max_size=10))
def test_streamed_dot_stuffing_equals_whole_for_any_split(data, cuts):
    stuffer = DotStuffer()
    chunks = split_at(data, cuts) + [b""]  # empty chunks are fine here
    streamed = b"".join(stuffer.feed(c) for c in chunks) + stuffer.end()
    assert streamed == dot_stuff(data, final=True)
