"""ManageSieve tokens: atoms, numbers, quoted strings and literals  [RFC 5804 section 4].

A ManageSieve command is one line, or several lines glued by literals::

    PUTSCRIPT "foo" {31+}\\r\\n        <- segment 1, ends with a literal marker
    #comment\\r\\nInvalidSieveCommand\\r\\n  <- 31 octets of literal data
    \\r\\n                            <- segment 2: empty, so the command ends

:func:`lex_segment` turns one segment (its line end already stripped) into
tokens and tells whether a literal follows.  It is a pure function: the
connection reads the lines and the literal data with the generator
``StreamReader`` and calls it once per segment, so nothing is re-scanned
when bytes arrive in pieces.  Errors raise :class:`ParseError`, whose text
is fit for a ``NO`` response.

The formatting half, :func:`format_string`, picks quoted or literal for a
string the server sends.

Grammar (RFC 5804 section 4), quoted where each rule is implemented::

    command   = (command-any / command-auth / command-nonauth) CRLF
    string    = quoted / literal-c2s / literal-s2c
    number    = (NZDIGIT *DIGIT) / "0"   ;; 32-bit unsigned, no leading zeros
    atom      = 1*1024ATOM-CHAR
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

__all__ = [
    "Atom",
    "String",
    "Token",
    "LiteralMarker",
    "ParseError",
    "lex_segment",
    "find_literal_marker",
    "format_string",
    "is_atom_char",
    "MAX_NUMBER",
    "MAX_ATOM",
]

#: number: "A 32-bit unsigned number ... (0 <= n < 4,294,967,296)".
MAX_NUMBER = 2**32 - 1
#: atom = 1*1024ATOM-CHAR
MAX_ATOM = 1024


class ParseError(ValueError):
    """The command is malformed; ``text`` is the human-readable ``NO`` text."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True)
class Atom:
    """A bare word (command names, numbers, ``ACTIVE``).  ASCII by construction."""

    value: str


@dataclass(frozen=True)
class String:
    """A quoted string (unescaped) or a literal's data (``literal=True``).

    Quoted strings are valid UTF-8 (``SAFE-UTF8-CHAR``); literal data is any
    octets: what a string must be is decided by the argument it fills
    (a script name, a script, base64).
    """

    value: bytes
    literal: bool = False

    def __repr__(self) -> str:
        shown = self.value if len(self.value) <= 40 else self.value[:37] + b"..."
        return f"String({shown!r}, literal={self.literal})"


Token = Union[Atom, String]


@dataclass(frozen=True)
class LiteralMarker:
    """A segment ended in ``{n+}`` (``synchronizing=False``) or ``{n}``.

    ManageSieve has no continuation response ("+ ..."), so both kinds are
    read the same way: the data follows the line end at once.  RFC 5804
    only defines ``literal-c2s = "{" number "+}"`` for clients, and
    Pigeonhole reads a client's ``{n}`` exactly like ``{n+}``; we do the
    same rather than leave such a client hanging.  A client that waits for
    an IMAP-style ``+`` would hang with either choice.
    """

    size: int
    synchronizing: bool


# ATOM-CHAR = "!" / %x23-27 / %x2A-5B / %x5D-7A / %x7C-7E
#             ;; Any CHAR except ATOM-SPECIALS
# ATOM-SPECIALS = "(" / ")" / "{" / SP / CTL / QUOTED-SPECIALS
_ATOM_CHARS = frozenset([0x21, *range(0x23, 0x28), *range(0x2A, 0x5C), *range(0x5D, 0x7B), *range(0x7C, 0x7F)])

# SAFE-CHAR = %x01-09 / %x0B-0C / %x0E-21 / %x23-5B / %x5D-7F
#             ;; any TEXT-CHAR except QUOTED-SPECIALS
# QUOTED-SPECIALS = DQUOTE / "\"
# (Octets >= 0x80 are checked as UTF-8 over the whole string: SAFE-UTF8-CHAR.)
_UNSAFE_IN_QUOTED = frozenset([0x00, 0x0A, 0x0D])

# literal-c2s = "{" number "+}" CRLF *OCTET   (and literal-s2c, "{" number "}")
# At most 10 digits: anything longer is over 2**32 anyway, and the cap keeps
# int() of a hostile digit string cheap.
_LITERAL_MARKER = re.compile(rb"\{([0-9]{1,10})(\+?)\}\Z")
_LITERAL_AT_END = re.compile(rb"\{([0-9]+)(\+?)\}\Z")

_SP, _DQUOTE, _BACKSLASH, _LBRACE = 0x20, 0x22, 0x5C, 0x7B


def is_atom_char(c: int) -> bool:
    return c in _ATOM_CHARS


