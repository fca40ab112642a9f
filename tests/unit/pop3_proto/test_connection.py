"""Pop3ServerConnection: state table, transcripts in pieces, pipelining, STLS, SASL, limits."""

import base64

import pytest

from hivemail.pop3_proto import (
    AuthAborted,
    AuthCommand,
    AuthResponse,
    CapaCommand,
    CommandReceived,
    CommandRejected,
    ConnectionClosed,
    Continuation,
    Err,
    Limits,
    ListCommand,
    MultiLine,
    MultiLineData,
    MultiLineEnd,
    MultiLineSent,
    MultiLineStart,
    Ok,
    PassCommand,
    Pop3ServerConnection,
    QuitCommand,
    RetrCommand,
    State,
    StlsCommand,
    TopCommand,
    UserCommand,
    Utf8Command,
    capa_response,
    capabilities,
    dot_stuff,
    top_of_message,
)
from hivemail.wire.errors import LocalProtocolError

MESSAGE = b"Subject: hi\r\n\r\n.hidden dot\r\n.\r\nend"  # lone ".", no final CRLF


def fake_session(conn, event):
    """A tiny session: every command succeeds; RETR/TOP send MESSAGE; PASS 'bad' fails."""
    if isinstance(event, AuthResponse):
        return [Ok("Logged in")] if event.data == b"\x00bob\x00pw" else [Err("Authentication failed", "AUTH")]
    if not isinstance(event, CommandReceived):
        return []
    cmd = event.command
    match cmd:
        case CapaCommand():
            return [capa_response(capabilities(state=conn.state, tls_active=conn.tls_active))]
        case PassCommand(password="bad"):
            return [Err("Authentication failed", "AUTH")]
        case AuthCommand(initial_response=None):
            return [Continuation(b"")]
        case AuthCommand(initial_response=ir):
            return [Ok("Logged in")] if ir == b"\x00bob\x00pw" else [Err("Authentication failed", "AUTH")]
        case RetrCommand():
            return [MultiLineStart(f"{len(MESSAGE)} octets"), MultiLineData(MESSAGE[:20]),
                    MultiLineData(MESSAGE[20:]), MultiLineEnd()]
        case TopCommand(lines=n):
            return [MultiLine("top of message follows", top_of_message(MESSAGE, n))]
        case ListCommand(msg=None):
            return [MultiLine("1 messages", b"1 40\r\n")]
        case QuitCommand():
            return [Ok("Logging out")]
        case _:
            return [Ok(cmd.NAME.lower() + " done")]


def run(chunks, *, limits=None, session=fake_session, eof=True):
    """Feed ``chunks`` to a fresh connection, answering events with ``session``."""
    conn = Pop3ServerConnection(limits)
    conn.send(Ok("hivemail ready"))
    out = bytearray(conn.data_to_send())
    events = []

    def pump():
        for event in conn.events():
            events.append(event)
            for response in session(conn, event):
                conn.send(response)
            out.extend(conn.data_to_send())

    for chunk in chunks:
        if conn.closed:
            break
        conn.receive_data(chunk)
        pump()
    if eof and not conn.closed:
        conn.receive_data(b"")
        pump()
    return bytes(out), events, conn


def pieces(data):
    """The same input whole, one byte at a time, and in chunks of 2, 3, 7, 64."""
    yield "whole", [data]
    yield "bytes", [data[i : i + 1] for i in range(len(data))]
    for n in (2, 3, 7, 64):
        yield f"chunks{n}", [data[i : i + n] for i in range(0, len(data), n)]


def transcript(data, **kw):
    """Run ``data`` in every chunking; assert identical output and events; return one."""
    results = {name: run(chunks, **kw)[:2] for name, chunks in pieces(data)}
    first = results["whole"]
    for name, result in results.items():
        assert result == first, f"{name} differs from whole"
    return first


