"""UIDL formats, explicit UIDLs and blob pins in the embedded store, `uidl import` parsing."""

from __future__ import annotations

import asyncio
import os

import pytest

from hivemail.cli import parse_uidl_lines
from hivemail.mailstore import MailError
from hivemail.mailstore.embedded.store import EmbeddedStore
from hivemail.mailstore.types import FlagMode
from hivemail.pop3.uidl import compile_format

ACCOUNT = "u@example.org"


@pytest.mark.parametrize("fmt,expected", [
    ("dovecot", "0000002A6553F100"),      # Dovecot's %08Xu%08Xv
    ("cyrus", "1700000000.42"),           # Cyrus's uidl_format = cyrus
    ("courier", "1700000000-42"),
    ("uid", "42"),
    ("%v/%08xu", "1700000000/0000002a"),
    ("x%%%u", "x%42"),
])
def test_uidl_formats(fmt, expected):
    assert compile_format(fmt)(1700000000, 42) == expected


@pytest.mark.parametrize("fmt", ["%v", "%u%q", "a b%u", "%u%"])
def test_bad_uidl_formats_are_refused(fmt):
    with pytest.raises(ValueError):
        compile_format(fmt)


def test_uidl_import_lines():
    assert parse_uidl_lines(["# c", "", "1 a", " 7  b "]) == {1: "a", 7: "b"}
    for bad in (["1"], ["x y"], ["0 a"], ["1 a", "1 b"], ["1 a b"]):
        with pytest.raises(ValueError):
            parse_uidl_lines(bad)


def run(path, body):
    async def main():
        store = EmbeddedStore(path, fsync=False)
        await store.open()
        try:
            await store.create_account(ACCOUNT, "")
            return await body(store)
        finally:
            await store.close()
    return asyncio.run(main())


def test_explicit_uidls_are_set_validated_and_removed(tmp_path):
    async def body(store):
        for i in range(3):
            await store.append(ACCOUNT, "INBOX", b"Subject: %d\r\n\r\nx\r\n" % i, b"{}")
        box = await store.get_mailbox(ACCOUNT, "INBOX")
        assert await store.set_explicit_uidls(box.id, {1: "old-1", 3: "old-3", 99: "gone"}) == 2
        with pytest.raises(MailError):
            await store.set_explicit_uidls(box.id, {1: "has space"})
        with pytest.raises(MailError):
            await store.set_explicit_uidls(box.id, {1: "same", 2: "same"})
        with pytest.raises(MailError):
            await store.set_explicit_uidls(box.id, {1: "x" * 71})
        await store.set_explicit_uidls(box.id, {3: None})
        snap = await store.snapshot(ACCOUNT, "INBOX")
        assert [m.explicit_uidl for m in snap.messages] == ["old-1", None, None]
        assert snap.mailbox.highestmodseq == box.highestmodseq  # invisible to IMAP
    run(tmp_path, body)


def test_pinned_blob_survives_expunge_and_collection_until_unpinned(tmp_path):
    async def body(store):
        await store.append(ACCOUNT, "INBOX", b"Subject: pinned\r\n\r\nx\r\n", b"{}")
        snap = await store.snapshot(ACCOUNT, "INBOX")
        blob = snap.messages[0].blob_id
        pin, missing = await store.pin_blobs([blob, "0" * 64])
        assert missing == {"0" * 64}
        await store.store_flags(snap.mailbox.id, [1], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(snap.mailbox.id, [1])
        await store.set_account_setting(ACCOUNT, "k", "v")   # a write batch: collection runs
        await store.set_account_setting(ACCOUNT, "k", "w")
        assert await store.read_blob(blob) == b"Subject: pinned\r\n\r\nx\r\n"
        assert os.listdir(store.pins_dir)  # visible to other processes
        await store.unpin_blobs(pin)
        await store.set_account_setting(ACCOUNT, "k", "x")
        assert not os.path.exists(store.blob_path(blob))
        assert os.listdir(store.pins_dir) == []
        # a blob collected before the pin is reported missing, not pinned
        pin2, missing2 = await store.pin_blobs([blob])
        assert missing2 == {blob}
        await store.unpin_blobs(pin2)
    run(tmp_path, body)


def test_pins_of_a_dead_process_are_ignored_and_removed(tmp_path):
    async def body(store):
        await store.append(ACCOUNT, "INBOX", b"Subject: a\r\n\r\nx\r\n", b"{}")
        snap = await store.snapshot(ACCOUNT, "INBOX")
        blob = snap.messages[0].blob_id
        dead = os.path.join(store.pins_dir, "999999999-1")
        with open(dead, "w") as f:
            f.write(blob)
        await store.store_flags(snap.mailbox.id, [1], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(snap.mailbox.id, [1])
        await store.set_account_setting(ACCOUNT, "k", "v")
        assert not os.path.exists(store.blob_path(blob))
        assert not os.path.exists(dead)
    run(tmp_path, body)
