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
import secrets
import socket
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hivemail.net import logcontext
from hivemail.net.compress import CompressionError, Deflater, Inflater
from hivemail.net.logcontext import SessionLog

log = logging.getLogger("hivemail.net")

# Output up to this size is compressed on the loop; bigger writes in a
# worker thread (zlib releases the GIL), so deflating a 1 MiB piece of a
# big literal does not stall the other sessions of this worker.
_INLINE_DEFLATE = 64 * 1024


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
    timeouts: ClientTimeouts = field(default_factory=lambda: ClientTimeouts())
    # What log lines of this session carry (net/logcontext.py).
    log: SessionLog | None = None
    # The command being received: when its first byte came (None: no
    # command under way) and how many bytes of it have come since.
    _command_start: float | None = field(default=None, init=False)
    _command_bytes: int = field(default=0, init=False)
    # read() returned None because a command took too long, not for silence.
    command_timed_out: bool = field(default=False, init=False)
    # COMPRESS=DEFLATE (net/compress.py): both set by start_compression().
    _inflater: Inflater | None = field(default=None, init=False)
    _deflater: Deflater | None = field(default=None, init=False)
    # Inflated bytes allowed per command (from the first byte after our
    # last write, as the command deadline): past it the input is a
    # decompression bomb, not a command the core would accept.
    max_inflate: int = field(default=0, init=False)
    _command_inflated: int = field(default=0, init=False)
    # Why read() returned b"" when it was neither EOF nor shutdown: the
    # session tells the client (e.g. BYE) before ending.
    input_error: str | None = field(default=None, init=False)
    input_over_limit: bool = field(default=False, init=False)  # ... and it was max_inflate

    @property
    def compressed(self) -> bool:
        """COMPRESS=DEFLATE is active (RFC 4978)."""
        return self._deflater is not None

    @property
    def is_loopback(self) -> bool:
        return self.peer_ip.startswith("127.") or self.peer_ip in ("::1", "::ffff:127.0.0.1")

    @property
    def session_id(self) -> str:
        return self.log.session_id if self.log is not None else ""

    def _command_allowance(self, now: float) -> float | None:
        """Seconds left for the command under way (None: no limit now)."""
        t = self.timeouts
        if self._command_start is None or t.command <= 0:
            return None
        rate_credit = self._command_bytes / t.command_min_rate if t.command_min_rate > 0 else 0.0
        return self._command_start + t.command + rate_credit - now

    async def read(self, limit: int = 262144, timeout: float | None = None) -> bytes | None:
        """Next chunk; b"" at EOF or when the server is closing (``closing``
        tells which); None when ``timeout`` seconds pass in silence, or when
        a command has taken too long (``command_timed_out`` tells which).

        The command deadline (``ClientTimeouts.command``) runs from the
        first byte received after the server last wrote something to the
        next write: every command the protocols know ends in a reply, so a
        write marks the end of one. This needs nothing from the protocol
        cores, and bounds a client that sends a command one byte a second,
        which the silence timeout never would.

        Under compression the chunk is inflated (at most ``limit`` bytes of
        it per call), the deadline's rate credit counts bytes on the wire,
        and b"" with ``input_error`` set means the input was not DEFLATE or
        inflated past ``max_inflate`` in one command."""
        if self.closing.is_set():
            return b""
        if self.input_error is not None:
            return b""
        loop = asyncio.get_running_loop()
        allowance = self._command_allowance(loop.time())
        if allowance is not None:
            if allowance <= 0:
                self.command_timed_out = True
                return None
            timeout = allowance if timeout is None else min(timeout, allowance)
        try:
            async with asyncio.timeout(timeout):
                if self._inflater is not None:
                    return self._read_inflated(await self._inflated(limit))
                data = await self.reader.read(limit)
        except TimeoutError:
            allowance = self._command_allowance(loop.time())
            self.command_timed_out = allowance is not None and allowance <= 0
            return None
        except (ConnectionError, OSError):
            return b""
        if data:
            if self._command_start is None:
                self._command_start = loop.time()
            self._command_bytes += len(data)
        return data

    async def _inflated(self, limit: int) -> bytes:
        """Inflate what is buffered, reading the socket until it gives
        something: a sync flush alone inflates to nothing, and b"" must
        keep meaning EOF.  b"" (with ``input_error``) on bad input."""
        inflater = self._inflater
        assert inflater is not None
        while True:
            if inflater.pending:
                try:
                    out = inflater.inflate(limit)
                except CompressionError as e:
                    self.input_error = str(e)
                    return b""
                if out:
                    return out
            raw = await self.reader.read(limit)
            if not raw:
                return b""
            if self._command_start is None:
                self._command_start = asyncio.get_running_loop().time()
            # The deadline's rate credit counts the wire: inflated bytes
            # would let a bomb buy itself time.
            self._command_bytes += len(raw)
            inflater.feed(raw)

    def _read_inflated(self, data: bytes) -> bytes:
        self._command_inflated += len(data)
        if self.max_inflate and self._command_inflated > self.max_inflate:
            self.input_error = f"compressed input inflates beyond {self.max_inflate} bytes in one command"
            self.input_over_limit = True
            log.warning("client %s: %s; closing", self.peer_ip, self.input_error)
            return b""
        return data

    def start_compression(self, buffered: bytes = b"", max_inflate: int = 0) -> None:
        """DEFLATE both ways from now on (RFC 4978 section 3: "immediately
        after the CRLF which ends the tagged OK").  ``buffered``: bytes
        the client sent after COMPRESS that were already read (a client
        that did not wait for the OK): they are compressed, so they go
        through the inflater first.  ``max_inflate``: see the field."""
        self._inflater = Inflater()
        self._deflater = Deflater()
        self.max_inflate = max_inflate
        self._command_inflated = 0
        if buffered:
            self._inflater.feed(buffered)

    async def stop_compression(self, unread: int) -> bytes | None:
        """End compression both ways (RFC 8437 section 4.1: after the OK to
        UNAUTHENTICATE).  Writes the end of our stream and returns the plain
        bytes the client sent after the end of its own; ``unread``: inflated
        bytes already read that lie past that end (pipelined after the
        command).  None when the client's stream does not end there: the
        caller should close the connection."""
        inflater, deflater = self._inflater, self._deflater
        assert inflater is not None and deflater is not None
        self._inflater = self._deflater = None
        self.max_inflate = 0
        try:
            self.writer.write(deflater.finish())
            if not await self._drain():
                return None
            plain = inflater.end(unread)
            # The last bytes of the client's flush may still be on their way.
            async with asyncio.timeout(self.timeouts.command or None):
                while plain is None:
                    raw = await self.reader.read(65536)
                    if not raw:
                        return None
                    inflater.feed(raw)
                    plain = inflater.end(0)
        except (CompressionError, TimeoutError, ConnectionError, OSError) as e:
            log.info("client %s: no end to its compressed stream: %s", self.peer_ip, e)
            return None
        return plain

    def compression_stats(self) -> tuple[int, int] | None:
        """(bytes before, bytes after) compressing our output so far."""
        if self._deflater is None:
            return None
        return self._deflater.raw_bytes, self._deflater.wire_bytes

    def shut(self) -> None:
        """Ask the session to end: its pending read returns b"" at once."""
        self.closing.set()
        self.reader.feed_eof()

    async def write(self, data: bytes, more: bool = False) -> bool:
        """Write and drain; False when the peer has gone, or has read
        nothing of our output for ``ClientTimeouts.send`` seconds (the
        caller ends the session, which closes the socket). Ends the command
        under way (see :meth:`read`).

        ``more``: more output follows at once (a burst written in pieces).
        Under compression only the last piece of a burst is flushed; a
        plain connection ignores it."""
        if not data:
            return True
        self._command_start = None
        self._command_bytes = 0
        self._command_inflated = 0
        if self._deflater is not None:
            deflater = self._deflater
            if len(data) > _INLINE_DEFLATE:
                data = await asyncio.to_thread(deflater.compress, data, not more)
            else:
                data = deflater.compress(data, not more)
            if not data:
                return True
        if self.writer.transport.is_closing():
            return False  # aborted (see _drain) or closed by the peer
        try:
            self.writer.write(data)
            return await self._drain()
        except (ConnectionError, OSError):
            return False
        except RuntimeError:
            # uvloop raises this for a transport closed under us meanwhile.
            return False

    async def _drain(self) -> bool:
        limit = self.timeouts.send
        if limit <= 0:
            await self.writer.drain()
            return True
        transport = self.writer.transport
        before = transport.get_write_buffer_size()
        while True:
            try:
                async with asyncio.timeout(limit):
                    await self.writer.drain()
                return True
            except TimeoutError:
                # Slow is fine, stuck is not: wait again while the client
                # takes something, give up when it took nothing.
                now = transport.get_write_buffer_size()
                if now >= before:
                    log.info("client %s read nothing for %d s, dropping it", self.peer_ip, limit)
                    transport.abort()
                    return False
                before = now

    async def sendfile(self, fd: int, offset: int, count: int, timeout: float | None = None) -> int:
        """Send ``count`` octets of the open file ``fd`` from ``offset`` with
        ``os.sendfile`` (zero-copy: page cache to socket), for a plain
        connection.  Returns the octets sent: ``count``, or fewer when the
        zero-copy path is not available now (TLS or compression: the bytes
        must pass through us; output still queued in
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
        if self.tls or self.compressed or count <= 0:
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
        if self.compressed:
            # RFC 4978 section 3: compression goes above TLS, never under it.
            raise RuntimeError("TLS cannot start under an active compression layer")
        buffered = getattr(self.reader, "_buffer", None)
        if buffered is not None:
            buffered.clear()
        await self.writer.start_tls(context)
        self.tls = True


Handler = Callable[[Connection], Awaitable[None]]


@dataclass(frozen=True)
class ClientTimeouts:
    """Per-connection limits on slow clients (``[limits]`` in the config).

    ``command``: seconds a command may take to arrive, plus one second per
    ``command_min_rate`` bytes of it (so a 50 MB APPEND on a slow link is
    not cut, a byte a second is); 0 turns it off. ``send``: seconds
    without any of our output being read before the client is dropped."""

    command: float = 60.0
    command_min_rate: int = 1024
    send: float = 300.0


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
        timeouts: ClientTimeouts | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.handler = handler
        self.limits = limits
        self.refusal = refusal
        self.tls_context = tls_context
        self.timeouts = timeouts or ClientTimeouts()
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
        conn = Connection(reader, writer, ip, int(peer[1]), int(local[1]), self.tls_context is not None,
                          timeouts=self.timeouts)
        # This task serves only this connection: what it logs (and the
        # tasks and threads it starts) carries the session's prefix.
        conn.log = SessionLog(secrets.token_hex(8), self.name, ip)
        logcontext.current.set(conn.log)
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
            stats = conn.compression_stats()
            if stats is not None:
                log.info("%s: DEFLATE sent %d bytes as %d", self.name, *stats)
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
