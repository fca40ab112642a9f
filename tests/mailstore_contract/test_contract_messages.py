"""The storage contract for messages: what test_contract.py does not cover
yet (several store instances on one storage, pins across processes,
explicit UIDLs, sort keys, garbage). Interface only (see conftest.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from hivemail.mailstore import ErrorKind, MailError
from hivemail.mailstore.types import FlagMode, Recipient
from hivemail.mime import analyse, normalise_crlf
from tests.mailstore_contract.test_contract import ALICE, BOB, message, raises, with_alice


def run_two(backend, body) -> None:
    """``body(store1, store2)``: two instances on the same storage, as two
    server workers or two nodes have."""
    async def main() -> None:
        one, two = backend.make(), backend.make()
        await one.open()
        try:
            await two.open()
            try:
                await body(one, two)
            finally:
                await two.close()
        finally:
            await one.close()

    asyncio.run(main())


async def gone(store, blob_id: str) -> bool:
    """Whether the blob's bytes were collected; a write first (the embedded
    store collects at its next write)."""
    await store.set_account_setting(ALICE, "gc", str(time.monotonic()))
    try:
        await store.read_blob(blob_id)
    except MailError as exc:
        assert exc.kind is ErrorKind.EXPUNGED
        return True
    return False


def test_concurrent_appends_through_two_instances_allocate_every_uid_once(backend):
    async def body(one, two):
        await with_alice(one)
        start = (await one.get_mailbox(ALICE, "INBOX")).highestmodseq

        async def worker(store, w):
            return [await store.append(ALICE, "INBOX", message(w * 1000 + i), b"{}") for i in range(25)]

        results = await asyncio.gather(*(worker(one if w % 2 else two, w) for w in range(4)))
        for rs in results:
            assert [r.uid for r in rs] == sorted(r.uid for r in rs)
        flat = sorted((r.uid, r.modseq) for rs in results for r in rs)
        assert [uid for uid, _ in flat] == list(range(1, 101))
        # One MODSEQ per append, in UID order: HIGHESTMODSEQ is the last one.
        assert [modseq for _, modseq in flat] == list(range(start + 1, start + 101))
        for store in (one, two):
            snap = await store.snapshot(ALICE, "INBOX")
            assert [(m.uid, m.modseq) for m in snap.messages] == flat
            assert (snap.mailbox.uidnext, snap.mailbox.highestmodseq) == (101, start + 100)
    run_two(backend, body)


def test_concurrent_stores_lose_no_flag(backend):
    async def body(one, two):
        await with_alice(one)
        for i in range(5):
            await one.append(ALICE, "INBOX", message(i), b"{}")
        box = await one.get_mailbox(ALICE, "INBOX")

        async def worker(store, w):
            for i in range(5):
                await store.store_flags(box.id, [1, 2, 3, 4, 5], FlagMode.ADD, [f"k{w}x{i}"])

        await asyncio.gather(*(worker(one if w % 2 else two, w) for w in range(4)))
        snap = await two.snapshot(ALICE, "INBOX")
        want = {f"k{w}x{i}" for w in range(4) for i in range(5)}
        assert all(m.flags == want for m in snap.messages)
        assert snap.mailbox.highestmodseq == box.highestmodseq + 20
    run_two(backend, body)


def test_crossed_moves_and_copies_between_two_instances_all_succeed(backend):
    async def body(one, two):
        await with_alice(one)
        for i in range(20):
            await one.append(ALICE, "INBOX", message(i), b"{}")
            await one.append(ALICE, "Archive", message(100 + i), b"{}")
        inbox = await one.get_mailbox(ALICE, "INBOX")
        archive = await one.get_mailbox(ALICE, "Archive")

        async def mover(store, source, target, uids):
            return [await store.move(source, [uid], ALICE, target) for uid in uids]

        async def copier(store, source, target):
            return [await store.copy(source, [15, 16, 17], ALICE, target) for _ in range(5)]

        await asyncio.gather(mover(one, inbox.id, "Archive", range(1, 11)),
                             mover(two, archive.id, "INBOX", range(1, 11)),
                             copier(two, inbox.id, "Trash"), copier(one, archive.id, "Trash"))
        a = await two.snapshot(ALICE, "INBOX")
        b = await two.snapshot(ALICE, "Archive")
        t = await two.snapshot(ALICE, "Trash")
        assert len(a.messages) == len(b.messages) == 20
        assert len({m.uid for m in a.messages}) == 20 and len({m.uid for m in b.messages}) == 20
        assert len(t.messages) == 30
        quota = await one.get_quota(ALICE)
        assert quota.messages_used == 70
    run_two(backend, body)


def test_deliver_to_recipients_in_any_order_from_two_instances(backend):
    async def body(one, two):
        await one.create_account(ALICE, "h")
        await one.create_account(BOB, "h")

        async def worker(store, rcpts, n):
            return [await store.deliver(rcpts, message(n * 100 + i), b"{}") for i in range(10)]

        forward = [Recipient(ALICE), Recipient(BOB), Recipient(ALICE, "Archive")]
        results = await asyncio.gather(worker(one, forward, 1), worker(two, forward[::-1], 2))
        assert all(not isinstance(r, MailError) for rs in results for batch in rs for r in batch)
        for account, name in ((ALICE, "INBOX"), (BOB, "INBOX"), (ALICE, "Archive")):
            snap = await one.snapshot(account, name)
            assert [m.uid for m in snap.messages] == list(range(1, 21))
    run_two(backend, body)


def test_big_message_round_trip_and_ranges(backend):
    async def body(store):
        await with_alice(store)
        raw = message(1, size=3_000_000)
        r = await store.append(ALICE, "INBOX", raw, b"{}")
        [meta] = (await store.snapshot(ALICE, "INBOX")).messages
        assert meta.size == len(raw)
        assert await store.read_blob(meta.blob_id) == raw
        assert await store.read_blob(meta.blob_id, 1_000_000, 1_000_100) == raw[1_000_000:1_000_100]
        assert await store.read_blob(meta.blob_id, len(raw) - 3) == raw[-3:]
        assert await store.read_blob(meta.blob_id, len(raw) + 10) == b""
        assert await store.read_blob(meta.blob_id, 10, 5) == b""
        assert await store.read_blob(meta.blob_id, 0, 0) == b""
        await raises(ErrorKind.EXPUNGED, store.read_blob("0" * 64))
        info, table = await store.message_table(ALICE, "INBOX")
        assert info.id == r.mailbox_id and list(table.uids) == [1] and table.blob_ids == [meta.blob_id]
    backend.run(body)


def test_message_table_matches_the_snapshot(backend):
    async def body(store):
        await with_alice(store)
        flags = [["\\Seen"], [], ["\\Seen", "$Work"], ["\\Deleted"], ["\\Seen"]]
        for i, f in enumerate(flags):
            await store.append(ALICE, "INBOX", message(i), b"{}", f)
        await store.expunge((await store.get_mailbox(ALICE, "INBOX")).id)
        snap = await store.snapshot(ALICE, "INBOX")
        info, table = await store.message_table(ALICE, "INBOX")
        assert info == snap.mailbox
        assert list(table.uids) == [m.uid for m in snap.messages] == [1, 2, 3, 5]
        assert list(table.modseqs) == [m.modseq for m in snap.messages]
        assert [table.flagsets[i] for i in table.fsids] == [m.flags for m in snap.messages]
        assert table.flagsets[table.fsids[0]] is table.flagsets[table.fsids[3]]
        assert list(table.sizes) == [m.size for m in snap.messages]
        assert table.blob_ids == [m.blob_id for m in snap.messages]
        assert list(table.sdates) == [int(m.save_date.timestamp()) for m in snap.messages]
        empty_info, empty = await store.message_table(ALICE, "Trash")
        assert empty_info.name == "Trash" and len(empty.uids) == 0
        await raises(ErrorKind.NOT_FOUND, store.message_table(ALICE, "nope"))
        await raises(ErrorKind.NOT_FOUND, store.snapshot("nobody@example.org", "INBOX"))
    backend.run(body)


def test_explicit_uidls_are_set_validated_and_removed(backend):
    async def body(store):
        await with_alice(store)
        for i in range(3):
            await store.append(ALICE, "INBOX", message(i), b"{}")
        box = await store.get_mailbox(ALICE, "INBOX")
        assert await store.set_explicit_uidls(box.id, {1: "old-1", 3: "old-3", 99: "gone"}) == 2
        for bad in ({1: "has space"}, {1: "same", 2: "same"}, {1: "x" * 71}, {1: ""}):
            await raises(ErrorKind.NOT_ALLOWED, store.set_explicit_uidls(box.id, bad))
        assert await store.set_explicit_uidls(box.id, {3: None}) == 1
        snap = await store.snapshot(ALICE, "INBOX")
        assert [m.explicit_uidl for m in snap.messages] == ["old-1", None, None]
        assert snap.mailbox.highestmodseq == box.highestmodseq  # invisible to IMAP
        assert [m.explicit_uidl for m in await store.fetch_meta(box.id, [1])] == ["old-1"]
        assert await store.set_explicit_uidls(box.id, {}) == 0
        await raises(ErrorKind.NOT_FOUND, store.set_explicit_uidls(10**6, {1: "x"}))
    backend.run(body)


RAW = normalise_crlf(b"From: Ann <ann@example.com>\nSubject: Re: hi\nMessage-ID: <m@x>\n\nbody text\n")


def test_sort_keys_and_previews_are_kept_per_blob(backend):
    async def body(store):
        await with_alice(store)
        r = await store.append(ALICE, "INBOX", RAW, analyse(RAW).to_bytes())
        await store.append(ALICE, "INBOX", RAW, analyse(RAW).to_bytes())
        await store.append(ALICE, "INBOX", message(3), b"not an analysis")
        keys = await store.sort_keys(r.mailbox_id, [1, 2, 3, 4])
        assert set(keys) == {1, 2, 3}
        assert keys[1] == keys[2]
        assert keys[1].subject == "HI" and keys[1].reply and keys[1].message_id == "m@x"
        assert keys[1].from_ and keys[1].from_ == keys[2].from_
        assert keys[3].subject == "" and keys[3].message_id is None
        assert await store.previews(r.mailbox_id, [2, 3, 9]) == {2: "body text", 3: ""}
        assert await store.sort_keys(r.mailbox_id, []) == {}
        # Sparse UIDs (looked up one by one rather than by range).
        assert set(await store.sort_keys(r.mailbox_id, [1, 3, 10**6])) == {1, 3}
        await store.store_flags(r.mailbox_id, [1, 2], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(r.mailbox_id)
        assert await store.sort_keys(r.mailbox_id, [1, 2, 3]) == {3: keys[3]}
    backend.run(body)


def test_unreferenced_blobs_are_collected_shared_ones_kept(backend):
    async def body(store):
        await store.create_account(ALICE, "h")
        await store.create_account(BOB, "h")
        await store.deliver([Recipient(ALICE), Recipient(BOB)], message(1), b"{}")
        await store.append(ALICE, "INBOX", message(2), b"{}", ["\\Deleted"])
        snap = await store.snapshot(ALICE, "INBOX")
        shared, own = (m.blob_id for m in snap.messages)
        await store.store_flags(snap.mailbox.id, [1], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(snap.mailbox.id)
        assert await gone(store, own)
        assert not await gone(store, shared)
        # The same bytes delivered again after collection are stored again.
        r = await store.append(ALICE, "INBOX", message(2), b"{}")
        [meta] = await store.fetch_meta(r.mailbox_id, [r.uid])
        assert meta.blob_id == own and await store.read_blob(own) == message(2)
        # A delivery that fails for every recipient leaves nothing behind.
        [failed] = await store.deliver([Recipient("nobody@example.org")], message(3), b"{}")
        assert isinstance(failed, MailError)
        report = await store.check()
        assert report.clean, report.problems
    backend.run(body)


def test_pinned_blob_survives_expunge_and_collection_until_unpinned(backend):
    async def body(store):
        await with_alice(store)
        raw = b"Subject: pinned\r\n\r\nx\r\n"
        await store.append(ALICE, "INBOX", raw, b"{}")
        snap = await store.snapshot(ALICE, "INBOX")
        blob = snap.messages[0].blob_id
        pin, missing = await store.pin_blobs([blob, "0" * 64])
        assert missing == {"0" * 64}
        await store.store_flags(snap.mailbox.id, [1], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(snap.mailbox.id, [1])
        assert not await gone(store, blob)
        assert not await gone(store, blob)
        assert await store.read_blob(blob, 0, 8) == raw[:8]
        await store.unpin_blobs(pin)
        await store.unpin_blobs(pin)            # unknown: ignored
        assert await gone(store, blob)
        # A blob collected before the pin is reported missing, not pinned.
        pin2, missing2 = await store.pin_blobs([blob])
        assert missing2 == {blob}
        await store.unpin_blobs(pin2)
        pin3, missing3 = await store.pin_blobs([])
        assert missing3 == frozenset() and pin3 not in (pin, pin2)
        await store.unpin_blobs(pin3)
    backend.run(body)


PINNER = """
import asyncio, os, sys
{prelude}
async def main():
    store = make_store()
    await store.open()
    pin, missing = await store.pin_blobs([sys.argv[1]])
    assert not missing
    print("pinned", flush=True)
    await asyncio.sleep(600)
asyncio.run(main())
"""


def test_pins_of_a_killed_process_stop_counting(backend):
    state = {}

    async def setup(store):
        await with_alice(store)
        await store.append(ALICE, "INBOX", message(1), b"{}")
        snap = await store.snapshot(ALICE, "INBOX")
        state["blob"], state["box"] = snap.messages[0].blob_id, snap.mailbox.id
    backend.run(setup)

    code = PINNER.format(prelude=backend.child_prelude())
    child = subprocess.Popen([sys.executable, "-c", code, state["blob"]], stdout=subprocess.PIPE,
                             cwd=os.getcwd())
    try:
        assert child.stdout.readline() == b"pinned\n"

        async def while_alive(store):
            await store.store_flags(state["box"], [1], FlagMode.ADD, ["\\Deleted"])
            await store.expunge(state["box"])
            assert not await gone(store, state["blob"])
        backend.run(while_alive)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

    async def after_death(store):
        # The server notices the dead connection within moments.
        for _ in range(50):
            if await gone(store, state["blob"]):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the dead process's pin still protects the blob")
    backend.run(after_death)
