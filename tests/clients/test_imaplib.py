"""The standard library's imaplib against the server (IMAP4rev1 client)."""

from __future__ import annotations

import imaplib
import re
import socket
import time

import pytest

from tests.support.clients import (
    ENCODED_SUBJECT_WORD,
    MailServer,
    User,
    imap_login,
    make_messages,
    simple_message,
    split_delivery_headers,
    unverified_tls,
)


@pytest.fixture
def loaded(mail_server: MailServer, user: User):
    msgs = make_messages(user.address)
    mail_server.deliver_all(user.address, msgs)
    m = imap_login(mail_server, user)
    yield m, msgs
    try:
        m.logout()
    except (imaplib.IMAP4.error, OSError):
        pass


def _ok(result):
    typ, data = result
    assert typ == "OK", data
    return data


def test_login_list_select(mail_server: MailServer, user: User) -> None:
    mail_server.deliver_all(user.address, make_messages(user.address)[:2])
    m = imaplib.IMAP4(mail_server.host, mail_server.imap_port, timeout=30)
    try:
        assert "IMAP4REV1" in m.capabilities or "IMAP4REV2" in m.capabilities
        with pytest.raises(imaplib.IMAP4.error):
            m.login(user.address, user.password + "-wrong")
        _ok(m.login(user.address, user.password))
        assert m.state == "AUTH"
        listing = _ok(m.list())
        names = [re.search(rb'"?([^" ]+)"?$', line).group(1) for line in listing]
        assert b"INBOX" in names, listing
        data = _ok(m.select("INBOX"))
        assert data == [b"2"]
        assert m.state == "SELECTED"
        # RFC 9051 / 3501: UIDVALIDITY and UIDNEXT are sent on SELECT
        assert m.untagged_responses.get("UIDVALIDITY"), m.untagged_responses
        _ok(m.close())
        assert m.state == "AUTH"
    finally:
        m.logout()


def test_fetch_flags_envelope_body(loaded) -> None:
    m, msgs = loaded
    assert _ok(m.select("INBOX")) == [str(len(msgs)).encode()]
    data = _ok(m.fetch("1:*", "(UID FLAGS ENVELOPE RFC822.SIZE BODY.PEEK[])"))
    items = [d for d in data if isinstance(d, tuple)]
    assert len(items) == len(msgs)
    uids = []
    for (meta, raw), sent in zip(items, msgs):
        split_delivery_headers(raw, sent.raw)
        size = int(re.search(rb"RFC822\.SIZE (\d+)", meta).group(1))
        assert size == len(raw)
        flags = set(re.search(rb"FLAGS \(([^)]*)\)", meta).group(1).split())
        assert flags <= {b"\\Recent"}, meta  # delivered unseen (\Recent is rev1 only)
        assert sent.message_id.encode() in meta  # ENVELOPE message-id
        uids.append(int(re.search(rb"UID (\d+)", meta).group(1)))
    assert uids == sorted(uids) and len(set(uids)) == len(uids)
    # the ENVELOPE subject is the raw encoded-word (RFC 3501 7.4.2: not decoded)
    env = _ok(m.fetch("4", "(ENVELOPE)"))[0]
    assert ENCODED_SUBJECT_WORD.encode() in env
    # BODY[TEXT] of a single-part message and a section of the multipart one
    text = _ok(m.fetch("1", "(BODY.PEEK[TEXT])"))[0][1]
    assert text == msgs[0].raw.split(b"\r\n\r\n", 1)[1]
    part1 = _ok(m.fetch("5", "(BODY.PEEK[1])"))[0][1]
    assert msgs[4].body_marker.encode() in part1
    structure = _ok(m.fetch("5", "(BODYSTRUCTURE)"))[0]
    assert b'"MIXED"' in structure.upper() and b'"DATA.BIN"' in structure.upper()
    # PEEK left everything unseen; a plain BODY[] fetch sets \Seen
    _ok(m.fetch("2", "(BODY[])"))
    flags = _ok(m.fetch("1:3", "(FLAGS)"))
    assert b"\\Seen" not in flags[0] and b"\\Seen" in flags[1] and b"\\Seen" not in flags[2]


def test_search(loaded) -> None:
    m, msgs = loaded
    _ok(m.select("INBOX"))
    assert _ok(m.search(None, "ALL"))[0].split() == [str(i).encode() for i in range(1, len(msgs) + 1)]
    assert _ok(m.search(None, "SUBJECT", '"Plain message 2"'))[0].split() == [b"2"]
    assert _ok(m.search(None, "HEADER", "Message-ID", msgs[5].message_id))[0].split() == [b"6"]
    assert _ok(m.search(None, "BODY", "attachment"))[0].split() == [b"5"]
    _ok(m.store("3", "+FLAGS", "(\\Flagged)"))
    assert _ok(m.search(None, "FLAGGED"))[0].split() == [b"3"]
    assert _ok(m.search(None, "UNSEEN"))[0].split() == [str(i).encode() for i in range(1, len(msgs) + 1)]
    uid_hits = _ok(m.uid("SEARCH", None, "SUBJECT", "dots"))[0].split()
    assert len(uid_hits) == 1
    # encoded-word subjects are searched decoded (RFC 3501 6.4.4): "aus"
    # occurs only in the decoded form of =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=
    assert _ok(m.search(None, "SUBJECT", "aus"))[0].split() == [b"4"]


