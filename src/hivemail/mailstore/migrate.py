"""``hivemail migrate``: copy a whole store into an empty one, embedded
(SQLite and files) to PostgreSQL or back (issue 9).

A backend-aware tool, not a :class:`~hivemail.mailstore.MailStore` client:
the interface has no way to create a mailbox with a given UIDVALIDITY or a
message with a given UID and MODSEQ, and a client must see exactly those
after the move (no re-download, QRESYNC still valid). Each side is opened
once through its store class (``EmbeddedStore`` / ``PostgresStore``), which
creates or migrates its schema and checks its version, then closed; the
rows are then copied with each backend's own SQL (``sqlite3`` on
``data_dir/index.sqlite3``, asyncpg's binary COPY), table by table, ids
included: the two schemas have the same tables and columns
(``embedded/schema*.sql``, ``postgres/schema.sql``).

* Copied: domains, accounts (password hashes, SCRAM, quotas), settings,
  aliases, mailboxes (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, subscription,
  special use, expunge floor), Sieve scripts and vacation memory, the
  blobs that messages refer to (analysis and bytes), their sort keys,
  messages (UIDs, MODSEQs, flags, keywords, dates, explicit UIDLs), the
  expunged tombstones, and ``meta.last_uidvalidity``.
* Recomputed, not copied: blob reference counts and quota usage (the
  embedded target's triggers count as rows arrive; on PostgreSQL the
  triggers are disabled for the load, whose per-row updates of one usage
  row would grow with the account, and both are computed in one statement
  each at the end). ``schema_version`` stays the target's.
* Not copied: the search index (the target's server rebuilds it; searches
  stay exact meanwhile), blob pins (no session survives the move).

The target must hold no mail (refused otherwise) and nothing may use either
side meanwhile: the embedded side is locked (``data_dir/lock``, as a store
that is alone), a PostgreSQL side must have no node connected. The copy is
one transaction on the target: a failure leaves it empty again (on the
embedded side, message files written before the failure are orphans that
the next open removes: ``data_dir/dirty`` is set during the copy).
Message bytes are streamed one message at a time, never all at once;
message files are written durably (file fsync, rename, directory fsync)
before the index commits, as a delivery's are.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import hashlib
import os
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass

from hivemail.config import is_postgres_url
from hivemail.durable import fsync_dir, unlink_quietly, write_atomic
from hivemail.mailstore.errors import MailError

# Tables copied row for row, in an order their references allow. blobs and
# their bytes go between sieve_vacation and blob_keys (see migrate()).
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("domains", ("name",)),
    ("accounts", ("id", "name", "password_hash", "scram", "quota_bytes", "quota_messages")),
    ("account_settings", ("account_id", "key", "value")),
    ("aliases", ("address", "account_id")),
    ("mailboxes", ("id", "account_id", "name", "uidvalidity", "uidnext", "highestmodseq", "subscribed",
                   "special_use", "expunge_floor")),
    ("sieve_scripts", ("account_id", "name", "script", "active", "updated")),
    ("sieve_vacation", ("account_id", "sender", "handle", "replied")),
)
AFTER_BLOBS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("blob_keys", ("blob_id", "sent", "subject", "reply", "from_addr", "to_addr", "cc_addr", "display_from",
                   "display_to", "message_id", "refs", "preview")),
    ("messages", ("mailbox_id", "uid", "modseq", "append_modseq", "sysflags", "keywords", "internal_date",
                  "internal_tz", "save_date", "size", "blob_id", "explicit_uidl")),
    ("expunged", ("mailbox_id", "uid", "modseq", "append_modseq")),
)
# INTEGER 0/1 in SQLite, BOOLEAN in PostgreSQL (whose binary COPY wants a bool).
BOOLEANS = {"mailboxes": ("subscribed",), "sieve_scripts": ("active",)}
# PostgreSQL identity columns, set past the copied ids afterwards.
IDENTITIES = ("accounts", "mailboxes")
# Only blobs some message refers to (one with no reference is garbage).
REFERENCED = "EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = {})"
# What makes a target "not empty".
HOLDS_MAIL = ("accounts", "domains", "mailboxes", "blobs")
CHUNK = 1000
# Threads writing (and fsyncing) message files at once.
WRITERS = 16
WRITING_BYTES = 64 << 20


class MigrationError(Exception):
    """The migration cannot start or failed; the text says why and what to do."""


@dataclass
class Summary:
    source: str
    target: str
    accounts: int = 0
    mailboxes: int = 0
    messages: int = 0
    blobs: int = 0
    bytes: int = 0

    def __str__(self) -> str:
        return (f"migrated {self.accounts} accounts, {self.mailboxes} mailboxes, {self.messages} messages "
                f"({self.blobs} distinct, {self.bytes} bytes) from {self.source} to {self.target}; "
                "the search index is rebuilt by the target's server")


def shown(location: str) -> str:
    """A URL with its password hidden, for messages."""
    return re.sub(r"^(\w+://[^:/@]*):[^@/]*@", r"\1:***@", location)


def _damaged(blob_id: str, why: str) -> MigrationError:
    return MigrationError(f"message data of blob {blob_id} {why}; run `hivemail check --repair` on the "
                          "source, then migrate again")


def _checked(blob_id: str, size: int, data: bytes) -> bytes:
    if len(data) != size or hashlib.sha256(data).hexdigest() != blob_id:
        raise _damaged(blob_id, "does not match its checksum")
    return data


async def migrate(source: str, target: str, *, blob_dir: str | None = None) -> Summary:
    """Copy the store at ``source`` into the empty store at ``target``
    (each a data directory or a postgresql:// URL). ``blob_dir``: the
    PostgreSQL side's message directory (config ``postgresql.blob_dir``)."""
    import asyncpg

    if source == target or (not is_postgres_url(source) and not is_postgres_url(target)
                            and os.path.realpath(source) == os.path.realpath(target)):
        raise MigrationError("source and target are the same store")
    src = PostgresSide(source, blob_dir) if is_postgres_url(source) else EmbeddedSide(source)
    dst = PostgresSide(target, blob_dir) if is_postgres_url(target) else EmbeddedSide(target)
    summary = Summary(shown(source), shown(target))
    try:
        try:
            await src.open_source()
            await dst.open_target()
            await _copy(src, dst, summary)
        finally:
            await src.close()
            await dst.close()
    except MailError as exc:
        raise MigrationError(exc.text) from exc
    except MigrationError:
        raise
    except (asyncpg.PostgresError, asyncpg.InterfaceError, sqlite3.Error, OSError) as exc:
        raise MigrationError(f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # a bug, or data neither schema allows: still no traceback
        raise MigrationError(f"unexpected {type(exc).__name__}: {exc}") from exc
    return summary


async def _copy(src: Side, dst: Side, summary: Summary) -> None:
    counts = {"accounts": 0, "mailboxes": 0, "messages": 0}

    async def counted(table: str, rows: AsyncIterator[tuple]) -> AsyncIterator[tuple]:
        async for row in rows:
            if table in counts:
                counts[table] += 1
            yield row

    async def blobs() -> AsyncIterator[tuple]:
        async for row in src.blob_rows():
            summary.blobs += 1
            summary.bytes += row[1]
            yield row

    await dst.begin()
    try:
        for table, columns in TABLES:
            await dst.put_rows(table, columns, counted(table, src.rows(table, columns)))
        await dst.put_blobs(blobs())
        await dst.put_blob_bytes(src.blob_bytes())
        for table, columns in AFTER_BLOBS:
            await dst.put_rows(table, columns, counted(table, src.rows(table, columns)))
        await dst.commit(await src.last_uidvalidity())
    except BaseException:
        await dst.rollback()
        raise
    summary.accounts, summary.mailboxes, summary.messages = counts["accounts"], counts["mailboxes"], counts["messages"]


class Side:
    """One end of a migration. Rows are tuples in the columns' order;
    blob_rows yields (id, size, analysis), blob_bytes (id, size, bytes)."""

    async def open_source(self) -> None: ...
    async def open_target(self) -> None: ...
    async def close(self) -> None: ...
    def rows(self, table: str, columns: tuple[str, ...]) -> AsyncIterator[tuple]: ...
    def blob_rows(self) -> AsyncIterator[tuple]: ...
    def blob_bytes(self) -> AsyncIterator[tuple]: ...
    async def last_uidvalidity(self) -> int: ...
    async def begin(self) -> None: ...
    async def put_rows(self, table: str, columns: tuple[str, ...], rows: AsyncIterator[tuple]) -> None: ...
    async def put_blobs(self, rows: AsyncIterator[tuple]) -> None: ...
    async def put_blob_bytes(self, rows: AsyncIterator[tuple]) -> None: ...
    async def commit(self, last_uidvalidity: int) -> None: ...
    async def rollback(self) -> None: ...


def _where(table: str) -> str:
    """Rows of blob_keys only for the blobs copied."""
    return f" WHERE {REFERENCED.format('blob_keys.blob_id')}" if table == "blob_keys" else ""


# -- the embedded store ------------------------------------------------------------


class EmbeddedSide(Side):
    def __init__(self, data_dir: str) -> None:
        from hivemail.mailstore.embedded.blobs import BlobFiles

        self.data_dir = data_dir
        self.index = os.path.join(data_dir, "index.sqlite3")
        self.files = BlobFiles(os.path.join(data_dir, "blobs"))
        self.conn: sqlite3.Connection | None = None
        self.lock_fd: int | None = None
        self.dirty = os.path.join(data_dir, "dirty")

    async def _open_store(self) -> None:
        """Create or migrate the schema (and clean up after a crash) the
        store's own way, then keep every other process out: the flock a
        store takes when it is alone (a server starting meanwhile waits)."""
        from hivemail.mailstore.embedded.store import EmbeddedStore

        store = EmbeddedStore(self.data_dir, background_index=False)
        await store.open()
        await store.close()
        self.lock_fd = os.open(os.path.join(self.data_dir, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MigrationError(f"{self.data_dir} is in use by another process: stop hivemail first") from None
        self.conn = sqlite3.connect(self.index, isolation_level=None)
        self.conn.execute("PRAGMA foreign_keys = ON")

    async def open_source(self) -> None:
        if not os.path.exists(self.index):
            raise MigrationError(f"no hivemail store in {self.data_dir} (no index.sqlite3)")
        await self._open_store()
        assert self.conn is not None
        self.conn.execute("PRAGMA query_only = ON")
        self.conn.execute("BEGIN")  # one snapshot for every read

    async def open_target(self) -> None:
        if (os.path.isdir(self.data_dir) and not os.path.exists(self.index)
                and any(n in os.listdir(self.data_dir) for n in ("blobs", "index.sqlite3-wal"))):
            raise MigrationError(f"{self.data_dir} holds message files but no index: not an empty store")
        await self._open_store()
        assert self.conn is not None
        for table in HOLDS_MAIL:
            if self.conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                raise MigrationError(f"the target {self.data_dir} is not empty (it has {table}); "
                                     "migrate only into a new store")
        self.files.prepare()

    async def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(sqlite3.Error):
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    # -- reading

    async def rows(self, table: str, columns: tuple[str, ...]) -> AsyncIterator[tuple]:
        assert self.conn is not None
        cursor = self.conn.execute(f"SELECT {', '.join(columns)} FROM {table}{_where(table)}")
        while chunk := cursor.fetchmany(CHUNK):
            for row in chunk:
                yield row

    def _blob_query(self, columns: str) -> sqlite3.Cursor:
        assert self.conn is not None
        return self.conn.execute(f"SELECT {columns} FROM blobs WHERE {REFERENCED.format('blobs.id')}")

    async def blob_rows(self) -> AsyncIterator[tuple]:
        cursor = self._blob_query("id, size, analysis")
        while chunk := cursor.fetchmany(CHUNK):
            for row in chunk:
                yield row

    async def blob_bytes(self) -> AsyncIterator[tuple]:
        cursor = self._blob_query("id, size")
        while chunk := cursor.fetchmany(CHUNK):
            for blob_id, size in chunk:
                try:
                    with open(self.files.path(blob_id), "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    raise _damaged(blob_id, "is missing") from None
                yield blob_id, size, _checked(blob_id, size, data)

    async def last_uidvalidity(self) -> int:
        assert self.conn is not None
        return self.conn.execute("SELECT value FROM meta WHERE key = 'last_uidvalidity'").fetchone()[0]

    # -- writing: one transaction; triggers count references and usage

    async def begin(self) -> None:
        assert self.conn is not None
        # A crash from here on may leave message files without rows: the
        # next store to open alone scans for them (see the store's "dirty").
        with open(self.dirty, "w"):
            pass
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("BEGIN IMMEDIATE")

    async def put_rows(self, table: str, columns: tuple[str, ...], rows: AsyncIterator[tuple]) -> None:
        assert self.conn is not None
        sql = f"INSERT INTO {table}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        chunk = []
        async for row in rows:
            chunk.append(row)
            if len(chunk) >= CHUNK:
                self.conn.executemany(sql, chunk)
                chunk.clear()
        self.conn.executemany(sql, chunk)

    async def put_blobs(self, rows: AsyncIterator[tuple]) -> None:
        # refcount 0: the messages' insert trigger counts; doc NULL: unindexed.
        await self.put_rows("blobs", ("id", "size", "analysis"), rows)

    async def put_blob_bytes(self, rows: AsyncIterator[tuple]) -> None:
        await write_files(self.files, rows)

    async def commit(self, last_uidvalidity: int) -> None:
        assert self.conn is not None
        self.conn.execute("UPDATE meta SET value = ? WHERE key = 'last_uidvalidity'", (last_uidvalidity,))
        self.conn.execute("COMMIT")
        unlink_quietly(self.dirty)

    async def rollback(self) -> None:
        if self.conn is not None and self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


async def write_files(files, rows: AsyncIterator[tuple]) -> None:
    """Write the message files durably: each fsynced and renamed into place
    by a pool of threads (the fsyncs overlap, as the store's I/O pool makes
    concurrent deliveries' do; at most ``2 * WRITERS`` messages and about
    ``WRITING_BYTES`` are held at once), then every fan-out directory
    fsynced once."""
    loop = asyncio.get_running_loop()
    pending: dict[asyncio.Future, int] = {}
    with concurrent.futures.ThreadPoolExecutor(WRITERS, "hivemail-migrate") as pool:
        try:
            async for blob_id, size, data in rows:
                while pending and (len(pending) >= 2 * WRITERS or sum(pending.values()) >= WRITING_BYTES):
                    done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for future in done:
                        del pending[future]
                        future.result()
                pending[loop.run_in_executor(pool, _put_file, files, blob_id, size, data)] = size
        finally:
            results = await asyncio.gather(*pending, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
    await loop.run_in_executor(None, _sync_fanout, files)


def _put_file(files, blob_id: str, size: int, data: bytes) -> None:
    final = files.path(blob_id)
    with contextlib.suppress(FileNotFoundError):
        if os.stat(final).st_size == size:
            return
    write_atomic(files.tmp, final, data)


def _sync_fanout(files) -> None:
    for _, path in files.fanout_dirs():
        fsync_dir(path)


# -- PostgreSQL ----------------------------------------------------------------------


class PostgresSide(Side):
    def __init__(self, url: str, blob_dir: str | None) -> None:
        from hivemail.mailstore.embedded.blobs import BlobFiles

        self.url = url
        # Message bytes as files here (the layout of the embedded blobs/)
        # instead of in blob_data: what PostgresStore(blob_dir=...) uses.
        self.blob_dir = blob_dir
        self.files = BlobFiles(blob_dir) if blob_dir else None
        self.conn = None
        self.tx = None

    async def _connect(self, create: bool) -> None:
        import asyncpg

        from hivemail.mailstore.postgres.base import LOCK_NODE
        from hivemail.mailstore.postgres.store import PostgresStore

        try:
            conn = await asyncpg.connect(self.url)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise MigrationError(f"cannot connect to {shown(self.url)}: {exc}") from exc
        try:
            if not create and not await conn.fetchval("SELECT to_regclass('meta') IS NOT NULL"):
                raise MigrationError(f"no hivemail store in {shown(self.url)} (no schema)")
        finally:
            await conn.close()
        # The schema created (target) or its version checked, the store's way.
        store = PostgresStore(self.url, blob_dir=self.blob_dir, background_index=False)
        await store.open()
        await store.close()
        self.conn = await asyncpg.connect(self.url)
        # Every open PostgresStore holds a session advisory lock in the
        # LOCK_NODE space (base.py) for as long as it runs. The one of the
        # store just closed goes when its backend has exited: a moment.
        for _ in range(30):
            nodes = await self.conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::bigint::oid"
                " AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                LOCK_NODE)
            if not nodes:
                break
            await asyncio.sleep(0.1)
        else:
            raise MigrationError(f"{shown(self.url)} is in use by {nodes} hivemail process(es): stop them first")

    async def open_source(self) -> None:
        await self._connect(create=False)
        self.tx = self.conn.transaction(isolation="repeatable_read", readonly=True)
        await self.tx.start()

    async def open_target(self) -> None:
        await self._connect(create=True)
        for table in HOLDS_MAIL:
            if await self.conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
                raise MigrationError(f"the target {shown(self.url)} is not empty (it has {table}); "
                                     "migrate only into a new database")
        if self.files is not None:
            self.files.prepare()

    async def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.close(timeout=10)
            self.conn = None

    # -- reading

    async def rows(self, table: str, columns: tuple[str, ...]) -> AsyncIterator[tuple]:
        async for row in self.conn.cursor(f"SELECT {', '.join(columns)} FROM {table}{_where(table)}",
                                          prefetch=CHUNK):
            yield tuple(row)

    async def blob_rows(self) -> AsyncIterator[tuple]:
        async for row in self.conn.cursor(
                f"SELECT id, size, analysis FROM blobs WHERE {REFERENCED.format('blobs.id')}",
                prefetch=CHUNK):
            yield tuple(row)

    async def blob_bytes(self) -> AsyncIterator[tuple]:
        # A few rows at a time: each may be a message of max_message_size.
        async for blob_id, size, data in self.conn.cursor(
                "SELECT b.id, b.size, d.data FROM blobs b LEFT JOIN blob_data d ON d.blob_id = b.id"
                f" WHERE {REFERENCED.format('b.id')}", prefetch=4):
            if data is None and self.files is not None:
                with contextlib.suppress(FileNotFoundError):
                    with open(self.files.path(blob_id), "rb") as f:
                        data = f.read()
            if data is None:
                raise _damaged(blob_id, "is missing" + ("" if self.files else
                                                        " (if the store keeps files in a blob_dir, name it "
                                                        "in the configuration's [postgresql] section)"))
            yield blob_id, size, _checked(blob_id, size, data)

    async def last_uidvalidity(self) -> int:
        return await self.conn.fetchval("SELECT value FROM meta WHERE key = 'last_uidvalidity'")

    # -- writing: one transaction, counting triggers off (see the module doc)

    async def begin(self) -> None:
        self.tx = self.conn.transaction()
        await self.tx.start()
        await self.conn.execute("ALTER TABLE messages DISABLE TRIGGER USER")
        await self.conn.execute("ALTER TABLE accounts DISABLE TRIGGER USER")

    async def put_rows(self, table: str, columns: tuple[str, ...], rows: AsyncIterator[tuple]) -> None:
        flags = [columns.index(c) for c in BOOLEANS.get(table, ())]

        async def records() -> AsyncIterator[tuple]:
            async for row in rows:
                if flags:
                    row = list(row)
                    for i in flags:
                        row[i] = bool(row[i])
                yield tuple(row)

        # COPY writes identity columns as given (no OVERRIDING needed).
        await self.conn.copy_records_to_table(table, records=records(), columns=columns)

    async def put_blobs(self, rows: AsyncIterator[tuple]) -> None:
        # refcount 0 for now (counted at commit); indexed false: the
        # target's indexer builds search_docs.
        await self.put_rows("blobs", ("id", "size", "analysis"), rows)

    async def put_blob_bytes(self, rows: AsyncIterator[tuple]) -> None:
        if self.files is not None:
            await write_files(self.files, rows)
            return

        async def records() -> AsyncIterator[tuple]:
            async for blob_id, _size, data in rows:
                yield blob_id, data

        await self.conn.copy_records_to_table("blob_data", records=records(), columns=("blob_id", "data"))

    async def commit(self, last_uidvalidity: int) -> None:
        c = self.conn
        await c.execute("UPDATE blobs b SET refcount = r.n FROM"
                        " (SELECT blob_id, count(*) AS n FROM messages GROUP BY blob_id) r WHERE r.blob_id = b.id")
        await c.execute("INSERT INTO account_usage(account_id, bytes, messages)"
                        " SELECT a.id, coalesce(sum(m.size), 0), count(m.uid) FROM accounts a"
                        " LEFT JOIN mailboxes b ON b.account_id = a.id LEFT JOIN messages m ON m.mailbox_id = b.id"
                        " GROUP BY a.id")
        for table in IDENTITIES:
            await c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                            f" coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")
        await c.execute("UPDATE meta SET value = $1 WHERE key = 'last_uidvalidity'", last_uidvalidity)
        await c.execute("ALTER TABLE messages ENABLE TRIGGER USER")
        await c.execute("ALTER TABLE accounts ENABLE TRIGGER USER")
        await self.tx.commit()
        self.tx = None
        # Fresh statistics for the planner after the bulk load (autovacuum
        # would get there later).
        await c.execute("ANALYZE accounts, mailboxes, blobs, blob_data, blob_keys, messages, expunged")

    async def rollback(self) -> None:
        if self.tx is not None:
            with contextlib.suppress(Exception):
                await self.tx.rollback()
            self.tx = None
