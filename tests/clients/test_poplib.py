"""The standard library's poplib against the server (RFC 1939, 2449, 2595)."""

from __future__ import annotations

import poplib

import pytest

from tests.support.clients import (
    MailServer,
    User,
    make_messages,
    split_delivery_headers,
    unverified_tls,
)


def _retr(p: poplib.POP3, n: int) -> bytes:
    resp, lines, octets = p.retr(n)
    assert resp.startswith(b"+OK"), resp
    raw = b"\r\n".join(lines) + b"\r\n"
    return raw


def _connect(mail_server: MailServer, user: User) -> poplib.POP3:
    p = poplib.POP3(mail_server.host, mail_server.pop3_port, timeout=30)
    assert p.getwelcome().startswith(b"+OK")
    assert p.user(user.address).startswith(b"+OK")
    assert p.pass_(user.password).startswith(b"+OK")
    return p


def test_commands(mail_server: MailServer, user: User) -> None:
    msgs = make_messages(user.address)
    mail_server.deliver_all(user.address, msgs)
    p = poplib.POP3(mail_server.host, mail_server.pop3_port, timeout=30)
    try:
        caps = p.capa()
        assert "UIDL" in caps and "TOP" in caps and "USER" in caps, caps
        p.user(user.address)
        with pytest.raises(poplib.error_proto):
            p.pass_(user.password + "-wrong")
    finally:
        p.close()

    p = _connect(mail_server, user)
    try:
        count, total = p.stat()
        assert count == len(msgs)
        _resp, listing, _ = p.list()
        sizes = {int(n): int(s) for n, s in (line.split() for line in listing)}
        assert sorted(sizes) == list(range(1, len(msgs) + 1)) and sum(sizes.values()) == total
        _resp, uidl, _ = p.uidl()
        uids = {int(n): u for n, u in (line.split() for line in uidl)}
        assert len(set(uids.values())) == len(msgs)
        assert p.uidl(3).split()[1:] == [b"3", uids[3]]
        for i, sent in enumerate(msgs, 1):
            raw = _retr(p, i)
            split_delivery_headers(raw, sent.raw)  # byte-exact, dot-unstuffed
            # RFC 1939: LIST size is the octet count of the message as RETR sends it
            assert sizes[i] == len(raw), (i, sizes[i], len(raw))
        # the dots message: lines that begin with "." survive stuffing
        assert b"\r\n.\r\n..\r\n.hidden line\r\n..double dotted\r\n" in _retr(p, 6)
        # TOP n 0: header + blank line; TOP n 2: plus two body lines
        resp, top0, _ = p.top(1, 0)
        assert top0[-1] == b"" and b"Subject: Plain message 1" in top0
        _resp, top2, _ = p.top(1, 2)
        assert top2[len(top0):] == [b"Hello, this is plain message number 1.", b""]
        # DELE then RSET undoes it; DELE then QUIT commits it
        assert p.dele(1).startswith(b"+OK")
        with pytest.raises(poplib.error_proto):
            p.retr(1)  # deleted messages cannot be retrieved
        assert p.stat()[0] == len(msgs) - 1
        assert p.rset().startswith(b"+OK")
        assert p.stat() == (count, total)
        assert p.dele(2).startswith(b"+OK")
        assert p.dele(4).startswith(b"+OK")
        assert p.quit().startswith(b"+OK")
    except BaseException:
        p.close()
        raise

    p = _connect(mail_server, user)
    try:
        assert p.stat()[0] == len(msgs) - 2
        _resp, uidl2, _ = p.uidl()
        left = [u for _n, u in (line.split() for line in uidl2)]
        # UIDs are stable across sessions; the deleted ones are gone
        assert left == [uids[i] for i in (1, 3, 5, 6)]
        split_delivery_headers(_retr(p, 2), msgs[2].raw)
    finally:
        p.quit()


def test_stls(mail_server: MailServer, user: User) -> None:
    if not mail_server.tls.pop3_stls:
        pytest.fail(f"{mail_server.name} offers no STLS")  # both servers under test offer it
    msgs = make_messages(user.address)[:1]
    mail_server.deliver_all(user.address, msgs)
    p = poplib.POP3(mail_server.host, mail_server.pop3_port, timeout=30)
    try:
        assert "STLS" in p.capa()
        assert p.stls(unverified_tls()).startswith(b"+OK")
        assert p.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert "STLS" not in p.capa()  # RFC 2595 section 4: not offered again
        p.user(user.address)
        p.pass_(user.password)
        assert p.stat()[0] == 1
        split_delivery_headers(_retr(p, 1), msgs[0].raw)
    finally:
        p.quit()


def test_pop3s(mail_server: MailServer, user: User) -> None:
    if mail_server.pop3s_port is None:
        pytest.fail(f"{mail_server.name} has no pop3s listener")
    msgs = make_messages(user.address)[:2]
    mail_server.deliver_all(user.address, msgs)
    p = poplib.POP3_SSL(mail_server.host, mail_server.pop3s_port, context=unverified_tls(), timeout=30)
    try:
        assert p.sock.version() in ("TLSv1.2", "TLSv1.3")
        p.user(user.address)
        p.pass_(user.password)
        assert p.stat()[0] == 2
        for i, sent in enumerate(msgs, 1):
            split_delivery_headers(_retr(p, i), sent.raw)
    finally:
        p.quit()
