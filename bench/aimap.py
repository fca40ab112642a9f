"""A small asyncio IMAP client for the benchmarks (not imaplib).

One command at a time per connection.  Replies are read line by line with
literals (``{n}``) read exactly, so message bodies cannot be mistaken for
tagged lines; untagged lines are only kept when asked.  Cheap enough that
50 clients in one process measure the server, not the client.
"""

from __future__ import annotations

import asyncio
import re
import socket

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
_COUNT = re.compile(rb"\* (\d+) (EXISTS|EXPUNGE)\r?\n$")


class ImapError(RuntimeError):
    pass


class AsyncImap:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.n = 0
        # Messages in this session's view: the last EXISTS, minus the
        # EXPUNGEs reported since (other sessions expunge concurrently).
        self.exists = 0

    @classmethod
    async def connect(cls, host: str, port: int, timeout: float = 60.0) -> "AsyncImap":
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=1 << 20), timeout)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self = cls(reader, writer)
        greeting = await asyncio.wait_for(reader.readline(), timeout)
        if not greeting.startswith(b"* OK"):
            writer.close()
            raise ImapError(f"greeting: {greeting[:200]!r}")
        return self

    def _tag(self) -> bytes:
        self.n += 1
        return b"a%d" % self.n

    async def _read_reply(self, tag: bytes, keep: bool) -> tuple[bytes, list[bytes], int]:
        """Read up to the tagged line; returns (status after the tag,
        untagged lines if *keep* (literals inlined), bytes read)."""
        lines: list[bytes] = []
        total = 0
        prefix = tag + b" "
        while True:
            line = await self.reader.readline()
            if not line:
                raise ImapError("connection closed")
            total += len(line)
            if line.startswith(prefix):
                return line[len(prefix):].rstrip(b"\r\n"), lines, total
            if line.endswith((b"EXISTS\r\n", b"EXPUNGE\r\n")):
                m = _COUNT.match(line)
                if m:
                    if m.group(2) == b"EXISTS":
                        self.exists = int(m.group(1))
                    else:
                        self.exists -= 1
            parts = [line] if keep else None
            m = _LITERAL.search(line)
            while m:
                data = await self.reader.readexactly(int(m.group(1)))
                rest = await self.reader.readline()
                total += len(data) + len(rest)
                if keep:
                    parts += [data, rest]
                m = _LITERAL.search(rest)
            if keep:
                lines.append(b"".join(parts))

    async def command(self, text: str | bytes, keep: bool = False) -> tuple[bytes, list[bytes]]:
        tag = self._tag()
        if isinstance(text, str):
            text = text.encode()
        self.writer.write(tag + b" " + text + b"\r\n")
        status, lines, _ = await self._read_reply(tag, keep)
        return status, lines

    async def ok(self, text: str | bytes, keep: bool = False) -> list[bytes]:
        status, lines = await self.command(text, keep)
        if not status.startswith(b"OK"):
            raise ImapError(f"{text[:60]!r} -> {status[:200]!r}")
        return lines

    async def not_bad(self, text: str | bytes) -> bytes:
        """A command whose NO is an acceptable answer; BAD raises."""
        status, _ = await self.command(text)
        if status.startswith(b"BAD"):
            raise ImapError(f"{text[:60]!r} -> {status[:200]!r}")
        return status

    async def append(self, mailbox: str, message: bytes, flags: str = "") -> tuple[bytes, list[bytes]]:
        """APPEND with a synchronizing literal (waits for the continuation)."""
        tag = self._tag()
        flag_part = f" ({flags})" if flags else ""
        self.writer.write(tag + f" APPEND {mailbox}{flag_part} {{{len(message)}}}\r\n".encode())
        line = await self.reader.readline()
        if not line.startswith(b"+"):
            if line.startswith(tag + b" "):
                return line[len(tag) + 1:].rstrip(b"\r\n"), []
            raise ImapError(f"APPEND: no continuation: {line[:200]!r}")
        self.writer.write(message + b"\r\n")
        status, lines, _ = await self._read_reply(tag, False)
        return status, lines

    async def login(self, user: str, password: str) -> None:
        await self.ok(f'LOGIN "{user}" "{password}"')

    async def logout(self) -> None:
        try:
            await asyncio.wait_for(self.command("LOGOUT"), 10)
        except (OSError, ImapError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass
        self.close()

    def close(self) -> None:
        try:
            self.writer.close()
        except OSError:
            pass


def exists_of(lines: list[bytes]) -> int:
    for line in lines:
        m = re.match(rb"\* (\d+) EXISTS", line)
        if m:
            return int(m.group(1))
    return -1


def search_hits(lines: list[bytes]) -> int:
    for line in lines:
        if line.startswith(b"* SEARCH"):
            return len(line.split()) - 2
        if line.startswith(b"* ESEARCH"):
            m = re.search(rb"ALL ([0-9:,]+)", line)
            if not m:
                return 0
            n = 0
            for part in m.group(1).split(b","):
                a, _, b = part.partition(b":")
                n += abs(int(b or a) - int(a)) + 1
            return n
    return 0


def appenduid(status: bytes) -> int | None:
    m = re.search(rb"\[APPENDUID \d+ (\d+)\]", status)
    return int(m.group(1)) if m else None
