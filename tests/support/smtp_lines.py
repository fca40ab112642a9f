"""A line-level SMTP/LMTP client for transcript tests: it shows the exact
replies, where smtplib would interpret them."""

from __future__ import annotations

import socket


class SmtpLines:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def reply(self) -> list[bytes]:
        """One (possibly multi-line) reply."""
        lines = [self.line()]
        while lines[-1][3:4] == b"-":
            lines.append(self.line())
        return lines

    def cmd(self, data: bytes | str) -> bytes:
        """Send one command line; the last line of its reply."""
        self.send((data.encode() if isinstance(data, str) else data) + b"\r\n")
        return self.reply()[-1]

    def data(self, message: bytes, replies: int = 1) -> list[bytes]:
        """DATA, the message and its end: the last line of each of
        ``replies`` replies (LMTP: one per accepted recipient)."""
        assert self.cmd("DATA").startswith(b"354 ")
        self.send(message + b".\r\n")
        return [self.reply()[-1] for _ in range(replies)]

    def close(self) -> None:
        self.sock.close()
