"""``hivemail migrate`` with real servers and clients (issue 9): mail
delivered over LMTP to an embedded store, flagged and expunged over IMAP,
is moved to PostgreSQL and back, and every client sees the same mailboxes
afterwards: same UIDVALIDITY, UIDs, flags, MODSEQs, bytes and POP3 UIDLs,
and QRESYNC still reports what was expunged before the move. A target that
holds mail, a source in use and an unknown storage scheme are refused.

The test picks its storage itself (embedded, then PostgreSQL, then
embedded again), so it is left out of the PostgreSQL pass of the suite.
"""

from __future__ import annotations

import imaplib
import poplib
import re
import smtplib
import sqlite3
import subprocess

import pytest

from tests.support.backend import pair
from tests.support.postgres import fresh_url
from tests.support.server import HivemailServer, cli, hivemail_cmd

pytestmark = [pytest.mark.embedded_only, pytest.mark.xdist_group("migrate")]

USER = "mover@example.org"
PASSWORD = "move secret"
LISTENERS = ("imap", "pop3", "lmtp")
MAILBOXES = ("INBOX", "Archive", "Kept")


def message(n: int) -> bytes:
    return (f"From: sender{n}@example.com\r\nTo: {USER}\r\nSubject: message {n}\r\n"
            f"Message-ID: <m{n}@example.com>\r\n\r\nbody of message {n}, word{n}x\r\n").encode()


def migrate(source, target) -> subprocess.CompletedProcess:
    return subprocess.run([*hivemail_cmd(), "migrate", "--from", str(source), "--to", str(target)],
                          capture_output=True, timeout=300)


def server(data, tmp_path) -> HivemailServer:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[auth]\nfailure_delay = 0.01\n")
    return HivemailServer(data, listeners=LISTENERS, extra=("--config", str(cfg), "--workers", "1"))


def deliver(srv: HivemailServer, *numbers: int) -> None:
    with smtplib.LMTP("127.0.0.1", srv.ports["lmtp"]) as lmtp:
        for n in numbers:
            assert lmtp.sendmail("sender@example.com", [USER], message(n)) == {}


def imap(srv: HivemailServer) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30)
    c.login(USER, PASSWORD)
    ok(c.enable("CONDSTORE"))
    return c


def ok(result):
    typ, data = result
    assert typ == "OK", data
    return data


FETCH = re.compile(rb"UID (\d+)|FLAGS \(([^)]*)\)|MODSEQ \((\d+)\)")


def state(srv: HivemailServer) -> dict:
    """Everything a client can see and cache: per mailbox its STATUS, and
    per UID its flags, MODSEQ and bytes; and the POP3 UIDLs of INBOX."""
    seen: dict = {}
    c = imap(srv)
    try:
        for box in MAILBOXES:
            status = ok(c.status(box, "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"))[0].decode()
            items = dict(re.findall(r"(\w+) (\d+)", status.split("(", 1)[1]))
            ok(c.select(box, readonly=True))
            messages = {}
            fetched = ok(c.uid("FETCH", "1:*", "(FLAGS MODSEQ BODY.PEEK[])")) if items["MESSAGES"] != "0" else []
            for part in fetched:
                if not isinstance(part, tuple):
                    continue
                fields: dict = {}
                for uid, flags, modseq in FETCH.findall(part[0]):
                    fields.update({k: v for k, v in (("uid", uid), ("flags", flags), ("modseq", modseq)) if v})
                # \Recent is the session's (kept in the node's data directory), not the store's.
                flags = frozenset(fields.get("flags", b"").split()) - {rb"\Recent"}
                messages[int(fields["uid"])] = (flags,
                                                int(fields["modseq"]), part[1])
            seen[box] = (items, messages)
    finally:
        c.logout()
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
    try:
        p.user(USER)
        p.pass_(PASSWORD)
        seen["uidl"] = p.uidl()[1]
    finally:
        p.quit()
    return seen


def vanished_since(srv: HivemailServer, uidvalidity: str, modseq: int) -> list[bytes]:
    """The VANISHED answers to SELECT INBOX (QRESYNC (uidvalidity modseq))."""
    c = imap(srv)
    try:
        ok(c.enable("QRESYNC"))
        typ, _ = c._simple_command("SELECT", "INBOX", f"(QRESYNC ({uidvalidity} {modseq}))")
        assert typ == "OK"
        return list(c.untagged_responses.get("VANISHED", []))
    finally:
        c.logout()


