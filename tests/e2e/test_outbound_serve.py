"""`serve --smarthost` sends what is queued in DATA_DIR/queue (issue 8: the
path of Sieve redirects and vacation replies), from a server with one
worker and from one with a supervisor (the indexer process sends)."""

from __future__ import annotations

import time

import pytest

from hivemail.outbound import OutboundQueue
from tests.support.server import HivemailServer, cli
from tests.support.smtp_capture import CaptureThread

pytestmark = pytest.mark.xdist_group("delivery")

MESSAGE = b"From: a@example.org\r\nTo: bob@example.net\r\nSubject: away\r\n\r\nBack on Monday.\r\n"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_queued_mail_reaches_the_smarthost_once(tmp_path, workers):
    cli(tmp_path, "user", "add", "a@example.org", "--password", "pw")
    relay = CaptureThread()
    server = HivemailServer(tmp_path, listeners=("lmtp",),
                            extra=("--smarthost", f"127.0.0.1:{relay.port}", "--workers", workers))
    try:
        server.start()
        # Another process queues (as a worker does for a vacation reply).
        OutboundQueue(tmp_path / "queue").enqueue("", ["bob@example.net"], MESSAGE)
        deadline = time.monotonic() + 15
        while not relay.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # a second send would come now
        assert [(m.sender, m.recipients, m.data) for m in relay.messages] == [
            ("", ["bob@example.net"], MESSAGE)]
        assert OutboundQueue(tmp_path / "queue").entries() == []
    finally:
        server.stop()
        relay.close()
    assert server.tracebacks() == []
    assert any(f"through 127.0.0.1:{relay.port}" in line for line in server.log)


def test_a_bad_smarthost_is_refused_at_start(tmp_path):
    r = cli(tmp_path, "serve", "--smarthost", "relay.example.org:notaport", check=False)
    assert r.returncode == 64 and b"--smarthost" in r.stderr
