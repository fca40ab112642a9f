"""ManageSieveServerConnection: STARTTLS, pipelining, limits, refusals, EOF, SASL framing, misuse."""

import pytest

from hivemail.managesieve_proto import (
    QUOTA_MAXSIZE,
    AuthAborted,
    AuthResponse,
    BadCommand,
    Bye,
    CommandReceived,
    ConnectionClosed,
    GetScriptRequest,
    ListScriptsRequest,
    ManageSieveLimits,
    ManageSieveServerConnection,
    No,
    NoopRequest,
    Ok,
    PutScriptRequest,
    SaslChallenge,
    ScriptList,
    State,
)
from hivemail.wire.errors import LocalProtocolError

from ._helpers import login, run_in_pieces


def greeted(limits=None, **kw) -> ManageSieveServerConnection:
    conn = ManageSieveServerConnection(limits, **kw)
    conn.send(Ok())
    conn.data_to_send()
    return conn


def authenticated(limits=None, **kw) -> ManageSieveServerConnection:
    conn = greeted(limits, **kw)
    conn.receive_data(b'AUTHENTICATE "PLAIN" "AHUAcA=="\r\n')
    [_] = conn.events()
    conn.send(Ok())
    conn.data_to_send()
    return conn


def test_commands_wait_for_the_greeting():
    conn = ManageSieveServerConnection()
    conn.receive_data(b"NOOP\r\n")
    assert list(conn.events()) == [] and conn.reading_paused
    conn.send(Ok())
    assert list(conn.events()) == [CommandReceived(NoopRequest())]


def test_bye_greeting_closes():
    conn = ManageSieveServerConnection()
    conn.send(Bye("Too many connections"))
    assert conn.data_to_send() == b'BYE "Too many connections"\r\n'
    assert list(conn.events()) == [ConnectionClosed("bye")]


def test_pipelined_commands_are_parsed_one_at_a_time():
    conn = authenticated()
    conn.receive_data(b'LISTSCRIPTS\r\nGETSCRIPT "a"\r\nNOOP\r\n')
    assert list(conn.events()) == [CommandReceived(ListScriptsRequest())]
    assert conn.reading_paused
    conn.send(ScriptList((("a", True),)))
    assert list(conn.events()) == []  # data lines are not the final response
    conn.send(Ok())
    assert list(conn.events()) == [CommandReceived(GetScriptRequest("a"))]
    conn.send(No())
    assert list(conn.events()) == [CommandReceived(NoopRequest())]
    conn.send(Ok())
    assert not conn.reading_paused
    assert conn.data_to_send() == b'"a" ACTIVE\r\nOK\r\nNO\r\nOK\r\n'


# -- STARTTLS (section 2.2, CVE-2011-0411) ------------------------------------------------


def test_starttls_discards_pipelined_plaintext():
    conn = greeted()
    conn.receive_data(b'STARTTLS\r\nAUTHENTICATE "PLAIN" "AHUAcA=="\r\n')
    assert [type(e) for e in conn.events()] == [CommandReceived]
    conn.send(Ok())
    assert conn.reading_paused
    conn.receive_data(b"LOGOUT\r\n")  # still plaintext: before the handshake
    assert list(conn.events()) == []
    conn.start_tls_done()
    assert conn.tls_active and not conn.starttls_available
    conn.receive_data(b"NOOP\r\n")
    assert list(conn.events()) == []  # nothing before the re-issued capabilities
    conn.send(Ok())
    assert list(conn.events()) == [CommandReceived(NoopRequest())]
    assert conn.state is State.NOT_AUTHENTICATED


def test_starttls_refused_keeps_input():
    conn = greeted()
    conn.receive_data(b"STARTTLS\r\nNOOP\r\n")
    [_] = conn.events()
    conn.send(No("TLS unavailable"))
    assert list(conn.events()) == [CommandReceived(NoopRequest())]


@pytest.mark.parametrize(
    ("kw", "text"), [({"tls": True}, "TLS is already active"), ({"starttls": False}, "STARTTLS is not available")]
)
def test_starttls_refused_by_the_core(kw, text):
    conn = greeted(**kw)
    conn.receive_data(b"STARTTLS\r\n")
    assert list(conn.events()) == [BadCommand(No(text))]


