from datetime import datetime, timedelta, timezone

import pytest

from hivemail.imap_proto import (
    AppendMessage,
    AppendRequest,
    CheckRequest,
    CloseRequest,
    CopyRequest,
    ExpungeRequest,
    MoveRequest,
    QResync,
    SelectRequest,
    SeqRange,
    SeqSet,
    State,
    StoreRequest,
    UnselectRequest,
    parse_seqset,
)
from tests.unit.imap_proto._helpers import assert_bad, parse_one

AUTH = State.AUTHENTICATED
SEL = State.SELECTED


def s(text: str) -> SeqSet:
    return parse_seqset(text)


GOOD_AUTH = [
    (b"a SELECT INBOX", SelectRequest("INBOX")),
    (b"a select inbox", SelectRequest("INBOX")),
    (b"a EXAMINE foo", SelectRequest("foo", readonly=True)),
    (b"a SELECT foo (CONDSTORE)", SelectRequest("foo", condstore=True)),
    (b"a SELECT foo (QRESYNC (67890007 20050715194045000))", SelectRequest("foo", qresync=QResync(67890007, 20050715194045000))),
    (
        b"a SELECT foo (QRESYNC (67890007 90060115194045000 41:211,214:541))",
        SelectRequest("foo", qresync=QResync(67890007, 90060115194045000, s("41:211,214:541"))),
    ),
    (
        b"a SELECT foo (QRESYNC (1 2 1:9 (1,5 10,50)))",
        SelectRequest("foo", qresync=QResync(1, 2, s("1:9"), s("1,5"), s("10,50"))),
    ),
    (
        b'a APPEND saved-messages (\\Seen) {5+}\r\nhello',
        AppendRequest("saved-messages", (AppendMessage(b"hello", ("\\Seen",)),)),
    ),
    (
        b'a APPEND INBOX (\\Seen $Junk) " 7-Feb-1994 21:52:25 -0800" {2+}\r\nhi',
        AppendRequest(
            "INBOX",
            (AppendMessage(b"hi", ("\\Seen", "$Junk"), datetime(1994, 2, 7, 21, 52, 25, tzinfo=timezone(timedelta(hours=-8)))),),
        ),
    ),
    (b"a APPEND INBOX {2}\r\nhi", AppendRequest("INBOX", (AppendMessage(b"hi"),))),
    (b"a APPEND INBOX ~{3}\r\na\x00b", AppendRequest("INBOX", (AppendMessage(b"a\x00b", binary=True),))),
    (
        b"a APPEND INBOX {1+}\r\nx (\\Draft) {1+}\r\ny",
        AppendRequest("INBOX", (AppendMessage(b"x"), AppendMessage(b"y", ("\\Draft",)))),
    ),
    (b"a APPEND {5+}\r\nINBOX () {1}\r\nx", AppendRequest("INBOX", (AppendMessage(b"x"),))),
]


@pytest.mark.parametrize("line,expected", GOOD_AUTH)
def test_good_authenticated(line, expected):
    assert parse_one(line, state=AUTH) == expected


GOOD_SELECTED = [
    (b"a CLOSE", CloseRequest()),
    (b"a UNSELECT", UnselectRequest()),
    (b"a CHECK", CheckRequest()),
    (b"a EXPUNGE", ExpungeRequest()),
    (b"a UID EXPUNGE 3000:3002", ExpungeRequest(s("3000:3002"))),
    (b"a uid expunge $", ExpungeRequest(SeqSet(saved=True))),
    (b"a COPY 2:4 MEETING", CopyRequest(s("2:4"), "MEETING")),
    (b"a UID COPY 1,3:* Trash", CopyRequest(SeqSet((SeqRange(1), SeqRange(3, 0))), "Trash", uid=True)),
    (b"a MOVE 1 inbox", MoveRequest(s("1"), "INBOX")),
    (b'a UID MOVE 42 "Other box"', MoveRequest(s("42"), "Other box", uid=True)),
    (b"a STORE 2:4 +FLAGS (\\Deleted)", StoreRequest(s("2:4"), "+", ("\\Deleted",))),
    (b"a STORE 1 -FLAGS.SILENT \\seen", StoreRequest(s("1"), "-", ("\\Seen",), silent=True)),
    (b"a STORE 1 FLAGS ()", StoreRequest(s("1"), "", ())),
    (b"a STORE * flags $Forwarded Junk", StoreRequest(s("*"), "", ("$Forwarded", "Junk"))),
    (
        b"a UID STORE 1:* (UNCHANGEDSINCE 12345) +FLAGS.SILENT (\\Answered)",
        StoreRequest(s("1:*"), "+", ("\\Answered",), True, 12345, uid=True),
    ),
]


