"""RETR's three ways out, byte for byte on the wire (handlers.retr):

* small messages, read whole (from the page cache on the loop) and stuffed;
* large dot-free messages on a plain connection, by sendfile (zero-copy),
  including a partial sendfile finished the usual way and a client too slow
  to keep up (EAGAIN, then waiting for the socket to drain);
* large messages that need stuffing, or any large message under TLS,
  streamed in chunks.

Each case compares the raw multi-line response with ``dot_stuff(stored,
final=True)``, the pure core's definition; messages that need stuffing,
that do not, and that do not end in CRLF.  The server runs in-process (on
asyncio's loop and on uvloop, the one ``serve`` uses) so that the test can
see which way was taken.
"""

from __future__ import annotations

import asyncio
import os
import ssl

import pytest
import uvloop

from hivemail.auth.directory import Authenticator
from hivemail.auth.passwords import hash_password
from hivemail.config import Config
from hivemail.mailstore.embedded.store import EmbeddedStore
from hivemail.mailstore.types import Recipient
from hivemail.mime.analysis import analyse
from hivemail.net import listeners
from hivemail.net.listeners import Connection
from hivemail.net.tls import ensure_self_signed, server_context
from hivemail.pop3.session import WRITE_CHUNK, Pop3Service, Pop3Session
from hivemail.pop3_proto import dot_stuff
from hivemail.shared_state import SharedState

USER = "retr@example.org"
PASSWORD = "retr secret"

LINE = b"The quick brown fox jumps over the lazy dog; lines of 72 characters.\r\n"
BIG = 3 * WRITE_CHUNK + 12345  # several chunks, not a multiple of any

# About zero-copy from the embedded store's message files (a PostgreSQL
# store has none: RETR streams what read_blob returns, covered by the
# protocol suites of the PostgreSQL pass).
pytestmark = pytest.mark.embedded_only


def big(stuffed: bool, crlf: bool = True, size: int = BIG) -> bytes:
    head = b"Subject: big\r\n\r\n"
    body = LINE * (size // len(LINE))
    if stuffed:
        body = body.replace(LINE, b"." + LINE[1:], 1)  # one line starts with "."
        body = body[:len(body) // 2] + b".\r\n" + body[len(body) // 2:]  # a lone "." line mid-way
    raw = head + body
    return raw if crlf else raw + b"no final CRLF"


MESSAGES = {
    "small-stuffed": b"Subject: s\r\n\r\n.starts with a dot\r\n.\r\nend\r\n",
    "small-dot-free": b"Subject: f\r\n\r\nplain text\r\n",
    "small-no-crlf": b"Subject: n\r\n\r\nno final CRLF",
    "small-dot-no-crlf": b"Subject: d\r\n\r\nx\r\n.",
    "big-dot-free": big(False),
    "big-dot-free-no-crlf": big(False, crlf=False),
    "big-stuffed": big(True),
    "big-stuffed-no-crlf": big(True, crlf=False),
}


class Spy:
    """Wraps Connection.sendfile: records calls; ``limit`` makes it send at
    most that many octets (a partial sendfile, finished by the stream path)."""

    def __init__(self, limit: int | None = None) -> None:
        self.calls: list[tuple[int, int]] = []
        self.limit = limit
        self.original = Connection.sendfile

    def install(self, monkeypatch) -> Spy:
        spy = self

        async def sendfile(conn: Connection, fd: int, offset: int, count: int, timeout=None) -> int:
            limit = count if spy.limit is None else min(count, spy.limit)
            sent = await spy.original(conn, fd, offset, limit, timeout)
            spy.calls.append((count, sent))
            return sent

        monkeypatch.setattr(listeners.Connection, "sendfile", sendfile)
        return self


async def _read_multi(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slow: bool) -> bytes:
    if slow:
        # Stop reading for a while: the server fills the socket buffers and
        # has to wait for them to drain.
        writer.transport.pause_reading()
        await asyncio.sleep(0.5)
        writer.transport.resume_reading()
    status = await reader.readline()
    assert status.startswith(b"+OK"), status
    # The first CRLF.CRLF is the end: a stuffed body never holds one.
    return await reader.readuntil(b"\r\n.\r\n")


async def _run(tmp_path, names: list[str], *, tls: bool, analysis_field: bool = True, slow: bool = False,
               retr_twice: bool = False) -> dict[str, list[bytes]]:
    data_dir = tmp_path / "data"
    store = EmbeddedStore(data_dir, fsync=False)
    await store.open()
    await store.create_account(USER, hash_password(PASSWORD))
    for name in names:
        a = analyse(MESSAGES[name])
        if not analysis_field:
            a.dot_free = None  # an analysis stored before the field existed
        await store.deliver([Recipient(USER, "INBOX")], MESSAGES[name], a.to_bytes())
    tls_ctx = None
    if tls:
        cert, key = ensure_self_signed(tmp_path / "tls", "localhost")
        tls_ctx = server_context(cert, key)
    service = Pop3Service(store, Authenticator(store, 0.01), Config(), None, SharedState(data_dir))

    async def accept(reader, writer):
        conn = Connection(reader, writer, "127.0.0.1", 40000, 995 if tls else 110, tls)
        try:
            await Pop3Session(service, conn).run()
        finally:
            writer.close()

    srv = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=tls_ctx, limit=2**20)
    port = srv.sockets[0].getsockname()[1]
    client_ctx = None
    if tls:
        client_ctx = ssl.create_default_context()
        client_ctx.check_hostname = False
        client_ctx.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx, limit=2**26)
    got: dict[str, list[bytes]] = {name: [] for name in names}
    try:
        assert (await reader.readline()).startswith(b"+OK")
        writer.write(f"USER {USER}\r\nPASS {PASSWORD}\r\n".encode())
        assert (await reader.readline()).startswith(b"+OK")
        assert (await reader.readline()).startswith(b"+OK")
        for _ in range(2 if retr_twice else 1):
            for n, name in enumerate(names, 1):
                writer.write(b"RETR %d\r\n" % n)
                got[name].append(await _read_multi(reader, writer, slow))
        writer.write(b"QUIT\r\n")
        assert (await reader.readline()).startswith(b"+OK")
    finally:
        writer.close()
        srv.close()
        await store.close()
    return got


