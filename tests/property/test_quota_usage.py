"""Quota usage counters stay exact (schema_004.sql triggers).

Random sequences of deliver / append / copy / move / flag+expunge /
delete-mailbox / rename (INBOX too) / delete-account / set_quota run on the
embedded store; after every step each account's counters (``get_quota``)
must equal a sum over its messages read through the public interface, a
refused addition must leave them unchanged, an accepted one must fit the
limits, and at the end ``check()`` finds nothing to repair.
"""

from __future__ import annotations

import asyncio
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hivemail.mailstore import ErrorKind, MailError
from hivemail.mailstore.embedded.store import EmbeddedStore
from hivemail.mailstore.types import FlagMode, Recipient

ACCOUNTS = ("alice@example.org", "bob@example.org")
BOXES = ("INBOX", "A", "B", "A/C")
QUOTA_ERRORS = (ErrorKind.NO_QUOTA, ErrorKind.QUOTA_TOO_BIG)

account = st.sampled_from(ACCOUNTS)
box = st.sampled_from(BOXES)
size = st.integers(0, 3000)
picks = st.lists(st.integers(0, 50), max_size=4)

op = st.one_of(
    st.tuples(st.just("deliver"), st.lists(account, min_size=1, max_size=3), box, size),
    st.tuples(st.just("append"), account, box, size, st.booleans()),
    st.tuples(st.just("copy"), account, box, box, picks),
    st.tuples(st.just("move"), account, box, box, picks),
    st.tuples(st.just("expunge"), account, box, picks),
    st.tuples(st.just("delete_mailbox"), account, box),
    st.tuples(st.just("rename"), account, box, box),
    st.tuples(st.just("delete_account"), account),
    st.tuples(st.just("quota"), account, st.one_of(st.none(), st.integers(0, 12000)),
              st.one_of(st.none(), st.integers(0, 12))),
)


def message(n: int, size: int) -> bytes:
    return b"Subject: %d\r\n\r\n" % n + b"z" * size


async def summed(store, name: str) -> tuple[int, int]:
    """Usage the slow way: every mailbox's STATUS, added up."""
    total = count = 0
    for mb in await store.list_mailboxes(name):
        st_ = await store.mailbox_status(name, mb.name)
        total += st_.size
        count += st_.messages
    return total, count


async def ensure(store, name: str, mailbox: str) -> None:
    if await store.get_account(name) is None:
        await store.create_account(name, "h")
    if mailbox not in {mb.name for mb in await store.list_mailboxes(name)}:
        await store.create_mailbox(name, mailbox)


async def uids_of(store, name: str, mailbox: str, chosen: list[int]) -> tuple[int, list[int]]:
    snap = await store.snapshot(name, mailbox)
    uids = [m.uid for m in snap.messages]
    return snap.mailbox.id, sorted({uids[i % len(uids)] for i in chosen}) if uids else []


async def step(store, n: int, operation: tuple) -> tuple[str, bool]:
    """Run one operation; returns (account it adds to or "", refused for quota)."""
    kind = operation[0]
    try:
        match operation:
            case ("deliver", rcpts, mailbox, sz):
                for r in rcpts:
                    await ensure(store, r, mailbox)
                results = await store.deliver([Recipient(r, mailbox) for r in rcpts], message(n, sz), b"")
                for r in results:
                    if isinstance(r, MailError):
                        assert r.kind in QUOTA_ERRORS, r
                return "", False  # several accounts: checked by the sums alone
            case ("append", name, mailbox, sz, deleted):
                await ensure(store, name, mailbox)
                await store.append(name, mailbox, message(n, sz), b"", ["\\Deleted"] if deleted else [])
                return name, False
            case ("copy" | "move", name, source, target, chosen):
                await ensure(store, name, source)
                await ensure(store, name, target)
                mailbox_id, uids = await uids_of(store, name, source, chosen)
                if kind == "move" and source == target:
                    return "", False
                await (store.move if kind == "move" else store.copy)(mailbox_id, uids, name, target)
                return name, False
            case ("expunge", name, mailbox, chosen):
                await ensure(store, name, mailbox)
                mailbox_id, uids = await uids_of(store, name, mailbox, chosen)
                await store.store_flags(mailbox_id, uids, FlagMode.ADD, ["\\Deleted"])
                await store.expunge(mailbox_id)
            case ("delete_mailbox", name, mailbox):
                await ensure(store, name, mailbox)
                if mailbox != "INBOX":
                    await store.delete_mailbox(name, mailbox)
            case ("rename", name, old, new):
                await ensure(store, name, old)
                if new not in {mb.name for mb in await store.list_mailboxes(name)}:
                    await store.rename_mailbox(name, old, new + "-r" if new == "INBOX" else new)
            case ("delete_account", name):
                if await store.get_account(name) is not None:
                    await store.delete_account(name)
            case ("quota", name, limit_bytes, limit_messages):
                await ensure(store, name, "INBOX")
                await store.set_quota(name, limit_bytes, limit_messages)
    except MailError as e:
        if e.kind in QUOTA_ERRORS:
            return operation[1], True
        # renaming into an existing child name and the like: refused, no change
        assert e.kind in (ErrorKind.EXISTS, ErrorKind.NOT_ALLOWED), e
    return (operation[1] if kind in ("append", "copy") else ""), False


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=25))
def test_usage_counters_equal_the_sum_of_messages(ops):
    async def main(path: str) -> None:
        store = EmbeddedStore(path, fsync=False, background_index=False)
        await store.open()
        try:
            for n, operation in enumerate(ops):
                before = {}
                for name in ACCOUNTS:
                    if await store.get_account(name) is not None:
                        before[name] = await store.get_quota(name)
                adds_to, refused = await step(store, n, operation)
                for name in ACCOUNTS:
                    if await store.get_account(name) is None:
                        continue
                    q = await store.get_quota(name)
                    assert (q.bytes_used, q.messages_used) == await summed(store, name), (operation, q)
                    if name == adds_to and name in before:
                        old = before[name]
                        if refused:
                            assert (q.bytes_used, q.messages_used) == (old.bytes_used, old.messages_used)
                        elif (q.bytes_used, q.messages_used) != (old.bytes_used, old.messages_used):
                            assert q.bytes_limit is None or q.bytes_used <= q.bytes_limit, (operation, q)
                            assert q.messages_limit is None or q.messages_used <= q.messages_limit, (operation, q)
            report = await store.check()
            assert report.clean, report.problems
        finally:
            await store.close()

    with tempfile.TemporaryDirectory() as path:
        asyncio.run(main(path))
