"""The store's Sieve scripts and vacation memory (schema 6)."""

from __future__ import annotations

import asyncio

import pytest

from hivemail.mailstore import ErrorKind, MailError
from hivemail.mailstore.embedded import EmbeddedStore

ALICE = "alice@example.org"


def run(tmp_path, body):
    async def main():
        store = EmbeddedStore(str(tmp_path), fsync=False)
        await store.open()
        try:
            await store.create_account(ALICE, "h")
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def test_one_active_script_and_rfc5804_rules(tmp_path):
    async def body(store):
        assert await store.sieve_active(ALICE) is None
        await store.sieve_put(ALICE, "a", "keep;")
        await store.sieve_put(ALICE, "b", "discard;")
        await store.sieve_activate(ALICE, "a")
        await store.sieve_activate(ALICE, "b")
        assert await store.sieve_list(ALICE) == [("a", False), ("b", True)]
        assert await store.sieve_active(ALICE) == ("b", "discard;")
        await store.sieve_put(ALICE, "b", "stop;")  # replacing keeps it active
        assert await store.sieve_active(ALICE) == ("b", "stop;")
        with pytest.raises(MailError) as e:
            await store.sieve_delete(ALICE, "b")
        assert e.value.kind is ErrorKind.IN_USE
        with pytest.raises(MailError) as e:
            await store.sieve_rename(ALICE, "a", "b")
        assert e.value.kind is ErrorKind.EXISTS
        await store.sieve_rename(ALICE, "b", "c")
        assert await store.sieve_active(ALICE) == ("c", "stop;")
        await store.sieve_activate(ALICE, None)
        assert await store.sieve_active(ALICE) is None
        await store.sieve_delete(ALICE, "c")
        with pytest.raises(MailError) as e:
            await store.sieve_get(ALICE, "c")
        assert e.value.kind is ErrorKind.NOT_FOUND
        with pytest.raises(MailError) as e:
            await store.sieve_activate(ALICE, "nope")
        assert e.value.kind is ErrorKind.NOT_FOUND

    run(tmp_path, body)


def test_vacation_memory_per_sender_and_handle(tmp_path):
    async def body(store):
        day = 86400.0
        assert await store.vacation_should_reply(ALICE, "Bob@Example.net", "h1", 7 * day, 1000.0)
        assert not await store.vacation_should_reply(ALICE, "bob@example.net", "h1", 7 * day, 1000.0 + day)
        assert await store.vacation_should_reply(ALICE, "bob@example.net", "h2", 7 * day, 1000.0 + day)
        assert await store.vacation_should_reply(ALICE, "carol@example.net", "h1", 7 * day, 1000.0 + day)
        assert await store.vacation_should_reply(ALICE, "bob@example.net", "h1", 7 * day, 1000.0 + 7 * day)
        # Two deliveries at once: exactly one reply (check and record are one transaction).
        answers = await asyncio.gather(*(store.vacation_should_reply(ALICE, "dave@example.net", "h", day, 5000.0)
                                         for _ in range(8)))
        assert answers.count(True) == 1

    run(tmp_path, body)
