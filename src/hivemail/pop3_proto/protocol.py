"""POP3 commands, responses, dot-stuffing and CAPA: pure functions and frozen dataclasses.

One module for every command, as Dovecot (``pop3-commands.c``) and Stalwart
(``pop3/src/protocol/request.rs``) do: the command set is small and uniform.
Nothing here keeps state between calls; the connection (``connection.py``)
owns the state machine and uses the :data:`COMMANDS` table below.

Grammar, RFC 2449 section 3 (which restates RFC 1939 section 3)::

    command      =  keyword *(SP param) CRLF    ;255 octets maximum
    keyword      =  3*4VCHAR
    param        =  1*VCHAR
    single-line  =  status [SP text] CRLF       ;512 octets maximum
    status       =  "+OK" / "-ERR"
    text         =  *schar / resp-code *CHAR
    resp-code    =  "[" resp-level *("/" resp-level) "]"
    resp-level   =  1*rchar
    rchar        =  %x21-2E / %x30-5C / %x5E-7F
                        ;printable ASCII, excluding "/" and "]"
    schar        =  %x21-5A / %x5C-7F
                        ;printable ASCII, excluding "["
    multi-line   =  single-line *dot-stuffed "." CRLF

Keywords are case-insensitive (RFC 1939 section 3: "Keywords ... are
case-insensitive").  Where real clients deviate harmlessly we are lenient and
say so: several spaces between arguments, trailing spaces, and a bare LF
ending the command line.  Everything else that is wrong is a
:class:`CommandError` whose ``text`` is the ``-ERR`` line to send; RFC 1939
section 3 requires a negative answer to "an unrecognized, unimplemented, or
syntactically invalid command", and the session goes on.
"""

from __future__ import annotations

import binascii
import enum
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

__all__ = [
    # states and the command table
    "State",
    "CommandSpec",
    "COMMANDS",
    # commands
    "Command",
    "UserCommand",
    "PassCommand",
    "StatCommand",
    "ListCommand",
    "RetrCommand",
    "DeleCommand",
    "NoopCommand",
    "RsetCommand",
    "QuitCommand",
    "TopCommand",
    "UidlCommand",
    "CapaCommand",
    "AuthCommand",
    "StlsCommand",
    "Utf8Command",
    "CommandError",
    "parse_line",
    "split_line",
    "unknown_command_text",
    "decode_base64",
    "MAX_NUMBER",
    # responses
    "Response",
    "Ok",
    "Err",
    "Continuation",
    "MultiLine",
    "MultiLineStart",
    "MultiLineData",
    "MultiLineSent",
    "MultiLineEnd",
    "format_status",
    "format_continuation",
    "IN_USE",
    "LOGIN_DELAY",
    "AUTH",
    "SYS_TEMP",
    "SYS_PERM",
    "UTF8",
    # message bodies
    "dot_stuff",
    "stuffed_size",
    "dot_unstuff",
    "DotStuffer",
    "top_of_message",
    # CAPA
    "capabilities",
    "capa_response",
]


class State(enum.Enum):
    """RFC 1939 section 3: AUTHORIZATION, TRANSACTION, UPDATE; plus CLOSED (h11's terminal state)."""

    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"
    CLOSED = "CLOSED"


# -- commands -----------------------------------------------------------------


class Command:
    """Base class of the parsed commands.  ``NAME`` is the upper-case keyword."""

    __slots__ = ()
    NAME: ClassVar[str] = ""


@dataclass(frozen=True)
class UserCommand(Command):
    """USER name  (RFC 1939 section 7).  UTF-8 allowed (RFC 6856 section 2.2)."""

    NAME: ClassVar[str] = "USER"
    name: str


@dataclass(frozen=True)
class PassCommand(Command):
    """PASS string  (RFC 1939 section 7).

    "Since the PASS command has exactly one argument, a POP3 server may treat
    spaces in the argument as part of the password": everything after the
    first space is the password, verbatim (inner and trailing spaces kept).
    """

    NAME: ClassVar[str] = "PASS"
    password: str

    def __repr__(self) -> str:  # never log a password by accident
        return "PassCommand(password=<redacted>)"


