"""Files that survive ``kill -9`` and power loss once a call returns
(DESIGN.md principle 5), for the message store and the outgoing queue.
Standard library only: any layer may use it."""

from __future__ import annotations

import os
import secrets


def write_atomic(tmp_dir: str, final: str, data: bytes, *, fsync: bool = True, mode: int = 0o640) -> None:
    """Write ``data`` to a new file in ``tmp_dir`` (same file system as
    ``final``), fsync it, then rename it onto ``final``: a reader sees the
    old file or the whole new one, never a part. The caller fsyncs the
    directory of ``final`` (:func:`fsync_dir`) before it acknowledges, once
    for however many files it renamed there."""
    tmp = os.path.join(tmp_dir, f"{os.getpid()}-{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        unlink_quietly(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, final)
    except BaseException:
        unlink_quietly(tmp)
        raise


def fsync_dir(path: str) -> None:
    """Make the names in ``path`` (a rename, a new or removed file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (temporary files name their writer:
    one of a dead process is garbage, one of a live one is in use)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