def test_start_tls_done_without_starttls_is_misuse():
    with pytest.raises(LocalProtocolError):
        greeted().start_tls_done()


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "text"),
    [
        (b"\r\n", "Empty command"),
        (b"FOO\r\n", "Unknown command FOO"),
        (b'"NOOP"\r\n', "Expected a command name"),
        (b"NOOP  \"x\"\r\n", "Unexpected space"),
        (b'NOOP "x\r\n', "Unterminated quoted string"),
        (b'NOOP "a\\b"\r\n', 'Only \\" and \\\\ may be escaped in a quoted string'),
        (b'NOOP "\xff"\r\n', "Quoted string is not valid UTF-8"),
        (b'NOOP "x" "y"\r\n', "NOOP: too many arguments"),
        (b"NOOP x\r\n", "NOOP: tag must be a quoted string or a literal"),
        (b"NOOP {3+} x\r\n", "Invalid literal: expected {size+} at the end of the line"),
        (b"NOOP {01+}\r\nx\r\n", "Invalid literal size: leading zero"),
        (b'AUTHENTICATE "PLAIN" "not base64!"\r\n', "AUTHENTICATE: initial response is not valid base64"),
        (b'AUTHENTICATE "PL AIN"\r\n', "AUTHENTICATE: invalid SASL mechanism name"),
        (b"AUTHENTICATE PLAIN\r\n", "AUTHENTICATE: mechanism must be a quoted string or a literal"),
        (b"LOGOUT now\r\n", "LOGOUT: too many arguments"),
    ],
)
def test_malformed_commands_get_no_and_the_connection_goes_on(line, text):
    conn = greeted()
    conn.receive_data(line + b"NOOP\r\n")
    [event] = conn.events()
    assert event == BadCommand(No(text))
    conn.send(event.response)
    assert list(conn.events()) == [CommandReceived(NoopRequest())]


@pytest.mark.parametrize(
    ("line", "text"),
    [
        (b'GETSCRIPT ""\r\n', "Script name must not be empty"),
        (b'HAVESPACE "s" 012\r\n', "HAVESPACE: script size has a leading zero"),
        (b'HAVESPACE "s" 4294967296\r\n', "HAVESPACE: script size is not a 32-bit number"),
        (b'HAVESPACE "s" "10"\r\n', "HAVESPACE: script size must be a number"),
        (b'HAVESPACE "s" {2+}\r\n10\r\n', "HAVESPACE: argument 2 must be a number"),
        (b'PUTSCRIPT "s"\r\n', "PUTSCRIPT: missing script"),
        (b'PUTSCRIPT "s" {1+}\r\nk {1+}\r\nk\r\n', "PUTSCRIPT: too many arguments"),
        (b'PUTSCRIPT "s" {1+}\r\nk "x"\r\n', "PUTSCRIPT: too many arguments"),
        (b'PUTSCRIPT "s" {1+}\r\nkX\r\n', "Expected a space or the end of the command after a literal"),
        (b'RENAMESCRIPT "a"\r\n', "RENAMESCRIPT: missing script name"),
    ],
)
def test_malformed_arguments(line, text):
    conn = authenticated()
    conn.receive_data(line + b"NOOP\r\n")
    [event] = conn.events()
    assert event == BadCommand(No(text))
    conn.send(event.response)
    assert list(conn.events()) == [CommandReceived(NoopRequest())]


def test_refused_command_literal_is_skipped():
    # PUTSCRIPT before authentication: refused, and its literal (which the
    # client sends anyway) is not taken for the next command.
    conn = greeted()
    conn.receive_data(b'PUTSCRIPT "s" {10+}\r\nLOGOUT\r\n\r\n\r\nNOOP\r\n')
    [event] = conn.events()
    assert event == BadCommand(No("PUTSCRIPT is not allowed in the non-authenticated state"))
    conn.send(event.response)
    assert list(conn.events()) == [CommandReceived(NoopRequest())]


def test_too_many_bad_commands_get_bye():
    conn = greeted(ManageSieveLimits(max_bad_commands=3))
    conn.receive_data(b"X\r\nY\r\nZ\r\nNOOP\r\n")
    responses = []
    for event in conn.events():
        if isinstance(event, BadCommand):
            responses.append(event.response)
            conn.send(event.response)
    assert responses == [No("Unknown command X"), No("Unknown command Y"), Bye("Too many invalid commands")]
    assert conn.closed and conn.state is State.LOGOUT
    assert conn.data_to_send().endswith(b'BYE "Too many invalid commands"\r\n')


# -- limits --------------------------------------------------------------------------------


def test_line_too_long():
    limits = ManageSieveLimits(max_line=128)
    conn = greeted(limits)
    conn.receive_data(b"NOOP " + b"x" * 300 + b"\r\nNOOP\r\n")
    [event] = conn.events()
    assert event == BadCommand(No("Line too long (limit 128 octets)"))
    conn.send(event.response)
    assert list(conn.events()) == [CommandReceived(NoopRequest())]


