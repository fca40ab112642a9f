"""An SMTP client that hands one queued message to the smarthost.

Why asyncio streams and not ``smtplib`` in a thread: the runner must stop
promptly (cancellation reaches an ``await`` at once; a thread blocked in
``smtplib`` can only be abandoned until its socket times out), every step
needs its own deadline (``asyncio.timeout``; ``smtplib`` has one socket
timeout for everything), and we need each RCPT's own reply, 4xx versus 5xx,
without ``smtplib.sendmail``'s RSET-and-raise. The protocol itself is small:
the pure pieces (reply parsing, EHLO keywords, dot-stuffing) are functions
below, tested without sockets; the rest is one straight-line coroutine,
:func:`send_message`, RFC 5321 section 3.3's order of commands.

What the outcome means (RFC 5321 section 4.2.1 and 6.1):

* a 2xx to the end of DATA delivers every recipient whose RCPT got 2xx;
* a 5xx to one RCPT fails that recipient (permanently);
* a 4xx to one RCPT defers that recipient (it is tried again later);
* anything that is not about one recipient -- no connection, a timeout, a
  4xx greeting, MAIL or DATA, a TLS or AUTH failure (a configuration to
  fix, not a reason to lose mail), a 421 -- defers every recipient not yet
  settled;
* a 5xx to MAIL or DATA is the relay refusing the message itself: every
  recipient not yet settled fails and ``message_refused`` is set.

Credentials are sent only over TLS unless ``auth_without_tls`` is set; a
relay that does not offer STARTTLS then gets no AUTH and the message is
deferred, never sent unauthenticated.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from hivemail.outbound.settings import OutboundSettings

__all__ = [
    "RecipientResult",
    "RecipientStatus",
    "RelayResult",
    "SmtpReply",
    "client_tls_context",
    "dot_stuff",
    "parse_ehlo",
    "parse_reply_line",
    "send_message",
]

# Longest reply line we read (RFC 5321 4.5.3.1.5 says 512 octets; servers
# exceed it in EHLO, none by this much) and most lines in one reply.
MAX_REPLY_LINE = 8192
MAX_REPLY_LINES = 128
# Seconds for QUIT and closing: the message is settled by then.
QUIT_TIMEOUT = 5.0


class RecipientStatus(enum.Enum):
    DELIVERED = "delivered"
    DEFERRED = "deferred"  # try again later
    FAILED = "failed"  # permanent: do not try again


@dataclass(frozen=True)
class SmtpReply:
    """One reply: its code and its lines' text joined by ``"\\n"``."""

    code: int
    text: str

    @property
    def kind(self) -> int:
        """2, 3, 4 or 5 (RFC 5321 4.2.1: the first digit decides)."""
        return self.code // 100

    def __str__(self) -> str:
        return f"{self.code} {self.text}".replace("\n", " / ")


@dataclass(frozen=True)
class RecipientResult:
    recipient: str
    status: RecipientStatus
    # What decided it: the relay's reply, or our own reason (code 0).
    code: int
    text: str


@dataclass(frozen=True)
class RelayResult:
    """One result per recipient, in the order given."""

    results: tuple[RecipientResult, ...]
    # The relay refused the message itself (5xx to MAIL or DATA).
    message_refused: bool = False

    def with_status(self, status: RecipientStatus) -> list[str]:
        return [r.recipient for r in self.results if r.status is status]

    @property
    def summary(self) -> str:
        """The reason of the first recipient not delivered ("" if none)."""
        for r in self.results:
            if r.status is not RecipientStatus.DELIVERED:
                return f"{r.code} {r.text}" if r.code else r.text
        return ""


class RelayProtocolError(Exception):
    """The relay's bytes are not SMTP."""


# -- pure parts ---------------------------------------------------------------

# RFC 5321 section 4.2:
#   Reply-line = *( Reply-code "-" [ textstring ] CRLF )
#                Reply-code [ SP textstring ] CRLF
#   Reply-code = %x32-35 %x30-35 %x30-39
_REPLY_LINE = re.compile(rb"([2-5][0-5][0-9])([ -]?)(.*?)\r?\n?\Z", re.S)


