"""Replay a line-protocol transcript as raw bytes over real 127.0.0.1 sockets
against a real ``hivemail serve`` (in its own temporary data directory).

Format (one item per line; ``#`` starts a comment line)::

    C: USER $user            send the line + CRLF ($variables substituted,
                             \\r \\n \\t \\xNN escapes, <x*300> repeats "x" 300 times)
    C-: text                 send without the CRLF
    S: +OK *                 expect exactly one line; "*" matches any run of
                             characters; "$name" captures a non-blank word the
                             first time and must match the same word later
    S: <closed>              expect the server to close the connection
    @config [pop3] login_delay = 60     a line of the server's TOML (before start)
    @connect NAME [tls]      open a connection (implicit TLS with "tls") and use it
    @use NAME                switch connections
    @tls                     start TLS on this connection (after +OK to STLS)
    @close                   close this connection from the client side
    @sleep SECONDS
    @append NAME...          store named messages in INBOX (tests/support/storetool.py,
                             another process), UIDs 1, 2, ... in order
    @store CMD ARGS...       any storetool command, for the user's account
    @lmtp                    deliver one message over LMTP
    @uidl-import UID UIDL... `hivemail uidl import` of these pairs
    @expect MAILBOX UID:FLAGS ...   the mailbox holds exactly these (checked
                             from another process; FLAGS comma-separated)

Variables ``$user`` and ``$pass`` are preset; the account is made before the
first command.  On a mismatch the error shows the whole exchange so far.
"""

from __future__ import annotations

import base64
import codecs
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import storetool
from tests.support.server import HivemailServer, cli

USER = "user@example.org"
PASSWORD = "secret"
BASE_CONFIG = "[auth]\nfailure_delay = 0.01\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class TranscriptError(AssertionError):
    pass


@dataclass
class Client:
    sock: socket.socket
    buf: bytes = b""

    def line(self) -> bytes | None:
        while b"\r\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line


