"""ManageSieveServerConnection: the sans-I/O ManageSieve server core (RFC 5804).

Bytes in, events out; responses in, bytes out (h11's shape)::

    conn = ManageSieveServerConnection(ManageSieveLimits(...), starttls=True)
    conn.send(capabilities(...)); conn.send(Ok())    # the greeting comes first
    while not conn.closed:
        conn.receive_data(await read())               # b"" means EOF
        for event in conn.events():
            ...                                       # see events.py for what each one needs
        await write(conn.data_to_send())

Rules the session can rely on:

* **One command at a time.**  After an event that needs an answer
  (``CommandReceived``, ``AuthResponse``, ``AuthAborted``, ``BadCommand``)
  nothing more is parsed until the session has sent the *final* response
  (``Ok``, ``No`` or ``Bye``).  Pipelined commands (section 2: "Clients may
  pipeline commands") stay buffered and are parsed afterwards, in the state
  the earlier ones left, so responses always come out in command order.
  ``reading_paused`` tells a pump when to stop reading the socket.
* **The state changes when the session sends** the response that implies
  it (``states.py``): OK to AUTHENTICATE, OK to UNAUTHENTICATE, any answer
  to LOGOUT, BYE at any time.  After LOGOUT/BYE, ``ConnectionClosed``
  follows at once and everything the client sends is ignored (section 2.3:
  "The server MUST ignore commands issued by the client after the LOGOUT
  command").
* **Refusals are events, not output.**  An unknown, malformed or
  out-of-state command is a ``BadCommand`` carrying the ``NO`` to send
  (ManageSieve has no ``BAD``); the connection stays usable.  At the
  ``max_bad_commands``-th refusal the response is ``BYE`` instead
  (Dovecot's ``CLIENT_MAX_BAD_COMMANDS``).  A script over
  ``max_script_size`` is refused with ``NO (QUOTA/MAXSIZE)`` after its
  bytes are skipped in bounded memory; it is not a bad command.
* **Literals.**  ``{n+}`` and ``{n}`` are read the same way: ManageSieve has
  no continuation response, so the data always follows at once (see
  ``tokens.LiteralMarker``).  Each argument position has a limit
  (``commands.ArgKind``): a script ``max_script_size``, a script name
  ``max_name_octets``, other strings ``max_string``.  A refused literal is
  read and discarded up to ``max_discard`` octets to stay in sync; beyond
  that the core gives up with ``BYE`` (RFC 7888 section 4's choice 2 --
  reading gigabytes to stay in sync is not worth it).
* **AUTHENTICATE** (section 2.1).  After ``CommandReceived(AuthenticateRequest)``
  the session runs the SASL exchange of ``hivemail.auth.sasl`` (the same
  objects IMAP and POP3 use; this core only frames them, so it stays
  stdlib-only) and sends either ``SaslChallenge(data)`` -- the core then
  reads one client string and emits ``AuthResponse(decoded)`` -- or the final
  response: ``Ok(code=ResponseCode.sasl(final))`` when SCRAM has a
  server-final message, else ``Ok()``/``No(...)``/``Bye(...)``.  A ``"*"``
  from the client, a response that is not one base64 string, or one over
  the limits is ``AuthAborted(reason, response=No(...))``: send the NO
  and drop the exchange.
* **STARTTLS** (section 2.2).  When the ``Ok`` to STARTTLS is sent, every
  byte already buffered is discarded, and so is anything received until
  :meth:`start_tls_done` (the plaintext command injection of
  CVE-2011-0411).  After the handshake call :meth:`start_tls_done`, then
  send the capabilities again and an ``Ok`` ("the server MUST re-issue the
  capability results, followed by an OK response"): the core treats that as
  a second greeting and parses nothing before it.
* **Limits are data** (:class:`ManageSieveLimits`); the core never raises
  because of what the peer sent.  Misuse by the session (a response nobody
  asked for, a challenge outside AUTHENTICATE, sending after
  ``ConnectionClosed``) raises :class:`~hivemail.wire.errors.LocalProtocolError`.

What the session layer (``managesieve/session.py``) does with each request,
given a per-user script store and a ``validate(script: bytes)`` callable
that returns warnings or raises with a line-numbered error:

==========================  ==================================================
``AuthenticateRequest``     ``sasl.new_exchange(mechanism)`` (``None``: NO);
                            ``step(initial_response or b"")`` ... (above)
``StartTlsRequest``         ``Ok()``, handshake, ``start_tls_done()``,
                            capabilities + ``Ok()`` (no STARTTLS in them)
``CapabilityRequest``       ``capabilities(..., starttls=conn.starttls_available,
                            owner=user if authenticated)`` then ``Ok()``
``LogoutRequest``           ``Ok()`` -> ``ConnectionClosed("logout")``
``NoopRequest(tag)``        ``Ok("Done", ResponseCode.tag(tag) if tag else None)``
``HaveSpaceRequest``        store quota check -> ``Ok()`` or
                            ``No(code=QUOTA/MAXSCRIPTS|QUOTA/MAXSIZE)`` (sizes
                            over ``max_script_size`` never get here)
``PutScriptRequest``        ``validate(script)`` (``No("line N: ...")`` on error),
                            quota, ``store.put``; ``Ok(warnings, WARNINGS)``;
                            "A script of zero length SHOULD be disallowed"
``CheckScriptRequest``      ``validate(script)`` only; never a quota check
``ListScriptsRequest``      ``ScriptList(...)`` then ``Ok()``
``SetActiveRequest``        ``store.activate(name or None)``; ``NONEXISTENT``
``GetScriptRequest``        ``ScriptContent(script)`` then ``Ok()``; ``NONEXISTENT``
``DeleteScriptRequest``     ``NONEXISTENT`` / ``ACTIVE`` / ``Ok()``
``RenameScriptRequest``     ``NONEXISTENT`` / ``ALREADYEXISTS`` / ``Ok()``
``UnauthenticateRequest``   drop the user; ``Ok()`` ("MUST NOT fail")
==========================  ==================================================

Storage errors (temporary failures) map to ``No(code=TRYLATER)``; too many
failed AUTHENTICATEs to ``Bye(...)`` (the throttle lives in ``hivemail.auth``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from ..wire.errors import LineTooLong, LocalProtocolError, UnexpectedEOF
from ..wire.reader import Reading, StreamReader
from .commands import (
    COMMANDS,
    MAX_NAME_OCTETS,
    ArgKind,
    Args,
    CommandSpec,
    HaveSpaceRequest,
    Request,
    command_name,
    decode_base64,
)
from .events import AuthAborted, AuthResponse, BadCommand, CommandReceived, ConnectionClosed, Event
from .responses import (
    QUOTA_MAXSIZE,
    Bye,
    Capabilities,
    Final,
    No,
    Ok,
    Response,
    ResponseCode,
    SaslChallenge,
    ScriptContent,
    ScriptList,
    format_response,
)
from .states import State, next_state
from .tokens import Atom, LiteralMarker, ParseError, String, Token, find_literal_marker, lex_segment

__all__ = ["ManageSieveServerConnection", "ManageSieveLimits"]

_DISCARD_CHUNK = 64 * 1024
_TAIL = 64

# What the next final response answers besides a command name.
_GREETING = "<greeting>"
_REFUSED = "<refused>"


@dataclass(frozen=True)
class ManageSieveLimits:
    """Limits enforced in the core (DESIGN.md principle 7: limits are data).

    ``max_line``: one line of a command (or of a SASL response), line end
    included.  Without literals a command is at most two 1024-octet quoted
    strings and a name, so 8 KiB is ample.
    ``max_quoted``: octets between the quotes of a quoted string; RFC 5804
    section 4: ``quoted = DQUOTE *1024QUOTED-CHAR DQUOTE``.
    ``max_name_octets``: a script name (section 1.6: at least 128 characters
    must be allowed, i.e. up to 512 octets; longer names MUST be refused,
    never truncated).
    ``max_script_size``: a PUTSCRIPT or CHECKSCRIPT script (the literal
    limit for those arguments); over it: ``NO (QUOTA/MAXSIZE)``.  1 MiB, as
    Pigeonhole's ``sieve_max_script_size``.
    ``max_string``: any other string: SASL data, the NOOP tag.
    ``max_discard``: the largest refused literal read (and dropped) to keep
    the stream in sync; a bigger one ends the connection with ``BYE``.
    Defaults to twice ``max_script_size``.
    ``max_bad_commands``: refusals (unknown, malformed, wrong state, too
    long) before ``BYE``.  20, as Dovecot and our POP3 core.
    """

    max_line: int = 8192
    max_quoted: int = 1024
    max_name_octets: int = MAX_NAME_OCTETS
    max_script_size: int = 1024 * 1024
    max_string: int = 8192
    max_discard: int | None = None
    max_bad_commands: int = 20

    def __post_init__(self) -> None:
        if self.max_line < 2 * _TAIL:
            raise ValueError(f"max_line must be at least {2 * _TAIL}")
        if min(self.max_quoted, self.max_name_octets, self.max_script_size, self.max_string) < 1:
            raise ValueError("size limits must be positive")
        if self.max_bad_commands < 1:
            raise ValueError("max_bad_commands must be >= 1")

    @property
    def discard_limit(self) -> int:
        return self.max_discard if self.max_discard is not None else 2 * self.max_script_size


class _LineTooLong(Exception):
    def __init__(self, tail: bytes) -> None:
        self.tail = tail


class _Refused(Exception):
    """The current command was answered with an event; go back to the top."""


class ManageSieveServerConnection:
    """The server side of one ManageSieve connection.  No I/O; not thread-safe.

    ``tls``: the connection is already encrypted (STARTTLS is then refused).
    ``starttls``: STARTTLS is offered (a certificate is configured).
    """

    def __init__(
        self,
        limits: ManageSieveLimits | None = None,
        *,
        tls: bool = False,
        starttls: bool = True,
    ) -> None:
        self.limits = limits if limits is not None else ManageSieveLimits()
        self._state = State.NOT_AUTHENTICATED
        self._tls = tls
        self._starttls = starttls
        self._tls_pending = False
        self._reader = StreamReader()
        self._events: deque[Event] = deque()
        self._out = bytearray()
        # What the next final response answers: a command name, _GREETING,
        # _REFUSED, or None (nothing: the core is reading).
        self._owed: str | None = _GREETING
        self._challenge_sent = False
        self._bad_commands = 0
        self._closed = False
        self._parser = self._parse()
        self._advance()

    # -- properties -----------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def tls_active(self) -> bool:
        return self._tls

    @property
    def starttls_available(self) -> bool:
        """Whether to advertise STARTTLS now (section 1.7: not under TLS, not once
        authenticated)."""
        return self._starttls and not self._tls and not self._tls_pending and self._state is State.NOT_AUTHENTICATED

    @property
    def closed(self) -> bool:
        """True once ``ConnectionClosed`` was emitted."""
        return self._closed

    @property
    def reading_paused(self) -> bool:
        """True while bytes fed now would only be buffered: the core waits for
        the session (a response owed, the STARTTLS handshake).  A pump should
        stop reading the socket meanwhile."""
        if self._closed or self._tls_pending:
            return True
        if self._owed == "AUTHENTICATE":
            return not self._challenge_sent
        return self._owed is not None

    # -- input ------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; ``b""`` means EOF.  Then read ``events()``.

        Never raises because of what the peer sent.  Bytes after EOF or after
        ``ConnectionClosed`` are ignored, and so are bytes received between
        the OK to STARTTLS and :meth:`start_tls_done` (they were sent in
        plaintext before the handshake: CVE-2011-0411).
        """
        if self._closed or self._reader.eof:
            return
        if not data:
            self._reader.feed_eof()
        elif self._tls_pending:
            return
        else:
            self._reader.feed_data(data)
        self._advance()

    def events(self) -> Iterator[Event]:
        """Yield the pending events in order, including those produced while
        the caller handles one (e.g. after it sends a response)."""
        while self._events:
            yield self._events.popleft()

    def next_event(self) -> Event | None:
        """The next pending event, or ``None`` (need more data or a response)."""
        return self._events.popleft() if self._events else None

    # -- output -----------------------------------------------------------------------

    def send(self, response: Response) -> None:
        """Format ``response``, queue its bytes, and move the state if it is final.

        Data lines (``Capabilities``, ``ScriptList``, ``ScriptContent``) may be
        sent only while a final response is owed (the greeting, or a
        command's); ``SaslChallenge`` only during AUTHENTICATE, one at a time;
        ``Ok``/``No`` only when owed; ``Bye`` at any time (section 1.2).
        """
        if self._closed:
            raise LocalProtocolError("the connection is closed")
        match response:
            case Ok() | No() | Bye():
                self._send_final(response)
            case SaslChallenge():
                if self._owed != "AUTHENTICATE" or self._challenge_sent:
                    raise LocalProtocolError("a SASL challenge needs an AUTHENTICATE waiting for the server")
                self._out += format_response(response)
                self._challenge_sent = True
            case Capabilities() | ScriptList() | ScriptContent():
                if self._owed is None or self._challenge_sent:
                    raise LocalProtocolError(f"no response is owed: cannot send {type(response).__name__}")
                self._out += format_response(response)
            case _:
                raise LocalProtocolError(f"not a ManageSieve response: {response!r}")
        self._advance()

    def _send_final(self, response: Final) -> None:
        owed = self._owed
        if owed is None and not isinstance(response, Bye):
            raise LocalProtocolError(f"no command is waiting for {response.STATUS}")
        if self._challenge_sent and not isinstance(response, Bye):
            raise LocalProtocolError("the client's answer to the SASL challenge was not read yet")
        self._out += format_response(response)
        self._owed = None
        self._challenge_sent = False
        command = owed if owed not in (None, _GREETING, _REFUSED) else None
        self._state = next_state(self._state, command, response.STATUS)
        if self._state is State.LOGOUT:
            self._close("logout" if command == "LOGOUT" else "bye")
            return
        if command == "STARTTLS" and response.STATUS == "OK":
            self._drop_buffered_input()
            self._tls_pending = True

    def start_tls_done(self) -> None:
        """The TLS handshake after the OK to STARTTLS completed.  Send the
        capabilities and an ``Ok`` next; commands are parsed after that."""
        if not self._tls_pending:
            raise LocalProtocolError("no STARTTLS is waiting for its handshake")
        self._tls_pending = False
        self._tls = True
        self._owed = _GREETING
        self._advance()

    def data_to_send(self) -> bytes:
        """All queued output; empties the queue."""
        out = bytes(self._out)
        self._out.clear()
        return out

    # -- the parser -------------------------------------------------------------------

    def _advance(self) -> None:
        if self._closed:
            return
        try:
            next(self._parser)
        except StopIteration:
            self._close("eof")
        except Exception:  # pragma: no cover - a bug; never let it reach the pump
            self._events.append(BadCommand(Bye("Internal server error")))
            self._owed = _REFUSED
            self._parser = self._idle()

    def _idle(self) -> Reading[None]:  # pragma: no cover - only after a bug
        while True:
            yield

    def _close(self, reason: str) -> None:
        if not self._closed:
            self._events.append(ConnectionClosed(reason))
            self._closed = True

    def _drop_buffered_input(self) -> None:
        reading = self._reader.read_exact(len(self._reader))
        try:
            next(reading)
        except StopIteration:
            pass

    def _parse(self) -> Reading[None]:
        reader = self._reader
        while True:
            # Wait for the session; an EOF meanwhile is noticed after it answered,
            # so it never has to answer a connection that is already closed.
            while self._owed is not None or self._tls_pending:
                yield
            try:
                if (yield from reader.at_eof()):
                    return
                yield from self._command()
            except UnexpectedEOF:
                return
            except _Refused:
                continue

    def _read_line(self) -> Reading[bytes]:
        """One line without its line end (CRLF, or a bare LF, tolerated).

        A line over ``max_line`` is consumed in bounded memory and reported
        as ``_LineTooLong`` with its last bytes (a literal marker there means
        literal data follows, which must be skipped too).
        """
        reader = self._reader
        limit = self.limits.max_line
        try:
            line = yield from reader.read_line(limit)
        except LineTooLong:
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
            raise _LineTooLong(tail.rstrip(b"\r\n")) from None
        if line.endswith(b"\r\n"):
            return line[:-2]
        return line[:-1]

    def _discard(self, size: int) -> Reading[None]:
        while size > 0:
            chunk = min(size, _DISCARD_CHUNK)
            yield from self._reader.read_exact(chunk)
            size -= chunk

    def _discard_rest(self, marker: LiteralMarker | None) -> Reading[None]:
        """Skip the rest of a refused command: its literals (the client sends
        them regardless) and the lines after them.  A literal over
        ``discard_limit`` is not read: the core gives up with BYE."""
        while marker is not None:
            if marker.size > self.limits.discard_limit:
                self._emit_refusal(Bye(f"Literal of {marker.size} octets is far too big; closing"))
                raise _Refused
            yield from self._discard(marker.size)
            try:
                line = yield from self._read_line()
            except _LineTooLong as exc:
                line = exc.tail
            marker = find_literal_marker(line)

    def _emit_refusal(self, response: No | Bye) -> None:
        self._events.append(BadCommand(response))
        self._owed = _REFUSED
        self._challenge_sent = False

    def _refuse(
        self,
        text: str,
        marker: LiteralMarker | None = None,
        *,
        code: ResponseCode | None = None,
        bad: bool = True,
    ) -> Reading[None]:
        """Skip what is left of the command, then emit ``BadCommand``; never returns.

        Skipping first means an EOF in the middle closes the connection
        without leaving the session an answer to give.  ``bad``: count it
        towards ``max_bad_commands``.
        """
        yield from self._discard_rest(marker)
        if bad:
            self._bad_commands += 1
            if self._bad_commands >= self.limits.max_bad_commands:
                self._emit_refusal(Bye("Too many invalid commands"))
                raise _Refused
        self._emit_refusal(No(text, code))
        raise _Refused

    def _lex(self, line: bytes, *, continuation: bool) -> tuple[list[Token], LiteralMarker | None]:
        return lex_segment(line, continuation=continuation, max_quoted=self.limits.max_quoted)

    def _literal_limit(self, kind: ArgKind) -> int:
        limits = self.limits
        if kind is ArgKind.SCRIPT:
            return limits.max_script_size
        if kind is ArgKind.NAME:
            return limits.max_name_octets
        return limits.max_string

    def _line_tokens(self, continuation: bool) -> Reading[tuple[list, LiteralMarker | None]]:
        """One line read and lexed (the command's first, or the rest after a
        literal); a line too long or that does not lex refuses the command."""
        try:
            line = yield from self._read_line()
        except _LineTooLong as exc:
            yield from self._refuse(
                f"Line too long (limit {self.limits.max_line} octets)", find_literal_marker(exc.tail)
            )
        try:
            return self._lex(line, continuation=continuation)
        except ParseError as exc:
            yield from self._refuse(exc.text, find_literal_marker(line))
        raise AssertionError("unreachable: _refuse never returns")

    def _command(self) -> Reading[None]:
        """Read, check and emit one command, top to bottom."""
        limits = self.limits
        # command = (command-any / command-auth / command-nonauth) CRLF
        tokens, marker = yield from self._line_tokens(continuation=False)
        name = command_name(tokens[0]) if tokens else None
        if name is None:
            yield from self._refuse("Expected a command name", marker)
        spec = COMMANDS.get(name)
        if spec is None:
            shown = name if len(name) <= 40 else name[:37] + "..."
            yield from self._refuse(f"Unknown command {shown}", marker)
        if self._state not in spec.allowed_states:
            yield from self._refuse(f"{name} is not allowed in the {self._state.value} state", marker)
        args = tokens[1:]
        while marker is not None:
            data = yield from self._literal(spec, len(args), marker)
            args.append(String(data, literal=True))
            more, marker = yield from self._line_tokens(continuation=True)
            args.extend(more)
        try:
            request = spec.parse(Args(args, name, max_name=limits.max_name_octets))
        except ParseError as exc:
            yield from self._refuse(exc.text)
        yield from self._policy(request)
        self._events.append(CommandReceived(request))
        self._owed = name
        if name == "AUTHENTICATE":
            yield from self._authenticate()

    def _literal(self, spec: CommandSpec, index: int, marker: LiteralMarker) -> Reading[bytes]:
        """Read the literal filling argument ``index`` of ``spec``, within its limit."""
        if index >= len(spec.args):
            yield from self._refuse(f"{spec.name}: too many arguments", marker)
        kind = spec.args[index]
        if kind is ArgKind.NUMBER:
            yield from self._refuse(f"{spec.name}: argument {index + 1} must be a number", marker)
        limit = self._literal_limit(kind)
        if marker.size > limit:
            if kind is ArgKind.SCRIPT:
                # Not the client's fault: a size policy (section 1.5, "QUOTA/MAXSIZE").
                yield from self._refuse(
                    f"Script too big ({marker.size} octets, limit {limit})", marker, code=QUOTA_MAXSIZE, bad=False
                )
            yield from self._refuse(f"{spec.name}: string too long ({marker.size} octets, limit {limit})", marker)
        return (yield from self._reader.read_exact(marker.size))

    def _policy(self, request: Request) -> Reading[None]:
        """Refusals the core can decide from its own knowledge (TLS, limits)."""
        if request.NAME == "STARTTLS":
            if self._tls:
                yield from self._refuse("TLS is already active")
            if not self._starttls:
                yield from self._refuse("STARTTLS is not available")
        if isinstance(request, HaveSpaceRequest) and request.size > self.limits.max_script_size:
            yield from self._refuse(
                f"Script too big (limit {self.limits.max_script_size} octets)", code=QUOTA_MAXSIZE, bad=False
            )

    # -- AUTHENTICATE -------------------------------------------------------------------

    def _authenticate(self) -> Reading[None]:
        # command-authenticate = "AUTHENTICATE" SP auth-type [SP string] *(CRLF string)
        # Section 2.1: "A client response consists of a string (quoted or
        # literal) with the base-64 encoding of the SASL data followed by a
        # CRLF.  If the client wishes to cancel the authentication exchange,
        # it issues a string containing a single "*"."
        while True:
            while self._owed == "AUTHENTICATE" and not self._challenge_sent:
                yield
            if self._owed != "AUTHENTICATE":
                return
            outcome = yield from self._auth_string()
            self._challenge_sent = False
            if isinstance(outcome, AuthAborted):
                self._events.append(outcome)
                return
            self._events.append(AuthResponse(outcome))

    def _auth_string(self) -> Reading[bytes | AuthAborted]:
        """The client's answer to a challenge: decoded data, or why it aborted."""
        limits = self.limits
        try:
            line = yield from self._read_line()
        except _LineTooLong as exc:
            yield from self._skip_auth_literals(find_literal_marker(exc.tail))
            return _aborted("too long", "Authentication response too long")
        try:
            tokens, marker = self._lex(line, continuation=False)
        except ParseError:
            yield from self._skip_auth_literals(find_literal_marker(line))
            return _aborted("malformed", "Authentication response must be one string")
        if marker is not None:
            if tokens:
                yield from self._skip_auth_literals(marker)
                return _aborted("malformed", "Authentication response must be one string")
            if marker.size > limits.max_string:
                yield from self._skip_auth_literals(marker)
                return _aborted("too long", "Authentication response too long")
            data = yield from self._reader.read_exact(marker.size)
            try:
                rest = yield from self._read_line()
            except _LineTooLong as exc:
                yield from self._skip_auth_literals(find_literal_marker(exc.tail))
                return _aborted("malformed", "Authentication response must be one string")
            if rest.strip(b" "):
                yield from self._skip_auth_literals(find_literal_marker(rest))
                return _aborted("malformed", "Authentication response must be one string")
            tokens = [String(data, literal=True)]
        if len(tokens) != 1:
            return _aborted("malformed", "Authentication response must be one string")
        token = tokens[0]
        # "*" as an atom is not a string, but what a client means by it is plain.
        if (isinstance(token, String) and token.value == b"*") or token == Atom("*"):
            return _aborted("cancelled", "Authentication cancelled")
        if not isinstance(token, String):
            return _aborted("malformed", "Authentication response must be one string")
        try:
            return decode_base64(token.value)
        except ValueError:
            return _aborted("invalid base64", "Authentication response is not valid base64")

    def _skip_auth_literals(self, marker: LiteralMarker | None) -> Reading[None]:
        # As for a refused command.  A literal far too big ends the exchange
        # and the connection: its BYE (a BadCommand) answers the AUTHENTICATE.
        yield from self._discard_rest(marker)


def _aborted(reason: str, text: str) -> AuthAborted:
    return AuthAborted(reason, No(text))
