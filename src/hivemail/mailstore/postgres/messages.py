"""PostgreSQL store: delivery and APPEND, snapshots, flags, COPY/MOVE,
EXPUNGE, the change log, message bytes, pins, sort keys and previews.

The same semantics as the embedded store (``embedded/store.py``), translated
to one transaction per write (``base.py``). What is particular here:

Locks
-----
UIDs and MODSEQs come from the mailbox row, locked (``FOR UPDATE``) before
anything of the mailbox is read, so two writers on two nodes never allocate
the same UID and a STORE never computes flags from a stale read. A write
that touches several mailboxes locks them all first, in id order
(``lock_mailboxes``): a delivery to many recipients, COPY and MOVE cannot
deadlock with each other on mailbox rows.

Blobs and garbage
-----------------
A blob row is shared by every message with the same bytes; its refcount is
kept by triggers (``schema.sql``). A delivery, a pin and any other user of
an existing blob row take ``FOR KEY SHARE`` on it (what a foreign key check
takes): that does not conflict with the refcount updates of other writers,
only with the collector's ``FOR UPDATE``. The collector runs after a commit
that may have left a blob unreferenced (``Ctx.unreferenced``), as a small
write of its own whose errors are logged, not raised: it locks the
unreferenced rows ``FOR UPDATE SKIP LOCKED`` (never waiting for, nor
deleting, a row somebody is about to use), drops pins of dead nodes, and
deletes what is not pinned (``blob_data``, ``blob_keys``, ``search_docs``
by cascade). A delivery that raced with it sees the row gone once the
collector commits and inserts it again. Anything left by a crash between
a commit and its collection goes at the next open or the next collection.

Pins
----
``blob_pins`` rows name their node (``self.node``); a node holds its
``LOCK_NODE`` advisory lock on its lock connection for as long as it lives
(``base.py``). The collector treats a pin as stale when it can take that
lock itself (``pg_try_advisory_xact_lock``): its node is gone, with its POP3
sessions.

Message bytes
-------------
In ``blob_data`` (bytea, stored uncompressed so a range read fetches only
the TOAST chunks it needs), or, when the store is given a ``blob_dir``
shared by the nodes, in content-addressed files there (the embedded store's
``BlobFiles``): written and fsynced before the transaction, checked again
under the blob row's lock, unlinked by the collector inside its transaction
(a delivery racing with it rewrites the file, as in the embedded store).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import asyncpg

from hivemail.mailstore import names
from hivemail.mailstore.embedded.blobs import BlobFiles, blob_id_of
from hivemail.mailstore.errors import ErrorKind, MailError
from hivemail.mailstore.postgres.base import (
    _UNAVAILABLE,
    LOCK_NODE,
    Ctx,
    PostgresBase,
    key32,
    lock_mailboxes,
    temp,
)
from hivemail.mailstore.postgres.rows import (
    META_COLUMNS,
    account_id,
    account_row,
    bump,
    check_quota,
    expunge_uids,
    mailbox_by_id,
    mailbox_info,
    mailbox_row,
)
from hivemail.mailstore.rows import (
    check_uidls,
    date_columns,
    flag_changes,
    flagset,
    keys_row,
    keywords_text,
    metas,
    parse_flags,
    sort_keys_of,
    split_changed,
)
from hivemail.mailstore.sortkeys import SortKeys, keys_from_bytes
from hivemail.mailstore.table import MessageTable
from hivemail.mailstore.types import (
    AppendResult,
    Changes,
    FlagMode,
    FlagUpdate,
    MailboxInfo,
    MailboxSnapshot,
    MessageMeta,
    Recipient,
)

log = logging.getLogger("hivemail.store")

# Messages at least this big are hashed and analysed for their sort keys in
# a thread; below it the thread hop costs more than the work.
THREAD_MIN = 32 * 1024
# Unreferenced blobs deleted per collecting transaction.
GC_BATCH = 1000
# A blob row that keeps vanishing under a delivery (collected each time).
_BLOB_TRIES = 5
_BLOB_ID = re.compile(r"[0-9a-f]{64}\Z")

_KEYS_COLUMNS = ("sent", "subject", "reply", "from_addr", "to_addr", "cc_addr", "display_from", "display_to",
                 "message_id", "refs", "preview")
_KEYS_INSERT = (f"INSERT INTO blob_keys(blob_id, {', '.join(_KEYS_COLUMNS)})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (blob_id) DO NOTHING")
_INSERT_MESSAGE = ("INSERT INTO messages(mailbox_id, uid, modseq, append_modseq, sysflags, keywords,"
                   " internal_date, internal_tz, save_date, size, blob_id)"
                   " VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10)")


def _dense(uids: list[int]) -> bool:
    """Sorted UIDs close enough together that one range scan, filtered
    here, beats looking each up (the usual 1:* or a range)."""
    return uids[-1] - uids[0] < 4 * len(uids)


def _count(status: str) -> int:
    """Rows affected, from a command status such as ``UPDATE 3``."""
    return int(status.rsplit(" ", 1)[-1])


class MessagesPart(PostgresBase):
    """See the module doc."""

    # -- life cycle ---------------------------------------------------------------

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._files = BlobFiles(self.blob_dir) if self.blob_dir else None

    async def _opened(self) -> None:
        await super()._opened()
        if self._files is not None:
            await asyncio.to_thread(self._files.prepare)
        # Garbage a crash left between a commit and its collection.
        await self._collect_garbage()

    async def _closing(self) -> None:
        # This node's pins die with it anyway (its lock goes); say so at once.
        try:
            await self._write(self._tx_unpin_node)
        except MailError as exc:
            log.warning("could not remove this node's blob pins: %s", exc)
        await super()._closing()

    async def _committed(self, ctx: Ctx) -> None:
        await super()._committed(ctx)
        if ctx.unreferenced:
            await self._collect_garbage()

    async def _query(self, fn, *args):
        """``fn(conn, *args)`` outside any explicit transaction: for one
        statement, without BEGIN/COMMIT round trips (a read of bytes)."""
        pool = self._need_open()
        try:
            async with pool.acquire() as conn:
                return await fn(conn, *args)
        except (*_UNAVAILABLE, asyncpg.exceptions.PostgresError) as exc:
            raise temp(exc) from exc

    # -- delivery -----------------------------------------------------------------

    async def deliver(self, recipients: Sequence[Recipient], raw: bytes, analysis: bytes,
                      internal_date: datetime | None = None) -> list[AppendResult | MailError]:
        targets: list[tuple[str, str, int, dict[str, str]] | MailError] = []
        for rcpt in recipients:
            try:
                bits, keywords = parse_flags(rcpt.flags)
                targets.append((names.account_name(rcpt.account), names.mailbox_name(rcpt.mailbox),
                                bits, keywords))
            except MailError as exc:
                targets.append(exc)
        if not any(isinstance(t, tuple) for t in targets):
            return [t for t in targets]  # type: ignore[misc]
        return await self._store(raw, analysis, targets, internal_date)

    async def append(self, account: str, mailbox: str, raw: bytes, analysis: bytes,
                     flags: Iterable[str] = (), internal_date: datetime | None = None) -> AppendResult:
        bits, keywords = parse_flags(flags)
        target = (names.account_name(account), names.mailbox_name(mailbox), bits, keywords)
        [result] = await self._store(raw, analysis, [target], internal_date)
        if isinstance(result, MailError):
            raise result
        return result

    async def _store(self, raw: bytes, analysis: bytes, targets: list,
                     internal_date: datetime | None) -> list[AppendResult | MailError]:
        self._need_open()
        raw, analysis = bytes(raw), bytes(analysis)
        try:
            if len(raw) >= THREAD_MIN or self._files is not None:
                blob_id, keys = await asyncio.to_thread(self._prepare_blob, raw, analysis)
            else:
                blob_id, keys = self._prepare_blob(raw, analysis)
        except OSError as exc:
            error = MailError(ErrorKind.NO_SPACE if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ErrorKind.TEMP,
                              f"cannot write message file: {exc}")
            raise error from exc
        now = time.time()
        return await self._write(self._tx_deliver, blob_id, raw, analysis, targets,
                                 date_columns(internal_date, now), int(now), keys)

    def _prepare_blob(self, raw: bytes, analysis: bytes) -> tuple[str, tuple]:
        """Blob id and sort-keys row; with a blob directory, the file too
        (durable before the transaction starts)."""
        files = self._files
        blob_id = files.put(raw) if files is not None else blob_id_of(raw)
        return blob_id, keys_row(*keys_from_bytes(analysis, raw))

    async def _use_blob(self, conn: asyncpg.Connection, blob_id: str, raw: bytes, analysis: bytes,
                        keys: tuple) -> None:
        """Make the blob row exist and hold it (FOR KEY SHARE) until COMMIT,
        with its bytes and keys; see "Blobs and garbage"."""
        size = len(raw)
        for _ in range(_BLOB_TRIES):
            await conn.execute("INSERT INTO blobs(id, size, refcount, analysis) VALUES ($1, $2, 0, $3)"
                               " ON CONFLICT (id) DO NOTHING", blob_id, size, analysis)
            # Waits for a collector holding the row; None if it deleted it.
            has_data = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM blob_data d WHERE d.blob_id = b.id)"
                " FROM blobs b WHERE b.id = $1 FOR KEY SHARE OF b", blob_id)
            if has_data is not None:
                break
        else:
            raise MailError(ErrorKind.TEMP, "message storage busy; try again")
        files = self._files
        if files is not None:
            # Under the row lock: no collector can unlink the file before COMMIT.
            await asyncio.to_thread(files.ensure, blob_id, size, raw)
        elif not has_data:
            await conn.execute("INSERT INTO blob_data(blob_id, data) VALUES ($1, $2)", blob_id, raw)
        await conn.execute(_KEYS_INSERT, blob_id, *keys)

    async def _tx_deliver(self, conn: asyncpg.Connection, ctx: Ctx, blob_id: str, raw: bytes,
                          analysis: bytes, targets: list, idate: tuple[int, int], now: int,
                          keys: tuple) -> list[AppendResult | MailError]:
        size = len(raw)
        await self._use_blob(conn, blob_id, raw, analysis, keys)
        results: list[AppendResult | MailError | None] = [
            t if isinstance(t, MailError) else None for t in targets]
        # Resolve every recipient, then lock all their mailboxes in id order
        # and deliver in (account, mailbox) order: concurrent deliveries to
        # overlapping recipients neither deadlock nor lock quota rows crosswise.
        resolved: list[tuple[int, asyncpg.Record, int]] = []
        for i, target in enumerate(targets):
            if results[i] is not None:
                continue
            account, mailbox, _bits, _keywords = target
            try:
                acct = await account_row(conn, account)
                box = await mailbox_row(conn, acct[0], mailbox)
            except MailError as exc:
                results[i] = exc
                continue
            resolved.append((i, acct, box[0]))
        locked = await lock_mailboxes(conn, [r[2] for r in resolved])
        for i, acct, mailbox_id in sorted(resolved, key=lambda r: (r[1][0], r[2], r[0])):
            _account, mailbox, bits, keywords = targets[i]
            try:
                async with conn.transaction():   # a savepoint: one recipient fails alone
                    box = locked.get(mailbox_id)
                    if box is None:
                        raise MailError(ErrorKind.NOT_FOUND, f"no mailbox {mailbox!r}")
                    await check_quota(conn, acct, size, 1)
                    uid, modseq = box["uidnext"], box["highestmodseq"] + 1
                    await conn.execute(_INSERT_MESSAGE, mailbox_id, uid, modseq, bits,
                                       keywords_text(keywords.values()), idate[0], idate[1], now, size, blob_id)
                    # RETURNING: the row as it is now, for a later recipient in the same mailbox.
                    locked[mailbox_id] = await conn.fetchrow(
                        "UPDATE mailboxes SET uidnext = $1, highestmodseq = $2 WHERE id = $3"
                        " RETURNING id, account_id, name, uidvalidity, uidnext, highestmodseq",
                        uid + 1, modseq, mailbox_id)
            except MailError as exc:
                results[i] = exc
                continue
            ctx.changed[mailbox_id] = modseq
            results[i] = AppendResult(box["uidvalidity"], uid, modseq, mailbox_id)
        if not any(isinstance(r, AppendResult) for r in results):
            ctx.unreferenced = True
        return results  # type: ignore[return-value]

    # -- reading ------------------------------------------------------------------

    async def snapshot(self, account: str, mailbox: str) -> MailboxSnapshot:
        return await self._read(_r_snapshot, account.strip().lower(), names.mailbox_name(mailbox))

    async def message_table(self, account: str, mailbox: str) -> tuple[MailboxInfo, MessageTable]:
        return await self._read(_r_table, account.strip().lower(), names.mailbox_name(mailbox))

    async def fetch_meta(self, mailbox_id: int, uids: Sequence[int]) -> list[MessageMeta]:
        return await self._read(_r_fetch_meta, mailbox_id, sorted(set(uids)))

    async def read_analysis(self, mailbox_id: int, uid: int) -> bytes:
        row = await self._query(lambda conn: conn.fetchrow(
            "SELECT b.analysis FROM messages m JOIN blobs b ON b.id = m.blob_id"
            " WHERE m.mailbox_id = $1 AND m.uid = $2", mailbox_id, uid))
        if row is None:
            raise MailError(ErrorKind.EXPUNGED, f"no message with UID {uid}")
        return bytes(row[0])

    async def read_analyses(self, mailbox_id: int, uids: Sequence[int]) -> dict[int, bytes]:
        wanted = sorted(set(uids))
        if not wanted:
            return {}
        rows = await self._query(lambda conn: conn.fetch(
            "SELECT m.uid, b.analysis FROM messages m JOIN blobs b ON b.id = m.blob_id"
            " WHERE m.mailbox_id = $1 AND m.uid = ANY($2::bigint[])", mailbox_id, wanted))
        return {uid: bytes(analysis) for uid, analysis in rows}

    def blob_path(self, blob_id: str) -> str:
        files = self._files
        return files.path(blob_id) if files is not None else ""

    async def read_blob(self, blob_id: str, start: int = 0, end: int | None = None) -> bytes:
        files = self._files
        if files is not None:
            try:
                return await asyncio.to_thread(files.read, blob_id, start, end)
            except OSError as exc:
                raise MailError(ErrorKind.TEMP, f"cannot read message file: {exc}") from exc
        if not _BLOB_ID.match(blob_id):
            raise MailError(ErrorKind.NOT_FOUND, f"not a blob id: {blob_id!r}")
        start = max(0, start)
        if end is None:
            sql, args = "SELECT substring(data FROM $2) FROM blob_data WHERE blob_id = $1", (start + 1,)
        else:
            # Only the TOAST chunks of the range are fetched (STORAGE EXTERNAL).
            sql, args = ("SELECT substring(data FROM $2 FOR $3) FROM blob_data WHERE blob_id = $1",
                         (start + 1, max(0, end - start)))
        row = await self._query(lambda conn: conn.fetchrow(sql, blob_id, *args))
        if row is None:
            raise MailError(ErrorKind.EXPUNGED, "message data is gone")
        return row[0]

    async def changes_since(self, mailbox_id: int, modseq: int) -> Changes:
        return await self._read(_r_changes, mailbox_id, modseq)

    # -- flags, copy, move, expunge -------------------------------------------------

    async def store_flags(self, mailbox_id: int, uids: Sequence[int], mode: FlagMode,
                          flags: Iterable[str], unchanged_since: int | None = None,
                          ) -> tuple[list[FlagUpdate], list[int]]:
        bits, keywords = parse_flags(flags)
        return await self._write(_tx_store_flags, mailbox_id, sorted(set(uids)), mode, bits,
                                 keywords, unchanged_since)

    async def copy(self, mailbox_id: int, uids: Sequence[int], account: str,
                   target: str) -> list[tuple[int, int]]:
        return await self._write(_tx_copy, mailbox_id, sorted(set(uids)), account.strip().lower(),
                                 names.mailbox_name(target), False)

    async def move(self, mailbox_id: int, uids: Sequence[int], account: str,
                   target: str) -> list[tuple[int, int]]:
        return await self._write(_tx_copy, mailbox_id, sorted(set(uids)), account.strip().lower(),
                                 names.mailbox_name(target), True)

    async def expunge(self, mailbox_id: int, uids: Sequence[int] | None = None) -> list[int]:
        return await self._write(_tx_expunge, mailbox_id, None if uids is None else sorted(set(uids)))

    async def set_explicit_uidls(self, mailbox_id: int, uidls: Mapping[int, str | None]) -> int:
        """See the interface."""
        check_uidls(uidls)
        return await self._write(_tx_set_uidls, mailbox_id, sorted(uidls.items()))

    # -- pins and garbage (see the module doc) ------------------------------------------

    async def pin_blobs(self, blob_ids: Iterable[str]) -> tuple[int, frozenset[str]]:
        """See the interface and "Pins" above."""
        return await self._write(self._tx_pin, sorted(set(blob_ids)))

    async def _tx_pin(self, conn: asyncpg.Connection, ctx: Ctx, blob_ids: list[str]) -> tuple[int, frozenset[str]]:
        pin_id = await conn.fetchval("SELECT nextval('blob_pin_ids')")
        # FOR KEY SHARE: a collector holding a row is waited for (the row is
        # then gone: missing); one that comes later sees the committed pin.
        present = await conn.fetch(
            "INSERT INTO blob_pins(pin, owner, blob_id)"
            " SELECT $1, $2, id FROM (SELECT id FROM blobs WHERE id = ANY($3::text[]) FOR KEY SHARE) b"
            " RETURNING blob_id", pin_id, self.node, blob_ids)
        return pin_id, frozenset(blob_ids) - {r[0] for r in present}

    async def unpin_blobs(self, pin_id: int) -> None:
        released = await self._write(
            lambda conn, ctx: conn.execute("DELETE FROM blob_pins WHERE pin = $1", pin_id))
        if _count(released):
            await self._collect_garbage()

    async def _tx_unpin_node(self, conn: asyncpg.Connection, ctx: Ctx) -> None:
        await conn.execute("DELETE FROM blob_pins WHERE owner = $1", self.node)

    async def _collect_garbage(self) -> None:
        """Delete unreferenced, unpinned blobs (batches of GC_BATCH). A
        failure is logged: the garbage is collected by a later run."""
        try:
            while await self._write(self._tx_collect) >= GC_BATCH:
                pass
        except MailError as exc:
            log.warning("blob garbage collection failed (retried later): %s", exc)

    async def _tx_collect(self, conn: asyncpg.Connection, ctx: Ctx) -> int:
        """One batch; returns how many blobs it deleted."""
        # Pins of dead nodes on unreferenced blobs: a node's lock can be
        # taken here only if its node is gone.
        owners = [r[0] for r in await conn.fetch(
            "SELECT DISTINCT p.owner FROM blobs b JOIN blob_pins p ON p.blob_id = b.id WHERE b.refcount <= 0")]
        dead = [owner for owner in owners if owner != self.node and await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock($1, $2)", LOCK_NODE, key32(owner))]
        if dead:
            await conn.execute("DELETE FROM blob_pins WHERE owner = ANY($1::text[])", dead)
        ids = [r[0] for r in await conn.fetch(
            "SELECT id FROM blobs b WHERE refcount <= 0"
            " AND NOT EXISTS (SELECT 1 FROM blob_pins p WHERE p.blob_id = b.id)"
            " LIMIT $1 FOR UPDATE SKIP LOCKED", GC_BATCH)]
        if not ids:
            return 0
        # Checked again: a pin committed since the statement above began.
        gone = [r[0] for r in await conn.fetch(
            "DELETE FROM blobs b WHERE id = ANY($1::text[]) AND refcount <= 0"
            " AND NOT EXISTS (SELECT 1 FROM blob_pins p WHERE p.blob_id = b.id) RETURNING id", ids)]
        files = self._files
        if files is not None and gone:
            # Inside the transaction, rows still locked: see "Message bytes".
            await asyncio.to_thread(lambda: [files.remove(blob_id) for blob_id in gone])
        return len(gone)

    # -- sort, thread and preview keys ---------------------------------------------------

    async def sort_keys(self, mailbox_id: int, uids: Sequence[int]) -> dict[int, SortKeys]:
        """See the interface."""
        rows = await self._keyed_rows(mailbox_id, uids)
        return {uid: sort_keys_of(row) for uid, row in rows.items()}

    async def previews(self, mailbox_id: int, uids: Sequence[int]) -> dict[int, str]:
        """See the interface."""
        rows = await self._keyed_rows(mailbox_id, uids)
        return {uid: row[-1] for uid, row in rows.items()}

    async def _keyed_rows(self, mailbox_id: int, uids: Sequence[int]) -> dict[int, tuple]:
        """uid -> blob_keys row (without blob_id) for the UIDs still present;
        rows missing (blobs copied in without keys) are computed from the
        analysis and the bytes, then inserted for next time."""
        found, missing = await self._read(_r_keys, mailbox_id, sorted(set(uids)))
        if missing:
            raws: dict[str, bytes] = {}
            for _uid, blob_id, _analysis in missing:
                if blob_id not in raws:
                    try:
                        raws[blob_id] = await self.read_blob(blob_id)
                    except MailError:
                        raws[blob_id] = b""   # check() reports it; the headers still sort
            computed = await asyncio.to_thread(
                lambda: {blob_id: keys_row(*keys_from_bytes(analysis, raws[blob_id]))
                         for _uid, blob_id, analysis in missing})
            await self._write(_tx_put_keys, [(blob_id, *row) for blob_id, row in computed.items()])
            for uid, blob_id, _analysis in missing:
                found[uid] = computed[blob_id]
        return found


# ---------------------------------------------------------------------------
# transactions and queries (plain functions of a connection)


async def _r_snapshot(conn: asyncpg.Connection, account: str, name: str) -> MailboxSnapshot:
    box = mailbox_info(await mailbox_row(conn, await account_id(conn, account), name))
    rows = await conn.fetch(f"SELECT {META_COLUMNS} FROM messages WHERE mailbox_id = $1 ORDER BY uid", box.id)
    return MailboxSnapshot(box, metas(rows))


async def _r_table(conn: asyncpg.Connection, account: str, name: str) -> tuple[MailboxInfo, MessageTable]:
    """Columns straight from the rows: no MessageMeta, no datetime per row."""
    box = mailbox_info(await mailbox_row(conn, await account_id(conn, account), name))
    table = MessageTable()
    rows = await conn.fetch(
        "SELECT uid, modseq, sysflags, keywords, size, internal_date, internal_tz, save_date, blob_id"
        " FROM messages WHERE mailbox_id = $1 ORDER BY uid", box.id)
    if not rows:
        return box, table
    uids, modseqs, bits, keywords, sizes, idates, itzs, sdates, blob_ids = zip(*rows)
    table.uids.extend(uids)
    table.modseqs.extend(modseqs)
    table.sizes.extend(sizes)
    table.idates.extend(idates)
    table.itzs.extend(itzs)
    table.sdates.extend(sdates)
    table.blob_ids.extend(blob_ids)
    flagset_id = table.flagset_id
    ids: dict[tuple[int, str], int] = {}
    fsids = []
    for key in zip(bits, keywords):
        fs = ids.get(key)
        if fs is None:
            fs = ids[key] = flagset_id(flagset(*key))
        fsids.append(fs)
    table.fsids.extend(fsids)
    return box, table


async def _r_fetch_meta(conn: asyncpg.Connection, mailbox_id: int, uids: list[int]) -> list[MessageMeta]:
    if not uids:
        return []
    if _dense(uids):
        wanted = set(uids)
        rows = [row for row in await conn.fetch(
            f"SELECT {META_COLUMNS} FROM messages WHERE mailbox_id = $1 AND uid BETWEEN $2 AND $3"
            " ORDER BY uid", mailbox_id, uids[0], uids[-1]) if row[0] in wanted]
    else:
        rows = await conn.fetch(
            f"SELECT {META_COLUMNS} FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[])"
            " ORDER BY uid", mailbox_id, uids)
    return list(metas(rows))


async def _tx_store_flags(conn: asyncpg.Connection, ctx: Ctx, mailbox_id: int, uids: list[int],
                          mode: FlagMode, bits: int, keywords: dict[str, str],
                          unchanged_since: int | None) -> tuple[list[FlagUpdate], list[int]]:
    # Locked first: flags read below are current until COMMIT (no lost update).
    await mailbox_by_id(conn, mailbox_id, for_update=True)
    rows = await conn.fetch("SELECT uid, modseq, sysflags, keywords FROM messages"
                            " WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid", mailbox_id, uids)
    changes, failed = flag_changes(rows, mode, bits, keywords, unchanged_since)
    if not changes:
        return [], failed
    # One MODSEQ for the whole STORE (RFC 7162 3.1; see the embedded store).
    modseq = await bump(conn, ctx, mailbox_id)
    await conn.execute(
        "UPDATE messages m SET sysflags = c.bits, keywords = c.keywords, modseq = $1"
        " FROM unnest($2::bigint[], $3::int[], $4::text[]) AS c(uid, bits, keywords)"
        " WHERE m.mailbox_id = $5 AND m.uid = c.uid",
        modseq, [c[0] for c in changes], [c[1] for c in changes], [c[2] for c in changes], mailbox_id)
    return [FlagUpdate(uid, flagset(b, k), modseq) for uid, b, k in changes], failed


async def _tx_copy(conn: asyncpg.Connection, ctx: Ctx, mailbox_id: int, uids: list[int],
                   account: str, target: str, move: bool) -> list[tuple[int, int]]:
    source = await mailbox_by_id(conn, mailbox_id)
    acct = await account_row(conn, account)
    target_id = (await mailbox_row(conn, acct[0], target))[0]
    if move and target_id == mailbox_id:
        raise MailError(ErrorKind.NOT_ALLOWED, "cannot move messages into their own mailbox")
    # Both rows, in id order: the source's messages cannot be expunged (and
    # their blobs collected) under the copy, nor UIDs taken in the target.
    locked = await lock_mailboxes(conn, [mailbox_id, target_id])
    if mailbox_id not in locked:
        raise MailError(ErrorKind.NOT_FOUND, f"no mailbox with id {mailbox_id}")
    box = locked.get(target_id)
    if box is None:
        raise MailError(ErrorKind.NOT_FOUND, f"no mailbox {target!r}")
    rows = await conn.fetch("SELECT uid, size FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[])"
                            " ORDER BY uid", mailbox_id, uids)
    if not rows:
        return []
    if not (move and source[1] == acct[0]):  # a move within an account adds nothing
        await check_quota(conn, acct, sum(r[1] for r in rows), len(rows))
    uidnext, modseq = box["uidnext"], box["highestmodseq"] + 1
    mapping = [(r[0], uidnext + offset) for offset, r in enumerate(rows)]
    await conn.execute(
        "INSERT INTO messages(mailbox_id, uid, modseq, append_modseq, sysflags, keywords,"
        " internal_date, internal_tz, save_date, size, blob_id)"
        " SELECT $1, c.new_uid, $2, $2, m.sysflags, m.keywords, m.internal_date, m.internal_tz, $3,"
        " m.size, m.blob_id FROM unnest($4::bigint[], $5::bigint[]) AS c(uid, new_uid)"
        " JOIN messages m ON m.mailbox_id = $6 AND m.uid = c.uid ORDER BY c.new_uid",
        target_id, modseq, int(time.time()), [m[0] for m in mapping], [m[1] for m in mapping], mailbox_id)
    await conn.execute("UPDATE mailboxes SET uidnext = $1, highestmodseq = $2 WHERE id = $3",
                       uidnext + len(rows), modseq, target_id)
    ctx.changed[target_id] = modseq
    if move:
        await expunge_uids(conn, ctx, mailbox_id, [uid for uid, _ in mapping])
    return mapping


async def _tx_expunge(conn: asyncpg.Connection, ctx: Ctx, mailbox_id: int, uids: list[int] | None) -> list[int]:
    await mailbox_by_id(conn, mailbox_id, for_update=True)
    if uids is None:
        rows = await conn.fetch("SELECT uid FROM messages WHERE mailbox_id = $1 AND sysflags & 8 <> 0"
                                " ORDER BY uid", mailbox_id)
    else:
        rows = await conn.fetch("SELECT uid FROM messages WHERE mailbox_id = $1 AND sysflags & 8 <> 0"
                                " AND uid = ANY($2::bigint[]) ORDER BY uid", mailbox_id, uids)
    found = [r[0] for r in rows]
    if found:
        await expunge_uids(conn, ctx, mailbox_id, found)
    return found


async def _tx_set_uidls(conn: asyncpg.Connection, ctx: Ctx, mailbox_id: int,
                        items: list[tuple[int, str | None]]) -> int:
    await mailbox_by_id(conn, mailbox_id)
    if not items:
        return 0
    status = await conn.execute(
        "UPDATE messages m SET explicit_uidl = c.uidl FROM unnest($2::bigint[], $3::text[]) AS c(uid, uidl)"
        " WHERE m.mailbox_id = $1 AND m.uid = c.uid",
        mailbox_id, [uid for uid, _ in items], [uidl for _, uidl in items])
    return _count(status)


async def _r_changes(conn: asyncpg.Connection, mailbox_id: int, since: int) -> Changes:
    box = await mailbox_by_id(conn, mailbox_id)
    floor = await conn.fetchval("SELECT expunge_floor FROM mailboxes WHERE id = $1", mailbox_id)
    rows = await conn.fetch(f"SELECT {META_COLUMNS}, append_modseq FROM messages"
                            " WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid", mailbox_id, since)
    appended, updates = split_changed(rows, since)
    # An appended-then-expunged UID was never seen by the caller: drop it.
    expunged = [r[0] for r in await conn.fetch(
        "SELECT uid FROM expunged WHERE mailbox_id = $1 AND modseq > $2 AND append_modseq <= $2"
        " ORDER BY uid", mailbox_id, since)]
    if since < floor:
        # Tombstones below the floor were pruned: report every UID below
        # UIDNEXT that is gone (see the embedded store).
        present = {r[0] for r in await conn.fetch("SELECT uid FROM messages WHERE mailbox_id = $1", mailbox_id)}
        present.update(m.uid for m in appended)
        expunged = [uid for uid in range(1, box[4]) if uid not in present]
    return Changes(mailbox_id, box[5], box[4], tuple(expunged), appended, tuple(updates))


async def _r_keys(conn: asyncpg.Connection, mailbox_id: int,
                  uids: list[int]) -> tuple[dict[int, tuple], list[tuple[int, str, bytes]]]:
    """(uid -> keys row, [(uid, blob_id, analysis)] of the rows missing)."""
    found: dict[int, tuple] = {}
    missing: list[tuple[int, str, bytes]] = []
    if not uids:
        return found, missing
    select = (f"SELECT m.uid, m.blob_id, k.blob_id IS NOT NULL, {', '.join('k.' + c for c in _KEYS_COLUMNS)}"
              " FROM messages m LEFT JOIN blob_keys k ON k.blob_id = m.blob_id WHERE m.mailbox_id = $1")
    if _dense(uids):
        wanted: set[int] | None = set(uids)
        rows = await conn.fetch(select + " AND m.uid BETWEEN $2 AND $3", mailbox_id, uids[0], uids[-1])
    else:
        wanted = None
        rows = await conn.fetch(select + " AND m.uid = ANY($2::bigint[])", mailbox_id, uids)
    for uid, blob_id, have, *row in rows:
        if wanted is not None and uid not in wanted:
            continue
        if have:
            found[uid] = tuple(row)
        else:
            missing.append((uid, blob_id, b""))
    if missing:
        analyses = dict(await conn.fetch("SELECT id, analysis FROM blobs WHERE id = ANY($1::text[])",
                                         sorted({m[1] for m in missing})))
        missing = [(uid, blob_id, bytes(analyses.get(blob_id, b""))) for uid, blob_id, _ in missing]
    return found, missing


async def _tx_put_keys(conn: asyncpg.Connection, ctx: Ctx, rows: list[tuple]) -> None:
    """Insert computed keys of blobs that still exist (held while inserting)."""
    present = {r[0] for r in await conn.fetch(
        "SELECT id FROM blobs WHERE id = ANY($1::text[]) FOR KEY SHARE", [row[0] for row in rows])}
    rows = [row for row in rows if row[0] in present]
    if rows:
        await conn.executemany(_KEYS_INSERT, rows)
