"""The outgoing queue: messages waiting for the relay, in a directory.

Layout (the server uses ``DATA_DIR/queue``)::

    queue/<id>.msg      the message, exactly the bytes to send
    queue/<id>.env      its envelope, JSON: sender, recipients, attempts,
                        next_attempt, created, last_error, size, sha256
    queue/tmp/          files being written: <pid>-<random>
    queue/failed/       entries given up on (same two files), kept for a
                        human (and, later, for a bounce)
    queue/runner.lock   flock held by the one process that sends

**The envelope is the commit record.** An entry exists exactly when its
``.env`` file does. :meth:`OutboundQueue.enqueue`::

    write tmp/<pid>-<r1> = message; fsync     -- the bytes are on disk
    rename -> <id>.msg
    write tmp/<pid>-<r2> = envelope; fsync
    rename -> <id>.env                        -- atomic: whole or absent
    fsync(queue/)                             -- both names are on disk

and only then returns the id, so an entry whose ``enqueue`` returned
survives ``kill -9`` and power loss. A crash before the last rename leaves
a temp file or a ``.msg`` without ``.env``: neither is ever listed, and
:meth:`OutboundQueue.recover` removes them at start (only those of dead
processes, or older than an hour: another process, or another task of
this one, may be mid-enqueue; the writer's pid is in the temp name and in
the id). Rewriting an envelope
(deferral, partial delivery) is the same temp + fsync + rename + fsync of
the directory, so an envelope is always the old one or the new one.

Removal unlinks the ``.env`` first (the entry is gone), then the ``.msg``.
Moving to ``failed/`` moves the ``.msg`` first and the ``.env`` last, and
recover completes a move cut in half, so a failed message is never lost.

**Delivery is at least once, not exactly once.** A crash after the relay
said 250 and before the envelope is updated sends the message again; RFC
5321 section 6.1 accepts duplicates and forbids loss, and so do we.

**A message leaves the queue** only when every recipient is settled and at
least one accepted it, or into ``failed/``: when every remaining recipient
was refused permanently, when the relay refused the message itself, or when
it is older than ``max_age``. Recipients refused permanently while others
were accepted are dropped from the envelope and logged.

Everything here blocks (fsync); async code calls it through
``asyncio.to_thread`` (see runner.py). Several threads may enqueue at once;
only one runner (per the lock) may take entries out.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hivemail.durable import fsync_dir, pid_alive, unlink_quietly, write_atomic
from hivemail.outbound.settings import OutboundSettings

__all__ = ["OutboundQueue", "QueueEntry", "QueueError", "QueueLocked"]

log = logging.getLogger("hivemail.outbound")

TMP_DIR = "tmp"
FAILED_DIR = "failed"
LOCK_FILE = "runner.lock"
ENVELOPE_VERSION = 1
# A temp file or orphan message of a live process younger than this is left
# alone: that process may be about to rename it (as in blobs.py).
ORPHAN_GRACE_SECONDS = 3600.0
# <created ms, hex>-<pid>-<random>: sorts by age, names its writer.
_ID = re.compile(r"[0-9a-f]{12}-[0-9]{1,10}-[0-9a-f]{8}\Z")


class QueueError(Exception):
    """A queue entry that cannot be used (missing, damaged)."""


class QueueLocked(QueueError):
    """Another process is already running this queue."""


@dataclass(frozen=True)
class QueueEntry:
    """One queued message's envelope. ``sender`` may be ``""`` (the null
    reverse-path ``<>`` of vacation replies and bounces). Times are
    seconds since the epoch (they outlive the process)."""

    id: str
    sender: str
    recipients: tuple[str, ...]
    attempts: int
    next_attempt: float
    created: float
    last_error: str
    size: int
    sha256: str

    def to_json(self) -> bytes:
        d = dataclasses.asdict(self)
        d["recipients"] = list(self.recipients)
        d["version"] = ENVELOPE_VERSION
        return json.dumps(d, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> QueueEntry:
        d = json.loads(raw)
        if d.get("version") != ENVELOPE_VERSION:
            raise ValueError(f"unknown envelope version {d.get('version')!r}")
        return cls(
            id=str(d["id"]),
            sender=str(d["sender"]),
            recipients=tuple(str(r) for r in d["recipients"]),
            attempts=int(d["attempts"]),
            next_attempt=float(d["next_attempt"]),
            created=float(d["created"]),
            last_error=str(d["last_error"]),
            size=int(d["size"]),
            sha256=str(d["sha256"]),
        )


def _check_address(address: str, what: str) -> None:
    # CR, LF or NUL in an address would let it inject SMTP commands.
    if any(c in address for c in "\r\n\0") or address != address.strip() or "<" in address or ">" in address:
        raise ValueError(f"bad {what} address: {address!r}")


class OutboundQueue:
    """The queue directory (see the module docstring). The sending process
    calls :meth:`recover` once at start (the runner does); any process may
    :meth:`enqueue` at any time."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        settings: OutboundSettings = OutboundSettings(),
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        fsync: bool = True,
    ) -> None:
        self.root = os.fspath(root)
        self.tmp = os.path.join(self.root, TMP_DIR)
        self.failed_dir = os.path.join(self.root, FAILED_DIR)
        self.settings = settings
        self.clock = clock
        self.rng = rng if rng is not None else random.Random()
        self.fsync = fsync
        self._lock_fd: int | None = None
        self._prepared = False

    # -- setup ----------------------------------------------------------------
    def recover(self) -> dict[str, int]:
        """Create the directories; remove stale temp files and orphan
        messages; finish moves to failed/ cut by a crash; move damaged
        envelopes to failed/. Returns what was done, by kind."""
        done = {"temp_removed": 0, "orphans_removed": 0, "moves_finished": 0, "damaged": 0}
        self.prepare()
        now = time.time()
        for name in os.listdir(self.tmp):
            path = os.path.join(self.tmp, name)
            if _stale(path, name.partition("-")[0], now):
                unlink_quietly(path)
                done["temp_removed"] += 1
        names = set(os.listdir(self.root))
        for name in names:
            stem, dot, ext = name.rpartition(".")
            if not dot or not _ID.match(stem):
                continue
            path = os.path.join(self.root, name)
            if ext == "msg" and stem + ".env" not in names:
                if _stale(path, stem.split("-")[1], now):
                    unlink_quietly(path)
                    done["orphans_removed"] += 1
            elif ext == "env" and stem + ".msg" not in names:
                if os.path.exists(os.path.join(self.failed_dir, stem + ".msg")):
                    done["moves_finished"] += 1
                else:
                    log.error("outbound queue: %s has no message file; moved to failed/", stem)
                    done["damaged"] += 1
                self._move_to_failed_raw(stem, msg=False)
            elif ext == "env":
                # A move to failed/ cut before the message moved: the entry
                # is still live, so the early copy of its envelope goes.
                unlink_quietly(os.path.join(self.failed_dir, stem + ".env"))
                try:
                    self._load(stem)
                except QueueError as exc:
                    log.error("outbound queue: %s: %s; moved to failed/", stem, exc)
                    self._move_to_failed_raw(stem, msg=True)
                    done["damaged"] += 1
        if any(done.values()):
            self._sync_dir(self.root)
        return done

    def prepare(self) -> None:
        """Create the directories (and sync what was created). Idempotent;
        enqueue calls it, so a message may be queued before the runner
        has started and recovered the queue."""
        if self._prepared:
            return
        created = False
        for path in (self.root, self.tmp, self.failed_dir):
            if not os.path.isdir(path):
                os.makedirs(path, exist_ok=True)
                created = True
        if created:
            self._sync_dir(self.root)
            self._sync_dir(os.path.dirname(os.path.abspath(self.root)))
        self._prepared = True

    def lock(self) -> None:
        """Take the runner lock (flock, released when the process dies or on
        :meth:`unlock`). Raises QueueLocked if another process holds it."""
        if self._lock_fd is not None:
            return
        self.prepare()
        fd = os.open(os.path.join(self.root, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise QueueLocked(f"{self.root} is run by another process") from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- adding -----------------------------------------------------------------
    def enqueue(self, sender: str, recipients: Iterable[str], message: bytes) -> str:
        """Queue ``message`` for ``recipients``; returns its id once the entry
        is durable (see the module docstring). ``sender`` ``""`` is the null
        reverse-path. Raises ValueError for no recipients or an address
        with CR, LF, NUL or angle brackets."""
        rcpts = tuple(dict.fromkeys(recipients))  # once each, in order
        if not rcpts:
            raise ValueError("no recipients")
        _check_address(sender, "sender")
        for r in rcpts:
            if not r:
                raise ValueError("empty recipient address")
            _check_address(r, "recipient")
        self.prepare()
        now = self.clock()
        entry_id = f"{int(now * 1000) & 0xFFFFFFFFFFFF:012x}-{os.getpid()}-{secrets.token_hex(4)}"
        entry = QueueEntry(
            id=entry_id,
            sender=sender,
            recipients=rcpts,
            attempts=0,
            next_attempt=now,
            created=now,
            last_error="",
            size=len(message),
            sha256=hashlib.sha256(message).hexdigest(),
        )
        self._write_atomic(self._path(entry_id, "msg"), message)
        self._write_atomic(self._path(entry_id, "env"), entry.to_json())
        self._sync_dir(self.root)
        return entry_id

    # -- reading ----------------------------------------------------------------
    def entries(self) -> list[QueueEntry]:
        """Every queued entry, oldest first. Entries that cannot be read
        are skipped here (recover moves them aside)."""
        out = []
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:  # nothing was ever queued
            return []
        for name in names:
            stem, _, ext = name.rpartition(".")
            if ext != "env" or not _ID.match(stem):
                continue
            try:
                out.append(self._load(stem))
            except QueueError:
                continue
        return out

    def due(self, now: float | None = None) -> list[QueueEntry]:
        """Entries whose next attempt is at or before ``now`` (default: the
        clock), the earliest first."""
        now = self.clock() if now is None else now
        return sorted((e for e in self.entries() if e.next_attempt <= now), key=lambda e: (e.next_attempt, e.id))

    def next_due(self) -> float | None:
        """When the earliest entry is due; None when the queue is empty."""
        return min((e.next_attempt for e in self.entries()), default=None)

    def get(self, entry_id: str) -> QueueEntry:
        return self._load(entry_id)

    def read_message(self, entry: QueueEntry) -> bytes:
        """The message bytes, checked against the envelope's size and hash.
        Raises QueueError if the file is missing or damaged."""
        try:
            with open(self._path(entry.id, "msg"), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise QueueError(f"{entry.id}: message file missing") from None
        if len(raw) != entry.size or hashlib.sha256(raw).hexdigest() != entry.sha256:
            raise QueueError(f"{entry.id}: message file damaged")
        return raw

    # -- settling -----------------------------------------------------------------
    def delivered(self, entry_id: str) -> None:
        """Remove an entry whose recipients are all settled."""
        unlink_quietly(self._path(entry_id, "env"))
        unlink_quietly(self._path(entry_id, "msg"))
        self._sync_dir(self.root)

    def deferred(self, entry: QueueEntry, remaining: Iterable[str], error: str) -> QueueEntry | None:
        """Keep ``remaining`` (the recipients still to try; the others are
        settled and removed from the envelope) for a later attempt: attempts
        + 1, next attempt after the back-off of ``settings.retry_delay``.
        If the entry is older than ``settings.max_age`` it is given up
        instead (moved to failed/) and None is returned."""
        keep = set(remaining)
        rest = tuple(r for r in entry.recipients if r in keep)
        if not rest:
            raise ValueError("deferred with no remaining recipients")
        now = self.clock()
        if now - entry.created >= self.settings.max_age:
            log.warning(
                "outbound queue: %s given up after %d attempts in %.0f s: %s",
                entry.id, entry.attempts + 1, now - entry.created, error,
            )
            self.failed(entry, f"given up after {entry.attempts + 1} attempts: {error}", rest)
            return None
        attempts = entry.attempts + 1
        delay = self.settings.retry_delay(attempts, self.rng.random())
        new = dataclasses.replace(
            entry, recipients=rest, attempts=attempts, next_attempt=now + delay, last_error=error
        )
        self._write_atomic(self._path(entry.id, "env"), new.to_json())
        self._sync_dir(self.root)
        return new

    def failed(self, entry: QueueEntry, error: str, recipients: Iterable[str] | None = None) -> None:
        """Give up on an entry: move it to failed/ with ``error`` and the
        recipients that did not get it (default: all still in it)."""
        rcpts = entry.recipients if recipients is None else tuple(recipients)
        new = dataclasses.replace(entry, recipients=rcpts, last_error=error)
        # The updated envelope goes to failed/ first (nothing is listed from
        # there), then the message, then the live envelope is removed:
        # a crash at any point leaves the entry queued, or failed, or a
        # live envelope that recover finishes moving.
        self._write_atomic(os.path.join(self.failed_dir, entry.id + ".env"), new.to_json())
        self._move_to_failed_raw(entry.id, msg=True, env=False)
        unlink_quietly(self._path(entry.id, "env"))
        self._sync_dir(self.root)

    def failed_entries(self) -> list[QueueEntry]:
        out = []
        try:
            names = sorted(os.listdir(self.failed_dir))
        except FileNotFoundError:
            return []
        for name in names:
            stem, _, ext = name.rpartition(".")
            if ext == "env" and _ID.match(stem):
                try:
                    out.append(QueueEntry.from_json(_read(os.path.join(self.failed_dir, name))))
                except (OSError, ValueError, KeyError, TypeError):
                    continue
        return out

    # -- internals ----------------------------------------------------------------
    def _path(self, entry_id: str, ext: str) -> str:
        if not _ID.match(entry_id):
            raise QueueError(f"not a queue id: {entry_id!r}")
        return os.path.join(self.root, f"{entry_id}.{ext}")

    def _load(self, entry_id: str) -> QueueEntry:
        try:
            entry = QueueEntry.from_json(_read(self._path(entry_id, "env")))
        except FileNotFoundError:
            raise QueueError(f"{entry_id}: no such entry") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise QueueError(f"{entry_id}: damaged envelope ({exc})") from None
        if entry.id != entry_id:
            raise QueueError(f"{entry_id}: envelope names {entry.id!r}")
        return entry

    def _move_to_failed_raw(self, entry_id: str, msg: bool, env: bool = True) -> None:
        """Move the files of ``entry_id`` that exist into failed/ (an
        envelope already in failed/ is not replaced: it is the newer one)."""
        for ext, wanted in (("msg", msg), ("env", env)):
            src = self._path(entry_id, ext)
            dst = os.path.join(self.failed_dir, f"{entry_id}.{ext}")
            if not wanted or not os.path.exists(src):
                continue
            if ext == "env" and os.path.exists(dst):
                unlink_quietly(src)
            else:
                os.replace(src, dst)
            self._sync_dir(self.failed_dir)
        self._sync_dir(self.root)

    def _write_atomic(self, final: str, data: bytes) -> None:
        write_atomic(self.tmp, final, data, fsync=self.fsync)

    def _sync_dir(self, path: str) -> None:
        if self.fsync:
            fsync_dir(path)



def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _stale(path: str, pid_text: str, now: float) -> bool:
    """A temp or orphan file no live writer will rename: its writer's
    process is dead, its name names none, or it is older than the grace
    period. Our own are never stale: recover may run (the runner starting)
    while another task of this process is in the middle of enqueue."""
    try:
        pid = int(pid_text)
    except ValueError:
        return True
    try:
        if now - os.stat(path).st_mtime > ORPHAN_GRACE_SECONDS:
            return True
    except FileNotFoundError:
        return False
    return pid != os.getpid() and not pid_alive(pid)
