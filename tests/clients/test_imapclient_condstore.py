"""imapclient 4.x with CONDSTORE (RFC 7162): HIGHESTMODSEQ from SELECT
and STATUS, FETCH CHANGEDSINCE, SEARCH MODSEQ, as a syncing client uses them."""

from __future__ import annotations

from tests.support.clients import MailServer, User, make_messages, require_module

imapclient = require_module("imapclient")


def test_condstore_resync_with_imapclient(mail_server: MailServer, user: User) -> None:
    msgs = make_messages(user.address)
    mail_server.deliver_all(user.address, msgs)
    c = imapclient.IMAPClient(mail_server.host, port=mail_server.imap_port, ssl=False, timeout=30)
    c.login(user.address, user.password)
    try:
        assert c.has_capability("CONDSTORE")
        assert c.enable("CONDSTORE") == [b"CONDSTORE"]
        info = c.select_folder("INBOX")
        hms = info[b"HIGHESTMODSEQ"]
        assert hms > 0
        assert c.folder_status("INBOX", ["HIGHESTMODSEQ"])[b"HIGHESTMODSEQ"] == hms
        uids = c.search("ALL")
        changed = uids[:2]
        c.add_flags(changed, [b"$Synced"])
        data = c.fetch(uids, ["FLAGS"], modifiers=[f"CHANGEDSINCE {hms}"])
        assert sorted(data) == sorted(changed)
        assert all(b"$Synced" in d[b"FLAGS"] and d[b"MODSEQ"][0] > hms for d in data.values())
        assert sorted(c.search(["MODSEQ", hms + 1])) == sorted(changed)
        new_hms = c.folder_status("INBOX", ["HIGHESTMODSEQ"])[b"HIGHESTMODSEQ"]
        assert new_hms == max(d[b"MODSEQ"][0] for d in data.values())
        assert c.fetch(uids, ["FLAGS"], modifiers=[f"CHANGEDSINCE {new_hms}"]) == {}
    finally:
        c.logout()
