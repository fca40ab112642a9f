"""The per-worker cache of big mailboxes gives what the store gives fresh."""

from __future__ import annotations

import asyncio

import pytest

from hivemail.imap import mailbox_cache
from hivemail.imap.mailbox_cache import MailboxCache
from hivemail.mailstore.embedded.store import EmbeddedStore
from hivemail.mailstore.types import FlagMode
from hivemail.mime import analyse

USER = "c@example.org"


def rows(table):
    return [table.meta(i) for i in range(len(table))]


async def append(store, n, mailbox="INBOX"):
    raw = b"Subject: m%d\r\n\r\nbody\r\n" % n
    return await store.append(USER, mailbox, raw, analyse(raw).to_bytes())


@pytest.fixture(autouse=True)
def cache_everything(monkeypatch):
    monkeypatch.setattr(mailbox_cache, "MIN_CACHED_ROWS", 1)


def test_cached_select_equals_a_fresh_read(tmp_path):
    async def main():
        store = EmbeddedStore(tmp_path, fsync=False)
        await store.open()
        try:
            await store.create_account(USER, "")
            for n in range(10):
                await append(store, n)
            cache = MailboxCache(store)
            box, first, shared = await cache.select(USER, "INBOX")
            assert len(first) == 10 and box.id in cache._entries and shared
            # Another session changes things; the next SELECT must see them.
            await store.store_flags(box.id, [2, 3], FlagMode.ADD, ["\\Seen", "$Work"])
            await store.store_flags(box.id, [4, 5], FlagMode.ADD, ["\\Deleted"])
            await store.expunge(box.id, [4, 5])
            await append(store, 11)
            box2, again, _ = await cache.select(USER, "INBOX")
            # Copy-on-write: the table handed out first is left as it was.
            assert len(first) == 10 and again is not first
            fresh_box, fresh = await store.message_table(USER, "INBOX")
            assert rows(again) == rows(fresh)
            assert (box2.highestmodseq, box2.uidnext) == (fresh_box.highestmodseq, fresh_box.uidnext)
            # RENAME keeps the entry but the name is today's.
            await store.rename_mailbox(USER, "INBOX", "Old")
            box3, moved, _ = await cache.select(USER, "Old")
            assert box3.name == "Old" and rows(moved) == rows((await store.message_table(USER, "Old"))[1])
            # A mailbox recreated under the same name is a new mailbox.
            await store.delete_mailbox(USER, "Old")
            await store.create_mailbox(USER, "Old")
            box4, empty, _ = await cache.select(USER, "Old")
            assert len(empty) == 0 and box4.uidvalidity != box3.uidvalidity
        finally:
            await store.close()

    asyncio.run(main())


def test_simultaneous_change_reads_are_shared(tmp_path):
    async def main():
        store = EmbeddedStore(tmp_path, fsync=False)
        await store.open()
        try:
            await store.create_account(USER, "")
            box = await store.get_mailbox(USER, "INBOX")
            calls = 0
            real = store.changes_since

            async def counting(mailbox_id, modseq):
                nonlocal calls
                calls += 1
                await asyncio.sleep(0.01)
                return await real(mailbox_id, modseq)

            store.changes_since = counting
            cache = MailboxCache(store)
            results = await asyncio.gather(*(cache.changes_since(box.id, 0) for _ in range(50)))
            assert calls == 1 and all(r == results[0] for r in results)
            await cache.changes_since(box.id, 0)
            assert calls == 2  # not kept after it finished: only simultaneous asks share
            # A read that began before the asker's own last write is not joined.
            import time

            first = asyncio.ensure_future(cache.changes_since(box.id, 0))
            await asyncio.sleep(0)
            later = time.monotonic() + 1
            await asyncio.gather(first, cache.changes_since(box.id, 0, not_before=later))
            assert calls == 4
        finally:
            await store.close()

    asyncio.run(main())
