"""Two hivemail nodes on one PostgreSQL database (issue 9).

Each node has a data directory of its own (TLS certificate, local locks)
and both are started with ``--storage`` naming the same database: what one
node changes, the other serves. Checked on the wire with real clients:

* IDLE on node A is told of an LMTP delivery made on node B within 1 s
  (LISTEN/NOTIFY, not polling);
* flags stored through A show in B's next NOOP (RFC 9051 section 6.1.2:
  NOOP is the client's chance to hear of changes);
* POP3 on A and B at once for one account: the second gets [IN-USE]
  (RFC 2449 section 8.1.1), and the lock is free again once A quits.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
import time

import pytest

from tests.support import postgres
from tests.support.backend import pair
from tests.support.server import HivemailServer, cli

# Picks its own storage (one database for both nodes) whatever the pass:
# run once, in the first pass.
pytestmark = pytest.mark.embedded_only

USER = "user@example.org"
PASSWORD = "secret"
MESSAGE = b"From: a@example.com\r\nTo: user@example.org\r\nSubject: hello\r\n\r\nbody\r\n"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    url = postgres.fresh_url()
    dirs = [tmp_path_factory.mktemp("node-a"), tmp_path_factory.mktemp("node-b")]
    for d in dirs:
        pair(d, url)
    cli(dirs[0], "user", "add", USER, "--password", PASSWORD)
    listeners = ("imap", "pop3", "lmtp")
    with HivemailServer(dirs[0], listeners) as a, HivemailServer(dirs[1], listeners) as b:
        yield a, b
        assert a.tracebacks() == [] and b.tracebacks() == []


def deliver(server: HivemailServer, raw: bytes = MESSAGE) -> None:
    with smtplib.LMTP("127.0.0.1", server.ports["lmtp"]) as lmtp:
        lmtp.sendmail("a@example.com", [USER], raw)


def imap(server: HivemailServer) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=10)
    c.login(USER, PASSWORD)
    return c


def test_idle_on_one_node_hears_a_delivery_on_the_other_within_a_second(nodes):
    a, b = nodes
    s = socket.create_connection(("127.0.0.1", a.ports["imap"]), timeout=10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK")
    s.sendall(b"a LOGIN %s %s\r\n" % (USER.encode(), PASSWORD.encode()))
    while not f.readline().startswith(b"a OK"):
        pass
    s.sendall(b"b SELECT INBOX\r\n")
    exists = None
    while True:
        line = f.readline()
        if line.endswith(b" EXISTS\r\n"):
            exists = int(line.split()[1])
        if line.startswith(b"b OK"):
            break
    s.sendall(b"c IDLE\r\n")
    assert f.readline().startswith(b"+ ")
    for _ in range(3):
        start = time.monotonic()
        deliver(b)
        acknowledged = time.monotonic()
        line = f.readline()
        while line.endswith(b" RECENT\r\n"):  # IMAP4rev1 follows EXISTS with RECENT
            line = f.readline()
        told = time.monotonic()
        exists += 1
        assert line == b"* %d EXISTS\r\n" % exists
        # From the 250 on B to the untagged EXISTS on A.
        assert told - acknowledged < 1.0, (told - acknowledged, acknowledged - start)
        print(f"IDLE on node A told {1000 * (told - acknowledged):.1f} ms after node B's LMTP 250")
    s.sendall(b"DONE\r\n")
    line = f.readline()
    while line.startswith(b"* "):
        line = f.readline()
    assert line.startswith(b"c OK"), line
    s.close()


def test_flags_stored_on_one_node_show_in_the_other_nodes_next_noop(nodes):
    a, b = nodes
    deliver(a)
    on_a, on_b = imap(a), imap(b)
    try:
        _, [count] = on_a.select("INBOX")
        on_b.select("INBOX")
        n = int(count)
        assert on_a.store(str(n), "+FLAGS", "(\\Flagged $Important)")[0] == "OK"
        typ, _ = on_b.noop()
        assert typ == "OK"
        fetches = on_b.untagged_responses.get("FETCH", [])
        mine = [r for r in fetches if isinstance(r, bytes) and r.startswith(b"%d (" % n)]
        assert mine and b"\\Flagged" in mine[-1] and b"$Important" in mine[-1], fetches
    finally:
        on_a.logout()
        on_b.logout()


def test_pop3_on_both_nodes_at_once_gets_in_use(nodes):
    a, b = nodes
    first = poplib.POP3("127.0.0.1", a.ports["pop3"], timeout=10)
    first.user(USER)
    assert first.pass_(PASSWORD).startswith(b"+OK")
    second = poplib.POP3("127.0.0.1", b.ports["pop3"], timeout=10)
    second.user(USER)
    with pytest.raises(poplib.error_proto) as refused:
        second.pass_(PASSWORD)
    assert refused.value.args[0] == b"-ERR [IN-USE] Mailbox is locked by another POP3 session"
    assert first.quit().startswith(b"+OK")
    second = poplib.POP3("127.0.0.1", b.ports["pop3"], timeout=10)
    second.user(USER)
    assert second.pass_(PASSWORD).startswith(b"+OK")
    second.quit()
