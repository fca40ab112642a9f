"""Quota in the embedded store: the version-4 migration computes the usage
of existing stores, check() verifies and repairs the counters, and the
refusals tell "over now" (NO_QUOTA) from "never fits" (QUOTA_TOO_BIG)."""

from __future__ import annotations

import pytest

from hivemail.mailstore import ErrorKind, MailError
from hivemail.mailstore.embedded import store as store_module
from hivemail.mailstore.types import FlagMode, Recipient
from tests.unit.mailstore.test_embedded_store import ALICE, BOB, message, run, sql


def test_a_version_3_store_gets_its_usage_computed_by_the_migration(tmp_path, monkeypatch):
    path = str(tmp_path / "s")
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 3)

    async def old(store):
        await store.create_account(ALICE, "h")
        await store.create_account(BOB, "h")
        await store.create_account("empty@example.org", "h")
        await store.deliver([Recipient(ALICE), Recipient(BOB), Recipient(ALICE, "Archive")], message(1, 100), b"")
        await store.append(ALICE, "Sent", message(2, 300), b"")
    run(path, old)
    assert sql(path, "PRAGMA user_version") == [(3,)]
    alice_bytes = 2 * len(message(1, 100)) + len(message(2, 300))
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 4)

    async def new(store):
        q = await store.get_quota(ALICE)
        assert (q.bytes_used, q.messages_used) == (alice_bytes, 3)
        q = await store.get_quota(BOB)
        assert (q.bytes_used, q.messages_used) == (len(message(1, 100)), 1)
        q = await store.get_quota("empty@example.org")
        assert (q.bytes_used, q.messages_used) == (0, 0)
        # and the triggers follow from here on
        await store.append(BOB, "INBOX", message(3, 10), b"")
        assert (await store.get_quota(BOB)).messages_used == 2
        assert (await store.check()).clean
    run(path, new)
    assert sql(path, "PRAGMA user_version") == [(4,)]


def test_check_reports_and_repairs_counters_that_drifted(tmp_path):
    path = str(tmp_path / "s")

    async def setup(store):
        await store.create_account(ALICE, "h")
        await store.create_account(BOB, "h")
        await store.append(ALICE, "INBOX", message(1, 50), b"")
    run(path, setup)
    sql(path, "UPDATE account_usage SET bytes = bytes + 7 WHERE account_id = (SELECT id FROM accounts WHERE name = ?)",
        ALICE)
    sql(path, "DELETE FROM account_usage WHERE account_id = (SELECT id FROM accounts WHERE name = ?)", BOB)

    async def check(store):
        report = await store.check()
        assert not report.clean
        assert len(report.problems) == 2, report.problems
        assert any("quota usage missing" in p for p in report.problems), report.problems
        assert any(f"{len(message(1, 50)) + 7} bytes in 1 messages" in p for p in report.problems), report.problems
        repaired = await store.check(repair=True)
        assert len(repaired.repaired) == 2
        assert (await store.check()).clean
        q = await store.get_quota(ALICE)
        assert (q.bytes_used, q.messages_used) == (len(message(1, 50)), 1)
        assert (await store.get_quota(BOB)).bytes_used == 0
    run(path, check)


def test_too_big_for_the_limit_is_permanent_and_over_the_limit_is_temporary(tmp_path):
    async def body(store):
        await store.create_account(ALICE, "h")
        await store.set_quota(ALICE, 1000, 3)
        big = message(1, 1000)
        with pytest.raises(MailError) as e:
            await store.append(ALICE, "INBOX", big, b"")
        assert e.value.kind is ErrorKind.QUOTA_TOO_BIG
        [result] = await store.deliver([Recipient(ALICE)], big, b"")
        assert result.kind is ErrorKind.QUOTA_TOO_BIG
        await store.append(ALICE, "INBOX", message(2, 600), b"")
        [result] = await store.deliver([Recipient(ALICE)], message(3, 600), b"")
        assert result.kind is ErrorKind.NO_QUOTA
        # Expunging makes room: that is why it is temporary.
        box = await store.get_mailbox(ALICE, "INBOX")
        await store.store_flags(box.id, [1], FlagMode.ADD, ["\\Deleted"])
        status = await store.mailbox_status(ALICE, "INBOX")
        assert (status.deleted, status.deleted_size) == (1, len(message(2, 600)))
        await store.expunge(box.id)
        [result] = await store.deliver([Recipient(ALICE)], message(3, 600), b"")
        assert result.uid == 2
        # A message limit of 0 means nothing ever fits (RFC 9208 3.1.2).
        await store.set_quota(ALICE, None, 0)
        [result] = await store.deliver([Recipient(ALICE)], message(4), b"")
        assert result.kind is ErrorKind.QUOTA_TOO_BIG
        q = await store.get_quota(ALICE)
        assert (q.bytes_limit, q.messages_limit, q.messages_used) == (None, 0, 1)
        assert q.full
        with pytest.raises(MailError) as e:
            await store.get_quota("nobody@example.org")
        assert e.value.kind is ErrorKind.NOT_FOUND
    run(str(tmp_path / "s"), body)


def test_a_move_within_the_account_is_never_refused_for_quota(tmp_path):
    async def body(store):
        await store.create_account(ALICE, "h")
        await store.append(ALICE, "INBOX", message(1, 500), b"")
        await store.append(ALICE, "INBOX", message(2, 500), b"")
        await store.set_quota(ALICE, 600, 1)  # lowered below the usage: refuses, deletes nothing
        box = await store.get_mailbox(ALICE, "INBOX")
        with pytest.raises(MailError) as e:
            await store.copy(box.id, [1], ALICE, "Archive")
        assert e.value.kind is ErrorKind.NO_QUOTA
        assert await store.move(box.id, [1, 2], ALICE, "Archive") == [(1, 1), (2, 2)]
        q = await store.get_quota(ALICE)
        assert (q.bytes_used, q.messages_used) == (len(message(1, 500)) + len(message(2, 500)), 2)
    run(str(tmp_path / "s"), body)
