"""ManageSieve commands: request dataclasses, ``parse_*`` functions and the command table.

One module for every command, as for POP3: the command set is small and
uniform (an atom followed by strings and numbers).  Nothing here keeps
state; the connection (``connection.py``) owns the state machine and uses
:data:`COMMANDS`.

Grammar (RFC 5804 section 4), the command rules quoted above each parser::

    command          = (command-any / command-auth / command-nonauth) CRLF
    command-any      = command-capability / command-logout / command-noop
    command-auth     = command-getscript / command-setactive /
                       command-listscripts / command-deletescript /
                       command-putscript / command-checkscript /
                       command-havespace / command-renamescript /
                       command-unauthenticate
    command-nonauth  = command-authenticate / command-starttls

"Except as noted otherwise, all alphabetic characters are case-insensitive":
command names are matched upper-cased.  Every error is a :class:`ParseError`
whose text goes into a ``NO`` (ManageSieve has no ``BAD``).
"""

from __future__ import annotations

import base64
import binascii
import enum
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from .states import State
from .tokens import MAX_NUMBER, Atom, ParseError, String, Token, is_atom_char

__all__ = [
    "Request",
    "AuthenticateRequest",
    "StartTlsRequest",
    "LogoutRequest",
    "CapabilityRequest",
    "HaveSpaceRequest",
    "PutScriptRequest",
    "ListScriptsRequest",
    "SetActiveRequest",
    "GetScriptRequest",
    "DeleteScriptRequest",
    "RenameScriptRequest",
    "CheckScriptRequest",
    "NoopRequest",
    "UnauthenticateRequest",
    "ArgKind",
    "Args",
    "CommandSpec",
    "COMMANDS",
    "check_script_name",
    "decode_base64",
    "MAX_NAME_OCTETS",
]

#: RFC 5804 section 1.6: "Servers MUST allow names of up to 128 Unicode
#: characters in length (which can take up to 512 bytes ...), and MAY allow
#: longer names."  1024 octets is what quoted strings hold.
MAX_NAME_OCTETS = 1024


class Request:
    """Base class of the parsed commands.  ``NAME`` is the upper-case command name."""

    __slots__ = ()
    NAME: ClassVar[str] = ""


@dataclass(frozen=True)
class AuthenticateRequest(Request):
    """command-authenticate = "AUTHENTICATE" SP auth-type [SP string] *(CRLF string)
    auth-type = DQUOTE auth-type-name DQUOTE   (section 2.1)

    ``mechanism`` is upper-cased; ``initial_response`` is the decoded SASL
    initial response (``b""`` for ``""``), ``None`` when absent.  The
    ``*(CRLF string)`` client responses come later as ``AuthResponse`` events.
    """

    NAME: ClassVar[str] = "AUTHENTICATE"
    mechanism: str
    initial_response: bytes | None = None

    def __repr__(self) -> str:  # an initial response carries credentials
        ir = "None" if self.initial_response is None else f"<{len(self.initial_response)} octets>"
        return f"AuthenticateRequest(mechanism={self.mechanism!r}, initial_response={ir})"


@dataclass(frozen=True)
class StartTlsRequest(Request):
    """command-starttls = "STARTTLS"   (section 2.2)"""

    NAME: ClassVar[str] = "STARTTLS"


@dataclass(frozen=True)
class LogoutRequest(Request):
    """command-logout = "LOGOUT"   (section 2.3)"""

    NAME: ClassVar[str] = "LOGOUT"


@dataclass(frozen=True)
class CapabilityRequest(Request):
    """command-capability = "CAPABILITY"   (section 2.4)"""

    NAME: ClassVar[str] = "CAPABILITY"


@dataclass(frozen=True)
class HaveSpaceRequest(Request):
    """command-havespace = "HAVESPACE" SP sieve-name SP number   (section 2.5)"""

    NAME: ClassVar[str] = "HAVESPACE"
    name: str
    size: int


