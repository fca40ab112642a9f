"""Throughput figures of the embedded store (fsync on), printed with -s.

The assertions are loose floors that catch a regression by an order of
magnitude (a per-row query, a lost group commit), not benchmarks.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time

import pytest

from hivemail.mailstore.embedded.store import EmbeddedStore

ALICE = "alice@example.org"


def ten_kb(i: int) -> bytes:
    head = b"From: a@example.org\r\nSubject: perf %d\r\n\r\n" % i
    return head + b"z" * (10_240 - len(head))


@pytest.mark.slow
def test_append_throughput_single_and_four_concurrent(tmp_path):
    async def body():
        store = EmbeddedStore(tmp_path / "s")
        await store.open()
        try:
            await store.create_account(ALICE, "h")
            n = 300
            started = time.perf_counter()
            for i in range(n):
                await store.append(ALICE, "INBOX", ten_kb(i), b"{}")
            single = n / (time.perf_counter() - started)

            async def worker(w):
                for i in range(n // 4):
                    await store.append(ALICE, "INBOX", ten_kb(10_000 + w * 1000 + i), b"{}")

            started = time.perf_counter()
            await asyncio.gather(*(worker(w) for w in range(4)))
            concurrent = n / (time.perf_counter() - started)
            print(f"\nappend 10 KB, fsync on: {single:.0f}/s sequential, "
                  f"{concurrent:.0f}/s with 4 concurrent tasks")
            assert single > 20 and concurrent > 20
        finally:
            await store.close()

    asyncio.run(body())


@pytest.mark.slow
def test_snapshot_of_100k_messages(tmp_path):
    path = tmp_path / "s"

    async def setup():
        store = EmbeddedStore(path)
        await store.open()
        await store.create_account(ALICE, "h")
        await store.append(ALICE, "INBOX", ten_kb(0), b"{}")
        await store.close()

    asyncio.run(setup())
    # Fill the index directly: 100k appends through the API would measure
    # appends, not snapshot.
    conn = sqlite3.connect(os.path.join(path, "index.sqlite3"))
    blob_id, inbox = conn.execute("SELECT blob_id, mailbox_id FROM messages").fetchone()
    flags = [(0, ""), (1, ""), (1, "$Forwarded"), (9, ""), (3, "Work")]
    conn.executemany(
        "INSERT INTO messages(mailbox_id, uid, modseq, append_modseq, sysflags, keywords,"
        " internal_date, internal_tz, save_date, size, blob_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [(inbox, uid, uid, uid, *flags[uid % 5], 1_700_000_000 + uid, 60 * (uid % 3),
          1_700_000_000 + uid, 10_240, blob_id) for uid in range(2, 100_001)])
    conn.execute("UPDATE mailboxes SET uidnext = 100001, highestmodseq = 100000 WHERE id = ?", (inbox,))
    conn.execute("UPDATE blobs SET refcount = 100000")
    conn.commit()
    conn.close()

    async def measure():
        store = EmbeddedStore(path)
        await store.open()
        try:
            await store.snapshot(ALICE, "INBOX")           # warm the page cache
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                snap = await store.snapshot(ALICE, "INBOX")
                best = min(best, time.perf_counter() - started)
            assert len(snap.messages) == 100_000
            assert snap.messages[-1].uid == 100_000
            started = time.perf_counter()
            changes = await store.changes_since(snap.mailbox.id, 99_990)
            since = time.perf_counter() - started
            assert len(changes.appended) == 10
            print(f"\nsnapshot of 100k messages: {best * 1000:.0f} ms; "
                  f"changes_since near the top: {since * 1000:.1f} ms")
            assert best < 3.0
        finally:
            await store.close()

    asyncio.run(measure())
