"""Literal flows: synchronizing, LITERAL+, LITERAL-, literal8, limits (RFC 9051 4.3, RFC 7888, RFC 3516)."""

import pytest

from hivemail.imap_proto import (
    AppendRequest,
    BadCommand,
    CommandReceived,
    ImapLimits,
    ImapServerConnection,
    LiteralRequested,
    LoginRequest,
    State,
    Tagged,
)
from hivemail.imap_proto.responses import TOOBIG
from hivemail.wire import LocalProtocolError
from tests.unit.imap_proto._helpers import CHUNKINGS, events_all_chunkings, run

AUTH = State.AUTHENTICATED


@pytest.mark.parametrize("chunk", CHUNKINGS)
def test_sync_literal_outside_append_is_accepted_automatically(chunk):
    d = run(b"a LOGIN {4}\r\nfred {6}\r\nsecret\r\n", chunk, state=State.NOT_AUTHENTICATED)
    assert d.events == [CommandReceived("a", LoginRequest("fred", "secret"), "LOGIN")]
    assert d.out == b"+ Ready\r\n+ Ready\r\na OK Completed\r\n"


def test_append_sync_literal_waits_for_the_session():
    conn = ImapServerConnection(state=AUTH)
    conn.receive_data(b"a APPEND INBOX (\\Seen) {5}\r\n")
    assert list(conn.events()) == [LiteralRequested("a", "APPEND", 5)]
    assert conn.data_to_send() == b""
    assert conn.reading_paused
    conn.receive_data(b"hel")  # a client must not send yet; it is just buffered
    assert list(conn.events()) == []
    conn.accept_literal()
    assert conn.data_to_send() == b"+ Ready\r\n"
    conn.receive_data(b"lo\r\n")
    [event] = conn.events()
    assert isinstance(event.request, AppendRequest) and event.request.message == b"hello"


def test_append_mailbox_literal_is_auto_accepted_but_message_literal_is_requested():
    events = events_all_chunkings(b"a APPEND {5}\r\nDraft {3}\r\nabc\r\n", state=AUTH)
    assert events[0] == LiteralRequested("a", "APPEND", 3)
    assert events[1].request.mailbox == "Draft"


def test_rejected_literal_is_not_read_and_next_command_parses():
    conn = ImapServerConnection(state=AUTH)
    conn.receive_data(b"a APPEND INBOX {99999999}\r\n")
    [req] = conn.events()
    conn.reject_literal(Tagged.no("a", "Message too big", TOOBIG))
    assert conn.data_to_send() == b"a NO [TOOBIG] Message too big\r\n"
    conn.receive_data(b"b NOOP\r\n")
    [event] = conn.events()
    assert event.tag == "b" and event.command == "NOOP"
    assert not conn._pending or conn._pending == [("b", "NOOP")]


def test_rejected_literal_bytes_sent_anyway_are_parsed_as_commands():
    # RFC 9051 section 4.3: the client must not send the literal; if a broken
    # one does, its bytes are command lines (and get BAD), not message data.
    conn = ImapServerConnection(state=AUTH)
    conn.receive_data(b"a APPEND INBOX {5}\r\n")
    list(conn.events())
    conn.reject_literal(Tagged.no("a", "no", TOOBIG))
    conn.receive_data(b"hello\r\nb NOOP\r\n")
    events = list(conn.events())
    assert isinstance(events[0], BadCommand)
    conn.send(events[0].response())
    events += list(conn.events())
    assert events[-1].tag == "b"


def test_reject_literal_requires_tagged_response_with_the_tag():
    conn = ImapServerConnection(state=AUTH)
    conn.receive_data(b"a APPEND INBOX {5}\r\n")
    list(conn.events())
    with pytest.raises(LocalProtocolError):
        conn.reject_literal(Tagged.no("other", "x"))


def test_accept_literal_without_request_is_a_local_error():
    conn = ImapServerConnection(state=AUTH)
    with pytest.raises(LocalProtocolError):
        conn.accept_literal()


@pytest.mark.parametrize("chunk", CHUNKINGS)
def test_literal_plus_does_not_send_continuation(chunk):
    d = run(b"a APPEND INBOX {5+}\r\nhello\r\nb NOOP\r\n", chunk, state=AUTH)
    assert [type(e).__name__ for e in d.events] == ["CommandReceived", "CommandReceived"]
    assert b"+ " not in d.out


@pytest.mark.parametrize("chunk", CHUNKINGS)
def test_oversized_literal_plus_is_discarded_then_bad_toobig(chunk):
    limits = ImapLimits(max_append=10)
    body = b"x LOGOUT\r\n" * 5  # must not be taken for commands
    d = run(b"a APPEND INBOX {%d+}\r\n" % len(body) + body + b" (\\Seen) {3+}\r\nabc\r\nb NOOP\r\n", chunk, state=AUTH, limits=limits)
    assert len(d.events) == 2
    assert isinstance(d.events[0], BadCommand) and d.events[0].code == TOOBIG and d.events[0].tag == "a"
    assert d.events[1].tag == "b"