@dataclass(frozen=True)
class PutScriptRequest(Request):
    """command-putscript = "PUTSCRIPT" SP sieve-name SP sieve-script   (section 2.6)

    ``script`` is the octets as received: the validator decides what a
    valid script is (RFC 5228 scripts are UTF-8), and GETSCRIPT returns
    exactly what was stored.
    """

    NAME: ClassVar[str] = "PUTSCRIPT"
    name: str
    script: bytes

    def __repr__(self) -> str:
        return f"PutScriptRequest(name={self.name!r}, script=<{len(self.script)} octets>)"


@dataclass(frozen=True)
class ListScriptsRequest(Request):
    """command-listscripts = "LISTSCRIPTS"   (section 2.7)"""

    NAME: ClassVar[str] = "LISTSCRIPTS"


@dataclass(frozen=True)
class SetActiveRequest(Request):
    """command-setactive = "SETACTIVE" SP active-sieve-name   (section 2.8)

    ``name == ""`` disables the active script (never an error).
    """

    NAME: ClassVar[str] = "SETACTIVE"
    name: str


@dataclass(frozen=True)
class GetScriptRequest(Request):
    """command-getscript = "GETSCRIPT" SP sieve-name   (section 2.9)"""

    NAME: ClassVar[str] = "GETSCRIPT"
    name: str


@dataclass(frozen=True)
class DeleteScriptRequest(Request):
    """command-deletescript = "DELETESCRIPT" SP sieve-name   (section 2.10)"""

    NAME: ClassVar[str] = "DELETESCRIPT"
    name: str


@dataclass(frozen=True)
class RenameScriptRequest(Request):
    """command-renamescript = "RENAMESCRIPT" SP old-sieve-name SP new-sieve-name   (section 2.11)"""

    NAME: ClassVar[str] = "RENAMESCRIPT"
    old: str
    new: str


@dataclass(frozen=True)
class CheckScriptRequest(Request):
    """command-checkscript = "CHECKSCRIPT" SP sieve-script   (section 2.12)"""

    NAME: ClassVar[str] = "CHECKSCRIPT"
    script: bytes

    def __repr__(self) -> str:
        return f"CheckScriptRequest(script=<{len(self.script)} octets>)"


@dataclass(frozen=True)
class NoopRequest(Request):
    """command-noop = "NOOP" [SP string]   (section 2.13)

    ``tag`` is echoed back verbatim in ``OK (TAG ...)``; ``None`` when absent
    (then the TAG response code "MUST NOT be included").
    """

    NAME: ClassVar[str] = "NOOP"
    tag: bytes | None = None


@dataclass(frozen=True)
class UnauthenticateRequest(Request):
    """command-unauthenticate = "UNAUTHENTICATE"   (section 2.14.1)"""

    NAME: ClassVar[str] = "UNAUTHENTICATE"


# -- argument accessors ---------------------------------------------------------------


class ArgKind(enum.Enum):
    """What an argument position holds: decides the literal size limit for it."""

    NAME = "name"  # a script name: max_name_octets
    SCRIPT = "script"  # a script: max_script_size
    STRING = "string"  # SASL data, the NOOP tag, a mechanism: max_string
    NUMBER = "number"  # never a literal


# SASL mechanism names (RFC 4422 section 3.1): 1*20 of A-Z, 0-9, "-" and "_".
_SASL_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class Args:
    """The arguments of one command (after its name), read in order by a ``parse_*``.

    Each accessor consumes one argument or raises :class:`ParseError`;
    :meth:`end` checks that nothing is left.
    """

    def __init__(self, tokens: Sequence[Token], command: str, *, max_name: int = MAX_NAME_OCTETS) -> None:
        self._tokens = list(tokens)
        self._pos = 0
        self.command = command
        self.max_name = max_name

    def _next(self, what: str) -> Token:
        if self._pos >= len(self._tokens):
            raise ParseError(f"{self.command}: missing {what}")
        token = self._tokens[self._pos]
        self._pos += 1
        return token

    def more(self) -> bool:
        return self._pos < len(self._tokens)

    def string(self, what: str = "string") -> bytes:
        # string = quoted / literal-c2s / literal-s2c
        token = self._next(what)
        if not isinstance(token, String):
            raise ParseError(f"{self.command}: {what} must be a quoted string or a literal")
        return token.value

    def script_name(self, *, allow_empty: bool = False) -> str:
        # sieve-name = string  ;; section 1.6; empty string is not allowed
        # active-sieve-name = string  ;; ... empty string is allowed
        return check_script_name(self.string("script name"), allow_empty=allow_empty, max_octets=self.max_name)

    def number(self, what: str = "number") -> int:
        # number = (NZDIGIT *DIGIT) / "0"  ;; 32-bit unsigned, no extra leading zeros
        token = self._next(what)
        value = token.value if isinstance(token, Atom) else None
        if value is None or not value.isdigit() or not value.isascii():
            raise ParseError(f"{self.command}: {what} must be a number")
        if len(value) > 1 and value[0] == "0":
            raise ParseError(f"{self.command}: {what} has a leading zero")
        if len(value) > 10 or int(value) > MAX_NUMBER:
            raise ParseError(f"{self.command}: {what} is not a 32-bit number")
        return int(value)

    def end(self) -> None:
        if self._pos < len(self._tokens):
            raise ParseError(f"{self.command}: too many arguments")


