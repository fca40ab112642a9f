"""UNAUTHENTICATE (RFC 8437) over real sockets: back to not authenticated,
everything of the login forgotten, TLS kept, compression ended."""

from __future__ import annotations

import base64
import socket
import zlib

import pytest

from tests.e2e.imap.conftest import PASSWORD, RawClient, unverified_context
from tests.e2e.imap.test_compress import compress, fetch_literal

pytestmark = pytest.mark.xdist_group("imap")


def two_users(imap_server) -> tuple[str, str]:
    a, b = imap_server.new_user(), imap_server.new_user()
    imap_server.deliver(a, b"Subject: for A\r\n\r\nmail of A\r\n")
    for n in (1, 2):
        imap_server.deliver(b, b"Subject: for B %d\r\n\r\nmail of B\r\n" % n)
    return a, b


def test_capability_after_login_only(imap_server):
    c = imap_server.raw()
    assert b"UNAUTHENTICATE" not in c.ok("a CAPABILITY")[0]
    assert b" UNAUTHENTICATE" in c.ok(f"b LOGIN {imap_server.new_user()} {PASSWORD}")[-1]


def test_unauthenticate_then_login_as_another_user(imap_server):
    a, b = two_users(imap_server)
    c = imap_server.raw(a)
    assert b"* 1 EXISTS" in c.ok("s SELECT INBOX")
    # Section 3: OK, "now in not authenticated state"; no EXPUNGE, nothing else.
    assert c.cmd("u UNAUTHENTICATE") == [b"u OK UNAUTHENTICATE completed"]
    [bad] = c.cmd("f FETCH 1 FLAGS")
    assert bad == b"f BAD FETCH is not allowed in the not authenticated state (only selected)"
    [bad] = c.cmd("s SELECT INBOX")
    assert bad.startswith(b"s BAD SELECT is not allowed in the not authenticated state")
    caps = c.ok("c CAPABILITY")[0]
    assert b"AUTH=PLAIN" in caps and b"UNAUTHENTICATE" not in caps and b"COMPRESS" not in caps
    c.ok(f"l LOGIN {b} {PASSWORD}")
    assert b"* 2 EXISTS" in c.ok("s2 SELECT INBOX")
    assert fetch_literal(c, "f2 FETCH 2 BODY[HEADER.FIELDS (SUBJECT)]") == b"Subject: for B 2\r\n\r\n"
    c.ok("u2 UNAUTHENTICATE")  # from authenticated (not selected) too, after one more UNSELECT
    c.ok(f"l2 LOGIN {a} {PASSWORD}")
    c.ok("u3 UNAUTHENTICATE")


def test_pipelined_with_authenticate_sasl_ir(imap_server):
    # Section 3: without a SASL layer the client may pipeline UNAUTHENTICATE
    # with AUTHENTICATE, re-authenticating in one round trip with SASL-IR.
    a, b = two_users(imap_server)
    c = imap_server.raw(a)
    ir = base64.b64encode(f"\0{b}\0{PASSWORD}".encode()).decode()
    c.send(f"u UNAUTHENTICATE\r\nv AUTHENTICATE PLAIN {ir}\r\nw SELECT INBOX\r\n")
    assert c.until(b"u") == [b"u OK UNAUTHENTICATE completed"]
    assert c.until(b"v")[-1].startswith(b"v OK ")
    assert b"* 2 EXISTS" in c.until(b"w")