@dataclass
class Run:
    data_dir: Path
    path: Path
    server: HivemailServer | None = None
    config: dict[str, list[str]] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    current: str = ""
    vars: dict[str, str] = field(default_factory=lambda: {"user": USER, "pass": PASSWORD})
    log: list[str] = field(default_factory=list)

    # -- set-up -------------------------------------------------------------
    def start(self) -> None:
        if self.server is not None:
            return
        toml = BASE_CONFIG + "".join(f"[{section}]\n" + "".join(f"{line}\n" for line in lines)
                                     for section, lines in self.config.items())
        cfg = self.data_dir / "transcript.toml"
        cfg.write_text(toml)
        self.server = HivemailServer(self.data_dir, listeners=("pop3", "pop3s", "lmtp"),
                                     extra=("--config", str(cfg))).start()

    def fail(self, text: str) -> None:
        raise TranscriptError(f"{self.path.name}: {text}\n--- exchange ---\n" + "\n".join(self.log[-40:]))

    # -- substitutions ------------------------------------------------------
    def expand(self, text: str) -> bytes:
        text = re.sub(r"\$(\w+)", lambda m: self.vars.get(m.group(1), m.group(0)), text)
        text = re.sub(r"<(.)\*(\d+)>", lambda m: m.group(1) * int(m.group(2)), text)
        return codecs.escape_decode(text.encode("utf-8"))[0]

    def match(self, pattern: str, got: str) -> bool:
        names: list[str] = []
        regex = ""
        for token in re.split(r"(\*|\$\w+)", pattern):
            if token == "*":
                regex += ".*"
            elif token.startswith("$") and len(token) > 1:
                name = token[1:]
                if name in self.vars:
                    regex += re.escape(self.vars[name])
                else:
                    regex += rf"(?P<{name}>\S+)"
                    names.append(name)
            else:
                regex += re.escape(token)
        m = re.fullmatch(regex, got, re.S)
        if not m:
            return False
        for name in names:
            self.vars[name] = m.group(name)
        return True

    # -- steps ----------------------------------------------------------------
    def client(self) -> Client:
        if self.current not in self.clients:
            self.fail(f"no open connection {self.current!r}")
        return self.clients[self.current]

    def connect(self, name: str, tls: bool) -> None:
        self.start()
        assert self.server is not None
        port = self.server.ports["pop3s" if tls else "pop3"]
        sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        if tls:
            sock = _tls_context().wrap_socket(sock)
        self.clients[name] = Client(sock)
        self.current = name

    def step(self, lineno: int, line: str) -> None:
        if line.startswith("C:") or line.startswith("C-:"):
            raw = self.expand(line.split(":", 1)[1][1:])
            if line.startswith("C:"):
                raw += b"\r\n"
            self.log.append(f"{self.current} C: {raw!r}")
            self.client().sock.sendall(raw)
            return
        if line.startswith("S:"):
            expected = line[3:]
            got = self.client().line()
            self.log.append(f"{self.current} S: {got!r}")
            if expected == "<closed>":
                if got is not None:
                    self.fail(f"line {lineno}: expected the connection to close, got {got!r}")
                return
            if got is None:
                self.fail(f"line {lineno}: connection closed, expected {expected!r}")
            if not self.match(expected, got.decode("utf-8", "replace")):
                self.fail(f"line {lineno}: expected {expected!r}\n                 got {got!r}")
            return
        if not line.startswith("@"):
            self.fail(f"line {lineno}: cannot parse {line!r}")
        word, *args = line[1:].split()
        self.log.append(f"@{word} {' '.join(args)}")
        match word:
            case "config":
                section = args[0].strip("[]")
                self.config.setdefault(section, []).append(" ".join(args[1:]))
            case "connect":
                self.connect(args[0], "tls" in args[1:])
            case "use":
                self.current = args[0]
            case "tls":
                c = self.client()
                if c.buf:
                    self.fail(f"line {lineno}: data after +OK to STLS: {c.buf!r}")
                c.sock = _tls_context().wrap_socket(c.sock)
            case "close":
                self.client().sock.close()
                del self.clients[self.current]
            case "sleep":
                time.sleep(float(args[0]))
            case "append":
                self.start()
                storetool.run(self.data_dir, "append", USER, "INBOX", *args)
            case "store":
                self.start()
                storetool.run(self.data_dir, args[0], USER, *args[1:])
            case "lmtp":
                self.start()
                import smtplib

                assert self.server is not None
                with smtplib.LMTP("127.0.0.1", self.server.ports["lmtp"]) as lmtp:
                    lmtp.sendmail("sender@example.com", [USER], b"Subject: via LMTP\r\n\r\nnew\r\n")
            case "uidl-import":
                self.start()
                pairs = "".join(f"{args[i]} {args[i + 1]}\n" for i in range(0, len(args), 2))
                cli(self.data_dir, "uidl", "import", USER, "-", input=pairs.encode())
            case "expect":
                self.start()
                mailbox, *want = args
                got = [f"{u}:{f}" for u, f in (ln.split(" ") if " " in ln else (ln, "")
                       for ln in storetool.run(self.data_dir, "dump", USER, mailbox).splitlines())]
                if got != want:
                    self.fail(f"line {lineno}: {mailbox} holds {got}, expected {want}")
            case _:
                self.fail(f"line {lineno}: unknown directive @{word}")

    def close(self) -> list[str]:
        for c in self.clients.values():
            c.sock.close()
        tracebacks: list[str] = []
        if self.server is not None:
            tracebacks = self.server.tracebacks()
            self.server.stop()
        return tracebacks


def _tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def replay(path: Path, data_dir: Path) -> None:
    """Run the transcript at ``path``; raises TranscriptError on the first mismatch."""
    cli(data_dir, "user", "add", USER, "--password", PASSWORD)
    run = Run(data_dir, path)
    try:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            run.step(lineno, line)
    finally:
        tracebacks = run.close()
    if tracebacks:
        raise TranscriptError(f"{path.name}: server logged tracebacks: {tracebacks}")