def search(srv: HivemailServer, text: str) -> list[int]:
    c = imap(srv)
    try:
        ok(c.select("INBOX", readonly=True))
        return [int(u) for u in ok(c.uid("SEARCH", "BODY", text))[0].split()]
    finally:
        c.logout()


def table_rows(conn: sqlite3.Connection) -> dict:
    """What migrate copies, row for row (the search index and the blobs'
    doc column excepted: the target rebuilds them)."""
    tables = {"accounts": "*", "account_settings": "*", "aliases": "*", "domains": "*", "mailboxes": "*",
              "messages": "*", "expunged": "*", "blob_keys": "*", "sieve_scripts": "*", "sieve_vacation": "*",
              "account_usage": "*", "meta": "*", "blobs": "id, size, refcount, analysis"}
    return {t: sorted(conn.execute(f"SELECT {cols} FROM {t}").fetchall(), key=repr) for t, cols in tables.items()}


def test_embedded_to_postgresql_and_back_keeps_what_clients_see(tmp_path):
    first, second, third = tmp_path / "first", tmp_path / "second", tmp_path / "third"
    cli(first, "user", "add", USER, "--password", PASSWORD)
    cli(first, "alias", "add", "alias@example.org", USER)
    cli(first, "user", "quota", USER, "--storage", "10M")
    cli(first, "user", "set", USER, "pop3_dele", "keep-read")
    script = tmp_path / "s.sieve"
    script.write_text('require "fileinto";\nif header :contains "subject" "zzz" { fileinto "Kept"; }\n')
    cli(first, "sieve", "put", USER, "main", str(script))
    cli(first, "sieve", "activate", USER, "main")
    with server(first, tmp_path) as srv:
        deliver(srv, 1, 2, 3, 4, 5)
        c = imap(srv)
        ok(c.create("Kept"))
        ok(c.select("INBOX"))
        ok(c.uid("STORE", "1", "+FLAGS", r"(\Seen)"))
        ok(c.uid("STORE", "2", "+FLAGS", r"(\Flagged $Label1 custom)"))
        ok(c.uid("COPY", "2,4", "Archive"))
        before_expunge = int(re.search(r"HIGHESTMODSEQ (\d+)",
                                       ok(c.status("INBOX", "(HIGHESTMODSEQ)"))[0].decode()).group(1))
        ok(c.uid("STORE", "3", "+FLAGS", r"(\Deleted)"))
        ok(c.expunge())
        c.logout()
        uidls = tmp_path / "uidls"
        uidls.write_text("2 uidl-from-the-old-server\n")
        cli(first, "uidl", "import", USER, str(uidls))
        before = state(srv)
        assert srv.tracebacks() == []
    uidvalidity = before["INBOX"][0]["UIDVALIDITY"]
    assert sorted(before["INBOX"][1]) == [1, 2, 4, 5] and sorted(before["Archive"][1]) == [1, 2]
    assert b"2 uidl-from-the-old-server" in before["uidl"]

    url = fresh_url()
    moved = migrate(first, url)
    assert moved.returncode == 0, moved.stderr.decode()
    assert b"1 accounts" in moved.stdout and b"6 messages" in moved.stdout

    pair(second, url)  # the servers and commands of `second` use the database
    with server(second, tmp_path) as srv:
        assert state(srv) == before
        assert vanished_since(srv, uidvalidity, before_expunge) == [b"(EARLIER) 3"]
        assert search(srv, "word4x") == [4]  # the index is rebuilt (or scanned meanwhile)
        # New mail continues the UIDs; a new mailbox gets a new UIDVALIDITY.
        deliver(srv, 6)
        c = imap(srv)
        ok(c.select("INBOX"))
        ok(c.uid("STORE", "5", "+FLAGS", r"(\Answered)"))
        c.logout()
        after = state(srv)
        assert sorted(after["INBOX"][1]) == [1, 2, 4, 5, 6]
        assert int(after["INBOX"][0]["HIGHESTMODSEQ"]) > int(before["INBOX"][0]["HIGHESTMODSEQ"])
        assert srv.tracebacks() == []
    assert cli(second, "sieve", "list", USER).stdout == b"main (active)\n"
    assert b"10240" in cli(second, "user", "quota", USER).stdout

    back = migrate(url, third)
    assert back.returncode == 0, back.stderr.decode()
    with server(third, tmp_path) as srv:
        assert state(srv) == after
        assert vanished_since(srv, uidvalidity, before_expunge) == [b"(EARLIER) 3"]
        assert search(srv, "word6x") == [6]
        c = imap(srv)
        ok(c.create("Newer"))
        status = ok(c.status("Newer", "(UIDVALIDITY)"))[0].decode()
        c.logout()
        newest = max(int(after[box][0]["UIDVALIDITY"]) for box in MAILBOXES)
        assert int(re.search(r"UIDVALIDITY (\d+)", status).group(1)) > newest
        assert srv.tracebacks() == []
    assert cli(third, "sieve", "list", USER).stdout == b"main (active)\n"
    assert cli(third, "check").stdout == b"store is clean\n"


