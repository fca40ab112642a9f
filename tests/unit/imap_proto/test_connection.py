"""The connection core: limits, pipelining, IDLE, EOF, state changes on send."""

from datetime import datetime, timezone

import pytest

from hivemail.imap_proto import (
    BadCommand,
    CommandReceived,
    Condition,
    ConnectionClosed,
    Enabled,
    Fetch,
    FileSegment,
    IdleDone,
    ImapLimits,
    ImapServerConnection,
    LiteralFile,
    Recent,
    State,
    Tagged,
    Version,
)
from tests.unit.imap_proto._helpers import CHUNKINGS, events_all_chunkings, run


@pytest.mark.parametrize("chunk", CHUNKINGS)
def test_line_too_long_is_bad_and_connection_stays_usable(chunk):
    limits = ImapLimits(max_line=200)
    d = run(b"t1 SEARCH " + b"1," * 500 + b"2\r\nt2 NOOP\r\n", chunk, limits=limits)
    assert isinstance(d.events[0], BadCommand)
    assert d.events[0].tag == "t1" and "line too long" in d.events[0].text
    assert d.events[1].tag == "t2"


def test_line_too_long_ending_in_literal_plus_discards_the_literal():
    limits = ImapLimits(max_line=200)
    data = b"t1 LOGIN " + b"x" * 400 + b" {11+}\r\nt9 LOGOUT\r\n t3\r\nt2 NOOP\r\n"
    d = run(data, 7, limits=limits, state=State.NOT_AUTHENTICATED)
    assert [getattr(e, "tag", None) for e in d.events] == ["t1", "t2"]


def test_parenthesis_nesting_limit():
    limits = ImapLimits(max_nesting=3)
    d = run(b"a SEARCH ((((ALL))))\r\nb NOOP\r\n", limits=limits)
    assert "nested" in d.events[0].text and d.events[0].code == "LIMIT"
    assert d.events[1].tag == "b"


def test_pipelining_limit_pauses_parsing_until_answers_are_sent():
    conn = ImapServerConnection(ImapLimits(max_pipelined=2), state=State.SELECTED)
    conn.receive_data(b"a NOOP\r\nb NOOP\r\nc NOOP\r\nd NOOP\r\n")
    assert [e.tag for e in conn.events()] == ["a", "b"]
    assert conn.reading_paused
    conn.send(Tagged.ok("a"))
    assert [e.tag for e in conn.events()] == ["c"]
    conn.send(Tagged.ok("b"))
    conn.send(Tagged.ok("c"))
    assert [e.tag for e in conn.events()] == ["d"]
    assert not conn.reading_paused


@pytest.mark.parametrize("chunk", CHUNKINGS)
def test_idle_done(chunk):
    d = run(b"a IDLE\r\ndone\r\nb NOOP\r\n", chunk)
    assert d.events[0] == CommandReceived("a", d.events[0].request, "IDLE")
    assert d.events[1] == IdleDone("a")
    assert d.events[2].tag == "b"


def test_idle_anything_but_done_is_bad_for_the_idle_tag():
    d = run(b"a IDLE\r\nb NOOP\r\nc NOOP\r\n")
    assert isinstance(d.events[1], BadCommand) and d.events[1].tag == "a" and "DONE" in d.events[1].text
    assert d.events[2].tag == "c"


def test_eof_between_commands_and_inside_one():
    d = run(b"a NOOP\r\n").eof()
    assert isinstance(d.events[-1], ConnectionClosed)
    d = run(b"a LOGIN {5}\r\nab").eof()
    assert isinstance(d.events[-1], ConnectionClosed)
    assert d.conn.closed
    d.conn.receive_data(b"b NOOP\r\n")  # ignored, no exception
    assert list(d.conn.events()) == []


def test_bye_moves_to_logout_and_input_is_ignored():
    conn = ImapServerConnection(state=State.AUTHENTICATED)
    conn.receive_data(b"a LOGOUT\r\nb NOOP\r\n")
    [logout] = conn.events()
    conn.send(Condition.bye("Logging out"))
    conn.send(Tagged.ok("a"))
    assert conn.state is State.LOGOUT
    assert list(conn.events()) == []
    assert conn.data_to_send() == b"* BYE Logging out\r\na OK Completed\r\n"
    conn.receive_data(b"")
    assert list(conn.events()) == [ConnectionClosed()]


