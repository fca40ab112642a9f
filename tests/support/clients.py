"""Real mail clients against a real server: what tests/clients/** share.

* ``MailServer``: the one shape the client tests see, whatever runs behind
  it.  ``DovecotMailServer`` (Dovecot 2.3, the reference that proves the
  tests right) and ``HivemailMailServer`` (the system under test) implement
  it.  Every listener binds 127.0.0.1; plaintext authentication is allowed
  there, as hivemail allows it on loopback.
* ``make_messages()``: the message fixtures, generated here so that no test
  depends on ``tests/fixtures/messages`` being parsed by anything.
* ``split_delivery_headers()``: the byte-exact comparison every test makes
  between what went in over LMTP and what a client got out.
* ``require_binary()``: skip when a client is not installed, except under
  CI=true, where a missing client FAILS (a skipped client test in CI would
  read as "passed" to anyone skimming the summary).

Servers are stopped by their own pid only (the launchers they wrap do so).
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import imaplib
import os
import re
import secrets
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.ci import skip_or_fail

from tests.support.dovecot import Dovecot
from tests.support.server import HivemailServer, cli

HOST = "127.0.0.1"
DOMAIN = "example.test"
SENDER = "sender@example.org"

SERVER_NAMES = ("dovecot", "hivemail")
ENV_SERVERS = "HIVEMAIL_CLIENT_SERVERS"

# Header fields a server may put on top of a message when it stores an LMTP
# delivery (RFC 5321 section 4.4 Return-Path and trace fields; Dovecot also
# writes Delivered-To, RFC 9228).  Nothing else may differ.
DELIVERY_HEADERS = frozenset({"return-path", "received", "delivered-to"})


# --------------------------------------------------------------------------
# environment


def selected_servers() -> list[str]:
    """Server names from $HIVEMAIL_CLIENT_SERVERS (comma-separated; default
    "hivemail").  An unknown name is an error, not a silent no-op."""
    raw = os.environ.get(ENV_SERVERS, "hivemail")
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in SERVER_NAMES]
    if unknown or not names:
        raise pytest.UsageError(f"{ENV_SERVERS}={raw!r}: expected a comma-separated subset of {SERVER_NAMES}")
    return list(dict.fromkeys(names))


def require_binary(name: str) -> str:
    """Path of client *name*; skip if missing, but fail when CI=true."""
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"client binary {name!r} is not installed")
    return path


def require_module(name: str):
    """Import Python client library *name*; same skip/fail rule as binaries."""
    try:
        return __import__(name)
    except ImportError as exc:
        skip_or_fail(f"client library {name!r} is not importable: {exc}", allow_module_level=True)


def client_env(home: Path, **extra: str) -> dict[str, str]:
    """A minimal environment for a client process: its own HOME (so it
    reads no user configuration), UTF-8 locale, no venv leakage."""
    env = {
        "HOME": str(home),
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "USER": os.environ.get("USER", "root"),
    }
    env.update(extra)
    return env


def run_client(argv: list[str], *, env: dict[str, str], cwd: Path | None = None,
               timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a client to completion (bounded by *timeout*); on a non-zero exit
    with *check*, fail with its output."""
    try:
        proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{argv[0]} did not finish within {timeout} s:\n{exc.stdout}\n{exc.stderr}")
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll *predicate* until it returns a true value (returned) or fail
    after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def unverified_tls() -> ssl.SSLContext:
    """Client context for the servers' self-signed certificates."""
    return ssl._create_unverified_context()  # noqa: S323 - loopback test servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# the server abstraction


@dataclass(frozen=True)
class TlsInfo:
    """What TLS a server offers.  *cert_path* is its self-signed
    certificate (clients use unverified contexts, loopback only)."""

    cert_path: Path | None
    imap_starttls: bool
    pop3_stls: bool

    @staticmethod
    def client_context() -> ssl.SSLContext:
        return unverified_tls()


@dataclass
class User:
    address: str
    password: str