def parse_reply_line(line: bytes) -> tuple[int, bool, str]:
    """One reply line -> (code, is_last, text). A bare code (``b"250"``)
    is a last line, as RFC 5321 4.2 allows. Raises RelayProtocolError."""
    m = _REPLY_LINE.match(line)
    if m is None or (m.group(2) == b"" and m.group(3)):
        raise RelayProtocolError(f"not an SMTP reply line: {line[:80]!r}")
    return int(m.group(1)), m.group(2) != b"-", m.group(3).decode("utf-8", "replace")


def parse_ehlo(reply: SmtpReply) -> dict[str, str]:
    """EHLO reply -> {KEYWORD: parameters}: the lines after the first
    (RFC 5321 4.1.1.1: ehlo-line = ehlo-keyword *( SP ehlo-param ))."""
    ext: dict[str, str] = {}
    for line in reply.text.split("\n")[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            ext[keyword.upper()] = params.strip()
    return ext


_LINE_END = re.compile(rb"\r\n|\r|\n")


def dot_stuff(message: bytes) -> bytes:
    """The DATA payload for ``message``, end marker included: every line
    ending made CRLF (RFC 5321 2.3.8 forbids bare CR and LF; sending them
    on is what SMTP smuggling exploits), a last line completed with CRLF,
    a "." doubled at the start of each line (4.5.2), then ``.CRLF``."""
    lines = _LINE_END.split(message)
    if lines and lines[-1] == b"":
        lines.pop()
    out = bytearray()
    for line in lines:
        if line.startswith(b"."):
            out += b"."
        out += line
        out += b"\r\n"
    out += b".\r\n"
    return bytes(out)


def client_tls_context(settings: OutboundSettings) -> ssl.SSLContext:
    """The context STARTTLS uses: the ssl module's client defaults
    (certificate and host name checked) against the system CAs or
    ``tls_ca_file``, TLS 1.2 or later (RFC 8314 4.1); no checks at all
    when ``tls_verify`` is off."""
    ctx = ssl.create_default_context(cafile=settings.tls_ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not settings.tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _path(address: str) -> bytes:
    return b"<" + address.encode("utf-8") + b">"


# -- the conversation ---------------------------------------------------------


class _Defer(Exception):
    """Every unsettled recipient is deferred, with this reason."""


class _Refuse(Exception):
    """The relay refused the message: every unsettled recipient fails."""

    def __init__(self, reply: SmtpReply | None, text: str) -> None:
        super().__init__(text)
        self.reply = reply


class _Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, settings: OutboundSettings) -> None:
        self.reader = reader
        self.writer = writer
        self.settings = settings

    async def reply(self, timeout: float | None = None) -> SmtpReply:
        async with asyncio.timeout(self.settings.timeout if timeout is None else timeout):
            code = None
            texts: list[str] = []
            for _ in range(MAX_REPLY_LINES):
                line = await self.reader.readuntil(b"\n")
                this_code, last, text = parse_reply_line(line)
                if code is not None and this_code != code:
                    raise RelayProtocolError(f"reply code changed from {code} to {this_code}")
                code = this_code
                texts.append(text)
                if last:
                    return SmtpReply(code, "\n".join(texts))
            raise RelayProtocolError(f"reply longer than {MAX_REPLY_LINES} lines")

    async def command(self, line: bytes, timeout: float | None = None) -> SmtpReply:
        self.writer.write(line + b"\r\n")
        async with asyncio.timeout(self.settings.timeout):
            await self.writer.drain()
        reply = await self.reply(timeout)
        if reply.code == 421:
            # RFC 5321 3.8: the relay is closing; nothing more is possible.
            raise _Defer(f"relay closing: {reply}")
        return reply

    async def ehlo(self) -> dict[str, str]:
        name = self.settings.helo_name.encode("ascii")
        reply = await self.command(b"EHLO " + name)
        if reply.kind == 2:
            return parse_ehlo(reply)
        # RFC 5321 3.2: a server that does not know EHLO gets HELO, and
        # then has no extensions.
        reply = await self.command(b"HELO " + name)
        if reply.kind != 2:
            raise _Defer(f"relay refused HELO: {reply}")
        return {}

    async def starttls(self, host: str, ext: dict[str, str]) -> tuple[bool, dict[str, str]]:
        """RFC 3207. Returns (tls now on, extensions to use)."""
        mode = self.settings.starttls
        if mode == "off":
            return False, ext
        if "STARTTLS" not in ext:
            if mode == "required":
                raise _Defer("relay does not offer STARTTLS (starttls = required)")
            return False, ext
        reply = await self.command(b"STARTTLS")
        if reply.code != 220:
            if mode == "required":
                raise _Defer(f"relay refused STARTTLS: {reply}")
            return False, ext  # RFC 3207 4: the client may go on without TLS
        # Bytes that arrived after the 220 were sent in plaintext and would
        # be read as if they came over TLS (the STARTTLS injection of
        # CVE-2011-0411, relay side). StreamReader has no public way to ask;
        # its buffer is what it would return next.
        if getattr(self.reader, "_buffer", b""):
            raise _Defer("relay sent data after 220 to STARTTLS (injection?)")
        try:
            await self.writer.start_tls(
                client_tls_context(self.settings),
                server_hostname=host,
                ssl_handshake_timeout=self.settings.timeout,
            )
        except (ssl.SSLError, ssl.CertificateError, OSError, TimeoutError) as exc:
            raise _Defer(f"TLS with relay failed: {exc}") from None
        # RFC 3207 4.2: forget what was learnt before TLS and ask again.
        return True, await self.ehlo()

    async def authenticate(self, tls: bool, ext: dict[str, str]) -> None:
        s = self.settings
        if not tls and not s.auth_without_tls:
            raise _Defer("relay offers no TLS; credentials are not sent in clear (auth_without_tls = false)")
        mechanisms = ext.get("AUTH", "").upper().split()
        user, password = s.auth_user.encode(), s.auth_password.encode()
        if "PLAIN" in mechanisms:
            # RFC 4616: message = [authzid] NUL authcid NUL passwd; sent as
            # the initial response (RFC 4954 4).
            token = base64.b64encode(b"\0" + user + b"\0" + password)
            reply = await self.command(b"AUTH PLAIN " + token)
        elif "LOGIN" in mechanisms:
            # draft-murchison-sasl-login: two 334 prompts, user then password.
            reply = await self.command(b"AUTH LOGIN")
            for secret in (user, password):
                if reply.code != 334:
                    break
                reply = await self.command(base64.b64encode(secret))
        else:
            raise _Defer(f"relay offers no AUTH PLAIN or LOGIN (AUTH {ext.get('AUTH', '')!r})")
        if reply.code != 235:
            if reply.code == 334:
                await self.command(b"*")  # RFC 4954 4: cancel the exchange
            raise _Defer(f"authentication to relay failed: {reply}")


def _mail_params(ext: dict[str, str], sender: str, recipients: Sequence[str], message: bytes) -> bytes:
    params = b""
    if "SIZE" in ext:
        limit = ext["SIZE"]
        if limit.isdigit() and int(limit) and len(message) > int(limit):
            raise _Refuse(None, f"message of {len(message)} octets is over the relay's SIZE {limit}")
        params += b" SIZE=%d" % len(message)
    if "8BITMIME" in ext and any(b > 127 for b in message):
        params += b" BODY=8BITMIME"
    if not all(a.isascii() for a in (sender, *recipients)):
        if "SMTPUTF8" not in ext:
            # RFC 6531 3.2: such a message must not be sent to this relay.
            raise _Refuse(None, "non-ASCII address and the relay has no SMTPUTF8")
        params += b" SMTPUTF8"
    return params


async def _transaction(
    client: _Client,
    host: str,
    sender: str,
    recipients: Sequence[str],
    message: bytes,
    settled: dict[str, RecipientResult],
) -> None:
    """The whole conversation; fills ``settled`` as recipients are decided
    and raises _Defer/_Refuse for the rest."""
    greeting = await client.reply()
    if greeting.code != 220:
        raise _Defer(f"relay greeting: {greeting}")
    ext = await client.ehlo()
    tls, ext = await client.starttls(host, ext)
    if client.settings.auth_user:
        await client.authenticate(tls, ext)
    reply = await client.command(b"MAIL FROM:" + _path(sender) + _mail_params(ext, sender, recipients, message))
    if reply.kind != 2:
        raise (_Refuse(reply, str(reply)) if reply.kind == 5 else _Defer(f"MAIL FROM: {reply}"))
    accepted = []
    for rcpt in recipients:
        reply = await client.command(b"RCPT TO:" + _path(rcpt))
        if reply.kind == 2:
            accepted.append(rcpt)
        else:
            status = RecipientStatus.FAILED if reply.kind == 5 else RecipientStatus.DEFERRED
            settled[rcpt] = RecipientResult(rcpt, status, reply.code, reply.text)
    if not accepted:
        await _quit(client)
        return
    reply = await client.command(b"DATA")
    if reply.code == 354:
        client.writer.write(dot_stuff(message))
        async with asyncio.timeout(client.settings.data_timeout):
            await client.writer.drain()
        reply = await client.reply(client.settings.data_timeout)
    if reply.kind == 2:
        for rcpt in accepted:
            settled[rcpt] = RecipientResult(rcpt, RecipientStatus.DELIVERED, reply.code, reply.text)
    elif reply.kind == 5:
        raise _Refuse(reply, f"DATA: {reply}")
    else:
        raise _Defer(f"DATA: {reply}")
    await _quit(client)


async def _quit(client: _Client) -> None:
    try:
        await client.command(b"QUIT", timeout=QUIT_TIMEOUT)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, RelayProtocolError, _Defer):
        pass  # everything is settled; a rude close changes nothing