def test_enabled_extensions_cease(imap_server):
    # Section 4.1: ENABLEd extensions (here IMAP4rev2 and CONDSTORE) end.
    user = imap_server.new_user()
    imap_server.deliver(user, b"Subject: x\r\n\r\ny\r\n")
    c = imap_server.raw(user)
    assert c.ok("e ENABLE IMAP4rev2 CONDSTORE")[0] == b"* ENABLED IMAP4rev2 CONDSTORE"
    lines = c.ok("s SELECT INBOX")
    assert not any(b"RECENT" in line for line in lines)  # rev2 has no RECENT
    c.ok("u UNAUTHENTICATE")
    c.ok(f"l LOGIN {user} {PASSWORD}")
    lines = c.ok("s SELECT INBOX")
    # IMAP4rev1 again (the rev2 SELECT claimed nothing, so it is recent).
    assert b"* 1 RECENT" in lines
    # Enabling again enables again: nothing was left on.  (CONDSTORE being
    # newly enabled with a mailbox selected also reports HIGHESTMODSEQ.)
    lines = c.ok("e ENABLE IMAP4rev2 CONDSTORE")
    assert b"* ENABLED IMAP4rev2 CONDSTORE" in lines
    assert any(line.startswith(b"* OK [HIGHESTMODSEQ ") for line in lines)


def test_tls_stays(imap_server):
    a, b = two_users(imap_server)
    sock = socket.create_connection(("127.0.0.1", imap_server.tls_port), timeout=10)
    tls = unverified_context().wrap_socket(sock, server_hostname="localhost")
    c = RawClient(tls)
    assert c.line().startswith(b"* OK ")
    c.ok(f"a LOGIN {a} {PASSWORD}")
    c.ok("u UNAUTHENTICATE")
    assert b"STARTTLS" not in c.ok("c CAPABILITY")[0]  # still under TLS
    c.ok(f"b LOGIN {b} {PASSWORD}")
    assert b"* 2 EXISTS" in c.ok("s SELECT INBOX")
    assert tls.version() is not None


def _end_of_compression(c, tag: bytes) -> None:
    """Read the server's compressed OK to UNAUTHENTICATE, then the end of its
    stream (section 4.1: it terminates compression after the OK's CRLF);
    what follows is plain and stays in ``c.buf``."""
    assert c.until(tag) == [tag + b" OK UNAUTHENTICATE completed"]
    while not c.inflater.eof:
        c._fill()
    c.buf += c.inflater.unused_data


def test_compression_ends_both_ways(imap_server):
    a, b = two_users(imap_server)
    z = compress(imap_server.raw(a))
    z.ok("s SELECT INBOX")
    z.send("u UNAUTHENTICATE\r\n")
    _end_of_compression(z, b"u")
    plain = RawClient(z.sock)
    plain.buf = z.buf
    plain.ok(f"l LOGIN {b} {PASSWORD}")
    assert b"* 2 EXISTS" in plain.ok("s SELECT INBOX")
    # And compression can start again.
    z2 = compress(plain, "y")
    assert z2.ok("n NOOP") == [b"n OK NOOP completed"]


@pytest.mark.parametrize("end", ["flush", "final block"])
def test_compressed_unauthenticate_pipelined_with_plain_login(imap_server, end):
    """The client ends its compression right after the command's CRLF and
    pipelines a plain LOGIN in the same packet; the server finds the end."""
    a, b = two_users(imap_server)
    z = compress(imap_server.raw(a))
    mode = zlib.Z_SYNC_FLUSH if end == "flush" else zlib.Z_FINISH
    z.sock.sendall(
        z.deflater.compress(b"u UNAUTHENTICATE\r\n") + z.deflater.flush(mode)
        + f"l LOGIN {b} {PASSWORD}\r\ns SELECT INBOX\r\n".encode()
    )
    _end_of_compression(z, b"u")
    plain = RawClient(z.sock)
    plain.buf = z.buf
    assert plain.until(b"l")[-1].startswith(b"l OK ")
    assert b"* 2 EXISTS" in plain.until(b"s")


def test_compressing_past_unauthenticate_gets_bye(imap_server):
    # Section 3 allows BYE when the state cannot be reset; here the client
    # kept compressing after the command, so its stream has no end to find.
    z = compress(imap_server.raw(imap_server.new_user()))
    z.send("u UNAUTHENTICATE\r\nn NOOP\r\n")
    _end_of_compression(z, b"u")
    plain = RawClient(z.sock)
    plain.buf = z.buf
    assert plain.line() == b"* BYE Compressed data after UNAUTHENTICATE"
