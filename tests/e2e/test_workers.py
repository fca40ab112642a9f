"""Several worker processes serve one data directory (`serve --workers`):
what one worker does, the others see, and the supervisor keeps them alive."""

from __future__ import annotations

import os
import poplib
import signal
import socket
import time

import pytest

from tests.e2e.imap.conftest import RawClient
from tests.support.server import HivemailServer, cli, wait_until

pytestmark = pytest.mark.xdist_group("workers")

USER = "w@example.org"
PASSWORD = "pw"


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


@pytest.fixture
def server(tmp_path):
    cli(tmp_path, "user", "add", USER, "--password", PASSWORD)
    s = HivemailServer(tmp_path, listeners=("imap", "pop3", "lmtp"), extra=("--workers", "3")).start()
    yield s
    s.stop()


def nice(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])


def test_the_supervisor_runs_and_replaces_workers(server):
    # Three workers and the search indexer, which runs at a lower priority.
    assert wait_until(lambda: len(children(server.proc.pid)) == 4, 10)
    assert sorted(nice(p) for p in children(server.proc.pid)) == [0, 0, 0, 10]
    victim = next(p for p in children(server.proc.pid) if nice(p) == 0)
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: victim not in children(server.proc.pid) and len(children(server.proc.pid)) == 4, 10)
    # Still serving.
    c = RawClient(socket.create_connection(("127.0.0.1", server.ports["imap"]), timeout=10))
    assert c.line().startswith(b"* OK ")


def test_killing_the_supervisor_takes_the_workers_with_it(server):
    assert wait_until(lambda: len(children(server.proc.pid)) == 4, 10)
    workers = children(server.proc.pid)
    server.kill()
    assert wait_until(lambda: not any(os.path.exists(f"/proc/{w}") and open(f"/proc/{w}/stat").read().split()[2] != "Z" for w in workers), 10)


def test_pop3_maildrop_lock_holds_across_workers(server):
    first = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=10)
    first.user(USER)
    first.pass_(PASSWORD)
    # With three workers, some of these land in another process than the first.
    for _ in range(8):
        other = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=10)
        other.user(USER)
        with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
            other.pass_(PASSWORD)
        other.close()
    first.quit()
    again = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=10)
    again.user(USER)
    assert again.pass_(PASSWORD).startswith(b"+OK")
    again.quit()


def test_recent_is_given_to_one_session_across_workers(server):
    import smtplib

    with smtplib.LMTP("127.0.0.1", server.ports["lmtp"]) as lmtp:
        lmtp.sendmail("a@example.net", [USER], b"Subject: r\r\n\r\nx\r\n")
    recents = []
    for i in range(6):
        c = RawClient(socket.create_connection(("127.0.0.1", server.ports["imap"]), timeout=10))
        c.line()
        c.ok(f"l LOGIN {USER} {PASSWORD}")
        lines = c.ok("s SELECT INBOX")
        recents.append(next(line for line in lines if line.endswith(b"RECENT")))
    assert recents == [b"* 1 RECENT"] + [b"* 0 RECENT"] * 5


def test_idle_in_one_worker_sees_delivery_in_another(server):
    import smtplib

    idlers = []
    for _ in range(4):  # spread over the workers
        c = RawClient(socket.create_connection(("127.0.0.1", server.ports["imap"]), timeout=10))
        c.line()
        c.ok(f"l LOGIN {USER} {PASSWORD}")
        c.ok("s SELECT INBOX")
        c.send(b"i IDLE\r\n")
        assert c.line() == b"+ idling"
        idlers.append(c)
    start = time.monotonic()
    with smtplib.LMTP("127.0.0.1", server.ports["lmtp"]) as lmtp:
        lmtp.sendmail("a@example.net", [USER], b"Subject: r\r\n\r\nx\r\n")
    for c in idlers:
        assert c.line() == b"* 1 EXISTS"
    assert time.monotonic() - start < 1.0