FULL_SESSION = (
    b"CAPA\r\nUSER bob\r\nPASS secret\r\nSTAT\r\nLIST\r\nRETR 1\r\nTOP 1 1\r\n"
    b"DELE 1\r\nNOOP\r\nRSET\r\nUIDL\r\nQUIT\r\n"
)


def test_full_session_transcript_in_pieces():
    out, events = transcript(FULL_SESSION)
    assert out == (
        b"+OK hivemail ready\r\n"
        b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN SCRAM-SHA-256\r\n"
        b"RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nIMPLEMENTATION hivemail\r\nSTLS\r\nUTF8\r\n.\r\n"
        b"+OK user done\r\n+OK pass done\r\n+OK stat done\r\n"
        b"+OK 1 messages\r\n1 40\r\n.\r\n"
        b"+OK 34 octets\r\nSubject: hi\r\n\r\n..hidden dot\r\n..\r\nend\r\n.\r\n"
        b"+OK top of message follows\r\nSubject: hi\r\n\r\n..hidden dot\r\n.\r\n"
        b"+OK dele done\r\n+OK noop done\r\n+OK rset done\r\n+OK uidl done\r\n"
        b"+OK Logging out\r\n"
    )
    assert events[-1] == ConnectionClosed("quit")
    assert [type(e) for e in events[:-1]] == [CommandReceived] * 12


def test_pipelined_commands_are_answered_in_order_one_at_a_time():
    conn = Pop3ServerConnection()
    conn.send(Ok())
    conn.data_to_send()
    conn.receive_data(b"USER bob\r\nPASS pw\r\nSTAT\r\n")
    events = conn.events()
    assert next(events) == CommandReceived(UserCommand("bob"))
    assert list(conn.events()) == []  # nothing more until USER is answered
    conn.send(Ok())
    assert list(conn.events()) == [CommandReceived(PassCommand("pw"))]
    assert conn.state is State.AUTHORIZATION  # changes only when +OK is sent
    conn.send(Ok("Logged in"))
    assert conn.state is State.TRANSACTION
    assert [e.command.NAME for e in conn.events()] == ["STAT"]


def test_commands_wait_for_the_greeting():
    conn = Pop3ServerConnection()
    conn.receive_data(b"CAPA\r\n")
    assert list(conn.events()) == []
    conn.send(Ok("ready"))
    assert list(conn.events()) == [CommandReceived(CapaCommand())]


def test_err_greeting_closes():
    conn = Pop3ServerConnection()
    conn.send(Err("Too many connections", "SYS/TEMP"))
    assert conn.data_to_send() == b"-ERR [SYS/TEMP] Too many connections\r\n"
    assert list(conn.events()) == [ConnectionClosed("greeting refused")]
    assert conn.closed


# -- the state table: every (state, command) pair -------------------------------------