@dataclass(frozen=True)
class StatCommand(Command):
    """STAT  (RFC 1939 section 5)."""

    NAME: ClassVar[str] = "STAT"


@dataclass(frozen=True)
class ListCommand(Command):
    """LIST [msg]  (RFC 1939 section 5).  ``msg`` is ``None`` for the scan listing."""

    NAME: ClassVar[str] = "LIST"
    msg: int | None = None


@dataclass(frozen=True)
class RetrCommand(Command):
    """RETR msg  (RFC 1939 section 5)."""

    NAME: ClassVar[str] = "RETR"
    msg: int


@dataclass(frozen=True)
class DeleCommand(Command):
    """DELE msg  (RFC 1939 section 5)."""

    NAME: ClassVar[str] = "DELE"
    msg: int


@dataclass(frozen=True)
class NoopCommand(Command):
    """NOOP  (RFC 1939 section 5)."""

    NAME: ClassVar[str] = "NOOP"


@dataclass(frozen=True)
class RsetCommand(Command):
    """RSET  (RFC 1939 section 5)."""

    NAME: ClassVar[str] = "RSET"


@dataclass(frozen=True)
class QuitCommand(Command):
    """QUIT  (RFC 1939 sections 4 and 6)."""

    NAME: ClassVar[str] = "QUIT"


@dataclass(frozen=True)
class TopCommand(Command):
    """TOP msg n  (RFC 1939 section 7).  ``lines`` may be 0 (headers only)."""

    NAME: ClassVar[str] = "TOP"
    msg: int
    lines: int


@dataclass(frozen=True)
class UidlCommand(Command):
    """UIDL [msg]  (RFC 1939 section 7)."""

    NAME: ClassVar[str] = "UIDL"
    msg: int | None = None


@dataclass(frozen=True)
class CapaCommand(Command):
    """CAPA  (RFC 2449 section 5)."""

    NAME: ClassVar[str] = "CAPA"


@dataclass(frozen=True)
class AuthCommand(Command):
    """AUTH [mechanism [initial-response]]  (RFC 5034 section 4).

    ``mechanism`` is upper-cased; ``None`` is the bare ``AUTH`` of RFC 1734
    that lists the mechanisms (dropped by RFC 5034, still sent by Outlook and
    answered by Dovecot; the session decides).  ``initial_response`` is
    already base64-decoded: ``None`` if absent, ``b""`` for ``=``.
    """

    NAME: ClassVar[str] = "AUTH"
    mechanism: str | None = None
    initial_response: bytes | None = None

    def __repr__(self) -> str:  # SASL PLAIN carries the password
        ir = "None" if self.initial_response is None else "<redacted>"
        return f"AuthCommand(mechanism={self.mechanism!r}, initial_response={ir})"


@dataclass(frozen=True)
class StlsCommand(Command):
    """STLS  (RFC 2595 section 4)."""

    NAME: ClassVar[str] = "STLS"


@dataclass(frozen=True)
class Utf8Command(Command):
    """UTF8  (RFC 6856 section 2.1)."""

    NAME: ClassVar[str] = "UTF8"


