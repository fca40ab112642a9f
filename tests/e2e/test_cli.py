"""The admin command line, run as a user would run it."""

from __future__ import annotations

import json

import pytest

from tests.support.server import cli

pytestmark = pytest.mark.xdist_group("cli")


def test_user_add_list_passwd_del(tmp_path):
    d = tmp_path / "data"
    cli(d, "user", "add", "Alice@Example.org", "--password-stdin", input=b"first\n")
    cli(d, "user", "add", "bob@example.org", "--password", "pw")
    assert cli(d, "user", "list").stdout.decode().split() == ["alice@example.org", "bob@example.org"]
    again = cli(d, "user", "add", "alice@example.org", "--password", "x", check=False)
    assert again.returncode != 0 and b"exists" in again.stderr.lower()
    cli(d, "user", "passwd", "alice@example.org", "--password", "second")
    cli(d, "user", "del", "bob@example.org")
    assert cli(d, "user", "list").stdout.decode().split() == ["alice@example.org"]


def test_new_account_has_the_default_mailboxes(tmp_path):
    d = tmp_path / "data"
    cli(d, "user", "add", "a@example.org", "--password", "pw")
    out = cli(d, "mailbox", "list", "a@example.org").stdout.decode().splitlines()
    names = [line.split()[0] for line in out[1:]]
    assert names[0] == "INBOX"
    assert sorted(names) == sorted(["INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"])


def test_mailbox_list_counts_messages_unseen_and_bytes(tmp_path):
    d = tmp_path / "data"
    cli(d, "user", "add", "a@example.org", "--password", "pw")
    msg = b"Subject: one\r\n\r\nbody\r\n"
    cli(d, "deliver", "a@example.org", input=msg)
    cli(d, "deliver", "a+tag@example.org", input=msg)
    rows = {r["name"]: r for r in json.loads(cli(d, "mailbox", "list", "a@example.org", "--json").stdout)}
    inbox = rows["INBOX"]
    assert inbox["messages"] == 2 and inbox["unseen"] == 2
    assert inbox["bytes"] > 2 * len(msg)  # plus Return-Path and Received
    text = cli(d, "mailbox", "list", "a@example.org").stdout.decode().splitlines()
    inbox_line = next(line for line in text if line.startswith("INBOX"))
    assert inbox_line.split()[1:] == ["2", "2", str(inbox["bytes"])]


def test_deliver_exit_codes(tmp_path):
    d = tmp_path / "data"
    cli(d, "user", "add", "a@example.org", "--password", "pw")
    assert cli(d, "deliver", "nobody@example.org", input=b"x\r\n", check=False).returncode == 67
    assert cli(d, "deliver", "a@example.org", input=b"Subject: x\r\n\r\ny\r\n").returncode == 0


def test_alias_delivers_to_its_account(tmp_path):
    d = tmp_path / "data"
    cli(d, "user", "add", "a@example.org", "--password", "pw")
    cli(d, "alias", "add", "postmaster@example.org", "a@example.org")
    cli(d, "deliver", "postmaster@example.org", input=b"Subject: x\r\n\r\ny\r\n")
    rows = {r["name"]: r for r in json.loads(cli(d, "mailbox", "list", "a@example.org", "--json").stdout)}
    assert rows["INBOX"]["messages"] == 1


def test_check_reports_a_clean_store(tmp_path):
    d = tmp_path / "data"
    cli(d, "user", "add", "a@example.org", "--password", "pw")
    cli(d, "deliver", "a@example.org", input=b"Subject: x\r\n\r\ny\r\n")
    assert "store is clean" in cli(d, "check").stdout.decode()


def test_user_set_pop3_dele_is_validated_and_used(tmp_path):
    import poplib

    from tests.support.server import HivemailServer

    d = tmp_path / "data"
    cli(d, "user", "add", "a@example.org", "--password", "pw")
    bad = cli(d, "user", "set", "a@example.org", "pop3_dele", "shred", check=False)
    assert bad.returncode == 64 and b"must be one of" in bad.stderr
    cli(d, "user", "set", "a@example.org", "pop3_dele", "keep-read")
    cli(d, "deliver", "a@example.org", input=b"Subject: x\r\n\r\ny\r\n")
    with HivemailServer(d, listeners=("pop3",)) as s:
        p = poplib.POP3("127.0.0.1", s.ports["pop3"], timeout=10)
        p.user("a@example.org")
        p.pass_("pw")
        p.dele(1)
        p.quit()
    rows = {r["name"]: r for r in json.loads(cli(d, "mailbox", "list", "a@example.org", "--json").stdout)}
    # keep-read: the message stays, marked \Seen.
    assert rows["INBOX"]["messages"] == 1 and rows["INBOX"]["unseen"] == 0
