"""The storage contract: every backend must pass every test here.

Written against ``hivemail.mailstore.MailStore`` only (see conftest.py).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from hivemail.mailstore import ErrorKind, MailError
from hivemail.mailstore.types import DEFAULT_MAILBOXES, FlagMode, Recipient

ALICE = "alice@example.org"
BOB = "bob@example.org"


def message(n: int = 0, size: int = 0) -> bytes:
    body = b"x" * max(0, size - 80)
    return (b"From: a@example.org\r\nSubject: message %d\r\n\r\nbody %d\r\n" % (n, n)) + body


async def with_alice(store):
    await store.create_account(ALICE, "hash")
    return ALICE


async def raises(kind: ErrorKind, awaitable) -> MailError:
    with pytest.raises(MailError) as info:
        await awaitable
    assert info.value.kind is kind, info.value
    return info.value


# ---------------------------------------------------------------------------
# accounts, domains, aliases


def test_new_account_gets_default_mailboxes_subscribed(backend):
    async def body(store):
        info = await store.create_account("Alice@Example.ORG", "argon2-hash", "scram-creds")
        assert info.name == ALICE
        boxes = {b.name: b for b in await store.list_mailboxes(ALICE)}
        assert set(boxes) == {name for name, _ in DEFAULT_MAILBOXES}
        for name, special_use in DEFAULT_MAILBOXES:
            assert boxes[name].subscribed
            assert boxes[name].special_use == special_use
            assert boxes[name].uidnext == 1
        assert len({b.uidvalidity for b in boxes.values()}) == len(boxes)
    backend.run(body)


def test_account_crud_domains_and_aliases(backend):
    async def body(store):
        assert await store.get_account(ALICE) is None
        await store.create_account(ALICE, "h1")
        await raises(ErrorKind.EXISTS, store.create_account("ALICE@example.org", "h"))
        await store.create_account(BOB, "h2")
        assert [a.name for a in await store.list_accounts()] == [ALICE, BOB]
        await store.set_password(ALICE, "h3", "s3")
        await store.set_account_setting(ALICE, "lang", "fr")
        await store.set_account_setting(ALICE, "lang", "de")
        info = await store.get_account("alice@EXAMPLE.org")
        assert (info.password_hash, info.scram, info.settings) == ("h3", "s3", {"lang": "de"})
        assert "example.org" in await store.list_domains()
        await store.add_domain("Other.Example")
        assert "other.example" in await store.list_domains()
        await store.add_alias("postmaster@example.org", ALICE)
        await raises(ErrorKind.EXISTS, store.add_alias("postmaster@example.org", BOB))
        await raises(ErrorKind.EXISTS, store.add_alias(BOB, ALICE))
        await raises(ErrorKind.NOT_FOUND, store.add_alias("x@example.org", "nobody@example.org"))
        assert await store.resolve_address("PostMaster@example.org") == ALICE
        assert await store.resolve_address(BOB) == BOB
        assert await store.resolve_address("nobody@example.org") is None
        await store.delete_account(ALICE)
        assert await store.get_account(ALICE) is None
        assert await store.resolve_address("postmaster@example.org") is None
        await raises(ErrorKind.NOT_FOUND, store.list_mailboxes(ALICE))
        await raises(ErrorKind.NOT_FOUND, store.set_password(ALICE, "h"))
    backend.run(body)


def test_delete_account_removes_its_messages_not_shared_ones(backend):
    async def body(store):
        await store.create_account(ALICE, "h")
        await store.create_account(BOB, "h")
        results = await store.deliver([Recipient(ALICE), Recipient(BOB)], message(1), b"{}")
        await store.delete_account(ALICE)
        snap = await store.snapshot(BOB, "INBOX")
        assert await store.read_blob(snap.messages[0].blob_id) == message(1)
        assert results[0].uid == 1
    backend.run(body)


# ---------------------------------------------------------------------------
# mailbox names and hierarchy

BAD_NAMES = [
    "", "/", "/etc/passwd", "a/", "a//b", ".", "..", "../bob@example.org/INBOX", "a/../b",
    "a/./b", "a\x00b", "a\rb", "a\nb", "a\tb", "*", "a%", "x" * 2000, "/".join(["d"] * 40),
    "a/" + "y" * 300,
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_mailbox_names_are_refused(backend, name):
    async def body(store):
        await with_alice(store)
        await raises(ErrorKind.BAD_NAME, store.create_mailbox(ALICE, name))
        await raises(ErrorKind.BAD_NAME, store.rename_mailbox(ALICE, "Sent", name))
        await raises(ErrorKind.BAD_NAME, store.get_mailbox(ALICE, name))
        before = {b.name for b in await store.list_mailboxes(ALICE)}
        assert before == {n for n, _ in DEFAULT_MAILBOXES}
    backend.run(body)


def test_inbox_is_case_insensitive_including_children(backend):
    async def body(store):
        await with_alice(store)
        assert (await store.get_mailbox(ALICE, "inbox")).name == "INBOX"
        assert (await store.get_mailbox(ALICE, "InBoX")).name == "INBOX"
        await raises(ErrorKind.EXISTS, store.create_mailbox(ALICE, "Inbox"))
        created = await store.create_mailbox(ALICE, "inbox/Sub")
        assert created.name == "INBOX/Sub"
        assert (await store.get_mailbox(ALICE, "INBOX/Sub")).id == created.id
        # Only the first level is case-insensitive.
        other = await store.create_mailbox(ALICE, "INBOX/sub")
        assert other.id != created.id
        await store.create_mailbox(ALICE, "Work/inbox")
        assert (await store.get_mailbox(ALICE, "Work/inbox")).name == "Work/inbox"
    backend.run(body)


def test_create_makes_missing_parents_and_refuses_duplicates(backend):
    async def body(store):
        await with_alice(store)
        await store.create_mailbox(ALICE, "a/b/c", "\\Flagged")
        boxes = {b.name: b for b in await store.list_mailboxes(ALICE)}
        assert {"a", "a/b", "a/b/c"} <= set(boxes)
        assert boxes["a/b/c"].special_use == "\\Flagged"
        await raises(ErrorKind.EXISTS, store.create_mailbox(ALICE, "a/b"))
        await raises(ErrorKind.NOT_FOUND, store.get_mailbox(ALICE, "nope"))
        await raises(ErrorKind.NOT_FOUND, store.create_mailbox("nobody@example.org", "x"))
    backend.run(body)


def test_delete_mailbox_keeps_children_and_inbox_stays(backend):
    async def body(store):
        await with_alice(store)
        await store.create_mailbox(ALICE, "a/b")
        await store.append(ALICE, "a", message(1), b"{}")
        await store.delete_mailbox(ALICE, "a")
        names = {b.name for b in await store.list_mailboxes(ALICE)}
        assert "a" not in names and "a/b" in names
        await raises(ErrorKind.NOT_FOUND, store.delete_mailbox(ALICE, "a"))
        await raises(ErrorKind.NOT_ALLOWED, store.delete_mailbox(ALICE, "inbox"))
        # A delete with children left behind; recreating the parent works.
        await store.create_mailbox(ALICE, "a")
        assert (await store.mailbox_status(ALICE, "a")).messages == 0
    backend.run(body)


def test_rename_moves_children_and_keeps_messages(backend):
    async def body(store):
        await with_alice(store)
        await store.create_mailbox(ALICE, "a/b/c")
        await store.create_mailbox(ALICE, "ab")          # shares a prefix, not a child
        await store.append(ALICE, "a/b", message(1), b"{}")
        before = await store.get_mailbox(ALICE, "a/b")
        await store.rename_mailbox(ALICE, "a", "x/y")
        names = {b.name for b in await store.list_mailboxes(ALICE)}
        assert {"x", "x/y", "x/y/b", "x/y/b/c", "ab"} <= names
        assert not {"a", "a/b", "a/b/c"} & names
        after = await store.get_mailbox(ALICE, "x/y/b")
        assert (after.id, after.uidvalidity) == (before.id, before.uidvalidity)
        assert len((await store.snapshot(ALICE, "x/y/b")).messages) == 1
        await raises(ErrorKind.EXISTS, store.rename_mailbox(ALICE, "ab", "x"))
        await raises(ErrorKind.EXISTS, store.rename_mailbox(ALICE, "ab", "inbox"))
        await raises(ErrorKind.NOT_FOUND, store.rename_mailbox(ALICE, "nope", "z"))
        await raises(ErrorKind.NOT_ALLOWED, store.rename_mailbox(ALICE, "x", "x/y/b/c/x"))
    backend.run(body)


def test_rename_inbox_moves_messages_and_leaves_inbox_empty(backend):
    async def body(store):
        await with_alice(store)
        await store.create_mailbox(ALICE, "INBOX/child")
        for i in range(3):
            await store.append(ALICE, "INBOX", message(i), b"{}")
        inbox = await store.get_mailbox(ALICE, "INBOX")
        await store.rename_mailbox(ALICE, "inbox", "Old")
        old = await store.snapshot(ALICE, "Old")
        assert [m.blob_id for m in old.messages] == [
            m.blob_id for m in (await store.snapshot(ALICE, "Old")).messages]
        assert len(old.messages) == 3
        assert old.mailbox.uidvalidity != inbox.uidvalidity
        after = await store.snapshot(ALICE, "INBOX")
        assert after.messages == ()
        assert after.mailbox.uidvalidity == inbox.uidvalidity
        assert after.mailbox.highestmodseq > inbox.highestmodseq
        assert (await store.get_mailbox(ALICE, "INBOX/child")).name == "INBOX/child"
        # UIDs are still never reused in INBOX.
        result = await store.append(ALICE, "INBOX", message(9), b"{}")
        assert result.uid == 4
        changes = await store.changes_since(inbox.id, inbox.highestmodseq)
        assert changes.expunged == (1, 2, 3)
    backend.run(body)


def test_subscriptions(backend):
    async def body(store):
        await with_alice(store)
        await store.create_mailbox(ALICE, "lists")
        assert not (await store.get_mailbox(ALICE, "lists")).subscribed
        await store.set_subscribed(ALICE, "lists", True)
        assert (await store.get_mailbox(ALICE, "lists")).subscribed
        await store.set_subscribed(ALICE, "inbox", False)
        assert not (await store.get_mailbox(ALICE, "INBOX")).subscribed
    backend.run(body)


# ---------------------------------------------------------------------------
# UIDs, UIDVALIDITY, MODSEQ


def test_uids_are_monotonic_and_never_reused_after_expunge_and_reopen(backend):
    async def body(store):
        await with_alice(store)
        uids = [(await store.append(ALICE, "INBOX", message(i), b"{}", ["\\Deleted"])).uid
                for i in range(5)]
        assert uids == [1, 2, 3, 4, 5]
        box = await store.get_mailbox(ALICE, "INBOX")
        assert await store.expunge(box.id) == [1, 2, 3, 4, 5]
        assert (await store.append(ALICE, "INBOX", message(6), b"{}")).uid == 6
    backend.run(body)

    async def after_reopen(store):
        assert (await store.append(ALICE, "INBOX", message(7), b"{}")).uid == 7
        snap = await store.snapshot(ALICE, "INBOX")
        assert [m.uid for m in snap.messages] == [6, 7]
        assert snap.mailbox.uidnext == 8
    backend.run(after_reopen)


def test_uidvalidity_changes_when_a_name_is_recreated(backend):
    async def body(store):
        await with_alice(store)
        first = await store.create_mailbox(ALICE, "box")
        await store.append(ALICE, "box", message(1), b"{}")
        await store.delete_mailbox(ALICE, "box")
        second = await store.create_mailbox(ALICE, "box")
        assert second.uidvalidity > first.uidvalidity
        assert (await store.append(ALICE, "box", message(1), b"{}")).uid == 1
        await store.rename_mailbox(ALICE, "box", "moved")
        third = await store.create_mailbox(ALICE, "box")
        assert third.uidvalidity > second.uidvalidity
    backend.run(body)


def test_modseq_increases_on_every_change(backend):
    async def body(store):
        await with_alice(store)
        box = await store.get_mailbox(ALICE, "INBOX")
        seen = [box.highestmodseq]

        async def step():
            hms = (await store.get_mailbox(ALICE, "INBOX")).highestmodseq
            assert hms > seen[-1]
            seen.append(hms)

        r = await store.append(ALICE, "INBOX", message(1), b"{}")
        assert r.modseq > box.highestmodseq
        await step()
        await store.deliver([Recipient(ALICE)], message(2), b"{}")
        await step()
        await store.store_flags(box.id, [1], FlagMode.ADD, ["\\Seen"])
        await step()
        await store.store_flags(box.id, [1, 2], FlagMode.ADD, ["\\Deleted"])
        await step()
        await store.copy(box.id, [1], ALICE, "INBOX")
        await step()
        await store.expunge(box.id, [1])
        await step()
        await store.move(box.id, [2], ALICE, "Trash")
        await step()
        # A no-op changes nothing.
        await store.store_flags(box.id, [3], FlagMode.ADD, ["\\Deleted"])
        assert (await store.get_mailbox(ALICE, "INBOX")).highestmodseq == seen[-1]
        snap = await store.snapshot(ALICE, "INBOX")
        assert all(m.modseq <= snap.mailbox.highestmodseq for m in snap.messages)
    backend.run(body)


# ---------------------------------------------------------------------------
# messages and flags


def test_append_stores_bytes_dates_flags_and_analysis(backend):
    async def body(store):
        await with_alice(store)
        when = datetime(2024, 2, 29, 23, 59, 58, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
        raw = message(1, size=5000)
        before = datetime.now(timezone.utc).replace(microsecond=0)
        result = await store.append(ALICE, "Drafts", raw, b"analysis-bytes",
                                    ["\\Draft", "\\seen", "$Label1"], when)
        [meta] = (await store.snapshot(ALICE, "Drafts")).messages
        assert meta.uid == result.uid and meta.modseq == result.modseq
        assert meta.flags == {"\\Draft", "\\Seen", "$Label1"}
        assert meta.internal_date == when
        assert meta.internal_date.utcoffset() == when.utcoffset()
        assert meta.save_date >= before
        assert meta.size == len(raw)
        assert await store.read_blob(meta.blob_id) == raw
        assert await store.read_blob(meta.blob_id, 5, 20) == raw[5:20]
        assert await store.read_blob(meta.blob_id, 4990) == raw[4990:]
        path = store.blob_path(meta.blob_id)
        if path:
            with open(path, "rb") as f:
                assert f.read() == raw
        assert await store.read_analysis(result.mailbox_id, result.uid) == b"analysis-bytes"
        await raises(ErrorKind.EXPUNGED, store.read_analysis(result.mailbox_id, 99))
        await raises(ErrorKind.NOT_FOUND, store.append(ALICE, "nope", raw, b""))
        await raises(ErrorKind.NOT_FOUND, store.append("nobody@example.org", "INBOX", raw, b""))
        await raises(ErrorKind.NOT_ALLOWED, store.append(ALICE, "INBOX", raw, b"", ["\\Bogus"]))
    backend.run(body)


def test_fetch_meta_returns_present_uids_ascending(backend):
    async def body(store):
        await with_alice(store)
        for i in range(10):
            await store.append(ALICE, "INBOX", message(i), b"{}", ["\\Deleted"] if i % 3 == 0 else [])
        box = await store.get_mailbox(ALICE, "INBOX")
        await store.expunge(box.id)
        metas = await store.fetch_meta(box.id, [10, 2, 4, 1, 99, 3])
        assert [m.uid for m in metas] == [2, 3]
        metas = await store.fetch_meta(box.id, [2, 1000000])
        assert [m.uid for m in metas] == [2]
        assert await store.fetch_meta(box.id, []) == []
    backend.run(body)


def test_flag_modes_and_keywords(backend):
    async def body(store):
        await with_alice(store)
        box = await store.get_mailbox(ALICE, "INBOX")
        for i in range(3):
            await store.append(ALICE, "INBOX", message(i), b"{}", ["$Old"])
        updates, failed = await store.store_flags(box.id, [1, 2, 99], FlagMode.ADD, ["\\Seen", "Work"])
        assert failed == []
        assert [(u.uid, u.flags) for u in updates] == [
            (1, {"\\Seen", "Work", "$Old"}), (2, {"\\Seen", "Work", "$Old"})]
        assert len({u.modseq for u in updates}) == 1
        updates, _ = await store.store_flags(box.id, [1, 2, 3], FlagMode.REMOVE, ["work", "$old"])
        assert {u.uid: u.flags for u in updates} == {1: {"\\Seen"}, 2: {"\\Seen"}, 3: frozenset()}
        updates, _ = await store.store_flags(box.id, [2], FlagMode.REPLACE, ["\\Flagged", "\\Answered", "X"])
        assert updates[0].flags == {"\\Flagged", "\\Answered", "X"}
        # Setting what is already set is not an update.
        updates, _ = await store.store_flags(box.id, [2], FlagMode.ADD, ["\\Flagged", "x"])
        assert updates == []
        metas = {m.uid: m.flags for m in await store.fetch_meta(box.id, [1, 2, 3])}
        assert metas == {1: {"\\Seen"}, 2: {"\\Flagged", "\\Answered", "X"}, 3: frozenset()}
        await raises(ErrorKind.NOT_ALLOWED, store.store_flags(box.id, [1], FlagMode.ADD, ["bad word"]))
        await raises(ErrorKind.NOT_FOUND, store.store_flags(10**6, [1], FlagMode.ADD, ["\\Seen"]))
    backend.run(body)


def test_store_flags_unchanged_since(backend):
    async def body(store):
        await with_alice(store)
        box = await store.get_mailbox(ALICE, "INBOX")
        r1 = await store.append(ALICE, "INBOX", message(1), b"{}")
        r2 = await store.append(ALICE, "INBOX", message(2), b"{}")
        updates, _ = await store.store_flags(box.id, [2], FlagMode.ADD, ["\\Flagged"])
        flagged_at = updates[0].modseq
        updates, failed = await store.store_flags(box.id, [1, 2], FlagMode.ADD, ["\\Seen"],
                                                  unchanged_since=r2.modseq)
        assert failed == [2]
        assert [u.uid for u in updates] == [1]
        updates, failed = await store.store_flags(box.id, [2], FlagMode.ADD, ["\\Seen"],
                                                  unchanged_since=flagged_at)
        assert failed == [] and [u.uid for u in updates] == [2]
        # UNCHANGEDSINCE 0 fails for every message (RFC 7162 3.1.3).
        _, failed = await store.store_flags(box.id, [1, 2], FlagMode.ADD, ["x"], unchanged_since=0)
        assert failed == [1, 2]
        assert r1.uid == 1
    backend.run(body)


def test_copy_shares_the_stored_bytes(backend):
    async def body(store):
        await with_alice(store)
        inbox = await store.get_mailbox(ALICE, "INBOX")
        for i in range(3):
            await store.append(ALICE, "INBOX", message(i), b"an%d" % i, ["\\Seen", "kw"])
        await store.append(ALICE, "Archive", message(9), b"{}")
        mapping = await store.copy(inbox.id, [3, 1, 77], ALICE, "Archive")
        assert mapping == [(1, 2), (3, 3)]
        source = {m.uid: m for m in (await store.snapshot(ALICE, "INBOX")).messages}
        target = {m.uid: m for m in (await store.snapshot(ALICE, "Archive")).messages}
        for old, new in mapping:
            assert target[new].blob_id == source[old].blob_id
            assert target[new].flags == source[old].flags
            assert target[new].internal_date == source[old].internal_date
        archive = await store.get_mailbox(ALICE, "Archive")
        assert await store.read_analysis(archive.id, 2) == b"an0"
        # The copy outlives the original.
        await store.store_flags(inbox.id, [1, 2, 3], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(inbox.id)
        assert await store.read_blob(target[2].blob_id) == message(0)
        assert await store.copy(inbox.id, [1], ALICE, "Archive") == []
        await raises(ErrorKind.NOT_FOUND, store.copy(inbox.id, [1], ALICE, "missing"))
    backend.run(body)


def test_move_is_copy_then_expunge(backend):
    async def body(store):
        await store.create_account(ALICE, "h")
        await store.create_account(BOB, "h")
        inbox = await store.get_mailbox(ALICE, "INBOX")
        for i in range(4):
            await store.append(ALICE, "INBOX", message(i), b"{}")
        mapping = await store.move(inbox.id, [2, 4], ALICE, "Trash")
        assert mapping == [(2, 1), (4, 2)]
        assert [m.uid for m in (await store.snapshot(ALICE, "INBOX")).messages] == [1, 3]
        assert [m.uid for m in (await store.snapshot(ALICE, "Trash")).messages] == [1, 2]
        changes = await store.changes_since(inbox.id, 1)
        assert changes.expunged == () and [m.uid for m in changes.appended] == [1, 3]
        changes = await store.changes_since(inbox.id, 5)
        assert changes.expunged == (2, 4)
        # Across accounts too (the caller decides whether that is allowed).
        assert await store.move(inbox.id, [1], BOB, "INBOX") == [(1, 1)]
        assert len((await store.snapshot(BOB, "INBOX")).messages) == 1
    backend.run(body)


def test_expunge_removes_only_deleted_messages(backend):
    async def body(store):
        await with_alice(store)
        box = await store.get_mailbox(ALICE, "INBOX")
        for i in range(6):
            await store.append(ALICE, "INBOX", message(i), b"{}", ["\\Deleted"] if i % 2 else [])
        assert await store.expunge(box.id, [1, 2, 3]) == [2]
        assert await store.expunge(box.id) == [4, 6]
        assert await store.expunge(box.id) == []
        assert [m.uid for m in (await store.snapshot(ALICE, "INBOX")).messages] == [1, 3, 5]
        status = await store.mailbox_status(ALICE, "INBOX")
        assert (status.messages, status.unseen, status.deleted) == (3, 3, 0)
    backend.run(body)


def test_mailbox_status_counts(backend):
    async def body(store):
        await with_alice(store)
        sizes = 0
        for i, flags in enumerate([["\\Seen"], [], ["\\Deleted", "\\Seen"], []]):
            sizes += len(message(i))
            await store.append(ALICE, "INBOX", message(i), b"{}", flags)
        status = await store.mailbox_status(ALICE, "inbox")
        assert (status.messages, status.unseen, status.deleted, status.size) == (4, 2, 1, sizes)
        assert status.mailbox.uidnext == 5
    backend.run(body)


def test_changes_since_reports_appends_flags_and_expunges(backend):
    async def body(store):
        await with_alice(store)
        box = await store.get_mailbox(ALICE, "INBOX")
        for i in range(4):
            await store.append(ALICE, "INBOX", message(i), b"{}")
        mark = (await store.get_mailbox(ALICE, "INBOX")).highestmodseq
        await store.store_flags(box.id, [1], FlagMode.ADD, ["\\Seen"])
        await store.store_flags(box.id, [2], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(box.id)
        new = await store.append(ALICE, "INBOX", message(5), b"{}")
        gone = await store.append(ALICE, "INBOX", message(6), b"{}", ["\\Deleted"])
        await store.expunge(box.id, [gone.uid])
        changes = await store.changes_since(box.id, mark)
        assert changes.expunged == (2,)                 # 6 was never seen: dropped
        assert [m.uid for m in changes.appended] == [new.uid]
        assert [(u.uid, u.flags) for u in changes.flag_updates] == [(1, {"\\Seen"})]
        current = await store.get_mailbox(ALICE, "INBOX")
        assert (changes.highestmodseq, changes.uidnext) == (current.highestmodseq, current.uidnext)
        nothing = await store.changes_since(box.id, current.highestmodseq)
        assert (nothing.expunged, nothing.appended, nothing.flag_updates) == ((), (), ())
        everything = await store.changes_since(box.id, 0)
        assert [m.uid for m in everything.appended] == [1, 3, 4, 5]
        await raises(ErrorKind.NOT_FOUND, store.changes_since(10**6, 0))
    backend.run(body)


# ---------------------------------------------------------------------------
# delivery


def test_deliver_to_several_recipients_one_failing(backend):
    async def body(store):
        await store.create_account(ALICE, "h")
        await store.create_account(BOB, "h")
        results = await store.deliver(
            [Recipient(ALICE), Recipient("nobody@example.org"), Recipient(BOB, "Missing"),
             Recipient(BOB, "inbox", frozenset({"\\Flagged"})), Recipient(ALICE, "a//b")],
            message(1), b"analysis")
        assert [type(r).__name__ for r in results] == [
            "AppendResult", "MailError", "MailError", "AppendResult", "MailError"]
        assert [r.kind for r in results if isinstance(r, MailError)] == [
            ErrorKind.NOT_FOUND, ErrorKind.NOT_FOUND, ErrorKind.BAD_NAME]
        [a] = (await store.snapshot(ALICE, "INBOX")).messages
        [b] = (await store.snapshot(BOB, "INBOX")).messages
        assert a.blob_id == b.blob_id
        assert b.flags == {"\\Flagged"}
        assert await store.read_analysis(results[3].mailbox_id, results[3].uid) == b"analysis"
        only_failures = await store.deliver([Recipient("x@example.org")], message(2), b"")
        assert isinstance(only_failures[0], MailError)
    backend.run(body)


def test_bulk_message_is_stored_once(backend):
    async def body(store):
        users = [f"user{i}@example.org" for i in range(20)]
        for user in users:
            await store.create_account(user, "h")
        raw = message(1, size=20_000)
        first = await store.deliver([Recipient(u) for u in users[:10]], raw, b"{}")
        second = await store.deliver([Recipient(u) for u in users[10:]], raw, b"{}")
        assert all(r.uid == 1 for r in first + second)
        blob_ids = {(await store.snapshot(u, "INBOX")).messages[0].blob_id for u in users}
        assert len(blob_ids) == 1
        assert (await store.check()).clean
    backend.run(body)


def test_concurrent_appends_get_distinct_increasing_uids(backend):
    async def body(store):
        await with_alice(store)

        async def worker(w):
            return [(await store.append(ALICE, "INBOX", message(w * 1000 + i), b"{}")).uid
                    for i in range(25)]

        results = await asyncio.gather(*(worker(w) for w in range(4)))
        for uids in results:
            assert uids == sorted(uids)
        flat = sorted(u for uids in results for u in uids)
        assert flat == list(range(1, 101))
        snap = await store.snapshot(ALICE, "INBOX")
        assert [m.uid for m in snap.messages] == flat
        assert snap.mailbox.uidnext == 101
    backend.run(body)


def test_quota_refuses_what_does_not_fit(backend):
    async def body(store):
        await with_alice(store)
        await store.set_quota(ALICE, 1000, 3)
        await store.append(ALICE, "INBOX", message(1, 400), b"")
        await store.append(ALICE, "INBOX", message(2, 400), b"")
        await raises(ErrorKind.NO_QUOTA, store.append(ALICE, "INBOX", message(3, 400), b""))
        [result] = await store.deliver([Recipient(ALICE)], message(4, 400), b"")
        assert result.kind is ErrorKind.NO_QUOTA
        inbox = await store.get_mailbox(ALICE, "INBOX")
        await raises(ErrorKind.NO_QUOTA, store.copy(inbox.id, [1, 2], ALICE, "Archive"))
        assert await store.move(inbox.id, [1, 2], ALICE, "Archive") == [(1, 1), (2, 2)]
        assert (await store.get_account(ALICE)).quota_bytes == 1000
    backend.run(body)


# ---------------------------------------------------------------------------
# waiting for changes


def test_wait_for_change_wakes_on_change_in_this_process(backend):
    async def body(store):
        await with_alice(store)
        box = await store.get_mailbox(ALICE, "INBOX")
        assert await store.wait_for_change(box.id, box.highestmodseq, timeout=0.3) is False
        assert await store.wait_for_change(box.id, box.highestmodseq - 1, timeout=0.3) is True
        waiter = asyncio.create_task(store.wait_for_change(box.id, box.highestmodseq, timeout=5))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        started = time.monotonic()
        await store.append(ALICE, "INBOX", message(1), b"{}")
        assert await waiter is True
        assert time.monotonic() - started < 0.5
        # A change to another mailbox does not wake this one.
        box = await store.get_mailbox(ALICE, "INBOX")
        waiter = asyncio.create_task(store.wait_for_change(box.id, box.highestmodseq, timeout=0.5))
        await store.append(ALICE, "Sent", message(2), b"{}")
        assert await waiter is False
        # Deleting the mailbox wakes its waiters.
        other = await store.create_mailbox(ALICE, "gone")
        waiter = asyncio.create_task(store.wait_for_change(other.id, other.highestmodseq, timeout=5))
        await asyncio.sleep(0.05)
        await store.delete_mailbox(ALICE, "gone")
        assert await waiter is True
    backend.run(body)


CHILD_APPEND = """
import asyncio, sys
{prelude}
async def main():
    store = make_store()
    await store.open()
    try:
        await store.append({account!r}, "INBOX", b"Subject: from a child\\r\\n\\r\\nhi\\r\\n", b"{{}}")
    finally:
        await store.close()