class CommandError(Exception):
    """A command line the core rejects; ``text`` is the ``-ERR`` text to send."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


# -- arguments ------------------------------------------------------------------

#: Largest message number or line count accepted: 2**31 - 1.  Dovecot parses
#: them with ``str_to_uint``, Stalwart as ``u32``; a signed 32-bit bound keeps
#: us clear of both and of any client that stores them in an ``int``.
MAX_NUMBER = 2**31 - 1
_DIGITS = re.compile(rb"[0-9]+\Z")
# Leading zeros are accepted ("RETR 01"), but bounded before int() so that a
# 250-digit number costs nothing.
_MAX_DIGITS = 12

# sasl-mech = 1*20mech-char;  mech-char = UPPER-ALPHA / DIGIT / HYPHEN /
# UNDERSCORE  (RFC 4422 section 3.1; case-insensitive in POP3, RFC 5034 section 5)
_MECHANISM = re.compile(r"[A-Z0-9_-]{1,20}\Z")

# CTL characters: refused everywhere in a command line (NUL, CR inside the
# line, ESC ...).  Octets >= 0x80 are allowed only as valid UTF-8 (RFC 6856).
_CTL = re.compile(rb"[\x00-\x1f\x7f]")


def _number(arg: bytes, what: str, *, zero_ok: bool) -> int:
    """msg = 1*DIGIT, 1 <= msg;  n = 1*DIGIT, 0 <= n  (RFC 1939 sections 5 and 7)."""
    kind = "a non-negative" if zero_ok else "a positive"
    if not _DIGITS.match(arg):
        raise CommandError(f"Invalid {what}: must be {kind} number")
    if len(arg.lstrip(b"0")) > _MAX_DIGITS:
        raise CommandError(f"Invalid {what}: number too large")
    value = int(arg)
    if value > MAX_NUMBER:
        raise CommandError(f"Invalid {what}: number too large")
    if value == 0 and not zero_ok:
        raise CommandError(f"Invalid {what}: must be {kind} number")
    return value


def _utf8(arg: bytes, what: str) -> str:
    try:
        return arg.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"Invalid {what}: not valid UTF-8") from None


def decode_base64(text: bytes) -> bytes | None:
    """Strict base64 as RFC 5034 section 4 requires, or ``None`` if invalid.

    "servers ... MUST reject (and not ignore) any character not explicitly
    allowed by the Base64 alphabet, and MUST reject any sequence of Base64
    characters that contains the pad character ('=') anywhere other than the
    end of the string".  ``binascii``'s ``strict_mode`` does exactly that
    (and refuses a length that is not a multiple of 4).
    """
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def _no_args(name: str, args: list[bytes]) -> None:
    if args:
        raise CommandError(f"{name} takes no arguments")


def _parse_user(args: list[bytes], rest: bytes) -> UserCommand:
    # USER name  (RFC 1939 section 7).  One argument: a name with a space
    # cannot be sent with USER; SASL PLAIN carries any name.
    if not args:
        raise CommandError("USER needs a user name")
    if len(args) > 1:
        raise CommandError("USER takes one argument")
    return UserCommand(_utf8(args[0], "user name"))


def _parse_pass(args: list[bytes], rest: bytes) -> PassCommand:
    # PASS string: the rest of the line after one SP (see PassCommand).
    if not rest:
        raise CommandError("PASS needs a password")
    return PassCommand(_utf8(rest, "password"))


def _parse_optional_msg(name: str) -> Callable[[list[bytes], bytes], Command]:
    cls = ListCommand if name == "LIST" else UidlCommand

    def parse(args: list[bytes], rest: bytes) -> Command:
        # LIST [msg] / UIDL [msg]
        if len(args) > 1:
            raise CommandError(f"{name} takes at most one argument")
        if not args:
            return cls()
        return cls(_number(args[0], "message number", zero_ok=False))

    return parse


def _parse_msg(cls: type[RetrCommand] | type[DeleCommand]) -> Callable[[list[bytes], bytes], Command]:
    def parse(args: list[bytes], rest: bytes) -> Command:
        # RETR msg / DELE msg
        if not args:
            raise CommandError(f"{cls.NAME} needs a message number")
        if len(args) > 1:
            raise CommandError(f"{cls.NAME} takes one argument")
        return cls(_number(args[0], "message number", zero_ok=False))

    return parse


def _parse_top(args: list[bytes], rest: bytes) -> TopCommand:
    # TOP msg n
    if len(args) < 2:
        raise CommandError("TOP needs a message number and a line count")
    if len(args) > 2:
        raise CommandError("TOP takes two arguments")
    return TopCommand(
        _number(args[0], "message number", zero_ok=False),
        _number(args[1], "line count", zero_ok=True),
    )


def _parse_auth(args: list[bytes], rest: bytes) -> AuthCommand:
    # AUTH [sasl-mech [SP initial-response]];  initial-response = base64 / "="
    if not args:
        return AuthCommand()
    if len(args) > 2:
        raise CommandError("AUTH takes at most two arguments")
    mechanism = args[0].decode("ascii", "replace").upper()
    if not _MECHANISM.match(mechanism):
        raise CommandError("Invalid SASL mechanism name")
    if len(args) == 1:
        return AuthCommand(mechanism)
    if args[1] == b"=":
        return AuthCommand(mechanism, b"")
    data = decode_base64(args[1])
    if data is None:
        # RFC 5034 section 4: "If the server cannot Base64 decode a client
        # response, it MUST reject the AUTH command with an -ERR reply."
        raise CommandError("Invalid base64 in initial response")
    return AuthCommand(mechanism, data)


def _simple(cls: type[Command]) -> Callable[[list[bytes], bytes], Command]:
    def parse(args: list[bytes], rest: bytes) -> Command:
        _no_args(cls.NAME, args)
        return cls()

    return parse


# -- the state table ----------------------------------------------------------


@dataclass(frozen=True)
class CommandSpec:
    """One row of :data:`COMMANDS`: how to parse the arguments and where the command is allowed."""

    parse: Callable[[list[bytes], bytes], Command]
    states: frozenset[State]


_AUTH = frozenset({State.AUTHORIZATION})
_TRANS = frozenset({State.TRANSACTION})
_BOTH = frozenset({State.AUTHORIZATION, State.TRANSACTION})

#: keyword -> CommandSpec.  The allowed states are RFC 1939 section 4-7
#: (QUIT in both; NOOP only in TRANSACTION), RFC 2449 section 5 (CAPA in
#: both), RFC 5034 section 4 (AUTH only in AUTHORIZATION, so a second AUTH
#: after success is an -ERR), RFC 2595 section 4 (STLS only in AUTHORIZATION)
#: and RFC 6856 section 2 (UTF8 "valid in states: AUTHORIZATION").  UPDATE
#: and CLOSED allow nothing: after QUIT no further command is read.
#: APOP is not offered (no timestamp in the greeting, RFC 1939 section 7), so
#: it is simply an unknown command, as in a server without APOP.
COMMANDS: dict[str, CommandSpec] = {
    "USER": CommandSpec(_parse_user, _AUTH),
    "PASS": CommandSpec(_parse_pass, _AUTH),
    "AUTH": CommandSpec(_parse_auth, _AUTH),
    "STLS": CommandSpec(_simple(StlsCommand), _AUTH),
    "UTF8": CommandSpec(_simple(Utf8Command), _AUTH),
    "CAPA": CommandSpec(_simple(CapaCommand), _BOTH),
    "QUIT": CommandSpec(_simple(QuitCommand), _BOTH),
    "STAT": CommandSpec(_simple(StatCommand), _TRANS),
    "LIST": CommandSpec(_parse_optional_msg("LIST"), _TRANS),
    "RETR": CommandSpec(_parse_msg(RetrCommand), _TRANS),
    "DELE": CommandSpec(_parse_msg(DeleCommand), _TRANS),
    "NOOP": CommandSpec(_simple(NoopCommand), _TRANS),
    "RSET": CommandSpec(_simple(RsetCommand), _TRANS),
    "TOP": CommandSpec(_parse_top, _TRANS),
    "UIDL": CommandSpec(_parse_optional_msg("UIDL"), _TRANS),
}

_PRINTABLE_KEYWORD = re.compile(r"[\x21-\x7e]{1,20}\Z")


def _strip_line_end(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line.endswith(b"\n"):  # lenient: bare LF ends a command line too
        return line[:-1]
    return line


def split_line(line: bytes) -> tuple[str, list[bytes], bytes]:
    """``b"list  1 \\r\\n"`` -> ``("LIST", [b"1"], b" 1 ")``.

    Returns the upper-case keyword, the space-separated arguments (runs of
    spaces and trailing spaces tolerated) and the verbatim rest of the line
    after the first space (for PASS).  Raises :class:`CommandError` for an
    empty line or control characters.
    """
    line = _strip_line_end(line)
    if _CTL.search(line):
        raise CommandError("Invalid characters in command")
    keyword, _, rest = line.partition(b" ")
    if not keyword:
        raise CommandError("Empty command" if not line.strip(b" ") else "Invalid command syntax")
    # bytes.upper() folds ASCII only ("\xff".upper() would be U+0178).
    return keyword.upper().decode("latin-1"), rest.split(), rest


def parse_line(line: bytes) -> Command:
    """Parse one command line (with or without its CRLF) into a command dataclass.

    The state is not checked here (see :data:`COMMANDS` and the connection);
    the line length is the reader's business.  Raises :class:`CommandError`
    carrying the ``-ERR`` text for unknown commands and bad arguments.
    """
    name, args, rest = split_line(line)
    spec = COMMANDS.get(name)
    if spec is None:
        raise CommandError(unknown_command_text(name))
    return spec.parse(args, rest)


def unknown_command_text(name: str) -> str:
    """``-ERR`` text for an unknown keyword; echoes it only when short and printable."""
    if _PRINTABLE_KEYWORD.match(name):
        return f"Unknown command: {name}"
    return "Unknown command"


# -- responses -------------------------------------------------------------------

# Response codes: RFC 2449 section 8.1 (IN-USE, LOGIN-DELAY), RFC 3206
# (SYS/TEMP, SYS/PERM, AUTH; announced by AUTH-RESP-CODE), RFC 6856 section 5 (UTF8).
IN_USE = "IN-USE"
LOGIN_DELAY = "LOGIN-DELAY"
AUTH = "AUTH"
SYS_TEMP = "SYS/TEMP"
SYS_PERM = "SYS/PERM"
UTF8 = "UTF8"

# resp-code = "[" resp-level *("/" resp-level) "]";  resp-level = 1*rchar
_RESP_CODE = re.compile(r"[\x21-\x2e\x30-\x5c\x5e-\x7f]+(?:/[\x21-\x2e\x30-\x5c\x5e-\x7f]+)*\Z")
_TEXT_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: RFC 2449 section 4: "The maximum length of the first line of a command
#: response (including the initial greeting) is unchanged at 512 octets
#: (including the terminating CRLF)."
MAX_RESPONSE_LINE = 512


class Response:
    """Base class of what the session hands to ``Pop3ServerConnection.send()``."""

    __slots__ = ()


def _check_text(text: str, code: str | None) -> None:
    if _TEXT_CONTROL.search(text):
        raise ValueError(f"control character in response text: {text!r}")
    if code is not None and not _RESP_CODE.match(code):
        raise ValueError(f"bad response code: {code!r}")
    # text = *schar / resp-code *CHAR: text without a code must not start with
    # "[", or a client would read it as one.
    if code is None and text.startswith("["):
        raise ValueError(f"response text starts with '[' but has no code: {text!r}")


@dataclass(frozen=True)
class Ok(Response):
    """``+OK [code] text``.  Ends the pending command (see the connection for the state changes)."""

    text: str = ""
    code: str | None = None

    def __post_init__(self) -> None:
        _check_text(self.text, self.code)


@dataclass(frozen=True)
class Err(Response):
    """``-ERR [code] text``.  Codes: :data:`IN_USE`, :data:`AUTH`, :data:`SYS_TEMP` ..."""

    text: str = ""
    code: str | None = None

    def __post_init__(self) -> None:
        _check_text(self.text, self.code)


@dataclass(frozen=True)
class Continuation(Response):
    """``+ base64`` SASL server challenge (RFC 5034 section 4); ``data`` is raw, the core encodes it."""

    data: bytes = b""


@dataclass(frozen=True)
class MultiLine(Response):
    """``+OK text`` then ``body`` dot-stuffed and terminated by the core (RFC 1939 section 3).

    ``body`` is the raw content (a CRLF message, or CAPA/LIST/UIDL lines each
    ending in CRLF); a missing final CRLF is added before the ``.``.
    """

    text: str
    body: bytes
    code: str | None = None

    def __post_init__(self) -> None:
        _check_text(self.text, self.code)


@dataclass(frozen=True)
class MultiLineStart(Response):
    """Streaming form of :class:`MultiLine`: the ``+OK`` line; then :class:`MultiLineData`
    any number of times, then :class:`MultiLineEnd`.  For messages of many MB read
    from a file in chunks (h11's Response / Data / EndOfMessage)."""

    text: str
    code: str | None = None

    def __post_init__(self) -> None:
        _check_text(self.text, self.code)


@dataclass(frozen=True)
class MultiLineData(Response):
    """A chunk of raw body; chunks may split lines (and CRLF) anywhere."""

    data: bytes


@dataclass(frozen=True)
class MultiLineSent(Response):
    """Body octets the session wrote to the socket itself, past the core: a
    body known to need no byte-stuffing (no line starts with ".") sent with
    ``sendfile``, zero-copy.  ``tail`` is their last two octets (fewer if
    fewer were sent), so that :class:`MultiLineEnd` knows whether the body
    already ends in CRLF.  The core cannot check the octets it never saw:
    the session must send only dot-free bodies this way."""

    tail: bytes

    def __post_init__(self) -> None:
        if len(self.tail) > 2:
            raise ValueError("tail is at most the last two octets")


@dataclass(frozen=True)
class MultiLineEnd(Response):
    """Ends a streamed multi-line response: adds CRLF if needed and ``.CRLF``."""


def format_status(ok: bool, text: str = "", code: str | None = None) -> bytes:
    """``+OK``/``-ERR`` [SP "[" code "]"] [SP text] CRLF, as bytes (UTF-8 text).

    Raises ``ValueError`` for control characters, a malformed code or a line
    over 512 octets (RFC 2449 section 4).
    """
    _check_text(text, code)
    parts = ["+OK" if ok else "-ERR"]
    if code is not None:
        parts.append(f"[{code}]")
    if text:
        parts.append(text)
    line = (" ".join(parts) + "\r\n").encode("utf-8")
    if len(line) > MAX_RESPONSE_LINE:
        raise ValueError(f"response line longer than {MAX_RESPONSE_LINE} octets")
    return line


def format_continuation(data: bytes) -> bytes:
    """continue-req = "+" SP [base64] CRLF  (RFC 5034 section 5).

    An empty challenge is ``"+ "`` and nothing else (RFC 5034 section 4).
    Not bound by the 512-octet limit ("these BASE64 strings may be of
    arbitrary length").
    """
    return b"+ " + binascii.b2a_base64(data, newline=False) + b"\r\n"


# -- dot-stuffing -------------------------------------------------------------------
#
# RFC 1939 section 3: "If any line of the multi-line response begins with the
# termination octet, the line is "byte-stuffed" by pre-pending the termination
# octet to that line of the response.  Hence a multi-line response is
# terminated with the five octets "CRLF.CRLF"."
#
# A line begins after LF.  We stuff after *any* LF, not only after CRLF: the
# store keeps CRLF messages, but if a bare LF slipped in, a client that splits
# on LF (Python's poplib, many scripts) must still never see a line that is a
# lone "." inside the content.  A strict CRLF client sees the same bytes with
# one extra "." it keeps, which is the lesser harm (the message is not cut).
#
# The whole thing is two ``bytes.replace``-class operations: C speed, linear.


def dot_stuff(data: bytes, *, final: bool, tail: bytes = b"\r\n") -> bytes:
    """Dot-stuff ``data``; with ``final=True`` also terminate the response.

    ``tail`` is the last two octets sent before ``data`` (the default
    ``b"\\r\\n"`` is the end of the ``+OK`` line, i.e. the start of the body).
    For streaming, pass ``tail=(tail + previous_chunk)[-2:]`` so a chunk that
    starts with ``"."`` after a chunk that ended with CRLF is stuffed, and the
    end-of-response logic knows whether CRLF is already there:
    :class:`DotStuffer` does this bookkeeping.

    With ``final``, a body that does not end in CRLF gets one before the
    terminating ``".\\r\\n"`` (RFC 1939 section 3: the response ends with
    ``CRLF.CRLF``).  An empty body gives just ``".\\r\\n"``.
    """
    out = data.replace(b"\n.", b"\n..")
    if data[:1] == b"." and tail[-1:] == b"\n":
        out = b"." + out
    if final:
        if (tail + data[-2:])[-2:] != b"\r\n":
            out += b"\r\n.\r\n"
        else:
            out += b".\r\n"
    return out


def stuffed_size(data: bytes) -> int:
    """Octets of ``data`` as the client receives it in RETR: dot-stuffed, with a CRLF
    added if missing, *without* the terminating ``".\\r\\n"``.

    Equal to ``len(dot_stuff(data, final=True)) - 3``, computed without copying.

    Design decision (the octet count of LIST/STAT/RETR): the issue specifies
    "Octet counts are those of the CRLF, dot-stuffed form the client
    receives", so this is what the session reports.  Note the tension: RFC
    1939 section 11 says stuffed termination octets "need not (and must not)
    be counted twice", RFC 6856 section 2.1 says LIST "SHOULD match the actual
    number of octets sent in a RETR response (not counting byte-stuffing)",
    and Dovecot reports the CRLF size without stuffing (its "virtual size").
    The difference is one octet per line starting with "."; clients use the
    number for progress bars and size limits.  To switch to the RFC count,
    report ``len(crlf_message)`` (plus 2 if it does not end in CRLF) instead.
    """
    size = len(data) + data.count(b"\n.")
    if data[:1] == b".":
        size += 1
    if data and not data.endswith(b"\r\n"):
        size += 2
    return size


def dot_unstuff(stuffed: bytes) -> bytes:
    """Inverse of :func:`dot_stuff` for a complete response body (terminator included).

    What a client does: drop the final ``".\\r\\n"`` line, and the first ``"."``
    of every line that starts with one.  Raises ``ValueError`` if the input
    is not terminated.  (Used by tests and tools; the server never unstuffs POP3.)
    """
    if stuffed == b".\r\n":
        return b""
    if not stuffed.endswith(b"\r\n.\r\n"):
        raise ValueError("multi-line body is not terminated by CRLF.CRLF")
    body = stuffed[:-3]
    if body[:1] == b".":
        body = body[1:]
    return body.replace(b"\n.", b"\n")


class DotStuffer:
    """Streaming dot-stuffer: ``feed(chunk)`` for each chunk, then ``end()``.

    Keeps only the last two octets seen; chunks may split the message anywhere
    (between CR and LF, between LF and ".").  The concatenated output equals
    ``dot_stuff(whole, final=True)``.
    """

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b"\r\n"

    def feed(self, data: bytes) -> bytes:
        out = dot_stuff(data, final=False, tail=self._tail)
        if data:
            self._tail = (self._tail + data[-2:])[-2:]
        return out

    def skip(self, tail: bytes) -> None:
        """Octets ending in ``tail`` went out without passing through :meth:`feed`
        (they needed no stuffing): only remember where the line stands."""
        if tail:
            self._tail = (self._tail + tail)[-2:]

    def end(self) -> bytes:
        return dot_stuff(b"", final=True, tail=self._tail)


# -- TOP --------------------------------------------------------------------------


def _body_offset(message: bytes) -> int:
    # The header section ends at the first empty line (RFC 5322 section 2.1).
    # A message that starts with an empty line has no header fields.
    if message.startswith(b"\r\n"):
        return 2
    if message.startswith(b"\n"):
        return 1
    crlf = message.find(b"\n\r\n")
    lf = message.find(b"\n\n")
    if crlf < 0 and lf < 0:
        return len(message)
    if lf < 0 or 0 <= crlf < lf:
        return crlf + 3
    return lf + 2


def top_of_message(message: bytes, lines: int, *, body_offset: int | None = None) -> bytes:
    """The TOP response content: header section, the blank line, then ``lines`` body lines.

    RFC 1939 section 7: "the server sends the headers of the message, the
    blank line separating the headers from the body, and then the number of
    lines of the indicated message's body, being careful to byte-stuff the
    termination character".  If ``lines`` exceeds the body, the whole message
    is returned; a message without a blank line is all header.  Pass
    ``body_offset`` (stored at delivery, DESIGN principle 2) to skip the
    header scan.  The result is raw: send it as a :class:`MultiLine` body.
    """
    if lines < 0:
        raise ValueError("lines must be >= 0")
    pos = _body_offset(message) if body_offset is None else body_offset
    for _ in range(lines):
        nl = message.find(b"\n", pos)
        if nl < 0:
            return message
        pos = nl + 1
    return message[:pos]


# -- CAPA ---------------------------------------------------------------------------

# Mechanisms that send the password in the clear: hidden where plaintext
# authentication is not allowed (as Dovecot does with disable_plaintext_auth).
_PLAINTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN"})


def capabilities(
    *,
    state: State = State.AUTHORIZATION,
    tls_active: bool = False,
    stls_available: bool = True,
    plaintext_allowed: bool = True,
    sasl_mechanisms: Sequence[str] = ("PLAIN", "SCRAM-SHA-256"),
    expire: int | Literal["NEVER"] | None = None,
    expire_per_user: bool = False,
    login_delay: int | None = None,
    login_delay_per_user: bool = False,
    implementation: str | None = "hivemail",
    utf8: bool = True,
    utf8_user: bool = False,
) -> list[str]:
    """The CAPA lines for a connection in ``state`` (RFC 2449 section 6).

    * USER only if plaintext is allowed (RFC 2449 section 6.2; Dovecot hides it
      too), and SASL without PLAIN/LOGIN in that case; no SASL line if empty.
    * STLS only in AUTHORIZATION and before TLS (RFC 2595 section 4: "present
      and permitted in the current state").
    * EXPIRE and LOGIN-DELAY get the ``USER`` token in AUTHORIZATION when the
      value differs per user (RFC 2449 sections 6.5 and 6.7), and should be
      the smallest value for any user there.
    * UTF8 [USER] (RFC 6856 section 2): ``USER`` if UTF-8 user names and
      passwords are accepted.
    """
    trans = state is State.TRANSACTION
    caps = ["TOP", "UIDL"]
    if plaintext_allowed:
        caps.append("USER")
    mechanisms = [m.upper() for m in sasl_mechanisms]
    if not plaintext_allowed:
        mechanisms = [m for m in mechanisms if m not in _PLAINTEXT_MECHANISMS]
    if mechanisms:
        caps.append("SASL " + " ".join(mechanisms))
    caps += ["RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
    if expire is not None:
        if expire != "NEVER" and (not isinstance(expire, int) or expire < 0):
            raise ValueError(f"EXPIRE must be a non-negative int or 'NEVER': {expire!r}")
        caps.append(f"EXPIRE {expire}" + (" USER" if expire_per_user and not trans else ""))
    if login_delay is not None:
        if login_delay < 0:
            raise ValueError("LOGIN-DELAY must be >= 0")
        caps.append(f"LOGIN-DELAY {login_delay}" + (" USER" if login_delay_per_user and not trans else ""))
    if implementation:
        caps.append(f"IMPLEMENTATION {implementation}")
    if stls_available and not tls_active and state is State.AUTHORIZATION:
        caps.append("STLS")
    if utf8:
        caps.append("UTF8 USER" if utf8_user else "UTF8")
    for cap in caps:
        if _TEXT_CONTROL.search(cap) or len(cap) + 2 > MAX_RESPONSE_LINE:
            raise ValueError(f"bad capability line: {cap!r}")
    return caps


def capa_response(caps: Iterable[str], text: str = "Capability list follows") -> MultiLine:
    """capa-resp = single-line *capability "." CRLF  (RFC 2449 section 3)."""
    return MultiLine(text, b"".join(cap.encode("ascii") + b"\r\n" for cap in caps))
