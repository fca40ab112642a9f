"""Several clients on one mailbox never see a response that contradicts
RFC 9051 or what the server told them before (``checker.py``).

``make test`` runs 4 clients for 10 s; ``make soak`` (HIVEMAIL_SOAK=1) runs
HIVEMAIL_CONSISTENCY_CLIENTS (6) for HIVEMAIL_CONSISTENCY_SECONDS (180).
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from tests.consistency.checker import run
from tests.support.server import HivemailServer, cli

SOAK = os.environ.get("HIVEMAIL_SOAK") == "1"
SECONDS = float(os.environ.get("HIVEMAIL_CONSISTENCY_SECONDS", 180 if SOAK else 10))
CLIENTS = int(os.environ.get("HIVEMAIL_CONSISTENCY_CLIENTS", 6 if SOAK else 4))
SEED = int(os.environ.get("HIVEMAIL_SOAK_SEED", time.time_ns() % 1_000_000 if SOAK else 9051))

pytestmark = [pytest.mark.xdist_group("consistency"), pytest.mark.slow, pytest.mark.timeout(int(SECONDS + 240))]

USER = "checker@example.org"


def test_concurrent_clients_see_a_consistent_mailbox(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "checker.toml").write_text("[auth]\nfailure_delay = 0.01\n")
    cli(data, "user", "add", USER, "--password", "pw")
    with HivemailServer(data, listeners=("imap",), extra=("--config", str(tmp_path / "checker.toml"))) as server:
        report = asyncio.run(run(server.ports["imap"], USER, "pw", "INBOX", CLIENTS, SECONDS, SEED))
        print(report.summary() + f" clients={CLIENTS} seconds={SECONDS:.0f} seed={SEED}")
        assert server.tracebacks() == [], "\n".join(server.log[-60:])
    assert sum(report.commands.values()) > 20 * CLIENTS, report.summary()
    headlines = "\n".join(e.split("\n", 1)[0] for e in report.errors)
    assert report.errors == [], f"{report.summary()}\n\n{headlines}\n\n" + "\n\n".join(report.errors[:10])
