"""imap-tools 1.x: high-level fetch with decoded subjects, flags, move."""

from __future__ import annotations

from tests.support.clients import ENCODED_SUBJECT, MailServer, User, make_messages, require_module

imap_tools = require_module("imap_tools")


def _mailbox(mail_server: MailServer, user: User):
    box = imap_tools.MailBoxUnencrypted(mail_server.host, mail_server.imap_port, timeout=30)
    return box.login(user.address, user.password, initial_folder="INBOX")


def test_fetch_decode_flag_move(mail_server: MailServer, user: User) -> None:
    msgs = make_messages(user.address)
    mail_server.deliver_all(user.address, msgs)
    with _mailbox(mail_server, user) as box:
        fetched = list(box.fetch(mark_seen=False))
        assert [m.subject for m in fetched] == [m.subject for m in msgs]
        assert fetched[3].subject == ENCODED_SUBJECT  # RFC 2047 decoded
        by_subject = {m.subject: m for m in fetched}
        for sent in msgs:
            got = by_subject[sent.subject]
            assert got.headers["message-id"][0].strip() == sent.message_id
            assert got.from_ == "sender@example.org"
            assert got.to == (user.address,)
            assert sent.body_marker in got.text
            assert got.flags == () or set(got.flags) <= {"\\Recent"}
        assert "Herzliche Grüße vom Rhein." in fetched[3].text  # quoted-printable decoded
        multipart = by_subject["Multipart with attachment"]
        assert [a.filename for a in multipart.attachments] == ["data.bin"]
        assert multipart.attachments[0].payload == bytes(range(256)) * 4
        dots = by_subject["Lines starting with dots"].text.splitlines()
        assert dots[1:6] == [".", "..", ".hidden line", "..double dotted", ". space"]

        # flags
        uids = [m.uid for m in fetched]
        box.flag(uids[:2], imap_tools.MailMessageFlags.FLAGGED, True)
        box.flag(uids[0], imap_tools.MailMessageFlags.SEEN, True)
        flagged = [m.uid for m in box.fetch(imap_tools.AND(flagged=True), mark_seen=False, headers_only=True)]
        assert flagged == uids[:2]
        seen = [m.uid for m in box.fetch(imap_tools.AND(seen=True), mark_seen=False, headers_only=True)]
        assert seen == uids[:1]
        box.flag(uids[1], imap_tools.MailMessageFlags.FLAGGED, False)
        assert [m.uid for m in box.fetch(imap_tools.AND(flagged=True), headers_only=True, mark_seen=False)] == uids[:1]

        # move (MOVE, or COPY + \Deleted + EXPUNGE when MOVE is missing)
        box.folder.create("Moved")
        box.flag(uids[3], imap_tools.MailMessageFlags.FLAGGED, True)
        box.move(uids[3:5], "Moved")
        remaining = [m.subject for m in box.fetch(mark_seen=False, headers_only=True)]
        assert remaining == [msgs[i].subject for i in (0, 1, 2, 5)]
        box.folder.set("Moved")
        moved = {m.subject: m for m in box.fetch(mark_seen=False)}
        assert sorted(moved) == sorted([ENCODED_SUBJECT, "Multipart with attachment"])
        # flags travel with a moved message (RFC 6851 section 3.3)
        assert "\\Flagged" in moved[ENCODED_SUBJECT].flags
        assert "\\Flagged" not in moved["Multipart with attachment"].flags
        assert moved["Multipart with attachment"].attachments[0].payload == bytes(range(256)) * 4
        assert box.folder.status("INBOX")["MESSAGES"] == 4
        assert box.folder.status("Moved")["MESSAGES"] == 2
