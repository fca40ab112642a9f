"""imapclient 4.x against the server, including IDLE."""

from __future__ import annotations

import time

import pytest

from tests.support.clients import (
    ENCODED_SUBJECT,
    MailServer,
    User,
    make_messages,
    require_module,
    simple_message,
    split_delivery_headers,
)

imapclient = require_module("imapclient")


def _client(mail_server: MailServer, user: User):
    c = imapclient.IMAPClient(mail_server.host, port=mail_server.imap_port, ssl=False, timeout=30)
    c.login(user.address, user.password)
    return c


def test_fetch_search_flags(mail_server: MailServer, user: User) -> None:
    msgs = make_messages(user.address)
    mail_server.deliver_all(user.address, msgs)
    c = _client(mail_server, user)
    try:
        folders = [name for _flags, _delim, name in c.list_folders()]
        assert "INBOX" in folders
        info = c.select_folder("INBOX")
        assert info[b"EXISTS"] == len(msgs)
        assert info[b"UIDVALIDITY"] > 0 and info[b"UIDNEXT"] > 0
        uids = c.search("ALL")
        assert len(uids) == len(msgs)
        data = c.fetch(uids, ["ENVELOPE", "FLAGS", "BODY.PEEK[]", "RFC822.SIZE"])
        for uid, sent in zip(sorted(uids), msgs):
            item = data[uid]
            split_delivery_headers(item[b"BODY[]"], sent.raw)
            assert item[b"RFC822.SIZE"] == len(item[b"BODY[]"])
            env = item[b"ENVELOPE"]
            assert env.message_id == sent.message_id.encode()
            assert env.from_[0].mailbox == b"sender" and env.from_[0].host == b"example.org"
            assert b"\\Seen" not in item[b"FLAGS"]
        # imapclient returns the ENVELOPE subject raw; decode it ourselves
        import email.header

        env4 = data[sorted(uids)[3]][b"ENVELOPE"]
        decoded = str(email.header.make_header(email.header.decode_header(env4.subject.decode())))
        assert decoded == ENCODED_SUBJECT
        c.add_flags(uids[:2], [imapclient.SEEN, imapclient.FLAGGED])
        c.remove_flags(uids[1:2], [imapclient.FLAGGED])
        flags = c.get_flags(uids[:3])
        assert set(flags[uids[0]]) >= {imapclient.SEEN, imapclient.FLAGGED}
        assert imapclient.SEEN in flags[uids[1]] and imapclient.FLAGGED not in flags[uids[1]]
        assert imapclient.SEEN not in flags[uids[2]]
        assert c.search(["FLAGGED"]) == [uids[0]]
        assert c.search(["UNSEEN"]) == uids[2:]
        assert c.search(["SUBJECT", "Multipart"]) == [uids[4]]
    finally:
        c.logout()


def test_idle_exists_within_one_second(mail_server: MailServer, user: User) -> None:
    """RFC 2177: during IDLE the server reports new mail as it arrives; an
    LMTP delivery must show up as EXISTS within 1 s."""
    mail_server.deliver(user.address, simple_message(user.address, "Before IDLE", "one").raw)
    c = _client(mail_server, user)
    try:
        assert b"IDLE" in c.capabilities()
        assert c.select_folder("INBOX")[b"EXISTS"] == 1
        c.idle()
        # nothing happens while nothing arrives
        assert [r for r in c.idle_check(timeout=0.2) if r[1] == b"EXISTS"] == []
        mail_server.deliver(user.address, simple_message(user.address, "During IDLE", "two").raw)
        delivered = time.monotonic()
        seen = []
        while time.monotonic() - delivered < 1.0:
            seen += c.idle_check(timeout=max(0.01, 1.0 - (time.monotonic() - delivered)))
            if (2, b"EXISTS") in seen:
                break
        elapsed = time.monotonic() - delivered
        assert (2, b"EXISTS") in seen, f"no EXISTS within 1 s, got {seen}"
        assert elapsed < 1.0
        c.idle_done()  # raises unless the tagged reply to IDLE is OK
        assert c.search(["SUBJECT", "During IDLE"]) != []
    finally:
        c.logout()


def test_append_copy_move_expunge(mail_server: MailServer, user: User) -> None:
    msgs = make_messages(user.address)[:3]
    mail_server.deliver_all(user.address, msgs)
    c = _client(mail_server, user)
    try:
        c.create_folder("Work")
        extra = simple_message(user.address, "Appended by imapclient", "appended")
        c.append("INBOX", extra.raw, flags=[imapclient.SEEN])
        c.select_folder("INBOX")
        uids = c.search("ALL")
        assert len(uids) == 4
        assert c.fetch(uids[-1], ["BODY.PEEK[]"])[uids[-1]][b"BODY[]"] == extra.raw
        c.copy(uids[:1], "Work")
        if c.has_capability("MOVE"):
            c.move(uids[1:2], "Work")
        else:
            pytest.fail("MOVE (RFC 6851) is required of both servers")
        c.delete_messages(uids[2:3])
        c.expunge()
        assert c.search("ALL") == [uids[0], uids[3]]
        status = c.folder_status("Work", ["MESSAGES"])
        assert status[b"MESSAGES"] == 2
        c.select_folder("Work", readonly=True)
        work_uids = c.search("ALL")
        got = c.fetch(work_uids, ["BODY.PEEK[]"])
        # COPY and MOVE keep the bytes (and order: copied first, then moved)
        for uid, sent in zip(sorted(work_uids), msgs[:2]):
            split_delivery_headers(got[uid][b"BODY[]"], sent.raw)
    finally:
        c.logout()
