"""Sieve grammar (RFC 5228 section 8.2) -> generic syntax tree, top to bottom.

    start        = commands
    commands     = *command
    command      = identifier arguments (";" / block)
    block        = "{" commands "}"
    arguments    = *argument [ test / test-list ]
    argument     = string-list / number / tag
    test         = identifier arguments
    test-list    = "(" test *("," test) ")"
    string-list  = "[" string *("," string) "]" / string
    string       = quoted-string / multi-line

The tree says nothing yet about which commands exist: ``validate.py`` does
that.  Two things are done here because they change string values:
encoded characters (section 2.4.2.4), which apply once "encoded-character" is
required, and the nesting bound, which keeps recursion far from Python's
stack limit whatever the input.
"""

from __future__ import annotations

import re

from . import lexer
from .errors import SieveError
from .lexer import Token
from .nodes import Argument, Command, Number, StringList, Tag, Test

# encoded-arb-octets   = "${hex:" hex-pair-seq "}"
# hex-pair-seq         = *blank hex-pair *(1*blank hex-pair) *blank
# hex-pair             = 1*2HEXDIG
# encoded-unicode-char = "${unicode:" unicode-hex-seq "}"
# unicode-hex-seq      = *blank unicode-hex *(1*blank unicode-hex) *blank
# unicode-hex          = 1*HEXDIG
# blank                = WSP / CRLF
_ENCODED = re.compile(r"\$\{(hex|unicode):([ \t\r\n]*[0-9a-f]+(?:[ \t\r\n]+[0-9a-f]+)*[ \t\r\n]*)\}", re.I)

# RFC 5229 section 3: "References to namespaces without a prior require
# statement for the relevant extension MUST cause an error."  No extension we
# implement defines a namespace, so any namespaced reference is one.
_NAMESPACED_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+\}")


def decode_encoded_characters(value: str) -> str | None:
    """Replace ``${hex:..}`` and ``${unicode:..}``; None when a value is not allowed.

    Malformed sequences stay verbatim (section 2.4.2.4: "is not an encoded
    character"); octets that are not UTF-8 and code points outside Unicode
    scalar values are errors.
    """
    bad = False

    def replace(m: re.Match[str]) -> str:
        nonlocal bad
        items = m.group(2).split()
        if m.group(1).lower() == "hex":
            if any(len(h) > 2 for h in items):
                return m.group(0)
            try:
                return bytes(int(h, 16) for h in items).decode("utf-8")
            except UnicodeDecodeError:
                bad = True
                return ""
        out = []
        for h in items:
            h = h.lstrip("0") or "0"
            cp = int(h, 16) if len(h) <= 6 else -1
            if not (0 <= cp <= 0xD7FF or 0xE000 <= cp <= 0x10FFFF):
                bad = True
                return ""
            out.append(chr(cp))
        return "".join(out)

    result = _ENCODED.sub(replace, value)
    return None if bad else result