def test_line_too_long_ending_in_a_literal_skips_the_literal():
    conn = greeted(ManageSieveLimits(max_line=128))
    conn.receive_data(b"NOOP " + b"x" * 300 + b" {6+}\r\nLOGOUT\r\nNOOP\r\n")
    [event] = conn.events()
    assert event.response.text.startswith("Line too long")
    conn.send(event.response)
    assert list(conn.events()) == [CommandReceived(NoopRequest())]


def test_script_over_max_script_size_is_quota_maxsize_and_not_a_bad_command():
    conn = authenticated(ManageSieveLimits(max_script_size=10, max_bad_commands=1))
    conn.receive_data(b'PUTSCRIPT "s" {11+}\r\n' + b"k" * 11 + b"\r\nPUTSCRIPT \"s\" {10+}\r\n" + b"k" * 10 + b"\r\n")
    [event] = conn.events()
    assert event == BadCommand(No("Script too big (11 octets, limit 10)", QUOTA_MAXSIZE))
    conn.send(event.response)
    assert list(conn.events()) == [CommandReceived(PutScriptRequest("s", b"k" * 10))]


def test_havespace_over_max_script_size_is_answered_by_the_core():
    conn = authenticated(ManageSieveLimits(max_script_size=1000))
    conn.receive_data(b'HAVESPACE "s" 1000\r\nHAVESPACE "s" 1001\r\n')
    [event] = conn.events()
    assert isinstance(event, CommandReceived)
    conn.send(Ok())
    assert list(conn.events()) == [BadCommand(No("Script too big (limit 1000 octets)", QUOTA_MAXSIZE))]


def test_name_literal_over_max_name_is_refused():
    conn = authenticated(ManageSieveLimits(max_name_octets=8))
    conn.receive_data(b"GETSCRIPT {9+}\r\nabcdefghi\r\nGETSCRIPT {8+}\r\nabcdefgh\r\n")
    [event] = conn.events()
    assert event == BadCommand(No("GETSCRIPT: string too long (9 octets, limit 8)"))
    conn.send(event.response)
    assert list(conn.events()) == [CommandReceived(GetScriptRequest("abcdefgh"))]


def test_quoted_string_over_max_quoted_is_refused():
    conn = greeted(ManageSieveLimits(max_quoted=4))
    conn.receive_data(b'NOOP "abcd"\r\nNOOP "abcde"\r\n')
    [event] = conn.events()
    conn.send(Ok())
    assert list(conn.events()) == [BadCommand(No("Quoted string longer than 4 octets (use a literal)"))]


def test_literal_size_over_32_bits_ends_the_connection():
    conn = greeted()
    conn.receive_data(b"NOOP {99999999999+}\r\n")
    [event] = conn.events()
    assert isinstance(event.response, Bye)


def test_literal_far_over_the_limits_ends_the_connection():
    conn = authenticated(ManageSieveLimits(max_script_size=10))
    conn.receive_data(b'PUTSCRIPT "s" {21+}\r\n')
    [event] = conn.events()
    assert isinstance(event.response, Bye)
    conn.send(event.response)
    assert list(conn.events()) == [ConnectionClosed("bye")]


def test_refused_literal_is_discarded_in_bounded_memory():
    conn = authenticated(ManageSieveLimits(max_script_size=100_000))
    conn.receive_data(b'PUTSCRIPT "s" {190000+}\r\n')
    for _ in range(19):
        conn.receive_data(b"k" * 10_000)
        assert len(conn._reader) <= 64 * 1024 + 10_000
    conn.receive_data(b"\r\nNOOP\r\n")
    [event] = conn.events()
    assert event.response.code == QUOTA_MAXSIZE


# -- EOF --------------------------------------------------------------------------------------


def test_eof_between_commands():
    conn = greeted()
    conn.receive_data(b"")
    assert list(conn.events()) == [ConnectionClosed("eof")]


def test_eof_in_a_command():
    conn = authenticated()
    conn.receive_data(b'PUTSCRIPT "s" {10+}\r\nkee')
    conn.receive_data(b"")
    assert list(conn.events()) == [ConnectionClosed("eof")]


def test_eof_after_a_command_closes_only_after_its_answer():
    conn = authenticated()
    conn.receive_data(b'PUTSCRIPT "s" {5+}\r\nkeep;\r\n')
    conn.receive_data(b"")
    assert list(conn.events()) == [CommandReceived(PutScriptRequest("s", b"keep;"))]
    conn.send(Ok())  # stored: the client gets its answer if it still reads
    assert list(conn.events()) == [ConnectionClosed("eof")]


# -- AUTHENTICATE framing ---------------------------------------------------------------------