class MailServer:
    """IMAP/POP3/LMTP on 127.0.0.1, as the client tests see a server.

    Subclasses fill ``ports`` (protocol -> port) in ``start()`` and
    implement ``add_user``.  A listener the server does not offer at all is
    simply absent: ``imaps_port``/``pop3s_port`` are then None and tests
    of implicit TLS skip.  A listener the server should offer but cannot
    run (hivemail while IMAP/POP3 are being written) is in ``unavailable``
    with the reason, and reading its port FAILS the test that needs it,
    so a partly implemented server still runs the tests it can.
    """

    name = "server"
    host = HOST

    def __init__(self) -> None:
        self.ports: dict[str, int] = {}
        self.unavailable: dict[str, str] = {}
        self.tls = TlsInfo(None, False, False)

    def _port(self, proto: str, optional: bool = False) -> int | None:
        if proto in self.ports:
            return self.ports[proto]
        if proto in self.unavailable:
            pytest.fail(f"{self.name} has no {proto} listener: {self.unavailable[proto]}", pytrace=False)
        if optional:
            return None
        pytest.fail(f"{self.name} has no {proto} listener", pytrace=False)

    @property
    def imap_port(self) -> int:
        return self._port("imap")

    @property
    def imaps_port(self) -> int | None:
        return self._port("imaps", optional=True)

    @property
    def pop3_port(self) -> int:
        return self._port("pop3")

    @property
    def pop3s_port(self) -> int | None:
        return self._port("pop3s", optional=True)

    @property
    def lmtp_port(self) -> int:
        return self._port("lmtp")

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def log_text(self) -> str:
        return ""

    def tracebacks(self) -> list[str]:
        """Log lines showing the server crashed somewhere (checked when the
        session's server is stopped)."""
        return []

    def add_user(self, name: str, password: str) -> None:
        raise NotImplementedError

    def new_user(self, prefix: str = "user") -> User:
        """Create a fresh user with a random password (letters and digits
        only, so it can go into a URL or a config file unquoted)."""
        user = User(f"{prefix}-{secrets.token_hex(4)}@{DOMAIN}", "pw" + secrets.token_hex(8))
        self.add_user(user.address, user.password)
        return user

    def deliver(self, user: str, message: bytes, sender: str = SENDER) -> None:
        """Deliver *message* to *user* over LMTP; fail unless accepted."""
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=30) as lmtp:
            refused = lmtp.sendmail(sender, [user], message)
        assert refused == {}, f"LMTP refused {user}: {refused}"

    def deliver_all(self, user: str, messages: list["TestMessage"]) -> None:
        for m in messages:
            self.deliver(user, m.raw)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ports={self.ports} unavailable={sorted(self.unavailable)}>"


class DovecotMailServer(MailServer):
    """Dovecot 2.3 via ``tests.support.dovecot.Dovecot``, plus what the
    client tests need from it and that launcher does not configure:

    * TLS (``ssl = yes``, STARTTLS on the plain ports, implicit-TLS imaps
      and pop3s listeners on 127.0.0.1) with a self-signed certificate made
      by hivemail's own ``ensure_self_signed``;
    * a second passdb with one passwd-file per user (``users.d/%u``).
      Dovecot re-reads a changed passwd-file at most once per second of its
      clock, so a user added to the launcher's single file is refused for
      up to a second.  A per-user file is read the first time that user is
      looked up, so a new user works at once.  (The first passdb, the
      launcher's, says "unknown user" and Dovecot goes on to the next.)

    All of it goes in through ``extra_config`` (appended last, so it
    overrides ``ssl = no``; repeated ``service`` blocks are merged).
    """

    name = "dovecot"

    def __init__(self, workdir: Path) -> None:
        super().__init__()
        self.dovecot = Dovecot(workdir, protocols=("imap", "pop3", "lmtp"))
        self.users_dir = self.dovecot.root / "users.d"

    def start(self) -> None:
        if self.dovecot.binary is None:
            pytest.fail("dovecot is not installed; it is needed for HIVEMAIL_CLIENT_SERVERS=dovecot")
        from hivemail.net.tls import ensure_self_signed

        root = self.dovecot.root
        root.mkdir(parents=True, exist_ok=True)
        self.users_dir.mkdir(exist_ok=True)
        # Dovecot's auth process may run as an unprivileged user (as root
        # the launcher uses the dovecot user): it must traverse and read.
        os.chmod(root, 0o755)
        os.chmod(self.users_dir, 0o755)
        cert, key = ensure_self_signed(root / "tls", "localhost")
        imaps_port, pop3s_port = free_port(), free_port()
        self.dovecot.extra_config = f"""
# added by tests/support/clients.py
ssl = yes
auth_failure_delay = 0
ssl_cert = <{cert}
ssl_key = <{key}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.users_dir}/%u
}}
service imap-login {{
  inet_listener imaps {{
    address = {HOST}
    port = {imaps_port}
  }}
}}
service pop3-login {{
  inet_listener pop3s {{
    address = {HOST}
    port = {pop3s_port}
  }}
}}
"""
        self.dovecot.start()
        for port in (imaps_port, pop3s_port):
            wait_for(lambda: _accepts(port), 10, what=f"dovecot TLS listener on {port}")
        self.ports = {**self.dovecot.ports, "imaps": imaps_port, "pop3s": pop3s_port}
        self.tls = TlsInfo(cert, imap_starttls=True, pop3_stls=True)

    def stop(self) -> None:
        self.dovecot.stop()

    def log_text(self) -> str:
        return self.dovecot.log_text()

    def tracebacks(self) -> list[str]:
        return [line for line in self.log_text().splitlines() if "Panic:" in line or "Fatal:" in line]

    def add_user(self, name: str, password: str) -> None:
        if ":" in name or "/" in name or "\n" in name + password:
            raise ValueError(f"unusable user name or password: {name!r}")
        path = self.users_dir / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f"{name}:{{PLAIN}}{password}\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)


