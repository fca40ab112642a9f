"""Content-addressed message files: ``blobs/ab/cdef...`` named by SHA-256.

Everything here blocks; the store calls it from worker threads only.

How a file becomes durable (:meth:`BlobFiles.put`)::

    write blobs/tmp/<pid>-<random>   (O_EXCL, mode 0640)
    fsync(file)                      -- the bytes are on disk
    rename -> blobs/ab/cdef...       -- atomic: the final name is whole or absent
    fsync(blobs/ab)                  -- the name is on disk

The index row that refers to the file is committed only after all four steps,
so after a crash a file may exist without a row (an orphan, removed at open or
by check) but a row never refers to a half-written file. The 256 fan-out
directories are created and fsynced once, at open, so no put ever creates a
directory.

A file whose name already exists is not written again (identical bulk mail is
stored once), but its directory is still fsynced: another process may have
renamed it into place and not yet synced the directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator

from hivemail.durable import fsync_dir, pid_alive, unlink_quietly, write_atomic
from hivemail.mailstore.errors import ErrorKind, MailError

_BLOB_ID = re.compile(r"[0-9a-f]{64}\Z")
TMP_DIR = "tmp"
# A temporary file of a live process younger than this is left alone: the
# process may be about to rename it.
TMP_GRACE_SECONDS = 3600.0


def blob_id_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class BlobFiles:
    def __init__(self, root: str, fsync: bool = True) -> None:
        self.root = root
        self.tmp = os.path.join(root, TMP_DIR)
        self.fsync = fsync

    # -- layout -------------------------------------------------------------
    def prepare(self) -> None:
        """Create ``root``, ``root/tmp`` and the 256 fan-out directories; fsync
        what was created."""
        created = False
        for path in (self.root, self.tmp):
            if not os.path.isdir(path):
                os.makedirs(path, exist_ok=True)
                created = True
        for i in range(256):
            sub = os.path.join(self.root, f"{i:02x}")
            if not os.path.isdir(sub):
                os.mkdir(sub)
                created = True
        if created and self.fsync:
            fsync_dir(self.root)
            fsync_dir(os.path.dirname(os.path.abspath(self.root)))

    def path(self, blob_id: str) -> str:
        if not _BLOB_ID.match(blob_id):
            raise MailError(ErrorKind.NOT_FOUND, f"not a blob id: {blob_id!r}")
        return os.path.join(self.root, blob_id[:2], blob_id[2:])

    # -- writing ------------------------------------------------------------
    def put(self, raw: bytes, blob_id: str | None = None) -> str:
        """Store ``raw`` durably under its hash (see the module docstring);
        returns the blob id."""
        if blob_id is None:
            blob_id = blob_id_of(raw)
        final = self.path(blob_id)
        try:
            st = os.stat(final)
        except FileNotFoundError:
            st = None
        if st is None or st.st_size != len(raw):
            self._write_new(final, raw)
        if self.fsync:
            fsync_dir(os.path.dirname(final))
        return blob_id

    def _write_new(self, final: str, raw: bytes) -> None:
        write_atomic(self.tmp, final, raw, fsync=self.fsync)

    def ensure(self, blob_id: str, size: int, raw: bytes | None) -> bool:
        """Make sure the file of ``blob_id`` exists with ``size`` octets,
        rewriting it from ``raw`` if needed. Called with the index write lock
        held, which is what makes it race-free against garbage collection and
        orphan removal (they unlink only under the same lock). Returns False if
        the file is missing and ``raw`` is None."""
        final = self.path(blob_id)
        try:
            if os.stat(final).st_size == size:
                return True
        except FileNotFoundError:
            pass
        if raw is None:
            return False
        self._write_new(final, raw)
        if self.fsync:
            fsync_dir(os.path.dirname(final))
        return True

    # -- reading ------------------------------------------------------------
    def read(self, blob_id: str, start: int = 0, end: int | None = None) -> bytes:
        try:
            with open(self.path(blob_id), "rb") as f:
                if start:
                    f.seek(start)
                if end is None:
                    return f.read()
                return f.read(max(0, end - start))
        except FileNotFoundError:
            raise MailError(ErrorKind.EXPUNGED, "message data is gone") from None

    def size(self, blob_id: str) -> int | None:
        try:
            return os.stat(self.path(blob_id)).st_size
        except FileNotFoundError:
            return None

    def hash_file(self, blob_id: str) -> str | None:
        h = hashlib.sha256()
        try:
            with open(self.path(blob_id), "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        except FileNotFoundError:
            return None
        return h.hexdigest()

    # -- removal and scanning ------------------------------------------------
    def remove(self, blob_id: str) -> None:
        unlink_quietly(self.path(blob_id))

    def quarantine(self, blob_id: str, where: str) -> None:
        """Move a damaged file aside instead of deleting evidence."""
        os.makedirs(where, exist_ok=True)
        try:
            os.replace(self.path(blob_id), os.path.join(where, blob_id))
        except FileNotFoundError:
            pass

    def fanout_dirs(self) -> Iterator[tuple[str, str]]:
        """(two-hex prefix, directory path) for the 256 fan-out directories."""
        for i in range(256):
            prefix = f"{i:02x}"
            yield prefix, os.path.join(self.root, prefix)

    def stale_temp_files(self, include_own: bool = False) -> list[str]:
        """Temporary files no live writer will rename: those of dead
        processes, unparseable names, and any older than TMP_GRACE_SECONDS."""
        stale = []
        now = time.time()
        me = os.getpid()
        try:
            names = os.listdir(self.tmp)
        except FileNotFoundError:
            return []
        for name in names:
            path = os.path.join(self.tmp, name)
            pid_text = name.partition("-")[0]
            try:
                pid = int(pid_text)
            except ValueError:
                stale.append(path)
                continue
            try:
                old = now - os.stat(path).st_mtime > TMP_GRACE_SECONDS
            except FileNotFoundError:
                continue
            if old or (pid == me and include_own) or (pid != me and not pid_alive(pid)):
                stale.append(path)
        return stale
