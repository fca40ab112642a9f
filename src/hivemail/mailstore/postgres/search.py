"""The PostgreSQL store's full-text index (pg_trgm) and ``check``.

Search index
------------
One ``search_docs`` row per blob holds the folded texts of
``rows.search_columns``: the header lines, the body text, and the values
of SUBJECT / FROM / TO / CC / BCC (each field's values joined by "\\n").
A text key is ``column LIKE '%needle%'`` (LIKE's special characters
escaped): case-insensitivity is in the folding done at indexing, so the
comparison is a plain substring test, and pg_trgm's GIN index on each
column narrows the rows while PostgreSQL's recheck of the LIKE confirms
them. The answer is exact with no text read back into Python:

* BODY -> ``body``; TEXT -> ``hdr`` or ``body``;
* HEADER on a field with a column -> that column, exactly, for a needle
  without a newline (a substring without "\\n" of values joined by "\\n"
  lies inside one value). A needle with a newline could span two values,
  so it is treated as any other field:
* HEADER on another field -> candidates from ``hdr`` (every value appears
  verbatim in a "Name: value" line, so each match is among them),
  confirmed against the stored analysis (``search.matches``' own test).

Text is extracted *after* delivery, off the acknowledged path, by a
background task on every node (:meth:`SearchPart._index_loop`): woken
``INDEX_DELAY`` seconds after a local commit that changed a mailbox, and
every ``INDEX_POLL`` seconds for other nodes' deliveries. One batch of
``INDEX_BATCH`` blobs is one transaction that first takes
``pg_try_advisory_xact_lock(LOCK_INDEX, 0)``: one node indexes at a time,
and a node that dies mid-batch has committed nothing and holds nothing.
Blobs not indexed yet are named by :meth:`SearchPart.search_text` as
``unindexed`` and evaluated by the caller. A deleted blob's row goes with
it (ON DELETE CASCADE).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from hivemail.mailstore.errors import ErrorKind, MailError
from hivemail.mailstore.postgres.base import LOCK_INDEX, Ctx, PostgresBase, lock_mailboxes
from hivemail.mailstore.postgres.rows import expunge_uids
from hivemail.mailstore.rows import COLUMNS, HEADER_COLUMNS, parse_analysis, search_columns
from hivemail.mailstore.search import Body, Header, TextKey, TextMatches, fold, indexable
from hivemail.mailstore.types import CheckReport

log = logging.getLogger("hivemail.store")

# Blobs extracted and inserted per transaction (the index lock is held
# while their text is extracted, a few ms each).
INDEX_BATCH = 32
# ... and at most this many bytes of messages (at least one message).
INDEX_BYTES = 64 << 20
# Seconds the indexer waits after a local delivery (a burst is committed
# first), and between looks for other nodes' deliveries.
INDEX_DELAY = 0.2
INDEX_POLL = 2.0
# Seconds before a blob whose bytes could not be read is tried again.
SKIP_RETRY = 600.0
# Candidate rows confirmed against their analysis per thread hop.
_CONFIRM_BATCH = 500
# Blobs whose bytes check() hashes per round trip (verify_hashes).
_HASH_BATCH = 16

_INSERT_DOCS = (f"INSERT INTO search_docs(blob_id, {', '.join(COLUMNS)})"
                f" SELECT * FROM unnest($1::text[], {', '.join(f'${i}::text[]' for i in range(2, len(COLUMNS) + 2))})"
                " ON CONFLICT (blob_id) DO NOTHING")


def like_pattern(needle: str) -> str:
    """``%needle%`` with LIKE's special characters escaped (backslash is
    PostgreSQL's default escape character)."""
    return "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True)
class _Term:
    columns: tuple[str, ...]  # search_docs columns, any of which may hold the needle
    pattern: str              # for LIKE
    needle: str               # folded
    field_name: str | None    # set: candidates, confirmed against the analysis


def _term(key: TextKey) -> _Term:
    needle = fold(key.text)
    pattern = like_pattern(needle)
    if isinstance(key, Body):
        return _Term(("body",), pattern, needle, None)
    if isinstance(key, Header):
        column = HEADER_COLUMNS.get(key.name)
        if column is not None and "\n" not in needle:
            return _Term((column,), pattern, needle, None)
        return _Term(("hdr",), pattern, needle, key.name)
    return _Term(("hdr", "body"), pattern, needle, None)


