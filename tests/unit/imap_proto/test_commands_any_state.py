import pytest

from hivemail.imap_proto import (
    BadCommand,
    CapabilityRequest,
    EnableRequest,
    IdleRequest,
    IdRequest,
    LogoutRequest,
    NoopRequest,
    State,
)
from tests.unit.imap_proto._helpers import assert_bad, parse_one

GOOD = [
    (b"a1 CAPABILITY", CapabilityRequest()),
    (b"a1 capability", CapabilityRequest()),
    (b"a1 NOOP", NoopRequest()),
    (b"a1 LOGOUT", LogoutRequest()),
    (b"a1 ID NIL", IdRequest(None)),
    (b'a1 ID ("name" "sodr" "version" "19.34")', IdRequest((("name", "sodr"), ("version", "19.34")))),
    (b'a1 ID ("name" NIL)', IdRequest((("name", None),))),
    (b"a1 ID ()", IdRequest(())),
]


@pytest.mark.parametrize("line,expected", GOOD)
@pytest.mark.parametrize("state", [State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED])
def test_any_state_commands_parse_in_every_state(line, expected, state):
    assert parse_one(line, state=state) == expected


@pytest.mark.parametrize(
    "line,expected",
    [
        (b"a1 ENABLE IMAP4rev2", EnableRequest(("IMAP4REV2",))),
        (b"a1 ENABLE CONDSTORE utf8=accept", EnableRequest(("CONDSTORE", "UTF8=ACCEPT"))),
        (b"a1 IDLE", IdleRequest()),
    ],
)
def test_enable_and_idle(line, expected):
    assert parse_one(line, state=State.AUTHENTICATED) == expected


BAD = [
    (b"a1 NOOP extra", "unexpected extra argument"),
    (b"a1 CAPABILITY (x)", "unexpected extra argument"),
    (b"a1 ID", "missing"),
    (b"a1 ID name", "expected"),
    (b'a1 ID ("name")', "missing a field value"),
    (b"a1 ENABLE", "missing a capability"),
    (b"a1 FROBNICATE", "unknown command FROBNICATE"),
    (b"a1", "missing command"),
    (b"a1 NOOP ", "space at end"),
    (b"a1  NOOP", "unexpected space"),
    (b'"a1" NOOP', "tag"),
]


@pytest.mark.parametrize("line,fragment", BAD)
def test_bad_lines_give_bad_and_connection_stays_usable(line, fragment):
    assert_bad(line, fragment, state=State.AUTHENTICATED)


def test_untagged_bad_when_no_tag():
    event = parse_one(b"* NOOP", state=State.AUTHENTICATED)
    assert isinstance(event, BadCommand) and event.tag is None
    assert event.response().status == "BAD"


def test_empty_line_gets_an_untagged_bad_like_dovecot():
    """Dovecot 2.3 answers an empty line with "* BAD Error in IMAP command
    received by server."; the next command is parsed as usual."""
    from tests.unit.imap_proto._helpers import events_all_chunkings

    events = events_all_chunkings(b"\r\n\r\na NOOP\r\n")
    assert [(type(e).__name__, e.tag) for e in events] == [("BadCommand", None), ("BadCommand", None), ("CommandReceived", "a")]
