"""imapclient's sort() and thread() against the server (RFC 5256), over
real sockets; with HIVEMAIL_CLIENT_SERVERS=dovecot the same tests check
themselves against Dovecot."""

from __future__ import annotations

from tests.support.clients import MailServer, User, require_module

imapclient = require_module("imapclient")


def _message(to: str, subject: str, date: str, mid: str, refs: str = "", frm: str = "a@example.org") -> bytes:
    head = f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{mid}>\r\n"
    if refs:
        head += f"References: {refs}\r\n"
    return (head + "\r\nbody\r\n").encode()


def test_sort_and_thread(mail_server: MailServer, user: User) -> None:
    to = user.address
    msgs = [
        _message(to, "Lunch", "Tue, 2 Jan 2024 12:00:00 +0000", "l1@x", frm="zed@example.org"),
        _message(to, "Re: Lunch", "Tue, 2 Jan 2024 13:00:00 +0000", "l2@x", "<l1@x>", frm="bob@example.org"),
        _message(to, "Budget", "Mon, 1 Jan 2024 09:00:00 +0000", "b1@x", frm="carl@example.org"),
        _message(to, "Re: Re: Lunch", "Tue, 2 Jan 2024 12:30:00 -0500", "l3@x", "<l1@x> <l2@x>"),
        _message(to, "[team] Budget (fwd)", "Wed, 3 Jan 2024 09:00:00 +0000", "b2@x", frm="amy@example.org"),
    ]
    for raw in msgs:
        mail_server.deliver(to, raw)
    c = imapclient.IMAPClient(mail_server.host, port=mail_server.imap_port, ssl=False, timeout=30)
    try:
        c.login(user.address, user.password)
        assert c.has_capability("SORT") and c.has_capability("THREAD=REFERENCES")
        c.select_folder("INBOX")
        uids = sorted(c.search("ALL"))
        assert len(uids) == 5
        u = dict(zip(range(1, 6), uids))
        # DATE: Budget (1 Jan), Lunch 12:00, Re 13:00, Re: Re 17:30 UTC, [team] (3 Jan)
        assert c.sort("DATE") == [u[3], u[1], u[2], u[4], u[5]]
        assert c.sort(["REVERSE", "DATE"]) == [u[5], u[4], u[2], u[1], u[3]]
        # SUBJECT then DATE: Budget x2 before Lunch x3
        assert c.sort(["SUBJECT", "DATE"]) == [u[3], u[5], u[1], u[2], u[4]]
        assert c.sort("FROM") == [u[4], u[5], u[2], u[3], u[1]]
        # REFERENCES: the Lunch chain, and the two Budgets merged by subject
        # (5 is a forward, so it goes under 3).
        assert c.thread("REFERENCES") == ((u[3], u[5]), (u[1], u[2], u[4]))
        assert c.thread("ORDEREDSUBJECT") == ((u[3], u[5]), (u[1], (u[2],), (u[4],)))
    finally:
        c.logout()
