"""State shared by the worker processes of one server, kept in small files.

Several processes serve one data directory (``serve --workers``, plus a
``hivemail deliver`` now and then), so what used to be a dict in one
process lives in ``<data_dir>/run/``:

* maildrop locks (POP3 ``[IN-USE]``, RFC 2449 section 8.1.1): ``flock`` on a
  file per account. The kernel drops the lock when its holder dies, so a
  crashed session never leaves an account locked.
* last-login times (POP3 LOGIN-DELAY): a file per account whose mtime is
  the time of the last login.
* \\Recent claims (IMAP4rev1): per mailbox, the highest UID some session
  has claimed, read and raised under ``flock``.
* failed-login records (``auth/throttle.py``): a file per key (a client
  address, an account, an account and an address) holding a
  :class:`FailureRecord`, read and replaced under ``flock``. A guesser
  spreading attempts over the workers meets the same counters.

None of it is mail, so none of it is fsynced: after a crash the worst
outcome is a lock released early or a message counted recent twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def _key(name: str) -> str:
    # Account names are addresses: hash them into safe, fixed-length file names.
    return hashlib.sha1(name.encode("utf-8")).hexdigest()


class SharedState:
    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.root = Path(data_dir) / "run"
        for sub in ("locks", "logins", "recent", "authfail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- maildrop locks -----------------------------------------------------
    def try_lock(self, account: str) -> int | None:
        """An open descriptor holding the account's lock, or None if another
        session (in any process) holds it. Release with :meth:`unlock`."""
        fd = os.open(self.root / "locks" / _key(account), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    @staticmethod
    def unlock(fd: int) -> None:
        os.close(fd)  # closing the descriptor releases the flock

    # -- last logins -----------------------------------------------------------
    def seconds_since_login(self, account: str) -> float | None:
        try:
            return time.time() - (self.root / "logins" / _key(account)).stat().st_mtime
        except FileNotFoundError:
            return None

    def note_login(self, account: str) -> None:
        path = self.root / "logins" / _key(account)
        path.touch()
        os.utime(path)

    # -- \Recent ---------------------------------------------------------------------
    def claim_recent(self, mailbox_id: int, uidvalidity: int, highest_uid: int, default) -> int:
        """Raise the mailbox's claimed UID to ``highest_uid`` and return the
        value before: UIDs above it are recent to the caller. ``default()``
        gives the value for a mailbox nobody has claimed yet. A new
        UIDVALIDITY (the mailbox was recreated) starts over."""
        path = self.root / "recent" / f"{mailbox_id}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 64, 0).split()
            known = len(raw) == 2 and int(raw[0]) == uidvalidity
            before = int(raw[1]) if known else default()
            if highest_uid > before or not known:
                data = f"{uidvalidity} {max(before, highest_uid)}\n".encode()
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
            return before
        finally:
            os.close(fd)


@dataclass(frozen=True)
class FailureRecord:
    """Failed logins counted under one key, in wall-clock seconds (shared
    by processes, so ``time.time()``, not the monotonic clock)."""

    count: int = 0
    first: float = 0.0          # start of the counting window
    last: float = 0.0           # the latest failure
    locked_until: float = 0.0   # refused until then (0: not refused)

    def encode(self) -> bytes:
        return f"{self.count} {self.first!r} {self.last!r} {self.locked_until!r}\n".encode()

    @classmethod
    def decode(cls, raw: bytes) -> FailureRecord | None:
        parts = raw.split()
        if len(parts) != 4:
            return None
        try:
            return cls(int(parts[0]), float(parts[1]), float(parts[2]), float(parts[3]))
        except ValueError:
            return None


class FailureFiles:
    """Failed-login records in ``<data_dir>/run/authfail``, one file per key.

    The same interface as ``auth.throttle.MemoryFailures``; the counting
    rules are the caller's (``update`` hands it the record under the lock)."""

    def __init__(self, shared: SharedState) -> None:
        self.dir = shared.root / "authfail"

    def _path(self, key: str) -> Path:
        return self.dir / _key(key)

    def get(self, key: str) -> FailureRecord | None:
        try:
            fd = os.open(self._path(key), os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return FailureRecord.decode(os.pread(fd, 256, 0))
        finally:
            os.close(fd)

    def update(self, key: str, change: Callable[[FailureRecord | None], FailureRecord]) -> FailureRecord:
        """Replace the record with ``change(record)`` while holding its lock."""
        fd = os.open(self._path(key), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            new = change(FailureRecord.decode(os.pread(fd, 256, 0)))
            data = new.encode()
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
            return new
        finally:
            os.close(fd)

    def clear(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def expire(self, older_than: float) -> int:
        """Remove records not written since ``older_than`` (a time.time()
        value); returns how many. Every record is rewritten on each failure,
        so one untouched for a window and a lockout is dead."""
        removed = 0
        try:
            entries = list(os.scandir(self.dir))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                if entry.stat().st_mtime < older_than:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
