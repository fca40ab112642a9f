import pytest

from hivemail.imap_proto import (
    AuthContinuation,
    AuthenticateRequest,
    BadCommand,
    CommandReceived,
    Continuation,
    ImapServerConnection,
    LoginRequest,
    StartTlsRequest,
    State,
    Tagged,
)
from tests.unit.imap_proto._helpers import assert_bad, parse_one

NA = State.NOT_AUTHENTICATED

GOOD = [
    (b"a LOGIN fred secret", LoginRequest("fred", "secret")),
    (b'a login "fred" "se cr\\"et"', LoginRequest("fred", 'se cr"et')),
    (b"a LOGIN {4+}\r\nfred {6+}\r\nsecret", LoginRequest("fred", "secret")),
    (b'a LOGIN fred "p\xc3\xa4ss"', LoginRequest("fred", "päss")),
    (b"a AUTHENTICATE PLAIN", AuthenticateRequest("PLAIN")),
    (b"a authenticate plain AGZyZWQAc2VjcmV0", AuthenticateRequest("PLAIN", b"\x00fred\x00secret")),
    (b"a AUTHENTICATE EXTERNAL =", AuthenticateRequest("EXTERNAL", b"")),
    (b"a STARTTLS", StartTlsRequest()),
]


@pytest.mark.parametrize("line,expected", GOOD)
def test_good(line, expected):
    assert parse_one(line, state=NA, answer=False) == expected


BAD = [
    (b"a LOGIN fred", "missing a password"),
    (b"a LOGIN fred a b", "extra argument"),
    (b"a LOGIN (fred) x", "expected a user name"),
    (b"a AUTHENTICATE", "missing a SASL mechanism"),
    (b"a AUTHENTICATE PLAIN !!!", "base64"),
    (b"a STARTTLS now", "extra"),
]


@pytest.mark.parametrize("line,fragment", BAD)
def test_bad(line, fragment):
    assert_bad(line, fragment, state=NA)


@pytest.mark.parametrize("line", [b"a LOGIN x y", b"a AUTHENTICATE PLAIN", b"a STARTTLS"])
def test_login_commands_are_refused_once_authenticated(line):
    bad = assert_bad(line, "not allowed in the authenticated state", state=State.AUTHENTICATED)
    assert bad.tag == "a"


def test_authenticate_exchange_reads_raw_lines_until_answered():
    conn = ImapServerConnection()
    conn.receive_data(b"a AUTHENTICATE PLAIN\r\nAGZyZWQAc2VjcmV0\r\nb NOOP\r\n")
    [event] = conn.events()
    assert event == CommandReceived("a", AuthenticateRequest("PLAIN"), "AUTHENTICATE")
    assert conn.reading_paused
    conn.send(Continuation(data=b""))
    conn.expect_auth_line()
    [line] = conn.events()
    assert line == AuthContinuation(b"AGZyZWQAc2VjcmV0")
    assert line.decode() == b"\x00fred\x00secret"
    assert not line.cancelled
    conn.send(Tagged.ok("a", "Logged in"))
    assert conn.state is State.AUTHENTICATED
    [noop] = conn.events()
    assert noop.tag == "b"
    assert conn.data_to_send() == b"+ \r\na OK Logged in\r\n"


def test_authenticate_star_cancels():
    conn = ImapServerConnection()
    conn.receive_data(b"a AUTHENTICATE LOGIN\r\n")
    list(conn.events())
    conn.send(Continuation(data=b"Username:"))
    conn.expect_auth_line()
    conn.receive_data(b"*\r\n")
    [event] = conn.events()
    assert event.cancelled
    conn.send(Tagged.bad("a", "Authentication cancelled"))
    assert conn.state is State.NOT_AUTHENTICATED
    conn.receive_data(b"b LOGIN x y\r\n")
    [login] = conn.events()
    assert login.request == LoginRequest("x", "y")


