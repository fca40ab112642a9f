"""The embedded backend: a SQLite index (WAL) plus content-addressed message files.

Threads and the event loop
--------------------------
Nothing here blocks the loop. Three kinds of worker do the blocking work:

* **one writer thread** owns the only writing connection. Every change is a
  *job*, a function ``fn(conn, ctx, *args)`` run inside the writer's
  transaction. SQLite allows one writer at a time anyway; serialising writes
  in-process costs nothing and makes group commit possible (below).
* **a small reader pool** (threads with one read-only connection each) runs
  queries. WAL gives every read transaction a consistent snapshot while the
  writer commits.
* **an I/O pool** hashes, writes and fsyncs message files before their
  delivery job is queued, so file syncs of concurrent deliveries overlap.

Group commit
------------
The writer takes the first queued job, then everything else already queued
(up to ``MAX_BATCH``), and runs them in one ``BEGIN IMMEDIATE`` ... ``COMMIT``:
one WAL fsync for the whole batch. Each job runs inside its own SAVEPOINT, so
a job that raises MailError is rolled back alone and the others still commit.
Each caller's future is resolved only after the COMMIT returned. While one
batch commits, newly arriving jobs queue up and form the next batch: the
batch size adapts to the load without any timer (the same scheme as
PostgreSQL's and InnoDB's group commit, without their commit_delay knob).

Durability
----------
``synchronous=FULL`` in WAL mode: every COMMIT fsyncs the WAL, so a committed
delivery survives power loss. ``NORMAL`` would only guarantee consistency,
not durability, of the last transactions, which principle 5 of DESIGN.md
forbids; group commit is what pays for FULL. Files: see ``blobs.py``. Order
for a delivery: file fsync -> rename -> directory fsync (I/O pool) -> job
queued -> under the write lock the file's existence is re-checked (and the
file rewritten if a garbage collector removed it meanwhile) -> COMMIT (WAL
fsync) -> the caller's future resolves. With ``fsync=False`` (tests,
throwaway stores) file fsyncs are skipped and ``synchronous=NORMAL``.

Garbage
-------
Message rows hold references to blobs (``blobs.refcount``, kept by triggers).
A blob whose count drops to zero is removed by the *next* write batch, inside
its transaction, before its jobs run: its row is deleted and its file
unlinked while the write lock is held. Doing it in the same transaction as
the expunge would be wrong: if that COMMIT failed, the expunge would be
rolled back but the file already gone. Done this way, a failed commit at
worst leaves a zero-count row without a file, which is garbage anyway.

Pins
----
A POP3 session must be able to send a message that IMAP expunged after its
login (RFC 1939: the maildrop is fixed for the session), so it *pins* the
blobs of its maildrop (:meth:`EmbeddedStore.pin_blobs`). Garbage collection
skips pinned blobs and tries them again later. Pins are kept in memory and,
for other processes (``hivemail deliver``, the admin CLI, a second server),
in one small file per pin under ``data_dir/pins`` named ``<pid>-<n>``:
collection in any process reads them, ignoring (and removing) files of dead
processes; a process that opens the store alone removes them all. Pinning
runs as a write job, under the write lock that collection also holds, so a
blob is either already gone when the pin is taken (reported as missing) or
protected by it. Not fsynced: after a crash there is no session to protect.
A recycled pid can keep a dead process's pin alive until the next
exclusive open; the cost is a file kept a little longer.

Several processes
-----------------
The server and ``hivemail deliver`` may open the same directory. SQLite's
locks (with a busy timeout) serialise their writers. ``wait_for_change``
notices other processes' commits by polling ``PRAGMA data_version`` every
``POLL_INTERVAL`` seconds while anybody waits; in-process commits wake
waiters immediately. Writers of several processes also take an exclusive
``flock`` on ``data_dir/write.lock`` around each batch (BEGIN IMMEDIATE to
COMMIT): SQLite's own busy handler retries by sleeping 1, 2, 5, 10 ... 100 ms,
so two server workers contending through it waited up to 100 ms for a lock
held for one fsync; a blocked ``flock`` wakes as soon as the holder lets go.
The busy timeout still covers any process that does not take the flock.
A ``flock`` on ``data_dir/lock`` tells a process whether
it is alone: only a process that is alone scans the blob directories for
orphans at open (a scan while another process delivers could see that
process's renamed-but-uncommitted file; the re-check under the write lock
would repair it, but it would waste the write), and only if the previous
user did not close cleanly (``data_dir/dirty``).

Search index
------------
SEARCH BODY / TEXT / SUBJECT / FROM / TO / CC / BCC / HEADER are answered
from FTS5 trigram indexes of each blob's folded text (``schema_003.sql``):
SUBJECT / FROM / TO / CC / BCC exactly from trigram positions; BODY, TEXT
and other header fields from trigram presence, each candidate confirmed
against the blob's compressed text kept beside the index (about 6 KB per
message of ordinary mail, a quarter of version 2's; a rare word costs what
it finds, ~0.4 ms, and a word in every message ~20 us per message, for
the confirmation). The index is built *after* delivery so that no text extraction or FTS insert sits on the
acknowledged path: a background task (:meth:`_index_loop`) wakes after
deliveries (and every ``INDEX_POLL`` seconds, for other processes'), waits
until the writer queue is empty, extracts the text of up to
``INDEX_BATCH`` unindexed blobs in the I/O pool and inserts it in one write
job, which re-checks under the write lock that each blob still exists and
is still unindexed. One process indexes at a time: the one holding a
non-blocking ``flock`` on ``data_dir/index.lock``, taken per round, so
server workers never extract the same blob twice, and a process that dies
mid-round has committed nothing and holds nothing. :meth:`search_text`
answers for indexed blobs from the index and names the messages whose blob
is not indexed yet, which the caller evaluates the old way: the answer is
always exact. Deleted blobs' rows are removed lazily (``search_dead``),
by giving the contentless FTS5 tables the text that was inserted
(``search_doc`` keeps it; SQLite 3.40 has no ``contentless_delete``).

BODY and the body side of TEXT take a faster *word path* when the folded
needle is three or more ASCII letters and digits (``schema_007.sql``; the
reasoning is at :func:`_word_hits`): such a needle can only occur inside
one unicode61 word, so the messages containing it are exactly those
having a word that contains it. ``search_vocab`` (every word with three
ASCII letters or digits in a row, trigram-indexed) names those words, and
one OR query of ``search_bodywords`` (the body's words, presence only,
~330 bytes per message plus ~35 of vocabulary) yields the docs, mapped to
UIDs by index lookups: no candidate is confirmed. "BODY wrote" (35,000
hits of 100,000) takes ~40 ms instead of ~1 s. A needle inside more than
``_WORD_TERMS_MAX`` distinct words falls back to the trigram path. A doc listed in
``search_nowords`` has no words: indexed before version 7 (the indexer
gives them theirs after the unindexed blobs, ``WORDS_BATCH`` per job, ~17 s
per 100,000), or holding a run FTS5 might truncate; the word path
confirms those against ``search_doc`` like the trigram path, and while
they are more than ``_NOWORDS_MAX`` (a backfill under way) the trigram
path answers instead. Vocabulary rows are never deleted: a word whose last
doc is gone yields an empty doclist.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import fcntl
import itertools
import importlib.resources
import json
import os
import queue
import re
import sqlite3
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hivemail.mailstore import names
from hivemail.mailstore.table import MessageTable
from hivemail.durable import fsync_dir, pid_alive
from hivemail.mailstore.embedded.blobs import BlobFiles
from hivemail.mailstore.errors import ErrorKind, MailError
from hivemail.mailstore.rows import (
    HEADER_COLUMNS as _HEADER_COLUMNS,
    check_uidls,
    date_columns as _date_columns,
    flag_changes as _flag_changes,
    flagset as _flagset,
    keys_row as _keys_row,
    keywords_text as _keywords_text,
    mailbox_info as _mailbox,
    metas as _metas,
    parse_analysis as _parse_analysis,
    parse_flags as _parse_flags,
    search_columns,
    split_changed as _split_changed,
    sort_keys_of as _sort_keys_of,
)
from hivemail.mailstore.search import Body, Header, TextKey, TextMatches, fold, indexable
from hivemail.mailstore.sortkeys import SortKeys, keys_from_bytes
from hivemail.mailstore.waiters import ChangeWaiters
from hivemail.mailstore.types import (
    DEFAULT_MAILBOXES,
    AccountInfo,
    AppendResult,
    Changes,
    CheckReport,
    FlagMode,
    FlagUpdate,
    MailboxInfo,
    MailboxSnapshot,
    MailboxStatus,
    MessageMeta,
    QuotaInfo,
    Recipient,
)

SCHEMA_VERSION = 7
# The version that added blob_keys (sort, thread and preview keys).
_KEYS_SCHEMA = 5
# The version that added the word index of the body text (schema_007.sql).
_WORDS_SCHEMA = 7
# Scripts that take the index from version n-1 to n (schema.sql makes 1).
_MIGRATIONS = {2: "schema_002.sql", 3: "schema_003.sql", 4: "schema_004.sql", 5: "schema_005.sql", 6: "schema_006.sql",
               7: "schema_007.sql"}
BUSY_TIMEOUT_MS = 30_000
MAX_BATCH = 256
READERS = 3
IO_THREADS = 4
POLL_INTERVAL = 0.2
# Seconds before unreferenced blobs that were pinned are looked at again
# (an unpin in this process triggers a look at once).
GC_RETRY_INTERVAL = 30.0
PINS_DIR = "pins"
WRITE_LOCK = "write.lock"
# Held (flock) by the one process that is indexing: see "Search index".
INDEX_LOCK = "index.lock"
# Blobs indexed per write job: each costs ~1 ms of writer time (FTS5
# tokenizing), so a job holds the writer for a few tens of ms at most.
INDEX_BATCH = 16
# Seconds the indexer waits after a delivery before it starts (a burst of
# deliveries is committed first), and between looks for other processes'.
INDEX_DELAY = 0.2
INDEX_POLL = 2.0
# IN (...) lists are chunked below SQLite's default parameter limit.
_CHUNK = 900
# A mailbox that no longer exists counts as changed beyond any MODSEQ.
_GONE = 1 << 62


_MAILBOX_COLUMNS = "id, account_id, name, uidvalidity, uidnext, highestmodseq, subscribed, special_use"
_META_COLUMNS = ("uid, modseq, sysflags, keywords, internal_date, internal_tz, save_date, "
                 "size, blob_id, explicit_uidl")


# ---------------------------------------------------------------------------
# flags and dates


def _chunks(seq: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(seq), _CHUNK):
        yield seq[i:i + _CHUNK]


def _temp(exc: BaseException) -> MailError:
    if _out_of_space(exc):
        return _no_space(exc)
    return MailError(ErrorKind.TEMP, f"storage busy or failing: {exc}")


_NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def _out_of_space(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in _NO_SPACE_ERRNOS
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def _no_space(exc: BaseException) -> MailError:
    """A full disk (or filesystem quota), from a message file or from SQLite
    (SQLITE_FULL): ``ErrorKind.NO_SPACE``, a temporary failure each protocol
    maps once (``imap/errors.py``: NO [OVERQUOTA]; ``lmtp``: 452 4.3.1;
    ``pop3/errors.py``: -ERR [SYS/TEMP]).  Nothing half-written stays
    behind: ``BlobFiles`` unlinks its temporary file and SQLite rolls the
    transaction back."""
    error = MailError(ErrorKind.NO_SPACE, "not enough disk space")
    error.__cause__ = exc if isinstance(exc, OSError) else OSError(errno.ENOSPC, str(exc))
    return error


# ---------------------------------------------------------------------------
# writer machinery


@dataclass
class _Ctx:
    """What one job did, applied to the store only if the batch commits."""

    changed: dict[int, int] = field(default_factory=dict)   # mailbox id -> HIGHESTMODSEQ
    unreferenced: bool = False                               # some refcount may be 0 now


class _Job:
    __slots__ = ("fn", "args", "future")

    def __init__(self, fn: Callable[..., Any], args: tuple, future: asyncio.Future) -> None:
        self.fn = fn
        self.args = args
        self.future = future


@contextlib.contextmanager
def _flocked(fd: int) -> Iterator[None]:
    """Hold an exclusive flock on ``fd`` (blocking; the GIL is released)."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _resolve(results: list[tuple[asyncio.Future, bool, Any]]) -> None:
    for future, ok, value in results:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


# ---------------------------------------------------------------------------


