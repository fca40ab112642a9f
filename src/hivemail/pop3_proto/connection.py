"""``Pop3ServerConnection``: the sans-I/O POP3 server (RFC 1939, 2449, 2595, 5034, 6856).

Bytes in, events out; responses in, bytes out (h11's shape)::

    conn = Pop3ServerConnection(Limits())
    conn.send(Ok("hivemail ready"))             # the greeting comes first
    conn.receive_data(chunk)                    # b"" means EOF
    for event in conn.events():
        ...                                     # CommandReceived -> conn.send(...)
    sock.write(conn.data_to_send())

Rules the session can rely on:

* **One command at a time.**  After a :class:`CommandReceived`, ``events()``
  yields nothing more until the session has sent the *final* response to it
  (``Ok``, ``Err``, ``MultiLine``, or ``MultiLineStart`` ... ``MultiLineEnd``;
  between these, ``MultiLineData`` chunks to be stuffed, or ``MultiLineSent``
  for dot-free octets the session wrote itself, e.g. with sendfile).
  Pipelined commands (RFC 2449 section 6.6, PIPELINING) stay buffered and are
  parsed in order afterwards, so responses always come out in command order.
* **The core answers protocol errors itself**: unknown command, bad or
  missing arguments, command not allowed in this state, line too long, PASS
  without USER, STLS under TLS.  It queues the ``-ERR`` and yields an
  informational :class:`CommandRejected`; the session need not answer it.
  At the ``Limits.max_bad_commands``-th of them (counted from the greeting,
  and again from login) the core answers "-ERR Too many bad commands" instead
  and closes (Dovecot's ``CLIENT_MAX_BAD_COMMANDS``, 20).
* **State changes when the session sends the response that implies it** (h11's
  Rule 1): ``+OK`` to PASS or AUTH -> TRANSACTION; ``+OK`` to USER arms PASS;
  ``+OK`` to STLS discards buffered input; ``+OK`` to UTF8 enables UTF-8 mode.
  The one exception is QUIT in TRANSACTION, which enters UPDATE *on receipt*
  (RFC 1939 section 6: "When the client issues the QUIT command from the
  TRANSACTION state, the POP3 session enters the UPDATE state"): the session
  sees ``conn.state is State.UPDATE`` while it commits the deletions, then
  sends ``+OK`` (or ``-ERR [SYS/TEMP] ...`` if the commit failed).  Any final
  response to QUIT closes the connection: :class:`ConnectionClosed` follows.
* **SASL** (RFC 5034 section 4): after :class:`CommandReceived` with an
  :class:`AuthCommand`, the session sends ``Continuation(challenge)`` any
  number of times; each one makes the core read the next line as a SASL
  response (:class:`AuthResponse`, base64 already decoded and checked) instead
  of a command.  It ends with the session's ``Ok`` or ``Err``.  A ``*`` line
  (cancel), bad base64 or a line over ``max_auth_line_length`` is answered
  ``-ERR`` by the core and reported as :class:`AuthAborted`: drop the SASL
  exchange, nothing to send.
* **STLS** (RFC 2595 section 4): when the ``+OK`` to STLS is sent, every
  byte already buffered is discarded, and so is anything received until
  :meth:`start_tls_done` (the defence against plaintext command injection,
  CVE-2011-0411).  Call :meth:`start_tls_done` once the TLS handshake has
  completed; the parser then starts afresh on the TLS stream.

Misuse by the caller (a response nobody asked for, sending after close)
raises :class:`~hivemail.wire.errors.LocalProtocolError`.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass

from ..wire.errors import LineTooLong, LocalProtocolError, UnexpectedEOF
from ..wire.reader import StreamReader
from .protocol import (
    COMMANDS,
    AuthCommand,
    Command,
    CommandError,
    Continuation,
    DotStuffer,
    Err,
    MultiLine,
    MultiLineData,
    MultiLineEnd,
    MultiLineSent,
    MultiLineStart,
    Ok,
    PassCommand,
    QuitCommand,
    Response,
    State,
    StlsCommand,
    UserCommand,
    Utf8Command,
    decode_base64,
    dot_stuff,
    format_continuation,
    format_status,
    split_line,
    unknown_command_text,
)

__all__ = [
    "Limits",
    "Event",
    "CommandReceived",
    "AuthResponse",
    "AuthAborted",
    "CommandRejected",
    "ConnectionClosed",
    "Pop3ServerConnection",
]


@dataclass(frozen=True)
class Limits:
    """Limits enforced by the core (DESIGN principle 7: limits are data).

    ``max_line_length``: a command line including CRLF.  RFC 2449 section 4:
    "Servers which support the CAPA command MUST support commands up to 255
    octets"; we enforce exactly that by default.  Raise it if a client sends
    long ``PASS`` lines.
    ``max_auth_line_length``: a SASL response line.  RFC 5034 section 4: these
    "may be of arbitrary length" and must not be bound by the command limit;
    8192 is Dovecot's SASL line limit and ample for PLAIN and SCRAM.
    ``max_bad_commands``: rejected commands before the core closes.
    """

    max_line_length: int = 255
    max_auth_line_length: int = 8192
    max_bad_commands: int = 20

    def __post_init__(self) -> None:
        if self.max_line_length < 8 or self.max_auth_line_length < 8:
            raise ValueError("line limits must be at least 8 octets")
        if self.max_bad_commands < 1:
            raise ValueError("max_bad_commands must be >= 1")


# -- events ---------------------------------------------------------------------


class Event:
    """Base class of the POP3 core's events."""

    __slots__ = ()


