"""SmtpServerConnection: the sans-I/O SMTP/LMTP server core.

Bytes in (``receive_data``), events out (``events``), replies in (``send``),
bytes out (``data_to_send``), as h11 and websockets do.  No I/O, no clock, no
storage; the session layer (``hivemail.lmtp.session``) drives it::

    conn = SmtpServerConnection(lmtp=True, hostname="mx.example", limits=SmtpLimits())
    conn.start()
    write(conn.data_to_send())
    while not conn.closed:
        conn.receive_data(await read())          # b"" at EOF
        for event in conn.events():
            match event:
                case MailFrom() | RcptTo():
                    conn.send(decide(event))
                case MessageReceived():
                    conn.send(await deliver(event))   # LMTP: one Reply per recipient
        write(conn.data_to_send())

Rules (the h11 "Rule 1 / Rule 2" of this file):

1. **One decision at a time.**  After an event that needs a reply the core
   parses nothing more (pipelined input stays buffered) until ``send()``
   supplies that reply.  Replies therefore go out in command order, which is
   all PIPELINING asks of a server (RFC 2920 section 3.1), however the
   client batched its commands and however TCP split them.
2. **State changes on what is sent.**  The transaction opens when a 2xx goes
   out for MAIL, a recipient counts as accepted when a 2xx goes out for its
   RCPT, and the transaction ends when the data replies go out.  The session
   never tells the core what it decided in any other way.
3. **The core answers everything that needs no decision**: greeting,
   EHLO/LHLO/HELO, NOOP, RSET, VRFY, HELP, QUIT, syntax and sequence errors,
   limits, the 354 go-ahead.

``events()`` is a generator that keeps draining the queue, so calling
``send()`` inside the ``for`` loop lets the parser continue and the new events
arrive in the same loop.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass

from hivemail.wire import LineTooLong, LocalProtocolError, StreamReader, UnexpectedEOF

from .commands import CommandError, parse_hello, parse_mail, parse_rcpt, split_command
from .data import read_data
from .events import Closed, Event, Hello, MailFrom, MessageReceived, RcptTo
from .replies import Reply

__all__ = ["SmtpServerConnection", "SmtpLimits", "State", "BAD_SEQUENCE"]


@dataclass(frozen=True)
class SmtpLimits:
    """Limits enforced in the core (DESIGN principle 7: limits are data).

    ``max_command_line`` counts the CRLF.  RFC 5321 section 4.5.3.1.4 sets
    512 as the minimum a server must accept; extensions lengthen MAIL/RCPT
    lines, and Postfix (``line_length_limit``) and Exim both allow 2048.
    ``max_errors``: after this many protocol errors (500/501/503/555 and
    too-long lines) the core answers 421 4.7.0 and closes, as Postfix's
    ``smtpd_hard_error_limit`` (default 20) does; rejections the session
    decides (550 unknown user) are not counted, since an LMTP client is a
    trusted MTA relaying its queue.
    """

    max_command_line: int = 2048
    max_message_size: int = 50 * 2**20
    max_recipients: int = 1000
    max_errors: int = 20

    def __post_init__(self) -> None:
        if self.max_command_line < 512:
            raise ValueError("max_command_line below the RFC 5321 minimum of 512")
        if self.max_message_size < 0 or self.max_recipients < 1 or self.max_errors < 1:
            raise ValueError("limits must be positive")


class State(enum.Enum):
    """Where the session is.  Reading DATA is not a state: it happens inside
    the DATA command, between the 354 and the end-of-data replies."""

    CONNECTED = "connected"  # greeted, waiting for EHLO/LHLO/HELO
    READY = "ready"  # hello done, no transaction
    MAIL = "mail"  # MAIL accepted, no recipient yet
    RCPT = "rcpt"  # at least one RCPT accepted
    CLOSED = "closed"


_HELLO = "{hello}"
#: (state, verb) -> the 503 5.5.1 text; a pair not listed is in sequence.
#: RFC 5321 section 4.1.4 (order of commands) and RFC 2033 section 4.2
#: (LMTP DATA with no accepted RCPT MUST be 503).
BAD_SEQUENCE: dict[tuple[State, str], str] = {
    (State.CONNECTED, "MAIL"): f"Send {_HELLO} first",
    (State.MAIL, "MAIL"): "Nested MAIL command",
    (State.RCPT, "MAIL"): "Nested MAIL command",
    (State.CONNECTED, "RCPT"): "Need MAIL before RCPT",
    (State.READY, "RCPT"): "Need MAIL before RCPT",
    (State.CONNECTED, "DATA"): "Need MAIL command",
    (State.READY, "DATA"): "Need MAIL command",
    (State.MAIL, "DATA"): "No valid recipients",
}

# Commands we know but do not offer: 502 (section 4.2.4), not "unrecognized".
_NOT_IMPLEMENTED = frozenset({"EXPN", "TURN", "ETRN", "ATRN", "BDAT", "STARTTLS", "AUTH"})
# An HTTP client pointed at the SMTP port (cross-protocol attacks, Postfix's
# smtpd_forbidden_commands): close at once instead of answering every header.
_FORBIDDEN = frozenset({"GET", "POST", "PUT", "HEAD", "CONNECT", "OPTIONS"})
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")

_ReplyIn = Reply | Sequence[Reply]
_Parser = Generator[Event | None, _ReplyIn | None, None]


class SmtpServerConnection:
    """The protocol state of one SMTP (``lmtp=False``) or LMTP connection."""

    def __init__(self, lmtp: bool, hostname: str, limits: SmtpLimits | None = None) -> None:
        self.lmtp = lmtp
        self.hostname = hostname
        self.limits = limits or SmtpLimits()
        self._hello_verb = "LHLO" if lmtp else "EHLO"
        self._reader = StreamReader()
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._state = State.CONNECTED
        self._errors = 0
        # The event whose reply the parser is waiting for, if any.
        self._awaiting: Event | None = None
        self._parser: _Parser | None = None
        self._started = False
        self._reset_transaction()
        # Dispatch table: verb -> handler.  A handler is a plain function, or a
        # generator function when it must wait for a reply or for data.
        self._handlers: dict[str, Callable[[str], _Parser | None]] = {
            "EHLO": self._ehlo,
            "HELO": self._helo,
            "LHLO": self._lhlo,
            "MAIL": self._mail,
            "RCPT": self._rcpt,
            "DATA": self._data,
            "RSET": self._rset,
            "NOOP": self._noop,
            "QUIT": self._quit,
            "VRFY": self._vrfy,
            "HELP": self._help,
        }

    # -- public API ----------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def closed(self) -> bool:
        """True once the core is done (QUIT answered, 421 sent, EOF).

        Flush ``data_to_send()`` and close the socket.
        """
        return self._state is State.CLOSED

    @property
    def awaiting_reply(self) -> Event | None:
        """The event ``send()`` must answer next, or None."""
        return self._awaiting

    @property
    def recipients(self) -> tuple[str, ...]:
        """Recipients accepted so far in the current transaction, in order."""
        return tuple(self._rcpts)

    def start(self, greeting: Reply | None = None) -> None:
        """Queue the 220 greeting (or ``greeting``; a 421 there closes at once).

        The greeting carries no enhanced code (RFC 2034 section 4).
        """
        if self._started:
            raise LocalProtocolError("start() called twice")
        self._started = True
        self._write(greeting or Reply(220, None, f"{self.hostname} {'LMTP' if self.lmtp else 'ESMTP'} ready"))
        if greeting is not None and greeting.closes:
            self._close("421")
            return
        self._parser = self._parse()
        self._step(None)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the socket; ``b""`` means the peer closed (EOF).

        Then iterate ``events()``.  Data after the core closed is ignored.
        """
        if not self._started:
            raise LocalProtocolError("receive_data() before start()")
        if self.closed or self._reader.eof:
            return
        if data:
            self._reader.feed_data(data)
        else:
            self._reader.feed_eof()
        if self._awaiting is None:
            self._step(None)

    def events(self) -> Iterator[Event]:
        """Events parsed so far; keeps yielding events produced by ``send()``
        calls made while iterating."""
        while self._events:
            yield self._events.popleft()

    def send(self, reply: _ReplyIn) -> None:
        """Answer the event in ``awaiting_reply``.

        ``MailFrom``/``RcptTo``: one ``Reply``.  ``MessageReceived``: one
        ``Reply`` in SMTP mode; in LMTP mode a sequence with exactly one
        ``Reply`` per accepted recipient, in RCPT order (``ValueError``
        otherwise, and nothing is sent).  Parsing then resumes.
        """
        event = self._awaiting
        if event is None:
            raise LocalProtocolError("send() with no event awaiting a reply")
        replies = [reply] if isinstance(reply, Reply) else list(reply)
        if not all(isinstance(r, Reply) for r in replies):
            raise TypeError("send() takes Reply objects")
        expected = len(self._rcpts) if self.lmtp and isinstance(event, MessageReceived) else 1
        if len(replies) != expected:
            raise ValueError(
                f"{type(event).__name__} needs {expected} repl{'y' if expected == 1 else 'ies'}, got {len(replies)}"
            )
        self._awaiting = None
        self._step(replies)

    def close(self, reply: Reply | None = None) -> None:
        """Close from our side (shutdown, idle timeout): queue ``reply``
        (default 421 4.3.2) and stop parsing.  Idempotent."""
        if self.closed:
            return
        self._write(reply or Reply.service_closing(self.hostname))
        self._awaiting = None
        self._parser = None
        self._close("421")

    def data_to_send(self) -> bytes:
        """Everything queued for the socket since the last call."""
        out = bytes(self._out)
        self._out.clear()
        return out

    # -- driving the parser --------------------------------------------------

    def _step(self, value: list[Reply] | None) -> None:
        if self._parser is None:
            return
        try:
            self._awaiting = self._parser.send(value)
        except StopIteration:
            self._parser = None
            self._awaiting = None

    def _parse(self) -> _Parser:
        """The whole session, top to bottom.  Yields ``None`` for "need more
        data" and an ``Event`` for "need the reply to this event"."""
        reader = self._reader
        limit = self.limits.max_command_line
        try:
            while not self.closed:
                try:
                    line = yield from reader.read_line(limit)
                except LineTooLong:
                    # RFC 5321 section 4.5.3.1.4: 500 "Line too long".  The
                    # rest of the line is dropped in bounded memory; the reply
                    # goes out when the line is over, so replies stay in order.
                    yield from reader.skip_until(b"\n")
                    self._error(Reply(500, "5.5.2", "Line too long"))
                    continue
                handler_run = self._command(line)
                if handler_run is not None:
                    yield from handler_run
        except UnexpectedEOF:
            # Mid-line or mid-data EOF: an unfinished transaction is dropped.
            self._events.append(Closed("eof"))
            self._state = State.CLOSED

    def _command(self, line: bytes) -> _Parser | None:
        # Command lines end in CRLF; a bare LF is tolerated here (and only here).
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        if _CONTROL.search(line):
            return self._error(Reply(500, "5.5.2", "Syntax error: control character in command"))
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return self._error(Reply(500, "5.5.2", "Syntax error: invalid UTF-8"))
        verb, arg = split_command(text)
        handler = self._handlers.get(verb)
        if handler is None:
            if verb in _FORBIDDEN:
                return self._close("forbidden command")
            if verb in _NOT_IMPLEMENTED:
                return self._error(Reply(502, "5.5.1", f"{verb} not implemented"))
            return self._error(Reply(500, "5.5.2", "Syntax error, command unrecognized"))
        bad = BAD_SEQUENCE.get((self._state, verb))
        if bad is not None:
            return self._error(Reply(503, "5.5.1", bad.replace(_HELLO, self._hello_verb)))
        return handler(arg)

    # -- output helpers ------------------------------------------------------

    def _write(self, reply: Reply) -> None:
        self._out += reply.format()

    def _error(self, reply: Reply) -> None:
        """Queue a protocol-error reply, or 421 and close once there are too many."""
        self._errors += 1
        if self._errors >= self.limits.max_errors:
            self._write(Reply(421, "4.7.0", f"{self.hostname} Error: too many errors"))
            self._close("too many errors")
            return
        self._write(reply)

    def _close(self, reason: str) -> None:
        self._state = State.CLOSED
        self._events.append(Closed(reason))

    def _reset_transaction(self) -> None:
        self._mail_from = ""
        self._mail_params: dict[str, str | None] = {}
        self._rcpts: list[str] = []
        if self._state in (State.MAIL, State.RCPT):
            self._state = State.READY

    # -- command handlers (the dispatch table) ------------------------------

    def _ehlo(self, arg: str) -> None:
        if self.lmtp:
            # RFC 2033 section 4.1: MUST NOT answer 2xx, 500 recommended.
            return self._error(Reply(500, "5.5.1", "Error: this is LMTP, use LHLO"))
        return self._hello("EHLO", arg, extended=True)

    def _helo(self, arg: str) -> None:
        if self.lmtp:
            return self._error(Reply(500, "5.5.1", "Error: this is LMTP, use LHLO"))
        return self._hello("HELO", arg, extended=False)

    def _lhlo(self, arg: str) -> None:
        if not self.lmtp:
            return self._error(Reply(500, "5.5.2", "Syntax error, command unrecognized"))
        return self._hello("LHLO", arg, extended=True)

    def _hello(self, verb: str, arg: str, *, extended: bool) -> None:
        try:
            domain = parse_hello(arg)
        except CommandError as e:
            return self._error(e.reply)
        # A hello in the middle of a transaction resets it (section 4.1.4).
        self._reset_transaction()
        self._state = State.READY
        self._events.append(Hello(verb, domain))
        if not extended:
            return self._write(Reply(250, None, self.hostname))
        # No enhanced code on the EHLO/LHLO reply (RFC 2034 section 4).
        lines = [
            self.hostname,
            "PIPELINING",  # RFC 2920
            "8BITMIME",  # RFC 6152
            "SMTPUTF8",  # RFC 6531
            "ENHANCEDSTATUSCODES",  # RFC 2034
            f"SIZE {self.limits.max_message_size}",  # RFC 1870
        ]
        self._write(Reply(250, None, "\n".join(lines)))

    def _mail(self, arg: str) -> _Parser | None:
        try:
            command = parse_mail(arg)
        except CommandError as e:
            return self._error(e.reply)
        size = command.params.get("SIZE")
        if size is not None and int(size) > self.limits.max_message_size:
            # RFC 1870 section 6.1: 552 on a declared size over the fixed limit.
            return self._write(Reply.too_big())
        return self._await_mail(command.address, command.params)

    def _await_mail(self, address: str, params: dict[str, str | None]) -> _Parser:
        event = MailFrom(address, params)
        self._events.append(event)
        (reply,) = yield event
        self._write(reply)
        if reply.is_positive:
            self._state = State.MAIL
            self._mail_from = address
            self._mail_params = dict(params)
        self._after_reply(reply)

    def _rcpt(self, arg: str) -> _Parser | None:
        try:
            command = parse_rcpt(arg, smtputf8="SMTPUTF8" in self._mail_params)
        except CommandError as e:
            return self._error(e.reply)
        if len(self._rcpts) >= self.limits.max_recipients:
            # RFC 5321 section 4.5.3.1.10: 452 for too many recipients.
            return self._write(Reply(452, "4.5.3", "Error: too many recipients"))
        return self._await_rcpt(command.address, command.params)

    def _await_rcpt(self, address: str, params: dict[str, str | None]) -> _Parser:
        event = RcptTo(address, params)
        self._events.append(event)
        (reply,) = yield event
        self._write(reply)
        if reply.is_positive:
            self._state = State.RCPT
            self._rcpts.append(address)
        self._after_reply(reply)

    def _data(self, arg: str) -> _Parser | None:
        if arg:
            return self._error(Reply(501, "5.5.4", "Syntax: DATA"))
        return self._read_message()

    def _read_message(self) -> _Parser:
        # 354 is a 3xx: no enhanced code (RFC 2034 covers 2xx/4xx/5xx).
        self._write(Reply(354, None, "End data with <CR><LF>.<CR><LF>"))
        data = yield from read_data(self._reader, self.limits.max_message_size)
        replies_owed = len(self._rcpts) if self.lmtp else 1
        if data is None:
            # Nothing is stored; in LMTP every accepted recipient gets the 552.
            for _ in range(replies_owed):
                self._write(Reply.too_big())
            self._reset_transaction()
            return
        event = MessageReceived(self._mail_from, tuple(self._rcpts), data, dict(self._mail_params))
        self._events.append(event)
        replies = yield event
        assert replies is not None and len(replies) == replies_owed
        for reply in replies:
            self._write(reply)
        self._reset_transaction()
        for reply in replies:
            self._after_reply(reply)

    def _after_reply(self, reply: Reply) -> None:
        # RFC 5321 section 3.8: after a 421 the server closes the channel.
        if reply.closes and not self.closed:
            self._close("421")

    def _rset(self, arg: str) -> None:
        if arg:
            return self._error(Reply(501, "5.5.4", "Syntax: RSET"))
        self._reset_transaction()
        self._write(Reply.ok())

    def _noop(self, arg: str) -> None:
        # noop = "NOOP" [ SP String ] CRLF: the argument is ignored.
        self._write(Reply.ok())

    def _quit(self, arg: str) -> None:
        if arg:
            return self._error(Reply(501, "5.5.4", "Syntax: QUIT"))
        self._write(Reply(221, "2.0.0", f"{self.hostname} closing connection"))
        self._close("quit")

    def _vrfy(self, arg: str) -> None:
        if not arg:
            return self._error(Reply(501, "5.5.4", "Syntax: VRFY address"))
        # Section 3.5.3: 252 when we will not say (no address harvesting).
        self._write(Reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"))

    def _help(self, arg: str) -> None:
        hello = "LHLO" if self.lmtp else "EHLO HELO"
        self._write(Reply(214, "2.0.0", f"Commands: {hello} MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"))