def test_authenticate_refused_at_once_frees_the_parser():
    conn = ImapServerConnection()
    conn.receive_data(b"a AUTHENTICATE FOO\r\nb NOOP\r\n")
    list(conn.events())
    conn.send(Tagged.no("a", "Unsupported mechanism"))
    [noop] = conn.events()
    assert noop.tag == "b"


def test_login_is_a_barrier_so_pipelined_select_sees_the_new_state():
    conn = ImapServerConnection()
    conn.receive_data(b"a LOGIN u p\r\nb SELECT INBOX\r\n")
    [login] = conn.events()
    assert list(conn.events()) == []
    conn.send(Tagged.ok("a"))
    [select] = conn.events()
    assert isinstance(select, CommandReceived) and select.request.mailbox == "INBOX"


def test_failed_login_keeps_state_and_next_command_is_judged_there():
    conn = ImapServerConnection()
    conn.receive_data(b"a LOGIN u p\r\nb SELECT INBOX\r\n")
    list(conn.events())
    conn.send(Tagged.no("a", "[AUTHENTICATIONFAILED] no"))
    [bad] = conn.events()
    assert isinstance(bad, BadCommand) and "not allowed in the not authenticated state" in bad.text


def test_starttls_ok_discards_pipelined_plaintext():
    conn = ImapServerConnection()
    conn.receive_data(b"a STARTTLS\r\nb LOGIN injected x\r\n")
    [start] = conn.events()
    assert start.request == StartTlsRequest()
    conn.send(Tagged.ok("a", "Begin TLS negotiation now"))
    assert list(conn.events()) == []
    conn.receive_data(b"c CAPABILITY\r\n")
    [cap] = conn.events()
    assert cap.tag == "c"


# -- UNAUTHENTICATE (RFC 8437) -------------------------------------------------


@pytest.mark.parametrize("state", [State.AUTHENTICATED, State.SELECTED])
def test_unauthenticate_parses_after_login(state):
    from hivemail.imap_proto import UnauthenticateRequest

    assert parse_one(b"a UNAUTHENTICATE", state=state, answer=False) == UnauthenticateRequest()
    assert parse_one(b"a unauthenticate", state=state, answer=False) == UnauthenticateRequest()


def test_unauthenticate_bad_cases():
    # RFC 8437 section 3: BAD for an invalid state or arguments, never NO.
    assert_bad(b"a UNAUTHENTICATE", "not allowed in the not authenticated state", state=NA)
    assert_bad(b"a UNAUTHENTICATE now", "extra", state=State.AUTHENTICATED)


@pytest.mark.parametrize("before", [State.AUTHENTICATED, State.SELECTED])
def test_unauthenticate_ok_returns_to_not_authenticated_and_rev1(before):
    from hivemail.imap_proto import Enabled, Version

    conn = ImapServerConnection(state=before)
    conn.send(Enabled(("IMAP4rev2", "UTF8=ACCEPT")))
    assert conn.version is Version.REV2 and conn.utf8
    # Pipelined after it (section 3 allows that): judged in the new state.
    conn.receive_data(b"a UNAUTHENTICATE\r\nb LOGIN fred secret\r\n")
    [unauth] = conn.events()
    assert unauth.command == "UNAUTHENTICATE"
    assert list(conn.events()) == []  # a barrier
    conn.send(Tagged.ok("a", "UNAUTHENTICATE completed"))
    assert conn.state is State.NOT_AUTHENTICATED
    # RFC 8437 4.1: what ENABLE switched on ceases.
    assert conn.version is Version.REV1 and not conn.utf8
    [login] = conn.events()
    assert login.request == LoginRequest("fred", "secret")


def test_unauthenticate_then_select_is_bad():
    conn = ImapServerConnection(state=State.SELECTED)
    conn.receive_data(b"a UNAUTHENTICATE\r\nb SELECT INBOX\r\n")
    list(conn.events())
    conn.send(Tagged.ok("a"))
    [bad] = conn.events()
    assert isinstance(bad, BadCommand) and "not allowed in the not authenticated state" in bad.text
