"""Every fixture message delivered three ways (LMTP, SMTP, ``hivemail deliver``)
through a real server over real sockets, then read back from the store:
byte-exact after CRLF normalisation, with the same ENVELOPE and
BODYSTRUCTURE as the analysis of the original (which the golden tests in
tests/golden/mime compare with the RFCs and with Dovecot)."""

from __future__ import annotations

import asyncio
import smtplib
from pathlib import Path

import pytest

from hivemail.imap_proto.bodystructure import body, envelope
from tests.support.backend import open_store
from hivemail.mime import MessageAnalysis, analyse, normalise_crlf
from tests.support.server import HivemailServer, cli

pytestmark = pytest.mark.xdist_group("delivery")

FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "messages").glob("*.eml"))
ACCOUNTS = {"lmtp": "viallmtp@example.org", "smtp": "viasmtp@example.org", "deliver": "viadeliver@example.org"}


def read_mailbox(data_dir: Path, account: str, mailbox: str = "INBOX") -> list[tuple[bytes, bytes]]:
    """[(stored bytes, stored analysis)] in UID order, read with the store itself."""

    async def go():
        store = open_store(data_dir)
        await store.open()
        try:
            snap = await store.snapshot(account, mailbox)
            out = []
            for m in snap.messages:
                out.append((await store.read_blob(m.blob_id), await store.read_analysis(snap.mailbox.id, m.uid)))
            return out
        finally:
            await store.close()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    for account in ACCOUNTS.values():
        cli(data, "user", "add", account, "--password", "secret")
    with HivemailServer(data) as server:
        lmtp = smtplib.LMTP("127.0.0.1", server.ports["lmtp"])
        smtp = smtplib.SMTP("127.0.0.1", server.ports["smtp"])
        for path in FIXTURES:
            msg = path.read_bytes()
            assert lmtp.sendmail("sender@example.net", [ACCOUNTS["lmtp"]], msg) == {}
            assert smtp.sendmail("sender@example.net", [ACCOUNTS["smtp"]], msg) == {}
            cli(data, "deliver", ACCOUNTS["deliver"], "--from", "sender@example.net", input=msg)
        lmtp.quit()
        smtp.quit()
        assert server.tracebacks() == []
    return {via: read_mailbox(data, account) for via, account in ACCOUNTS.items()}


def expected_body(raw: bytes, via: str) -> bytes:
    norm = normalise_crlf(raw)
    # DATA cannot carry a message that does not end in CRLF (RFC 5321
    # 4.1.1.4: the end is <CRLF>.<CRLF>), so the client adds one; a local
    # delivery from standard input keeps the bytes as they are.
    if via != "deliver" and not norm.endswith(b"\r\n"):
        norm += b"\r\n"
    return norm


@pytest.mark.parametrize("via", list(ACCOUNTS))
def test_every_fixture_is_stored_byte_exact(delivered, via):
    stored = delivered[via]
    assert len(stored) == len(FIXTURES)
    for path, (raw, _) in zip(FIXTURES, stored):
        want = expected_body(path.read_bytes(), via)
        assert raw.endswith(want), path.name
        trace = raw[: len(raw) - len(want)]
        # Only our trace fields precede the message: Return-Path then Received.
        assert trace.startswith(b"Return-Path: <sender@example.net>\r\nReceived: "), path.name
        assert trace.count(b"\r\n") >= 2 and b"\r\n\r\n" not in trace, path.name


@pytest.mark.parametrize("via", list(ACCOUNTS))
def test_stored_analysis_matches_the_original(delivered, via):
    for path, (raw, analysis) in zip(FIXTURES, delivered[via]):
        stored = MessageAnalysis.from_bytes(analysis)
        original = analyse(expected_body(path.read_bytes(), via))
        assert stored.size == len(raw)
        assert envelope(stored) == envelope(original), path.name
        assert body(stored, extended=True) == body(original, extended=True), path.name
        assert body(stored, extended=False) == body(original, extended=False), path.name


def test_bytes_on_disk_are_crlf_only(delivered):
    for via, stored in delivered.items():
        for path, (raw, _) in zip(FIXTURES, stored):
            assert raw.count(b"\n") == raw.count(b"\r\n"), (via, path.name)
