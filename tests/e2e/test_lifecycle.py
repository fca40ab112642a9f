"""Start-up and shutdown of `hivemail serve`, as the contract states them."""

from __future__ import annotations

import signal

import pytest

from tests.e2e.test_smtp_errors import Client
from tests.support.server import HivemailServer, cli

pytestmark = pytest.mark.xdist_group("lifecycle")


def test_sigterm_says_goodbye_and_exits_cleanly(tmp_path):
    cli(tmp_path, "user", "add", "a@example.org", "--password", "pw")
    server = HivemailServer(tmp_path, listeners=("lmtp", "smtp")).start()
    lmtp = Client(server.ports["lmtp"])
    assert lmtp.cmd(b"LHLO x").startswith(b"250 ")
    server.proc.send_signal(signal.SIGTERM)
    assert lmtp.line().startswith(b"421 4.3.2 ")
    assert server.proc.wait(15) == 0
    assert server.tracebacks() == []


def test_first_start_makes_a_self_signed_certificate(tmp_path):
    with HivemailServer(tmp_path, listeners=("lmtp",)):
        pass
    assert b"BEGIN CERTIFICATE" in (tmp_path / "tls-cert.pem").read_bytes()
    assert (tmp_path / "tls-key.pem").stat().st_mode & 0o777 == 0o600
