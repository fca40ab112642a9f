"""The ``backend`` fixture: one instance per storage backend.

The contract suite is written against the ``MailStore`` interface only. A
backend joins the suite by adding a param here with three abilities: make a
store on fresh storage, reopen the same storage, and tell a child process how
to open it (for the cross-process and crash tests). Checks that look at files
or SQL belong in ``tests/unit/mailstore``.

pytest-asyncio is not a dependency: a test writes ``async def body(store)``
and hands it to ``backend.run``, which opens the store on a fresh event loop
and always closes it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import pytest

from hivemail.mailstore.embedded.store import EmbeddedStore
from tests.support import postgres


class Backend:
    def __init__(self, kind: str, tmp_path) -> None:
        self.kind = kind
        self.path = os.fspath(tmp_path / "store")
        self.url = postgres.fresh_url() if kind == "postgresql" else ""

    def make(self):
        if self.kind == "embedded":
            return EmbeddedStore(self.path)
        if self.kind == "postgresql":
            from hivemail.mailstore.postgres.store import PostgresStore

            return PostgresStore(self.url)
        raise AssertionError(self.kind)

    def child_prelude(self) -> str:
        """Python source, for a child process, defining ``make_store()``."""
        if self.kind == "embedded":
            return ("from hivemail.mailstore.embedded.store import EmbeddedStore\n"
                    f"def make_store():\n    return EmbeddedStore({self.path!r})\n")
        if self.kind == "postgresql":
            return ("from hivemail.mailstore.postgres.store import PostgresStore\n"
                    f"def make_store():\n    return PostgresStore({self.url!r})\n")
        raise AssertionError(self.kind)

    def run(self, body: Callable[..., Awaitable[None]]) -> None:
        async def main() -> None:
            store = self.make()
            await store.open()
            try:
                await body(store)
            finally:
                await store.close()

        asyncio.run(main())


@pytest.fixture(params=["embedded", "postgresql"])
def backend(request, tmp_path) -> Backend:
    return Backend(request.param, tmp_path)