@dataclass(frozen=True)
class CommandReceived(Event):
    """A valid command, allowed in the current state.  Answer it with ``send()``."""

    command: Command


@dataclass(frozen=True)
class AuthResponse(Event):
    """A SASL client response line during AUTH.  ``line`` is as received (CRLF
    stripped), ``data`` its base64 decoding (``b""`` for an empty line).
    Answer with ``Continuation``, ``Ok`` or ``Err``."""

    line: bytes
    data: bytes

    def __repr__(self) -> str:
        return f"AuthResponse(<{len(self.line)} octets>)"


@dataclass(frozen=True)
class AuthAborted(Event):
    """The SASL exchange ended without the session: ``reason`` is ``"cancelled"``
    (client sent ``*``), ``"invalid base64"`` or ``"line too long"``.  The core
    already sent ``-ERR``; drop the exchange state, send nothing."""

    reason: str


@dataclass(frozen=True)
class CommandRejected(Event):
    """Informational: the core answered a command line with ``-ERR text`` itself."""

    text: str


@dataclass(frozen=True)
class ConnectionClosed(Event):
    """The core is done.  ``reason``: ``"quit"``, ``"eof"``, ``"greeting refused"``
    or ``"too many bad commands"``.  Flush ``data_to_send()`` and close the socket.
    Messages are deleted only if the session committed on QUIT (``reason == "quit"``)."""

    reason: str


# Sentinels the line generator yields besides ``None`` ("need more data").
_TOO_LONG = object()

_GREETING = object()  # the "command" pending before the greeting is sent


