"""The fuzz targets: ``generate(source) -> case`` and ``check(case)``.

Every check asserts more than "no exception":

* IMAP: the core's catch-alls (``_advance``, a command parser raising) turn
  a bug into ``BAD [SERVERBUG]``, so that event is a failure here; valid
  generated commands must be accepted with their own name.
* POP3, SMTP/LMTP: any split of the stream gives the same events and bytes,
  and every reply line is well formed.
* MIME: offsets stay inside the message, the analysis round-trips through
  its stored form, and ENVELOPE/BODYSTRUCTURE format as parseable IMAP.
* modified UTF-7: encode/decode round-trip; decode is strict and canonical.

``run(target, source)`` generates outside and checks inside
:func:`bounds.bounded` (time and memory per example).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hivemail.imap_proto import (
    BadCommand,
    CommandReceived,
    IdleDone,
    ImapLimits,
    ImapServerConnection,
    LiteralRequested,
    State,
    Tagged,
    Version,
    utf7,
)
from hivemail.imap_proto.bodystructure import body, envelope
from hivemail.mime import MessageAnalysis, analyse, normalise_crlf
from hivemail.pop3_proto import (
    AuthCommand,
    AuthResponse,
    CapaCommand,
    Continuation,
    MultiLine,
    Ok,
    Pop3ServerConnection,
    StlsCommand,
)
from hivemail.pop3_proto import CommandReceived as Pop3Command
from hivemail.pop3_proto import Limits as Pop3Limits
from hivemail.smtp_proto import MailFrom, MessageReceived, RcptTo, Reply, SmtpLimits, SmtpServerConnection
from tests.support.imap_values import parse as parse_imap_value

from . import imap_grammar
from .bounds import SECONDS, bounded, memory_bound
from .sources import Source

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "messages").glob("*.eml"))


@dataclass(frozen=True)
class Target:
    name: str
    generate: Callable[[Source], tuple]
    check: Callable[..., None]
    doc: str


def case_size(case: tuple) -> int:
    return sum(len(x) for x in case if isinstance(x, (bytes, bytearray)))


def run(target: Target, source: Source, seconds: float | None = SECONDS) -> None:
    """One example: draw a case, check it within the time and memory bounds."""
    case = target.generate(source)
    with bounded(seconds, memory_bound(case_size(case))):
        target.check(*case)


# -- shared input helpers ------------------------------------------------------

def pieces(src: Source, tokens: list[bytes], max_pieces: int, raw: int = 12) -> bytes:
    """Dictionary tokens and random bytes, concatenated (token-biased noise)."""
    out = []
    for _ in range(src.integer(0, max_pieces)):
        out.append(src.choice(tokens) if src.integer(0, 2) else src.binary(raw))
    return b"".join(out)


def mutate(src: Source, data: bytes, tokens: list[bytes], rounds: int = 4) -> bytes:
    """Byte-level mutations of a valid input: flip, insert, delete, duplicate,
    splice a token, truncate."""
    buf = bytearray(data)
    for _ in range(src.integer(0, rounds)):
        pos = src.integer(0, len(buf))
        op = src.integer(0, 5)
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << src.integer(0, 7)
        elif op == 1:
            buf[pos:pos] = src.binary(8)
        elif op == 2:
            del buf[pos : pos + src.integer(1, 16)]
        elif op == 3:
            buf[pos:pos] = buf[pos : pos + src.integer(1, 32)]
        elif op == 4:
            buf[pos:pos] = src.choice(tokens)
        else:
            del buf[pos:]
    return bytes(buf)


def cuts(src: Source, size: int, max_cuts: int = 8) -> tuple[int, ...]:
    """Where TCP splits the stream: sorted offsets strictly inside it."""
    if size < 2:
        return ()
    return tuple(sorted({src.integer(1, size - 1) for _ in range(src.integer(0, max_cuts))}))


def split(data: bytes, at: tuple[int, ...]) -> list[bytes]:
    bounds = [0, *at, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


# -- IMAP ----------------------------------------------------------------------

IMAP_TOKENS = [
    b"a ", b"UID ", b"FETCH ", b"SEARCH ", b"APPEND ", b"LOGIN ", b"IDLE", b"AUTHENTICATE PLAIN", b"DONE",
    b"STORE ", b"+FLAGS ", b"COPY ", b"MOVE ", b"STATUS ", b"LIST ", b"SELECT ", b"ENABLE ", b"RETURN ",
    b"1:* ", b"$", b"(", b")", b"[", b"]", b"<0.1>", b'"', b"\\", b"{3}\r\n", b"{2+}\r\n", b"~{1}\r\n",
    b"{0}\r\n", b"{99999999999}\r\n", b"{4294967296+}\r\n", b"\r\n", b"\n", b"\r", b"BODY[HEADER.FIELDS (A)]<0.1>",
    b"INBOX ", b"NIL ", b"*", b"%", b"&", b"&-", b"&AOk-", b"\x00", b"\xff", b"\xc3\xa9", b" ", b"x",
    b"CHARSET UTF-8 ", b"OR ", b"NOT ", b"(CHANGEDSINCE 1)", b"UTF8 (", b"MODSEQ ",
]
IMAP_SMALL = ImapLimits(max_line=128, max_literal=64, max_append=256, max_command=512, max_nesting=4,
                        max_pipelined=3)
STATES = [State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED]
SERVERBUG = "SERVERBUG"


def _code_name(code: object) -> str:
    return str(getattr(code, "name", code) or "")


class ImapDriver:
    """A minimal session: answers everything, so the core keeps parsing.

    ``status`` is the tagged answer to commands; ``"BAD"`` never changes the
    state (states.py), so a generated transcript stays in its state.
    """

    def __init__(self, conn: ImapServerConnection, accept: bool = True, status: str = "OK") -> None:
        self.conn = conn
        self.accept = accept
        self.status = status
        self.events: list[Any] = []
        self.output = bytearray()

    def pump(self) -> None:
        conn = self.conn
        for event in conn.events():
            self.events.append(event)
            if isinstance(event, BadCommand):
                assert _code_name(event.code) != SERVERBUG, f"core bug surfaced as {event!r}"
                conn.send(event.response())
            elif isinstance(event, LiteralRequested):
                if self.accept:
                    conn.accept_literal()
                else:
                    conn.reject_literal(Tagged.no(event.tag, "no"))
            elif isinstance(event, CommandReceived):
                if event.command == "AUTHENTICATE":
                    conn.expect_auth_line()
                elif event.command != "IDLE":
                    conn.send(Tagged(event.tag, self.status, "done"))
            elif isinstance(event, IdleDone):
                conn.send(Tagged(event.tag or "x", self.status, "done"))
            elif event.__class__.__name__ == "AuthContinuation":
                conn.send(Tagged.no(self.conn._auth_tag or "x", "no"))  # noqa: SLF001 - test driver
        self.output += conn.data_to_send()

    def feed(self, chunks: list[bytes], eof: bool) -> None:
        for chunk in chunks:
            self.conn.receive_data(chunk)
            self.pump()
        if eof:
            self.conn.receive_data(b"")
            self.pump()


def _check_imap_output(output: bytes) -> None:
    # Literals in our responses could contain anything, but the driver sends
    # only status responses and continuations: every line is one of them.
    for line in output.split(b"\r\n")[:-1]:
        assert re.match(rb"\A(\* (OK|NO|BAD|BYE|PREAUTH)|\+ |[^ \r\n]+ (OK|NO|BAD) )", line), line


def gen_imap_bytes(src: Source) -> tuple:
    if src.boolean():
        data = pieces(src, IMAP_TOKENS, 30)
    else:
        valid = b"".join(imap_grammar.command(src)[0] for _ in range(src.integer(1, 4)))
        data = mutate(src, valid, IMAP_TOKENS, 6)
    small = src.boolean()
    return (data, cuts(src, len(data), 10), src.choice(STATES), src.boolean(), src.boolean(),
            src.boolean(), small)


def check_imap_bytes(data: bytes, at: tuple[int, ...], state: State, accept: bool, eof: bool,
                     rev2: bool = False, small: bool = True) -> None:
    conn = ImapServerConnection(IMAP_SMALL if small else None, state=state,
                                version=Version.REV2 if rev2 else Version.REV1)
    driver = ImapDriver(conn, accept)
    driver.feed(split(data, at), eof)
    _check_imap_output(bytes(driver.output))


def gen_imap_grammar(src: Source) -> tuple:
    commands = [imap_grammar.command(src) for _ in range(src.integer(1, 4))]
    wire = b"".join(c for c, _ in commands)
    names = tuple(n for _, n in commands)
    return wire, names, cuts(src, len(wire), 6), src.boolean()


def check_imap_grammar(wire: bytes, names: tuple[str, ...], at: tuple[int, ...], rev2: bool) -> None:
    """Valid commands are accepted, in order, with their names, however split."""
    conn = ImapServerConnection(state=State.SELECTED, version=Version.REV2 if rev2 else Version.REV1)
    driver = ImapDriver(conn, status="BAD")
    driver.feed(split(wire, at), eof=False)
    got = [(type(e).__name__, getattr(e, "command", None) or getattr(e, "text", "")) for e in driver.events
           if isinstance(e, (CommandReceived, BadCommand))]
    assert got == [("CommandReceived", n) for n in names], (wire, got)


# -- modified UTF-7 --------------------------------------------------------------

UTF7_TOKENS = [b"&", b"-", b"&-", b"&AOk-", b"&AOkA6Q-", b"&2D3eAA-", b"&Jjo-", b",", b"+", b"/", b"A", b"\x7f"]


def gen_utf7(src: Source) -> tuple:
    text = src.binary(60).decode("utf-8", "replace") + src.choice(["", "\U0001f600", "&", "\ud800", "\x00", "~"])
    wire = mutate(src, utf7.encode(text).encode("ascii"), UTF7_TOKENS) if src.boolean() else pieces(src, UTF7_TOKENS, 20, 6)
    return text, wire


def check_utf7(text: str, wire: bytes) -> None:
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        encoded = utf7.encode(text)
        assert encoded.isascii() and utf7.decode(encoded) == text
    try:
        name = utf7.decode(wire)
    except utf7.Utf7Error:
        return
    assert utf7.encode(name).encode("ascii") == wire, "decode accepted a non-canonical spelling"


# -- POP3 ----------------------------------------------------------------------

POP3_TOKENS = [b"\r\n", b"\n", b"\r", b".", b"..", b" ", b"0", b"1", b"-", b"*", b"=", b"USER a", b"PASS b",
               b"STAT", b"LIST", b"LIST 1", b"RETR 1", b"TOP 1 2", b"AUTH PLAIN", b"AUTH PLAIN AGFAYg==",
               b"STLS", b"QUIT", b"UIDL", b"CAPA", b"UTF8", b"DELE 99999999999999999999", b"NOOP", b"RSET",
               b"APOP a b", b"\xff", b"\x00"]
POP3_VALID = b"CAPA\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL 1\r\nRETR 1\r\nTOP 1 0\r\nDELE 1\r\nRSET\r\nQUIT\r\n"
POP3_LIMITS = Pop3Limits(max_line_length=40, max_auth_line_length=60)


def _pop3_respond(conn: Pop3ServerConnection, event: object) -> None:
    if isinstance(event, AuthResponse):
        conn.send(Ok("in"))
    elif isinstance(event, Pop3Command):
        cmd = event.command
        if isinstance(cmd, AuthCommand):
            conn.send(Continuation(b"c"))
        elif isinstance(cmd, CapaCommand):
            conn.send(MultiLine("caps", b"TOP\r\n.X\r\n"))
        else:
            conn.send(Ok(cmd.NAME))


def _pop3_drive(chunks: list[bytes]) -> tuple[bytes, list]:
    conn = Pop3ServerConnection(POP3_LIMITS)
    conn.send(Ok("hi"))
    out = bytearray(conn.data_to_send())
    events: list = []
    for chunk in [*chunks, b""]:
        if conn.closed:
            break
        conn.receive_data(chunk)
        for event in conn.events():
            events.append(event)
            _pop3_respond(conn, event)
            out += conn.data_to_send()
        if conn._tls_pending and not conn.closed:  # noqa: SLF001 - pretend the handshake completed
            conn.start_tls_done()
    return bytes(out), events


def gen_pop3(src: Source) -> tuple:
    data = pieces(src, POP3_TOKENS, 40, 8) if src.boolean() else mutate(src, POP3_VALID, POP3_TOKENS, 6)
    return data, cuts(src, len(data))


def check_pop3(data: bytes, at: tuple[int, ...]) -> None:
    whole = _pop3_drive([data] if data else [])
    # After +OK to STLS the core drops what was already buffered (CVE-2011-0411),
    # so what follows STLS legitimately depends on how the bytes arrived.
    if not any(isinstance(e, Pop3Command) and isinstance(e.command, StlsCommand) for e in whole[1]):
        assert _pop3_drive(split(data, at)) == whole
    for line in whole[0].split(b"\r\n")[:-1]:
        assert line[:1] in (b"+", b"-", b"T", b".", b""), line


# -- SMTP / LMTP ---------------------------------------------------------------

SMTP_TOKENS = [
    b"EHLO c\r\n", b"LHLO c\r\n", b"HELO c\r\n", b"MAIL FROM:<a@b.example>\r\n",
    b"MAIL FROM:<> SIZE=10 BODY=8BITMIME\r\n", b"MAIL FROM:<\xc3\xa4@b> SMTPUTF8\r\n",
    b"MAIL FROM:<a@b> SIZE=99999999999999999999\r\n", b"RCPT TO:<c@d.example>\r\n", b"RCPT TO:<bb@d.example>\r\n",
    b"RCPT TO:<Postmaster>\r\n", b"RCPT TO:<\"q u\"@d> NOTIFY=NEVER\r\n", b"DATA\r\n", b"BDAT 3 LAST\r\n", b".\r\n",
    b"..\r\n", b"\r\n.\r\n", b"\n.\n", b"\r.\r", b"RSET\r\n", b"NOOP\r\n", b"VRFY x\r\n", b"HELP\r\n", b"QUIT\r\n",
    b"STARTTLS\r\n", b"\r\n", b"\n", b"\r", b".", b"<", b">", b":", b"@", b"x" * 600, b"GET / HTTP/1.0\r\n",
    b"\x00", b"\xff",
]
SMTP_VALID = (b"LHLO c\r\nMAIL FROM:<a@b.example> SIZE=20\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<bb@d.example>\r\n"
              b"DATA\r\nSubject: x\r\n\r\n..dot\r\nbody\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
SMTP_LIMITS = SmtpLimits(max_command_line=512, max_message_size=64, max_recipients=3, max_errors=30)
REPLY_LINE = re.compile(rb"\A[245][0-9][0-9](?:[ -][^\r\n]*)?\Z|\A354 [^\r\n]*\Z")


def _smtp_decide(conn: SmtpServerConnection, event: object) -> Reply | list[Reply] | None:
    if isinstance(event, (MailFrom, RcptTo)):
        return Reply.ok() if len(event.address) % 3 else Reply(550, "5.1.1", "no")
    if isinstance(event, MessageReceived):
        replies = [Reply.ok() if len(r) % 2 else Reply.temp_fail() for r in event.recipients]
        return replies if conn.lmtp else Reply.ok()
    return None


def _smtp_run(chunks: list[bytes], lmtp: bool) -> tuple[list, bytes]:
    conn = SmtpServerConnection(lmtp, "mx.example", SMTP_LIMITS)
    conn.start()
    out = bytearray(conn.data_to_send())
    events: list = []
    for piece in [*chunks, b""]:
        conn.receive_data(piece)
        for event in conn.events():
            events.append(event)
            answer = _smtp_decide(conn, event)
            if answer is not None:
                conn.send(answer)
        out += conn.data_to_send()
    assert conn.closed, "EOF must end the session"
    return events, bytes(out)


def gen_smtp(src: Source) -> tuple:
    data = pieces(src, SMTP_TOKENS, 40) if src.boolean() else mutate(src, SMTP_VALID, SMTP_TOKENS, 6)
    return data, cuts(src, len(data)), src.boolean()


def check_smtp(data: bytes, at: tuple[int, ...], lmtp: bool) -> None:
    whole = _smtp_run([data] if data else [], lmtp)
    assert _smtp_run(split(data, at), lmtp) == whole
    events, out = whole
    for line in out[:-2].split(b"\r\n"):
        assert REPLY_LINE.match(line), line
    for event in events:
        if isinstance(event, MessageReceived):
            assert len(event.data) <= SMTP_LIMITS.max_message_size and event.recipients


# -- MIME ------------------------------------------------------------------------

MIME_TOKENS = [
    b"\r\n", b"\n", b"\r", b"--", b"--b", b"--b--", b": ", b";", b"=", b'"', b"(", b")", b"<", b">", b"@",
    b",", b" ", b"\t", b"\x00", b"\xff", b"=?utf-8?b?", b"?=", b"=?x?q?=ZZ", b"*0*=", b"''", b"boundary=",
    b"Content-Type: multipart/mixed; boundary=b\r\n", b"Content-Type: message/rfc822\r\n",
    b"Content-Type: multipart/digest; boundary=b\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n", b"charset*=utf-8''%C3%A9", b"filename*1*=x",
    b"From: ", b"To: ", b"Subject: ", b"Date: ", b"group:", b"a@b", b"\r\n\r\n",
]
_fixture_cache: list[bytes] = []


def fixtures() -> list[bytes]:
    if not _fixture_cache:
        _fixture_cache.extend(p.read_bytes() for p in FIXTURES)
    return _fixture_cache


def gen_mime(src: Source) -> tuple:
    if src.integer(0, 3) == 0:
        return (pieces(src, MIME_TOKENS, 80, 8),)
    return (mutate(src, src.choice(fixtures()), MIME_TOKENS, 8),)


def check_mime(raw: bytes) -> None:
    for data in (raw, normalise_crlf(raw)):
        a = analyse(data)
        assert a.size == len(data)
        for p in a.walk():
            assert 0 <= p.header_start <= p.header_end <= p.body_end <= len(data)
            for c in p.children:
                assert p.header_end <= c.header_start and c.body_end <= p.body_end
        assert MessageAnalysis.from_bytes(a.to_bytes()) == a
        for value in (envelope(a), envelope(a, utf8=True), body(a, False), body(a, True)):
            parse_imap_value(value)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("imap-bytes", gen_imap_bytes, check_imap_bytes,
               "IMAP core fed token noise or mutated commands, in random chunks, every state"),
        Target("imap-grammar", gen_imap_grammar, check_imap_grammar,
               "grammar-generated valid IMAP commands are accepted with their names"),
        Target("pop3", gen_pop3, check_pop3, "POP3 core: noise and mutated sessions, chunking invariance"),
        Target("smtp-lmtp", gen_smtp, check_smtp, "SMTP/LMTP core: noise and mutated sessions, chunking invariance"),
        Target("mime", gen_mime, check_mime, "MIME analysis of mutated fixture messages and token noise"),
        Target("utf7", gen_utf7, check_utf7, "modified UTF-7 round-trip and strict canonical decoding"),
    ]
}
