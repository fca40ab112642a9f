"""Sieve lexical tokens with line and column (RFC 5228 section 8.1).

Written top to bottom over the whole text: scripts are bounded by
``Limits.max_script_size`` before they get here, so there is nothing to
stream.  The RFC says CRLF; scripts uploaded from Unix editors say LF, and
every implementation we know of (Pigeonhole, sievelib) takes both, so do we.

    white-space    = 1*(SP / CRLF / HTAB) / comment
    comment        = bracket-comment / hash-comment
    bracket-comment = "/*" *not-star 1*STAR *(not-star-slash *not-star 1*STAR) "/"
    hash-comment   = "#" *octet-not-crlf CRLF
    identifier     = (ALPHA / "_") *(ALPHA / DIGIT / "_")
    tag            = ":" identifier
    number         = 1*DIGIT [ QUANTIFIER ]
    QUANTIFIER     = "K" / "M" / "G"
    quoted-string  = DQUOTE quoted-text DQUOTE
    multi-line     = "text:" *(SP / HTAB) (hash-comment / CRLF)
                     *(multiline-literal / multiline-dotstart) "." CRLF
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from .errors import SieveError

# Token kinds: the single-character ones are their own kind.
IDENTIFIER = "identifier"
TAG = "tag"
NUMBER = "number"
STRING = "string"
EOF = "end of script"
PUNCTUATION = frozenset("[](),;{}")

_QUANTIFIERS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
# RFC 5228 section 2.4.1 asks for at least 2**31; 20 digits is past 2**63 and
# keeps int() clear of CPython's 4300-digit conversion guard.
_MAX_DIGITS = 20
_LINE_END = re.compile(r"\r?\n")


@dataclass(frozen=True)
class Token:
    kind: str
    value: str | int
    line: int
    column: int
    multiline: bool = False


def _is_ident_start(c: str) -> bool:
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z")


def _is_ident_char(c: str) -> bool:
    return _is_ident_start(c) or ("0" <= c <= "9")


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def where(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def error(self, offset: int, message: str) -> SieveError:
        line, column = self.where(offset)
        return SieveError(line, column, message)

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        while True:
            self._skip_white_space()
            start = self.pos
            line, column = self.where(start)
            if start >= len(self.text):
                out.append(Token(EOF, "", line, column))
                return out
            c = self.text[start]
            if c in PUNCTUATION:
                self.pos += 1
                out.append(Token(c, c, line, column))
            elif c == '"':
                out.append(Token(STRING, self._quoted_string(), line, column))
            elif c == ":":
                self.pos += 1
                if self.pos >= len(self.text) or not _is_ident_start(self.text[self.pos]):
                    raise self.error(start, "':' must start a tagged argument such as :is")
                out.append(Token(TAG, self._identifier().lower(), line, column))
            elif "0" <= c <= "9":
                out.append(Token(NUMBER, self._number(), line, column))
            elif _is_ident_start(c):
                name = self._identifier()
                if name.lower() == "text" and self.text.startswith(":", self.pos):
                    self.pos += 1
                    out.append(Token(STRING, self._multi_line(start), line, column, multiline=True))
                else:
                    out.append(Token(IDENTIFIER, name.lower(), line, column))
            else:
                raise self.error(start, f"unexpected character {c!r}")

    def _skip_white_space(self) -> None:
        text = self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c in " \t\r\n":
                self.pos += 1
            elif c == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end + 1
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.error(self.pos, "unterminated /* comment")
                self.pos = end + 2
            else:
                return

    def _identifier(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and _is_ident_char(self.text[self.pos]):
            self.pos += 1
        return self.text[start : self.pos]

    def _number(self) -> int:
        start = self.pos
        while self.pos < len(self.text) and "0" <= self.text[self.pos] <= "9":
            self.pos += 1
        digits = self.text[start : self.pos]
        if len(digits) > _MAX_DIGITS:
            raise self.error(start, "number too large")
        value = int(digits)
        if self.pos < len(self.text) and self.text[self.pos].lower() in _QUANTIFIERS:
            value *= _QUANTIFIERS[self.text[self.pos].lower()]
            self.pos += 1
        return value

    def _quoted_string(self) -> str:
        # quoted-text = *(quoted-safe / quoted-special / quoted-other)
        # Section 2.4.2: "\\" and "\"" are the escapes; any other backslash is
        # dropped ("\a" is "a").  CRLF may appear inside the quotes.
        start = self.pos
        self.pos += 1
        text = self.text
        parts: list[str] = []
        while True:
            stop = self.pos
            while stop < len(text) and text[stop] not in '"\\\0':
                stop += 1
            chunk = text[self.pos : stop]
            # Line ends inside quotes are CRLF (section 2.4.2), whatever the upload used.
            parts.append(_LINE_END.sub("\r\n", chunk) if "\n" in chunk else chunk)
            if stop >= len(text):
                raise self.error(start, "unterminated quoted string")
            c = text[stop]
            if c == "\0":
                raise self.error(stop, "NUL is not allowed in a string")
            if c == '"':
                self.pos = stop + 1
                return "".join(parts)
            if stop + 1 >= len(text):
                raise self.error(start, "unterminated quoted string")
            if text[stop + 1] == "\0":
                raise self.error(stop + 1, "NUL is not allowed in a string")
            parts.append(text[stop + 1])
            self.pos = stop + 2

    def _multi_line(self, start: int) -> str:
        # "text:" *(SP / HTAB) (hash-comment / CRLF), then lines up to "." CRLF;
        # a line starting with "." has it doubled ("dot-stuffing", section 2.4.2).
        text = self.text
        while self.pos < len(text) and text[self.pos] in " \t":
            self.pos += 1
        if text.startswith("#", self.pos):
            end = text.find("\n", self.pos)
            self.pos = len(text) if end < 0 else end
        if text.startswith("\r\n", self.pos):
            self.pos += 2
        elif text.startswith("\n", self.pos):
            self.pos += 1
        else:
            raise self.error(self.pos, "text: must be followed by the end of the line")
        lines: list[str] = []
        while True:
            if self.pos >= len(text):
                raise self.error(start, "unterminated multi-line string (missing '.' line)")
            end = text.find("\n", self.pos)
            if end < 0:
                raise self.error(start, "unterminated multi-line string (missing '.' line)")
            line = text[self.pos : end]
            self.pos = end + 1
            if "\0" in line:
                raise self.error(self.pos, "NUL is not allowed in a string")
            bare = line[:-1] if line.endswith("\r") else line
            if bare == ".":
                return "".join(lines)
            if bare.startswith("."):
                bare = bare[1:]
            lines.append(bare + "\r\n")


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens ending with an ``EOF`` token; raises SieveError."""
    return _Lexer(text).tokens()
