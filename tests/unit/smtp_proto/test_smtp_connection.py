"""SmtpServerConnection: whole sessions as transcripts, fed whole, one byte at a
time and in chunks, which must all give the same events and the same bytes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from hivemail.smtp_proto import (
    BAD_SEQUENCE,
    Closed,
    Event,
    Hello,
    MailFrom,
    MessageReceived,
    RcptTo,
    Reply,
    SmtpLimits,
    SmtpServerConnection,
    State,
)
from hivemail.wire import LocalProtocolError

CHUNKS = [None, 1, 2, 3, 7, 16, 64]  # None: the whole transcript at once
HOST = "mx.example"


def policy(conn: SmtpServerConnection, event: Event) -> Reply | list[Reply] | None:
    """A deterministic session: the address decides the answer."""
    if isinstance(event, MailFrom):
        return Reply(550, "5.7.1", "Sender rejected") if event.address.startswith("bad") else Reply.sender_ok()
    if isinstance(event, RcptTo):
        if event.address.startswith("unknown"):
            return Reply.no_such_user()
        if event.address.startswith("full"):
            return Reply.over_quota()
        return Reply.recipient_ok()
    if isinstance(event, MessageReceived):
        if not conn.lmtp:
            return Reply(250, "2.0.0", f"queued {len(event.data)} octets")
        return [
            Reply(552, "5.2.2", f"<{r}> over quota") if r.startswith("quota") else Reply(250, "2.0.0", f"<{r}> delivered")
            for r in event.recipients
        ]
    return None


Policy = Callable[[SmtpServerConnection, Event], "Reply | list[Reply] | None"]


def exchange(
    wire: bytes,
    *,
    lmtp: bool = False,
    chunk: int | None = None,
    limits: SmtpLimits | None = None,
    decide: Policy = policy,
    eof: bool = True,
) -> tuple[list[Event], bytes, SmtpServerConnection]:
    """Run a whole session the way the asyncio session will: feed, drain events, answer."""
    conn = SmtpServerConnection(lmtp, HOST, limits or SmtpLimits())
    conn.start()
    out = bytearray(conn.data_to_send())
    events: list[Event] = []
    step = chunk or max(len(wire), 1)
    pieces = [wire[i : i + step] for i in range(0, len(wire), step)] + ([b""] if eof else [])
    for piece in pieces:
        conn.receive_data(piece)
        for event in conn.events():
            events.append(event)
            answer = decide(conn, event)
            if answer is not None:
                conn.send(answer)
        out += conn.data_to_send()
    return events, bytes(out), conn


def transcript(text: str) -> tuple[bytes, bytes]:
    """"C: " lines are what the client sends, "S: " lines what we must answer."""
    client, server = [], []
    for line in text.strip().splitlines():
        line = line.strip()
        if not line:
            continue
        side, content = line[:2], line[3:]
        assert side in ("C:", "S:"), line
        (client if side == "C:" else server).append(content.encode() + b"\r\n")
    return b"".join(client), b"".join(server)


EHLO_REPLY = f"""
S: 250-{HOST}
S: 250-PIPELINING
S: 250-8BITMIME
S: 250-SMTPUTF8
S: 250-ENHANCEDSTATUSCODES
S: 250 SIZE 52428800
"""

TRANSCRIPTS = {
    "smtp-basic": (
        False,
        f"""
        S: 220 {HOST} ESMTP ready
        C: EHLO client.example
        {EHLO_REPLY}
        C: MAIL FROM:<alice@a.example> BODY=8BITMIME
        S: 250 2.1.0 Sender OK
        C: RCPT TO:<bob@b.example>
        S: 250 2.1.5 Recipient OK
        C: RCPT TO:<unknown@b.example>
        S: 550 5.1.1 Recipient address rejected: no such user
        C: DATA
        S: 354 End data with <CR><LF>.<CR><LF>
        C: Subject: hi
        C:
        C: ..dotted
        C: .
        S: 250 2.0.0 queued 24 octets
        C: QUIT
        S: 221 2.0.0 {HOST} closing connection
        """,
    ),
    # RFC 2033 section 4.2, the example: one reply per accepted RCPT, in order.
    "lmtp-rfc2033": (
        True,
        f"""
        S: 220 {HOST} LMTP ready
        C: LHLO foo.edu
        {EHLO_REPLY}
        C: MAIL FROM:<chris@bar.com>
        S: 250 2.1.0 Sender OK
        C: RCPT TO:<pat@foo.edu>
        S: 250 2.1.5 Recipient OK
        C: RCPT TO:<unknown-jones@foo.edu>
        S: 550 5.1.1 Recipient address rejected: no such user
        C: RCPT TO:<quota-green@foo.edu>
        S: 250 2.1.5 Recipient OK
        C: RCPT TO:<pat@foo.edu>
        S: 250 2.1.5 Recipient OK
        C: DATA
        S: 354 End data with <CR><LF>.<CR><LF>
        C: Blah blah blah...
        C: .
        S: 250 2.0.0 <pat@foo.edu> delivered
        S: 552 5.2.2 <quota-green@foo.edu> over quota
        S: 250 2.0.0 <pat@foo.edu> delivered
        C: QUIT
        S: 221 2.0.0 {HOST} closing connection
        """,
    ),
    "smtp-sequence-errors": (
        False,
        f"""
        S: 220 {HOST} ESMTP ready
        C: MAIL FROM:<a@b.example>
        S: 503 5.5.1 Send EHLO first
        C: RCPT TO:<a@b.example>
        S: 503 5.5.1 Need MAIL before RCPT
        C: DATA
        S: 503 5.5.1 Need MAIL command
        C: HELO client.example
        S: 250 {HOST}
        C: MAIL FROM:<bad@b.example>
        S: 550 5.7.1 Sender rejected
        C: RCPT TO:<c@d.example>
        S: 503 5.5.1 Need MAIL before RCPT
        C: MAIL FROM:<>
        S: 250 2.1.0 Sender OK
        C: MAIL FROM:<>
        S: 503 5.5.1 Nested MAIL command
        C: DATA
        S: 503 5.5.1 No valid recipients
        C: RCPT TO:<unknown@d.example>
        S: 550 5.1.1 Recipient address rejected: no such user
        C: DATA
        S: 503 5.5.1 No valid recipients
        C: RSET
        S: 250 2.0.0 OK
        C: RCPT TO:<c@d.example>
        S: 503 5.5.1 Need MAIL before RCPT
        C: LHLO client.example
        S: 500 5.5.2 Syntax error, command unrecognized
        C: QUIT
        S: 221 2.0.0 {HOST} closing connection
        """,
    ),
    "lmtp-refuses-ehlo-and-helo": (
        True,
        f"""
        S: 220 {HOST} LMTP ready
        C: EHLO client.example
        S: 500 5.5.1 Error: this is LMTP, use LHLO
        C: HELO client.example
        S: 500 5.5.1 Error: this is LMTP, use LHLO
        C: MAIL FROM:<a@b.example>
        S: 503 5.5.1 Send LHLO first
        C: QUIT
        S: 221 2.0.0 {HOST} closing connection
        """,
    ),
    "smtp-small-commands": (
        False,
        f"""
        S: 220 {HOST} ESMTP ready
        C: noop
        S: 250 2.0.0 OK
        C: NOOP anything
        S: 250 2.0.0 OK
        C: VRFY root
        S: 252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery
        C: VRFY
        S: 501 5.5.4 Syntax: VRFY address
        C: HELP
        S: 214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP
        C: EXPN staff
        S: 502 5.5.1 EXPN not implemented
        C: FROB
        S: 500 5.5.2 Syntax error, command unrecognized
        C:
        S: 500 5.5.2 Syntax error, command unrecognized
        C: EHLO
        S: 501 5.5.4 Syntax: EHLO hostname
        C: ehlo   client.example
        {EHLO_REPLY}
        C: MAIL FROM:<a@b.example> SIZE=52428801
        S: 552 5.3.4 Message size exceeds fixed maximum message size
        C: MAIL FROM:<a@b.example> SIZE=52428800 FOO=1
        S: 555 5.5.4 Unsupported parameter: FOO
        C: MAIL FROM:<a@b.example> SIZE=52428800
        S: 250 2.1.0 Sender OK
        C: RCPT TO:<full@b.example>
        S: 452 4.2.2 Mailbox full, try again later
        C: RCPT TO:<c@b.example>
        S: 250 2.1.5 Recipient OK
        C: EHLO again.example
        {EHLO_REPLY}
        C: DATA
        S: 503 5.5.1 Need MAIL command
        C: RSET x
        S: 501 5.5.4 Syntax: RSET
        C: QUIT now
        S: 501 5.5.4 Syntax: QUIT
        C: QUIT
        S: 221 2.0.0 {HOST} closing connection
        """,
    ),
    "smtp-utf8": (
        False,
        f"""
        S: 220 {HOST} ESMTP ready
        C: EHLO client.example
        {EHLO_REPLY}
        C: MAIL FROM:<jöran@bücher.example>
        S: 550 5.6.7 Non-ASCII addresses require SMTPUTF8
        C: MAIL FROM:<a@b.example>
        S: 250 2.1.0 Sender OK
        C: RCPT TO:<δοκιμή@παράδειγμα.example>
        S: 553 5.6.7 Non-ASCII addresses require SMTPUTF8
        C: RSET
        S: 250 2.0.0 OK
        C: MAIL FROM:<jöran@bücher.example> SMTPUTF8
        S: 250 2.1.0 Sender OK
        C: RCPT TO:<δοκιμή@παράδειγμα.example>
        S: 250 2.1.5 Recipient OK
        C: DATA
        S: 354 End data with <CR><LF>.<CR><LF>
        C: Subject: ünïcödé
        C: .
        S: 250 2.0.0 queued 22 octets
        """,
    ),
}


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_transcript(name: str, chunk: int | None) -> None:
    lmtp, text = TRANSCRIPTS[name]
    client, server = transcript(text)
    events, out, _ = exchange(client, lmtp=lmtp, chunk=chunk)
    assert out.decode() == server.decode()
    # Identical events however the bytes were split.
    assert events == exchange(client, lmtp=lmtp)[0]


def test_basic_session_events() -> None:
    client, _ = transcript(TRANSCRIPTS["smtp-basic"][1])
    events, _, conn = exchange(client)
    assert events == [
        Hello("EHLO", "client.example"),
        MailFrom("alice@a.example", {"BODY": "8BITMIME"}),
        RcptTo("bob@b.example", {}),
        RcptTo("unknown@b.example", {}),
        MessageReceived("alice@a.example", ("bob@b.example",), b"Subject: hi\r\n\r\n.dotted\r\n", {"BODY": "8BITMIME"}),
        Closed("quit"),
    ]
    assert conn.closed


def test_lmtp_recipients_keep_order_and_duplicates() -> None:
    client, _ = transcript(TRANSCRIPTS["lmtp-rfc2033"][1])
    events, _, _ = exchange(client, lmtp=True)
    (message,) = [e for e in events if isinstance(e, MessageReceived)]
    assert message.recipients == ("pat@foo.edu", "quota-green@foo.edu", "pat@foo.edu")


# -- pipelining (RFC 2920) ------------------------------------------------------

PIPELINED = (
    b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<unknown@d.example>\r\n"
    b"RCPT TO:<e@d.example>\r\nDATA\r\nbody\r\n.\r\nMAIL FROM:<x@y.example>\r\nRSET\r\nQUIT\r\n"
)


def test_core_waits_for_each_decision_before_parsing_on() -> None:
    conn = SmtpServerConnection(False, HOST, SmtpLimits())
    conn.start()
    conn.data_to_send()
    conn.receive_data(PIPELINED)
    assert list(conn.events()) == [Hello("EHLO", "c"), MailFrom("a@b.example", {})]
    # Nothing after MAIL was parsed: no reply for the later commands yet.
    assert conn.data_to_send().startswith(b"250-" + HOST.encode())
    assert conn.awaiting_reply == MailFrom("a@b.example", {})
    conn.receive_data(b"NOOP\r\n")  # more input while waiting: buffered only
    assert list(conn.events()) == []
    assert conn.data_to_send() == b""
    conn.send(Reply.sender_ok())
    assert list(conn.events()) == [RcptTo("c@d.example", {})]
    assert conn.data_to_send() == b"250 2.1.0 Sender OK\r\n"


@pytest.mark.parametrize("lmtp", [False, True])
def test_pipelined_replies_come_in_command_order(lmtp: bool) -> None:
    wire = PIPELINED.replace(b"EHLO", b"LHLO") if lmtp else PIPELINED
    whole = exchange(wire, lmtp=lmtp)
    for chunk in CHUNKS[1:]:
        assert exchange(wire, lmtp=lmtp, chunk=chunk)[:2] == whole[:2]
    events, out, conn = whole
    assert [type(e).__name__ for e in events] == [
        "Hello", "MailFrom", "RcptTo", "RcptTo", "RcptTo", "MessageReceived", "MailFrom", "Closed",
    ]
    lines = out.split(b"\r\n")
    codes = [line[:4] for line in lines if line and not line.startswith(b"250-")]
    expected_data = [b"250 ", b"250 "] if lmtp else [b"250 "]
    assert codes == [b"220 ", b"250 ", b"250 ", b"250 ", b"550 ", b"250 ", b"354 ", *expected_data, b"250 ", b"250 ", b"221 "]


def test_events_loop_sees_events_produced_by_send() -> None:
    conn = SmtpServerConnection(False, HOST, SmtpLimits())
    conn.start()
    conn.receive_data(PIPELINED)
    seen = []
    for event in conn.events():
        seen.append(type(event).__name__)
        answer = policy(conn, event)
        if answer is not None:
            conn.send(answer)
    assert seen[-1] == "Closed" and conn.closed


# -- the state table --------------------------------------------------------------

SETUP_FOR_STATE = {
    State.CONNECTED: b"",
    State.READY: b"EHLO c\r\n",
    State.MAIL: b"EHLO c\r\nMAIL FROM:<a@b.example>\r\n",
    State.RCPT: b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n",
}


@pytest.mark.parametrize("state", list(SETUP_FOR_STATE))
@pytest.mark.parametrize("verb", ["MAIL FROM:<x@y.example>", "RCPT TO:<x@y.example>", "DATA"])
def test_every_state_and_transaction_verb(state: State, verb: str) -> None:
    conn = SmtpServerConnection(False, HOST, SmtpLimits())
    conn.start()
    if SETUP_FOR_STATE[state]:
        conn.receive_data(SETUP_FOR_STATE[state])
    for event in conn.events():
        answer = policy(conn, event)
        if answer is not None:
            conn.send(answer)
    assert conn.state is state
    conn.data_to_send()
    conn.receive_data(verb.encode() + b"\r\n")
    events = list(conn.events())
    out = conn.data_to_send()
    bad = BAD_SEQUENCE.get((state, verb.split()[0]))
    if bad is not None:
        assert out == f"503 5.5.1 {bad.replace('{hello}', 'EHLO')}\r\n".encode()
        assert events == []
    elif verb == "DATA":
        assert out.startswith(b"354 ")
    else:
        assert len(events) == 1 and conn.awaiting_reply is events[0]


# -- limits ---------------------------------------------------------------------------

SMALL = SmtpLimits(max_command_line=512, max_message_size=100, max_recipients=2, max_errors=5)


@pytest.mark.parametrize("chunk", CHUNKS)
def test_line_too_long_discards_the_line_and_goes_on(chunk: int | None) -> None:
    wire = b"EHLO c\r\nMAIL FROM:<" + b"a" * 5000 + b"@b.example>\r\nNOOP\r\nQUIT\r\n"
    events, out, conn = exchange(wire, chunk=chunk, limits=SMALL)
    assert b"500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n221 " in out
    assert not any(isinstance(e, MailFrom) for e in events)
    assert conn.closed


def test_line_of_exactly_the_limit_is_a_command() -> None:
    line = b"NOOP " + b"x" * (512 - 7) + b"\r\n"
    assert len(line) == 512
    _, out, _ = exchange(line + b"NOOP " + b"x" * 506 + b"\r\n", limits=SMALL)
    assert out.endswith(b"250 2.0.0 OK\r\n500 5.5.2 Line too long\r\n")


@pytest.mark.parametrize("lmtp", [False, True])
@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_message_over_the_limit_is_read_to_the_end_and_refused(lmtp: bool, chunk: int | None) -> None:
    hello = b"LHLO c\r\n" if lmtp else b"EHLO c\r\n"
    wire = (
        hello + b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<e@d.example>\r\nDATA\r\n"
        + (b"x" * 60 + b"\r\n") * 3 + b".\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n"
    )
    events, out, conn = exchange(wire, lmtp=lmtp, chunk=chunk, limits=SMALL)
    assert not any(isinstance(e, MessageReceived) for e in events)
    too_big = b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    # LMTP: one reply per accepted recipient (RFC 2033 section 4.2), all 552.
    assert (too_big * (2 if lmtp else 1) + b"250 2.1.0 Sender OK\r\n221 ") in out
    assert conn.closed


def test_message_at_the_limit_is_accepted() -> None:
    wire = b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n" + b"x" * 98 + b"\r\n.\r\n"
    events, _, _ = exchange(wire, limits=SMALL)
    assert [len(e.data) for e in events if isinstance(e, MessageReceived)] == [100]


def test_too_many_recipients() -> None:
    wire = b"EHLO c\r\nMAIL FROM:<a@b.example>\r\n" + b"RCPT TO:<unknown@d.example>\r\n" + b"RCPT TO:<c@d.example>\r\n" * 3
    events, out, _ = exchange(wire, limits=SMALL)
    # Rejected recipients do not count; the third accepted one is one too many.
    assert out.endswith(b"250 2.1.5 Recipient OK\r\n" * 2 + b"452 4.5.3 Error: too many recipients\r\n")
    assert sum(isinstance(e, RcptTo) for e in events) == 3


def test_too_many_errors_closes_with_421() -> None:
    wire = b"FROB\r\n" * 10
    events, out, conn = exchange(wire, limits=SMALL, eof=False)
    assert out.count(b"500 5.5.2") == 4
    assert out.endswith(b"421 4.7.0 mx.example Error: too many errors\r\n")
    assert events == [Closed("too many errors")]
    assert conn.closed
    conn.receive_data(b"NOOP\r\n")  # ignored once closed
    assert conn.data_to_send() == b""


# -- bytes that are not commands ------------------------------------------------------

@pytest.mark.parametrize(
    "line",
    [b"NOOP\x00\r\n", b"NOOP\rQUIT\r\n", b"NO\x7fOP\r\n", b"\xff\xfe\r\n", b"NOOP \xc3\r\n", b"\tNOOP\r\n"],
)
def test_control_characters_and_bad_utf8_are_syntax_errors(line: bytes) -> None:
    _, out, conn = exchange(line + b"NOOP\r\n", eof=False)
    assert out.split(b"\r\n")[1:3] == [out.split(b"\r\n")[1], b"250 2.0.0 OK"]
    assert out.split(b"\r\n")[1].startswith(b"500 5.5.2 Syntax error")
    assert not conn.closed


def test_bare_lf_ends_a_command_line() -> None:
    _, out, _ = exchange(b"NOOP\nQUIT\n")
    assert out.endswith(b"250 2.0.0 OK\r\n221 2.0.0 mx.example closing connection\r\n")


def test_http_request_closes_at_once() -> None:
    events, out, conn = exchange(b"GET / HTTP/1.1\r\nHost: mx\r\n\r\n", eof=False)
    assert events == [Closed("forbidden command")]
    assert out == b"220 mx.example ESMTP ready\r\n"
    assert conn.closed


# -- end of stream ---------------------------------------------------------------------

@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"EHLO c\r\n",
        b"EHLO c\r\nNOO",
        b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nunfinished\r\n",
        b"EHLO c\r\nMAIL FROM:<" + b"a" * 3000,
    ],
)
def test_eof_closes(wire: bytes) -> None:
    events, _, conn = exchange(wire)
    assert events[-1] == Closed("eof")
    assert not any(isinstance(e, MessageReceived) for e in events)
    assert conn.closed


def test_eof_while_a_reply_is_pending_is_seen_after_the_reply() -> None:
    conn = SmtpServerConnection(False, HOST, SmtpLimits())
    conn.start()
    conn.receive_data(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\n")
    conn.receive_data(b"")
    assert [type(e) for e in conn.events()] == [Hello, MailFrom]
    assert not conn.closed
    conn.send(Reply.sender_ok())
    assert list(conn.events()) == [Closed("eof")]
    assert conn.closed


# -- the session's side of the contract -----------------------------------------------

def lmtp_at_data() -> SmtpServerConnection:
    conn = SmtpServerConnection(True, HOST, SmtpLimits())
    conn.start()
    conn.receive_data(
        b"LHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<unknown@d.example>\r\n"
        b"RCPT TO:<e@d.example>\r\nDATA\r\nhi\r\n.\r\nNOOP\r\n"
    )
    for event in conn.events():
        if isinstance(event, MessageReceived):
            break
        answer = policy(conn, event)
        if answer is not None:
            conn.send(answer)
    assert isinstance(conn.awaiting_reply, MessageReceived)
    conn.data_to_send()
    return conn


@pytest.mark.parametrize("count", [0, 1, 3])
def test_lmtp_wrong_reply_count_is_refused_and_nothing_sent(count: int) -> None:
    conn = lmtp_at_data()
    with pytest.raises(ValueError):
        conn.send([Reply.delivered()] * count)
    assert conn.data_to_send() == b""
    with pytest.raises(ValueError):
        conn.send(Reply.delivered())  # a bare Reply is a list of one
    conn.send([Reply.delivered(), Reply.temp_fail()])
    assert conn.data_to_send() == (
        b"250 2.0.0 Message accepted for delivery\r\n451 4.3.0 Temporary failure, try again later\r\n250 2.0.0 OK\r\n"
    )
    assert conn.state is State.READY


def test_send_without_a_pending_event_is_a_caller_bug() -> None:
    conn = SmtpServerConnection(False, HOST, SmtpLimits())
    conn.start()
    with pytest.raises(LocalProtocolError):
        conn.send(Reply.ok())
    conn.receive_data(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\n")
    list(conn.events())
    with pytest.raises(ValueError):
        conn.send([Reply.ok(), Reply.ok()])
    with pytest.raises(TypeError):
        conn.send(["250 OK"])  # type: ignore[list-item]
    with pytest.raises(LocalProtocolError):
        conn.start()


def test_receive_before_start_is_a_caller_bug() -> None:
    with pytest.raises(LocalProtocolError):
        SmtpServerConnection(False, HOST).receive_data(b"EHLO c\r\n")


def test_a_421_from_the_session_closes() -> None:
    conn = SmtpServerConnection(False, HOST, SmtpLimits())
    conn.start()
    conn.receive_data(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nNOOP\r\n")
    list(conn.events())
    conn.data_to_send()
    conn.send(Reply(421, "4.3.0", "storage unavailable"))
    assert list(conn.events()) == [Closed("421")]
    assert conn.data_to_send() == b"421 4.3.0 storage unavailable\r\n"
    assert conn.closed


def test_close_from_our_side() -> None:
    conn = SmtpServerConnection(False, HOST, SmtpLimits())
    conn.start()
    conn.receive_data(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\n")
    list(conn.events())
    conn.data_to_send()
    conn.close()
    conn.close()
    assert conn.data_to_send() == b"421 4.3.2 mx.example Service shutting down\r\n"
    assert list(conn.events()) == [Closed("421")]
    assert conn.awaiting_reply is None and conn.closed


def test_a_421_greeting_closes_at_once() -> None:
    conn = SmtpServerConnection(True, HOST, SmtpLimits())
    conn.start(Reply(421, "4.3.2", "too busy"))
    assert conn.data_to_send() == b"421 4.3.2 too busy\r\n"
    assert conn.closed and list(conn.events()) == [Closed("421")]


def test_rejected_mail_and_rset_reset_the_transaction() -> None:
    wire = (
        b"EHLO c\r\nMAIL FROM:<a@b.example> SMTPUTF8\r\nRCPT TO:<c@d.example>\r\nRSET\r\n"
        b"MAIL FROM:<x@y.example>\r\nRCPT TO:<e@d.example>\r\nDATA\r\nz\r\n.\r\n"
    )
    events, _, _ = exchange(wire)
    (message,) = [e for e in events if isinstance(e, MessageReceived)]
    assert (message.mail_from, message.recipients, message.mail_params) == ("x@y.example", ("e@d.example",), {})


# -- performance ---------------------------------------------------------------------

def test_20mb_message_in_64k_chunks_is_linear() -> None:
    line = b"x" * 76 + b"\r\n"
    body = (line * (20 * 2**20 // len(line))).replace(b"\r\nx", b"\r\n.", 1000)
    wire = b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n" + body + b".\r\nQUIT\r\n"
    start = time.perf_counter()
    events, _, _ = exchange(wire, chunk=65536)
    elapsed = time.perf_counter() - start
    (message,) = [e for e in events if isinstance(e, MessageReceived)]
    assert len(message.data) == len(body) - 1000
    assert elapsed < 5.0, f"20 MB DATA took {elapsed:.2f}s"