class Pop3ServerConnection:
    """The POP3 server side of one connection.  No I/O; not thread-safe.

    ``tls`` is true for implicit TLS (port 995): STLS is then refused.
    """

    def __init__(self, limits: Limits | None = None, *, tls: bool = False) -> None:
        self.limits = limits if limits is not None else Limits()
        self._state = State.AUTHORIZATION
        self._tls = tls
        self._tls_pending = False  # +OK to STLS sent, handshake not done
        self._utf8 = False
        self._user_accepted = False  # +OK sent to USER, PASS may follow
        self._pending: object | None = _GREETING
        self._expect_auth = False
        self._stuffer: DotStuffer | None = None
        self._bad_commands = 0
        self._closed_reason: str | None = None
        self._closed_emitted = False
        self._eof = False
        self._out = bytearray()
        self._new_reader()

    # -- properties -------------------------------------------------------

    @property
    def state(self) -> State:
        """AUTHORIZATION, TRANSACTION, UPDATE (QUIT received in TRANSACTION) or CLOSED."""
        return self._state

    @property
    def tls_active(self) -> bool:
        """True under implicit TLS or after :meth:`start_tls_done`."""
        return self._tls

    @property
    def utf8_enabled(self) -> bool:
        """True once ``+OK`` was sent to UTF8 (RFC 6856 section 2.1)."""
        return self._utf8

    @property
    def closed(self) -> bool:
        """True once the connection must be closed (after flushing ``data_to_send()``)."""
        return self._state is State.CLOSED

    # -- input --------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the client; ``b""`` means EOF (h11's convention).

        Never raises for anything the client sends.  Data after EOF is a caller
        bug (``LocalProtocolError``); data after close, or between the ``+OK``
        to STLS and :meth:`start_tls_done`, is discarded.  Call :meth:`events`
        afterwards.
        """
        if self._eof:
            raise LocalProtocolError("receive_data() after EOF")
        if not data:
            self._eof = True
            self._reader.feed_eof()
            return
        if self._state is State.CLOSED or self._tls_pending:
            return
        self._reader.feed_data(data)

    def events(self) -> Iterator[Event]:
        """Yield the events available now; stops when more data or a response is needed.

        Safe to ``send()`` from inside the loop: ``for ev in conn.events():
        conn.send(answer(ev))`` is the intended use.
        """
        while True:
            event = self._next_event()
            if event is None:
                return
            yield event

    def expect_auth_line(self) -> None:
        """Read the next line as a SASL response.  ``send(Continuation(...))`` calls this;
        only a session that writes its challenge some other way needs it."""
        if not isinstance(self._pending, AuthCommand):
            raise LocalProtocolError("no AUTH command in progress")
        self._expect_auth = True

    def start_tls_done(self) -> None:
        """The TLS handshake after ``+OK`` to STLS completed: start reading afresh.

        Drops anything buffered (again), and the USER given before STLS, as a
        client MUST discard what it knew too (RFC 2595 section 4).
        """
        if not self._tls_pending:
            raise LocalProtocolError("start_tls_done() without +OK to STLS")
        self._tls_pending = False
        self._tls = True
        self._user_accepted = False
        if not self._eof:
            self._new_reader()

    # -- output ----------------------------------------------------------------

    def send(self, response: Response) -> None:
        """Queue ``response`` for the pending command (or the greeting) and apply its
        state change.  Fetch the bytes with :meth:`data_to_send`.

        The first response is the greeting (``Ok``; an ``Err`` greeting closes).
        """
        if self._state is State.CLOSED:
            raise LocalProtocolError("connection is closed")
        if isinstance(response, (MultiLineData, MultiLineSent, MultiLineEnd)):
            self._send_stream(response)
            return
        if self._stuffer is not None:
            raise LocalProtocolError("a streamed multi-line response is in progress")
        pending = self._pending
        if pending is None:
            raise LocalProtocolError(f"no command to answer with {type(response).__name__}")
        match response:
            case Continuation(data=data):
                if not isinstance(pending, AuthCommand):
                    raise LocalProtocolError("Continuation outside AUTH")
                self._out += format_continuation(data)
                self._expect_auth = True
            case Ok(text=text, code=code) | Err(text=text, code=code):
                self._out += format_status(isinstance(response, Ok), text, code)
                self._complete(isinstance(response, Ok))
            case MultiLine(text=text, body=body, code=code):
                if pending is _GREETING:
                    raise LocalProtocolError("the greeting is a single line")
                self._out += format_status(True, text, code)
                self._out += dot_stuff(body, final=True)
                self._complete(True)
            case MultiLineStart(text=text, code=code):
                if pending is _GREETING:
                    raise LocalProtocolError("the greeting is a single line")
                self._out += format_status(True, text, code)
                self._stuffer = DotStuffer()
            case _:
                raise LocalProtocolError(f"not a POP3 response: {response!r}")

    def data_to_send(self) -> bytes:
        """Return and clear the bytes queued for the client.  Call after every ``send()``."""
        data = bytes(self._out)
        self._out.clear()
        return data

    # -- internals ---------------------------------------------------------------

    def _new_reader(self) -> None:
        self._reader = StreamReader()
        self._lines = self._read_lines()

    def _read_lines(self) -> Generator[object, None, None]:
        """Yield ``None`` (need data), a line (bytes, CRLF included) or ``_TOO_LONG``;
        return at EOF.  A partial line at EOF is dropped (RFC 1939 section 3: a
        command ends with CRLF)."""
        reader = self._reader
        while True:
            if (yield from reader.at_eof()):
                return
            limit = self.limits.max_auth_line_length if self._expect_auth else self.limits.max_line_length
            try:
                line = yield from reader.read_line(limit)
            except LineTooLong:
                yield _TOO_LONG
                try:
                    yield from reader.skip_until(b"\n")
                except UnexpectedEOF:
                    return
                continue
            except UnexpectedEOF:
                return
            yield line

    def _send_stream(self, response: MultiLineData | MultiLineSent | MultiLineEnd) -> None:
        if self._stuffer is None:
            raise LocalProtocolError(f"{type(response).__name__} without MultiLineStart")
        if isinstance(response, MultiLineData):
            self._out += self._stuffer.feed(response.data)
            return
        if isinstance(response, MultiLineSent):
            if self._out:
                # What is queued here must reach the socket before the
                # octets the session sends itself.
                raise LocalProtocolError("MultiLineSent with output still queued: call data_to_send() first")
            self._stuffer.skip(response.tail)
            return
        self._out += self._stuffer.end()
        self._stuffer = None
        self._complete(True)

    def _complete(self, ok: bool) -> None:
        """The final response to the pending command was queued: apply its transition."""
        pending, self._pending = self._pending, None
        self._expect_auth = False
        if pending is _GREETING:
            if not ok:
                self._close("greeting refused")
            return
        match pending:
            case QuitCommand():
                # Whatever the answer, the session ends (RFC 1939 section 6).
                self._close("quit")
            case AuthCommand(mechanism=None):
                # The bare AUTH of RFC 1734 lists mechanisms: its +OK is
                # not a login.
                pass
            case PassCommand() | AuthCommand() if ok:
                self._state = State.TRANSACTION
                self._user_accepted = False
                self._bad_commands = 0
            case PassCommand():
                # RFC 1939 section 7: PASS only "immediately after a successful
                # USER"; after a failed PASS the client starts again with USER.
                self._user_accepted = False
            case UserCommand():
                self._user_accepted = ok
            case StlsCommand() if ok:
                # RFC 2595 section 4: TLS starts right after this CRLF.  Bytes
                # the client pipelined behind STLS were sent in plaintext and
                # must not be executed under TLS (CVE-2011-0411).
                self._tls_pending = True
                if not self._eof:
                    self._new_reader()
            case Utf8Command() if ok:
                self._utf8 = True

    def _close(self, reason: str) -> None:
        self._state = State.CLOSED
        self._closed_reason = reason

    def _next_event(self) -> Event | None:
        if self._closed_emitted:
            return None
        if self._state is State.CLOSED:
            self._closed_emitted = True
            return ConnectionClosed(self._closed_reason or "eof")
        if self._pending is not None and not self._expect_auth:
            return None  # waiting for the session's response
        if self._tls_pending:
            if self._eof:  # the client went away instead of starting TLS
                self._close("eof")
                self._closed_emitted = True
                return ConnectionClosed("eof")
            return None  # waiting for start_tls_done()
        while True:
            try:
                item = next(self._lines)
            except StopIteration:
                self._close("eof")
                self._closed_emitted = True
                return ConnectionClosed("eof")
            if item is None:
                return None
            if self._expect_auth:
                return self._auth_line(item)
            event = self._command_line(item)
            if event is not None:
                return event

    def _auth_line(self, item: object) -> Event:
        self._expect_auth = False
        if item is _TOO_LONG:
            return self._abort_auth("line too long", "Authentication line too long")
        assert isinstance(item, bytes)
        line = item[:-2] if item.endswith(b"\r\n") else item[:-1]
        if line == b"*":
            # RFC 5034 section 4: on "*" the server "MUST reject the AUTH
            # command by sending an -ERR reply".
            return self._abort_auth("cancelled", "Authentication cancelled")
        data = decode_base64(line) if line else b""
        if data is None:
            return self._abort_auth("invalid base64", "Invalid base64 data")
        return AuthResponse(line, data)

    def _abort_auth(self, reason: str, text: str) -> Event:
        self._out += format_status(False, text)
        self._pending = None
        return AuthAborted(reason)

    def _command_line(self, item: object) -> Event | None:
        if item is _TOO_LONG:
            return self._reject("Line too long")
        assert isinstance(item, bytes)
        try:
            name, args, rest = split_line(item)
            spec = COMMANDS.get(name)
            if spec is None:
                return self._reject(unknown_command_text(name))
            # The state is checked before the arguments: "DELE x" before login
            # is "not allowed", not "invalid number" (RFC 1939 section 3).
            if self._state not in spec.states:
                return self._reject(f"{name} not allowed in {self._state.value} state")
            command = spec.parse(args, rest)
        except CommandError as exc:
            return self._reject(exc.text)
        match command:
            case PassCommand() if not self._user_accepted:
                return self._reject("No username given")
            case StlsCommand() if self._tls:
                return self._reject("Command not permitted when TLS active")
            case StlsCommand() if self._utf8:
                # RFC 6856 section 2.1: servers MAY reject STLS after UTF8.
                return self._reject("STLS not permitted after UTF8")
            case QuitCommand() if self._state is State.TRANSACTION:
                self._state = State.UPDATE
        if not isinstance(command, PassCommand):
            # USER is armed only until the next command (other than PASS).
            self._user_accepted = self._user_accepted and isinstance(command, UserCommand)
        self._pending = command
        return CommandReceived(command)

    def _reject(self, text: str) -> Event:
        self._bad_commands += 1
        if self._bad_commands >= self.limits.max_bad_commands:
            self._out += format_status(False, "Too many bad commands")
            self._close("too many bad commands")
            return CommandRejected("Too many bad commands")
        self._out += format_status(False, text)
        return CommandRejected(text)
