"""COMPRESS in the core (RFC 4978): grammar, states, and the barrier that
keeps the bytes after it away from the parser until the session has
switched the layer below."""

import pytest

from hivemail.imap_proto import (
    BadCommand,
    CommandReceived,
    CompressRequest,
    ImapServerConnection,
    State,
    Tagged,
)
from hivemail.wire.errors import LocalProtocolError
from tests.unit.imap_proto._helpers import assert_bad, parse_one

AUTH = State.AUTHENTICATED


@pytest.mark.parametrize("line", [b"a COMPRESS DEFLATE", b"a compress deflate", b"a Compress Deflate"])
def test_good(line):
    assert parse_one(line, state=AUTH, answer=False) == CompressRequest("DEFLATE")


@pytest.mark.parametrize(
    "line,fragment",
    [
        # RFC 4978 section 3: BAD for an "invalid or unknown argument"
        # (Dovecot 2.3 says NO "Unknown compression mechanism").
        (b"a COMPRESS GZIP", "unknown compression algorithm GZIP"),
        (b"a COMPRESS", "missing a compression algorithm"),
        (b"a COMPRESS DEFLATE DEFLATE", "extra argument"),
        (b'a COMPRESS "DEFLATE"', "compression algorithm"),
        (b"a COMPRESS (DEFLATE)", "compression algorithm"),
    ],
)
def test_bad(line, fragment):
    assert_bad(line, fragment, state=AUTH)


@pytest.mark.parametrize("state", [State.AUTHENTICATED, State.SELECTED])
def test_allowed_after_login(state):
    assert parse_one(b"a COMPRESS DEFLATE", state=state, answer=False) == CompressRequest("DEFLATE")


def test_refused_before_login_as_dovecot_does():
    # Dovecot's imap-login does not know COMPRESS: "BAD Error in IMAP command".
    assert_bad(b"a COMPRESS DEFLATE", "not allowed in the not authenticated state", state=State.NOT_AUTHENTICATED)


def test_bytes_after_compress_are_not_parsed_and_can_be_taken():
    conn = ImapServerConnection(state=AUTH)
    conn.receive_data(b"a COMPRESS DEFLATE\r\n\x4a\x54\x08\xf5 b NOOP\r\n")
    [event] = conn.events()
    assert event == CommandReceived("a", CompressRequest("DEFLATE"), "COMPRESS")
    assert conn.reading_paused
    # More arrives before the session answers: buffered, not parsed.
    conn.receive_data(b"c NOOP\r\n")
    assert list(conn.events()) == []
    assert conn.take_unparsed_input() == b"\x4a\x54\x08\xf5 b NOOP\r\nc NOOP\r\n"
    conn.send(Tagged.ok("a", "DEFLATE active"))
    assert list(conn.events()) == []
    assert conn.data_to_send() == b"a OK DEFLATE active\r\n"
    # The session feeds back what its inflater made of them.
    conn.receive_data(b"d NOOP\r\n")
    [noop] = conn.events()
    assert noop.tag == "d" and conn.state is AUTH


def test_take_unparsed_input_needs_a_barrier():
    conn = ImapServerConnection(state=AUTH)
    with pytest.raises(LocalProtocolError):
        conn.take_unparsed_input()
    conn.receive_data(b"a NOOP\r\nb NOOP")
    list(conn.events())
    with pytest.raises(LocalProtocolError):
        conn.take_unparsed_input()


def test_refused_compress_leaves_pipelined_commands_to_the_parser():
    conn = ImapServerConnection(state=AUTH)
    conn.receive_data(b"a COMPRESS DEFLATE\r\nb NOOP\r\n")
    list(conn.events())
    conn.send(Tagged.no("a", "DEFLATE is already active", "COMPRESSIONACTIVE"))
    [noop] = conn.events()
    assert isinstance(noop, CommandReceived) and noop.tag == "b"
    assert conn.data_to_send() == b"a NO [COMPRESSIONACTIVE] DEFLATE is already active\r\n"


def test_unknown_algorithm_does_not_stop_the_parser():
    conn = ImapServerConnection(state=AUTH)
    conn.receive_data(b"a COMPRESS LZ4\r\nb NOOP\r\n")
    bad, noop = list(conn.events())
    assert isinstance(bad, BadCommand) and bad.status == "BAD"
    assert isinstance(noop, CommandReceived)