def check_script_name(raw: bytes, *, allow_empty: bool = False, max_octets: int = MAX_NAME_OCTETS) -> str:
    """Validate a script name (RFC 5804 section 1.6) and return it as ``str``.

    "A script name MUST comply with Net-Unicode Definition (Section 2 of
    [NET-UNICODE]), with the additional restriction of prohibiting the
    following Unicode characters: 0000-001F, 007F, 0080-009F, 2028, 2029."
    Net-Unicode (RFC 5198 section 2) is UTF-8 in normalization form NFC
    without unassigned code points.  "A server that receives a script name
    longer than its internal limit MUST reject the corresponding operation,
    in particular it MUST NOT truncate the script name."
    """
    if not raw:
        if allow_empty:
            return ""
        raise ParseError("Script name must not be empty")
    if len(raw) > max_octets:
        raise ParseError(f"Script name longer than {max_octets} octets")
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("Script name is not valid UTF-8") from None
    for ch in name:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code <= 0x9F or code in (0x2028, 0x2029):
            raise ParseError("Script name contains a control character")
        if unicodedata.category(ch) == "Cn":
            raise ParseError("Script name contains an unassigned code point")
    if not unicodedata.is_normalized("NFC", name):
        raise ParseError("Script name is not in Unicode normalization form NFC")
    return name


def decode_base64(data: bytes) -> bytes:
    """Strict base64 (RFC 4648, padding required); raises ``ValueError``.

    RFC 5804 section 2.1: challenges and responses are "a base-64 encoding
    [BASE64] of the SASL data"; "an empty challenge/response is sent as an
    empty string".
    """
    if len(data) % 4:
        raise ValueError("base64 length is not a multiple of 4")
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


# -- parsers -----------------------------------------------------------------------------


def parse_authenticate(args: Args) -> AuthenticateRequest:
    # command-authenticate = "AUTHENTICATE" SP auth-type [SP string]
    # auth-type-name = iana-token  ;; as defined in SASL
    raw = args.string("mechanism")
    mechanism = raw.upper()
    if not 1 <= len(mechanism) <= 20 or not all(c in _SASL_NAME_CHARS for c in mechanism):
        raise ParseError("AUTHENTICATE: invalid SASL mechanism name")
    initial = None
    if args.more():
        try:
            initial = decode_base64(args.string("initial response"))
        except ValueError:
            raise ParseError("AUTHENTICATE: initial response is not valid base64") from None
    args.end()
    return AuthenticateRequest(mechanism.decode("ascii"), initial)


def _no_args(factory: Callable[[], Request]) -> Callable[[Args], Request]:
    def parse(args: Args) -> Request:
        args.end()
        return factory()

    parse.__name__ = f"parse_{factory.NAME.lower()}"  # type: ignore[attr-defined]
    return parse


def parse_havespace(args: Args) -> HaveSpaceRequest:
    # command-havespace = "HAVESPACE" SP sieve-name SP number
    name = args.script_name()
    size = args.number("script size")
    args.end()
    return HaveSpaceRequest(name, size)


def parse_putscript(args: Args) -> PutScriptRequest:
    # command-putscript = "PUTSCRIPT" SP sieve-name SP sieve-script
    # sieve-script = string
    name = args.script_name()
    script = args.string("script")
    args.end()
    return PutScriptRequest(name, script)