class EmbeddedStore:
    """The embedded :class:`~hivemail.mailstore.MailStore`.

    ``data_dir`` holds ``index.sqlite3`` (and its WAL), ``blobs/`` and a
    ``lock`` file. ``fsync=False`` skips every fsync (tests, scratch stores):
    a crash may then lose acknowledged messages, never corrupt the store.
    """

    def __init__(self, data_dir: str | os.PathLike, *, fsync: bool = True,
                 background_index: bool = True) -> None:
        self.data_dir = os.fspath(data_dir)
        self.fsync = fsync
        # False: nothing is indexed unless update_search_index() is called
        # (tests; short-lived tools such as ``hivemail deliver``).
        self.background_index = background_index
        self._indexer: asyncio.Task | None = None
        self._index_wake: asyncio.Event | None = None
        self._index_mutex: asyncio.Lock | None = None
        self._index_fd = -1
        # Blobs that could not be read this run: not retried in a loop.
        self._index_skip: set[str] = set()
        self.index_path = os.path.join(self.data_dir, "index.sqlite3")
        self.blobs = BlobFiles(os.path.join(self.data_dir, "blobs"), fsync=fsync)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._readers: concurrent.futures.ThreadPoolExecutor | None = None
        self._io: concurrent.futures.ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._gc_pending = True
        # Blobs left unreferenced but pinned; looked at again at _gc_retry_at.
        self._gc_deferred = False
        self._gc_retry_at = 0.0
        self.pins_dir = os.path.join(self.data_dir, PINS_DIR)
        self._pins: dict[int, frozenset[str]] = {}
        self._pin_counts: Counter[str] = Counter()
        self._pin_ids = itertools.count(1)
        self._pins_lock = threading.Lock()
        self._waiters = ChangeWaiters()
        self._poller: asyncio.Task | None = None
        self._lock_fd: int | None = None
        self._open = False

    # ======================================================================
    # life cycle

    async def open(self) -> None:
        """Create or migrate the schema and remove what a crash left behind:
        temporary files, unreferenced blobs, and (when this process is the
        only user and the last one did not close cleanly) files no row
        refers to."""
        if self._open:
            return
        self._loop = asyncio.get_running_loop()
        self._readers = concurrent.futures.ThreadPoolExecutor(READERS, "hivemail-sqlite-r")
        self._io = concurrent.futures.ThreadPoolExecutor(IO_THREADS, "hivemail-blob-io")
        alone = await self._loop.run_in_executor(self._io, self._prepare_dir)
        started: concurrent.futures.Future = concurrent.futures.Future()
        self._writer = threading.Thread(target=self._writer_main, args=(started,),
                                        name="hivemail-sqlite-w", daemon=True)
        self._writer.start()
        await asyncio.wrap_future(started)
        self._open = True
        try:
            await self._write(self._tx_cleanup, alone)
        except BaseException:
            await self.close()
            raise
        self._index_wake = asyncio.Event()
        self._index_mutex = asyncio.Lock()
        self._index_fd = os.open(os.path.join(self.data_dir, INDEX_LOCK),
                                 os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        if self.background_index:
            self._indexer = self._loop.create_task(self._index_loop())
            self._index_wake.set()  # catch up with what is already there

    def _prepare_dir(self) -> bool:
        """Create the directory layout; return True if no other process has
        the store open."""
        created = not os.path.isdir(self.data_dir)
        os.makedirs(self.data_dir, exist_ok=True)
        if created and self.fsync:
            fsync_dir(os.path.dirname(os.path.abspath(self.data_dir)))
        self.blobs.prepare()
        self._lock_fd = os.open(os.path.join(self.data_dir, "lock"),
                                os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        alone = self._try_exclusive()
        dirty = os.path.join(self.data_dir, "dirty")
        full_scan = alone and os.path.exists(dirty)
        if alone:
            with open(dirty, "w"):
                pass
        os.makedirs(self.pins_dir, exist_ok=True)
        if alone:  # every pin file belongs to a process that is gone
            for name in os.listdir(self.pins_dir):
                _unlink(os.path.join(self.pins_dir, name))
        fcntl.flock(self._lock_fd, fcntl.LOCK_SH)
        return full_scan

    def _try_exclusive(self) -> bool:
        assert self._lock_fd is not None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        return True

    def _release_lock(self, clean: bool) -> None:
        if self._lock_fd is None:
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        if clean and self._try_exclusive():
            try:
                os.unlink(os.path.join(self.data_dir, "dirty"))
            except FileNotFoundError:
                pass
        os.close(self._lock_fd)
        self._lock_fd = None

    async def close(self) -> None:
        if self._loop is None:
            return
        loop = self._loop
        clean = self._open
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        if self._indexer is not None:
            self._indexer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._indexer
            self._indexer = None
        if self._index_mutex is not None:
            async with self._index_mutex:  # a round in flight finishes first
                pass
        if self._index_fd >= 0:
            os.close(self._index_fd)
            self._index_fd = -1
        if self._open and self._gc_pending:
            try:
                await self._write(lambda conn, ctx: None)
            except MailError:
                clean = False
        self._open = False
        if self._writer is not None:
            self._queue.put(None)
            await loop.run_in_executor(None, self._writer.join)
            self._writer = None
        for pool in (self._readers, self._io):
            if pool is not None:
                await loop.run_in_executor(None, pool.shutdown)
        self._readers = self._io = None
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        with self._pins_lock:
            for pin_id in self._pins:
                _unlink(os.path.join(self.pins_dir, f"{os.getpid()}-{pin_id}"))
            self._pins.clear()
            self._pin_counts.clear()
        self._release_lock(clean)
        self._waiters.release_all()
        self._loop = None

    # ======================================================================
    # connections

    def _connect(self, readonly: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self.index_path, isolation_level=None,
                               check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if readonly:
            conn.execute("PRAGMA query_only = ON")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(readonly=True)
            self._local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        if not self._open or self._loop is None:
            raise MailError(ErrorKind.TEMP, "store is not open")
        return await self._loop.run_in_executor(self._readers, self._run_read, fn, args)

    def _run_read(self, fn: Callable[..., Any], args: tuple) -> Any:
        conn = self._reader()
        try:
            return fn(conn, *args)
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _temp(exc) from exc
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    async def _write(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Queue a job for the writer; resolves after its batch committed."""
        if not self._open or self._loop is None:
            raise MailError(ErrorKind.TEMP, "store is not open")
        future = self._loop.create_future()
        self._queue.put(_Job(fn, args, future))
        return await future

    # -- the writer thread ---------------------------------------------------

    def _writer_main(self, started: concurrent.futures.Future) -> None:
        write_lock = -1
        try:
            conn = self._connect(readonly=False)
            # Serialises the writers of every process (see "Several processes").
            write_lock = os.open(os.path.join(self.data_dir, WRITE_LOCK),
                                 os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise MailError(ErrorKind.TEMP, f"cannot switch {self.index_path} to WAL")
            conn.execute("PRAGMA synchronous = " + ("FULL" if self.fsync else "NORMAL"))
            with _flocked(write_lock):
                self._migrate(conn)
        except BaseException as exc:
            if write_lock >= 0:
                os.close(write_lock)
            started.set_exception(exc)
            return
        started.set_result(None)
        try:
            while True:
                job = self._queue.get()
                if job is None:
                    break
                batch = [job]
                stop = False
                while len(batch) < MAX_BATCH:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    batch.append(more)
                with _flocked(write_lock):
                    self._run_batch(conn, batch)
                if stop:
                    break
        finally:
            conn.close()
            os.close(write_lock)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise MailError(ErrorKind.TEMP, f"index schema {version} is newer than this hivemail")
            scripts = (["schema.sql"] if version == 0 else []) + [
                _MIGRATIONS[v] for v in range(max(version, 1) + 1, SCHEMA_VERSION + 1)]
            for name in scripts:
                script = importlib.resources.files(__package__).joinpath(name).read_text()
                # executescript() would COMMIT first; run statement by statement.
                for statement in _split_sql(script):
                    conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        results: list[tuple[asyncio.Future, bool, Any]] = []
        changed: dict[int, int] = {}
        unreferenced = False
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._post([(job.future, False, _temp(exc)) for job in batch])
            return
        try:
            if self._gc_pending or (self._gc_deferred and time.monotonic() >= self._gc_retry_at):
                self._collect_garbage(conn)
            for job in batch:
                ctx = _Ctx()
                conn.execute("SAVEPOINT job")
                try:
                    value = job.fn(conn, ctx, *job.args)
                except Exception as exc:
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    if isinstance(exc, (sqlite3.OperationalError, OSError)):
                        exc = _temp(exc)  # OSError: blobs.ensure() on a full disk
                    results.append((job.future, False, exc))
                    continue
                conn.execute("RELEASE job")
                results.append((job.future, True, value))
                for mailbox_id, modseq in ctx.changed.items():
                    changed[mailbox_id] = max(modseq, changed.get(mailbox_id, 0))
                unreferenced |= ctx.unreferenced
            conn.execute("COMMIT")
        except BaseException as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self._gc_pending = True
            error = _temp(exc) if isinstance(exc, (sqlite3.Error, OSError)) else exc
            self._post([(job.future, False, error) for job in batch])
            return
        self._gc_pending = unreferenced
        self._post(results)
        if changed:
            self._notify_threadsafe(changed)

    def _post(self, results: list[tuple[asyncio.Future, bool, Any]]) -> None:
        try:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(_resolve, results)
        except RuntimeError:
            pass  # the loop is closed; nobody is waiting any more

    def _notify_threadsafe(self, changed: dict[int, int]) -> None:
        try:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._wake, changed)
        except RuntimeError:
            pass

    def _collect_garbage(self, conn: sqlite3.Connection) -> None:
        """Delete unreferenced blob rows and their files. Runs inside a write
        transaction, before the batch's jobs (see "Garbage" above)."""
        rows = conn.execute("SELECT id FROM blobs WHERE refcount <= 0").fetchall()
        deferred = False
        if rows:
            pinned = self._pinned_everywhere()
            if pinned:
                kept = len(rows)
                rows = [row for row in rows if row[0] not in pinned]
                deferred = len(rows) < kept
            conn.executemany("DELETE FROM blobs WHERE id = ? AND refcount <= 0", rows)
            for (blob_id,) in rows:
                self.blobs.remove(blob_id)
        self._gc_pending = False
        self._gc_deferred = deferred
        if deferred:
            self._gc_retry_at = time.monotonic() + GC_RETRY_INTERVAL

    # -- pins (see "Pins" above) ---------------------------------------------

    def _pinned_everywhere(self) -> set[str]:
        with self._pins_lock:
            pinned = {blob_id for blob_id, n in self._pin_counts.items() if n > 0}
        me = os.getpid()
        try:
            names_ = os.listdir(self.pins_dir)
        except FileNotFoundError:
            return pinned
        for name in names_:
            pid_text, _, _ = name.partition("-")
            if not pid_text.isdigit() or int(pid_text) == me:
                continue
            path = os.path.join(self.pins_dir, name)
            if not pid_alive(int(pid_text)):
                _unlink(path)
                continue
            try:
                with open(path) as f:
                    pinned.update(f.read().split())
            except FileNotFoundError:
                pass
        return pinned

    def _tx_pin(self, conn: sqlite3.Connection, ctx: _Ctx, pin_id: int,
                blob_ids: frozenset[str]) -> frozenset[str]:
        present: set[str] = set()
        ids = sorted(blob_ids)
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            present.update(r[0] for r in conn.execute(f"SELECT id FROM blobs WHERE id IN ({marks})", chunk))
        pinned = frozenset(present)
        if pinned:
            path = os.path.join(self.pins_dir, f"{os.getpid()}-{pin_id}")
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                f.write("\n".join(sorted(pinned)))
            os.replace(tmp, path)
            with self._pins_lock:
                self._pins[pin_id] = pinned
                self._pin_counts.update(pinned)
        return blob_ids - pinned

    async def pin_blobs(self, blob_ids: Iterable[str]) -> tuple[int, frozenset[str]]:
        """See the interface and "Pins" above."""
        pin_id = next(self._pin_ids)
        missing = await self._write(self._tx_pin, pin_id, frozenset(blob_ids))
        return pin_id, missing

    async def unpin_blobs(self, pin_id: int) -> None:
        with self._pins_lock:
            pinned = self._pins.pop(pin_id, None)
            if pinned is None:
                return
            self._pin_counts.subtract(pinned)
            for blob_id in pinned:
                if self._pin_counts[blob_id] <= 0:
                    del self._pin_counts[blob_id]
        _unlink(os.path.join(self.pins_dir, f"{os.getpid()}-{pin_id}"))
        if self._gc_deferred:
            self._gc_pending = True

    def _tx_cleanup(self, conn: sqlite3.Connection, ctx: _Ctx, full_scan: bool) -> None:
        for path in self.blobs.stale_temp_files():
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        if full_scan:
            for _, path in self._orphan_files(conn):
                _unlink(path)

    def _orphan_files(self, conn: sqlite3.Connection) -> list[tuple[str, str]]:
        """(name, path) of every file in the fan-out directories that no blob
        row names (including files whose names are not blob ids at all)."""
        orphans = []
        for prefix, directory in self.blobs.fanout_dirs():
            files = set(os.listdir(directory))
            if not files:
                continue
            upper = f"{int(prefix, 16) + 1:02x}" if prefix != "ff" else "g"
            known = {row[0][2:] for row in conn.execute(
                "SELECT id FROM blobs WHERE id >= ? AND id < ?", (prefix, upper))}
            orphans.extend((prefix + name, os.path.join(directory, name))
                           for name in sorted(files - known))
        return orphans

    # ======================================================================
    # change notification

    def _wake(self, changed: dict[int, int]) -> None:
        self._waiters.wake(changed)

    async def wait_for_change(self, mailbox_id: int, modseq: int, timeout: float | None = None) -> bool:
        """See the interface. A waiter registers first and reads the current
        HIGHESTMODSEQ second, so a change committed in between is not missed."""
        return await self._waiters.wait(mailbox_id, modseq, lambda: self._read(_r_highestmodseq, mailbox_id),
                                        timeout, registered=self._ensure_poller)

    def _ensure_poller(self) -> None:
        if self._poller is None or self._poller.done():
            assert self._loop is not None
            self._poller = self._loop.create_task(self._poll())

    async def _poll(self) -> None:
        """Notice other processes' commits while anybody waits."""
        conn: sqlite3.Connection | None = None
        lock = threading.Lock()
        version = None

        def probe(ids: list[int]) -> dict[int, int] | None:
            nonlocal conn, version
            with lock:
                if conn is None:
                    conn = self._connect(readonly=True)
                now = conn.execute("PRAGMA data_version").fetchone()[0]
                if now == version:
                    return None
                version = now
                found = {i: _GONE for i in ids}
                for chunk in _chunks(ids):
                    marks = ",".join("?" * len(chunk))
                    for mailbox_id, modseq in conn.execute(
                            f"SELECT id, highestmodseq FROM mailboxes WHERE id IN ({marks})", chunk):
                        found[mailbox_id] = modseq
                return found

        assert self._loop is not None
        try:
            while self._waiters and self._open:
                try:
                    found = await self._loop.run_in_executor(self._readers, probe, list(self._waiters))
                except (sqlite3.Error, RuntimeError):
                    found = None
                if found:
                    self._wake(found)
                await asyncio.sleep(POLL_INTERVAL)
        finally:
            if conn is not None:
                with lock:
                    conn.close()

    # ======================================================================
    # accounts, domains, aliases

    async def create_account(self, name: str, password_hash: str, scram: str = "") -> AccountInfo:
        account = names.account_name(name)
        return await self._write(self._tx_create_account, account, password_hash, scram)

    def _tx_create_account(self, conn: sqlite3.Connection, ctx: _Ctx, account: str,
                           password_hash: str, scram: str) -> AccountInfo:
        if conn.execute("SELECT 1 FROM accounts WHERE name = ?", (account,)).fetchone() \
                or conn.execute("SELECT 1 FROM aliases WHERE address = ?", (account,)).fetchone():
            raise MailError(ErrorKind.EXISTS, f"account {account} exists")
        cur = conn.execute("INSERT INTO accounts(name, password_hash, scram) VALUES (?, ?, ?)",
                           (account, password_hash, scram))
        account_id = cur.lastrowid
        domain = names.domain_of(account)
        if domain:
            conn.execute("INSERT OR IGNORE INTO domains(name) VALUES (?)", (domain,))
        for mailbox, special_use in DEFAULT_MAILBOXES:
            _insert_mailbox(conn, account_id, mailbox, special_use, subscribed=True)
        return AccountInfo(account_id, account, password_hash, scram)

    async def get_account(self, name: str) -> AccountInfo | None:
        return await self._read(_r_account, name.strip().lower())

    async def list_accounts(self) -> list[AccountInfo]:
        return await self._read(_r_accounts)

    async def set_password(self, name: str, password_hash: str, scram: str = "") -> None:
        await self._write(_tx_update_account, name.strip().lower(),
                          "password_hash = ?, scram = ?", (password_hash, scram))

    async def set_quota(self, name: str, quota_bytes: int | None, quota_messages: int | None) -> None:
        """Set (None = remove) the account's quota. Checked by deliver, append,
        copy and move; an addition to the interface."""
        await self._write(_tx_update_account, name.strip().lower(),
                          "quota_bytes = ?, quota_messages = ?", (quota_bytes, quota_messages))

    async def get_quota(self, name: str) -> QuotaInfo:
        """See the interface: limits and usage (the counters of schema_004.sql)."""
        return await self._read(_r_quota, name.strip().lower())

    # -- Sieve scripts and vacation memory (schema_006.sql) ---------------------
    async def sieve_put(self, account: str, name: str, script: str) -> None:
        """See the interface."""
        await self._write(_tx_sieve_put, account.strip().lower(), name, script, int(time.time()))

    async def sieve_get(self, account: str, name: str) -> str:
        return await self._read(_r_sieve_get, account.strip().lower(), name)

    async def sieve_list(self, account: str) -> list[tuple[str, bool]]:
        return await self._read(_r_sieve_list, account.strip().lower())

    async def sieve_activate(self, account: str, name: str | None) -> None:
        await self._write(_tx_sieve_activate, account.strip().lower(), name)

    async def sieve_delete(self, account: str, name: str) -> None:
        await self._write(_tx_sieve_delete, account.strip().lower(), name)

    async def sieve_rename(self, account: str, old: str, new: str) -> None:
        await self._write(_tx_sieve_rename, account.strip().lower(), old, new)

    async def sieve_active(self, account: str) -> tuple[str, str] | None:
        return await self._read(_r_sieve_active, account.strip().lower())

    async def vacation_should_reply(self, account: str, sender: str, handle: str, period: float,
                                    now: float) -> bool:
        return await self._write(_tx_vacation, account.strip().lower(), sender.strip().lower(), handle,
                                 period, int(now))

    async def set_account_setting(self, name: str, key: str, value: str) -> None:
        await self._write(_tx_set_setting, name.strip().lower(), key, value)

    async def delete_account(self, name: str) -> None:
        await self._write(_tx_delete_account, name.strip().lower())

    async def add_domain(self, domain: str) -> None:
        domain = domain.strip().lower()
        if not domain or any(c.isspace() or c in "@/" for c in domain):
            raise MailError(ErrorKind.BAD_NAME, f"bad domain {domain!r}")
        await self._write(lambda conn, ctx: conn.execute(
            "INSERT OR IGNORE INTO domains(name) VALUES (?)", (domain,)) and None)

    async def list_domains(self) -> list[str]:
        return await self._read(lambda conn: [r[0] for r in conn.execute(
            "SELECT name FROM domains ORDER BY name")])

    async def add_alias(self, address: str, account: str) -> None:
        await self._write(_tx_add_alias, names.account_name(address), account.strip().lower())

    async def resolve_address(self, address: str) -> str | None:
        return await self._read(_r_resolve, address.strip().lower())

    # ======================================================================
    # mailboxes

    async def list_mailboxes(self, account: str) -> list[MailboxInfo]:
        return await self._read(_r_list_mailboxes, account.strip().lower())

    async def get_mailbox(self, account: str, name: str) -> MailboxInfo:
        return await self._read(_r_get_mailbox, account.strip().lower(), names.mailbox_name(name))

    async def create_mailbox(self, account: str, name: str, special_use: str | None = None) -> MailboxInfo:
        return await self._write(_tx_create_mailbox, account.strip().lower(),
                                 names.mailbox_name(name), special_use)

    async def delete_mailbox(self, account: str, name: str) -> None:
        canonical = names.mailbox_name(name)
        if names.is_inbox(canonical):
            raise MailError(ErrorKind.NOT_ALLOWED, "INBOX cannot be deleted")
        await self._write(_tx_delete_mailbox, account.strip().lower(), canonical)

    async def rename_mailbox(self, account: str, old: str, new: str) -> None:
        await self._write(_tx_rename_mailbox, account.strip().lower(),
                          names.mailbox_name(old), names.mailbox_name(new))

    async def set_subscribed(self, account: str, name: str, subscribed: bool) -> None:
        await self._write(_tx_set_subscribed, account.strip().lower(),
                          names.mailbox_name(name), subscribed)

    async def mailbox_status(self, account: str, name: str) -> MailboxStatus:
        return await self._read(_r_status, account.strip().lower(), names.mailbox_name(name))

    # ======================================================================
    # messages

    async def deliver(self, recipients: Sequence[Recipient], raw: bytes, analysis: bytes,
                      internal_date: datetime | None = None) -> list[AppendResult | MailError]:
        targets: list[tuple[str, str, int, dict[str, str]] | MailError] = []
        for rcpt in recipients:
            try:
                bits, keywords = _parse_flags(rcpt.flags)
                targets.append((names.account_name(rcpt.account), names.mailbox_name(rcpt.mailbox),
                                bits, keywords))
            except MailError as exc:
                targets.append(exc)
        if not any(isinstance(t, tuple) for t in targets):
            return [t for t in targets]  # type: ignore[misc]
        blob_id, keys = await self._store_file(raw, analysis)
        now = time.time()
        results = await self._write(self._tx_deliver, blob_id, raw, bytes(analysis), targets,
                                    _date_columns(internal_date, now), int(now), keys)
        self._kick_indexer()
        return results

    async def append(self, account: str, mailbox: str, raw: bytes, analysis: bytes,
                     flags: Iterable[str] = (), internal_date: datetime | None = None) -> AppendResult:
        bits, keywords = _parse_flags(flags)
        target = (names.account_name(account), names.mailbox_name(mailbox), bits, keywords)
        blob_id, keys = await self._store_file(raw, analysis)
        now = time.time()
        [result] = await self._write(self._tx_deliver, blob_id, raw, bytes(analysis), [target],
                                     _date_columns(internal_date, now), int(now), keys)
        self._kick_indexer()
        if isinstance(result, MailError):
            raise result
        return result

    async def _store_file(self, raw: bytes, analysis: bytes) -> tuple[str, tuple]:
        """Write the file; with its sort keys and preview (schema_005.sql),
        computed in the same I/O-pool call, off the loop and the write lock."""
        assert self._loop is not None
        if not self._open:
            raise MailError(ErrorKind.TEMP, "store is not open")

        def put(raw: bytes) -> tuple[str, tuple]:
            return self.blobs.put(raw), _keys_row(*keys_from_bytes(bytes(analysis), raw))

        try:
            return await self._loop.run_in_executor(self._io, put, bytes(raw))
        except OSError as exc:
            if _out_of_space(exc):
                raise _no_space(exc) from exc
            raise MailError(ErrorKind.TEMP, f"cannot write message file: {exc}") from exc

    def _tx_deliver(self, conn: sqlite3.Connection, ctx: _Ctx, blob_id: str, raw: bytes,
                    analysis: bytes, targets: list, idate: tuple[int, int],
                    now: int, keys: tuple | None = None) -> list[AppendResult | MailError]:
        size = len(raw)
        conn.execute("INSERT INTO blobs(id, size, refcount, analysis) VALUES (?, ?, 0, ?) "
                     "ON CONFLICT(id) DO NOTHING", (blob_id, size, analysis))
        if keys is not None and SCHEMA_VERSION >= _KEYS_SCHEMA:
            conn.execute(_KEYS_INSERT, (blob_id, *keys))
        # Under the write lock: nobody can unlink the file between this check
        # and COMMIT (garbage collection and orphan removal take the lock too).
        self.blobs.ensure(blob_id, size, raw)
        results: list[AppendResult | MailError] = []
        for target in targets:
            if isinstance(target, MailError):
                results.append(target)
                continue
            account, mailbox, bits, keywords = target
            conn.execute("SAVEPOINT rcpt")
            try:
                account_row = _account_row(conn, account)
                box = _mailbox_row(conn, account_row[0], mailbox)
                _check_quota(conn, account_row, size, 1)
                uid, modseq = box[4], box[5] + 1
                conn.execute(
                    "INSERT INTO messages(mailbox_id, uid, modseq, append_modseq, sysflags, keywords,"
                    " internal_date, internal_tz, save_date, size, blob_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (box[0], uid, modseq, modseq, bits, _keywords_text(keywords.values()),
                     idate[0], idate[1], now, size, blob_id))
                conn.execute("UPDATE mailboxes SET uidnext = ?, highestmodseq = ? WHERE id = ?",
                             (uid + 1, modseq, box[0]))
            except MailError as exc:
                conn.execute("ROLLBACK TO rcpt")
                conn.execute("RELEASE rcpt")
                results.append(exc)
                continue
            conn.execute("RELEASE rcpt")
            ctx.changed[box[0]] = modseq
            results.append(AppendResult(box[3], uid, modseq, box[0]))
        if not any(isinstance(r, AppendResult) for r in results):
            ctx.unreferenced = True
        return results

    async def snapshot(self, account: str, mailbox: str) -> MailboxSnapshot:
        return await self._read(_r_snapshot, account.strip().lower(), names.mailbox_name(mailbox))

    async def message_table(self, account: str, mailbox: str) -> tuple[MailboxInfo, MessageTable]:
        return await self._read(_r_table, account.strip().lower(), names.mailbox_name(mailbox))

    async def fetch_meta(self, mailbox_id: int, uids: Sequence[int]) -> list[MessageMeta]:
        return await self._read(_r_fetch_meta, mailbox_id, sorted(set(uids)))

    async def read_analysis(self, mailbox_id: int, uid: int) -> bytes:
        return await self._read(_r_analysis, mailbox_id, uid)

    async def read_analyses(self, mailbox_id: int, uids: Sequence[int]) -> dict[int, bytes]:
        return await self._read(_r_analyses, mailbox_id, sorted(set(uids)))

    def blob_path(self, blob_id: str) -> str:
        return self.blobs.path(blob_id)

    async def read_blob(self, blob_id: str, start: int = 0, end: int | None = None) -> bytes:
        assert self._loop is not None
        return await self._loop.run_in_executor(self._io, self.blobs.read, blob_id, start, end)

    async def store_flags(self, mailbox_id: int, uids: Sequence[int], mode: FlagMode,
                          flags: Iterable[str], unchanged_since: int | None = None,
                          ) -> tuple[list[FlagUpdate], list[int]]:
        bits, keywords = _parse_flags(flags)
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
        return await self._write(_tx_expunge, mailbox_id,
                                 None if uids is None else sorted(set(uids)))

    async def lock_maildrop(self, account: str) -> bool:
        """See the interface: one machine, already excluded by SharedState."""
        return True

    async def unlock_maildrop(self, account: str) -> None:
        return None

    async def changes_since(self, mailbox_id: int, modseq: int) -> Changes:
        return await self._read(_r_changes, mailbox_id, modseq)

    async def set_explicit_uidls(self, mailbox_id: int, uidls: Mapping[int, str | None]) -> int:
        """See the interface."""
        check_uidls(uidls)
        return await self._write(_tx_set_uidls, mailbox_id, sorted(uidls.items()))

    # ======================================================================
    # sort, thread and preview keys (schema_005.sql)

    async def sort_keys(self, mailbox_id: int, uids: Sequence[int]) -> dict[int, SortKeys]:
        """See the interface."""
        rows = await self._keyed_rows(mailbox_id, uids)
        return {uid: _sort_keys_of(row) for uid, row in rows.items()}

    async def previews(self, mailbox_id: int, uids: Sequence[int]) -> dict[int, str]:
        """See the interface."""
        rows = await self._keyed_rows(mailbox_id, uids)
        return {uid: row[-1] for uid, row in rows.items()}

    async def _keyed_rows(self, mailbox_id: int, uids: Sequence[int]) -> dict[int, tuple]:
        """uid -> blob_keys row (without blob_id) for the UIDs still present;
        rows missing (blobs stored before schema 5) are computed from the
        analysis and the file, then inserted for next time."""
        assert self._loop is not None
        found, missing = await self._read(_r_keys, mailbox_id, sorted(set(uids)))
        if missing:
            computed = await self._loop.run_in_executor(self._io, self._compute_keys, missing)
            if computed:
                await self._write(_tx_put_keys, [(blob_id, *row) for blob_id, row in computed.items()])
            for uid, blob_id, _analysis in missing:
                row = computed.get(blob_id)
                if row is not None:
                    found[uid] = row
        return found

    def _compute_keys(self, missing: list[tuple[int, str, bytes]]) -> dict[str, tuple]:
        out: dict[str, tuple] = {}
        for _uid, blob_id, analysis in missing:
            if blob_id in out:
                continue
            try:
                raw = self.blobs.read(blob_id)
            except OSError:
                raw = b""  # check() reports the file; the headers still sort
            out[blob_id] = _keys_row(*keys_from_bytes(analysis, raw))
        return out

    # ======================================================================
    # search index (see "Search index" above)

    async def search_text(self, mailbox_id: int, keys: Sequence[TextKey]) -> TextMatches:
        """See the interface. Every key must satisfy ``search.indexable``."""
        terms = []
        for key in keys:
            if not indexable(key):
                raise ValueError(f"not answerable from the index: {key!r}")
            terms.append(_fts_term(key))
        return await self._read(_r_search_text, mailbox_id, terms)

    async def update_search_index(self, limit: int | None = None) -> int:
        """Index blobs that are not indexed yet, then give docs indexed
        before version 7 their words (at most ``limit`` of both; all if
        None) and drop the rows of deleted blobs; returns how many blobs were
        indexed or given words. Returns 0 at once if another process is
        indexing. The background task calls this; tests and tools may call
        it directly."""
        if not self._open or self._index_mutex is None:
            raise MailError(ErrorKind.TEMP, "store is not open")
        assert self._loop is not None
        async with self._index_mutex:
            try:
                fcntl.flock(self._index_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return 0
                raise
            try:
                return await self._index_rounds(limit)
            finally:
                fcntl.flock(self._index_fd, fcntl.LOCK_UN)

    async def _index_rounds(self, limit: int | None) -> int:
        assert self._loop is not None
        done = 0
        while await self._write(_tx_drop_dead, INDEX_BATCH * 4):
            pass
        while limit is None or done < limit:
            n = INDEX_BATCH if limit is None else min(INDEX_BATCH, limit - done)
            rows = await self._read(_r_unindexed, n, frozenset(self._index_skip))
            if not rows:
                break
            docs = await self._loop.run_in_executor(self._io, self._extract, rows)
            done += await self._write(_tx_index, docs)
        while limit is None or done < limit:
            n = WORDS_BATCH if limit is None else min(WORDS_BATCH, limit - done)
            looked = await self._write(_tx_backfill_words, n)
            done += looked
            if looked < n:
                break
        return done

    def _extract(self, rows: list[tuple[str, bytes]]) -> list[tuple[str, tuple[str, ...], bytes, bytes]]:
        """(blob id, folded column texts, compressed header texts, compressed
        body text) for each blob whose file is readable."""
        docs = []
        for blob_id, analysis in rows:
            try:
                raw = self.blobs.read(blob_id)
            except OSError:
                self._index_skip.add(blob_id)  # check() reports it; never matches
                continue
            columns = search_columns(analysis, raw)
            docs.append((blob_id, columns, *_compress_doc(columns)))
        return docs

    def _kick_indexer(self) -> None:
        if self._index_wake is not None:
            self._index_wake.set()

    async def _index_loop(self) -> None:
        """Index in the background while the store is idle."""
        assert self._index_wake is not None
        while self._open:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(INDEX_POLL):
                    await self._index_wake.wait()
            self._index_wake.clear()
            await asyncio.sleep(INDEX_DELAY)
            while self._open:
                # Idle: deliveries and other writes go first.
                while not self._queue.empty():
                    await asyncio.sleep(INDEX_DELAY / 10)
                try:
                    if not await self.update_search_index(INDEX_BATCH):
                        break
                except MailError:
                    await asyncio.sleep(INDEX_POLL)
                    break

    # ======================================================================
    # maintenance

    async def check(self, repair: bool = False, *, verify_hashes: bool = False) -> CheckReport:
        """Verify index and files; with ``repair`` fix what can be fixed:

        * reference counts are recomputed from message rows;
        * unreferenced blob rows, orphan files and stale temporary files are
          removed;
        * messages whose file is missing (or has the wrong size or, with
          ``verify_hashes``, the wrong hash) are expunged, with change-log
          entries, and damaged files moved to ``data_dir/quarantine``;
        * UIDNEXT and HIGHESTMODSEQ are raised above what rows show.

        Runs as one write job: other writers wait for it (with
        ``verify_hashes`` that reads every file)."""
        return await self._write(self._tx_check, repair, verify_hashes)

    def _tx_check(self, conn: sqlite3.Connection, ctx: _Ctx, repair: bool,
                  verify_hashes: bool) -> CheckReport:
        report = CheckReport()

        def problem(text: str, fix: Callable[[], None] | None = None, fixed: str = "") -> None:
            report.problems.append(text)
            if repair and fix is not None:
                fix()
                report.repaired.append(fixed or text)

        # 1. reference counts
        counts = dict(conn.execute("SELECT blob_id, count(*) FROM messages GROUP BY blob_id"))
        blobs = {row[0]: (row[1], row[2]) for row in
                 conn.execute("SELECT id, size, refcount FROM blobs")}
        for blob_id, (size, refcount) in blobs.items():
            actual = counts.get(blob_id, 0)
            if refcount != actual:
                problem(f"blob {blob_id}: refcount {refcount}, {actual} messages refer to it",
                        lambda b=blob_id, a=actual: conn.execute(
                            "UPDATE blobs SET refcount = ? WHERE id = ?", (a, b)))
        for blob_id in counts.keys() - blobs.keys():
            size = self.blobs.size(blob_id)
            if size is not None:
                problem(f"blob {blob_id}: messages refer to it but it has no index row",
                        lambda b=blob_id, s=size: conn.execute(
                            "INSERT INTO blobs(id, size, refcount, analysis) VALUES (?, ?, ?, x'')",
                            (b, s, counts[b])),
                        f"blob {blob_id}: index row recreated (analysis lost)")
            else:
                problem(f"blob {blob_id}: messages refer to it but it has no row and no file",
                        lambda b=blob_id: self._expunge_blob_users(conn, ctx, b))
        # 2. files: existence, size, optionally hash
        for blob_id, (size, refcount) in blobs.items():
            if counts.get(blob_id, 0) == 0:
                problem(f"blob {blob_id}: unreferenced",
                        lambda b=blob_id: (conn.execute("DELETE FROM blobs WHERE id = ?", (b,)),
                                           self.blobs.remove(b)))
                continue
            actual_size = self.blobs.size(blob_id)
            if actual_size is None:
                problem(f"blob {blob_id}: file missing; {counts[blob_id]} messages lost",
                        lambda b=blob_id: self._expunge_blob_users(conn, ctx, b),
                        f"blob {blob_id}: messages whose file is missing expunged")
            elif actual_size != size or (verify_hashes and self.blobs.hash_file(blob_id) != blob_id):
                problem(f"blob {blob_id}: file damaged (size {actual_size}, expected {size})",
                        lambda b=blob_id: (self.blobs.quarantine(
                            b, os.path.join(self.data_dir, "quarantine")),
                            self._expunge_blob_users(conn, ctx, b)),
                        f"blob {blob_id}: damaged file quarantined, its messages expunged")
        # 3. stray files
        for path in self.blobs.stale_temp_files():
            problem(f"temporary file {path}", lambda p=path: _unlink(p))
        for name, path in self._orphan_files(conn):
            problem(f"orphan file {name}", lambda p=path: _unlink(p))
        # 4. UIDNEXT and MODSEQ
        for mailbox_id, name, uidnext, hms, max_uid, max_modseq in conn.execute(
                "SELECT m.id, m.name, m.uidnext, m.highestmodseq,"
                " max(coalesce((SELECT max(uid) FROM messages WHERE mailbox_id = m.id), 0),"
                "     coalesce((SELECT max(uid) FROM expunged WHERE mailbox_id = m.id), 0)),"
                " max(coalesce((SELECT max(modseq) FROM messages WHERE mailbox_id = m.id), 0),"
                "     coalesce((SELECT max(modseq) FROM expunged WHERE mailbox_id = m.id), 0))"
                " FROM mailboxes m").fetchall():
            if uidnext <= max_uid:
                problem(f"mailbox {mailbox_id} {name!r}: UIDNEXT {uidnext} <= UID {max_uid}",
                        lambda i=mailbox_id, u=max_uid: conn.execute(
                            "UPDATE mailboxes SET uidnext = ? WHERE id = ?", (u + 1, i)))
            if hms < max_modseq:
                problem(f"mailbox {mailbox_id} {name!r}: HIGHESTMODSEQ {hms} < MODSEQ {max_modseq}",
                        lambda i=mailbox_id, m=max_modseq: (conn.execute(
                            "UPDATE mailboxes SET highestmodseq = ? WHERE id = ?", (m, i)),
                            ctx.changed.__setitem__(i, m)))
        bad = conn.execute("SELECT count(*) FROM messages WHERE append_modseq > modseq").fetchone()[0]
        if bad:
            problem(f"{bad} messages have an append MODSEQ above their MODSEQ",
                    lambda: conn.execute("UPDATE messages SET modseq = append_modseq"
                                         " WHERE append_modseq > modseq"))
        for row in conn.execute("PRAGMA foreign_key_check").fetchall():
            problem(f"foreign key violation: {row}")
        # 4b. quota usage counters (schema_004.sql) equal a fresh sum over
        # each account's messages (after the repairs above, which expunge
        # rows: the triggers keep the counters in step with them).
        # (No table: a store held below version 4, as migration tests do.)
        has_usage = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'account_usage'").fetchone()
        actual = {} if not has_usage else {row[0]: (row[1], row[2]) for row in conn.execute(
            "SELECT a.id, coalesce(sum(m.size), 0), count(m.uid) FROM accounts a"
            " LEFT JOIN mailboxes b ON b.account_id = a.id LEFT JOIN messages m ON m.mailbox_id = b.id"
            " GROUP BY a.id")}
        kept = {} if not has_usage else {row[0]: (row[1], row[2]) for row in conn.execute(
            "SELECT account_id, bytes, messages FROM account_usage")}
        for account_id, (used_bytes, used_messages) in sorted(actual.items()):
            counters = kept.get(account_id)
            if counters != (used_bytes, used_messages):
                shown = "missing" if counters is None else f"{counters[0]} bytes in {counters[1]} messages"
                problem(f"account {account_id}: quota usage {shown}, messages sum to"
                        f" {used_bytes} bytes in {used_messages} messages",
                        lambda a=account_id, b=used_bytes, n=used_messages: conn.execute(
                            "INSERT OR REPLACE INTO account_usage(account_id, bytes, messages)"
                            " VALUES (?, ?, ?)", (a, b, n)))
        # 5. the search index: a blob's doc exists; a doc belongs to a blob or
        # is queued for deletion (its FTS5 rows go with its search_doc row).
        for blob_id, doc in conn.execute(
                "SELECT id, doc FROM blobs WHERE doc IS NOT NULL"
                " AND doc NOT IN (SELECT doc FROM search_doc)").fetchall():
            problem(f"blob {blob_id}: search doc {doc} missing",
                    lambda b=blob_id: conn.execute("UPDATE blobs SET doc = NULL WHERE id = ?", (b,)),
                    f"blob {blob_id}: marked unindexed (indexed again)")
        for (doc,) in conn.execute(
                "SELECT doc FROM search_doc WHERE doc NOT IN (SELECT doc FROM blobs WHERE doc IS NOT NULL)"
                " AND doc NOT IN (SELECT doc FROM search_dead)").fetchall():
            problem(f"search doc {doc}: no blob refers to it",
                    lambda d=doc: conn.execute("INSERT INTO search_dead(doc) VALUES (?)", (d,)),
                    f"search doc {doc}: queued for deletion")
        for (doc,) in [] if SCHEMA_VERSION < _WORDS_SCHEMA else conn.execute(
                "SELECT doc FROM search_nowords WHERE doc NOT IN (SELECT doc FROM search_doc)").fetchall():
            problem(f"search doc {doc}: listed without words but missing",
                    lambda d=doc: conn.execute("DELETE FROM search_nowords WHERE doc = ?", (d,)))
        if repair:
            ctx.unreferenced = True
        return report

    def _expunge_blob_users(self, conn: sqlite3.Connection, ctx: _Ctx, blob_id: str) -> None:
        rows = conn.execute("SELECT mailbox_id, uid FROM messages WHERE blob_id = ?",
                            (blob_id,)).fetchall()
        by_mailbox: dict[int, list[int]] = {}
        for mailbox_id, uid in rows:
            by_mailbox.setdefault(mailbox_id, []).append(uid)
        for mailbox_id, uids in by_mailbox.items():
            _expunge_uids(conn, ctx, mailbox_id, uids)
        conn.execute("DELETE FROM blobs WHERE id = ?", (blob_id,))


# ---------------------------------------------------------------------------
# helpers shared by jobs and queries (plain functions of a connection)


def _split_sql(script: str) -> list[str]:
    statements, buf = [], []
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith("--") or not stripped:
            continue
        buf.append(line)
        joined = "\n".join(buf)
        if stripped.endswith(";") and sqlite3.complete_statement(joined):
            statements.append(joined)
            buf = []
    return statements


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _next_uidvalidity(conn: sqlite3.Connection) -> int:
    """Time-based and strictly increasing across the whole store, so a
    mailbox deleted and recreated under the same name gets a new one
    (RFC 9051 section 2.3.1.1). Stays below 2**32 until 2106."""
    last = conn.execute("SELECT value FROM meta WHERE key = 'last_uidvalidity'").fetchone()[0]
    value = max(int(time.time()), last + 1)
    if value >= 1 << 32:
        raise MailError(ErrorKind.TEMP, "UIDVALIDITY space exhausted")
    conn.execute("UPDATE meta SET value = ? WHERE key = 'last_uidvalidity'", (value,))
    return value


def _insert_mailbox(conn: sqlite3.Connection, account_id: int, name: str,
                    special_use: str | None, subscribed: bool = False,
                    uidnext: int = 1, highestmodseq: int = 1) -> MailboxInfo:
    uidvalidity = _next_uidvalidity(conn)
    cur = conn.execute(
        "INSERT INTO mailboxes(account_id, name, uidvalidity, uidnext, highestmodseq, subscribed,"
        " special_use) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (account_id, name, uidvalidity, uidnext, highestmodseq, int(subscribed), special_use))
    return MailboxInfo(cur.lastrowid, account_id, name, uidvalidity, uidnext, highestmodseq,
                       subscribed, special_use)


def _account_row(conn: sqlite3.Connection, account: str) -> tuple:
    row = conn.execute("SELECT id, quota_bytes, quota_messages FROM accounts WHERE name = ?",
                       (account,)).fetchone()
    if row is None:
        raise MailError(ErrorKind.NOT_FOUND, f"no account {account}")
    return row


def _account_id(conn: sqlite3.Connection, account: str) -> int:
    return _account_row(conn, account)[0]


def _mailbox_row(conn: sqlite3.Connection, account_id: int, name: str) -> tuple:
    row = conn.execute(f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? AND name = ?",
                       (account_id, name)).fetchone()
    if row is None:
        raise MailError(ErrorKind.NOT_FOUND, f"no mailbox {name!r}")
    return row


def _mailbox_by_id(conn: sqlite3.Connection, mailbox_id: int) -> tuple:
    row = conn.execute(f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?",
                       (mailbox_id,)).fetchone()
    if row is None:
        raise MailError(ErrorKind.NOT_FOUND, f"no mailbox with id {mailbox_id}")
    return row


def _check_quota(conn: sqlite3.Connection, account_row: tuple, add_bytes: int, add_messages: int) -> None:
    """Raise unless ``add_messages`` more messages of ``add_bytes`` in all
    fit the account's quota. What would not fit even an empty account is
    QUOTA_TOO_BIG (retrying never helps: LMTP 552 5.2.2); the rest is
    NO_QUOTA (expunging makes room: 452 4.2.2). Usage comes from the
    account_usage counters (schema_004.sql): one row, not a scan."""
    account_id, quota_bytes, quota_messages = account_row
    if quota_bytes is None and quota_messages is None:
        return
    if (quota_bytes is not None and add_bytes > quota_bytes) \
            or (quota_messages is not None and add_messages > quota_messages):
        raise MailError(ErrorKind.QUOTA_TOO_BIG, "Quota exceeded (message is larger than the quota limit)")
    row = conn.execute("SELECT bytes, messages FROM account_usage WHERE account_id = ?",
                       (account_id,)).fetchone()
    used_bytes, used_messages = row if row is not None else (0, 0)
    if (quota_bytes is not None and used_bytes + add_bytes > quota_bytes) \
            or (quota_messages is not None and used_messages + add_messages > quota_messages):
        raise MailError(ErrorKind.NO_QUOTA, "Quota exceeded (mailbox for user is full)")


def _bump(conn: sqlite3.Connection, ctx: _Ctx, mailbox_id: int, hms: int) -> int:
    modseq = hms + 1
    conn.execute("UPDATE mailboxes SET highestmodseq = ? WHERE id = ?", (modseq, mailbox_id))
    ctx.changed[mailbox_id] = modseq
    return modseq


def _expunge_uids(conn: sqlite3.Connection, ctx: _Ctx, mailbox_id: int, uids: Sequence[int]) -> int:
    """Delete rows, leave tombstones at one new MODSEQ; returns it."""
    hms = conn.execute("SELECT highestmodseq FROM mailboxes WHERE id = ?", (mailbox_id,)).fetchone()[0]
    modseq = _bump(conn, ctx, mailbox_id, hms)
    for chunk in _chunks(list(uids)):
        marks = ",".join("?" * len(chunk))
        conn.execute(f"INSERT OR REPLACE INTO expunged(mailbox_id, uid, modseq, append_modseq)"
                     f" SELECT mailbox_id, uid, ?, append_modseq FROM messages"
                     f" WHERE mailbox_id = ? AND uid IN ({marks})", (modseq, mailbox_id, *chunk))
        conn.execute(f"DELETE FROM messages WHERE mailbox_id = ? AND uid IN ({marks})",
                     (mailbox_id, *chunk))
    ctx.unreferenced = True
    return modseq


# -- account jobs -----------------------------------------------------------


def _tx_update_account(conn: sqlite3.Connection, ctx: _Ctx, account: str, assignments: str,
                       values: tuple) -> None:
    cur = conn.execute(f"UPDATE accounts SET {assignments} WHERE name = ?", (*values, account))
    if cur.rowcount == 0:
        raise MailError(ErrorKind.NOT_FOUND, f"no account {account}")


def _tx_set_setting(conn: sqlite3.Connection, ctx: _Ctx, account: str, key: str, value: str) -> None:
    account_id = _account_id(conn, account)
    conn.execute("INSERT INTO account_settings(account_id, key, value) VALUES (?, ?, ?)"
                 " ON CONFLICT(account_id, key) DO UPDATE SET value = excluded.value",
                 (account_id, key, value))


def _tx_delete_account(conn: sqlite3.Connection, ctx: _Ctx, account: str) -> None:
    account_id = _account_id(conn, account)
    for (mailbox_id,) in conn.execute("SELECT id FROM mailboxes WHERE account_id = ?", (account_id,)):
        ctx.changed[mailbox_id] = _GONE
    conn.execute("DELETE FROM accounts WHERE id = ?", (account_id,))
    ctx.unreferenced = True


def _tx_add_alias(conn: sqlite3.Connection, ctx: _Ctx, address: str, account: str) -> None:
    account_id = _account_id(conn, account)
    if conn.execute("SELECT 1 FROM accounts WHERE name = ?", (address,)).fetchone() \
            or conn.execute("SELECT 1 FROM aliases WHERE address = ?", (address,)).fetchone():
        raise MailError(ErrorKind.EXISTS, f"address {address} is taken")
    conn.execute("INSERT INTO aliases(address, account_id) VALUES (?, ?)", (address, account_id))


def _r_account(conn: sqlite3.Connection, account: str) -> AccountInfo | None:
    row = conn.execute("SELECT id, name, password_hash, scram, quota_bytes, quota_messages"
                       " FROM accounts WHERE name = ?", (account,)).fetchone()
    if row is None:
        return None
    settings = dict(conn.execute("SELECT key, value FROM account_settings WHERE account_id = ?",
                                 (row[0],)))
    return AccountInfo(*row, settings=settings)


def _r_accounts(conn: sqlite3.Connection) -> list[AccountInfo]:
    conn.execute("BEGIN")
    settings: dict[int, dict[str, str]] = {}
    for account_id, key, value in conn.execute("SELECT account_id, key, value FROM account_settings"):
        settings.setdefault(account_id, {})[key] = value
    return [AccountInfo(*row, settings=settings.get(row[0], {})) for row in conn.execute(
        "SELECT id, name, password_hash, scram, quota_bytes, quota_messages FROM accounts ORDER BY name")]


# -- Sieve scripts and vacation memory (schema_006.sql) ------------------------


def _tx_sieve_put(conn: sqlite3.Connection, ctx: _Ctx, account: str, name: str, script: str, now: int) -> None:
    conn.execute("INSERT INTO sieve_scripts(account_id, name, script, updated) VALUES (?, ?, ?, ?)"
                 " ON CONFLICT(account_id, name) DO UPDATE SET script = excluded.script,"
                 " updated = excluded.updated", (_account_id(conn, account), name, script, now))


def _script_row(conn: sqlite3.Connection, account: str, name: str) -> tuple[int, int]:
    """(account id, active) of a script; NOT_FOUND if there is none."""
    account_id = _account_id(conn, account)
    row = conn.execute("SELECT active FROM sieve_scripts WHERE account_id = ? AND name = ?",
                       (account_id, name)).fetchone()
    if row is None:
        raise MailError(ErrorKind.NOT_FOUND, f"no script {name!r}")
    return account_id, row[0]


def _r_sieve_get(conn: sqlite3.Connection, account: str, name: str) -> str:
    account_id, _ = _script_row(conn, account, name)
    return conn.execute("SELECT script FROM sieve_scripts WHERE account_id = ? AND name = ?",
                        (account_id, name)).fetchone()[0]


def _r_sieve_list(conn: sqlite3.Connection, account: str) -> list[tuple[str, bool]]:
    return [(name, bool(active)) for name, active in conn.execute(
        "SELECT name, active FROM sieve_scripts WHERE account_id = ? ORDER BY name",
        (_account_id(conn, account),))]


def _tx_sieve_activate(conn: sqlite3.Connection, ctx: _Ctx, account: str, name: str | None) -> None:
    # RFC 5804 2.8: an empty name deactivates; otherwise the one named
    # becomes the only active script.
    account_id = _account_id(conn, account) if name is None else _script_row(conn, account, name)[0]
    conn.execute("UPDATE sieve_scripts SET active = 0 WHERE account_id = ? AND active", (account_id,))
    if name is not None:
        conn.execute("UPDATE sieve_scripts SET active = 1 WHERE account_id = ? AND name = ?",
                     (account_id, name))


def _tx_sieve_delete(conn: sqlite3.Connection, ctx: _Ctx, account: str, name: str) -> None:
    account_id, active = _script_row(conn, account, name)
    if active:
        # RFC 5804 2.10: the active script cannot be deleted (NO (ACTIVE)).
        raise MailError(ErrorKind.IN_USE, f"script {name!r} is active")
    conn.execute("DELETE FROM sieve_scripts WHERE account_id = ? AND name = ?", (account_id, name))


def _tx_sieve_rename(conn: sqlite3.Connection, ctx: _Ctx, account: str, old: str, new: str) -> None:
    account_id, _ = _script_row(conn, account, old)
    if conn.execute("SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ?",
                    (account_id, new)).fetchone():
        raise MailError(ErrorKind.EXISTS, f"script {new!r} exists")
    conn.execute("UPDATE sieve_scripts SET name = ? WHERE account_id = ? AND name = ?", (new, account_id, old))


def _r_sieve_active(conn: sqlite3.Connection, account: str) -> tuple[str, str] | None:
    row = conn.execute("SELECT s.name, s.script FROM sieve_scripts s JOIN accounts a ON a.id = s.account_id"
                       " WHERE a.name = ? AND s.active", (account,)).fetchone()
    return None if row is None else (row[0], row[1])


def _tx_vacation(conn: sqlite3.Connection, ctx: _Ctx, account: str, sender: str, handle: str,
                 period: float, now: int) -> bool:
    """RFC 5230 4.2: at most one reply per sender and handle per period;
    the check and the record are one transaction (two deliveries at once
    send one reply)."""
    account_id = _account_id(conn, account)
    row = conn.execute("SELECT replied FROM sieve_vacation WHERE account_id = ? AND sender = ? AND handle = ?",
                       (account_id, sender, handle)).fetchone()
    if row is not None and now - row[0] < period:
        return False
    conn.execute("INSERT OR REPLACE INTO sieve_vacation(account_id, sender, handle, replied) VALUES (?, ?, ?, ?)",
                 (account_id, sender, handle, now))
    return True


def _r_quota(conn: sqlite3.Connection, account: str) -> QuotaInfo:
    row = conn.execute("SELECT a.quota_bytes, a.quota_messages, coalesce(u.bytes, 0), coalesce(u.messages, 0)"
                       " FROM accounts a LEFT JOIN account_usage u ON u.account_id = a.id"
                       " WHERE a.name = ?", (account,)).fetchone()
    if row is None:
        raise MailError(ErrorKind.NOT_FOUND, f"no account {account}")
    return QuotaInfo(*row)


def _r_resolve(conn: sqlite3.Connection, address: str) -> str | None:
    row = conn.execute("SELECT name FROM accounts WHERE name = ?", (address,)).fetchone()
    if row is None:
        row = conn.execute("SELECT a.name FROM aliases l JOIN accounts a ON a.id = l.account_id"
                           " WHERE l.address = ?", (address,)).fetchone()
    return row[0] if row else None


# -- mailbox jobs -----------------------------------------------------------


def _r_list_mailboxes(conn: sqlite3.Connection, account: str) -> list[MailboxInfo]:
    account_id = _account_id(conn, account)
    return [_mailbox(row) for row in conn.execute(
        f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? ORDER BY name", (account_id,))]


def _r_get_mailbox(conn: sqlite3.Connection, account: str, name: str) -> MailboxInfo:
    return _mailbox(_mailbox_row(conn, _account_id(conn, account), name))


def _tx_create_mailbox(conn: sqlite3.Connection, ctx: _Ctx, account: str, name: str,
                       special_use: str | None) -> MailboxInfo:
    account_id = _account_id(conn, account)
    if conn.execute("SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?",
                    (account_id, name)).fetchone():
        raise MailError(ErrorKind.EXISTS, f"mailbox {name!r} exists")
    _create_parents(conn, account_id, name)
    return _insert_mailbox(conn, account_id, name, special_use)


def _create_parents(conn: sqlite3.Connection, account_id: int, name: str) -> None:
    for parent in names.parents(name):
        if not conn.execute("SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?",
                            (account_id, parent)).fetchone():
            _insert_mailbox(conn, account_id, parent, None)


def _tx_delete_mailbox(conn: sqlite3.Connection, ctx: _Ctx, account: str, name: str) -> None:
    box = _mailbox_row(conn, _account_id(conn, account), name)
    conn.execute("DELETE FROM mailboxes WHERE id = ?", (box[0],))
    ctx.changed[box[0]] = _GONE
    ctx.unreferenced = True


def _tx_rename_mailbox(conn: sqlite3.Connection, ctx: _Ctx, account: str, old: str, new: str) -> None:
    account_id = _account_id(conn, account)
    box = _mailbox_row(conn, account_id, old)
    if old == new or names.is_inbox(new):
        raise MailError(ErrorKind.EXISTS, f"mailbox {new!r} exists")
    if conn.execute("SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?",
                    (account_id, new)).fetchone():
        raise MailError(ErrorKind.EXISTS, f"mailbox {new!r} exists")
    if names.is_inbox(old):
        # RFC 9051 6.3.6: move INBOX's messages into a new mailbox; INBOX
        # stays, empty, with its UIDVALIDITY and UIDNEXT; its inferiors are
        # not renamed. The UIDs move with the messages: the new mailbox has a
        # fresh UIDVALIDITY, so keeping them is allowed and cheap.
        _create_parents(conn, account_id, new)
        target = _insert_mailbox(conn, account_id, new, None, uidnext=box[4], highestmodseq=box[5])
        modseq = _bump(conn, ctx, box[0], box[5])
        conn.execute("INSERT OR REPLACE INTO expunged(mailbox_id, uid, modseq, append_modseq)"
                     " SELECT mailbox_id, uid, ?, append_modseq FROM messages WHERE mailbox_id = ?",
                     (modseq, box[0]))
        conn.execute("UPDATE messages SET mailbox_id = ? WHERE mailbox_id = ?", (target.id, box[0]))
        return
    if names.is_descendant(new, old):
        raise MailError(ErrorKind.NOT_ALLOWED, "cannot rename a mailbox into itself")
    prefix = old + "/"
    children = conn.execute("SELECT id, name FROM mailboxes WHERE account_id = ? AND"
                            " substr(name, 1, ?) = ?", (account_id, len(prefix), prefix)).fetchall()
    renames = [(box[0], new)] + [(cid, new + cname[len(old):]) for cid, cname in children]
    for _, target_name in renames[1:]:
        names.mailbox_name(target_name)  # the new names must be valid too (length, depth)
        if conn.execute("SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?",
                        (account_id, target_name)).fetchone():
            raise MailError(ErrorKind.EXISTS, f"mailbox {target_name!r} exists")
    conn.executemany("UPDATE mailboxes SET name = ? WHERE id = ?",
                     [(target_name, mid) for mid, target_name in renames])
    _create_parents(conn, account_id, new)


def _tx_set_subscribed(conn: sqlite3.Connection, ctx: _Ctx, account: str, name: str,
                       subscribed: bool) -> None:
    box = _mailbox_row(conn, _account_id(conn, account), name)
    conn.execute("UPDATE mailboxes SET subscribed = ? WHERE id = ?", (int(subscribed), box[0]))


def _r_status(conn: sqlite3.Connection, account: str, name: str) -> MailboxStatus:
    conn.execute("BEGIN")
    box = _mailbox(_mailbox_row(conn, _account_id(conn, account), name))
    messages, unseen, deleted, size, deleted_size = conn.execute(
        "SELECT count(*), coalesce(sum((sysflags & 1) = 0), 0), coalesce(sum((sysflags & 8) != 0), 0),"
        " coalesce(sum(size), 0), coalesce(sum(CASE WHEN sysflags & 8 THEN size ELSE 0 END), 0)"
        " FROM messages WHERE mailbox_id = ?", (box.id,)).fetchone()
    return MailboxStatus(box, messages, unseen, deleted, size, deleted_size=deleted_size)


# -- message jobs and queries ------------------------------------------------


def _r_highestmodseq(conn: sqlite3.Connection, mailbox_id: int) -> int | None:
    row = conn.execute("SELECT highestmodseq FROM mailboxes WHERE id = ?", (mailbox_id,)).fetchone()
    return row[0] if row else None


def _r_snapshot(conn: sqlite3.Connection, account: str, name: str) -> MailboxSnapshot:
    conn.execute("BEGIN")
    box = _mailbox(_mailbox_row(conn, _account_id(conn, account), name))
    rows = conn.execute(f"SELECT {_META_COLUMNS} FROM messages WHERE mailbox_id = ? ORDER BY uid",
                        (box.id,)).fetchall()
    return MailboxSnapshot(box, _metas(rows))


def _r_table(conn: sqlite3.Connection, account: str, name: str) -> tuple[MailboxInfo, MessageTable]:
    """Columns straight from the rows: no MessageMeta, no datetime per row."""
    conn.execute("BEGIN")
    box = _mailbox(_mailbox_row(conn, _account_id(conn, account), name))
    table = MessageTable()
    flagset = table.flagset_id
    ids: dict[tuple[int, str], int] = {}
    uids, modseqs, fsids, sizes = table.uids, table.modseqs, table.fsids, table.sizes
    idates, itzs, sdates, blob_ids = table.idates, table.itzs, table.sdates, table.blob_ids
    for uid, modseq, bits, keywords, idate, itz, sdate, size, blob_id, _uidl in conn.execute(
        f"SELECT {_META_COLUMNS} FROM messages WHERE mailbox_id = ? ORDER BY uid", (box.id,)
    ):
        key = (bits, keywords)
        fs = ids.get(key)
        if fs is None:
            fs = ids[key] = flagset(_flagset(bits, keywords))
        uids.append(uid)
        modseqs.append(modseq)
        fsids.append(fs)
        sizes.append(size)
        idates.append(idate)
        itzs.append(itz)
        sdates.append(sdate)
        blob_ids.append(blob_id)
    return box, table


def _r_fetch_meta(conn: sqlite3.Connection, mailbox_id: int, uids: list[int]) -> list[MessageMeta]:
    if not uids:
        return []
    conn.execute("BEGIN")
    rows: list[tuple] = []
    if uids[-1] - uids[0] < 4 * len(uids):
        # Dense (the usual 1:* or a range): one range scan, filtered here.
        wanted = set(uids)
        rows = [row for row in conn.execute(
            f"SELECT {_META_COLUMNS} FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ?"
            " ORDER BY uid", (mailbox_id, uids[0], uids[-1])) if row[0] in wanted]
    else:
        for chunk in _chunks(uids):
            marks = ",".join("?" * len(chunk))
            rows.extend(conn.execute(
                f"SELECT {_META_COLUMNS} FROM messages WHERE mailbox_id = ? AND uid IN ({marks})"
                " ORDER BY uid", (mailbox_id, *chunk)))
    return list(_metas(rows))


def _r_analysis(conn: sqlite3.Connection, mailbox_id: int, uid: int) -> bytes:
    row = conn.execute("SELECT b.analysis FROM messages m JOIN blobs b ON b.id = m.blob_id"
                       " WHERE m.mailbox_id = ? AND m.uid = ?", (mailbox_id, uid)).fetchone()
    if row is None:
        raise MailError(ErrorKind.EXPUNGED, f"no message with UID {uid}")
    return bytes(row[0])


def _r_analyses(conn: sqlite3.Connection, mailbox_id: int, uids: list[int]) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    if not uids:
        return out
    conn.execute("BEGIN")
    for chunk in _chunks(uids):
        marks = ",".join("?" * len(chunk))
        for uid, analysis in conn.execute(
                "SELECT m.uid, b.analysis FROM messages m JOIN blobs b ON b.id = m.blob_id"
                f" WHERE m.mailbox_id = ? AND m.uid IN ({marks})", (mailbox_id, *chunk)):
            out[uid] = bytes(analysis)
    return out


def _tx_store_flags(conn: sqlite3.Connection, ctx: _Ctx, mailbox_id: int, uids: list[int],
                    mode: FlagMode, bits: int, keywords: dict[str, str],
                    unchanged_since: int | None) -> tuple[list[FlagUpdate], list[int]]:
    box = _mailbox_by_id(conn, mailbox_id)
    rows: list[tuple] = []
    for chunk in _chunks(uids):
        marks = ",".join("?" * len(chunk))
        rows.extend(conn.execute(f"SELECT uid, modseq, sysflags, keywords FROM messages"
                                 f" WHERE mailbox_id = ? AND uid IN ({marks})", (mailbox_id, *chunk)))
    rows.sort()
    changes, failed = _flag_changes(rows, mode, bits, keywords, unchanged_since)
    if not changes:
        return [], failed
    # One MODSEQ for the whole STORE: RFC 7162 3.1 requires only that it
    # exceed the previous HIGHESTMODSEQ (Dovecot does the same per transaction).
    modseq = _bump(conn, ctx, mailbox_id, box[5])
    conn.executemany("UPDATE messages SET sysflags = ?, keywords = ?, modseq = ?"
                     " WHERE mailbox_id = ? AND uid = ?",
                     [(b, k, modseq, mailbox_id, uid) for uid, b, k in changes])
    return [FlagUpdate(uid, _flagset(b, k), modseq) for uid, b, k in changes], failed


def _tx_copy(conn: sqlite3.Connection, ctx: _Ctx, mailbox_id: int, uids: list[int],
             account: str, target: str, move: bool) -> list[tuple[int, int]]:
    source = _mailbox_by_id(conn, mailbox_id)
    account_row = _account_row(conn, account)
    box = _mailbox_row(conn, account_row[0], target)
    if move and box[0] == mailbox_id:
        raise MailError(ErrorKind.NOT_ALLOWED, "cannot move messages into their own mailbox")
    rows: list[tuple] = []
    for chunk in _chunks(uids):
        marks = ",".join("?" * len(chunk))
        rows.extend(conn.execute(
            f"SELECT uid, sysflags, keywords, internal_date, internal_tz, size, blob_id FROM messages"
            f" WHERE mailbox_id = ? AND uid IN ({marks})", (mailbox_id, *chunk)))
    if not rows:
        return []
    rows.sort()
    if not (move and source[1] == account_row[0]):  # a move within an account adds nothing
        _check_quota(conn, account_row, sum(r[5] for r in rows), len(rows))
    uidnext, modseq = box[4], box[5] + 1
    now = int(time.time())
    mapping = []
    inserts = []
    for offset, (uid, bits, keywords, idate, itz, size, blob_id) in enumerate(rows):
        new_uid = uidnext + offset
        mapping.append((uid, new_uid))
        inserts.append((box[0], new_uid, modseq, modseq, bits, keywords, idate, itz, now, size, blob_id))
    conn.executemany(
        "INSERT INTO messages(mailbox_id, uid, modseq, append_modseq, sysflags, keywords,"
        " internal_date, internal_tz, save_date, size, blob_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        inserts)
    conn.execute("UPDATE mailboxes SET uidnext = ?, highestmodseq = ? WHERE id = ?",
                 (uidnext + len(rows), modseq, box[0]))
    ctx.changed[box[0]] = modseq
    if move:
        _expunge_uids(conn, ctx, mailbox_id, [uid for uid, _ in mapping])
    return mapping


def _tx_expunge(conn: sqlite3.Connection, ctx: _Ctx, mailbox_id: int,
                uids: list[int] | None) -> list[int]:
    _mailbox_by_id(conn, mailbox_id)
    if uids is None:
        found = [r[0] for r in conn.execute(
            "SELECT uid FROM messages WHERE mailbox_id = ? AND sysflags & 8 ORDER BY uid",
            (mailbox_id,))]
    else:
        found = []
        for chunk in _chunks(uids):
            marks = ",".join("?" * len(chunk))
            found.extend(r[0] for r in conn.execute(
                f"SELECT uid FROM messages WHERE mailbox_id = ? AND sysflags & 8 AND uid IN ({marks})",
                (mailbox_id, *chunk)))
        found.sort()
    if found:
        _expunge_uids(conn, ctx, mailbox_id, found)
    return found


def _tx_set_uidls(conn: sqlite3.Connection, ctx: _Ctx, mailbox_id: int,
                  items: list[tuple[int, str | None]]) -> int:
    _mailbox_by_id(conn, mailbox_id)
    changed = 0
    for uid, uidl in items:
        changed += conn.execute("UPDATE messages SET explicit_uidl = ? WHERE mailbox_id = ? AND uid = ?",
                                (uidl, mailbox_id, uid)).rowcount
    return changed


def _r_changes(conn: sqlite3.Connection, mailbox_id: int, since: int) -> Changes:
    conn.execute("BEGIN")
    box = _mailbox_by_id(conn, mailbox_id)
    floor = conn.execute("SELECT expunge_floor FROM mailboxes WHERE id = ?", (mailbox_id,)).fetchone()[0]
    # INDEXED BY: without ANALYZE statistics the planner prefers the primary
    # key (to avoid sorting) and scans the whole mailbox; IDLE asks this
    # after every delivery, so it must be a short range scan of the index.
    rows = conn.execute(f"SELECT {_META_COLUMNS}, append_modseq FROM messages"
                        f" INDEXED BY messages_modseq WHERE mailbox_id = ? AND modseq > ?",
                        (mailbox_id, since)).fetchall()
    rows.sort()
    appended, updates = _split_changed(rows, since)
    # An appended-then-expunged UID was never seen by the caller: drop it.
    expunged = [r[0] for r in conn.execute(
        "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? AND append_modseq <= ?"
        " ORDER BY uid", (mailbox_id, since, since))]
    if since < floor:
        # Tombstones older than the floor were pruned: we cannot tell which of
        # them the caller saw, so report every UID below UIDNEXT that is gone
        # (a caller ignores UIDs it never knew; RFC 7162 3.2.5.1 allows the
        # same over-reporting for VANISHED).
        present = {r[0] for r in conn.execute("SELECT uid FROM messages WHERE mailbox_id = ?",
                                              (mailbox_id,))}
        present.update(m.uid for m in appended)
        expunged = [uid for uid in range(1, box[4]) if uid not in present]
    return Changes(mailbox_id, box[5], box[4], tuple(expunged), appended, tuple(updates))


# -- the search index (see "Search index" above) -----------------------------

#: Header fields with a column of their own in ``search_fields``: HEADER /
#: FROM / TO / CC / BCC / SUBJECT on them is answered by the index alone.
#: Other fields are looked for in ``search_hdr`` (every "Name: value" line)
#: and the candidates confirmed against the stored analysis.
# Blobs found above which search_text maps them to UIDs by one scan of the
# mailbox rather than one index lookup each.
_LOOKUP_MAX = 2000
# Separates the texts compressed together in search_doc.hz (none holds a NUL).
_SEP = b"\x00"
_FIELDS_INSERT = (f"INSERT INTO search_fields(rowid, {', '.join(_HEADER_COLUMNS.values())})"
                  f" VALUES (?, {', '.join('?' * len(_HEADER_COLUMNS))})")
_FIELDS_DELETE = (f"INSERT INTO search_fields(search_fields, rowid, {', '.join(_HEADER_COLUMNS.values())})"
                  f" VALUES ('delete', ?, {', '.join('?' * len(_HEADER_COLUMNS))})")


def _compress_doc(columns: tuple[str, ...]) -> tuple[bytes, bytes]:
    """search_doc's (hz, bz) for ``search_columns``' texts."""
    hdr, body, *fields = columns
    return (zlib.compress(_SEP.join(t.encode() for t in (hdr, *fields))),
            zlib.compress(body.encode()))


def _decompress_doc(hz: bytes, bz: bytes) -> tuple[str, ...]:
    """The inverse of :func:`_compress_doc`: the texts in ``_COLUMNS`` order."""
    hdr, *fields = zlib.decompress(hz).split(_SEP)
    return (hdr.decode(), zlib.decompress(bz).decode(), *(f.decode() for f in fields))


# What a term is looked up in: the exact field index, or candidates from
# trigram presence in the header lines / the body (confirmed against search_doc).
FIELDS, HDR, BODY_TEXT, TEXT = "fields", "hdr", "body", "text"


@dataclass(frozen=True)
class _Term:
    kind: str                 # FIELDS | HDR | BODY_TEXT | TEXT
    match: str                # the FTS5 query
    needle: str               # folded
    field_name: str | None    # HDR: the field to confirm candidates against (analysis)
    words: bool = False       # BODY_TEXT / TEXT: the body side may take the word path


def _trigrams(needle: str) -> str:
    """An FTS5 query: every distinct trigram of ``needle`` present."""
    seen: list[str] = []
    for i in range(len(needle) - 2):
        gram = needle[i : i + 3]
        if gram not in seen:
            seen.append(gram)
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in seen)


def _fts_term(key: TextKey) -> _Term:
    needle = fold(key.text)
    words = _WORD_NEEDLE.fullmatch(needle) is not None
    if isinstance(key, Body):
        return _Term(BODY_TEXT, _trigrams(needle), needle, None, words)
    if isinstance(key, Header):
        column = _HEADER_COLUMNS.get(key.name)
        # A field given twice is stored as its values joined by newlines: a
        # needle with a newline could match across two values; confirm it.
        if column is not None and "\n" not in needle:
            return _Term(FIELDS, f"{column} : " + '"' + needle.replace('"', '""') + '"', needle, None)
        return _Term(HDR, _trigrams(needle), needle, key.name)
    return _Term(TEXT, _trigrams(needle), needle, None, words)


def _candidates(conn: sqlite3.Connection, table: str, column: str, term: _Term,
                known: set[str] = frozenset()) -> set[str]:  # type: ignore[assignment]
    """Blobs whose text in ``table`` (search_hdr / search_body) contains the
    needle: trigram presence, confirmed against search_doc.``column``
    (not needed for a needle of one trigram), except blobs in ``known``."""
    if len(term.needle) == 3:
        return {r[0] for r in conn.execute(
            f"SELECT b.id FROM {table} s JOIN blobs b ON b.doc = s.rowid WHERE {table} MATCH ?",
            (term.match,))}
    needle = term.needle.encode()
    found = set()
    # UTF-8 is self-synchronising: a byte substring of valid UTF-8 is a
    # character substring, so the decoded text is never built.
    for blob_id, z in conn.execute(
            f"SELECT b.id, d.{column} FROM {table} s JOIN blobs b ON b.doc = s.rowid"
            f" JOIN search_doc d ON d.doc = s.rowid WHERE {table} MATCH ?", (term.match,)):
        if blob_id in known:
            continue
        text = zlib.decompress(z)
        if column == "hz":
            text = text.split(_SEP, 1)[0]
        if needle in text:
            found.add(blob_id)
    return found


# -- the word path (schema_007.sql) --
#
# A folded needle of ASCII letters and digits only lies, wherever it occurs
# in the folded body text, inside one unicode61 word (ASCII letters and
# digits are word characters, every other ASCII character a separator), and
# that word as search_bodywords stores it holds the needle at the same
# place: unicode61 folds character by character (remove_diacritics 0:
# nothing is dropped), ASCII lower-case letters and digits fold to
# themselves, and no character of casefolded text folds to an ASCII one
# (checked over every code point: the only characters that lower-case to
# ASCII, A-Z, U+0130 and U+212A, never survive str.casefold()). So "the
# body contains the needle" is exactly "the body has a word containing the
# needle", and BODY is the union of those words' doclists, with no
# confirmation. Two limits keep it exact: FTS5 truncates a word at 32 KB,
# so a doc with a run of 8192 characters (up to 4 bytes each) without an
# ASCII separator gets no words and is listed in search_nowords, as are
# docs indexed before version 7 until the indexer has given them theirs;
# the word path confirms the docs listed there the old way, or, when there
# are more than _NOWORDS_MAX (a backfill under way), is not taken at all.
#
# The vocabulary must hold every word search_bodywords holds (those with
# three ASCII letters or digits in a row: only they can contain such a
# needle). A word is looked up with an FTS5 string ("word"), which
# unicode61 tokenizes again: a vocabulary term that is not exactly one of
# its words would either match nothing (a piece of a longer word, as
# splitting on "not str.isalnum()" gives beside private-use or
# newly-assigned characters, which unicode61's Unicode 6.1 tables class
# otherwise) or be a phrase, which detail=none refuses. So the words are
# not guessed in Python: the batch's body texts are also inserted into a
# temporary FTS5 table with the same tokenizer, and its fts5vocab table
# lists them exactly as SQLite does (the backfill, which does it with the
# rest, takes ~0.17 ms per message in the writer).

# Needles answered from the word index (folded; three or more characters,
# as the trigram path needs).
_WORD_NEEDLE = re.compile(r"[a-z0-9]{3,}")
# Vocabulary terms: words that contain such a needle.
_VOCAB_TERM_GLOB = "*[a-z0-9][a-z0-9][a-z0-9]*"
# A run that may be a word FTS5 truncates (over 32 KB of UTF-8).
_LONG_RUN = re.compile(r"[^\x00-/:-@\[-`{-\x7f]{8192}")
# More words containing the needle than this (a short needle in very many
# words): the trigram path (an OR of that many doclists is no longer cheap).
_WORD_TERMS_MAX = 500
# More docs without words than this: the trigram path.
_NOWORDS_MAX = 200
# Docs given their words per write job by the backfill.
WORDS_BATCH = 64


def _word_hits(conn: sqlite3.Connection, mailbox_id: int,
               needle: str) -> tuple[set[str], set[int]] | None:
    """The messages of the mailbox whose body text contains ``needle`` (see
    "the word path"), as (blobs, UIDs): docs with words are mapped to UIDs
    by the query (index lookups per hit: no scan of the mailbox), docs
    without are confirmed here and returned as blobs; or None if the word
    path does not apply now."""
    if SCHEMA_VERSION < _WORDS_SCHEMA or conn.execute("SELECT count(*) FROM (SELECT 1 FROM search_nowords LIMIT ?)",
                    (_NOWORDS_MAX + 1,)).fetchone()[0] > _NOWORDS_MAX:
        return None
    terms = []
    for (term,) in conn.execute("SELECT term FROM search_vocab_tri WHERE search_vocab_tri MATCH ?",
                                (_trigrams(needle),)):
        if needle in term:
            terms.append(term)
            if len(terms) > _WORD_TERMS_MAX:
                return None
    uids: set[int] = set()
    if terms:
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        docs = [r[0] for r in conn.execute(
            "SELECT rowid FROM search_bodywords WHERE search_bodywords MATCH ?", (match,))]
        if len(docs) <= _LOOKUP_MAX:
            uids.update(r[0] for r in conn.execute(
                "SELECT m.uid FROM json_each(?) j JOIN blobs b ON b.doc = j.value"
                " JOIN messages m INDEXED BY messages_blob ON m.blob_id = b.id"
                " WHERE m.mailbox_id = ?", (json.dumps(docs), mailbox_id)))
        else:
            # A common word: two index lookups per document cost more than
            # the FTS query (34,695 of 100,000: 24 ms); the mailbox's
            # document -> UID map, kept while the mailbox and index stand
            # still, answers in a few.
            doc_uids = _doc_map(conn, mailbox_id)
            for doc in docs:
                found = doc_uids.get(doc)
                if found is not None:
                    if isinstance(found, int):
                        uids.add(found)
                    else:
                        uids.update(found)
    blobs: set[str] = set()
    raw = needle.encode()
    # CROSS JOIN: from the (few) listed docs, not a scan of every blob.
    for blob_id, z in conn.execute("SELECT b.id, d.bz FROM search_nowords n CROSS JOIN blobs b ON b.doc = n.doc"
                                   " CROSS JOIN search_doc d ON d.doc = n.doc"):
        try:
            if raw in zlib.decompress(z):
                blobs.add(blob_id)
        except zlib.error:
            pass  # damaged: never matches (check() does not look inside)
    return blobs, uids


# Per mailbox: (key, {doc: uid or [uids]}); see _doc_map. A few mailboxes
# (~10 MB per 100,000 messages), shared by the reader threads.
_DOC_MAPS: dict[tuple[str, int], tuple[tuple, dict[int, Any]]] = {}
_DOC_MAPS_MAX = 4
_DOC_MAPS_LOCK = threading.Lock()


def _doc_map(conn: sqlite3.Connection, mailbox_id: int) -> dict[int, Any]:
    """The mailbox's indexed documents -> the UIDs whose blob they are, as
    of the caller's read transaction. Kept between searches under a key
    that changes whenever the mapping could: UIDNEXT (appends, copies,
    moves in), the message count (expunges, moves out), the highest
    document (a blob indexed, or indexed again after deletion) and the
    number of blobs waiting to be indexed (check --repair unindexing one)."""
    key = conn.execute(
        "SELECT uidnext, (SELECT count(*) FROM messages WHERE mailbox_id = ?1),"
        " (SELECT max(doc) FROM blobs WHERE doc IS NOT NULL),"  # the condition lets it use blobs_doc
        " (SELECT count(*) FROM blobs INDEXED BY blobs_unindexed"
        " WHERE doc IS NULL) FROM mailboxes WHERE id = ?1", (mailbox_id,)).fetchone()
    # Per database file: a process may open several stores (tests, tools).
    slot = (conn.execute("PRAGMA database_list").fetchone()[2], mailbox_id)
    with _DOC_MAPS_LOCK:
        cached = _DOC_MAPS.get(slot)
    if cached is not None and cached[0] == key:
        return cached[1]
    mapping: dict[int, Any] = {}
    for uid, doc in conn.execute("SELECT m.uid, b.doc FROM messages m JOIN blobs b INDEXED BY blobs_doc_by_id"
                                 " ON b.id = m.blob_id WHERE m.mailbox_id = ? AND b.doc IS NOT NULL",
                                 (mailbox_id,)):
        had = mapping.get(doc)
        mapping[doc] = uid if had is None else ([had, uid] if isinstance(had, int) else had + [uid])
    with _DOC_MAPS_LOCK:
        _DOC_MAPS.pop(slot, None)
        while len(_DOC_MAPS) >= _DOC_MAPS_MAX:
            del _DOC_MAPS[next(iter(_DOC_MAPS))]
        _DOC_MAPS[slot] = (key, mapping)
    return mapping


_TOKENIZER = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.words_tok USING fts5("
    "t, tokenize = 'unicode61 remove_diacritics 0', content = '', columnsize = 0, detail = none)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.words_tok_v USING fts5vocab(temp, words_tok, row)")


def _put_words(conn: sqlite3.Connection, bodies: list[tuple[int, str]]) -> list[int]:
    """Insert each (doc, body text) into search_bodywords and its new words
    into the vocabulary; return the docs not given words (a long run)."""
    if SCHEMA_VERSION < _WORDS_SCHEMA:
        return []
    long = []
    texts = []
    for doc, body in bodies:
        if _LONG_RUN.search(body):
            long.append(doc)
            continue
        conn.execute("INSERT INTO search_bodywords(rowid, t) VALUES (?, ?)", (doc, body))
        texts.append(body)
    if texts:
        for statement in _TOKENIZER:
            conn.execute(statement)
        conn.execute("INSERT INTO temp.words_tok(rowid, t) VALUES (1, ?)", ("\n".join(texts),))
        new = conn.execute(
            "INSERT INTO search_vocab(term) SELECT v.term FROM temp.words_tok_v v"
            " WHERE v.term GLOB ? AND NOT EXISTS (SELECT 1 FROM search_vocab w WHERE w.term = v.term)"
            " RETURNING id, term", (_VOCAB_TERM_GLOB,)).fetchall()
        conn.executemany("INSERT INTO search_vocab_tri(rowid, term) VALUES (?, ?)", new)
        conn.execute("INSERT INTO temp.words_tok(words_tok) VALUES ('delete-all')")
    return long


def _term_hits(conn: sqlite3.Connection, mailbox_id: int, term: _Term) -> tuple[set[str], set[int]]:
    """(blobs found, UIDs of the mailbox found directly: the word path)."""
    if term.words:
        words = _word_hits(conn, mailbox_id, term.needle)
        if words is not None:
            if term.kind == TEXT:
                # The header side as below; a blob found there too is
                # harmless (the UIDs are a set).
                words[0].update(_candidates(conn, "search_hdr", "hz", term))
            return words
    return _term_blobs(conn, term), set()


def _term_blobs(conn: sqlite3.Connection, term: _Term) -> set[str]:
    if term.kind == FIELDS:
        return {r[0] for r in conn.execute(
            "SELECT b.id FROM search_fields s JOIN blobs b ON b.doc = s.rowid WHERE search_fields MATCH ?",
            (term.match,))}
    if term.kind == BODY_TEXT:
        return _candidates(conn, "search_body", "bz", term)
    if term.kind == TEXT:
        # The header lines first: they are short, and a blob they match
        # needs no look at its body.
        in_header = _candidates(conn, "search_hdr", "hz", term)
        return in_header | _candidates(conn, "search_body", "bz", term, in_header)
    found = set()
    for blob_id, analysis in conn.execute(
            "SELECT b.id, b.analysis FROM search_hdr s JOIN blobs b ON b.doc = s.rowid"
            " WHERE search_hdr MATCH ?", (term.match,)):
        a = _parse_analysis(analysis)
        if a is not None and any(term.needle in fold(v) for v in a.header_values(term.field_name)):
            found.add(blob_id)
    return found


def _r_search_text(conn: sqlite3.Connection, mailbox_id: int, terms: list[_Term]) -> TextMatches:
    conn.execute("BEGIN")
    found_per_term = [_term_hits(conn, mailbox_id, term) for term in terms]
    per_term = [found[0] for found in found_per_term]
    pending = {r[0] for r in conn.execute("SELECT id FROM blobs INDEXED BY blobs_unindexed"
                                          " WHERE doc IS NULL")}
    wanted = set(pending).union(*per_term)
    hits: list[set[int]] = [found[1] for found in found_per_term]
    unindexed: set[int] = set()
    if wanted:
        # Few blobs (a rare word): looked up by blob (messages_blob), so the
        # cost follows the hits, not the mailbox; many: one scan of the
        # mailbox's rows is cheaper than that many lookups.
        rows = conn.execute(
            "SELECT m.uid, m.blob_id FROM json_each(?) j"
            " JOIN messages m INDEXED BY messages_blob ON m.blob_id = j.value WHERE m.mailbox_id = ?"
            if len(wanted) <= _LOOKUP_MAX else
            "SELECT uid, blob_id FROM messages WHERE mailbox_id = ?"
            " AND blob_id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(wanted)), mailbox_id) if len(wanted) <= _LOOKUP_MAX else
            (mailbox_id, json.dumps(list(wanted))))
        for uid, blob_id in rows:
            if blob_id in pending:
                unindexed.add(uid)
                continue
            for i, found in enumerate(per_term):
                if blob_id in found:
                    hits[i].add(uid)
    return TextMatches(tuple(frozenset(h) for h in hits), frozenset(unindexed))


def _r_unindexed(conn: sqlite3.Connection, n: int, skip: frozenset[str]) -> list[tuple[str, bytes]]:
    rows = conn.execute("SELECT id, analysis FROM blobs INDEXED BY blobs_unindexed WHERE doc IS NULL"
                        " LIMIT ?", (n + len(skip),)).fetchall()
    return [(blob_id, bytes(analysis)) for blob_id, analysis in rows if blob_id not in skip][:n]


def _tx_index(conn: sqlite3.Connection, ctx: _Ctx,
              docs: list[tuple[str, tuple[str, ...], bytes, bytes]]) -> int:
    """Insert the rows of blobs still present and still unindexed (another
    process, or garbage collection, may have come first)."""
    done = 0
    bodies: list[tuple[int, str]] = []
    for blob_id, columns, hz, bz in docs:
        row = conn.execute("SELECT doc FROM blobs WHERE id = ?", (blob_id,)).fetchone()
        if row is None or row[0] is not None:
            continue
        # AUTOINCREMENT: a doc number is never used twice, so FTS5 rows
        # left behind (a dead doc not deleted yet, or one whose text was
        # damaged) can never be taken for a new blob's.
        doc = conn.execute("INSERT INTO search_doc(hz, bz) VALUES (?, ?)", (hz, bz)).lastrowid
        conn.execute(_FIELDS_INSERT, (doc, *columns[2:]))
        conn.execute("INSERT INTO search_hdr(rowid, t) VALUES (?, ?)", (doc, columns[0]))
        conn.execute("INSERT INTO search_body(rowid, t) VALUES (?, ?)", (doc, columns[1]))
        conn.execute("UPDATE blobs SET doc = ? WHERE id = ?", (doc, blob_id))
        bodies.append((doc, columns[1]))
        done += 1
    long = _put_words(conn, bodies)
    if long:
        conn.executemany("INSERT INTO search_nowords(doc, pending) VALUES (?, 0)", [(doc,) for doc in long])
    return done


def _drop_doc(conn: sqlite3.Connection, doc: int) -> None:
    """Delete a doc's rows: contentless FTS5 tables are given the text that
    was inserted (search_doc keeps it)."""
    row = conn.execute("SELECT hz, bz FROM search_doc WHERE doc = ?", (doc,)).fetchone()
    # A doc in search_nowords has no rows in search_bodywords (deleting rows
    # a contentless table never had would corrupt its counts).
    words = SCHEMA_VERSION >= _WORDS_SCHEMA and conn.execute(
        "DELETE FROM search_nowords WHERE doc = ?", (doc,)).rowcount == 0
    if row is None:
        return
    try:
        hdr, body, *fields = _decompress_doc(row[0], row[1])
    except (zlib.error, UnicodeDecodeError, ValueError):
        fields = None  # damaged: its FTS5 rows stay, unreachable (no blob has this doc)
    if fields is not None and len(fields) == len(_HEADER_COLUMNS):
        conn.execute(_FIELDS_DELETE, (doc, *fields))
        conn.execute("INSERT INTO search_hdr(search_hdr, rowid, t) VALUES ('delete', ?, ?)", (doc, hdr))
        conn.execute("INSERT INTO search_body(search_body, rowid, t) VALUES ('delete', ?, ?)", (doc, body))
        if words:
            conn.execute("INSERT INTO search_bodywords(search_bodywords, rowid, t) VALUES ('delete', ?, ?)",
                         (doc, body))
    conn.execute("DELETE FROM search_doc WHERE doc = ?", (doc,))


def _tx_drop_dead(conn: sqlite3.Connection, ctx: _Ctx, n: int) -> bool:
    """Delete up to ``n`` docs of deleted blobs; True if more may remain."""
    rows = conn.execute("SELECT doc FROM search_dead LIMIT ?", (n,)).fetchall()
    for (doc,) in rows:
        _drop_doc(conn, doc)
    conn.executemany("DELETE FROM search_dead WHERE doc = ?", rows)
    return len(rows) == n


def _tx_backfill_words(conn: sqlite3.Connection, ctx: _Ctx, n: int) -> int:
    """Give up to ``n`` docs indexed before version 7 their words (see "the
    word path"); returns how many were looked at (fewer than ``n``: done)."""
    if SCHEMA_VERSION < _WORDS_SCHEMA:
        return 0
    rows = conn.execute("SELECT n.doc, d.bz FROM search_nowords n JOIN search_doc d ON d.doc = n.doc"
                        " WHERE n.pending LIMIT ?", (n,)).fetchall()
    bodies: list[tuple[int, str]] = []
    keep: list[int] = []
    for doc, z in rows:
        try:
            bodies.append((doc, zlib.decompress(z).decode()))
        except (zlib.error, UnicodeDecodeError):
            keep.append(doc)  # damaged: confirmed (never matches) like a long one
    keep += _put_words(conn, bodies)
    kept = set(keep)
    conn.executemany("DELETE FROM search_nowords WHERE doc = ?",
                     [(doc,) for doc, _ in bodies if doc not in kept])
    conn.executemany("UPDATE search_nowords SET pending = 0 WHERE doc = ?", [(doc,) for doc in keep])
    return len(rows)


# ---------------------------------------------------------------------------
# sort, thread and preview keys (schema_005.sql)

_KEYS_COLUMNS = ("sent, subject, reply, from_addr, to_addr, cc_addr, display_from, display_to,"
                 " message_id, refs, preview")
_KEYS_INSERT = (f"INSERT INTO blob_keys(blob_id, {_KEYS_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(blob_id) DO NOTHING")


def _r_keys(conn: sqlite3.Connection, mailbox_id: int,
            uids: list[int]) -> tuple[dict[int, tuple], list[tuple[int, str, bytes]]]:
    """(uid -> keys row, [(uid, blob_id, analysis)] of the rows missing)."""
    found: dict[int, tuple] = {}
    missing: list[tuple[int, str, bytes]] = []
    if not uids:
        return found, missing
    conn.execute("BEGIN")
    select = (f"SELECT m.uid, m.blob_id, k.blob_id, {', '.join('k.' + c.strip() for c in _KEYS_COLUMNS.split(','))}"
              " FROM messages m LEFT JOIN blob_keys k ON k.blob_id = m.blob_id WHERE m.mailbox_id = ?")
    if uids[-1] - uids[0] < 4 * len(uids):
        # Dense (SORT ALL, the usual case): one range scan, filtered here.
        wanted = set(uids)
        cursors = [conn.execute(select + " AND m.uid BETWEEN ? AND ?", (mailbox_id, uids[0], uids[-1]))]
    else:
        wanted = None
        cursors = [conn.execute(select + f" AND m.uid IN ({','.join('?' * len(chunk))})", (mailbox_id, *chunk))
                   for chunk in _chunks(uids)]
    for cursor in cursors:
        for uid, blob_id, have, *row in cursor:
            if wanted is not None and uid not in wanted:
                continue
            if have is None:
                missing.append((uid, blob_id, b""))
            else:
                found[uid] = tuple(row)
    if missing:
        analyses = {}
        for chunk in _chunks([m[1] for m in missing]):
            marks = ",".join("?" * len(chunk))
            analyses.update(conn.execute(f"SELECT id, analysis FROM blobs WHERE id IN ({marks})", chunk))
        missing = [(uid, blob_id, bytes(analyses.get(blob_id, b""))) for uid, blob_id, _ in missing]
    return found, missing


def _tx_put_keys(conn: sqlite3.Connection, ctx: _Ctx, rows: list[tuple]) -> None:
    """Insert computed keys of blobs that still exist."""
    for row in rows:
        if conn.execute("SELECT 1 FROM blobs WHERE id = ?", (row[0],)).fetchone() is not None:
            conn.execute(_KEYS_INSERT, row)