class HivemailMailServer(MailServer):
    """hivemail via ``tests.support.server.HivemailServer`` with every
    client-facing listener: imap, imaps, pop3, pop3s, lmtp.  Its TLS
    certificate is the self-signed ``tls-cert.pem`` it makes in the data
    dir on first start; STARTTLS/STLS are expected on the plain ports.

    While a protocol is not written yet hivemail logs "<name> is not
    implemented yet; listener not started" and runs without it.  Then the
    server is restarted without those listeners (they go into
    ``unavailable``), so the tests of what does work still run and the
    others fail saying what is missing.  LMTP is required: without it no
    test can deliver, and start() fails.
    """

    name = "hivemail"
    LISTENERS = ("imap", "imaps", "pop3", "pop3s", "lmtp")
    NOT_IMPLEMENTED = re.compile(r"(\w+) is not implemented yet")

    def __init__(self, workdir: Path, start_timeout: float = 20.0) -> None:
        super().__init__()
        self.data_dir = Path(workdir) / "data"
        self.start_timeout = start_timeout
        self.server: HivemailServer | None = None
        self._log: list[str] = []

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        listeners = list(self.LISTENERS)
        for _attempt in range(2):
            server = HivemailServer(self.data_dir, listeners=tuple(listeners))
            self.server = server
            try:
                self._start_fast(server)
            except AssertionError:
                missing = [m.group(1) for line in server.log for m in [self.NOT_IMPLEMENTED.search(line)] if m]
                if not missing or "lmtp" in missing or not set(missing) & set(listeners):
                    raise
                self._log += server.log
                for name in missing:
                    self.unavailable[name] = "hivemail says it is not implemented yet"
                listeners = [n for n in listeners if n not in missing]
                continue
            self.ports = dict(server.ports)
            self.tls = TlsInfo(self.data_dir / "tls-cert.pem", imap_starttls=True, pop3_stls=True)
            return
        raise AssertionError("hivemail did not start:\n" + self.log_text())

    def _start_fast(self, server: HivemailServer) -> None:
        """``server.start()``, which waits up to its timeout for every
        listener, but stopped early (SIGTERM to its pid, which ends its log
        stream so that start() raises with the log) once hivemail has said
        a listener is not implemented."""
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.05):
                if any(self.NOT_IMPLEMENTED.search(line) for line in list(server.log)):
                    # the warnings come in one burst at startup: let it end
                    if done.wait(0.3):
                        return
                    proc = server.proc
                    if proc is not None and proc.poll() is None:
                        os.kill(proc.pid, signal.SIGTERM)
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            server.start(timeout=self.start_timeout)
        finally:
            done.set()
            watcher.join(5)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def log_text(self) -> str:
        return "\n".join(self._log + (self.server.log if self.server else []))

    def tracebacks(self) -> list[str]:
        return self.server.tracebacks() if self.server else []

    def add_user(self, name: str, password: str) -> None:
        cli(self.data_dir, "user", "add", name, "--password", password)


def make_server(name: str, workdir: Path) -> MailServer:
    if name == "dovecot":
        return DovecotMailServer(workdir)
    if name == "hivemail":
        return HivemailMailServer(workdir)
    raise ValueError(name)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# message fixtures

CRLF = b"\r\n"

ENCODED_SUBJECT = "Grüße aus Köln"
# RFC 2047 B-encoding of ENCODED_SUBJECT, written out (not produced by the
# email package) so that the fixture does not depend on our own encoder.
ENCODED_SUBJECT_WORD = "=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?="


@dataclass(frozen=True)
class TestMessage:
    """One generated message.  *raw* has CRLF line endings and ends with
    CRLF; *body_marker* is an ASCII line found in its (decoded) body."""

    __test__ = False  # not a pytest test class

    key: str
    message_id: str
    subject: str  # decoded
    raw: bytes
    body_marker: str = ""
    extra: dict = field(default_factory=dict)


