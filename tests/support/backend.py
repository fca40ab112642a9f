"""Which storage backend the protocol tests run against (issue 9).

``make test`` runs the suite twice: once on the embedded store (the
default) and once with ``HIVEMAIL_TEST_BACKEND=postgresql``, where every
data directory a test hands to ``cli()`` or ``HivemailServer`` is paired
with a fresh PostgreSQL database on this test process's throwaway cluster
(``tests/support/postgres.py``) and the server is started with
``--storage URL``. The data directory still holds what is node-local (TLS
certificate, POP3 locks, the outgoing queue).

Tests that are about the embedded store's files themselves, or that
choose their storage themselves (two nodes on one database, ``migrate``),
carry ``@pytest.mark.embedded_only`` and are left out of the PostgreSQL
pass: run once, in the first.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

MARKER = ".test-storage-url"
_urls: dict[str, str] = {}
_lock = threading.Lock()


def kind() -> str:
    return os.environ.get("HIVEMAIL_TEST_BACKEND", "embedded")


def storage_url(data_dir: Path | str) -> str:
    """"" for the embedded store; else the database paired with ``data_dir``.
    A data directory holding ``.test-storage-url`` uses that database
    whatever the pass (the two-node tests pair two directories with one)."""
    key = os.path.realpath(data_dir)
    # Written into the data directory, so helper processes of the test
    # (tests.support.storetool) find the same database.
    marker = Path(key) / MARKER
    with _lock:
        url = _urls.get(key)
        if url is None and marker.exists():
            url = _urls[key] = marker.read_text().strip()
        if url is None and kind() == "postgresql":
            from tests.support import postgres

            url = _urls[key] = postgres.fresh_url()
            pair(data_dir, url)
        return url or ""


def pair(data_dir: Path | str, url: str) -> None:
    """Make ``data_dir``'s servers and commands use the database ``url``."""
    marker = Path(data_dir) / MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(url)


def storage_args(data_dir: Path | str) -> list[str]:
    """The global options that select the backend for ``data_dir``."""
    url = storage_url(data_dir)
    return ["--storage", url] if url else []


def open_store(data_dir: Path | str, **embedded_options):
    """A store on what a server started on ``data_dir`` uses (not opened)."""
    url = storage_url(data_dir)
    if url:
        from hivemail.mailstore.postgres.store import PostgresStore

        return PostgresStore(url, background_index=embedded_options.get("background_index", True))
    from hivemail.mailstore.embedded.store import EmbeddedStore

    return EmbeddedStore(data_dir, **embedded_options)


def unindexed_count(data_dir: Path | str) -> int:
    """Blobs the server's background indexer has not indexed yet."""
    url = storage_url(data_dir)
    if url:
        import asyncio

        import asyncpg

        async def count() -> int:
            conn = await asyncpg.connect(url)
            try:
                return await conn.fetchval("SELECT count(*) FROM blobs WHERE NOT indexed")
            finally:
                await conn.close()

        return asyncio.run(count())
    import sqlite3

    conn = sqlite3.connect(f"{data_dir}/index.sqlite3")
    try:
        return conn.execute("SELECT count(*) FROM blobs WHERE doc IS NULL").fetchone()[0]
    finally:
        conn.close()