def find_literal_marker(segment: bytes) -> LiteralMarker | None:
    """The literal announced at the end of a raw segment, if any.

    For discarding a refused command: its literal data follows regardless
    (no literal waits for the server in ManageSieve), and skipping it keeps
    the next command in sync.  A size over 32 bits is returned as is; the
    caller bounds it.
    """
    match = _LITERAL_AT_END.search(segment.rstrip(b" "))
    if match is None:
        return None
    digits = match.group(1)
    size = int(digits) if len(digits) <= 20 else 10**20
    return LiteralMarker(size, not match.group(2))


def lex_segment(
    segment: bytes, *, continuation: bool, max_quoted: int = 1024
) -> tuple[list[Token], LiteralMarker | None]:
    """Tokens of one segment, and the literal it announces at its end.

    ``continuation`` is true for a segment that follows literal data: it is
    either empty (the command ends) or starts with the space before the
    next argument.  The first segment starts with the command name.

    Trailing spaces are tolerated (some clients send ``LOGOUT \\r\\n``);
    everything else follows the grammar: one SP between arguments.
    """
    segment = segment.rstrip(b" ")
    n = len(segment)
    pos = 0
    tokens: list[Token] = []
    if continuation:
        if n == 0:
            return tokens, None
        if segment[0] != _SP:
            raise ParseError("Expected a space or the end of the command after a literal")
        pos = 1
    elif n == 0:
        raise ParseError("Empty command")
    while True:
        if pos >= n:
            raise ParseError("Missing argument after a space")
        c = segment[pos]
        if c == _DQUOTE:
            value, pos = _quoted(segment, pos, max_quoted)
            tokens.append(String(value))
        elif c == _LBRACE:
            return tokens, _literal_marker(segment, pos)
        elif c in _ATOM_CHARS:
            start = pos
            while pos < n and segment[pos] in _ATOM_CHARS:
                pos += 1
            if pos - start > MAX_ATOM:
                raise ParseError(f"Atom longer than {MAX_ATOM} characters")
            tokens.append(Atom(segment[start:pos].decode("ascii")))
        elif c == _SP:
            raise ParseError("Unexpected space")
        else:
            raise ParseError(f"Unexpected character 0x{c:02X}")
        if pos == n:
            return tokens, None
        if segment[pos] != _SP:
            raise ParseError("Expected a space between arguments")
        pos += 1


def _quoted(segment: bytes, pos: int, max_quoted: int) -> tuple[bytes, int]:
    """``pos`` is at the opening DQUOTE; return (value, position after the closing one).

    quoted      = DQUOTE *1024QUOTED-CHAR DQUOTE
                  ;; limited to 1024 octets between the <">s
    QUOTED-CHAR = SAFE-UTF8-CHAR / "\\" QUOTED-SPECIALS
    """
    start = pos + 1
    i = start
    n = len(segment)
    out = bytearray()
    while True:
        if i >= n:
            raise ParseError("Unterminated quoted string")
        c = segment[i]
        if c == _DQUOTE:
            break
        if c == _BACKSLASH:
            if i + 1 >= n:
                raise ParseError("Unterminated quoted string")
            escaped = segment[i + 1]
            if escaped not in (_DQUOTE, _BACKSLASH):
                raise ParseError("Only \\\" and \\\\ may be escaped in a quoted string")
            out.append(escaped)
            i += 2
            continue
        if c in _UNSAFE_IN_QUOTED:
            raise ParseError("Quoted string contains NUL, CR or LF")
        out.append(c)
        i += 1
    if i - start > max_quoted:
        raise ParseError(f"Quoted string longer than {max_quoted} octets (use a literal)")
    value = bytes(out)
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("Quoted string is not valid UTF-8") from None
    return value, i + 1


def _literal_marker(segment: bytes, pos: int) -> LiteralMarker:
    # A literal marker must end the segment: its data follows the line end.
    match = _LITERAL_MARKER.match(segment, pos)
    if match is None:
        if _LITERAL_AT_END.match(segment, pos):
            raise ParseError("Literal size too large")
        raise ParseError("Invalid literal: expected {size+} at the end of the line")
    digits = match.group(1)
    if len(digits) > 1 and digits.startswith(b"0"):
        raise ParseError("Invalid literal size: leading zero")
    size = int(digits)
    if size > MAX_NUMBER:
        raise ParseError("Literal size too large")
    return LiteralMarker(size, not match.group(2))


# -- formatting ---------------------------------------------------------------------


def format_string(value: bytes | str, *, max_quoted: int = 1024) -> bytes:
    """A server string: quoted when it can be, else ``literal-s2c``.

    Quoted needs at most ``max_quoted`` octets of valid UTF-8 without NUL,
    CR or LF.  Strings containing ``"`` or ``\\`` are sent as literals too,
    as in RFC 5804 section 2.7 (``{13}`` ``clever"script``): escaping is
    legal, but literals are what every client parses correctly.
    """
    data = value.encode("utf-8") if isinstance(value, str) else value
    if len(data) <= max_quoted and not (_UNSAFE_IN_QUOTED.intersection(data) or b'"' in data or b"\\" in data):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return b'"' + data + b'"'
    return b"{%d}\r\n" % len(data) + data