def _message(key: str, to: str, token: str, index: int, subject_header: str,
             extra_headers: list[str], body: list[str], subject: str, marker: str) -> TestMessage:
    msgid = f"<{key}.{token}@{DOMAIN}>"
    date = email.utils.format_datetime(datetime.datetime(2024, 3, 1, 9, index, tzinfo=datetime.timezone.utc))
    headers = [
        f"From: Sender Person <{SENDER}>",
        f"To: <{to}>",
        f"Subject: {subject_header}",
        f"Date: {date}",
        f"Message-ID: {msgid}",
        "MIME-Version: 1.0",
        *extra_headers,
    ]
    raw = CRLF.join(line.encode("utf-8") for line in [*headers, "", *body]) + CRLF
    return TestMessage(key, msgid, subject, raw, marker)


def make_messages(to: str, token: str | None = None) -> list[TestMessage]:
    """The standard set, addressed to *to*: three plain messages, one with
    an RFC 2047 encoded subject, one multipart/mixed with a base64
    attachment, one whose body has lines starting with dots (including a
    line that is a lone "." -- the SMTP/POP3 end-of-data marker when not
    dot-stuffed).  *token* makes Message-IDs unique (random by default)."""
    token = token or secrets.token_hex(6)
    plain_type = ["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit"]
    msgs = []
    for i in (1, 2, 3):
        marker = f"plain body {i} marker {token}"
        msgs.append(_message(
            f"plain{i}", to, token, i, f"Plain message {i}", plain_type,
            [f"Hello, this is plain message number {i}.", "", marker, "-- ", "The sender"],
            f"Plain message {i}", marker,
        ))
    marker = f"encoded body marker {token}"
    msgs.append(_message(
        "encoded", to, token, 4, ENCODED_SUBJECT_WORD,
        ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"],
        [marker, "Herzliche Gr=C3=BC=C3=9Fe vom Rhein."],
        ENCODED_SUBJECT, marker,
    ))
    marker = f"multipart body marker {token}"
    boundary = f"=_boundary_{token}"
    attachment = bytes(range(256)) * 4
    b64 = base64.encodebytes(attachment).decode("ascii").splitlines()
    msgs.append(_message(
        "multipart", to, token, 5, "Multipart with attachment",
        [f'Content-Type: multipart/mixed; boundary="{boundary}"'],
        [
            "This is a multi-part message in MIME format.",
            "",
            f"--{boundary}",
            "Content-Type: text/plain; charset=us-ascii",
            "",
            marker,
            "See the attachment.",
            "",
            f"--{boundary}",
            'Content-Type: application/octet-stream; name="data.bin"',
            'Content-Disposition: attachment; filename="data.bin"',
            "Content-Transfer-Encoding: base64",
            "",
            *b64,
            "",
            f"--{boundary}--",
        ],
        "Multipart with attachment", marker,
    ))
    marker = f"dots body marker {token}"
    msgs.append(_message(
        "dots", to, token, 6, "Lines starting with dots", plain_type,
        [marker, ".", "..", ".hidden line", "..double dotted", ". space", "", "last line"],
        "Lines starting with dots", marker,
    ))
    return msgs


def simple_message(to: str, subject: str, body: str, token: str | None = None) -> TestMessage:
    """One extra plain message (for IDLE, APPEND and the like)."""
    token = token or secrets.token_hex(6)
    key = re.sub(r"[^a-z0-9]+", "-", subject.lower()).strip("-") or "msg"
    return _message(key, to, token, 7, subject,
                    ["Content-Type: text/plain; charset=us-ascii"], [body], subject, body)


# --------------------------------------------------------------------------
# comparing what came out with what went in

_HEADER_START = re.compile(rb"^([!-9;-~]+):")


def split_delivery_headers(stored: bytes, original: bytes,
                           allowed: frozenset[str] = DELIVERY_HEADERS) -> list[str]:
    """Assert *stored* is header fields named in *allowed* followed by
    exactly *original*; return the (lower-case) names of those fields.

    This is the byte-exact check: a server may only prepend trace fields
    (RFC 5321 section 4.4) at delivery, never change a byte of the message.
    """
    assert stored.endswith(original), (
        "stored message does not end with the delivered bytes\n"
        f"--- delivered ---\n{original[:600]!r}\n--- stored ---\n{stored[:900]!r}"
    )
    return header_names(stored[: len(stored) - len(original)], allowed)