def _matching(term: _Term, select: str = "m.uid") -> str:
    """The query for the mailbox's ($1) messages whose text matches ($2).
    TEXT is a UNION, not an OR: PostgreSQL 15 plans ``hdr LIKE $2 OR body
    LIKE $2`` as a scan of every row (230 ms over 30,000 messages, against
    4 ms for the UNION, each branch on its own trigram index)."""
    return " UNION ".join(
        f"SELECT {select} FROM messages m JOIN search_docs s ON s.blob_id = m.blob_id"
        f" WHERE m.mailbox_id = $1 AND s.{column} LIKE $2" for column in term.columns)


def _confirm(rows: list[Any], needle: str, name: str, known: dict[str, bool]) -> list[int]:
    """The UIDs among candidate (uid, blob_id, analysis) rows whose field
    ``name`` holds ``needle`` (``search.matches``' Header test); ``known``
    caches the answer per blob (copies share one)."""
    out = []
    for uid, blob_id, analysis in rows:
        hit = known.get(blob_id)
        if hit is None:
            a = parse_analysis(analysis)
            hit = known[blob_id] = a is not None and any(needle in fold(v) for v in a.header_values(name))
        if hit:
            out.append(uid)
    return out


async def _r_search_text(conn: asyncpg.Connection, mailbox_id: int, terms: list[_Term]) -> TextMatches:
    # Plans made for the actual pattern and mailbox: whether the trigram
    # index or the mailbox's rows come first depends on both (a rare word
    # vs a common one, a big mailbox vs a small one).
    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    unindexed = frozenset(r[0] for r in await conn.fetch(
        "SELECT m.uid FROM messages m JOIN blobs b ON b.id = m.blob_id"
        " WHERE m.mailbox_id = $1 AND NOT b.indexed", mailbox_id))
    hits = []
    for term in terms:
        if term.field_name is None:
            found = {r[0] for r in await conn.fetch(_matching(term), mailbox_id, term.pattern)}
        else:
            found = set()
            known: dict[str, bool] = {}
            cursor = await conn.cursor(
                f"SELECT c.uid, c.blob_id, b.analysis FROM ({_matching(term, 'm.uid, m.blob_id')}) c"
                " JOIN blobs b ON b.id = c.blob_id", mailbox_id, term.pattern)
            while rows := await cursor.fetch(_CONFIRM_BATCH):
                found.update(await asyncio.to_thread(_confirm, rows, term.needle, term.field_name, known))
        hits.append(frozenset(found - unindexed))
    return TextMatches(tuple(hits), unindexed)


