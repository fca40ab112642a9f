import pytest

from hivemail.imap_proto import (
    CreateRequest,
    DeleteRequest,
    ListRequest,
    LsubRequest,
    NamespaceRequest,
    RenameRequest,
    State,
    StatusRequest,
    SubscribeRequest,
    UnsubscribeRequest,
)
from tests.unit.imap_proto._helpers import assert_bad, parse_one

AUTH = State.AUTHENTICATED

GOOD = [
    (b"a CREATE Drafts", CreateRequest("Drafts")),
    (b'a CREATE "My Box"', CreateRequest("My Box")),
    (b"a CREATE inbox", CreateRequest("INBOX")),
    (b"a CREATE Entw&APw-rfe", CreateRequest("Entwürfe")),
    (b"a CREATE &-foo", CreateRequest("&foo")),
    (b"a CREATE MySent (USE (\\Sent))", CreateRequest("MySent", ("\\Sent",))),
    (b"a CREATE x (USE (\\drafts \\Junk))", CreateRequest("x", ("\\Drafts", "\\Junk"))),
    (b"a CREATE {3+}\r\nfoo", CreateRequest("foo")),
    (b"a CREATE [Gmail]/Sent", CreateRequest("[Gmail]/Sent")),
    (b"a DELETE foo", DeleteRequest("foo")),
    (b"a DELETE iNbOx", DeleteRequest("INBOX")),
    (b"a RENAME old new", RenameRequest("old", "new")),
    (b'a RENAME "a b" {3+}\r\nc d', RenameRequest("a b", "c d")),
    (b"a SUBSCRIBE news", SubscribeRequest("news")),
    (b"a UNSUBSCRIBE news", UnsubscribeRequest("news")),
    (b"a NAMESPACE", NamespaceRequest()),
    (b"a STATUS INBOX (MESSAGES UIDNEXT)", StatusRequest("INBOX", ("MESSAGES", "UIDNEXT"))),
    (
        b"a status foo (uidvalidity unseen deleted size highestmodseq recent)",
        StatusRequest("foo", ("UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "HIGHESTMODSEQ", "RECENT")),
    ),
    (b'a LIST "" *', ListRequest("", ("*",))),
    (b'a LIST "" %', ListRequest("", ("%",))),
    (b"a LIST foo/ %/bar*", ListRequest("foo/", ("%/bar*",))),
    (b'a LIST "" ""', ListRequest("", ("",))),
    (b"a LIST ~ Entw&APw-*", ListRequest("~", ("Entwü*",))),
    (
        b'a LIST (SUBSCRIBED RECURSIVEMATCH) "" (INBOX "foo*")',
        ListRequest("", ("INBOX", "foo*"), ("SUBSCRIBED", "RECURSIVEMATCH"), extended=True),
    ),
    (b'a LIST () "" %', ListRequest("", ("%",), extended=True)),
    (
        b'a LIST "" % RETURN (CHILDREN SUBSCRIBED SPECIAL-USE)',
        ListRequest("", ("%",), (), ("CHILDREN", "SUBSCRIBED", "SPECIAL-USE"), extended=True),
    ),
    (
        b'a LIST "" % RETURN (STATUS (MESSAGES UNSEEN))',
        ListRequest("", ("%",), (), ("STATUS",), ("MESSAGES", "UNSEEN"), extended=True),
    ),
    (
        b'a LIST (SPECIAL-USE) "" * RETURN (SPECIAL-USE)',
        ListRequest("", ("*",), ("SPECIAL-USE",), ("SPECIAL-USE",), extended=True),
    ),
    (b'a LSUB "" *', LsubRequest("", "*")),
]


@pytest.mark.parametrize("line,expected", GOOD)
@pytest.mark.parametrize("state", [State.AUTHENTICATED, State.SELECTED])
def test_good(line, expected, state):
    assert parse_one(line, state=state) == expected


def test_utf8_mailbox_names_after_enable_are_not_utf7_decoded():
    assert parse_one("a CREATE \"Entwürfe&\"".encode(), state=AUTH, utf8=True) == CreateRequest("Entwürfe&")


BAD = [
    (b"a CREATE", "missing a mailbox name"),
    (b"a CREATE a b", "expected creation parameters"),
    (b"a CREATE x (USE (Sent))", "must start with"),
    (b"a CREATE x (FOO (\\Sent))", "unknown creation parameter"),
    (b"a CREATE Entw&APw", "modified UTF-7"),
    (b"a CREATE &AGE-", "printable ASCII"),
    (b'a CREATE "caf\xc3\xa9"', "modified UTF-7"),
    (b"a CREATE caf\xc3\xa9", "8-bit"),
    (b"a RENAME a", "missing the new mailbox name"),
    (b"a DELETE (x)", "expected a mailbox name"),
    (b"a STATUS INBOX", "missing a parenthesized list of status items"),
    (b"a STATUS INBOX ()", "at least one status item"),
    (b"a STATUS INBOX (BOGUS)", "unknown status item BOGUS"),
    (b'a LIST ""', "missing a mailbox pattern"),
    (b'a LIST (BOGUS) "" *', "unknown LIST selection option"),
    (b'a LIST (RECURSIVEMATCH) "" *', "RECURSIVEMATCH requires"),
    (b'a LIST "" * RETURN (BOGUS)', "unknown LIST return option"),
    (b'a LIST "" * FOO (x)', "expected RETURN"),
    (b'a LIST "" () ', "space at end"),
    (b'a LIST "" ()', "empty pattern list"),
    (b'a LIST "" * RETURN (STATUS ())', "at least one status item"),
]


@pytest.mark.parametrize("line,fragment", BAD)
def test_bad(line, fragment):
    assert_bad(line, fragment, state=AUTH)


@pytest.mark.parametrize("line", [b"a CREATE x", b"a LIST \"\" *", b"a STATUS x (MESSAGES)"])
def test_refused_before_login(line):
    assert_bad(line, "not allowed in the not authenticated state", state=State.NOT_AUTHENTICATED)
