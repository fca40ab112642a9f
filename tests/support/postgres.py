"""A throwaway PostgreSQL cluster for the tests (issue 9).

``make test`` installs Debian's PostgreSQL server (``deps-system``); this
module runs ``initdb`` into a fresh temporary directory and ``pg_ctl start``
on a free loopback port, once per test process, and stops it (by its own
data directory, i.e. its own postmaster pid) when the process exits. Each
test gets a database of its own (:func:`fresh_url`), so tests never see
each other's accounts.

PostgreSQL refuses to run as root: when the tests run as root (CI
containers), the cluster runs as the ``postgres`` user that Debian's
package creates, through ``runuser``. The cluster trades durability for
speed (``fsync=off``): the crash tests kill hivemail, never PostgreSQL.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

from hivemail.durable import pid_alive
from tests.support.ci import skip_or_fail

PREFIX = "hivemail-pg-"
_lock = threading.Lock()
_cluster: Cluster | None = None
_names = itertools.count(1)


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _stop_orphans(bindir: Path) -> None:
    """Stop and remove the clusters of test processes that died without
    stopping theirs (a SIGKILLed pytest): each cluster's directory names
    its owner's pid, and only a dead owner's cluster is touched."""
    for root in glob.glob(os.path.join(tempfile.gettempdir(), PREFIX + "*")):
        try:
            owner = int(Path(root, "owner").read_text())
        except (OSError, ValueError):
            continue
        if not pid_alive(owner):
            _stop(bindir, Path(root))


def _stop(bindir: Path, root: Path) -> None:
    """Stop the cluster under ``root`` (by its data directory: its own
    postmaster) and remove it."""
    if (root / "data").exists():
        subprocess.run([*_as_postgres(), str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
    shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb) not found; `make test` installs them")
        self.bindir = bindir
        _stop_orphans(bindir)
        self.root = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.root / "owner").write_text(str(os.getpid()))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_user = _as_postgres()
        if self.as_user:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "hivemail", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "
                   "-c shared_buffers=64MB")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        atexit.register(self.stop)

    def _run(self, tool: str, *args: str) -> None:
        proc = subprocess.run([*self.as_user, str(self.bindir / tool), *args], capture_output=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} failed: {proc.stdout.decode(errors='replace')}{proc.stderr.decode(errors='replace')}")

    def url(self, database: str) -> str:
        return f"postgresql://hivemail@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "hivemail", "-d", "postgres",
                  "-q", "-c", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        _stop(self.bindir, self.root)


def cluster() -> Cluster:
    """This test process's cluster, started on first use."""
    global _cluster
    with _lock:
        if _cluster is None:
            try:
                _cluster = Cluster()
            except (FileNotFoundError, KeyError) as exc:
                skip_or_fail(f"no PostgreSQL server to test against: {exc}")
        return _cluster


def fresh_url() -> str:
    """The URL of a new, empty database on this process's cluster."""
    return cluster().create_database(f"t{os.getpid()}_{next(_names)}")