LINES = {
    "USER": b"USER bob\r\n", "PASS": b"PASS pw\r\n", "AUTH": b"AUTH PLAIN\r\n",
    "STLS": b"STLS\r\n", "UTF8": b"UTF8\r\n", "CAPA": b"CAPA\r\n", "QUIT": b"QUIT\r\n",
    "STAT": b"STAT\r\n", "LIST": b"LIST\r\n", "RETR": b"RETR 1\r\n", "DELE": b"DELE 1\r\n",
    "NOOP": b"NOOP\r\n", "RSET": b"RSET\r\n", "TOP": b"TOP 1 0\r\n", "UIDL": b"UIDL\r\n",
    "APOP": b"APOP bob 0123\r\n", "LAST": b"LAST\r\n",
}
ALLOWED = {
    State.AUTHORIZATION: {"USER", "PASS", "AUTH", "STLS", "UTF8", "CAPA", "QUIT"},
    State.TRANSACTION: {"CAPA", "QUIT", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL"},
}


def connection_in(state):
    conn = Pop3ServerConnection()
    conn.send(Ok())
    if state is State.TRANSACTION:
        conn.receive_data(b"USER bob\r\nPASS pw\r\n")
        for _ in conn.events():
            conn.send(Ok())
    conn.data_to_send()
    assert conn.state is state
    return conn


@pytest.mark.parametrize("state", [State.AUTHORIZATION, State.TRANSACTION])
@pytest.mark.parametrize("name", sorted(LINES))
def test_state_table(state, name):
    conn = connection_in(state)
    if name == "PASS" and state is State.AUTHORIZATION:
        conn.receive_data(b"USER bob\r\n")
        [event] = conn.events()
        conn.send(Ok())
        conn.data_to_send()
    conn.receive_data(LINES[name])
    events = list(conn.events())
    if name in ALLOWED[state]:
        assert len(events) == 1 and isinstance(events[0], CommandReceived)
        assert events[0].command.NAME == name
        assert conn.data_to_send() == b""
    elif name in ("APOP", "LAST"):
        assert events == [CommandRejected(f"Unknown command: {name}")]
        assert conn.data_to_send() == f"-ERR Unknown command: {name}\r\n".encode()
    else:
        text = f"{name} not allowed in {state.value} state"
        assert events == [CommandRejected(text)]
        assert conn.data_to_send() == f"-ERR {text}\r\n".encode()
        # the session goes on
        conn.receive_data(b"CAPA\r\n")
        assert list(conn.events()) == [CommandReceived(CapaCommand())]


def test_state_is_checked_before_arguments():
    out, events = transcript(b"DELE x\r\nQUIT\r\n")
    assert b"-ERR DELE not allowed in AUTHORIZATION state\r\n" in out


def test_quit_in_transaction_enters_update_on_receipt_then_closes():
    conn = connection_in(State.TRANSACTION)
    conn.receive_data(b"QUIT\r\nNOOP\r\n")
    assert list(conn.events()) == [CommandReceived(QuitCommand())]
    assert conn.state is State.UPDATE  # the session commits now
    conn.send(Err("Some deleted messages not removed", "SYS/TEMP"))
    assert conn.state is State.CLOSED
    assert list(conn.events()) == [ConnectionClosed("quit")]
    assert list(conn.events()) == []
    assert conn.data_to_send() == b"-ERR [SYS/TEMP] Some deleted messages not removed\r\n"
    conn.receive_data(b"more junk\r\n")  # discarded
    with pytest.raises(LocalProtocolError):
        conn.send(Ok())


def test_quit_in_authorization_closes_without_update():
    conn = connection_in(State.AUTHORIZATION)
    conn.receive_data(b"QUIT\r\n")
    list(conn.events())
    assert conn.state is State.AUTHORIZATION
    conn.send(Ok("bye"))
    assert list(conn.events()) == [ConnectionClosed("quit")]


def test_eof_without_quit_is_reported_and_partial_line_dropped():
    out, events = transcript(b"USER bob\r\nSTA", eof=True)
    assert events[-1] == ConnectionClosed("eof")
    assert out == b"+OK hivemail ready\r\n+OK user done\r\n"


def test_receive_after_eof_is_a_caller_bug():
    conn = Pop3ServerConnection()
    conn.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"x")


# -- USER / PASS ------------------------------------------------------------------------


def test_pass_without_user_is_rejected():
    out, _ = transcript(b"PASS pw\r\nQUIT\r\n")
    assert b"-ERR No username given\r\n" in out


def test_pass_must_follow_user_immediately_and_user_failure_disarms():
    def session(conn, event):
        if isinstance(event, CommandReceived) and event.command == UserCommand("nobody"):
            return [Err("No such user")]
        return fake_session(conn, event)

    out, _ = transcript(b"USER bob\r\nCAPA\r\nPASS pw\r\nUSER nobody\r\nPASS pw\r\nQUIT\r\n", session=session)
    assert out.count(b"-ERR No username given\r\n") == 2


def test_failed_pass_requires_a_new_user():
    out, _ = transcript(b"USER bob\r\nPASS bad\r\nPASS pw\r\nUSER bob\r\nPASS pw\r\nSTAT\r\nQUIT\r\n")
    assert out.endswith(
        b"-ERR [AUTH] Authentication failed\r\n-ERR No username given\r\n"
        b"+OK user done\r\n+OK pass done\r\n+OK stat done\r\n+OK Logging out\r\n"
    )