class _Parser:
    def __init__(self, tokens: list[Token], max_nesting: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.max_nesting = max_nesting
        self.encoded_character = False
        self.variables = False
        self.seen_other_command = False

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != lexer.EOF:
            self.i += 1
        return tok

    def fail(self, tok: Token, message: str) -> SieveError:
        return SieveError(tok.line, tok.column, message)

    def expect(self, kind: str, what: str) -> Token:
        tok = self.peek()
        if tok.kind != kind:
            raise self.fail(tok, f"expected {what}, found {_describe(tok)}")
        return self.advance()

    def nest(self, tok: Token, depth: int) -> None:
        if depth > self.max_nesting:
            raise self.fail(tok, f"nesting deeper than {self.max_nesting}")

    # commands = *command
    def commands(self, depth: int) -> tuple[Command, ...]:
        out = []
        while self.peek().kind == lexer.IDENTIFIER:
            out.append(self.command(depth))
        return tuple(out)

    # command = identifier arguments (";" / block)
    def command(self, depth: int) -> Command:
        name_tok = self.advance()
        name = str(name_tok.value)
        is_require = name == "require" and depth == 0 and not self.seen_other_command
        if not is_require:
            self.seen_other_command = True
        arguments, tests = self.arguments(depth, literal=is_require)
        end = self.peek()
        block = None
        if end.kind == ";":
            self.advance()
        elif end.kind == "{":
            self.nest(end, depth + 1)
            self.advance()
            block = self.commands(depth + 1)
            self.expect("}", "'}' or a command")
        elif end.kind == lexer.EOF:
            raise self.fail(end, f"missing ';' after {name!r}")
        else:
            raise self.fail(end, f"expected ';' or '{{' after {name!r} and its arguments, found {_describe(end)}")
        if is_require:
            for arg in arguments:
                if isinstance(arg, StringList):
                    self.encoded_character |= "encoded-character" in arg.values
                    self.variables |= "variables" in arg.values
        return Command(name, arguments, tests, block, name_tok.line, name_tok.column)

    # arguments = *argument [ test / test-list ]
    def arguments(self, depth: int, literal: bool = False) -> tuple[tuple[Argument, ...], tuple[Test, ...]]:
        args: list[Argument] = []
        while True:
            tok = self.peek()
            if tok.kind in (lexer.STRING, "["):
                args.append(self.string_list(literal))
            elif tok.kind == lexer.NUMBER:
                self.advance()
                args.append(Number(int(tok.value), tok.line, tok.column))
            elif tok.kind == lexer.TAG:
                self.advance()
                args.append(Tag(str(tok.value), tok.line, tok.column))
            else:
                break
        tok = self.peek()
        if tok.kind == lexer.IDENTIFIER:
            return tuple(args), (self.test(depth + 1),)
        if tok.kind == "(":
            return tuple(args), self.test_list(depth + 1)
        return tuple(args), ()

    # test = identifier arguments
    def test(self, depth: int) -> Test:
        tok = self.expect(lexer.IDENTIFIER, "a test")
        self.nest(tok, depth)
        arguments, tests = self.arguments(depth)
        return Test(str(tok.value), arguments, tests, tok.line, tok.column)

    # test-list = "(" test *("," test) ")"
    def test_list(self, depth: int) -> tuple[Test, ...]:
        self.nest(self.advance(), depth)
        tests = [self.test(depth)]
        while self.peek().kind == ",":
            self.advance()
            tests.append(self.test(depth))
        self.expect(")", "',' or ')' in the test list")
        return tuple(tests)

    # string-list = "[" string *("," string) "]" / string
    def string_list(self, literal: bool) -> StringList:
        first = self.peek()
        if first.kind == lexer.STRING:
            self.advance()
            return StringList((self.string(first, literal),), first.line, first.column)
        self.advance()
        values = [self.string(self.expect(lexer.STRING, "a string in the list"), literal)]
        while self.peek().kind == ",":
            self.advance()
            values.append(self.string(self.expect(lexer.STRING, "a string after ','"), literal))
        self.expect("]", "',' or ']' in the string list")
        return StringList(tuple(values), first.line, first.column, bracketed=True)

    def string(self, tok: Token, literal: bool) -> str:
        value = str(tok.value)
        if literal:
            return value
        if self.encoded_character and "${" in value:
            decoded = decode_encoded_characters(value)
            if decoded is None:
                raise self.fail(tok, "encoded character is not valid UTF-8 or not a Unicode scalar value")
            value = decoded
        if self.variables and _NAMESPACED_REF.search(value):
            raise self.fail(tok, "variable namespaces are not supported")
        return value


def _describe(tok: Token) -> str:
    if tok.kind == lexer.EOF:
        return "end of script"
    if tok.kind == lexer.STRING:
        return "a string"
    if tok.kind == lexer.TAG:
        return f"':{tok.value}'"
    return repr(str(tok.value))


def parse_tree(text: str, *, max_nesting: int) -> tuple[Command, ...]:
    """Tokens -> commands, syntax only; raises SieveError."""
    parser = _Parser(lexer.tokenize(text), max_nesting)
    commands = parser.commands(0)
    tok = parser.peek()
    if tok.kind != lexer.EOF:
        if tok.kind == "}":
            raise parser.fail(tok, "'}' without a matching '{'")
        raise parser.fail(tok, f"expected a command, found {_describe(tok)}")
    return commands
