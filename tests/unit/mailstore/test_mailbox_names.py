import pytest

from hivemail.mailstore import ErrorKind, MailError
from hivemail.mailstore import names


@pytest.mark.parametrize("given, canonical", [
    ("INBOX", "INBOX"), ("inbox", "INBOX"), ("iNbOx", "INBOX"),
    ("inbox/Sub", "INBOX/Sub"), ("Inbox/inbox", "INBOX/inbox"),
    ("Work/INBOX", "Work/INBOX"), ("Inboxes", "Inboxes"),
    ("Ünïcødé/日本語", "Ünïcødé/日本語"), ("a b/c d", "a b/c d"), ("~x", "~x"), ("a.b/..c", "a.b/..c"),
])
def test_canonical_names(given, canonical):
    assert names.mailbox_name(given) == canonical


@pytest.mark.parametrize("bad", [
    "", "/", "//", "/a", "a/", "a//b", ".", "..", "a/.", "../x", "a/../../b", "x\x00", "x\r",
    "x\n", "x\x1b", "x\x7f", "*", "a%b", "\ud800", "a" * 1025, "/".join("a" * 33), "b" * 256,
])
def test_bad_names(bad):
    with pytest.raises(MailError) as info:
        names.mailbox_name(bad)
    assert info.value.kind is ErrorKind.BAD_NAME


def test_limits_are_inclusive():
    assert names.mailbox_name("/".join("a" * names.MAX_DEPTH))
    assert names.mailbox_name("b" * names.MAX_LEVEL_LENGTH)


def test_parents_and_descendants():
    assert list(names.parents("a/b/c")) == ["a", "a/b"]
    assert list(names.parents("a")) == []
    assert names.is_descendant("a/b", "a")
    assert not names.is_descendant("ab", "a")
    assert not names.is_descendant("a", "a")


@pytest.mark.parametrize("given, canonical", [
    ("Alice@Example.ORG", "alice@example.org"), (" bob@x ", "bob@x"), ("local", "local"),
])
def test_account_names(given, canonical):
    assert names.account_name(given) == canonical
    assert names.domain_of(canonical) == (canonical.split("@")[1] if "@" in canonical else None)


@pytest.mark.parametrize("bad", ["", "a b@x", "a@b@c", "@x", "x@", "a/b@x", "a\n@x"])
def test_bad_account_names(bad):
    with pytest.raises(MailError):
        names.account_name(bad)
