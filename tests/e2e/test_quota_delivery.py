"""Quota where mail comes in: LMTP, SMTP and ``hivemail deliver`` over real
sockets and processes. RFC 3463 X.2.2 "mailbox full": 452 4.2.2 while the
account is over its quota (expunging makes room, the MTA retries), 552
5.2.2 when the message alone is bigger than the storage limit (it can never
fit). LMTP answers per recipient after DATA (RFC 2033 4.2); SMTP, which has
one reply after DATA, refuses a full mailbox at RCPT."""

from __future__ import annotations

import json

import pytest

from tests.support.server import HivemailServer, cli
from tests.support.smtp_lines import SmtpLines

pytestmark = pytest.mark.xdist_group("delivery")

FULL = "full@example.org"        # --messages 1, holding 1: nothing fits now
SMALL = "small@example.org"      # --storage 1K: a 2000-octet message never fits
ROOMY = "roomy@example.org"      # --storage 2K: holds 1200 octets, a 1000-octet message would not fit now
FREE = "free@example.org"        # no limits
BIG = b"Subject: big\r\n\r\n" + b"b" * 2000 + b"\r\n"
MEDIUM = b"Subject: medium\r\n\r\n" + b"m" * 1000 + b"\r\n"
SMALL_MSG = b"Subject: small\r\n\r\nhi\r\n"


class Lines(SmtpLines):
    def __init__(self, port: int) -> None:
        super().__init__(port)
        assert self.greeting[-1].startswith(b"220 ")

    def close(self) -> None:
        self.send(b"QUIT\r\n")
        super().close()


def usage(data_dir, account: str) -> tuple[int, int]:
    report = json.loads(cli(data_dir, "user", "quota", account, "--json").stdout)
    return report["storage"]["used"], report["messages"]["used"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("quota-delivery")
    for account in (FULL, SMALL, ROOMY, FREE):
        cli(data, "user", "add", account, "--password", "secret")
    cli(data, "deliver", FULL, input=SMALL_MSG)
    cli(data, "deliver", ROOMY, input=b"Subject: x\r\n\r\n" + b"r" * 1200 + b"\r\n")
    cli(data, "user", "quota", FULL, "--messages", "1")
    cli(data, "user", "quota", SMALL, "--storage", "1K")
    cli(data, "user", "quota", ROOMY, "--storage", "2K")
    srv = HivemailServer(data)
    srv.start()
    yield srv
    srv.stop()
    assert srv.tracebacks() == [], "\n".join(srv.log)


def test_lmtp_answers_each_recipient_for_its_own_quota(server):
    data = server.data_dir
    before = {a: usage(data, a) for a in (FULL, SMALL, FREE)}
    c = Lines(server.ports["lmtp"])
    c.cmd("LHLO client.example")
    assert c.cmd("MAIL FROM:<sender@example.net>").startswith(b"250 ")
    for rcpt in (FULL, SMALL, FREE):
        # LMTP does not look at the quota before DATA (Dovecot's default too).
        assert c.cmd(f"RCPT TO:<{rcpt}>") == f"250 2.1.5 <{rcpt}> Recipient OK".encode()
    full, small, free = c.data(BIG, replies=3)
    assert full == f"452 4.2.2 <{FULL}> Quota exceeded (mailbox for user is full), try again later".encode()
    assert small == f"552 5.2.2 <{SMALL}> Quota exceeded (message is larger than the mailbox quota)".encode()
    assert free.startswith(f"250 2.0.0 <{FREE}> Saved as ".encode()), free
    # The connection goes on: the next transaction is judged afresh.
    assert c.cmd("MAIL FROM:<sender@example.net>").startswith(b"250 ")
    assert c.cmd(f"RCPT TO:<{SMALL}>").startswith(b"250 ")
    [ok] = c.data(SMALL_MSG)
    assert ok.startswith(f"250 2.0.0 <{SMALL}> Saved as ".encode()), ok
    c.close()
    assert usage(data, FULL) == before[FULL]
    assert usage(data, SMALL)[1] == before[SMALL][1] + 1
    assert usage(data, FREE)[1] == before[FREE][1] + 1


def test_lmtp_over_quota_now_is_temporary_for_one_recipient_only(server):
    """ROOMY holds 1200 of 2048 octets: MEDIUM (~1020) fits the limit but
    not now: 452 4.2.2, while FREE in the same transaction gets it."""
    data = server.data_dir
    before = usage(data, ROOMY)
    c = Lines(server.ports["lmtp"])
    c.cmd("LHLO client.example")
    c.cmd("MAIL FROM:<sender@example.net>")
    c.cmd(f"RCPT TO:<{ROOMY}>")
    c.cmd(f"RCPT TO:<{FREE}>")
    roomy, free = c.data(MEDIUM, replies=2)
    assert roomy == f"452 4.2.2 <{ROOMY}> Quota exceeded (mailbox for user is full), try again later".encode()
    assert free.startswith(f"250 2.0.0 <{FREE}> Saved as ".encode()), free
    c.close()
    assert usage(data, ROOMY) == before


def test_smtp_refuses_a_full_mailbox_at_rcpt_and_the_rest_after_data(server):
    c = Lines(server.ports["smtp"])
    c.cmd("EHLO client.example")
    assert c.cmd("MAIL FROM:<sender@example.net>").startswith(b"250 ")
    # One reply after DATA serves every recipient in SMTP: a mailbox that is
    # full is refused per recipient at RCPT (RFC 5321 4.2.2, 452).
    assert c.cmd(f"RCPT TO:<{FULL}>") == (
        f"452 4.2.2 <{FULL}> Quota exceeded (mailbox for user is full), try again later".encode())
    assert c.cmd(f"RCPT TO:<{FREE}>") == f"250 2.1.5 <{FREE}> Recipient OK".encode()
    assert c.data(SMALL_MSG) == [b"250 2.0.0 Message accepted for 1 of 1 recipients"]
    # Not full, but this message can never fit: 552 5.2.2 after DATA.
    c.cmd("MAIL FROM:<sender@example.net>")
    assert c.cmd(f"RCPT TO:<{SMALL}>").startswith(b"250 ")
    assert c.data(BIG) == [
        f"552 5.2.2 <{SMALL}> Quota exceeded (message is larger than the mailbox quota)".encode()]
    # Not full, would fit an emptier mailbox: 452 4.2.2 after DATA.
    c.cmd("MAIL FROM:<sender@example.net>")
    assert c.cmd(f"RCPT TO:<{ROOMY}>").startswith(b"250 ")
    assert c.data(MEDIUM) == [
        f"452 4.2.2 <{ROOMY}> Quota exceeded (mailbox for user is full), try again later".encode()]
    c.close()


def test_deliver_exit_codes_for_quota(server):
    """75 (EX_TEMPFAIL) while over quota, 77 (EX_NOPERM) when it can never
    fit: what dovecot-lda -e exits with (cli.py explains the choice)."""
    data = server.data_dir
    before = {a: usage(data, a) for a in (FULL, SMALL)}
    full = cli(data, "deliver", FULL, input=SMALL_MSG, check=False)
    assert full.returncode == 75, full.stderr
    assert b"mailbox for user is full" in full.stderr
    small = cli(data, "deliver", SMALL, input=BIG, check=False)
    assert small.returncode == 77, small.stderr
    assert b"larger than the quota limit" in small.stderr
    assert {a: usage(data, a) for a in (FULL, SMALL)} == before
    assert cli(data, "deliver", FREE, input=BIG).returncode == 0
