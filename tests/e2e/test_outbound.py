"""Outgoing mail end to end: the queue on disk, the runner, the relay
client over real sockets to the capture relay, and crashes with SIGKILL.

The capture relay is itself checked first against an independent client
(smtplib), so the other tests do not measure our client with a ruler made
of our own assumptions.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import smtplib
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import uvloop

from hivemail.net.tls import ensure_self_signed, server_context
from hivemail.outbound import OutboundQueue, OutboundRunner, OutboundSettings
from tests.support.smtp_capture import SmtpCapture

MSG = b"From: sieve@example.org\r\nTo: away@example.net\r\nSubject: Re: hello\r\n\r\nline one\r\n.starts with a dot\r\n.\r\n"
ROOT = Path(__file__).resolve().parents[2]


def run(loop_name: str, coro, timeout: float = 15.0):
    async def bounded():
        async with asyncio.timeout(timeout):
            return await coro

    return uvloop.run(bounded()) if loop_name == "uvloop" else asyncio.run(bounded())


@pytest.fixture(scope="module")
def relay_tls(tmp_path_factory):
    cert, key = ensure_self_signed(tmp_path_factory.mktemp("relay-tls"), "localhost")
    return cert, server_context(cert, key)


def test_the_capture_relay_agrees_with_smtplib(relay_tls):
    cert, ctx = relay_tls

    def client(port: int) -> dict:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as s:
            s.starttls(context=ssl._create_unverified_context())  # noqa: S323 - loopback test peer
            s.login("u", "pw")
            return s.sendmail("x@example.org", ["y@example.net", "z@example.net"], MSG)

    async def go():
        async with SmtpCapture(tls=ctx, credentials=("u", "pw"), rcpt_replies={"z@example.net": b"550 5.1.1 no"}) as relay:
            refused = await asyncio.to_thread(client, relay.port)
            return relay, refused

    relay, refused = run("asyncio", go())
    assert refused == {"z@example.net": (550, b"5.1.1 no")}
    [got] = relay.messages
    assert (got.sender, got.recipients, got.tls, got.auth_user) == ("x@example.org", ["y@example.net"], True, "u")
    assert got.data == MSG and b"\r\n..starts with a dot\r\n..\r\n" in got.wire


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_submitted_mail_reaches_the_relay_over_starttls_and_auth_once(tmp_path, relay_tls, loop_name):
    cert, ctx = relay_tls

    async def go():
        async with SmtpCapture(tls=ctx, credentials=("hive", "pw")) as relay:
            settings = OutboundSettings(
                smarthost=f"localhost:{relay.port}", starttls="required", tls_ca_file=str(cert),
                auth_user="hive", auth_password="pw", timeout=5,
            )
            queue = OutboundQueue(tmp_path / "queue", settings)
            runner = OutboundRunner(queue, settings)
            runner.start()
            await runner.submit("", ["away@example.net"], MSG)
            for _ in range(500):
                if relay.messages and not queue.entries():
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # time for a duplicate to show, if there were one
            await runner.stop(grace=2)
            return relay, queue

    relay, queue = run(loop_name, go())
    [got] = relay.messages
    assert (got.sender, got.recipients, got.data, got.tls, got.auth_user) == ("", ["away@example.net"], MSG, True, "hive")
    assert queue.entries() == [] and os.listdir(queue.tmp) == []


# -- crash safety ----------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from hivemail.outbound import OutboundQueue

    root, point = sys.argv[1], sys.argv[2]
    real_write, real_fsync = os.write, os.fsync
    fsyncs = 0

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def write(fd, data):
        if point == "mid-write":  # half the message, then the end
            real_write(fd, bytes(data[: len(data) // 2]))
            die()
        return real_write(fd, data)

    def fsync(fd):
        global fsyncs
        fsyncs += 1
        if point == f"fsync{fsyncs}":
            die()
        real_fsync(fd)

    os.write, os.fsync = write, fsync
    entry_id = OutboundQueue(root).enqueue("", ["away@example.net", "boss@example.net"], sys.stdin.buffer.read())
    print(entry_id, flush=True)
    die()
    """
)

# Where enqueue is killed, and whether the entry must exist afterwards.
# fsync1: the message's temp file is written, not renamed; fsync2: the
# message is renamed, the envelope's temp is written; fsync3: both renamed,
# the directory not yet synced (a kill, unlike a power cut, keeps the names).
KILL_POINTS = [("mid-write", False), ("fsync1", False), ("fsync2", False), ("fsync3", True), ("returned", True)]


@pytest.mark.parametrize(("point", "exists"), KILL_POINTS)
def test_sigkill_during_or_after_enqueue(tmp_path, point, exists):
    root = tmp_path / "queue"
    OutboundQueue(root).recover()
    big = MSG + b"x" * 200_000 + b"\r\n"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), point], input=big, capture_output=True, timeout=30, cwd=ROOT,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    printed = child.stdout.decode().strip()
    assert bool(printed) == (point == "returned")

    left_behind = os.listdir(root / "tmp") + [n for n in os.listdir(root) if n.endswith(".msg")]
    if not exists:
        assert left_behind, "the kill point left nothing behind: the test does not test recovery"

    queue = OutboundQueue(root)
    queue.recover()
    assert os.listdir(root / "tmp") == []
    entries = queue.entries()
    if exists:
        [entry] = entries
        if printed:
            assert entry.id == printed
        assert entry.recipients == ("away@example.net", "boss@example.net") and entry.sender == ""
        assert queue.read_message(entry) == big
        assert sorted(os.listdir(root)) == sorted(["tmp", "failed", f"{entry.id}.env", f"{entry.id}.msg"])
    else:
        assert entries == []
        assert sorted(os.listdir(root)) == ["failed", "tmp"]


def test_an_entry_that_survived_a_kill_is_delivered_once_after_restart(tmp_path):
    root = tmp_path / "queue"
    OutboundQueue(root).recover()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), "returned"], input=MSG, capture_output=True, timeout=30, cwd=ROOT,
    )
    assert child.returncode == -signal.SIGKILL
    # A stray half-written temp file of another dead writer, too.
    (root / "tmp" / "999999999-0badc0de").write_bytes(b"From: half")

    async def go():
        async with SmtpCapture() as relay:
            settings = OutboundSettings(smarthost=f"127.0.0.1:{relay.port}", timeout=5)
            queue = OutboundQueue(root, settings, rng=random.Random(0))
            runner = OutboundRunner(queue, settings)
            runner.start()
            for _ in range(500):
                if relay.messages and not queue.entries():
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            await runner.stop(grace=2)
            return relay

    relay = run("asyncio", go())
    [got] = relay.messages
    assert got.recipients == ["away@example.net", "boss@example.net"] and got.data == MSG
    assert os.listdir(root / "tmp") == []
    assert not [n for n in os.listdir(root) if n.endswith((".env", ".msg"))]