def parse_setactive(args: Args) -> SetActiveRequest:
    # command-setactive = "SETACTIVE" SP active-sieve-name
    name = args.script_name(allow_empty=True)
    args.end()
    return SetActiveRequest(name)


def parse_getscript(args: Args) -> GetScriptRequest:
    # command-getscript = "GETSCRIPT" SP sieve-name
    name = args.script_name()
    args.end()
    return GetScriptRequest(name)


def parse_deletescript(args: Args) -> DeleteScriptRequest:
    # command-deletescript = "DELETESCRIPT" SP sieve-name
    name = args.script_name()
    args.end()
    return DeleteScriptRequest(name)


def parse_renamescript(args: Args) -> RenameScriptRequest:
    # command-renamescript = "RENAMESCRIPT" SP old-sieve-name SP new-sieve-name
    old = args.script_name()
    new = args.script_name()
    args.end()
    return RenameScriptRequest(old, new)


def parse_checkscript(args: Args) -> CheckScriptRequest:
    # command-checkscript = "CHECKSCRIPT" SP sieve-script
    script = args.string("script")
    args.end()
    return CheckScriptRequest(script)


def parse_noop(args: Args) -> NoopRequest:
    # command-noop = "NOOP" [SP string]
    tag = args.string("tag") if args.more() else None
    args.end()
    return NoopRequest(tag)


# -- the command table -------------------------------------------------------------------

NOT_AUTH = frozenset({State.NOT_AUTHENTICATED})
AUTH = frozenset({State.AUTHENTICATED})
ANY = frozenset({State.NOT_AUTHENTICATED, State.AUTHENTICATED})


@dataclass(frozen=True)
class CommandSpec:
    """One row of the command table  [Dovecot imap-commands.c, h11 _state.py].

    ``allowed_states``: RFC 5804 section 4, ``command-any`` / ``command-auth``
    / ``command-nonauth``.  ``args``: the kind of each argument position, so
    the reader can bound a literal before reading it (a script may be
    ``max_script_size`` octets, a name only ``max_name_octets``) and stop a
    command with too many arguments early.
    """

    name: str
    parse: Callable[[Args], Request]
    allowed_states: frozenset[State]
    args: tuple[ArgKind, ...] = ()


COMMANDS: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec("AUTHENTICATE", parse_authenticate, NOT_AUTH, (ArgKind.STRING, ArgKind.STRING)),
        CommandSpec("STARTTLS", _no_args(StartTlsRequest), NOT_AUTH),
        CommandSpec("LOGOUT", _no_args(LogoutRequest), ANY),
        CommandSpec("CAPABILITY", _no_args(CapabilityRequest), ANY),
        CommandSpec("NOOP", parse_noop, ANY, (ArgKind.STRING,)),
        CommandSpec("HAVESPACE", parse_havespace, AUTH, (ArgKind.NAME, ArgKind.NUMBER)),
        CommandSpec("PUTSCRIPT", parse_putscript, AUTH, (ArgKind.NAME, ArgKind.SCRIPT)),
        CommandSpec("LISTSCRIPTS", _no_args(ListScriptsRequest), AUTH),
        CommandSpec("SETACTIVE", parse_setactive, AUTH, (ArgKind.NAME,)),
        CommandSpec("GETSCRIPT", parse_getscript, AUTH, (ArgKind.NAME,)),
        CommandSpec("DELETESCRIPT", parse_deletescript, AUTH, (ArgKind.NAME,)),
        CommandSpec("RENAMESCRIPT", parse_renamescript, AUTH, (ArgKind.NAME, ArgKind.NAME)),
        CommandSpec("CHECKSCRIPT", parse_checkscript, AUTH, (ArgKind.SCRIPT,)),
        CommandSpec("UNAUTHENTICATE", _no_args(UnauthenticateRequest), AUTH),
    )
}


def command_name(token: Token) -> str | None:
    """The upper-cased command name if ``token`` is an atom, else ``None``."""
    if isinstance(token, Atom) and all(is_atom_char(c) for c in token.value.encode("ascii")):
        return token.value.upper()
    return None