def test_literal_minus_limits_non_sync_literals_to_4096():
    d = run(b"a LOGIN {5000+}\r\n" + b"u" * 5000 + b" p\r\nb NOOP\r\n", state=State.NOT_AUTHENTICATED,
            literal_plus=False, limits=ImapLimits(max_literal=10000))
    assert isinstance(d.events[0], BadCommand) and "LITERAL-" in d.events[0].text
    assert d.events[1].tag == "b"
    ok = run(b"a LOGIN {4096+}\r\n" + b"u" * 4096 + b" p\r\n", state=State.NOT_AUTHENTICATED, literal_plus=False)
    assert ok.events[0].request.username == "u" * 4096
    assert ImapServerConnection(literal_plus=False).literal_capability == "LITERAL-"
    assert ImapServerConnection().literal_capability == "LITERAL+"


def test_oversized_sync_literal_outside_append_is_bad_without_continuation():
    d = run(b"a LOGIN {100000}\r\nb NOOP\r\n", state=State.NOT_AUTHENTICATED, limits=ImapLimits(max_literal=1000))
    assert isinstance(d.events[0], BadCommand) and "too big" in d.events[0].text
    assert d.events[1].tag == "b"
    assert b"+ Ready" not in d.out


def test_literal8_in_append():
    events = events_all_chunkings(b"a APPEND INBOX ~{4+}\r\n\x00\x01\r\n\r\n", state=AUTH)
    msg = events[0].request.messages[0]
    assert msg.binary and msg.message == b"\x00\x01\r\n"


def test_nul_in_ordinary_literal_is_bad():
    d = run(b"a LOGIN {3+}\r\na\x00b pass\r\nb NOOP\r\n", state=State.NOT_AUTHENTICATED)
    assert isinstance(d.events[0], BadCommand) and "NUL" in d.events[0].text
    assert d.events[1].tag == "b"


def test_sync_literal_of_unknown_command_is_refused_before_continuation():
    d = run(b"a FROB {5}\r\nb NOOP\r\n", state=AUTH)
    assert isinstance(d.events[0], BadCommand) and "unknown command" in d.events[0].text
    assert b"+ Ready" not in d.out
    assert d.events[1].tag == "b"


def test_append_literal_in_wrong_state_is_refused_without_literal_request():
    d = run(b"a APPEND INBOX {5}\r\nb NOOP\r\n", state=State.NOT_AUTHENTICATED)
    assert not any(isinstance(e, LiteralRequested) for e in d.events)
    assert "not allowed" in d.events[0].text
    assert d.events[1].tag == "b"


def test_literal_marker_must_end_the_line():
    d = run(b"a LOGIN {5} x\r\nb NOOP\r\n", state=State.NOT_AUTHENTICATED)
    assert "literal" in d.events[0].text
    assert d.events[1].tag == "b"


def test_multiappend_requests_each_message_literal():
    conn = ImapServerConnection(state=AUTH)
    conn.receive_data(b"a APPEND INBOX {1}\r\n")
    assert list(conn.events()) == [LiteralRequested("a", "APPEND", 1)]
    conn.accept_literal()
    conn.receive_data(b"x (\\Seen) {2}\r\n")
    assert list(conn.events()) == [LiteralRequested("a", "APPEND", 2)]
    conn.accept_literal()
    conn.receive_data(b"yz\r\n")
    [event] = conn.events()
    assert [m.message for m in event.request.messages] == [b"x", b"yz"]


def test_many_small_literals_are_bounded_by_max_command():
    limits = ImapLimits(max_literal=100, max_command=300)
    data = b"a SEARCH" + b" TEXT {90+}\r\n" + b"x" * 90 + b" TEXT {90+}\r\n" + b"x" * 90 + b" TEXT {90+}\r\n" + b"x" * 90
    d = run(data + b" TEXT {90+}\r\n" + b"y" * 90 + b"\r\nb NOOP\r\n", limits=limits)
    assert isinstance(d.events[0], BadCommand) and d.events[0].code == TOOBIG
    assert d.events[1].tag == "b"


def test_multiappend_non_sync_total_is_bounded_by_max_append():
    limits = ImapLimits(max_append=10)
    d = run(b"a APPEND INBOX {6+}\r\nabcdef {6+}\r\nghijkl\r\nb NOOP\r\n", state=AUTH, limits=limits)
    assert isinstance(d.events[0], BadCommand) and d.events[0].code == TOOBIG
    assert d.events[1].tag == "b"


def test_absurd_literal_plus_gets_bye_instead_of_reading_gigabytes():
    d = run(b"a APPEND INBOX {99999999999+}\r\nxxxx", state=AUTH)
    [bye] = d.events
    assert bye.tag is None and bye.status == "BYE" and bye.code == TOOBIG
    assert d.out == b"* BYE [TOOBIG] literal of 99999999999 bytes is far too big; closing\r\n"
    assert d.conn.state is State.LOGOUT
    d.eof()
    assert type(d.events[-1]).__name__ == "ConnectionClosed"