# -- argument errors keep the session going ------------------------------------------------


def test_bad_arguments_get_err_and_the_session_continues():
    out, events = transcript(
        b"USER bob\r\nPASS pw\r\nRETR\r\nRETR 0\r\nRETR -1\r\nRETR 99999999999\r\nTOP 1\r\n"
        b"LIST 1 2\r\nXYZZY\r\nSTAT\r\nQUIT\r\n"
    )
    assert out.endswith(
        b"-ERR RETR needs a message number\r\n"
        b"-ERR Invalid message number: must be a positive number\r\n"
        b"-ERR Invalid message number: must be a positive number\r\n"
        b"-ERR Invalid message number: number too large\r\n"
        b"-ERR TOP needs a message number and a line count\r\n"
        b"-ERR LIST takes at most one argument\r\n"
        b"-ERR Unknown command: XYZZY\r\n"
        b"+OK stat done\r\n+OK Logging out\r\n"
    )
    assert sum(isinstance(e, CommandRejected) for e in events) == 7


def test_over_long_line_gets_err_and_the_session_continues():
    long_line = b"USER " + b"a" * 300 + b"\r\n"
    out, _ = transcript(long_line + b"CAPA\r\nQUIT\r\n")
    assert out.startswith(b"+OK hivemail ready\r\n-ERR Line too long\r\n+OK Capability list follows\r\n")
    assert out.endswith(b"+OK Logging out\r\n")


def test_line_limit_is_configurable_and_exact():
    line = b"USER " + b"a" * (255 - 7) + b"\r\n"  # exactly 255 octets
    assert len(line) == 255
    out, _ = transcript(line + b"QUIT\r\n")
    assert b"+OK user done" in out
    out, _ = transcript(line + b"QUIT\r\n", limits=Limits(max_line_length=100))
    assert b"-ERR Line too long" in out


def test_too_many_bad_commands_closes():
    out, events = transcript(b"BAD\r\n" * 5 + b"CAPA\r\n", limits=Limits(max_bad_commands=3))
    assert out == (b"+OK hivemail ready\r\n-ERR Unknown command: BAD\r\n"
                   b"-ERR Unknown command: BAD\r\n-ERR Too many bad commands\r\n")
    assert events[-1] == ConnectionClosed("too many bad commands")


# -- SASL ---------------------------------------------------------------------------------

PLAIN = base64.b64encode(b"\x00bob\x00pw")


def test_auth_with_initial_response():
    out, events = transcript(b"AUTH PLAIN " + PLAIN + b"\r\nSTAT\r\nQUIT\r\n")
    assert out == b"+OK hivemail ready\r\n+OK Logged in\r\n+OK stat done\r\n+OK Logging out\r\n"


def test_auth_with_continuation_and_long_response_line():
    long_ok = base64.b64encode(b"\x00bob\x00pw")
    out, events = transcript(b"AUTH PLAIN\r\n" + long_ok + b"\r\nSTAT\r\nQUIT\r\n")
    assert out == b"+OK hivemail ready\r\n+ \r\n+OK Logged in\r\n+OK stat done\r\n+OK Logging out\r\n"
    assert AuthResponse(long_ok, b"\x00bob\x00pw") in events


def test_auth_response_line_may_exceed_the_command_limit():
    big = base64.b64encode(b"x" * 3000)
    out, events = transcript(b"AUTH PLAIN\r\n" + big + b"\r\nQUIT\r\n")
    assert b"-ERR [AUTH] Authentication failed\r\n" in out
    assert AuthResponse(big, b"x" * 3000) in events