def test_preauth_greeting_authenticates():
    conn = ImapServerConnection()
    conn.send(Condition.preauth("hi"))
    assert conn.state is State.AUTHENTICATED


def test_select_close_transitions_happen_on_send():
    conn = ImapServerConnection(state=State.AUTHENTICATED)
    conn.receive_data(b"a SELECT INBOX\r\n")
    list(conn.events())
    assert conn.state is State.AUTHENTICATED
    conn.send(Tagged.ok("a", code="READ-WRITE"))
    assert conn.state is State.SELECTED
    conn.receive_data(b"b SELECT nope\r\n")
    list(conn.events())
    conn.send(Tagged.no("b", "no such mailbox"))
    assert conn.state is State.AUTHENTICATED
    conn.receive_data(b"c EXAMINE INBOX\r\n")
    list(conn.events())
    conn.send(Tagged.ok("c"))
    conn.receive_data(b"d CLOSE\r\n")
    list(conn.events())
    conn.send(Tagged.ok("d"))
    assert conn.state is State.AUTHENTICATED


def test_enable_switches_version_and_utf8_when_enabled_is_sent():
    conn = ImapServerConnection(state=State.AUTHENTICATED)
    conn.receive_data(b"a ENABLE IMAP4rev2 UTF8=ACCEPT\r\n" + 'b CREATE "Entwürfe&"\r\n'.encode())
    [enable] = conn.events()
    assert conn.version is Version.REV1
    conn.send(Enabled(("IMAP4rev2", "UTF8=ACCEPT")))
    conn.send(Tagged.ok("a"))
    assert conn.version is Version.REV2 and conn.utf8
    [create] = conn.events()
    assert create.request.mailbox == "Entwürfe&"
    conn.send(Recent(3))
    assert conn.data_to_send() == b"* ENABLED IMAP4rev2 UTF8=ACCEPT\r\na OK Completed\r\n"


def test_chunks_to_send_streams_literal_files(tmp_path):
    path = tmp_path / "msg"
    path.write_bytes(b"0123456789")
    conn = ImapServerConnection(state=State.SELECTED)
    conn.send(Fetch(1, (("UID", 7), ("BODY[]", LiteralFile(str(path), 2, 5)))))
    conn.send(Tagged.ok("a"))
    chunks = conn.chunks_to_send()
    assert chunks == [b"* 1 FETCH (UID 7 BODY[] {5}\r\n", FileSegment(str(path), 2, 5), b")\r\na OK Completed\r\n"]
    conn.send(Fetch(1, (("BODY[]", LiteralFile(str(path), 2, 5)),)))
    assert conn.data_to_send() == b"* 1 FETCH (BODY[] {5}\r\n23456)\r\n"


def test_bad_command_response_helper():
    assert BadCommand("a", "x").response() == Tagged.bad("a", "x")
    assert BadCommand(None, "x").response() == Condition.bad("x")


@pytest.mark.parametrize(
    "data",
    [
        b"a NOOP\r\nb CAPABILITY\r\nc ID NIL\r\n",
        b"a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)\r\nb STORE 1 +FLAGS (\\Seen)\r\n",
        b"a SEARCH CHARSET UTF-8 OR SUBJECT {3+}\r\nabc FROM \"x\"\r\nb NOOP\r\n",
        b"a SEARCH ((\r\nb NOOP\r\n",
    ],
)
def test_pipelined_commands_are_chunking_invariant(data):
    events_all_chunkings(data)


def test_internaldate_value_formatting():
    conn = ImapServerConnection(state=State.SELECTED)
    conn.send(Fetch(2, (("INTERNALDATE", datetime(2024, 1, 5, 8, 9, 10, tzinfo=timezone.utc)),)))
    assert conn.data_to_send() == b'* 2 FETCH (INTERNALDATE " 5-Jan-2024 08:09:10 +0000")\r\n'


def test_bye_sent_while_waiting_for_a_command_ignores_later_input():
    conn = ImapServerConnection(state=State.AUTHENTICATED)
    conn.send(Condition.bye("server shutting down"))
    conn.receive_data(b"a NOOP\r\n")
    assert list(conn.events()) == []
    assert conn.state is State.LOGOUT
    conn.receive_data(b"")
    assert list(conn.events()) == [ConnectionClosed()]