class SearchPart(PostgresBase):
    """search_text, update_search_index, the background indexer, check."""

    _index_task: asyncio.Task | None = None
    _index_wake: asyncio.Event | None = None
    _index_mutex: asyncio.Lock | None = None
    _index_skip: dict[str, float]    # blob id -> when its bytes were found unreadable

    # -- life cycle -------------------------------------------------------------

    async def _opened(self) -> None:
        await super()._opened()
        # Blobs whose bytes could not be read: check() reports them; they
        # stay unindexed (the caller's scan answers for them) and are tried
        # again after SKIP_RETRY seconds (a file may come back).
        self._index_skip = {}
        self._index_mutex = asyncio.Lock()
        if self.background_index:
            self._index_wake = asyncio.Event()
            self._index_task = asyncio.get_running_loop().create_task(self._index_loop())

    async def _closing(self) -> None:
        task, self._index_task, self._index_wake = self._index_task, None, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super()._closing()

    async def _committed(self, ctx: Ctx) -> None:
        await super()._committed(ctx)
        if ctx.changed and self._index_wake is not None:
            self._index_wake.set()

    # -- search -------------------------------------------------------------------

    async def search_text(self, mailbox_id: int, keys: Sequence[TextKey]) -> TextMatches:
        """See the interface (and the module doc)."""
        terms = []
        for key in keys:
            if not indexable(key):
                raise ValueError(f"not answerable from the index: {key!r}")
            terms.append(_term(key))
        return await self._read(_r_search_text, mailbox_id, terms)

    # -- indexing -------------------------------------------------------------------

    async def update_search_index(self, limit: int | None = None) -> int:
        """Index blobs not indexed yet (at most ``limit``; all if None);
        returns how many. 0 at once if another node is indexing. Deleted
        blobs' rows need no work (ON DELETE CASCADE)."""
        self._need_open()
        assert self._index_mutex is not None
        done = 0
        async with self._index_mutex:   # the background task and a caller here take turns
            while limit is None or done < limit:
                n = INDEX_BATCH if limit is None else min(INDEX_BATCH, limit - done)
                got = await self._write(self._tx_index, n)
                if got is None:     # another node holds the lock
                    break
                indexed, more = got
                done += indexed
                if not more:
                    break
        return done

    async def _tx_index(self, conn: asyncpg.Connection, ctx: Ctx, n: int) -> tuple[int, bool] | None:
        """Index up to ``n`` blobs: (how many, whether more may wait), or
        None if another node holds the index lock."""
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1, 0)", LOCK_INDEX):
            return None
        now = time.monotonic()
        self._index_skip = {b: when for b, when in self._index_skip.items() if now - when < SKIP_RETRY}
        skip = list(self._index_skip)
        # No row lock while the text is extracted: deliveries that share
        # these blobs must not wait for it. The UPDATE below re-checks.
        rows = await conn.fetch("SELECT id, size, analysis FROM blobs WHERE NOT indexed AND id <> ALL($2::text[])"
                                " ORDER BY id LIMIT $1", n, skip)
        if not rows:
            return 0, False
        # At most INDEX_BYTES of message bytes in memory (at least one blob).
        total, chosen = 0, []
        for row in rows:
            if chosen and total + row[1] > INDEX_BYTES:
                break
            total += row[1]
            chosen.append(row)
        more = len(rows) == n or len(chosen) < len(rows)
        data: dict[str, bytes] = {}
        if not self.blob_dir:
            data = dict(await conn.fetch("SELECT blob_id, data FROM blob_data WHERE blob_id = ANY($1::text[])",
                                         [r[0] for r in chosen]))
        work = []
        for blob_id, _size, analysis in chosen:
            raw = data.get(blob_id)
            if self.blob_dir:
                try:
                    raw = await self.read_blob(blob_id)  # type: ignore[attr-defined]
                except MailError as exc:
                    # An unreadable file (reported as TEMP, from an OSError)
                    # is skipped like a missing one; the database failing is not.
                    if exc.kind in (ErrorKind.TEMP, ErrorKind.NO_SPACE) and not isinstance(exc.__cause__, OSError):
                        raise
                except OSError:
                    pass
            if raw is None:
                self._index_skip[blob_id] = now
                log.warning("search index: the bytes of blob %s are missing; not indexed", blob_id)
                continue
            work.append((blob_id, analysis, raw))
        if not work:
            return 0, more    # all skipped: look past them
        docs = await asyncio.to_thread(lambda: [(b, search_columns(a, d)) for b, a, d in work])
        # Still present (garbage collection may have come first) and still
        # unindexed; a blob deleted later takes its row with it (CASCADE).
        marked = {r[0] for r in await conn.fetch(
            "UPDATE blobs SET indexed = true WHERE id = ANY($1::text[]) AND NOT indexed RETURNING id",
            [b for b, _ in docs])}
        docs = [(b, cols) for b, cols in docs if b in marked]
        if docs:
            await conn.execute(_INSERT_DOCS, [b for b, _ in docs],
                               *([cols[i] for _, cols in docs] for i in range(len(COLUMNS))))
        return len(docs), more

    async def _index_loop(self) -> None:
        """Index in the background; never dies of an error (logs, retries)."""
        while self._open and self._index_wake is not None:
            wake = self._index_wake
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), INDEX_POLL)
            wake.clear()
            await asyncio.sleep(INDEX_DELAY)
            while self._open:
                try:
                    if not await self.update_search_index(INDEX_BATCH):
                        break
                except MailError as exc:
                    log.warning("search index: %s; trying again later", exc)
                    await asyncio.sleep(INDEX_POLL)
                    break
                except Exception:
                    log.exception("search index: unexpected error; trying again later")
                    await asyncio.sleep(INDEX_POLL)
                    break

    # -- maintenance ------------------------------------------------------------------

    async def check(self, repair: bool = False, *, verify_hashes: bool = False) -> CheckReport:
        """Verify the database; with ``repair`` fix what can be fixed:

        * reference counts are recomputed from message rows;
        * messages whose bytes are missing (or have the wrong size or, with
          ``verify_hashes``, the wrong hash) are expunged, with change-log
          entries, and their blob removed (a damaged file is moved to
          ``blob_dir/quarantine``);
        * UIDNEXT and HIGHESTMODSEQ are raised above what rows show, and
          append MODSEQs above a message's MODSEQ lowered;
        * quota usage counters are recomputed;
        * blobs marked indexed without an index row are indexed again.

        Unreferenced blobs are garbage the collector removes (it is run
        after the check), not a problem. One REPEATABLE READ transaction:
        every finding is of one snapshot, and a repair that races a
        concurrent change is retried from the start."""
        return await self._write(self._tx_check, repair, verify_hashes)

    async def _tx_check(self, conn: asyncpg.Connection, ctx: Ctx, repair: bool,
                        verify_hashes: bool) -> CheckReport:
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        report = CheckReport()
        fixes: list[tuple[Callable[[], Any], str]] = []

        def problem(text: str, fix: Callable[[], Any] | None = None, fixed: str = "") -> None:
            report.problems.append(text)
            if repair and fix is not None:
                fixes.append((fix, fixed or text))

        async def apply() -> None:
            for fix, fixed in fixes:
                await fix()
                report.repaired.append(fixed)
            fixes.clear()

        # 1. reference counts
        for blob_id, refcount, actual in await conn.fetch(
                "SELECT b.id, b.refcount, coalesce(c.n, 0) FROM blobs b LEFT JOIN"
                " (SELECT blob_id, count(*) AS n FROM messages GROUP BY blob_id) c ON c.blob_id = b.id"
                " WHERE b.refcount <> coalesce(c.n, 0)"):
            problem(f"blob {blob_id}: refcount {refcount}, {actual} messages refer to it",
                    lambda b=blob_id, a=actual: conn.execute("UPDATE blobs SET refcount = $1 WHERE id = $2", a, b))
        await apply()
        # 2. the bytes of every referenced blob: present, of the right size
        #    (the row's), optionally of the right hash (the id is its sha256)
        if self.blob_dir:
            referenced = await conn.fetch("SELECT id, size FROM blobs b"
                                          " WHERE EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = b.id)")
            paths = {b: self.blob_path(b) for b, _ in referenced}  # type: ignore[attr-defined]
            found = await asyncio.to_thread(_file_states, paths, {b: s for b, s in referenced}, verify_hashes)
        else:
            found = {r[0]: (r[1], r[2]) for r in await conn.fetch(
                "SELECT b.id, octet_length(d.data), b.size FROM blobs b LEFT JOIN blob_data d ON d.blob_id = b.id"
                " WHERE EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = b.id)"
                " AND (d.blob_id IS NULL OR octet_length(d.data) <> b.size)")}
            if verify_hashes:
                for blob_id in await _bad_hashes(conn):
                    found.setdefault(blob_id, (-1, -1))
        for blob_id, (size, expected) in sorted(found.items()):
            if size is None:
                problem(f"blob {blob_id}: bytes missing; its messages are lost",
                        lambda b=blob_id: self._expunge_blob_users(conn, ctx, b),
                        f"blob {blob_id}: messages whose bytes are missing expunged")
            else:
                shown = "wrong hash" if size == -1 else f"size {size}, expected {expected}"
                problem(f"blob {blob_id}: bytes damaged ({shown})",
                        lambda b=blob_id: self._expunge_blob_users(conn, ctx, b, quarantine=True),
                        f"blob {blob_id}: damaged bytes removed, its messages expunged")
        await apply()
        # 3. UIDNEXT and MODSEQ
        for mailbox_id, name, uidnext, hms, max_uid, max_modseq in await conn.fetch(
                "SELECT m.id, m.name, m.uidnext, m.highestmodseq,"
                " greatest(coalesce((SELECT max(uid) FROM messages WHERE mailbox_id = m.id), 0),"
                "          coalesce((SELECT max(uid) FROM expunged WHERE mailbox_id = m.id), 0)),"
                " greatest(coalesce((SELECT max(modseq) FROM messages WHERE mailbox_id = m.id), 0),"
                "          coalesce((SELECT max(modseq) FROM expunged WHERE mailbox_id = m.id), 0))"
                " FROM mailboxes m ORDER BY m.id"):
            if uidnext <= max_uid:
                problem(f"mailbox {mailbox_id} {name!r}: UIDNEXT {uidnext} <= UID {max_uid}",
                        lambda i=mailbox_id, u=max_uid: conn.execute(
                            "UPDATE mailboxes SET uidnext = $1 WHERE id = $2", u + 1, i))
            if hms < max_modseq:
                async def raise_hms(i: int = mailbox_id, m: int = max_modseq) -> None:
                    await conn.execute("UPDATE mailboxes SET highestmodseq = $1 WHERE id = $2", m, i)
                    ctx.changed[i] = m
                problem(f"mailbox {mailbox_id} {name!r}: HIGHESTMODSEQ {hms} < MODSEQ {max_modseq}", raise_hms)
        bad = await conn.fetchval("SELECT count(*) FROM messages WHERE append_modseq > modseq")
        if bad:
            problem(f"{bad} messages have an append MODSEQ above their MODSEQ",
                    lambda: conn.execute("UPDATE messages SET modseq = append_modseq WHERE append_modseq > modseq"))
        await apply()
        # 4. quota usage counters equal a fresh sum over each account's
        #    messages (after the repairs above: the triggers kept them in step)
        for account_id, used_bytes, used_messages, kept_bytes, kept_messages in await conn.fetch(
                "SELECT a.id, coalesce(sum(m.size), 0)::bigint, count(m.uid), u.bytes, u.messages"
                " FROM accounts a LEFT JOIN account_usage u ON u.account_id = a.id"
                " LEFT JOIN mailboxes b ON b.account_id = a.id LEFT JOIN messages m ON m.mailbox_id = b.id"
                " GROUP BY a.id, u.bytes, u.messages ORDER BY a.id"):
            if (kept_bytes, kept_messages) != (used_bytes, used_messages):
                shown = "missing" if kept_bytes is None else f"{kept_bytes} bytes in {kept_messages} messages"
                problem(f"account {account_id}: quota usage {shown}, messages sum to"
                        f" {used_bytes} bytes in {used_messages} messages",
                        lambda a=account_id, b=used_bytes, n=used_messages: conn.execute(
                            "INSERT INTO account_usage(account_id, bytes, messages) VALUES ($1, $2, $3)"
                            " ON CONFLICT (account_id) DO UPDATE SET bytes = $2, messages = $3", a, b, n))
        # 5. the search index: a blob marked indexed has its row (a row
        #    without a blob cannot exist: it is deleted with it)
        for (blob_id,) in await conn.fetch(
                "SELECT id FROM blobs b WHERE indexed"
                " AND NOT EXISTS (SELECT 1 FROM search_docs s WHERE s.blob_id = b.id)"):
            problem(f"blob {blob_id}: marked indexed but has no search row",
                    lambda b=blob_id: conn.execute("UPDATE blobs SET indexed = false WHERE id = $1", b),
                    f"blob {blob_id}: marked unindexed (indexed again)")
        await apply()
        # Garbage (blobs nobody refers to) is the collector's: have it look.
        if repair or await conn.fetchval("SELECT EXISTS (SELECT 1 FROM blobs WHERE refcount <= 0)"):
            ctx.unreferenced = True
        if repair and report.repaired and self._index_wake is not None:
            self._index_wake.set()
        return report

    async def _expunge_blob_users(self, conn: asyncpg.Connection, ctx: Ctx, blob_id: str,
                                  quarantine: bool = False) -> None:
        by_mailbox: dict[int, list[int]] = {}
        for mailbox_id, uid in await conn.fetch("SELECT mailbox_id, uid FROM messages WHERE blob_id = $1",
                                                blob_id):
            by_mailbox.setdefault(mailbox_id, []).append(uid)
        await lock_mailboxes(conn, by_mailbox)
        for mailbox_id, uids in sorted(by_mailbox.items()):
            await expunge_uids(conn, ctx, mailbox_id, uids)
        await conn.execute("DELETE FROM blobs WHERE id = $1", blob_id)
        if quarantine and self.blob_dir:
            path = self.blob_path(blob_id)  # type: ignore[attr-defined]
            if path:
                await asyncio.to_thread(_quarantine, path, os.path.join(self.blob_dir, "quarantine", blob_id))