@pytest.mark.parametrize(
    "line,reason,text",
    [
        (b"*", "cancelled", b"-ERR Authentication cancelled\r\n"),
        (b"not base64!", "invalid base64", b"-ERR Invalid base64 data\r\n"),
        (b"A" * 9000, "line too long", b"-ERR Authentication line too long\r\n"),
    ],
)
def test_auth_aborted_by_the_core(line, reason, text):
    out, events = transcript(b"AUTH PLAIN\r\n" + line + b"\r\nCAPA\r\nQUIT\r\n")
    assert AuthAborted(reason) in events
    assert out.startswith(b"+OK hivemail ready\r\n+ \r\n" + text + b"+OK Capability list follows\r\n")


def test_auth_empty_response_line_is_empty_data():
    conn = Pop3ServerConnection()
    conn.send(Ok())
    conn.receive_data(b"AUTH SCRAM-SHA-256\r\n\r\n")
    [event] = conn.events()
    conn.send(Continuation(b"challenge"))
    assert conn.data_to_send().endswith(b"+ Y2hhbGxlbmdl\r\n")
    assert list(conn.events()) == [AuthResponse(b"", b"")]


def test_auth_after_login_is_not_allowed():
    conn = connection_in(State.TRANSACTION)
    conn.receive_data(b"AUTH PLAIN\r\n")
    assert list(conn.events()) == [CommandRejected("AUTH not allowed in TRANSACTION state")]


def test_continuation_outside_auth_is_a_caller_bug():
    conn = connection_in(State.AUTHORIZATION)
    conn.receive_data(b"CAPA\r\n")
    list(conn.events())
    with pytest.raises(LocalProtocolError):
        conn.send(Continuation(b""))
    with pytest.raises(LocalProtocolError):
        conn.expect_auth_line()


def test_expect_auth_line_explicit_form():
    conn = connection_in(State.AUTHORIZATION)
    conn.receive_data(b"AUTH PLAIN\r\n" + PLAIN + b"\r\n")
    list(conn.events())
    conn.expect_auth_line()
    assert list(conn.events()) == [AuthResponse(PLAIN, b"\x00bob\x00pw")]


# -- STLS ---------------------------------------------------------------------------------


def test_stls_discards_pipelined_plaintext():
    conn = connection_in(State.AUTHORIZATION)
    conn.receive_data(b"STLS\r\nUSER evil\r\nPASS injected\r\n")
    assert list(conn.events()) == [CommandReceived(StlsCommand())]
    conn.send(Ok("Begin TLS negotiation"))
    assert conn.data_to_send() == b"+OK Begin TLS negotiation\r\n"
    assert list(conn.events()) == []
    conn.receive_data(b"QUIT\r\n")  # still before the handshake: discarded too
    assert list(conn.events()) == []
    conn.start_tls_done()
    assert conn.tls_active
    assert list(conn.events()) == []
    conn.receive_data(b"CAPA\r\n")
    assert list(conn.events()) == [CommandReceived(CapaCommand())]
    conn.send(capa_response(capabilities(tls_active=conn.tls_active)))
    assert b"STLS" not in conn.data_to_send()


def test_stls_discards_user_given_before_tls():
    conn = connection_in(State.AUTHORIZATION)
    conn.receive_data(b"USER bob\r\n")
    list(conn.events())
    conn.send(Ok())
    conn.receive_data(b"STLS\r\n")
    list(conn.events())
    conn.send(Ok())
    conn.start_tls_done()
    conn.data_to_send()
    conn.receive_data(b"PASS pw\r\n")
    assert list(conn.events()) == [CommandRejected("No username given")]


def test_stls_refused_under_tls_and_after_utf8():
    conn = Pop3ServerConnection(tls=True)
    conn.send(Ok())
    conn.receive_data(b"STLS\r\n")
    assert list(conn.events()) == [CommandRejected("Command not permitted when TLS active")]
    conn = connection_in(State.AUTHORIZATION)
    conn.receive_data(b"UTF8\r\nSTLS\r\n")
    assert list(conn.events()) == [CommandReceived(Utf8Command())]
    conn.send(Ok("UTF8 enabled"))
    assert conn.utf8_enabled
    assert list(conn.events()) == [CommandRejected("STLS not permitted after UTF8")]