def run(loop_name: str, coro):
    if loop_name == "uvloop":
        return uvloop.run(coro)
    return asyncio.run(coro)


LOOPS = ["asyncio", "uvloop"]


@pytest.mark.parametrize("loop_name", LOOPS)
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_every_kind_of_message_is_byte_exact(tmp_path, monkeypatch, loop_name, tls):
    spy = Spy().install(monkeypatch)
    names = list(MESSAGES)
    got = run(loop_name, _run(tmp_path, names, tls=tls))
    for name in names:
        assert got[name] == [dot_stuff(MESSAGES[name], final=True)], name
    if tls:
        assert spy.calls == []  # under TLS the bytes must pass through the TLS layer
    else:
        # exactly the two large dot-free messages went by sendfile, whole
        assert spy.calls == [(len(MESSAGES["big-dot-free"]),) * 2,
                             (len(MESSAGES["big-dot-free-no-crlf"]),) * 2]


@pytest.mark.parametrize("loop_name", LOOPS)
def test_partial_sendfile_is_finished_by_the_stream(tmp_path, monkeypatch, loop_name):
    spy = Spy(limit=WRITE_CHUNK + 1).install(monkeypatch)  # stops mid-chunk, one octet into the next
    names = ["big-dot-free", "big-dot-free-no-crlf"]
    got = run(loop_name, _run(tmp_path, names, tls=False))
    for name in names:
        assert got[name] == [dot_stuff(MESSAGES[name], final=True)], name
    assert [sent for _count, sent in spy.calls] == [WRITE_CHUNK + 1] * 2


@pytest.mark.parametrize("loop_name", LOOPS)
def test_sendfile_waits_for_a_slow_client(tmp_path, monkeypatch, loop_name):
    # Larger than any socket buffer: sendfile meets EAGAIN and waits for
    # the socket to be writable again, several times.
    MESSAGES["huge-dot-free"] = big(False, size=24 * 1024 * 1024)
    waits = []
    dup = os.dup
    monkeypatch.setattr(listeners.os, "dup", lambda fd: waits.append(fd) or dup(fd))
    try:
        spy = Spy().install(monkeypatch)
        got = run(loop_name, _run(tmp_path, ["huge-dot-free"], tls=False, slow=True))
        assert got["huge-dot-free"] == [dot_stuff(MESSAGES["huge-dot-free"], final=True)]
        assert spy.calls == [(len(MESSAGES["huge-dot-free"]),) * 2]
        assert waits  # it did have to wait for the socket
    finally:
        del MESSAGES["huge-dot-free"]


def test_without_the_stored_field_the_first_retr_learns_it(tmp_path, monkeypatch):
    """An analysis stored before ``dot_free`` existed: the first RETR streams
    (and notes that the blob needs no stuffing), the second uses sendfile."""
    spy = Spy().install(monkeypatch)
    names = ["big-dot-free", "big-stuffed"]
    got = run("uvloop", _run(tmp_path, names, tls=False, analysis_field=False, retr_twice=True))
    for name in names:
        assert got[name] == [dot_stuff(MESSAGES[name], final=True)] * 2, name
    assert spy.calls == [(len(MESSAGES["big-dot-free"]),) * 2]


def test_sendfile_is_refused_under_tls_and_with_output_queued():
    class Transport:
        def __init__(self, queued: int) -> None:
            self.queued = queued

        def get_extra_info(self, name):
            return object()

        def is_closing(self):
            return False

        def get_write_buffer_size(self):
            return self.queued

    class Writer:
        def __init__(self, queued: int) -> None:
            self.transport = Transport(queued)

    async def main():
        tls = Connection(None, Writer(0), "127.0.0.1", 1, 110, True)  # type: ignore[arg-type]
        queued = Connection(None, Writer(5), "127.0.0.1", 1, 110, False)  # type: ignore[arg-type]
        return await tls.sendfile(0, 0, 10), await queued.sendfile(0, 0, 10)

    assert asyncio.run(main()) == (0, 0)
