"""Sieve on every delivery path, end to end (issue 8).

An account with a realistic script (lists to folders by List-Id, the boss
flagged and forwarded, spam discarded, an out-of-office reply) gets a table
of messages over LMTP, SMTP and ``hivemail deliver`` from a real server;
then every message's final mailbox and flags are read over IMAP (imaplib),
and the outgoing queue (DATA_DIR/queue) must hold exactly one vacation reply
and one redirect. Rejects refuse per recipient (LMTP 550, ``deliver`` 77),
and a stored script that does not parse delivers to INBOX.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import imaplib
import re
import smtplib
import time
from dataclasses import dataclass

import pytest

from tests.support.backend import open_store
from hivemail.outbound import OutboundQueue
from tests.support.server import HivemailServer, cli
from tests.support.smtp_capture import CaptureThread

pytestmark = pytest.mark.xdist_group("sieve-delivery")

PASSWORD = "secret"
BOB = "bob@example.org"          # the realistic script
CAROL = "carol@example.org"      # rejects sales mail
DAVE = "dave@example.org"        # a broken script, written past validation

BOB_SCRIPT = r"""require ["fileinto", "imap4flags", "mailbox", "envelope", "subaddress",
         "copy", "vacation"];

# Mailing lists into their folders, by List-Id (RFC 2919).
if header :contains "List-Id" "<dev.lists.example.net>" {
    fileinto :create "Lists/dev";
    stop;
}
if header :contains "List-Id" "<announce.lists.example.net>" {
    fileinto :create :flags "\\Seen" "Lists/announce";
    stop;
}
# bob+news@ is what bob gives to shops.
if envelope :detail "to" "news" {
    fileinto "Newsletters";
    stop;
}
# A folder nobody created: the implicit keep takes over.
if header :contains "Subject" "[archive]" {
    fileinto "Archive/2020";
    stop;
}
if header :is "X-Spam-Flag" "YES" {
    discard;
    stop;
}
# The boss: flagged, and a copy to the phone.
if address :is "from" "boss@example.com" {
    addflag "\\Flagged";
    redirect :copy "phone@example.net";
    stop;
}
vacation :days 7 :subject "Out of office" "I am away until Monday.";
"""

CAROL_SCRIPT = """require "reject";
if header :contains "Subject" "special offer" {
    reject "No sales mail, please.";
}
"""


@dataclass(frozen=True)
class Case:
    subject: str
    via: str                      # lmtp | smtp | deliver
    sender: str
    rcpt: str
    headers: tuple[str, ...]
    mailbox: str | None           # None: not stored anywhere
    flags: frozenset[str] = frozenset()


CASES = [
    Case("dev digest", "lmtp", "dev-bounces@lists.example.net", BOB,
         ("List-Id: Developers <dev.lists.example.net>",), "Lists/dev"),
    Case("release 2.0", "lmtp", "announce@lists.example.net", BOB,
         ("List-Id: <announce.lists.example.net>",), "Lists/announce", frozenset({"\\Seen"})),
    Case("shoe sale", "lmtp", "shop@shoes.example", "bob+news@example.org", (), "Newsletters"),
    Case("[archive] old stuff", "lmtp", "friend@example.net", BOB, ("Auto-Submitted: auto-generated",), "INBOX"),
    Case("cheap pills", "lmtp", "spammer@spam.example", BOB, ("X-Spam-Flag: YES",), None),
    Case("budget review", "lmtp", "boss@example.com", BOB, (), "INBOX", frozenset({"\\Flagged"})),
    # Came back from the phone's forwarder: marked, so not redirected again.
    Case("budget review (fwd)", "lmtp", "boss@example.com", BOB,
         (f"X-Hivemail-Redirected: <{BOB}>",), "INBOX", frozenset({"\\Flagged"})),
    Case("lunch?", "lmtp", "alice@example.net", BOB, (), "INBOX"),
    Case("lunch tomorrow?", "lmtp", "alice@example.net", BOB, (), "INBOX"),
    Case("robot report", "lmtp", "robot@example.net", BOB, ("Auto-Submitted: auto-generated",), "INBOX"),
    Case("dev over smtp", "smtp", "dev-bounces@lists.example.net", BOB,
         ("List-Id: <dev.lists.example.net>",), "Lists/dev"),
    Case("sale via lda", "deliver", "shop@shoes.example", "bob+news@example.org", (), "Newsletters"),
]


def message(case: Case, n: int) -> bytes:
    lines = [
        f"From: <{case.sender}>",
        f"To: <{BOB}>",
        f"Subject: {case.subject}",
        f"Message-ID: <case{n}@test.example>",
        "Date: Thu, 01 Jan 2026 10:00:00 +0000",
        *case.headers,
        "",
        f"Case {n}: {case.subject}",
        "",
    ]
    return "\r\n".join(lines).encode()


def send(server: HivemailServer, via: str, sender: str, rcpt: str, msg: bytes) -> None:
    if via == "deliver":
        cli(server.data_dir, "deliver", "--from", sender, rcpt, input=msg)
        return
    cls = smtplib.LMTP if via == "lmtp" else smtplib.SMTP
    with cls("127.0.0.1", server.ports[via]) as client:
        assert client.sendmail(sender, [rcpt], msg) == {}


def where_is_everything(port: int, account: str) -> dict[str, tuple[str, frozenset[str]]]:
    """subject -> (mailbox, flags without \\Recent), over IMAP."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    imap.login(account, PASSWORD)
    typ, boxes = imap.list()
    assert typ == "OK"
    for line in boxes:
        name = line.decode().rsplit(' "/" ', 1)[1].strip('"')
        typ, exists = imap.select(f'"{name}"', readonly=True)
        assert typ == "OK", name
        if int(exists[0]) == 0:
            continue
        typ, data = imap.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        for item in data:
            if not isinstance(item, tuple):
                continue
            flags = frozenset(re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split()) - {"\\Recent"}
            subject = email.message_from_bytes(item[1])["Subject"]
            assert subject not in found, f"{subject!r} stored twice"
            found[subject] = (name, flags)
    imap.logout()
    return found


