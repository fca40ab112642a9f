"""COMPRESS=DEFLATE (RFC 4978) over real sockets.  The test is the client:
it deflates its commands and inflates the server's responses with zlib."""

from __future__ import annotations

import base64
import os
import re
import socket
import time
import zlib
from pathlib import Path

import pytest

from tests.e2e.imap.conftest import PASSWORD, RawClient, unverified_context

pytestmark = pytest.mark.xdist_group("imap")


class DeflateClient(RawClient):
    """A RawClient after ``COMPRESS DEFLATE``: every command is deflated and
    sync-flushed; every byte received is inflated.  ``wire_in``/``plain_in``
    count the server's bytes on the wire and after inflating."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inflater = zlib.decompressobj(-15)
        self.wire_in = 0
        self.plain_in = 0

    def send(self, data: bytes | str) -> None:
        data = data.encode() if isinstance(data, str) else data
        self.sock.sendall(self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH))

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(self.buf)
        self.wire_in += len(chunk)
        plain = self.inflater.decompress(chunk)
        self.plain_in += len(plain)
        self.buf += plain

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def compress(c: RawClient, tag: str = "z") -> DeflateClient:
    # The OK itself is plain: compression starts after its CRLF (section 3).
    assert c.cmd(f"{tag} COMPRESS DEFLATE") == [f"{tag} OK DEFLATE active".encode()]
    assert c.buf == b""
    return DeflateClient(c.sock)


def fetch_literal(c: RawClient, command: str) -> bytes:
    c.send(command + "\r\n")
    first = c.line()
    m = re.search(rb"\{(\d+)\}$", first)
    assert m, first
    data = c.read_exact(int(m.group(1)))
    tag = command.split()[0].encode()
    rest = c.until(tag)
    assert rest[-1].startswith(tag + b" OK"), rest
    return data


def big_message(size: int) -> bytes:
    """Text that compresses well and base64 of random bytes that does not."""
    head = b"From: a@example.net\r\nTo: b@example.org\r\nSubject: big\r\nMessage-ID: <big@x>\r\n\r\n"
    text = b"".join(b"line %d of the quoted text, which repeats a lot\r\n" % i for i in range(size // 100))
    blob = base64.encodebytes(os.urandom(size // 3)).replace(b"\n", b"\r\n")
    return head + text + blob


def test_capability_lists_compress_only_after_login(imap_server):
    c = imap_server.raw()
    assert b"COMPRESS=DEFLATE" not in c.ok("a CAPABILITY")[0]
    user = imap_server.new_user()
    login = c.ok(f"b LOGIN {user} {PASSWORD}")
    assert b"COMPRESS=DEFLATE" in login[-1]
    assert b" COMPRESS=DEFLATE" in c.ok("c CAPABILITY")[0]


def test_compress_before_login_is_bad_as_in_dovecot(imap_server):
    # Dovecot 2.3: "a BAD Error in IMAP command received by server."
    c = imap_server.raw()
    [bad] = c.cmd("a COMPRESS DEFLATE")
    assert bad.startswith(b"a BAD ") and b"not authenticated" in bad
    assert c.ok("b NOOP")  # still plain, still usable


def test_unknown_algorithm_is_bad_and_nothing_changes(imap_server):
    c = imap_server.raw(imap_server.new_user())
    [bad] = c.cmd("a COMPRESS LZ4")
    assert bad.startswith(b"a BAD ") and b"unknown compression algorithm" in bad
    [bad] = c.cmd("b COMPRESS")
    assert bad.startswith(b"b BAD ")
    assert c.ok("c NOOP") == [b"c OK NOOP completed"]


def test_commands_and_responses_are_compressed(imap_server):
    user = imap_server.new_user()
    imap_server.deliver(user, b"Subject: one\r\n\r\nhello\r\n")
    c = compress(imap_server.raw(user))
    lines = c.ok("s SELECT INBOX")
    assert b"* 1 EXISTS" in lines and lines[-1] == b"s OK [READ-WRITE] SELECT completed"
    assert c.ok("f FETCH 1 (FLAGS BODY[HEADER.FIELDS (SUBJECT)])")[0].startswith(b"* 1 FETCH (FLAGS (")
    caps = c.ok("c CAPABILITY")[0]
    assert b"COMPRESS=DEFLATE" in caps
    # Many responses in one burst, each burst flushed: nothing waits.
    for i in range(20):
        assert c.ok(f"n{i} NOOP") == [f"n{i} OK NOOP completed".encode()]
    # The bytes on the wire really were DEFLATE: the plain text is not there.
    assert c.plain_in > 0 and c.inflater.unused_data == b""
    # Second COMPRESS: RFC 4978 section 3.
    assert c.cmd("x COMPRESS DEFLATE") == [b"x NO [COMPRESSIONACTIVE] DEFLATE is already active (COMPRESS)"]
    assert c.ok("y NOOP")
    assert c.cmd("l LOGOUT") == [b"* BYE Logging out", b"l OK Logout completed"]


def test_server_output_is_deflate_on_the_wire(imap_server):
    user = imap_server.new_user()
    raw = imap_server.raw(user)
    compress(raw)
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw.sock.sendall(z.compress(b"a NOOP\r\n") + z.flush(zlib.Z_SYNC_FLUSH))
    wire = b""
    inflater = zlib.decompressobj(-15)
    deadline = time.monotonic() + 10
    while b"a OK" not in inflater.decompress(wire) and time.monotonic() < deadline:
        wire += raw.sock.recv(4096)
        inflater = zlib.decompressobj(-15)
    assert b"a OK" not in wire and wire.endswith(b"\x00\x00\xff\xff")  # sync-flushed


def test_compress_over_implicit_tls(imap_server):
    sock = socket.create_connection(("127.0.0.1", imap_server.tls_port), timeout=10)
    c = RawClient(unverified_context().wrap_socket(sock, server_hostname="localhost"))
    assert c.line().startswith(b"* OK ")
    user = imap_server.new_user()
    imap_server.deliver(user, b"Subject: tls\r\n\r\nover TLS, then DEFLATE\r\n")
    c.ok(f"a LOGIN {user} {PASSWORD}")
    z = compress(c)
    z.ok("s SELECT INBOX")
    body = fetch_literal(z, "f FETCH 1 BODY[TEXT]")
    assert body == b"over TLS, then DEFLATE\r\n"
    # STARTTLS is refused: not in this state (and never under compression).
    [bad] = z.cmd("t STARTTLS")
    assert bad.startswith(b"t BAD ")


def test_big_fetch_and_append_are_byte_exact(imap_server):
    user = imap_server.new_user()
    message = big_message(3 * 1024 * 1024)
    imap_server.deliver(user, message)
    c = compress(imap_server.raw(user))
    c.ok("s SELECT INBOX")
    got = fetch_literal(c, "f FETCH 1 BODY[]")
    assert got.endswith(message) and len(got) >= len(message)  # LMTP adds trace headers on top
    assert c.wire_in < c.plain_in  # the text part compressed
    # And the other way: a 2 MB literal, deflated by us, inflated by the server.
    upload = big_message(2 * 1024 * 1024)
    c.send(f"a APPEND INBOX {{{len(upload)}}}\r\n")
    assert c.line().startswith(b"+ ")
    c.send(upload + b"\r\n")
    assert c.until(b"a")[-1].startswith(b"a OK [APPENDUID ")
    c.ok("n NOOP")
    assert fetch_literal(c, "g FETCH 2 BODY[]") == upload


def test_idle_over_compression(imap_server):
    user = imap_server.new_user()
    c = compress(imap_server.raw(user))
    c.ok("s SELECT INBOX")
    c.send("i IDLE\r\n")
    assert c.line() == b"+ idling"
    imap_server.deliver(user, b"Subject: pushed\r\n\r\nnew\r\n")
    # Pushed while idle, compressed and flushed at once (no client bytes needed).
    assert c.line() == b"* 1 EXISTS"
    c.send("DONE\r\n")
    assert c.until(b"i")[-1] == b"i OK IDLE terminated"


def deflate_bomb(prefix: bytes, size: int) -> bytes:
    """A sync-flushed raw DEFLATE stream of ``prefix`` then ``size`` bytes of
    "A", written by hand so that it costs nothing to make: one fixed-Huffman
    block (RFC 1951 section 3.2.6), matches of length 258 at distance 1,
    13 bits each; 8 of them are 13 whole bytes, repeated."""
    bits: list[int] = []

    def put(value: int, n: int) -> None:  # header fields: LSB first
        bits.extend((value >> i) & 1 for i in range(n))

    def huff(value: int, n: int) -> None:  # Huffman codes: MSB first
        bits.extend((value >> i) & 1 for i in reversed(range(n)))

    def match() -> None:  # length 258 (code 285), distance 1 (code 0)
        huff(0b11000101, 8)
        huff(0, 5)

    def take() -> bytes:
        assert len(bits) % 8 == 0
        out = bytes(sum(bits[i + j] << j for j in range(8)) for i in range(0, len(bits), 8))
        bits.clear()
        return out

    put(0, 1)  # BFINAL
    put(1, 2)  # BTYPE: fixed Huffman
    for b in prefix + b"A":
        huff(0x30 + b, 8)  # literals 0..143 (ASCII)
    for _ in range((-len(bits) * 5) % 8):  # 13 = 5 (mod 8): to a byte boundary
        match()
    head = take()
    for _ in range(8):
        match()
    pattern = take()
    huff(0, 7)  # end of block
    put(0, 3)  # an empty stored block: the sync flush
    bits.extend([0] * (-len(bits) % 8))
    return head + pattern * (size // (258 * 8) + 1) + take() + b"\x00\x00\xff\xff"


def test_deflate_bomb_helper_is_what_it_says():
    bomb = deflate_bomb(b"a NOOP ", 10 * 1024 * 1024)
    plain = zlib.decompressobj(-15).decompress(bomb)
    assert plain.startswith(b"a NOOP AAAA") and len(plain) >= 10 * 1024 * 1024
    assert set(plain[7:]) == {ord("A")} and len(bomb) < len(plain) // 100


def _peak_rss_kib(pid: int) -> int:
    """The largest peak RSS among the server process and its children."""
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            pids.append(int(stat.parent.name))
    peak = 0
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        m = re.search(r"VmHWM:\s+(\d+) kB", status)
        if m:
            peak = max(peak, int(m.group(1)))
    return peak


def test_decompression_bomb_is_cut_off_with_bye(imap_server):
    """4 GiB of one command line from 27 MB on the wire: the server inflates
    a bounded piece at a time and gives up at ``inflate_limit`` (about 100 MB
    with the default limits) with BYE [LIMIT], its memory untouched."""
    c = compress(imap_server.raw(imap_server.new_user()))
    bomb = deflate_bomb(b"a NOOP ", 4 << 30)
    start = time.monotonic()
    sent = 0
    try:
        for i in range(0, len(bomb), 1 << 16):
            c.sock.sendall(bomb[i : i + (1 << 16)])
            sent += 1 << 16
    except OSError:
        pass  # the server closed the connection: what we want
    c.sock.settimeout(30)
    lines = []
    try:
        while True:
            lines.append(c.line())
    except (EOFError, OSError):
        pass
    assert lines and lines[-1].startswith(b"* BYE [LIMIT] compressed input inflates beyond"), lines
    assert time.monotonic() - start < 30
    assert sent < len(bomb)  # cut off long before the end
    assert _peak_rss_kib(imap_server.server.proc.pid) < 400 * 1024
    # The server is fine.
    assert imap_server.raw(imap_server.new_user()).ok("n NOOP")


def test_mbsync_syncs_over_a_compressed_connection(imap_server, tmp_path):
    """isync 1.4 sends COMPRESS DEFLATE whenever the server lists
    COMPRESS=DEFLATE (1.4 has no setting for it).  Its debug output and the
    server log prove the session compressed; the messages arrive intact."""
    from tests.support.clients import client_env, require_binary, run_client, to_crlf

    mbsync = require_binary("mbsync")
    user = imap_server.new_user()
    message = big_message(512 * 1024)
    imap_server.deliver(user, message)
    imap_server.deliver(user, b"Subject: small\r\nMessage-ID: <small@x>\r\n\r\nsmall one\r\n")
    home = tmp_path / "home"
    home.mkdir()
    maildir = tmp_path / "Mail"
    maildir.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        f"IMAPAccount server\nHost 127.0.0.1\nPort {imap_server.port}\nUser {user}\nPass {PASSWORD}\n"
        "SSLType None\nAuthMechs LOGIN\nTimeout 30\n\n"
        "IMAPStore remote\nAccount server\n\n"
        f"MaildirStore local\nPath {maildir}/\nInbox {maildir}/INBOX\n\n"
        "Channel inbox\nFar :remote:INBOX\nNear :local:INBOX\nSync All\nCreate Both\nSyncState *\n"
    )
    proc = run_client([mbsync, "-D", "-c", str(rc), "inbox"], env=client_env(home), timeout=120)
    # isync's debug output shows the command it sent.
    assert "COMPRESS DEFLATE" in proc.stdout + proc.stderr
    files = sorted((maildir / "INBOX" / "new").iterdir()) + sorted((maildir / "INBOX" / "cur").iterdir())
    bodies = [to_crlf(f.read_bytes()) for f in files]
    assert len(bodies) == 2
    # isync adds an X-TUID header field on pull; the body is untouched.
    body = message.partition(b"\r\n\r\n")[2]
    assert any(b.partition(b"\r\n\r\n")[2] == body for b in bodies)
    assert any(b.endswith(b"\r\n\r\nsmall one\r\n") for b in bodies)
    log = "\n".join(imap_server.server.log)
    assert re.search(rf"user={re.escape(user)}: compression started \(DEFLATE\)", log), log[-3000:]
    sent = [tuple(map(int, m.groups())) for m in re.finditer(
        rf"user={re.escape(user)}: imap: DEFLATE sent (\d+) bytes as (\d+)", log)]
    assert sent and max(raw for raw, _ in sent) > len(message)  # the big message went compressed
    assert all(wire < raw for raw, wire in sent)
