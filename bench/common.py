"""Shared bits of the benchmarks: machine description and Markdown tables."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def filesystem_of(path: str | os.PathLike[str]) -> str:
    """Type of the filesystem holding *path* (longest /proc/mounts prefix):
    fsync on tmpfs costs nothing, so the figures depend on it."""
    path = os.path.realpath(path)
    best, fstype = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return fstype
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mnt = parts[1]
        if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
            best, fstype = mnt, parts[2]
    return fstype


def fsync_latency_ms(directory: str, rounds: int = 50) -> float:
    """Median time of write(4 KiB) + fsync() on a file in *directory*: the
    floor under every durable delivery on this disk."""
    import statistics
    import tempfile
    import time

    fd, path = tempfile.mkstemp(prefix="hmb-fsync-", dir=directory)
    try:
        times = []
        block = b"x" * 4096
        for _ in range(rounds):
            t0 = time.perf_counter()
            os.write(fd, block)
            os.fsync(fd)
            times.append(time.perf_counter() - t0)
        return 1000 * statistics.median(times)
    finally:
        os.close(fd)
        os.unlink(path)


def machine_info(workdir_parent: str | None = None) -> dict[str, str]:
    import tempfile

    where = workdir_parent or tempfile.gettempdir()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "workdir": f"{where} ({filesystem_of(where)})",
        "fsync (4 KiB write + fsync, median)": f"{fsync_latency_ms(where):.2f} ms",
    }


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; columns after the first two are right-aligned."""
    align = ["---" if i < 2 else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