def put_raw_script(data_dir, account: str, name: str, text: str) -> None:
    """Store a script with the store API itself, past the CLI's validation."""

    async def go():
        store = open_store(data_dir)
        await store.open()
        try:
            await store.sieve_put(account, name, text)
            await store.sieve_activate(account, name)
        finally:
            await store.close()

    asyncio.run(go())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("sieve-data")
    scripts = tmp_path_factory.mktemp("scripts")
    for account in (BOB, CAROL, DAVE):
        cli(data, "user", "add", account, "--password", PASSWORD)
    for account, text in ((BOB, BOB_SCRIPT), (CAROL, CAROL_SCRIPT)):
        path = scripts / f"{account}.sieve"
        path.write_text(text)
        cli(data, "sieve", "put", account, "main", str(path))
        cli(data, "sieve", "activate", account, "main")
    put_raw_script(data, DAVE, "broken", 'require "fileinto"; fileinto "Lists" if')
    with HivemailServer(data, listeners=("lmtp", "smtp", "imap")) as server:
        imap = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=10)
        imap.login(BOB, PASSWORD)
        assert imap.create("Newsletters")[0] == "OK"
        imap.logout()
        for n, case in enumerate(CASES):
            send(server, case.via, case.sender, case.rcpt, message(case, n))
        yield server


def test_every_message_lands_where_the_script_says(world):
    found = where_is_everything(world.ports["imap"], BOB)
    expected = {c.subject: (c.mailbox, c.flags) for c in CASES if c.mailbox is not None}
    assert found == expected
    assert world.tracebacks() == []


