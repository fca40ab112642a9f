"""A real hivemail server in a child process, for end-to-end tests.

The server binds 127.0.0.1 port 0 for each listener asked for; the ports
are read back from its log ("<name> listening on HOST:PORT"). It is stopped
by its own pid, with SIGTERM (clean) or SIGKILL (crash tests).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.backend import storage_args

LISTENING = re.compile(r"(\w+) listening on (\S+):(\d+)")


def hivemail_cmd() -> list[str]:
    return [sys.executable, "-m", "hivemail"]


def cli(data_dir: Path | str, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run one ``hivemail --data DIR ...`` command to completion."""
    proc = subprocess.run(
        [*hivemail_cmd(), "--data", str(data_dir), *storage_args(data_dir), *args],
        input=input,
        capture_output=True,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"hivemail {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return proc


class HivemailServer:
    def __init__(self, data_dir: Path, listeners: tuple[str, ...] = ("lmtp", "smtp"), extra: tuple[str, ...] = ()):
        self.data_dir = Path(data_dir)
        self.listeners = listeners
        self.extra = extra
        self.proc: subprocess.Popen | None = None
        self.ports: dict[str, int] = {}
        self.log: list[str] = []
        self._drain: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, timeout: float = 30.0) -> HivemailServer:
        args = [*hivemail_cmd(), "--data", str(self.data_dir), *storage_args(self.data_dir), "serve"]
        for name in self.listeners:
            args += [f"--{name}", "127.0.0.1:0"]
        args += list(self.extra)
        self.ports = {}
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ready = threading.Event()

        def drain(stream, proc=self.proc) -> None:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip()
                with self._lock:
                    self.log.append(line)
                m = LISTENING.search(line)
                if m:
                    self.ports[m.group(1)] = int(m.group(3))
                # Ports are known when bound; a worker says when it serves.
                if "worker ready" in line and set(self.ports) >= set(self.listeners):
                    ready.set()
            ready.set()

        self._drain = threading.Thread(target=drain, args=(self.proc.stderr,), daemon=True)
        self._drain.start()
        ready.wait(timeout)
        if set(self.ports) < set(self.listeners):
            self.kill()
            raise AssertionError("hivemail did not start:\n" + "\n".join(self.log))
        return self

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self._read_to_end()
        return rc

    def _read_to_end(self, timeout: float = 5.0) -> None:
        # The process has exited but its last lines may still sit in the
        # pipe: a test reading the log right after stop() must see them.
        # (A worker that outlived a SIGKILLed supervisor keeps the pipe open,
        # hence the bound.)
        if self._drain is not None:
            self._drain.join(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        self._read_to_end(1.0)

    def tracebacks(self) -> list[str]:
        with self._lock:
            return [line for line in self.log if "Traceback" in line]

    def __enter__(self) -> HivemailServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
