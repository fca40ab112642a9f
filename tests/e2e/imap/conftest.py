"""A real hivemail with IMAP, IMAPS and LMTP listeners, one per module,
and helpers to talk to it as raw lines or with imaplib."""

from __future__ import annotations

import imaplib
import itertools
import smtplib
import socket
import ssl

import pytest

from tests.support.server import HivemailServer, cli

PASSWORD = "secret"
_counter = itertools.count(1)


class ImapServer:
    def __init__(self, server: HivemailServer) -> None:
        self.server = server
        self.data_dir = server.data_dir
        self.port = server.ports["imap"]
        self.tls_port = server.ports.get("imaps")
        self.lmtp_port = server.ports["lmtp"]

    def new_user(self) -> str:
        """A fresh account for one test, so tests do not see each other's mail."""
        name = f"user{next(_counter)}@example.org"
        cli(self.data_dir, "user", "add", name, "--password", PASSWORD)
        return name

    def deliver(self, user: str, message: bytes) -> None:
        with smtplib.LMTP("127.0.0.1", self.lmtp_port) as lmtp:
            assert lmtp.sendmail("sender@example.net", [user], message) == {}

    def imaplib(self, user: str | None = None) -> imaplib.IMAP4:
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        if user is not None:
            c.login(user, PASSWORD)
        return c

    def raw(self, user: str | None = None) -> "RawClient":
        c = RawClient(socket.create_connection(("127.0.0.1", self.port), timeout=10))
        assert c.line().startswith(b"* OK ")
        if user is not None:
            c.ok(f"L LOGIN {user} {PASSWORD}")
        return c


class RawClient:
    """Exact lines on the wire: ``cmd()`` sends one command and returns every
    line up to and including its tagged response."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def cmd(self, command: str | bytes) -> list[bytes]:
        raw = command.encode() if isinstance(command, str) else command
        tag = raw.split(b" ", 1)[0]
        self.send(raw + b"\r\n")
        return self.until(tag)

    def until(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def ok(self, command: str | bytes) -> list[bytes]:
        lines = self.cmd(command)
        tag = (command.encode() if isinstance(command, str) else command).split(b" ", 1)[0]
        assert lines[-1].startswith(tag + b" OK"), lines
        return lines

    def close(self) -> None:
        self.sock.close()


def unverified_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture(scope="module")
def imap_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("imapdata")
    (data / "test.toml").write_text("[auth]\nfailure_delay = 0.01\n")
    server = HivemailServer(data, listeners=("imap", "imaps", "lmtp"), extra=("--config", str(data / "test.toml")))
    server.start()
    yield ImapServer(server)
    server.stop()
    assert server.tracebacks() == [], "\n".join(server.log)
