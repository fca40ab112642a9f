"""Tokenizer: command bytes -> a tree of arguments  [Dovecot lib-imap imap-arg].

An IMAP command is one or more lines glued by literals::

    A1 APPEND Drafts (\\Seen) {5}\\r\\n      <- segment 1, ends with a literal marker
    hello                                  <- 5 bytes of literal data
    \\r\\n                                   <- segment 2 (may carry more arguments)

:class:`Lexer` is fed the segments (without their CRLF) and literal data in
order and builds the argument tree as it goes, so nothing is re-scanned when
data arrives in pieces.  The tree has three node types (RFC 9051 section 4):

* :class:`Atom`   -- a bare word: atoms, numbers, NIL, flags (``\\Seen``),
  sequence sets (``1:*``), list patterns (``%``), and FETCH attributes with
  their section (``BODY[HEADER.FIELDS (To)]<0.10>``: inside ``[...]`` spaces
  and parentheses belong to the word, as in Dovecot's ``imap-parser.c``).
* :class:`String` -- a quoted string or a literal (``literal`` tells which;
  ``binary`` marks literal8 ``~{n}``).
* :class:`ArgList` -- a parenthesized list.

Which word is an atom, a number or a mailbox is decided by the command
parsers, which call the typed accessors of :class:`Args`; each raises
:class:`ParseError` with a text fit for a ``BAD`` response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from . import grammar, utf7
from .seqset import SeqSet, SeqSetError, parse_seqset

__all__ = [
    "Atom",
    "String",
    "ArgList",
    "Arg",
    "Args",
    "Lexer",
    "LiteralMarker",
    "ParseError",
    "ParseContext",
]


class ParseError(ValueError):
    """The command is malformed.  ``str(err)`` is the BAD text; ``code`` an optional response code."""

    def __init__(self, text: str, code: str | None = None, status: str = "BAD") -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Atom:
    """A bare word, ASCII.  Validated later by the accessor that reads it."""

    value: str


@dataclass(frozen=True)
class String:
    """``quoted`` or ``literal`` (``literal=True``), or literal8 (``binary=True``)."""

    value: bytes
    literal: bool = False
    binary: bool = False


@dataclass(frozen=True)
class ArgList:
    items: tuple[Arg, ...]


Arg = Union[Atom, String, ArgList]


@dataclass(frozen=True)
class LiteralMarker:
    """A segment ended in ``{n}``, ``{n+}``, ``~{n}`` or ``~{n+}``."""

    size: int
    synchronizing: bool
    binary: bool


def find_literal_marker(segment: bytes) -> LiteralMarker | None:
    """The literal announced at the end of a raw segment, if any (for discarding bad commands)."""
    match = grammar.LITERAL_MARKER.search(segment)
    if match is None:
        return None
    return LiteralMarker(int(match.group(2)), not match.group(3), bool(match.group(1)))


_SP, _LP, _RP, _DQ, _BS, _LB, _RB, _LC, _TILDE = b" ()\"\\[]{~"
# Bytes that end a bare word (outside [...]).
_WORD_END = frozenset(b' ()"{') | frozenset(range(0x00, 0x20)) | {0x7F}


class Lexer:
    """Incremental tokenizer for one command.

    Call :meth:`feed_segment` with each line (CRLF stripped).  It returns a
    :class:`LiteralMarker` when the line announces a literal: feed the data
    with :meth:`feed_literal`, then the next line.  When a segment returns
    ``None`` the command is complete: :meth:`finish` returns the top-level
    arguments.  Errors raise :class:`ParseError`; the lexer is then unusable.
    """

    def __init__(self, max_nesting: int = 32) -> None:
        self.max_nesting = max_nesting
        self._stack: list[list[Arg]] = [[]]
        # What the next byte may be: "token" (start of line / after SP / after "(")
        # or "sep" (after a token or ")").
        self._expect = "token"
        self._after_open = False
        self._pending: LiteralMarker | None = None

    @property
    def top(self) -> list[Arg]:
        """The top-level arguments so far (tag, command name, ...)."""
        return self._stack[0]

    @property
    def depth(self) -> int:
        return len(self._stack) - 1

    def feed_segment(self, seg: bytes) -> LiteralMarker | None:
        if self._pending is not None:
            raise ParseError("literal data expected")
        i, n = 0, len(seg)
        while i < n:
            c = seg[i]
            if c == _SP:
                if self._expect != "sep":
                    raise ParseError("unexpected space" if i else "unexpected space at start of line")
                self._expect = "token"
                self._after_open = False
                i += 1
                if i == n:
                    raise ParseError("unexpected space at end of line")
                continue
            if c == _RP:
                if len(self._stack) == 1:
                    raise ParseError("unbalanced ')'")
                if self._expect != "sep" and not self._after_open:
                    raise ParseError("unexpected space before ')'")
                items = self._stack.pop()
                self._stack[-1].append(ArgList(tuple(items)))
                self._expect = "sep"
                self._after_open = False
                i += 1
                continue
            if c < 0x20 or c == 0x7F:
                raise ParseError("control character in command (use a literal)")
            if self._expect != "token":
                raise ParseError(f"missing space before {chr(c)!r}" if 0x20 < c < 0x7F else "missing space")
            if c == _LP:
                if len(self._stack) > self.max_nesting:
                    raise ParseError(f"too deeply nested parentheses (limit {self.max_nesting})", code="LIMIT")
                self._stack.append([])
                self._after_open = True
                i += 1
                continue
            self._after_open = False
            if c == _DQ:
                i = self._quoted(seg, i)
            elif c == _LC or (c == _TILDE and i + 1 < n and seg[i + 1] == _LC):
                marker = find_literal_marker(seg[i:])
                if marker is None or grammar.LITERAL_MARKER.fullmatch(seg[i:]) is None:
                    raise ParseError("invalid literal: {n} must end the line")
                self._pending = marker
                return marker
            else:
                i = self._word(seg, i)
            self._expect = "sep"
        return None

    def feed_literal(self, data: bytes) -> None:
        marker = self._pending
        if marker is None:
            raise ParseError("no literal expected")
        self._pending = None
        if not marker.binary and 0 in data:
            raise ParseError("NUL in a literal (use literal8 ~{n} for binary data)")
        self._stack[-1].append(String(data, literal=True, binary=marker.binary))
        self._expect = "sep"

    def finish(self) -> list[Arg]:
        if self._pending is not None:
            raise ParseError("literal data expected")
        if len(self._stack) != 1:
            raise ParseError("unbalanced '(': missing ')'")
        return self._stack[0]

    def _quoted(self, seg: bytes, i: int) -> int:
        # quoted          = DQUOTE *QUOTED-CHAR DQUOTE
        # QUOTED-CHAR     = <any TEXT-CHAR except quoted-specials> /
        #                   "\" quoted-specials / UTF8-2 / UTF8-3 / UTF8-4
        out = bytearray()
        i += 1
        n = len(seg)
        while i < n:
            c = seg[i]
            if c == _DQ:
                self._stack[-1].append(String(bytes(out)))
                return i + 1
            if c == _BS:
                if i + 1 < n and seg[i + 1] in (_DQ, _BS):
                    out.append(seg[i + 1])
                    i += 2
                    continue
                raise ParseError("invalid escape in quoted string (only \\\\ and \\\" are allowed)")
            if c < 0x20 or c == 0x7F:
                raise ParseError("control character in quoted string (use a literal)")
            out.append(c)
            i += 1
        raise ParseError("unterminated quoted string")

    def _word(self, seg: bytes, i: int) -> int:
        start = i
        n = len(seg)
        while i < n:
            c = seg[i]
            if c == _LB:
                close = seg.find(b"]", i + 1)
                if close >= 0:
                    i = close + 1
                    continue
            if c in _WORD_END:
                break
            if c >= 0x80:
                raise ParseError("8-bit characters must be sent in a quoted string or a literal")
            i += 1
        word = seg[start:i]
        if any(b < 0x20 or b == 0x7F for b in word):
            raise ParseError("control character in command")
        if any(b >= 0x80 for b in word):
            raise ParseError("8-bit characters must be sent in a quoted string or a literal")
        if not word:
            raise ParseError(f"unexpected character {chr(seg[i])!r}" if seg[i] >= 0x20 else "control character in command")
        self._stack[-1].append(Atom(word.decode("ascii")))
        return i


@dataclass(frozen=True)
class ParseContext:
    """What the parsers need to know about the connection.

    ``utf8``: mailbox names are UTF-8 (IMAP4rev2 or UTF8=ACCEPT enabled);
    otherwise they are modified UTF-7 (RFC 3501 section 5.1.3).
    """

    utf8: bool = False


def _describe(arg: Arg | None) -> str:
    if arg is None:
        return "end of command"
    if isinstance(arg, Atom):
        return repr(arg.value if len(arg.value) < 40 else arg.value[:37] + "...")
    if isinstance(arg, String):
        return "a literal" if arg.literal else "a quoted string"
    return "a parenthesized list"


class Args:
    """A cursor over a list of arguments with typed accessors.

    Every accessor consumes one argument or raises :class:`ParseError`
    naming what was expected and what was found.
    """

    def __init__(self, items: list[Arg] | tuple[Arg, ...], ctx: ParseContext, what: str = "") -> None:
        self.items = tuple(items)
        self.pos = 0
        self.ctx = ctx
        self.what = what  # command name, for error texts

    # -- primitives --------------------------------------------------------

    def error(self, text: str, code: str | None = None) -> ParseError:
        return ParseError(f"{self.what}: {text}" if self.what else text, code)

    def at_end(self) -> bool:
        return self.pos >= len(self.items)

    def peek(self) -> Arg | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def peek_keyword(self) -> str | None:
        arg = self.peek()
        return arg.value.upper() if isinstance(arg, Atom) else None

    def next(self, expected: str) -> Arg:
        arg = self.peek()
        if arg is None:
            raise self.error(f"missing {expected}")
        self.pos += 1
        return arg

    def unexpected(self, expected: str, arg: Arg | None) -> ParseError:
        return self.error(f"expected {expected}, got {_describe(arg)}")

    def end(self) -> None:
        if not self.at_end():
            raise self.error(f"unexpected extra argument {_describe(self.peek())}")

    # -- typed accessors ---------------------------------------------------

    def atom(self, expected: str = "an atom") -> str:
        arg = self.next(expected)
        if not isinstance(arg, Atom) or not grammar.is_atom(arg.value):
            raise self.unexpected(expected, arg)
        return arg.value

    def keyword(self, expected: str = "a keyword") -> str:
        return self.atom(expected).upper()

    def raw_word(self, expected: str) -> str:
        arg = self.next(expected)
        if not isinstance(arg, Atom):
            raise self.unexpected(expected, arg)
        return arg.value

    def astring_bytes(self, expected: str = "a string") -> bytes:
        # astring = 1*ASTRING-CHAR / string
        arg = self.next(expected)
        if isinstance(arg, String):
            return arg.value
        if isinstance(arg, Atom) and grammar.is_astring_chars(arg.value):
            return arg.value.encode("ascii")
        raise self.unexpected(expected, arg)

    def astring(self, expected: str = "a string") -> str:
        return self.astring_bytes(expected).decode("utf-8", "surrogateescape")

    def string_bytes(self, expected: str = "a string") -> bytes:
        arg = self.next(expected)
        if isinstance(arg, String):
            return arg.value
        raise self.unexpected(expected + " (quoted or literal)", arg)

    def nstring(self, expected: str = "a string or NIL") -> str | None:
        # nstring = string / nil
        arg = self.next(expected)
        if isinstance(arg, Atom) and arg.value.upper() == "NIL":
            return None
        if isinstance(arg, String):
            return arg.value.decode("utf-8", "surrogateescape")
        raise self.unexpected(expected, arg)

    def number(self, expected: str = "a number", *, nonzero: bool = False, bits64: bool = False) -> int:
        arg = self.next(expected)
        if not isinstance(arg, Atom) or not arg.value.isascii() or not arg.value.isdigit():
            raise self.unexpected(expected, arg)
        value = int(arg.value)
        limit = grammar.MAX_NUMBER64 if bits64 else grammar.MAX_NUMBER
        if value > limit:
            raise self.error(f"{expected} {arg.value} is too large")
        if nonzero and value == 0:
            raise self.error(f"{expected} must not be zero")
        return value

    def list(self, expected: str = "a parenthesized list") -> Args:
        arg = self.next(expected)
        if not isinstance(arg, ArgList):
            raise self.unexpected(expected, arg)
        return Args(arg.items, self.ctx, self.what)

    def list_or_one(self, expected: str) -> Args:
        """A parenthesized list, or a single argument treated as a one-item list."""
        arg = self.next(expected)
        if isinstance(arg, ArgList):
            return Args(arg.items, self.ctx, self.what)
        return Args((arg,), self.ctx, self.what)

    def seqset(self, expected: str = "a sequence set", *, allow_saved: bool = True) -> SeqSet:
        arg = self.next(expected)
        if not isinstance(arg, Atom):
            raise self.unexpected(expected, arg)
        try:
            return parse_seqset(arg.value, allow_saved=allow_saved)
        except SeqSetError as exc:
            raise self.error(str(exc)) from None

    def mailbox(self, expected: str = "a mailbox name") -> str:
        # mailbox = "INBOX" / astring
        #   ; INBOX is case-insensitive.  All case variants of INBOX (e.g.,
        #   ; "iNbOx") MUST be interpreted as INBOX not as an astring.
        return self.decode_mailbox(self.astring_bytes(expected))

    def list_mailbox(self, expected: str = "a mailbox pattern") -> str:
        # list-mailbox    = 1*list-char / string
        arg = self.next(expected)
        if isinstance(arg, String):
            raw = arg.value
        elif isinstance(arg, Atom) and grammar.LIST_MAILBOX.fullmatch(arg.value.encode("ascii")):
            raw = arg.value.encode("ascii")
        else:
            raise self.unexpected(expected, arg)
        return self.decode_mailbox(raw, inbox=False)

    def decode_mailbox(self, raw: bytes, *, inbox: bool = True) -> str:
        if self.ctx.utf8:
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise self.error("mailbox name is not valid UTF-8") from None
        else:
            try:
                name = utf7.decode(raw)
            except utf7.Utf7Error as exc:
                raise self.error(f"mailbox name is not valid modified UTF-7: {exc}") from None
        if any(ch < " " or ch == "\x7f" for ch in name):
            raise self.error("control character in mailbox name")
        if inbox and name.upper() == "INBOX":
            return "INBOX"
        return name

    def flag(self, expected: str = "a flag") -> str:
        # flag            = "\Answered" / ... / flag-keyword / flag-extension
        # flag-extension  = "\" atom
        arg = self.next(expected)
        if not isinstance(arg, Atom) or grammar.FLAG.fullmatch(arg.value.encode("ascii")) is None:
            raise self.unexpected(expected, arg)
        return _canonical_flag(arg.value)

    def flag_list(self, expected: str = "a flag list") -> tuple[str, ...]:
        # flag-list       = "(" [flag *(SP flag)] ")"
        inner = self.list(expected)
        flags = []
        while not inner.at_end():
            flags.append(inner.flag())
        return tuple(flags)


_SYSTEM_FLAGS = {f.lower(): f for f in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent")}


def _canonical_flag(flag: str) -> str:
    """System flags are case-insensitive: give them their canonical spelling."""
    return _SYSTEM_FLAGS.get(flag.lower(), flag)