def header_names(block: bytes, allowed: frozenset[str] | None = None) -> list[str]:
    """Names of the header fields in *block* (complete CRLF or LF lines,
    folded continuation lines allowed); with *allowed*, assert each is."""
    names: list[str] = []
    if not block:
        return names
    assert block.endswith(b"\n"), f"header block does not end a line: {block!r}"
    for line in block.splitlines():
        if line[:1] in (b" ", b"\t") and names:
            continue
        m = _HEADER_START.match(line)
        assert m, f"not a header field line: {line!r} in {block!r}"
        name = m.group(1).decode("ascii").lower()
        if allowed is not None:
            assert name in allowed, f"unexpected header field {name!r} prepended: {block!r}"
        names.append(name)
    return names


def remove_header_field(data: bytes, name: str, contains: bytes) -> tuple[bytes, bytes]:
    """Remove the one header field named *name* whose text (continuation
    lines included) contains *contains*, from the header section of a CRLF
    message; return (removed field, message without it).  Fails unless
    exactly one field matches."""
    header, sep, body = data.partition(b"\r\n\r\n")
    fields: list[bytes] = []
    for line in (header + b"\r\n").splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    hits = [i for i, f in enumerate(fields)
            if f.split(b":", 1)[0].strip().lower() == name.lower().encode() and contains in f]
    assert len(hits) == 1, f"expected one {name} field containing {contains!r}, found {len(hits)} in {header!r}"
    removed = fields.pop(hits[0])
    return removed, b"".join(fields)[:-2] + sep + body


def to_crlf(data: bytes) -> bytes:
    """LF -> CRLF (for clients that store messages with Unix line ends);
    CRLF already present is left alone."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def message_id_of(data: bytes) -> str | None:
    m = re.search(rb"^message-id:[ \t]*(<[^>\r\n]+>)", data, re.IGNORECASE | re.MULTILINE)
    return m.group(1).decode() if m else None


# --------------------------------------------------------------------------
# a server-side view through imaplib (the neutral observer for sync tests)

SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Draft", "\\Deleted")
_FETCH_ITEM = re.compile(rb"UID (\d+)|FLAGS \(([^)]*)\)")


def imap_login(server: MailServer, user: User) -> imaplib.IMAP4:
    m = imaplib.IMAP4(server.host, server.imap_port, timeout=30)
    m.login(user.address, user.password)
    return m


@dataclass(frozen=True)
class ServerMessage:
    uid: int
    flags: frozenset[str]
    raw: bytes


def imap_snapshot(server: MailServer, user: User, mailbox: str = "INBOX") -> dict[str, ServerMessage]:
    """Message-ID -> (uid, flags, raw bytes) of every message in *mailbox*,
    read with BODY.PEEK[] so that nothing is marked \\Seen."""
    m = imap_login(server, user)
    try:
        typ, _ = m.select(mailbox, readonly=True)
        assert typ == "OK", f"SELECT {mailbox} failed"
        typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
        assert typ == "OK", data
        return _parse_fetch(data)
    finally:
        m.logout()


def _parse_fetch(data: list) -> dict[str, ServerMessage]:
    out: dict[str, ServerMessage] = {}
    for item in data:
        if not isinstance(item, tuple):
            continue  # the closing b")" of a literal response, or None (empty mailbox)
        meta, raw = item
        uid, flags = None, frozenset()
        for m in _FETCH_ITEM.finditer(meta):
            if m.group(1):
                uid = int(m.group(1))
            else:
                flags = frozenset(f.decode() for f in m.group(2).split())
        msgid = message_id_of(raw)
        assert uid is not None and msgid is not None, meta
        out[msgid] = ServerMessage(uid, flags, raw)
    return out


# Maildir info flags (https://cr.yp.to/proto/maildir.html) <-> IMAP flags
MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}


def maildir_snapshot(maildir: Path) -> dict[str, tuple[frozenset[str], bytes, Path]]:
    """Message-ID -> (IMAP flags, raw bytes, path) over new/ and cur/."""
    out: dict[str, tuple[frozenset[str], bytes, Path]] = {}
    for sub in ("new", "cur"):
        d = maildir / sub
        if not d.is_dir():
            continue
        for path in sorted(d.iterdir()):
            if path.name.startswith("."):
                continue
            raw = path.read_bytes()
            info = path.name.rsplit(":2,", 1)[1] if ":2," in path.name else ""
            flags = frozenset(MAILDIR_FLAGS[c] for c in info if c in MAILDIR_FLAGS)
            msgid = message_id_of(raw)
            assert msgid is not None, f"no Message-ID in {path}"
            assert msgid not in out, f"{msgid} twice in {maildir}"
            out[msgid] = (flags, raw, path)
    return out


def imap_flag_letters(flags: frozenset[str]) -> str:
    back = {v: k for k, v in MAILDIR_FLAGS.items()}
    return "".join(sorted(back[f] for f in flags if f in back))