def test_store_flags(loaded) -> None:
    m, msgs = loaded
    _ok(m.select("INBOX"))
    data = _ok(m.store("1:2", "+FLAGS", "(\\Seen \\Flagged)"))
    assert all(b"\\Seen" in d and b"\\Flagged" in d for d in data), data
    data = _ok(m.store("2", "-FLAGS", "(\\Flagged)"))
    assert b"\\Flagged" not in data[0] and b"\\Seen" in data[0]
    _ok(m.store("3", "FLAGS.SILENT", "(\\Answered $Label1)"))
    flags = _ok(m.fetch("1:3", "(FLAGS)"))
    assert b"\\Flagged" in flags[0] and b"\\Seen" in flags[0]
    assert b"\\Flagged" not in flags[1]
    assert b"\\Answered" in flags[2] and b"$Label1" in flags[2]


def test_append_copy_expunge(loaded, mail_server: MailServer, user: User) -> None:
    m, msgs = loaded
    extra = simple_message(user.address, "Appended by imaplib", "appended body line")
    typ, data = m.append("INBOX", "(\\Seen \\Draft)", imaplib.Time2Internaldate(time.time()), extra.raw)
    assert typ == "OK", data
    _ok(m.create("Kept"))
    _ok(m.select("INBOX"))
    n = len(msgs) + 1
    fetched = _ok(m.fetch(str(n), "(FLAGS BODY.PEEK[])"))[0]
    assert fetched[1] == extra.raw  # APPEND stores the bytes verbatim
    assert b"\\Seen" in fetched[0] and b"\\Draft" in fetched[0]
    _ok(m.copy("1:2", "Kept"))
    _ok(m.store("1", "+FLAGS", "(\\Deleted)"))
    data = _ok(m.expunge())
    assert data == [b"1"], data
    assert _ok(m.select("INBOX")) == [str(n - 1).encode()]
    archive = _ok(m.select("Kept"))
    assert archive == [b"2"]
    copied = [d[1] for d in _ok(m.fetch("1:2", "(BODY.PEEK[])")) if isinstance(d, tuple)]
    for raw, sent in zip(copied, msgs[:2]):
        split_delivery_headers(raw, sent.raw)
    status = _ok(m.status("INBOX", "(MESSAGES UNSEEN)"))[0]
    assert re.search(rb"MESSAGES %d\b" % (n - 1), status) and re.search(rb"UNSEEN %d\b" % (n - 2), status), status


def test_idle_raw(mail_server: MailServer, user: User) -> None:
    """IDLE by hand (imaplib has no idle() before 3.14): an LMTP delivery
    during IDLE produces an untagged EXISTS within a second."""
    m = imap_login(mail_server, user)
    try:
        assert "IDLE" in m.capabilities
        assert _ok(m.select("INBOX")) == [b"0"]
        tag = m._new_tag()
        m.send(tag + b" IDLE\r\n")
        m.sock.settimeout(10)
        assert m.readline().startswith(b"+")
        mail_server.deliver(user.address, simple_message(user.address, "During IDLE", "idle").raw)
        delivered = time.monotonic()
        m.sock.settimeout(1.0)
        lines = []
        while True:
            try:
                line = m.readline()
            except socket.timeout:
                pytest.fail(f"no EXISTS within 1 s of the delivery; got {lines}")
            lines.append(line)
            if re.match(rb"\* 1 EXISTS\r\n", line):
                break
            assert time.monotonic() - delivered < 1.0, lines
        m.sock.settimeout(10)
        m.send(b"DONE\r\n")
        while True:
            line = m.readline()
            assert line, "connection closed after DONE"
            if line.startswith(tag):
                assert line.split()[1] == b"OK", line
                break
        assert _ok(m.noop()) is not None
    finally:
        m.logout()


def test_starttls(mail_server: MailServer, user: User) -> None:
    if not mail_server.tls.imap_starttls:
        pytest.fail(f"{mail_server.name} offers no STARTTLS")  # both servers under test offer it
    m = imaplib.IMAP4(mail_server.host, mail_server.imap_port, timeout=30)
    try:
        assert "STARTTLS" in m.capabilities
        _ok(m.starttls(unverified_tls()))
        assert m.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert "STARTTLS" not in m.capabilities  # capabilities re-read after TLS
        _ok(m.login(user.address, user.password))
        assert _ok(m.select("INBOX")) == [b"0"]
    finally:
        m.logout()


def test_imaps(mail_server: MailServer, user: User) -> None:
    if mail_server.imaps_port is None:
        pytest.fail(f"{mail_server.name} has no imaps listener")
    mail_server.deliver(user.address, simple_message(user.address, "Over TLS", "tls body").raw)
    m = imaplib.IMAP4_SSL(mail_server.host, mail_server.imaps_port, ssl_context=unverified_tls(), timeout=30)
    try:
        assert m.sock.version() in ("TLSv1.2", "TLSv1.3")
        _ok(m.login(user.address, user.password))
        assert _ok(m.select("INBOX", readonly=True)) == [b"1"]
        raw = _ok(m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))[0][1]
        assert raw.strip() == b"Subject: Over TLS"
    finally:
        m.logout()
