"""Embedded-backend specifics: files, SQL, group commit, check repairs.

The behaviour every backend shares is in tests/mailstore_contract.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3

from hivemail.mailstore import ErrorKind, MailError
from hivemail.mailstore.embedded import store as store_module
from hivemail.mailstore.embedded.blobs import blob_id_of
from hivemail.mailstore.embedded.store import EmbeddedStore
from hivemail.mailstore.types import FlagMode, Recipient

ALICE = "alice@example.org"
BOB = "bob@example.org"


def message(n: int, size: int = 0) -> bytes:
    return b"Subject: %d\r\n\r\n" % n + b"y" * size


def run(path, body, **kwargs):
    async def main():
        store = EmbeddedStore(path, **kwargs)
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()
    return asyncio.run(main())


def sql(path, query, *args):
    conn = sqlite3.connect(os.path.join(path, "index.sqlite3"))
    try:
        rows = conn.execute(query, args).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def blob_files(path):
    root = os.path.join(path, "blobs")
    return sorted(d + name for d in os.listdir(root) if d != "tmp"
                  for name in os.listdir(os.path.join(root, d)))


def test_layout_and_pragmas(tmp_path):
    path = str(tmp_path / "s")

    async def body(store):
        await store.create_account(ALICE, "h")
        assert store.blob_path("ab" * 32) == os.path.join(path, "blobs", "ab", "ab" * 31)

    run(path, body)
    assert sql(path, "PRAGMA journal_mode") == [("wal",)]
    assert sql(path, "PRAGMA user_version") == [(store_module.SCHEMA_VERSION,)]
    assert len(os.listdir(os.path.join(path, "blobs"))) == 257
    assert not os.path.exists(os.path.join(path, "dirty"))     # closed cleanly


def test_blob_is_content_addressed_refcounted_and_stored_once(tmp_path):
    path = str(tmp_path / "s")
    raw = message(1, 10_000)

    async def body(store):
        for user in (ALICE, BOB):
            await store.create_account(user, "h")
        await store.deliver([Recipient(ALICE), Recipient(BOB)], raw, b"A")
        await store.deliver([Recipient(ALICE)], raw, b"B")     # same bytes again
        inbox = await store.get_mailbox(ALICE, "INBOX")
        await store.copy(inbox.id, [1, 2], ALICE, "Archive")
        assert blob_files(path) == [blob_id_of(raw)]
        assert sql(path, "SELECT refcount, size FROM blobs") == [(5, len(raw))]
        # The analysis is per blob, kept from the first delivery.
        assert await store.read_analysis(inbox.id, 2) == b"A"
        with open(store.blob_path(blob_id_of(raw)), "rb") as f:
            assert f.read() == raw

    run(path, body)


def test_unreferenced_blobs_are_collected(tmp_path):
    path = str(tmp_path / "s")

    async def body(store):
        await store.create_account(ALICE, "h")
        inbox = await store.get_mailbox(ALICE, "INBOX")
        await store.append(ALICE, "INBOX", message(1), b"", ["\\Deleted"])
        await store.append(ALICE, "INBOX", message(2), b"")
        await store.append(ALICE, "Sent", message(3), b"")
        await store.expunge(inbox.id)
        await store.delete_mailbox(ALICE, "Sent")
        await store.set_subscribed(ALICE, "INBOX", True)    # any later write collects
        assert blob_files(path) == [blob_id_of(message(2))]
        assert sql(path, "SELECT id, refcount FROM blobs") == [(blob_id_of(message(2)), 1)]
        await store.delete_account(ALICE)

    run(path, body)                 # close() collects what is left
    assert blob_files(path) == []
    assert sql(path, "SELECT count(*) FROM blobs") == [(0,)]


def test_delivery_rewrites_a_file_collected_before_its_commit(tmp_path):
    """The file is checked again under the write lock: if garbage collection
    (or another process's orphan scan) removed it after the I/O thread wrote
    it, the writer writes it again before committing."""
    path = str(tmp_path / "s")

    async def body(store):
        await store.create_account(ALICE, "h")
        store.blobs.put = lambda raw: blob_id_of(raw)        # pretend it was removed meanwhile
        result = await store.append(ALICE, "INBOX", message(1), b"")
        [meta] = await store.fetch_meta(result.mailbox_id, [result.uid])
        assert await store.read_blob(meta.blob_id) == message(1)

    run(path, body)


def test_check_repairs_missing_file_temp_file_orphans_and_counters(tmp_path):
    path = str(tmp_path / "s")

    async def setup(store):
        await store.create_account(ALICE, "h")
        for i in range(3):
            await store.append(ALICE, "INBOX", message(i), b"")
        assert (await store.check()).clean

    run(path, setup)
    lost = blob_id_of(message(1))
    os.unlink(os.path.join(path, "blobs", lost[:2], lost[2:]))
    orphan = "00" + "1" * 62
    with open(os.path.join(path, "blobs", "00", "1" * 62), "wb") as f:
        f.write(b"nobody refers to me")
    sql(path, "UPDATE blobs SET refcount = refcount + 3 WHERE id = ?", blob_id_of(message(0)))
    sql(path, "UPDATE mailboxes SET uidnext = 2, highestmodseq = 1 WHERE name = 'INBOX'")

    async def repair(store):
        # (open() already removes stale temporary files; this one comes later)
        with open(os.path.join(path, "blobs", "tmp", "leftover"), "wb") as f:
            f.write(b"half a message")
        report = await store.check()
        text = "\n".join(report.problems)
        assert not report.clean
        for expected in ("file missing", "temporary file", f"orphan file {orphan}", "refcount 4",
                         "UIDNEXT 2", "HIGHESTMODSEQ 1"):
            assert expected in text, text
        repaired = await store.check(repair=True)
        assert len(repaired.repaired) == len(repaired.problems)
        again = await store.check()
        assert again.clean, again.problems
        snap = await store.snapshot(ALICE, "INBOX")
        assert [m.uid for m in snap.messages] == [1, 3]          # uid 2 had lost its file
        assert (await store.append(ALICE, "INBOX", message(9), b"")).uid == 4

    run(path, repair)
    assert not os.listdir(os.path.join(path, "blobs", "tmp"))
    assert not os.path.exists(os.path.join(path, "blobs", "00", "1" * 62))


def test_check_with_hashes_quarantines_damaged_files(tmp_path):
    path = str(tmp_path / "s")

    async def body(store):
        await store.create_account(ALICE, "h")
        result = await store.append(ALICE, "INBOX", message(1, 100), b"")
        blob_id = blob_id_of(message(1, 100))
        with open(store.blob_path(blob_id), "r+b") as f:
            f.write(b"X")                                   # same size, wrong bytes
        assert (await store.check()).clean
        report = await store.check(repair=True, verify_hashes=True)
        assert "damaged" in report.problems[0]
        assert await store.fetch_meta(result.mailbox_id, [1]) == []
        assert os.path.exists(os.path.join(path, "quarantine", blob_id))

    run(path, body)


def test_open_after_a_crash_removes_orphans_and_temp_files(tmp_path):
    path = str(tmp_path / "s")

    async def setup(store):
        await store.create_account(ALICE, "h")
        await store.append(ALICE, "INBOX", message(1), b"")

    run(path, setup)
    orphan = os.path.join(path, "blobs", "ab", "c" * 62)
    stray = os.path.join(path, "blobs", "ab", "not-a-blob-name")
    temp = os.path.join(path, "blobs", "tmp", "999999999-deadbeef")
    for p in (orphan, stray, temp):
        with open(p, "wb") as f:
            f.write(b"junk")
    open(os.path.join(path, "dirty"), "w").close()          # as a crashed process leaves it

    async def after(store):
        assert not any(map(os.path.exists, (orphan, stray, temp)))
        assert (await store.check()).clean

    run(path, after)


def test_a_second_opener_does_not_scan_for_orphans(tmp_path):
    """Only a process alone with the store may treat unreferenced files as
    orphans; another process may be between rename and commit."""
    path = str(tmp_path / "s")
    orphan = os.path.join(path, "blobs", "ab", "c" * 62)

    async def body(first):
        await first.create_account(ALICE, "h")
        with open(orphan, "wb") as f:
            f.write(b"in flight")
        open(os.path.join(path, "dirty"), "w").close()
        second = EmbeddedStore(path)
        await second.open()
        assert os.path.exists(orphan)
        await second.append(ALICE, "INBOX", message(1), b"")
        await second.close()
        assert len((await first.snapshot(ALICE, "INBOX")).messages) == 1

    run(path, body)


def test_group_commit_batches_concurrent_writes(tmp_path, monkeypatch):
    path = str(tmp_path / "s")
    batches = []
    original = EmbeddedStore._run_batch

    def counting(self, conn, batch):
        batches.append(len(batch))
        return original(self, conn, batch)

    monkeypatch.setattr(EmbeddedStore, "_run_batch", counting)

    async def body(store):
        await store.create_account(ALICE, "h")
        batches.clear()
        results = await asyncio.gather(
            *(store.append(ALICE, "INBOX", message(i), b"") for i in range(40)),
            store.append(ALICE, "Missing", message(99), b""),
            return_exceptions=True)
        assert isinstance(results[-1], MailError) and results[-1].kind is ErrorKind.NOT_FOUND
        assert sorted(r.uid for r in results[:-1]) == list(range(1, 41))
        assert sum(batches) == 41
        assert len(batches) < 41
        assert max(batches) > 1

    run(path, body)


def test_changes_since_below_the_pruned_log_reports_current_state(tmp_path):
    path = str(tmp_path / "s")

    async def body(store):
        await store.create_account(ALICE, "h")
        inbox = await store.get_mailbox(ALICE, "INBOX")
        for i in range(5):
            await store.append(ALICE, "INBOX", message(i), b"", ["\\Deleted"] if i in (1, 3) else [])
        await store.expunge(inbox.id)
        return inbox.id

    mailbox_id = run(path, body)
    hms = sql(path, "SELECT highestmodseq FROM mailboxes WHERE id = ?", mailbox_id)[0][0]
    sql(path, "DELETE FROM expunged")
    sql(path, "UPDATE mailboxes SET expunge_floor = ? WHERE id = ?", hms, mailbox_id)

    async def after(store):
        changes = await store.changes_since(mailbox_id, 3)
        assert changes.expunged == (2, 4)
        assert {m.uid for m in changes.appended} | {u.uid for u in changes.flag_updates} <= {1, 3, 5}
        assert (await store.changes_since(mailbox_id, hms)).expunged == ()

    run(path, after)


def test_flags_are_stored_as_bits_and_sorted_keywords(tmp_path):
    path = str(tmp_path / "s")

    async def body(store):
        await store.create_account(ALICE, "h")
        inbox = await store.get_mailbox(ALICE, "INBOX")
        await store.append(ALICE, "INBOX", message(1), b"", ["\\Seen", "\\Deleted", "zz", "$a"])
        await store.store_flags(inbox.id, [1], FlagMode.ADD, ["\\Draft"])

    run(path, body)
    assert sql(path, "SELECT sysflags, keywords FROM messages") == [(1 | 8 | 16, "$a zz")]


def test_store_not_open_is_a_temporary_error(tmp_path):
    async def body():
        store = EmbeddedStore(tmp_path / "s")
        await store.open()
        await store.close()
        try:
            await store.get_account(ALICE)
        except MailError as exc:
            assert exc.kind is ErrorKind.TEMP
        else:
            raise AssertionError("no error")
        await store.close()                                 # idempotent

    asyncio.run(body())


def test_constants_match_schema():
    assert store_module.SCHEMA_VERSION == 7


def test_writers_of_every_process_take_the_write_lock(tmp_path):
    """A batch waits for an exclusive flock on data_dir/write.lock (held
    here by another open file description, as another worker would hold it)
    and commits as soon as it is released: no SQLite busy-retry sleep."""
    import fcntl
    import threading
    import time

    path = str(tmp_path / "s")

    async def body(store):
        await store.create_account(ALICE, "h")
        fd = os.open(os.path.join(path, store_module.WRITE_LOCK), os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        released = []

        def release():
            time.sleep(0.3)
            released.append(time.monotonic())
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

        threading.Thread(target=release).start()
        [result] = await store.deliver([Recipient(account=ALICE)], message(1), b"{}")
        done = time.monotonic()
        assert released and released[0] <= done  # it waited for the lock
        assert result.uid == 1

    run(path, body)