asyncio.run(main())
"""


def test_wait_for_change_sees_a_change_from_another_process(backend):
    async def body(store):
        await with_alice(store)
        box = await store.get_mailbox(ALICE, "INBOX")
        waiter = asyncio.create_task(store.wait_for_change(box.id, box.highestmodseq, timeout=30))
        code = CHILD_APPEND.format(prelude=backend.child_prelude(), account=ALICE)
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
        assert await child.wait() == 0
        done_at = time.monotonic()
        assert await waiter is True
        assert time.monotonic() - done_at < 1.0       # IMAP IDLE learns within a second
        assert len((await store.snapshot(ALICE, "INBOX")).messages) == 1
    backend.run(body)


# ---------------------------------------------------------------------------
# check and crash safety


def test_check_is_clean_on_a_good_store(backend):
    async def body(store):
        await store.create_account(ALICE, "h")
        await store.create_account(BOB, "h")
        inbox = await store.get_mailbox(ALICE, "INBOX")
        for i in range(5):
            await store.deliver([Recipient(ALICE), Recipient(BOB)], message(i), b"{}")
        await store.copy(inbox.id, [1, 2], ALICE, "Archive")
        await store.move(inbox.id, [3], ALICE, "Trash")
        await store.store_flags(inbox.id, [4], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(inbox.id)
        await store.delete_mailbox(ALICE, "Trash")
        report = await store.check()
        assert report.clean, report.problems
        report = await store.check(repair=True)
        assert report.clean and report.repaired == []
    backend.run(body)


CHILD_LOOP = """
import asyncio, os, sys
{prelude}
async def main():
    store = make_store()
    await store.open()
    out = os.fdopen(1, "w", buffering=1)
    i = int(sys.argv[1])
    while True:
        raw = b"Subject: crash %d\\r\\n\\r\\n" % i + (b"%d " % i) * (50 + i % 3000)
        result = await store.append({account!r}, "INBOX", raw, b"analysis %d" % i)
        out.write("%d %d\\n" % (i, result.uid))
        i += 1
