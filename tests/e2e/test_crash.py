"""Durability: a message acknowledged with 250 survives ``kill -9``.

Deliveries run in a loop over LMTP while the server is killed with SIGKILL
at random moments, more than twenty times. Afterwards every acknowledged
message is in the store, nothing is there half (the store's check verifies
each file against its recorded size and hash), and ``hivemail check``
reports a clean store.
"""

from __future__ import annotations

import random
import re
import smtplib
import threading
import time

import pytest

from tests.e2e.test_delivery import read_mailbox
from tests.support.server import HivemailServer, cli

pytestmark = pytest.mark.xdist_group("crash")

KILLS = 24
ACCOUNT = "crash@example.org"


def message(n: int, size: int) -> bytes:
    filler = (f"line {n} " * 12 + "\r\n").encode() * (size // 100 + 1)
    return (
        f"From: loop@example.net\r\nTo: {ACCOUNT}\r\nSubject: crash test {n}\r\n"
        f"Message-ID: <crash-{n}@example.net>\r\nX-Seq: {n}\r\n\r\n"
    ).encode() + filler


def deliver_until_dead(port: int, start: int, acked: list[int], stop: threading.Event) -> int:
    """Deliver messages n = start, start+1, ... until the connection dies."""
    n = start
    rng = random.Random(start)
    try:
        client = smtplib.LMTP("127.0.0.1", port, timeout=10)
        while not stop.is_set():
            # Mostly small messages, some large enough to be mid-write when killed.
            size = rng.choice([200, 2_000, 20_000, 300_000])
            refused = client.sendmail("loop@example.net", [ACCOUNT], message(n, size))
            if refused == {}:
                acked.append(n)
            n += 1
    except (smtplib.SMTPException, OSError):
        pass
    return n


def test_acknowledged_messages_survive_sigkill(tmp_path):
    data = tmp_path / "data"
    cli(data, "user", "add", ACCOUNT, "--password", "pw")
    rng = random.Random(20261127)
    acked: list[int] = []
    attempted = 0
    for _ in range(KILLS):
        server = HivemailServer(data, listeners=("lmtp",)).start()
        stop = threading.Event()
        result: list[int] = []
        worker = threading.Thread(
            target=lambda: result.append(deliver_until_dead(server.ports["lmtp"], attempted, acked, stop))
        )
        worker.start()
        time.sleep(rng.uniform(0.05, 0.6))
        server.kill()
        stop.set()
        worker.join(30)
        assert not worker.is_alive()
        # The message in flight at the kill may or may not be stored; never
        # reuse its number, so a duplicate would mean a real double store.
        attempted = (result[0] if result else attempted) + 1

    assert len(acked) > KILLS, "the loop acknowledged too few messages to prove anything"
    # Restarting the server runs crash recovery (orphan removal) first.
    with HivemailServer(data, listeners=("lmtp",)):
        pass
    stored = read_mailbox(data, ACCOUNT)
    seqs = []
    for raw, _ in stored:
        m = re.search(rb"\r\nX-Seq: (\d+)\r\n", raw)
        assert m, "a stored message lost its header"
        n = int(m.group(1))
        seqs.append(n)
        # Whole: the body is exactly what was sent (the message is its own checksum).
        body = raw[raw.index(b"Subject: crash test") - len(f"From: loop@example.net\r\nTo: {ACCOUNT}\r\n") :]
        assert any(body == message(n, size) for size in (200, 2_000, 20_000, 300_000)), f"message {n} is damaged"
    assert set(acked) <= set(seqs), f"acknowledged but lost: {sorted(set(acked) - set(seqs))}"
    assert len(seqs) == len(set(seqs)), "a message was stored twice"
    report = cli(data, "check")
    assert "store is clean" in report.stdout.decode(), report.stdout.decode()