def authenticating() -> ManageSieveServerConnection:
    conn = greeted()
    conn.receive_data(b'AUTHENTICATE "SCRAM-SHA-256"\r\n')
    [_] = conn.events()
    conn.send(SaslChallenge(b""))
    assert conn.data_to_send() == b'""\r\n'
    assert not conn.reading_paused
    return conn


@pytest.mark.parametrize(
    ("line", "event"),
    [
        (b'"YWJj"\r\n', AuthResponse(b"abc")),
        (b'""\r\n', AuthResponse(b"")),
        (b"{4+}\r\nYWJj\r\n", AuthResponse(b"abc")),
        (b"{4}\r\nYWJj\r\n", AuthResponse(b"abc")),
        (b'"*"\r\n', AuthAborted("cancelled", No("Authentication cancelled"))),
        (b"*\r\n", AuthAborted("cancelled", No("Authentication cancelled"))),
        (b"{1+}\r\n*\r\n", AuthAborted("cancelled", No("Authentication cancelled"))),
        (b'"YWJ"\r\n', AuthAborted("invalid base64", No("Authentication response is not valid base64"))),
        (b'"YWJj" "x"\r\n', AuthAborted("malformed", No("Authentication response must be one string"))),
        (b"YWJj\r\n", AuthAborted("malformed", No("Authentication response must be one string"))),
        (b"\r\n", AuthAborted("malformed", No("Authentication response must be one string"))),
        (b"{4+}\r\nYWJjX\r\n", AuthAborted("malformed", No("Authentication response must be one string"))),
        (b'"x" {4+}\r\nYWJj\r\n', AuthAborted("malformed", No("Authentication response must be one string"))),
    ],
)
def test_sasl_client_responses(line, event):
    conn = authenticating()
    conn.receive_data(line + b"NOOP\r\n")
    assert list(conn.events()) == [event]
    conn.send(Ok() if isinstance(event, AuthResponse) else event.response)
    assert list(conn.events()) == [CommandReceived(NoopRequest())]


def test_sasl_response_too_long():
    conn = greeted(ManageSieveLimits(max_string=8))
    conn.receive_data(b'AUTHENTICATE "PLAIN"\r\n')
    [_] = conn.events()
    conn.send(SaslChallenge(b""))
    conn.receive_data(b"{12+}\r\nYWJjYWJjYWJj\r\nNOOP\r\n")
    assert list(conn.events()) == [AuthAborted("too long", No("Authentication response too long"))]
    conn.send(No("Authentication response too long"))
    assert list(conn.events()) == [CommandReceived(NoopRequest())]


def test_several_challenges():
    conn = authenticating()
    conn.receive_data(b'"YQ=="\r\n')
    assert list(conn.events()) == [AuthResponse(b"a")]
    assert conn.reading_paused
    conn.send(SaslChallenge(b"server-first"))
    conn.receive_data(b'"Yg=="\r\n')
    assert list(conn.events()) == [AuthResponse(b"b")]
    conn.send(Ok())
    assert conn.state is State.AUTHENTICATED
    assert conn.data_to_send() == b'"c2VydmVyLWZpcnN0"\r\nOK\r\n'


def test_long_challenge_is_sent_as_a_literal():
    conn = authenticating()
    conn.receive_data(b'"YQ=="\r\n')
    [_] = conn.events()
    conn.data_to_send()
    conn.send(SaslChallenge(b"x" * 900))  # 1200 octets of base64 > 1024
    out = conn.data_to_send()
    assert out.startswith(b"{1200}\r\neHh4") and out.endswith(b"\r\n")


# -- misuse by the session --------------------------------------------------------------------


def test_misuse_raises_local_protocol_error():
    conn = greeted()
    with pytest.raises(LocalProtocolError):
        conn.send(Ok())  # nothing to answer
    with pytest.raises(LocalProtocolError):
        conn.send(ScriptList(()))
    conn.receive_data(b"NOOP\r\n")
    [_] = conn.events()
    with pytest.raises(LocalProtocolError):
        conn.send(SaslChallenge(b""))  # not AUTHENTICATE
    conn.send(Ok())
    conn = authenticating()
    with pytest.raises(LocalProtocolError):
        conn.send(Ok())  # the client's response was not read yet
    with pytest.raises(LocalProtocolError):
        conn.send(SaslChallenge(b""))  # one at a time
    conn.send(Bye())  # always allowed
    with pytest.raises(LocalProtocolError):
        conn.send(Bye())  # but not after the close


def test_login_helper_leaves_an_authenticated_session():
    session = run_in_pieces(b"LISTSCRIPTS\r\n", setup=login)
    assert session.out == b"OK\r\n"