def test_queue_holds_one_vacation_and_one_redirect(world):
    queue = OutboundQueue(world.data_dir / "queue")
    entries = sorted(queue.entries(), key=lambda e: e.sender)
    assert [(e.sender, e.recipients) for e in entries] == [
        ("", ("alice@example.net",)),                     # the vacation, once for two messages
        ("boss@example.com", ("phone@example.net",)),     # the redirect, not again when it came back
    ]
    vacation = email.message_from_bytes(queue.read_message(entries[0]), policy=email.policy.default)
    assert vacation["To"] == "alice@example.net"
    assert vacation["From"] == BOB
    assert vacation["Subject"] == "Out of office"
    assert vacation["Auto-Submitted"].startswith("auto-replied")
    assert vacation["In-Reply-To"] == f"<case{[c.subject for c in CASES].index('lunch?')}@test.example>"
    redirected = queue.read_message(entries[1])
    assert redirected.startswith(f"X-Hivemail-Redirected: <{BOB}>\r\n".encode())
    assert b"Subject: budget review\r\n" in redirected


def test_reject_refuses_over_lmtp_and_deliver(world):
    offer = b"From: <shop@shoes.example>\r\nTo: <carol@example.org>\r\nSubject: special offer\r\n\r\nBuy!\r\n"
    with smtplib.LMTP("127.0.0.1", world.ports["lmtp"]) as lmtp:
        with pytest.raises(smtplib.SMTPDataError) as info:
            lmtp.sendmail("shop@shoes.example", [CAROL], offer)
    assert info.value.smtp_code == 550
    assert info.value.smtp_error == b"5.7.1 No sales mail, please."
    proc = cli(world.data_dir, "deliver", "--from", "shop@shoes.example", CAROL, input=offer, check=False)
    assert proc.returncode == 77
    assert b"No sales mail, please." in proc.stderr
    fine = offer.replace(b"special offer", b"invoice")
    send(world, "lmtp", "shop@shoes.example", CAROL, fine)
    assert where_is_everything(world.ports["imap"], CAROL) == {"invoice": ("INBOX", frozenset())}


def test_malformed_stored_script_delivers_to_inbox(world):
    msg = b"From: <alice@example.net>\r\nTo: <dave@example.org>\r\nSubject: still arrives\r\n\r\nHi\r\n"
    send(world, "lmtp", "alice@example.net", DAVE, msg)
    assert where_is_everything(world.ports["imap"], DAVE) == {"still arrives": ("INBOX", frozenset())}
    assert any("does not parse" in line for line in world.log)


def test_vacation_and_redirect_reach_the_relay_exactly_once(tmp_path):
    """With `serve --smarthost`, the queued vacation reply and redirect go
    out through the relay (a local SMTP capture server), each once."""
    cli(tmp_path, "user", "add", BOB, "--password", PASSWORD)
    (tmp_path / "bob.sieve").write_text(BOB_SCRIPT)
    cli(tmp_path, "sieve", "put", BOB, "main", str(tmp_path / "bob.sieve"))
    cli(tmp_path, "sieve", "activate", BOB, "main")
    relay = CaptureThread()
    server = HivemailServer(tmp_path, listeners=("lmtp",), extra=("--smarthost", f"127.0.0.1:{relay.port}"))
    try:
        server.start()
        boss = Case("budget review", "lmtp", "boss@example.com", BOB, (), "INBOX")
        lunch = Case("lunch?", "lmtp", "alice@example.net", BOB, (), "INBOX")
        for n, case in enumerate((boss, lunch, lunch)):
            send(server, case.via, case.sender, case.rcpt, message(case, n))
        deadline = time.monotonic() + 15
        while len(relay.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # a duplicate would come now
        got = sorted((m.sender, tuple(m.recipients)) for m in relay.messages)
        assert got == [("", ("alice@example.net",)), ("boss@example.com", ("phone@example.net",))]
        assert OutboundQueue(tmp_path / "queue").entries() == []
    finally:
        server.stop()
        relay.close()
    assert server.tracebacks() == []