asyncio.run(main())
"""


def crash_message(i: int) -> bytes:
    return b"Subject: crash %d\r\n\r\n" % i + (b"%d " % i) * (50 + i % 3000)


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_acknowledged(backend):
    async def setup(store):
        await with_alice(store)
    backend.run(setup)

    rng = random.Random(1234)
    acknowledged: dict[int, int] = {}     # message number -> uid
    start = 0
    for _ in range(6):
        code = CHILD_LOOP.format(prelude=backend.child_prelude(), account=ALICE)
        child = subprocess.Popen([sys.executable, "-c", code, str(start)], stdout=subprocess.PIPE)
        # Wait until it is appending, then kill it at a random moment.
        first = child.stdout.readline()
        assert first, "child died before appending"
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(child.pid, signal.SIGKILL)
        lines = [first] + child.stdout.read().splitlines()
        child.wait()
        for line in lines:
            number, uid = map(int, line.split())
            acknowledged[number] = uid
        start = max(acknowledged) + 10   # an unacknowledged number may be half-there: skip it

    async def verify(store):
        snap = await store.snapshot(ALICE, "INBOX")
        by_uid = {m.uid: m for m in snap.messages}
        for number, uid in acknowledged.items():
            meta = by_uid[uid]
            assert await store.read_blob(meta.blob_id) == crash_message(number)
            assert meta.size == len(crash_message(number))
            assert await store.read_analysis(snap.mailbox.id, uid) == b"analysis %d" % number
        # Anything present is whole, acknowledged or not.
        for meta in snap.messages:
            raw = await store.read_blob(meta.blob_id)
            assert len(raw) == meta.size and raw.startswith(b"Subject: crash ")
        assert snap.mailbox.uidnext > max(by_uid)
        report = await store.check(verify_hashes=True) if backend.kind == "embedded" else await store.check()
        assert report.clean, report.problems
        await store.append(ALICE, "INBOX", message(1), b"")
    backend.run(verify)
    assert len(acknowledged) >= 6


def test_read_analyses_returns_many_at_once_and_skips_gone_uids(backend):
    async def body(store):
        await with_alice(store)
        uids = [(await store.append(ALICE, "INBOX", message(i), b"analysis %d" % i,
                                    ["\\Deleted"] if i == 2 else [])).uid for i in range(5)]
        box = (await store.snapshot(ALICE, "INBOX")).mailbox
        await store.expunge(box.id, [uids[2]])
        got = await store.read_analyses(box.id, [uids[4], uids[0], uids[2], uids[4], 9999])
        assert got == {uids[0]: b"analysis 0", uids[4]: b"analysis 4"}
        assert await store.read_analyses(box.id, []) == {}
        # Enough UIDs to need several statements in a backend that chunks them.
        many = await store.read_analyses(box.id, list(range(1, 5000)))
        assert set(many) == {u for u in uids if u != uids[2]}
    backend.run(body)
