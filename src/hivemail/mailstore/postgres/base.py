"""What every part of the PostgreSQL store stands on: the pool, one
transaction per write, the schema, change notifications and node-wide locks.

Transactions, not locks across round trips
------------------------------------------
Every write is one function ``fn(conn, ctx, *args)`` run by :meth:`_write`
inside one transaction (READ COMMITTED). UIDs and MODSEQs are allocated by
``UPDATE mailboxes SET uidnext = ..., highestmodseq = ... RETURNING`` in
that transaction: the row lock it takes lasts until COMMIT, so writers on
several nodes to one mailbox serialise on that row and nothing else. Two
mailboxes are always locked in id order (:func:`lock_mailboxes`), so a COPY
from A to B and one from B to A cannot deadlock; should PostgreSQL still
report a deadlock or a serialization failure, the whole function is run
again (``RETRIES``), which is why ``fn`` must not have side effects outside
the transaction.

Notifications
-------------
``fn`` records the mailboxes it changed in ``ctx.changed`` (id ->
HIGHESTMODSEQ); :meth:`_write` sends one ``pg_notify('hivemail_change',
'<id> <modseq>')`` per mailbox before COMMIT, so the notice is delivered to
every node's listening connection exactly when the change is visible, and
never for a rolled-back change. :meth:`wait_for_change` (IDLE, and the
sessions' update checks) waits on those notices: a change on any node wakes
waiters on every node within the network's latency.

Node-wide locks
---------------
One extra connection per store (``_lock_conn``) holds PostgreSQL *session*
advisory locks: the POP3 maildrop locks ([IN-USE] across nodes) and the
liveness lock that makes this store's blob pins count. A node that dies
loses its connection and with it every lock it held, so nothing stays
locked after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
import os
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from hivemail.mailstore.errors import ErrorKind, MailError
from hivemail.mailstore.waiters import ChangeWaiters

log = logging.getLogger("hivemail.store")

SCHEMA_VERSION = 1
CHANNEL = "hivemail_change"
RETRIES = 5
POOL_MIN = 1
POOL_MAX = 10
# Advisory lock key spaces (the first of pg_try_advisory_lock's two int4 keys).
LOCK_SCHEMA, LOCK_MAILDROP, LOCK_NODE, LOCK_INDEX = 0x6876_0001, 0x6876_0002, 0x6876_0003, 0x6876_0004

_RETRYABLE = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)
_UNAVAILABLE = (OSError, asyncpg.exceptions.PostgresConnectionError,
                asyncpg.exceptions.InterfaceError, asyncpg.exceptions.CannotConnectNowError,
                asyncpg.exceptions.TooManyConnectionsError, asyncpg.exceptions.AdminShutdownError,
                asyncpg.exceptions.QueryCanceledError, asyncpg.exceptions.InsufficientResourcesError,
                asyncio.TimeoutError)


@dataclass
class Ctx:
    """What one write did, acted on only once it committed."""

    changed: dict[int, int] = field(default_factory=dict)   # mailbox id -> HIGHESTMODSEQ
    unreferenced: bool = False                               # a blob's refcount may be 0 now


def key32(text: str) -> int:
    """A stable signed 32-bit key for an advisory lock on ``text``."""
    value = zlib.crc32(text.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def temp(exc: BaseException) -> MailError:
    if isinstance(exc, asyncpg.exceptions.DiskFullError):
        error = MailError(ErrorKind.NO_SPACE, "the database is out of disk space")
    else:
        error = MailError(ErrorKind.TEMP, f"database unavailable or failing: {exc}")
    error.__cause__ = exc
    return error


class PostgresBase:
    """The pool and the write/read/notify machinery (see the module doc)."""

    def __init__(self, url: str, *, blob_dir: str | os.PathLike | None = None,
                 background_index: bool = True, pool_max: int = POOL_MAX) -> None:
        self.url = url
        # Message bytes in this directory (shared by the nodes) instead of
        # the blob_data table; None: in the database.
        self.blob_dir = os.fspath(blob_dir) if blob_dir else None
        self.background_index = background_index
        self.pool_max = pool_max
        self.node = uuid.uuid4().hex    # this store instance, for pins
        self._pool: asyncpg.Pool | None = None
        self._listen_conn: asyncpg.Connection | None = None
        self._lock_conn: asyncpg.Connection | None = None
        self._lock_mutex = asyncio.Lock()
        self._maildrops: set[str] = set()
        self._waiters = ChangeWaiters()
        self._open = False

    # -- life cycle -----------------------------------------------------------

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=POOL_MIN, max_size=self.pool_max,
                                                   command_timeout=60)
            async with self._pool.acquire() as conn:
                await self._migrate(conn)
            self._lock_conn = await asyncpg.connect(self.url)
            await self._lock_conn.execute("SELECT pg_advisory_lock($1, $2)", LOCK_NODE, key32(self.node))
            self._listen_conn = await asyncpg.connect(self.url)
            await self._listen_conn.add_listener(CHANNEL, self._on_notify)
        except _UNAVAILABLE as exc:
            await self._close_connections()
            raise temp(exc) from exc
        self._open = True
        await self._opened()

    async def _opened(self) -> None:
        """Hook for the parts: start background work once open."""

    async def _closing(self) -> None:
        """Hook for the parts: stop background work before the pool closes."""

    async def close(self) -> None:
        if not self._open:
            await self._close_connections()
            return
        await self._closing()
        self._open = False
        self._waiters.release_all()
        await self._close_connections()

    async def _close_connections(self) -> None:
        for conn in (self._listen_conn, self._lock_conn):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=5)
        self._listen_conn = self._lock_conn = None
        self._maildrops.clear()
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), 10)
            self._pool = None

    async def _migrate(self, conn: asyncpg.Connection) -> None:
        """Create the schema on first use, under a lock: several nodes may
        start at once against an empty database."""
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, 0)", LOCK_SCHEMA)
            exists = await conn.fetchval("SELECT to_regclass('meta') IS NOT NULL")
            if not exists:
                script = importlib.resources.files(__package__).joinpath("schema.sql").read_text()
                await conn.execute(script)
                return
            version = await conn.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
            if version > SCHEMA_VERSION:
                raise MailError(ErrorKind.TEMP, f"database schema {version} is newer than this hivemail")

    # -- running work -----------------------------------------------------------

    def _need_open(self) -> asyncpg.Pool:
        if not self._open or self._pool is None:
            raise MailError(ErrorKind.TEMP, "store is not open")
        return self._pool

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(conn, *args)`` on a pooled connection, in one read-only
        REPEATABLE READ transaction: a consistent snapshot across its queries."""
        pool = self._need_open()
        try:
            async with pool.acquire() as conn:
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    return await fn(conn, *args)
        except (*_UNAVAILABLE, asyncpg.exceptions.PostgresError) as exc:
            raise temp(exc) from exc

    async def _write(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(conn, ctx, *args)`` in one transaction; notify, then commit.
        Retried from the start on a deadlock or serialization failure."""
        pool = self._need_open()
        for attempt in range(RETRIES):
            ctx = Ctx()
            try:
                async with pool.acquire() as conn:
                    async with conn.transaction():
                        result = await fn(conn, ctx, *args)
                        for mailbox_id, modseq in ctx.changed.items():
                            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{mailbox_id} {modseq}")
            except _RETRYABLE:
                if attempt == RETRIES - 1:
                    raise MailError(ErrorKind.TEMP, "database too busy (deadlocks); try again") from None
                await asyncio.sleep(0.01 * (attempt + 1))
                continue
            except (*_UNAVAILABLE, asyncpg.exceptions.PostgresError) as exc:
                raise temp(exc) from exc
            await self._committed(ctx)
            return result
        raise AssertionError("unreachable")

    async def _committed(self, ctx: Ctx) -> None:
        """Hook for the parts: after a write committed (wake waiters here,
        collect garbage, kick the indexer)."""
        if ctx.changed:
            self._wake(ctx.changed)

    # -- change notifications ---------------------------------------------------

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            mailbox_id, modseq = (int(x) for x in payload.split())
        except ValueError:
            return
        self._wake({mailbox_id: modseq})

    def _wake(self, changed: dict[int, int]) -> None:
        self._waiters.wake(changed)

    async def wait_for_change(self, mailbox_id: int, modseq: int, timeout: float | None = None) -> bool:
        """See the interface: woken by this node's commits and every node's NOTIFY."""
        self._need_open()
        return await self._waiters.wait(mailbox_id, modseq, lambda: self._read(
            lambda conn: conn.fetchval("SELECT highestmodseq FROM mailboxes WHERE id = $1", mailbox_id)), timeout)

    # -- node-wide locks ----------------------------------------------------------

    async def lock_maildrop(self, account: str) -> bool:
        """See the interface: a session advisory lock on this store's lock
        connection, so it holds against every node and dies with this one."""
        self._need_open()
        if account in self._maildrops:
            return False
        async with self._lock_mutex:
            assert self._lock_conn is not None
            try:
                got = await self._lock_conn.fetchval("SELECT pg_try_advisory_lock($1, $2)",
                                                     LOCK_MAILDROP, key32(account))
            except _UNAVAILABLE as exc:
                raise temp(exc) from exc
            if got:
                self._maildrops.add(account)
            return bool(got)

    async def unlock_maildrop(self, account: str) -> None:
        if account not in self._maildrops:
            return
        self._maildrops.discard(account)
        async with self._lock_mutex:
            if self._lock_conn is None:
                return
            with contextlib.suppress(*_UNAVAILABLE):
                await self._lock_conn.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_MAILDROP, key32(account))


async def lock_mailboxes(conn: asyncpg.Connection, ids: Iterable[int]) -> dict[int, asyncpg.Record]:
    """Lock mailbox rows in id order (no deadlock between two writers that
    touch the same pair) and return them: id -> row."""
    rows = await conn.fetch(
        "SELECT id, account_id, name, uidvalidity, uidnext, highestmodseq, subscribed, special_use,"
        " expunge_floor FROM mailboxes WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
        sorted(set(ids)))
    return {r["id"]: r for r in rows}