@pytest.mark.parametrize("line,expected", GOOD_SELECTED)
def test_good_selected(line, expected):
    assert parse_one(line, state=SEL) == expected


BAD_SELECTED = [
    (b"a UID", "UID must be followed by"),
    (b"a UID NOOP", "UID must be followed by"),
    (b"a EXPUNGE 1", "extra"),
    (b"a UID EXPUNGE", "missing a UID set"),
    (b"a UID EXPUNGE 0", "non-zero"),
    (b"a COPY 1", "missing a destination mailbox"),
    (b"a COPY x INBOX", "sequence set"),
    (b"a COPY 1:4294967296 INBOX", "larger than 4294967295"),
    (b"a COPY 1,,2 INBOX", "empty element"),
    (b"a STORE 1 FLAGS", "missing a flag"),
    (b"a STORE 1 +FLAG (\\Seen)", "expected +FLAGS"),
    (b"a STORE 1 FLAGS (\\Recent)", "\\Recent cannot be stored"),
    (b"a STORE 1 (UNCHANGEDSINCE x) FLAGS ()", "mod-sequence"),
    (b"a STORE 1 (FOO 1) FLAGS ()", "unknown or repeated store modifier"),
    (b"a STORE 1 FLAGS (\\Seen", "missing ')'"),
    (b"a STORE 1 FLAGS \\Seen)", "unbalanced ')'"),
    (b"a SELECT foo (BOGUS)", "unknown select parameter"),
    (b"a SELECT foo (QRESYNC (0 1))", "must not be zero"),
    (b"a SELECT foo (QRESYNC (1))", "missing a mod-sequence"),
]


@pytest.mark.parametrize("line,fragment", BAD_SELECTED)
def test_bad_selected(line, fragment):
    assert_bad(line, fragment, state=SEL)


BAD_AUTH = [
    (b"a APPEND INBOX", "missing the message literal"),
    (b'a APPEND INBOX "hello"', "date-time"),
    (b'a APPEND INBOX "7-Feb-1994" {1+}\r\nx', "invalid date-time"),
    (b"a APPEND INBOX (\\Recent) {1+}\r\nx", "\\Recent"),
    (b"a APPEND INBOX {1+}\r\nx y", "literal"),
    (b"a CLOSE", "not allowed in the authenticated state"),
    (b"a FETCH 1 FLAGS", "not allowed in the authenticated state"),
    (b"a UID FETCH 1 FLAGS", "not allowed in the authenticated state"),
]


@pytest.mark.parametrize("line,fragment", BAD_AUTH)
def test_bad_authenticated(line, fragment):
    assert_bad(line, fragment, state=AUTH)


def test_utf8_append_needs_utf8_mode():
    req = parse_one(b"a APPEND INBOX UTF8 (~{2+}\r\nhi)", state=AUTH, utf8=True)
    assert req == AppendRequest("INBOX", (AppendMessage(b"hi", binary=True, utf8=True),))
    assert_bad(b"a APPEND INBOX UTF8 (~{2+}\r\nhi)", "requires ENABLE UTF8=ACCEPT", state=AUTH)
    assert_bad(b"a APPEND INBOX UTF8 ({2+}\r\nhi)", "literal8", state=AUTH, utf8=True)
