"""TCP listeners shared by every protocol: TLS, connection limits, shutdown.

A protocol plugs in as a ``handler(conn: Connection) -> Awaitable[None]``;
the listener owns the socket's life: it refuses connections over the limits
with the protocol's own words, tracks live sessions so that shutdown can
tell each one to say goodbye, and closes the transport whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger("hivemail.net")


@dataclass(eq=False)  # identity-hashed: kept in a set of live connections
class Connection:
    """One accepted client, as the protocol sessions see it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    peer_ip: str
    peer_port: int
    local_port: int
    tls: bool
    # Set by the listener at shutdown (see shut()), so that a session whose
    # read returns b"" can tell shutdown from EOF and say BYE / 421 first.
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def is_loopback(self) -> bool:
        return self.peer_ip.startswith("127.") or self.peer_ip in ("::1", "::ffff:127.0.0.1")

    async def read(self, limit: int = 262144, timeout: float | None = None) -> bytes | None:
        """Next chunk; b"" at EOF or when the server is closing (``closing``
        tells which); None when ``timeout`` seconds pass in silence."""
        if self.closing.is_set():
            return b""
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.read(limit)
        except TimeoutError:
            return None
        except (ConnectionError, OSError):
            return b""

    def shut(self) -> None:
        """Ask the session to end: its pending read returns b"" at once."""
        self.closing.set()
        self.reader.feed_eof()

    async def write(self, data: bytes) -> bool:
        """Write and drain; False when the peer has gone."""
        if not data:
            return True
        try:
            self.writer.write(data)
            await self.writer.drain()
            return True
        except (ConnectionError, OSError):
            return False

    async def sendfile(self, fd: int, offset: int, count: int, timeout: float | None = None) -> int:
        """Send ``count`` octets of the open file ``fd`` from ``offset`` with
        ``os.sendfile`` (zero-copy: page cache to socket), for a plain
        connection.  Returns the octets sent: ``count``, or fewer when the
        zero-copy path is not available now (TLS; output still queued in
        the transport; no socket; the peer gone or ``timeout`` seconds
        without progress).  The caller sends the rest with :meth:`write`.

        asyncio's ``loop.sendfile`` is not used: uvloop does not implement
        it (``NotImplementedError``).  The transport's buffer must be empty,
        or bytes would go out of order; while this runs nothing else may
        write.  ``os.sendfile`` runs in the default executor, because
        reading the file may block on the disk (DESIGN principle 6); the
        socket stays non-blocking, so a full socket buffer gives EAGAIN,
        and writability is awaited on a ``dup()`` of the socket (the
        transport's own fd cannot be given to ``add_writer``).  Worth it
        for large files: each call costs an executor hop."""
        if self.tls or count <= 0:
            return 0
        transport = self.writer.transport
        sock = transport.get_extra_info("socket")
        if sock is None or transport.is_closing() or transport.get_write_buffer_size():
            return 0
        loop = asyncio.get_running_loop()
        sock_fd = sock.fileno()
        sent = 0
        wait_fd = -1
        try:
            while sent < count:
                try:
                    n = await loop.run_in_executor(None, os.sendfile, sock_fd, fd, offset + sent,
                                                   count - sent)
                except BlockingIOError:
                    n = None
                except OSError:
                    return sent
                if n == 0:
                    return sent  # end of file: the file is shorter than said
                if n is not None:
                    sent += n
                    continue
                if wait_fd < 0:
                    wait_fd = os.dup(sock_fd)
                writable = loop.create_future()
                loop.add_writer(wait_fd, lambda f=writable: f.done() or f.set_result(None))
                try:
                    async with asyncio.timeout(timeout):
                        await writable
                except TimeoutError:
                    return sent
                finally:
                    loop.remove_writer(wait_fd)
            return sent
        finally:
            if wait_fd >= 0:
                os.close(wait_fd)

    async def start_tls(self, context: ssl.SSLContext) -> None:
        """Upgrade in place (STARTTLS/STLS). Anything the client pipelined
        after the command must not be executed (RFC 3207 section 4.2, RFC
        2595 section 3.1; CVE-2011-0411): what the protocol core already has
        is the caller's to discard, and what sits in the stream reader's
        buffer is dropped here, since the reader object survives the upgrade
        and would hand those plaintext bytes out as if they came under TLS."""
        buffered = getattr(self.reader, "_buffer", None)
        if buffered is not None:
            buffered.clear()
        await self.writer.start_tls(context)
        self.tls = True


Handler = Callable[[Connection], Awaitable[None]]


class ConnectionLimits:
    """Counts live connections, in all and per client address."""

    def __init__(self, max_total: int, max_per_ip: int) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self.total = 0
        self.per_ip: Counter[str] = Counter()

    def admit(self, ip: str) -> bool:
        if self.total >= self.max_total or self.per_ip[ip] >= self.max_per_ip:
            return False
        self.total += 1
        self.per_ip[ip] += 1
        return True

    def release(self, ip: str) -> None:
        self.total -= 1
        self.per_ip[ip] -= 1
        if self.per_ip[ip] <= 0:
            del self.per_ip[ip]


@dataclass(eq=False)
class Endpoint:
    """A bound, listening socket, made once by the supervising process and
    inherited by every worker, which all accept on it."""

    name: str
    host: str
    port: int
    sock: socket.socket
    implicit_tls: bool = False

    @classmethod
    def bind(cls, name: str, host: str, port: int, implicit_tls: bool = False, backlog: int = 1024) -> Endpoint:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family, backlog=backlog, reuse_port=False)
        sock.setblocking(False)
        port = sock.getsockname()[1]
        log.info("%s listening on %s:%d%s", name, host, port, " (TLS)" if implicit_tls else "")
        return cls(name, host, port, sock, implicit_tls)


class Listener:
    def __init__(
        self,
        endpoint: Endpoint,
        handler: Handler,
        limits: ConnectionLimits,
        refusal: bytes,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.handler = handler
        self.limits = limits
        self.refusal = refusal
        self.tls_context = tls_context
        self.server: asyncio.Server | None = None
        self.connections: set[Connection] = set()
        self.tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._accept, sock=self.endpoint.sock, ssl=self.tls_context, limit=2**20
        )

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        local = writer.get_extra_info("sockname") or ("?", 0)
        ip = str(peer[0])
        if not self.limits.admit(ip):
            log.warning("%s: refusing %s: connection limit", self.name, ip)
            with contextlib.suppress(Exception):
                writer.write(self.refusal)
                await asyncio.wait_for(writer.drain(), 5)
                writer.close()
            return
        conn = Connection(reader, writer, ip, int(peer[1]), int(local[1]), self.tls_context is not None)
        self.connections.add(conn)
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            await self.handler(conn)
        except Exception:
            # A session bug must cost one connection, never the server; the
            # client sees a closed socket, not a traceback.
            log.exception("%s: session with %s failed", self.name, ip)
        finally:
            self.connections.discard(conn)
            if task is not None:
                self.tasks.discard(task)
            self.limits.release(ip)
            with contextlib.suppress(Exception):
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), 5)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, ask every session to say goodbye, then wait."""
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            conn.shut()
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=grace)
            for t in pending:
                t.cancel()