async def send_message(
    settings: OutboundSettings,
    sender: str,
    recipients: Sequence[str],
    message: bytes,
) -> RelayResult:
    """Send ``message`` from ``sender`` (``""``: the null reverse-path
    ``<>``) to ``recipients`` through ``settings.smarthost``, in one
    connection. Never raises for anything the relay or the network does:
    the outcome is in the result, one entry per recipient (see the module
    docstring). Cancelling it leaves every recipient unsettled."""
    host, port = settings.address
    settled: dict[str, RecipientResult] = {}
    refused = False
    code = 0
    writer = None
    try:
        try:
            async with asyncio.timeout(settings.timeout):
                reader, writer = await asyncio.open_connection(host, port, limit=MAX_REPLY_LINE)
        except (OSError, TimeoutError) as exc:
            raise _Defer(f"cannot connect to relay {host}:{port}: {exc or type(exc).__name__}") from None
        await _transaction(_Client(reader, writer, settings), host, sender, recipients, message, settled)
        reason = ""
    except _Defer as exc:
        reason = str(exc)
    except _Refuse as exc:
        reason, refused = str(exc), True
        code = exc.reply.code if exc.reply is not None else 0
    except TimeoutError:
        reason = f"timeout talking to relay {host}:{port}"
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        reason = f"relay {host}:{port} closed the connection: {exc or type(exc).__name__}"
    except (asyncio.LimitOverrunError, ValueError, RelayProtocolError) as exc:
        # ValueError: StreamReader's "separator is found, but chunk is
        # longer than limit"; RelayProtocolError: not SMTP.
        reason = f"relay {host}:{port} protocol error: {exc}"
    except OSError as exc:
        reason = f"relay {host}:{port}: {exc}"
    finally:
        if writer is not None:
            writer.close()
            try:
                async with asyncio.timeout(QUIT_TIMEOUT):
                    await writer.wait_closed()
            except (OSError, TimeoutError, ssl.SSLError):
                pass
    status = RecipientStatus.FAILED if refused else RecipientStatus.DEFERRED
    results = tuple(settled.get(r) or RecipientResult(r, status, code, reason) for r in recipients)
    return RelayResult(results, message_refused=refused)
