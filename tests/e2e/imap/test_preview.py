"""PREVIEW (RFC 8970): text computed at delivery, the same strings Dovecot
2.3 gives for these shapes (checked live: plain, HTML, alternative, an
attachment only); longer text is cut at 256 characters (section 3), where
Dovecot cuts at 200."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("imap")

MESSAGES = [
    (b"Subject: plain\r\n\r\nHello   there,\r\n\r\n  this is\ta   preview.\r\n", b'"Hello there, this is a preview."'),
    (b"Subject: html\r\nContent-Type: text/html\r\n\r\n<html><head><style>p{}</style></head><body><p>Hi <b>you</b>"
     b" &amp; me</p><p>second</p></body></html>\r\n", b'"Hi you & me second"'),
    (b"Subject: alt\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
     b"plain part\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html part</p>\r\n--b--\r\n", b'"plain part"'),
    (b"Subject: att\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf\r\n\r\n"
     b"xx\r\n--b--\r\n", b'""'),
]


def test_preview_and_lazy(imap_server):
    user = imap_server.new_user()
    for raw, _ in MESSAGES:
        imap_server.deliver(user, raw)
    imap_server.deliver(user, b"Subject: long\r\n\r\n" + b"word " * 100 + b"\r\n")
    c = imap_server.raw(user)
    assert b"PREVIEW" in c.ok("a CAPABILITY")[0].split()
    c.ok("b SELECT INBOX")
    lines = c.ok("c FETCH 1:4 (PREVIEW)")
    assert lines[:-1] == [b"* %d FETCH (PREVIEW %s)" % (n, want) for n, (_, want) in enumerate(MESSAGES, 1)]
    # LAZY may answer NIL; computed at delivery, it never needs to (4.1).
    assert c.cmd("d UID FETCH 1 (PREVIEW (LAZY))")[0] == b'* 1 FETCH (UID 1 PREVIEW "Hello there, this is a preview.")'
    long = c.ok("e FETCH 5 (PREVIEW)")[0]
    text = long.split(b'PREVIEW "')[1].rstrip(b'")')
    assert 200 <= len(text) <= 256 and (b"word " * 100).startswith(text)
    assert c.cmd("f FETCH 1 (PREVIEW (EAGER))")[-1].startswith(b"f BAD ")
    assert c.cmd("g FETCH 1 (PREVIEW ())")[-1].startswith(b"g BAD ")