def _file_states(paths: dict[str, str], sizes: dict[str, int],
                 verify_hashes: bool) -> dict[str, tuple[int | None, int]]:
    """The referenced blobs whose file is missing (size None), of the wrong
    size, or (size -1) of the wrong hash: blob id -> (size, expected)."""
    out: dict[str, tuple[int | None, int]] = {}
    for blob_id, path in paths.items():
        if not path:
            continue
        try:
            size = os.path.getsize(path)
        except FileNotFoundError:
            out[blob_id] = (None, sizes[blob_id])
            continue
        if size != sizes[blob_id]:
            out[blob_id] = (size, sizes[blob_id])
        elif verify_hashes:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            if h.hexdigest() != blob_id:
                out[blob_id] = (-1, sizes[blob_id])
    return out


async def _bad_hashes(conn: asyncpg.Connection) -> list[str]:
    """Referenced blobs whose bytes in blob_data do not hash to their id."""
    bad = []
    cursor = await conn.cursor(
        "SELECT d.blob_id, d.data FROM blob_data d"
        " WHERE EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = d.blob_id)")
    while rows := await cursor.fetch(_HASH_BATCH):
        bad.extend(await asyncio.to_thread(
            lambda rows=rows: [b for b, data in rows if hashlib.sha256(data).hexdigest() != b]))
    return bad


def _quarantine(path: str, where: str) -> None:
    """Move a damaged file aside instead of deleting evidence."""
    os.makedirs(os.path.dirname(where), exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, where)