def test_stls_err_keeps_the_buffer():
    conn = connection_in(State.AUTHORIZATION)
    conn.receive_data(b"STLS\r\nCAPA\r\n")
    list(conn.events())
    conn.send(Err("TLS not available"))
    assert list(conn.events()) == [CommandReceived(CapaCommand())]


def test_eof_while_waiting_for_tls():
    conn = connection_in(State.AUTHORIZATION)
    conn.receive_data(b"STLS\r\n")
    list(conn.events())
    conn.send(Ok())
    conn.receive_data(b"")
    assert list(conn.events()) == [ConnectionClosed("eof")]


def test_start_tls_done_without_stls_is_a_caller_bug():
    with pytest.raises(LocalProtocolError):
        Pop3ServerConnection().start_tls_done()


# -- send() contract ------------------------------------------------------------------------


def test_response_without_command_is_a_caller_bug():
    conn = connection_in(State.AUTHORIZATION)
    with pytest.raises(LocalProtocolError):
        conn.send(Ok())


def test_streaming_contract():
    conn = connection_in(State.TRANSACTION)
    with pytest.raises(LocalProtocolError):
        conn.send(MultiLineData(b"x"))
    conn.receive_data(b"RETR 1\r\n")
    list(conn.events())
    conn.send(MultiLineStart("follows"))
    with pytest.raises(LocalProtocolError):
        conn.send(Ok())
    conn.send(MultiLineData(b"a\r\n"))
    conn.send(MultiLineData(b".b\r"))
    conn.send(MultiLineData(b"\n"))
    conn.send(MultiLineEnd())
    assert conn.data_to_send() == b"+OK follows\r\na\r\n..b\r\n.\r\n"


@pytest.mark.parametrize("body,end", [(b"a\r\nb\r\n", b".\r\n"), (b"a\r\nb", b"\r\n.\r\n"), (b"", b".\r\n")])
def test_multi_line_sent_by_the_session(body, end):
    """A dot-free body the session sent itself (sendfile): the core only
    learns its last two octets, and ends the response accordingly."""
    conn = connection_in(State.TRANSACTION)
    conn.receive_data(b"RETR 1\r\n")
    list(conn.events())
    conn.send(MultiLineStart("follows"))
    assert conn.data_to_send() == b"+OK follows\r\n"
    conn.send(MultiLineSent(body[-2:]))
    conn.send(MultiLineEnd())
    assert body + conn.data_to_send() == dot_stuff(body, final=True)


def test_multi_line_sent_contract():
    conn = connection_in(State.TRANSACTION)
    with pytest.raises(LocalProtocolError):
        conn.send(MultiLineSent(b"\r\n"))  # no streamed response in progress
    conn.receive_data(b"RETR 1\r\n")
    list(conn.events())
    conn.send(MultiLineStart("follows"))
    with pytest.raises(LocalProtocolError):
        conn.send(MultiLineSent(b"\r\n"))  # "+OK" still queued: it would go out after the body
    with pytest.raises(ValueError):
        MultiLineSent(b"abc")


def test_greeting_must_be_single_line():
    with pytest.raises(LocalProtocolError):
        Pop3ServerConnection().send(MultiLine("x", b""))


def test_limits_validation():
    with pytest.raises(ValueError):
        Limits(max_line_length=0)
    with pytest.raises(ValueError):
        Limits(max_bad_commands=0)


def test_bare_auth_listing_mechanisms_is_not_a_login():
    # RFC 1734's bare AUTH is answered with a multi-line +OK list; found by
    # the session's transcripts: the core took that +OK for a login.
    conn = connection_in(State.AUTHORIZATION)
    conn.receive_data(b"AUTH\r\n")
    [event] = list(conn.events())
    assert event == CommandReceived(AuthCommand())
    conn.send(MultiLine("Supported mechanisms follow", b"PLAIN\r\n"))
    assert conn.state is State.AUTHORIZATION
