"""Quota in the embedded store: the version-4 migration computes the usage
of existing stores, check() verifies and repairs the counters. The
refusals ("over now" NO_QUOTA, "never fits" QUOTA_TOO_BIG) are held to
both backends in tests/mailstore_contract/test_contract_accounts.py."""

from __future__ import annotations

from hivemail.mailstore.embedded import store as store_module
from hivemail.mailstore.types import Recipient
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
