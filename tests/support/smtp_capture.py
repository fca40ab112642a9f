"""A small SMTP server that records what it is sent: the relay (smarthost)
of the outbound tests.

It speaks just enough of RFC 5321 for a client that behaves: EHLO/HELO,
STARTTLS (RFC 3207) when given a TLS context, AUTH PLAIN and LOGIN (RFC
4954) when given credentials, MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP,
QUIT. It is exact where the tests look (the lines received, TLS state of
each, the envelope, the bytes on the wire) and makes no effort elsewhere.

Faults are data: ``rcpt_replies`` answers chosen recipients with a given
reply, ``mail_reply``/``data_reply`` replace the 250 to MAIL / end of DATA,
``down`` greets with 421 and hangs up, ``silent`` never greets,
``inject_after_starttls`` sends plaintext behind the 220 to STARTTLS; stopping
the server makes connections fail outright. Run it in the test's event
loop (``async with SmtpCapture(...) as relay``); ``relay.port`` is the
port on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from dataclasses import dataclass, field

MAX_COMMANDS = 200
MAX_DATA = 10 * 1024 * 1024
READ_TIMEOUT = 10.0


@dataclass
class Captured:
    sender: str
    recipients: list[str]
    data: bytes  # unstuffed, as the client meant it
    wire: bytes  # as sent, dot-stuffed, up to and excluding the final ".\r\n"
    mail_line: bytes
    tls: bool
    auth_user: str | None


@dataclass
class _Session:
    tls: bool = False
    auth_user: str | None = None
    sender: str | None = None
    mail_line: bytes = b""
    recipients: list[str] = field(default_factory=list)


def _addr(arg: bytes) -> str | None:
    start, end = arg.find(b"<"), arg.find(b">")
    if start < 0 or end < start:
        return None
    return arg[start + 1 : end].decode("utf-8")


class SmtpCapture:
    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
        auth_mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN"),
        rcpt_replies: dict[str, bytes] | None = None,
        mail_reply: bytes | None = None,
        data_reply: bytes | None = None,
        down: bool = False,
        silent: bool = False,
        inject_after_starttls: bytes = b"",
    ) -> None:
        self.tls = tls
        self.credentials = credentials
        self.auth_mechanisms = auth_mechanisms
        self.rcpt_replies = dict(rcpt_replies or {})
        self.mail_reply = mail_reply
        self.data_reply = data_reply
        self.down = down
        self.silent = silent
        # Plaintext sent right behind the 220 to STARTTLS (CVE-2011-0411 style).
        self.inject_after_starttls = inject_after_starttls
        self.messages: list[Captured] = []
        self.commands: list[tuple[bool, bytes]] = []  # (over TLS, line without CRLF)
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1 (``port`` 0: any free port, or the one of a
        previous start, to bring a stopped relay back)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=READ_TIMEOUT)

    async def __aenter__(self) -> SmtpCapture:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def verbs(self) -> list[bytes]:
        return [line.split(b" ", 1)[0].split(b":", 1)[0].upper() for _, line in self.commands]

    # -- one connection ---------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            await self._serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, ssl.SSLError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.silent:
            await asyncio.sleep(READ_TIMEOUT)
            return
        if self.down:
            writer.write(b"421 4.3.2 capture relay is down\r\n")
            await writer.drain()
            return
        s = _Session()

        async def reply(*lines: bytes) -> None:
            writer.write(b"".join(line + b"\r\n" for line in lines))
            await writer.drain()

        async def read_line() -> bytes:
            line = await asyncio.wait_for(reader.readuntil(b"\r\n"), READ_TIMEOUT)
            return line[:-2]

        await reply(b"220 capture.test ESMTP ready")
        for _ in range(MAX_COMMANDS):
            line = await read_line()
            self.commands.append((s.tls, line))
            verb, _, arg = line.partition(b" ")
            verb = verb.upper()
            if verb.startswith(b"MAIL") or verb.startswith(b"RCPT"):
                verb, _, arg = line.partition(b":")
                verb = verb.upper().replace(b" ", b"")
            if verb == b"EHLO":
                ext = [b"250-capture.test", b"250-8BITMIME", b"250-SIZE 1000000"]
                if self.tls is not None and not s.tls:
                    ext.append(b"250-STARTTLS")
                if self.credentials is not None:
                    ext.append(b"250-AUTH " + " ".join(self.auth_mechanisms).encode())
                ext.append(b"250 ENHANCEDSTATUSCODES")
                await reply(*ext)
            elif verb == b"HELO":
                await reply(b"250 capture.test")
            elif verb == b"STARTTLS" and self.tls is not None and not s.tls:
                await reply(b"220 2.0.0 go ahead" + (b"\r\n" + self.inject_after_starttls).rstrip(b"\r\n"))
                await writer.start_tls(self.tls)
                s = _Session(tls=True)  # RFC 3207 4.2: forget everything
            elif verb == b"AUTH" and self.credentials is not None:
                await self._auth(s, arg, reply, read_line)
            elif verb == b"MAILFROM":
                if self.credentials is not None and s.auth_user is None:
                    await reply(b"530 5.7.0 authentication required")
                elif self.mail_reply is not None:
                    await reply(self.mail_reply)
                else:
                    s.sender, s.mail_line, s.recipients = _addr(arg), line, []
                    await reply(b"250 2.1.0 ok")
            elif verb == b"RCPTTO":
                rcpt = _addr(arg)
                if s.sender is None or rcpt is None:
                    await reply(b"503 5.5.1 MAIL first")
                elif rcpt in self.rcpt_replies:
                    await reply(self.rcpt_replies[rcpt])
                else:
                    s.recipients.append(rcpt)
                    await reply(b"250 2.1.5 ok")
            elif verb == b"DATA":
                if not s.recipients:
                    await reply(b"503 5.5.1 no valid recipients")
                    continue
                await reply(b"354 end with <CRLF>.<CRLF>")
                wire = await self._read_data(reader)
                if self.data_reply is not None:
                    await reply(self.data_reply)
                else:
                    data = b"".join(
                        (ln[1:] if ln.startswith(b".") else ln) for ln in wire.splitlines(keepends=True)
                    )
                    assert s.sender is not None
                    self.messages.append(
                        Captured(s.sender, list(s.recipients), data, wire, s.mail_line, s.tls, s.auth_user)
                    )
                    await reply(b"250 2.0.0 queued as %d" % len(self.messages))
                s.sender, s.recipients = None, []
            elif verb == b"RSET":
                s.sender, s.recipients = None, []
                await reply(b"250 2.0.0 ok")
            elif verb == b"NOOP":
                await reply(b"250 2.0.0 ok")
            elif verb == b"QUIT":
                await reply(b"221 2.0.0 bye")
                return
            else:
                await reply(b"500 5.5.2 unknown command")

    async def _read_data(self, reader: asyncio.StreamReader) -> bytes:
        wire = bytearray()
        while len(wire) <= MAX_DATA:
            line = await asyncio.wait_for(reader.readuntil(b"\r\n"), READ_TIMEOUT)
            if line == b".\r\n":
                return bytes(wire)
            wire += line
        raise ConnectionError("message too big for the capture relay")

    async def _auth(self, s: _Session, arg: bytes, reply, read_line) -> None:  # noqa: ANN001
        assert self.credentials is not None
        mech, _, initial = arg.partition(b" ")
        mech = mech.upper()
        if mech == b"PLAIN" and "PLAIN" in self.auth_mechanisms:
            if not initial:
                await reply(b"334 ")
                initial = await read_line()
            parts = base64.b64decode(initial).split(b"\0")
            user, password = (parts[1], parts[2]) if len(parts) == 3 else (b"", b"")
        elif mech == b"LOGIN" and "LOGIN" in self.auth_mechanisms:
            await reply(b"334 VXNlcm5hbWU6")
            user = base64.b64decode(await read_line())
            await reply(b"334 UGFzc3dvcmQ6")
            password = base64.b64decode(await read_line())
        else:
            await reply(b"504 5.5.4 mechanism not supported")
            return
        if (user.decode(), password.decode()) == self.credentials:
            s.auth_user = user.decode()
            await reply(b"235 2.7.0 authenticated")
        else:
            await reply(b"535 5.7.8 bad credentials")


class CaptureThread:
    """An :class:`SmtpCapture` in an event loop of its own thread, for a
    blocking test that runs a server in another process."""

    def __init__(self, **options) -> None:
        import threading

        self.loop = asyncio.new_event_loop()
        self.relay = SmtpCapture(**options)
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.port = asyncio.run_coroutine_threadsafe(self.relay.start(), self.loop).result(10)

    @property
    def messages(self) -> list[Captured]:
        return list(self.relay.messages)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.relay.stop(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
