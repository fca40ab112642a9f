"""Login checks: the cache of successful logins never lets a wrong or a
changed password in."""

from __future__ import annotations

import asyncio

from hivemail.auth import directory
from hivemail.auth.directory import Authenticator
from hivemail.auth.passwords import hash_password
from hivemail.mailstore.embedded.store import EmbeddedStore


def test_cached_logins(tmp_path, monkeypatch):
    calls = []
    real = directory.verify_password

    def counting(stored, password):
        calls.append(password)
        return real(stored, password)

    monkeypatch.setattr(directory, "verify_password", counting)

    async def main():
        store = EmbeddedStore(tmp_path, fsync=False)
        await store.open()
        try:
            await store.create_account("a@example.org", hash_password("one"))
            auth = Authenticator(store, 0.0)
            assert await auth.check_password("a@example.org", "one") is not None
            assert await auth.check_password("A@Example.org ", "one") is not None
            assert calls == ["one"]  # the second login came from the cache
            assert await auth.check_password("a@example.org", "two") is None
            assert calls == ["one", "two"]  # a wrong password is always verified
            await store.set_password("a@example.org", hash_password("two"))
            assert await auth.check_password("a@example.org", "one") is None  # changed: no stale hit
            assert await auth.check_password("a@example.org", "two") is not None
            expired = Authenticator(store, 0.0, cache_ttl=0.0)
            await expired.check_password("a@example.org", "two")
            await expired.check_password("a@example.org", "two")
            assert calls[-2:] == ["two", "two"]
        finally:
            await store.close()

    asyncio.run(main())
