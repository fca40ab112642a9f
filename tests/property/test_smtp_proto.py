"""Hypothesis: the SMTP/LMTP core never fails on any input, answers only with
well-formed replies, and gives the same events and bytes however TCP splits
the stream."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from hivemail.smtp_proto import (
    Event,
    MailFrom,
    MessageReceived,
    RcptTo,
    Reply,
    SmtpLimits,
    SmtpServerConnection,
    read_data,
)
from hivemail.wire import StreamReader

LIMITS = SmtpLimits(max_command_line=512, max_message_size=64, max_recipients=3, max_errors=30)

TOKENS = [
    b"EHLO c\r\n", b"LHLO c\r\n", b"HELO c\r\n", b"MAIL FROM:<a@b.example>\r\n",
    b"MAIL FROM:<> SIZE=10 BODY=8BITMIME\r\n", b"MAIL FROM:<\xc3\xa4@b> SMTPUTF8\r\n",
    b"MAIL FROM:<a@b> SIZE=99999\r\n", b"RCPT TO:<c@d.example>\r\n", b"RCPT TO:<bb@d.example>\r\n",
    b"RCPT TO:<Postmaster>\r\n", b"DATA\r\n", b".\r\n", b"..\r\n", b"\r\n.\r\n", b"\n.\n", b"\r.\r",
    b"RSET\r\n", b"NOOP\r\n", b"VRFY x\r\n", b"HELP\r\n", b"QUIT\r\n", b"\r\n", b"\n", b"\r", b".",
    b"x" * 600, b"y" * 70 + b"\r\n", b"GET / HTTP/1.0\r\n", b"\x00", b"\xff",
]

streams = st.lists(
    st.one_of(st.sampled_from(TOKENS), st.binary(max_size=12)), max_size=40
).map(b"".join)

REPLY_LINE = re.compile(rb"\A(?:[245][0-9][0-9](?:[ -][^\r\n]*)?|354 [^\r\n]*)\Z")


def decide(conn: SmtpServerConnection, event: Event) -> Reply | list[Reply] | None:
    """Deterministic in the event, so that every split gets the same answers."""
    if isinstance(event, (MailFrom, RcptTo)):
        return Reply.ok() if len(event.address) % 3 else Reply(550, "5.1.1", "no")
    if isinstance(event, MessageReceived):
        replies = [Reply.ok() if len(r) % 2 else Reply.temp_fail() for r in event.recipients]
        return replies if conn.lmtp else Reply.ok()
    return None


def run(wire: bytes, cuts: list[int], lmtp: bool) -> tuple[list[Event], bytes]:
    conn = SmtpServerConnection(lmtp, "mx.example", LIMITS)
    conn.start()
    out = bytearray(conn.data_to_send())
    events: list[Event] = []
    bounds = [0, *sorted(c % (len(wire) + 1) for c in cuts), len(wire)]
    pieces = [wire[a:b] for a, b in zip(bounds, bounds[1:]) if b > a] + [b""]
    for piece in pieces:
        conn.receive_data(piece)
        for event in conn.events():
            events.append(event)
            answer = decide(conn, event)
            if answer is not None:
                conn.send(answer)
        out += conn.data_to_send()
    assert conn.closed  # EOF always ends the session
    return events, bytes(out)


@settings(max_examples=300, deadline=None)
@given(wire=streams, cuts=st.lists(st.integers(min_value=0), max_size=8), lmtp=st.booleans())
def test_any_split_gives_the_same_events_and_bytes(wire: bytes, cuts: list[int], lmtp: bool) -> None:
    assert run(wire, cuts, lmtp) == run(wire, [], lmtp)


@settings(max_examples=300, deadline=None)
@given(wire=streams, lmtp=st.booleans())
def test_random_input_only_ever_gets_well_formed_replies(wire: bytes, lmtp: bool) -> None:
    events, out = run(wire, list(range(1, len(wire), 3)), lmtp)
    assert out.endswith(b"\r\n")
    for line in out[:-2].split(b"\r\n"):
        assert REPLY_LINE.match(line), line
    for event in events:
        if isinstance(event, MessageReceived):
            assert len(event.data) <= LIMITS.max_message_size
            assert event.recipients  # never DATA without an accepted RCPT


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200), cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_stuffing_round_trip(body: bytes, cuts: list[int]) -> None:
    """Whatever the message, dot-stuffing it the way RFC 5321 section 4.5.2 tells
    a client to and reading it back gives it back, and nothing after the
    terminator is consumed. A line starts after CRLF or a bare LF (as smtplib,
    Postfix and Dovecot see it; see data.unstuff), so the client stuffs both."""
    message = body + b"\r\n" if body else b""
    stuffed = (b"." if message.startswith(b".") else b"") + message.replace(b"\n.", b"\n..")
    wire = stuffed + b".\r\nNEXT"
    reader = StreamReader()
    gen = read_data(reader, 10_000)
    bounds = [0, *sorted(c % (len(wire) + 1) for c in cuts), len(wire)]
    next(gen)
    result = None
    for a, b in zip(bounds, bounds[1:]):
        reader.feed_data(wire[a:b])
        try:
            next(gen)
        except StopIteration as stop:
            result = stop.value
            reader.feed_data(wire[b:])
            break
    assert result == message
    assert bytes(reader._buffer) == b"NEXT"