def test_round_trip_copies_every_row(tmp_path):
    first, third = tmp_path / "first", tmp_path / "third"
    cli(first, "user", "add", USER, "--password", PASSWORD)
    for n in (1, 2):
        cli(first, "deliver", USER, input=message(n))
    url = fresh_url()
    assert migrate(first, url).returncode == 0
    assert migrate(url, third).returncode == 0
    with sqlite3.connect(first / "index.sqlite3") as a, sqlite3.connect(third / "index.sqlite3") as b:
        assert table_rows(a) == table_rows(b)
        assert b.execute("SELECT count(*) FROM blobs WHERE doc IS NOT NULL").fetchone() == (0,)
    for blob_id, in sqlite3.connect(third / "index.sqlite3").execute("SELECT id FROM blobs"):
        assert (third / "blobs" / blob_id[:2] / blob_id[2:]).read_bytes() == \
            (first / "blobs" / blob_id[:2] / blob_id[2:]).read_bytes()


def test_refuses_a_target_that_holds_mail_and_a_source_in_use(tmp_path):
    first, other = tmp_path / "first", tmp_path / "other"
    cli(first, "user", "add", USER, "--password", PASSWORD)
    cli(other, "user", "add", "someone@example.org", "--password", PASSWORD)
    refused = migrate(first, other)
    assert refused.returncode != 0 and b"not empty" in refused.stderr
    url = fresh_url()
    assert migrate(other, url).returncode == 0
    refused = migrate(first, url)
    assert refused.returncode != 0 and b"not empty" in refused.stderr
    assert b"Traceback" not in refused.stderr
    with server(first, tmp_path):
        busy = migrate(first, tmp_path / "new")
    assert busy.returncode != 0 and b"in use" in busy.stderr
    missing = migrate(tmp_path / "nothing", tmp_path / "new2")
    assert missing.returncode != 0 and b"no hivemail store" in missing.stderr


def test_storage_option_and_config_key(tmp_path):
    bad = subprocess.run([*hivemail_cmd(), "--data", str(tmp_path), "--storage", "mysql://u:s3cretpw@h/db",
                          "user", "list"], capture_output=True, timeout=60)
    assert bad.returncode == 64 and b"mysql://" in bad.stderr and b"s3cretpw" not in bad.stderr
    cfg = tmp_path / "c.toml"
    cfg.write_text('storage = "sqlite:x"\n')
    bad = subprocess.run([*hivemail_cmd(), "--config", str(cfg), "user", "list"], capture_output=True, timeout=60)
    assert bad.returncode == 64 and b"storage" in bad.stderr
    # The global option, given after the command too; user quota keeps its own --storage.
    url = fresh_url()
    run = lambda *a: subprocess.run([*hivemail_cmd(), "--data", str(tmp_path / "d"), *a],  # noqa: E731
                                    capture_output=True, timeout=60)
    assert run("--storage", url, "user", "add", USER, "--password", PASSWORD).returncode == 0
    assert run("user", "list", "--storage", url).stdout == f"{USER}\n".encode()
    assert run("--storage", url, "user", "quota", USER, "--storage", "1M").returncode == 0
    assert b"1024" in run("--storage", url, "user", "quota", USER).stdout
    assert run("user", "list").stdout == b""  # the embedded store in --data is another store
