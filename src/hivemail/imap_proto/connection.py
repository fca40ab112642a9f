"""ImapServerConnection: the sans-I/O IMAP server core  [h11 _connection.py, websockets protocol.py].

The session drives it like this::

    conn = ImapServerConnection(limits=ImapLimits(...))
    conn.send(Condition.ok("hivemail ready", ResponseCode.capability(caps)))
    while True:
        if not conn.reading_paused:
            conn.receive_data(await read())       # b"" = EOF
        for event in conn.events():
            match event:
                case CommandReceived(tag, request): ... conn.send(Tagged.ok(tag))
                case LiteralRequested(tag): conn.accept_literal()  # or reject_literal(Tagged.no(...))
                case BadCommand(): conn.send(event.response())
                case IdleDone(): ...
                case AuthContinuation(line): ...
                case ConnectionClosed(): return
        await write(conn.data_to_send())         # or conn.chunks_to_send() to stream files

Nothing here does I/O or raises into the caller because of what the peer
sent: a malformed command becomes a ``BadCommand`` event and the connection
stays usable.  Misuse by the session (answering a literal nobody asked
about) raises ``LocalProtocolError``.

Parsing is a generator (STYLE.md rule 2) pulling lines and literals from a
``wire.StreamReader``.  Every wait in it -- for bytes or for the session --
is a loop that re-checks its condition, so the driver can simply resume it
after any change (``_advance``).

Literals (RFC 9051 section 4.3, RFC 7888, RFC 3516):

* ``{n}`` in an APPEND message: ``LiteralRequested``; the session decides.
* ``{n}`` elsewhere: accepted automatically (``+ Ready``) up to
  ``limits.max_literal``, above it ``BAD [TOOBIG]`` and the client sends
  nothing more of the command.
* ``{n+}``: the data follows at once.  Over the limit (``max_append`` for an
  APPEND message, ``max_literal`` otherwise; 4096 for everything when we
  advertise LITERAL- instead of LITERAL+) the bytes are read and discarded in
  bounded memory and the command gets ``BAD [TOOBIG]`` -- choice 1 of RFC 7888
  section 4; choice 2 (BYE) makes naive clients loop.
* ``~{n}`` / ``~{n+}``: literal8, same rules, NUL allowed (BINARY APPEND).

We advertise LITERAL+ by default, for rev1 and rev2 alike.  IMAP4rev2 has
LITERAL- built in (RFC 9051 section 4.3: non-synchronizing literals "MUST
NOT be larger than 4096 octets" unless an extension says otherwise), and
LITERAL+ is the extension that says otherwise (RFC 7888 section 5), so
advertising it keeps rev1 and rev2 clients on one rule, as Dovecot does.
``literal_plus=False`` gives strict LITERAL- semantics (advertise
``conn.literal_capability``).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from ..wire.errors import LineTooLong, LocalProtocolError, UnexpectedEOF
from ..wire.reader import Reading, StreamReader
from . import grammar
from .commands import COMMANDS, UID_COMMANDS, CommandSpec
from .events import (
    AuthContinuation,
    BadCommand,
    CommandReceived,
    ConnectionClosed,
    Event,
    IdleDone,
    LiteralRequested,
)
from .responses import (
    Condition,
    Continuation,
    Enabled,
    FileSegment,
    FormatContext,
    Response,
    ResponseCode,
    Tagged,
    Version,
    format_response,
)
from .states import State, next_state
from .tokens import Args, Atom, Lexer, LiteralMarker, ParseContext, ParseError, find_literal_marker

__all__ = ["ImapServerConnection", "ImapLimits", "LITERAL_MINUS_MAX"]

#: RFC 7888 section 5: under LITERAL-, non-synchronizing literals are at most 4096 bytes.
LITERAL_MINUS_MAX = 4096
_DISCARD_CHUNK = 64 * 1024
_TAIL = 48
_TAG_PREFIX = re.compile(rb"([^ \r\n]+) ")

TOOBIG = ResponseCode("TOOBIG")
LIMIT = ResponseCode("LIMIT")
SERVERBUG = ResponseCode("SERVERBUG")


@dataclass(frozen=True)
class ImapLimits:
    """Limits enforced in the core (DESIGN.md principle 7: limits are data).

    ``max_line``: bytes per line of a command, CRLF included.  Longer lines get
    ``BAD`` and are discarded in bounded memory.  64 KiB, as Dovecot's
    ``imap_max_line_length``: long UID sets are legitimate (RFC 7162 section 4
    asks for at least 8192).
    ``max_literal``: a literal in any command but an APPEND message.
    ``max_append``: a non-synchronizing APPEND message literal (synchronizing
    ones are for the session to judge via ``LiteralRequested``).
    ``max_command``: all bytes of one command except APPEND messages (its
    lines and other literals together), so ``{n+}`` after ``{n+}`` cannot
    grow memory without bound.  Non-synchronizing APPEND message literals
    of one command are bounded together by ``max_append``.
    ``max_nesting``: parenthesis depth.
    ``max_pipelined``: commands parsed whose tagged response was not sent
    yet; at the limit the core stops parsing (``reading_paused``).
    """

    max_line: int = 64 * 1024
    max_literal: int = 64 * 1024
    max_append: int = 64 * 1024 * 1024
    max_command: int = 1024 * 1024
    max_nesting: int = 32
    max_pipelined: int = 32

    def __post_init__(self) -> None:
        if self.max_line < 2 * _TAIL:
            raise ValueError(f"max_line must be at least {2 * _TAIL}")
        if self.max_pipelined < 1 or self.max_nesting < 1:
            raise ValueError("max_pipelined and max_nesting must be positive")


class _LineTooLong(Exception):
    def __init__(self, head: bytes, tail: bytes) -> None:
        self.head = head
        self.tail = tail


class _Refused(Exception):
    """The current command was answered (BAD or a rejected literal); skip to the next."""


class ImapServerConnection:
    """The server side of one IMAP connection, without I/O.

    ``state``, ``version`` and ``utf8`` change only when the session sends the
    response that implies the change (see ``states.py``).
    """

    def __init__(
        self,
        limits: ImapLimits | None = None,
        *,
        literal_plus: bool = True,
        state: State = State.NOT_AUTHENTICATED,
        version: Version = Version.REV1,
        utf8: bool = False,
    ) -> None:
        self.limits = limits or ImapLimits()
        self.literal_plus = literal_plus
        self._state = state
        self._version = version
        self._utf8 = utf8
        self._reader = StreamReader()
        self._events: deque[Event] = deque()
        self._out: list[bytes | FileSegment] = []
        # (tag, command name or None) of commands parsed and not yet answered.
        self._pending: list[tuple[str, str | None]] = []
        self._barrier: str | None = None  # tag whose answer must be sent before we parse on
        self._literal_wait: LiteralRequested | None = None
        self._literal_verdict: bool | None = None
        self._auth_tag: str | None = None
        self._auth_line_expected = False
        self._closed = False
        self._command_bytes = 0
        self._message_bytes = 0
        self._parser = self._parse()
        self._advance()

    # -- properties ---------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def version(self) -> Version:
        return self._version

    @property
    def utf8(self) -> bool:
        return self._utf8

    @property
    def closed(self) -> bool:
        """True after ``ConnectionClosed`` was emitted."""
        return self._closed

    @property
    def literal_capability(self) -> str:
        """``"LITERAL+"`` or ``"LITERAL-"``: what the session should advertise."""
        return "LITERAL+" if self.literal_plus else "LITERAL-"

    @property
    def format_context(self) -> FormatContext:
        return FormatContext(self._version, self._utf8)

    @property
    def reading_paused(self) -> bool:
        """True while the core will not parse further input until the session acts
        (a literal verdict, an answer to a state-changing or pipelined-over-limit
        command, the next AUTHENTICATE step).  A pump should stop reading the
        socket meanwhile: bytes fed now are only buffered."""
        if self._closed:
            return True
        if self._literal_wait is not None:
            return True
        if self._auth_tag is not None:
            return not self._auth_line_expected
        return self._waiting_for_session()

    def _waiting_for_session(self) -> bool:
        return self._barrier is not None or len(self._pending) >= self.limits.max_pipelined

    # -- input --------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; ``b""`` means EOF.  Then read ``events()``.

        Never raises because of what the peer sent.  Data after EOF or after
        ``ConnectionClosed`` is ignored.
        """
        if self._closed or self._reader.eof:
            return
        if data:
            self._reader.feed_data(data)
        else:
            self._reader.feed_eof()
        self._advance()

    def events(self) -> Iterator[Event]:
        """Yield the pending events in order.  Events produced while the caller
        handles one (e.g. after it sends a response) are yielded too."""
        while self._events:
            yield self._events.popleft()

    def next_event(self) -> Event | None:
        """The next pending event, or ``None`` (need more data or a session action)."""
        return self._events.popleft() if self._events else None

    # -- session actions ----------------------------------------------------

    def accept_literal(self, text: str = "Ready") -> None:
        """Answer ``LiteralRequested``: send ``+ text`` and read the literal."""
        if self._literal_wait is None or self._literal_verdict is not None:
            raise LocalProtocolError("no literal is waiting for a verdict")
        self._queue(Continuation(text))
        self._literal_verdict = True
        self._advance()

    def reject_literal(self, response: Tagged) -> None:
        """Answer ``LiteralRequested`` with a tagged response (``NO [TOOBIG]``...).

        The literal is not read: RFC 9051 section 4.3 forbids the client to send
        it, and the rest of the command with it.  The next bytes are the next
        command.
        """
        waiting = self._literal_wait
        if waiting is None or self._literal_verdict is not None:
            raise LocalProtocolError("no literal is waiting for a verdict")
        if not isinstance(response, Tagged) or response.tag != waiting.tag:
            raise LocalProtocolError("reject_literal needs a Tagged response with the command's tag")
        self._queue(response)
        self._literal_verdict = False
        self._advance()

    def expect_auth_line(self) -> None:
        """During AUTHENTICATE, after sending a ``Continuation``: read the client's
        next line and emit it as ``AuthContinuation``."""
        if self._auth_tag is None:
            raise LocalProtocolError("no AUTHENTICATE in progress")
        self._auth_line_expected = True
        self._advance()

    def send(self, response: Response) -> None:
        """Format ``response`` for the current version/mode and queue it.

        Sending is what moves the state: a tagged OK to LOGIN/AUTHENTICATE ->
        AUTHENTICATED, to SELECT/EXAMINE -> SELECTED, to CLOSE/UNSELECT ->
        AUTHENTICATED, a tagged NO to SELECT/EXAMINE while selected ->
        AUTHENTICATED, ``* PREAUTH`` -> AUTHENTICATED, ``* BYE`` -> LOGOUT,
        ``* ENABLED IMAP4rev2``/``UTF8=ACCEPT`` -> rev2 / UTF-8 mode (after this
        response).  A tagged OK to STARTTLS discards any bytes the client
        pipelined after the command (CVE-2011-0411).  A tagged OK to
        UNAUTHENTICATE -> NOT_AUTHENTICATED, IMAP4rev1 and no UTF-8 mode:
        what ENABLE switched on ceases (RFC 8437 section 4.1).
        """
        self._queue(response)
        match response:
            case Tagged(tag, status):
                self._complete(tag, status)
            case Condition("BYE"):
                self._state = State.LOGOUT
            case Condition("PREAUTH") if self._state is State.NOT_AUTHENTICATED:
                self._state = State.AUTHENTICATED
            case Enabled(caps):
                upper = {c.upper() for c in caps}
                if "IMAP4REV2" in upper:
                    self._version = Version.REV2
                if "UTF8=ACCEPT" in upper:
                    self._utf8 = True
        self._advance()

    def _complete(self, tag: str, status: str) -> None:
        for index, (pending_tag, name) in enumerate(self._pending):
            if pending_tag == tag:
                del self._pending[index]
                break
        else:
            return
        self._state = next_state(self._state, name, status) if self._state is not State.LOGOUT else self._state
        if name == "STARTTLS" and status == "OK":
            self._drop_buffered_input()
        if name == "UNAUTHENTICATE" and status == "OK":
            self._version = Version.REV1
            self._utf8 = False
        if self._barrier == tag:
            self._barrier = None
        if self._auth_tag == tag:
            self._auth_tag = None
            self._auth_line_expected = False

    def take_unparsed_input(self) -> bytes:
        """Remove and return the bytes received but not parsed yet.

        For a command that changes the layer below the core (COMPRESS turns
        compression on, UNAUTHENTICATE turns it off, RFC 4978 / RFC 8437):
        the bytes the client sent after it belong to the new layer.  Call
        it while the core waits for that command's tagged response (it is
        a barrier, so nothing after it was parsed), *before* sending the
        response; pass the bytes through the new layer and back in with
        :meth:`receive_data`.  Raises ``LocalProtocolError`` otherwise."""
        if self._barrier is None or self._literal_wait is not None or self._auth_tag is not None:
            raise LocalProtocolError("take_unparsed_input() needs a barrier command waiting for its answer")
        reading = self._reader.read_exact(len(self._reader))
        try:
            next(reading)
        except StopIteration as done:
            return done.value
        raise AssertionError("read_exact of what is buffered cannot wait")  # pragma: no cover

    def _drop_buffered_input(self) -> None:
        reading = self._reader.read_exact(len(self._reader))
        try:
            next(reading)
        except StopIteration:
            pass

    # -- output -------------------------------------------------------------

    def _queue(self, response: Response) -> None:
        for chunk in format_response(response, self.format_context):
            if isinstance(chunk, bytes) and self._out and isinstance(self._out[-1], bytes):
                self._out[-1] += chunk
            else:
                self._out.append(chunk)

    def data_to_send(self) -> bytes:
        """All queued output as bytes (file segments are read in, blocking)."""
        chunks = self.chunks_to_send()
        return b"".join(c if isinstance(c, bytes) else c.read() for c in chunks)

    def chunks_to_send(self) -> list[bytes | FileSegment]:
        """Queued output as bytes and :class:`FileSegment` items, in order, for
        a pump that streams files (``loop.sendfile``)."""
        out, self._out = self._out, []
        return out

    # -- the parser ---------------------------------------------------------

    def _advance(self) -> None:
        if self._closed:
            return
        try:
            next(self._parser)
        except StopIteration:
            self._closed = True
        except Exception:  # pragma: no cover - a bug; never let it reach the pump
            self._events.append(BadCommand(None, "internal server error", SERVERBUG))
            self._close()

    def _close(self) -> None:
        if not self._closed:
            self._events.append(ConnectionClosed())
            self._closed = True

    def _emit(self, event: Event) -> None:
        self._events.append(event)

    def _bad(self, tag: str | None, text: str, code: ResponseCode | str | None = None, status: str = "BAD", *, track: bool = True) -> None:
        self._emit(BadCommand(tag, text, code, status))
        if tag is not None and track:
            self._pending.append((tag, None))

    def _parse(self) -> Reading[None]:
        reader = self._reader
        while True:
            while self._waiting_for_session():
                if reader.eof:
                    # The client is gone; what it pipelined after a barrier is moot.
                    self._close()
                    return
                yield
            if self._state is State.LOGOUT:
                # After BYE nothing the client sends matters; keep memory flat.
                while not reader.eof:
                    self._drop_buffered_input()
                    yield
                self._close()
                return
            try:
                if (yield from reader.at_eof()):
                    self._close()
                    return
                if self._state is State.LOGOUT:  # BYE was sent while we waited
                    continue
                yield from self._command()
            except UnexpectedEOF:
                self._close()
                return
            except _Refused:
                continue

    def _read_line(self) -> Reading[bytes]:
        """One line without its line end (CRLF, or a bare LF, tolerated).

        A line over ``max_line`` is consumed in bounded memory and reported as
        ``_LineTooLong`` with its first and last bytes (to find the tag and a
        trailing literal marker).
        """
        reader = self._reader
        limit = self.limits.max_line
        try:
            line = yield from reader.read_line(limit)
        except LineTooLong:
            head = yield from reader.peek(_TAIL)
            tail = b""
            while True:
                try:
                    rest = yield from reader.read_line(limit)
                except LineTooLong:
                    chunk = yield from reader.read_exact(limit - _TAIL)
                    tail = (tail + chunk)[-_TAIL:]
                    continue
                tail = (tail + rest)[-_TAIL:]
                break
            raise _LineTooLong(head, tail.rstrip(b"\r\n")) from None
        if line.endswith(b"\r\n"):
            return line[:-2]
        return line[:-1]

    def _discard(self, size: int) -> Reading[None]:
        while size > 0:
            chunk = min(size, _DISCARD_CHUNK)
            yield from self._reader.read_exact(chunk)
            size -= chunk

    def _discard_rest(self, marker: LiteralMarker | None) -> Reading[None]:
        """Skip the rest of a refused command: the data of non-synchronizing
        literals (the client sends them regardless) and the lines after them.
        A synchronizing literal ends it: the client waits for our ``+``, which
        never comes, and gives up on the command when it sees the tagged BAD."""
        while marker is not None and not marker.synchronizing:
            yield from self._discard(marker.size)
            try:
                line = yield from self._read_line()
            except _LineTooLong as exc:
                line = exc.tail
            marker = find_literal_marker(line)

    def _refuse(self, tag: str | None, text: str, code: ResponseCode | str | None, marker: LiteralMarker | None, status: str = "BAD") -> Reading[None]:
        self._bad(tag, text, code, status)
        yield from self._discard_rest(marker)
        raise _Refused

    def _command(self) -> Reading[None]:  # noqa: C901 - the command reader, top to bottom
        limits = self.limits
        lexer = Lexer(limits.max_nesting)
        tag: str | None = None
        name: str | None = None
        spec: CommandSpec | None = None
        first = True
        self._command_bytes = self._message_bytes = 0
        while True:
            try:
                line = yield from self._read_line()
            except _LineTooLong as exc:
                if first:
                    match = _TAG_PREFIX.match(exc.head)
                    tag = match.group(1).decode("ascii") if match and grammar.is_tag(match.group(1)) else None
                yield from self._refuse(
                    tag, f"line too long (limit {limits.max_line} bytes)", LIMIT, find_literal_marker(exc.tail)
                )
            if first and not line.strip():
                # Not a command (RFC 9051 section 9: tag SP ...); Dovecot
                # answers "* BAD Error in IMAP command received by server."
                yield from self._refuse(None, "Empty command line", None, None)
            self._command_bytes += len(line) + 2
            if self._command_bytes > limits.max_command:
                yield from self._refuse(
                    tag, f"command too long (limit {limits.max_command} bytes)", LIMIT, find_literal_marker(line)
                )
            try:
                marker = lexer.feed_segment(line)
            except ParseError as exc:
                if first:
                    match = _TAG_PREFIX.match(line)
                    tag = match.group(1).decode("ascii") if match and grammar.is_tag(match.group(1)) else None
                yield from self._refuse(tag, exc.text, exc.code, find_literal_marker(line), exc.status)
            if first:
                first = False
                tag, name, problem = self._identify(lexer.top, marker is not None)
                if problem is not None:
                    yield from self._refuse(tag, problem, None, marker)
                spec = COMMANDS[name]  # type: ignore[index]
            if marker is None:
                break
            assert tag is not None and name is not None
            yield from self._literal(lexer, tag, name, marker)
        assert tag is not None and name is not None and spec is not None
        try:
            items = lexer.finish()
        except ParseError as exc:
            yield from self._refuse(tag, exc.text, exc.code, None)
        skip = 3 if name.startswith("UID ") else 2
        args = Args(items[skip:], ParseContext(utf8=self._utf8 or self._version is Version.REV2), name)
        try:
            request = spec.parse(args)
        except ParseError as exc:
            yield from self._refuse(tag, exc.text, exc.code, None, exc.status)
        except Exception:  # pragma: no cover - a parser bug must not kill the connection
            yield from self._refuse(tag, f"{name}: internal error while parsing", SERVERBUG, None)
        self._emit(CommandReceived(tag, request, name))
        self._pending.append((tag, name))
        if spec.changes_state:
            self._barrier = tag
        if name == "IDLE":
            yield from self._idle(tag)
        elif name == "AUTHENTICATE":
            yield from self._authenticate(tag)

    def _identify(self, top: list, partial: bool) -> tuple[str | None, str | None, str | None]:
        """(tag, command name, problem) from the first top-level arguments."""
        if not top or not isinstance(top[0], Atom) or not grammar.is_tag(top[0].value.encode("ascii")):
            return None, None, "invalid or missing tag"
        tag = top[0].value
        if len(top) < 2:
            return tag, None, "missing command name" if not partial else "a literal cannot be a command name"
        if not isinstance(top[1], Atom):
            return tag, None, "invalid command name"
        name = top[1].value.upper()
        if name == "UID":
            if len(top) < 3 or not isinstance(top[2], Atom) or top[2].value.upper() not in UID_COMMANDS:
                return tag, None, "UID must be followed by " + ", ".join(sorted(UID_COMMANDS))
            name = "UID " + top[2].value.upper()
        spec = COMMANDS.get(name)
        if spec is None:
            shown = name if len(name) <= 40 else name[:37] + "..."
            return tag, None, f"unknown command {shown}"
        if self._state not in spec.allowed_states:
            allowed = " or ".join(s.value for s in State if s in spec.allowed_states)
            return tag, None, f"{name} is not allowed in the {self._state.value} state (only {allowed})"
        return tag, name, None

    def _literal(self, lexer: Lexer, tag: str, name: str, marker: LiteralMarker) -> Reading[None]:
        limits = self.limits
        # tag APPEND mailbox ... : a literal after the mailbox is a message
        # (possibly inside "UTF8 (" ... ")", RFC 6855 section 4).
        is_message = name == "APPEND" and len(lexer.top) >= 3
        if is_message:
            limit = max(0, limits.max_append - self._message_bytes)
        else:
            limit = max(0, min(limits.max_literal, limits.max_command - self._command_bytes))
        if marker.synchronizing:
            if is_message:
                self._literal_wait = LiteralRequested(tag, name, marker.size, marker.binary)
                self._literal_verdict = None
                self._emit(self._literal_wait)
                while self._literal_verdict is None:
                    yield
                verdict = self._literal_verdict
                self._literal_wait = self._literal_verdict = None
                if not verdict:
                    raise _Refused  # answered by reject_literal(); nothing more comes
            else:
                if marker.size > limit:
                    yield from self._refuse(
                        tag, f"literal too big ({marker.size} bytes, limit {limit})", TOOBIG, marker
                    )
                self._queue(Continuation("Ready"))
        else:
            if marker.size > 2 * max(limits.max_append, limits.max_literal):
                # Reading gigabytes just to stay in sync is not worth it: RFC 7888
                # section 4, choice 2 (BYE, then close).  The session answers
                # this BadCommand with ``* BYE [TOOBIG]`` and closes.
                self._bad(None, f"literal of {marker.size} bytes is far too big; closing", TOOBIG, "BYE")
                while not self._reader.eof:
                    self._drop_buffered_input()
                    yield
                raise UnexpectedEOF()
            if not self.literal_plus and marker.size > LITERAL_MINUS_MAX:
                yield from self._refuse(
                    tag,
                    f"non-synchronizing literals are limited to {LITERAL_MINUS_MAX} bytes (LITERAL-)",
                    TOOBIG,
                    marker,
                )
            if marker.size > limit:
                yield from self._refuse(tag, f"literal too big ({marker.size} bytes, limit {limit})", TOOBIG, marker)
        if is_message:
            self._message_bytes += marker.size
        else:
            self._command_bytes += marker.size
        data = yield from self._reader.read_exact(marker.size)
        try:
            lexer.feed_literal(data)
        except ParseError as exc:
            # The literal was read: the command ends with its next line(s).
            try:
                line = yield from self._read_line()
            except _LineTooLong as too_long:
                line = too_long.tail
            yield from self._refuse(tag, exc.text, exc.code, find_literal_marker(line))

    def _idle(self, tag: str) -> Reading[None]:
        # idle = "IDLE" CRLF "DONE"   (RFC 2177; RFC 9051 section 6.3.13)
        try:
            line = yield from self._read_line()
        except _LineTooLong:
            self._bad(tag, "expected DONE to end IDLE", track=False)
            return
        if line.strip().upper() == b"DONE":
            self._emit(IdleDone(tag))
        else:
            self._bad(tag, "expected DONE to end IDLE", track=False)

    def _authenticate(self, tag: str) -> Reading[None]:
        # RFC 9051 section 6.2.2: after each server challenge ("+ ..."), the
        # client sends one line of base64, or "*" to cancel.
        self._auth_tag = tag
        self._auth_line_expected = False
        while self._auth_tag == tag:
            while self._auth_tag == tag and not self._auth_line_expected and not self._reader.eof:
                yield
            if self._auth_tag != tag:
                return
            if not self._auth_line_expected:  # EOF while the session thinks
                if not len(self._reader):
                    raise UnexpectedEOF()
                yield
                continue
            self._auth_line_expected = False
            try:
                line = yield from self._read_line()
            except _LineTooLong:
                self._bad(tag, f"authentication line too long (limit {self.limits.max_line} bytes)", LIMIT, track=False)
                while self._auth_tag == tag and not self._reader.eof:
                    yield
                return
            self._emit(AuthContinuation(line))
