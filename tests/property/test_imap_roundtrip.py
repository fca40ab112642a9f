"""Hypothesis: parse(format(x)) == x for the IMAP core's values; random input never raises."""

from datetime import date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from hivemail.imap_proto import (
    STAR,
    BadCommand,
    CommandReceived,
    CreateRequest,
    FormatContext,
    IdleDone,
    ImapLimits,
    ImapServerConnection,
    ListItem,
    LiteralRequested,
    LoginRequest,
    SeqRange,
    SeqSet,
    State,
    Tagged,
    Version,
    format_bytes,
    parse_seqset,
)
from hivemail.imap_proto import utf7
from hivemail.imap_proto.dates import format_date, format_datetime, parse_date, parse_datetime
from hivemail.imap_proto.responses import _Writer

numbers = st.one_of(st.just(STAR), st.integers(1, 2**32 - 1))
ranges = st.builds(SeqRange, numbers, st.one_of(st.none(), numbers))
seqsets = st.one_of(st.builds(lambda items: SeqSet(tuple(items)), st.lists(ranges, min_size=1, max_size=8)), st.just(SeqSet(saved=True)))


@given(seqsets)
def test_seqset_roundtrip(s):
    assert parse_seqset(str(s)) == s


@given(st.lists(ranges, min_size=1, max_size=8), st.integers(0, 50))
def test_seqset_ranges_are_sorted_disjoint_and_bounded(items, largest):
    spans = SeqSet(tuple(items)).ranges(largest)
    for low, high in spans:
        assert 1 <= low <= high <= largest
    for (_, h1), (l2, _) in zip(spans, spans[1:]):
        assert h1 + 1 < l2


@given(st.text())
def test_utf7_roundtrip(name):
    wire = utf7.encode(name)
    assert wire.isascii()
    assert utf7.decode(wire) == name


@given(st.binary(max_size=30))
def test_utf7_decode_never_crashes_and_is_canonical(data):
    try:
        name = utf7.decode(data)
    except utf7.Utf7Error:
        return
    assert utf7.encode(name).encode() == data


@given(st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)))
def test_date_roundtrip(d):
    assert parse_date(format_date(d)) == d


@given(
    st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)
def test_datetime_roundtrip(naive, offset_minutes):
    dt = naive.replace(microsecond=0, tzinfo=timezone(timedelta(minutes=offset_minutes)))
    back = parse_datetime(format_datetime(dt))
    assert back == dt and back.utcoffset() == dt.utcoffset()


def _astring(value: str, ctx: FormatContext) -> bytes:
    w = _Writer(ctx)
    w.string(value)
    w.flush()
    return b"".join(w.chunks)


text_no_nul = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)


@given(text_no_nul, text_no_nul, st.sampled_from([FormatContext(), FormatContext(Version.REV2)]))
def test_astring_roundtrip_through_login(user, password, ctx):
    conn = ImapServerConnection()
    conn.receive_data(b"a LOGIN " + _astring(user, ctx) + b" " + _astring(password, ctx) + b"\r\n")
    [event] = conn.events()
    assert event.request == LoginRequest(user, password)


mailbox_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30
).filter(lambda n: n.upper() != "INBOX")


@given(mailbox_names, st.booleans())
def test_mailbox_roundtrip_rev1_and_rev2(name, rev2):
    ctx = FormatContext(Version.REV2 if rev2 else Version.REV1)
    wire = format_bytes(ListItem(name), ctx)
    encoded = wire[len(b'* LIST () "/" ') : -2]
    conn = ImapServerConnection(state=State.AUTHENTICATED, version=ctx.version)
    conn.receive_data(b"a CREATE " + encoded + b"\r\n")
    [event] = conn.events()
    assert event.request == CreateRequest(name)


def _drive(conn: ImapServerConnection, rng_accept: bool) -> None:
    for _ in range(3):
        for event in conn.events():
            if isinstance(event, LiteralRequested):
                if rng_accept:
                    conn.accept_literal()
                else:
                    conn.reject_literal(Tagged.no(event.tag, "no"))
            elif isinstance(event, BadCommand):
                conn.send(event.response())
            elif isinstance(event, CommandReceived) and event.command == "AUTHENTICATE":
                conn.expect_auth_line()
            elif isinstance(event, (CommandReceived, IdleDone)):
                conn.send(Tagged.ok(event.tag or "x"))
        conn.data_to_send()


FRAGMENTS = [
    b"a ", b"UID ", b"FETCH ", b"SEARCH ", b"APPEND ", b"LOGIN ", b"IDLE", b"AUTHENTICATE PLAIN", b"DONE",
    b"1:* ", b"(", b")", b'"', b"\\", b"{3}\r\n", b"{2+}\r\n", b"~{1}\r\n", b"{99999999999}\r\n", b"\r\n", b"\n",
    b"BODY[HEADER.FIELDS (A)]<0.1>", b"INBOX ", b"NIL ", b"*", b"\x00", b"\xff", b" ", b"x",
]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=12)), max_size=30),
    st.sampled_from([State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED]),
    st.integers(1, 16),
    st.booleans(),
    st.booleans(),
)
def test_random_input_never_raises(pieces, state, chunk, accept, eof):
    data = b"".join(pieces)
    conn = ImapServerConnection(ImapLimits(max_line=128, max_literal=64, max_nesting=3, max_pipelined=3), state=state)
    for i in range(0, len(data), chunk):
        conn.receive_data(data[i : i + chunk])
        _drive(conn, accept)
    if eof:
        conn.receive_data(b"")
        _drive(conn, accept)


COMMAND_LINES = [
    b"a NOOP\r\n", b"b FETCH 1:* (FLAGS BODY.PEEK[1.HEADER.FIELDS (To)]<0.9>)\r\n", b'c SEARCH OR FROM "x y" NOT SEEN\r\n',
    b"d LOGIN {3}\r\nabc {2+}\r\nde\r\n", b"e STORE 1 +FLAGS (\\Seen)\r\n", b"f bogus\r\n", b"g SEARCH ((\r\n",
    b"h APPEND INBOX {2}\r\nhi\r\n", b"i IDLE\r\nDONE\r\n", b"j LIST (SUBSCRIBED) \"\" (% *) RETURN (CHILDREN)\r\n",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(COMMAND_LINES), min_size=1, max_size=8), st.data())
def test_any_split_of_a_transcript_yields_the_same_events(lines, data):
    transcript = b"".join(lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(transcript)), max_size=10)))

    def events_for(pieces):
        conn = ImapServerConnection(state=State.SELECTED)
        seen = []
        for piece in pieces:
            conn.receive_data(piece)
            for event in conn.events():
                seen.append(event)
                if isinstance(event, LiteralRequested):
                    conn.accept_literal()
                elif isinstance(event, BadCommand):
                    conn.send(event.response())
                elif isinstance(event, (CommandReceived, IdleDone)) and not (
                    isinstance(event, CommandReceived) and event.command == "IDLE"
                ):
                    conn.send(Tagged.ok(event.tag))
        return seen

    whole = events_for([transcript])
    bounds = [0, *cuts, len(transcript)]
    split = events_for([transcript[a:b] for a, b in zip(bounds, bounds[1:]) if b > a])
    assert split == whole
