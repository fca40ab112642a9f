"""The tokenizer: every token type, fed whole, byte by byte and in chunks."""

import pytest

from hivemail.imap_proto import IdRequest, LoginRequest, State
from hivemail.imap_proto.tokens import ArgList, Atom, Lexer, LiteralMarker, ParseError, String
from tests.unit.imap_proto._helpers import events_all_chunkings, parse_one


def lex(*segments: bytes, literals: tuple[bytes, ...] = ()):
    lexer = Lexer(max_nesting=4)
    pending = list(literals)
    for seg in segments:
        marker = lexer.feed_segment(seg)
        if marker is not None:
            lexer.feed_literal(pending.pop(0))
    return lexer.finish()


@pytest.mark.parametrize(
    "segment,expected",
    [
        (b"a NOOP", [Atom("a"), Atom("NOOP")]),
        (b'a "quoted \\"x\\" \\\\"', [Atom("a"), String(b'quoted "x" \\')]),
        (b'a ""', [Atom("a"), String(b"")]),
        (b"a ()", [Atom("a"), ArgList(())]),
        (b"a (b (c d) NIL)", [Atom("a"), ArgList((Atom("b"), ArgList((Atom("c"), Atom("d"))), Atom("NIL")))]),
        (b"a 1:*,3 \\Seen $Junk", [Atom("a"), Atom("1:*,3"), Atom("\\Seen"), Atom("$Junk")]),
        (b"a BODY[HEADER.FIELDS (A B)]<0.5> x", [Atom("a"), Atom("BODY[HEADER.FIELDS (A B)]<0.5>"), Atom("x")]),
        (b"a [Gmail]/Sent %", [Atom("a"), Atom("[Gmail]/Sent"), Atom("%")]),
        (b'a "caf\xc3\xa9"', [Atom("a"), String("café".encode())]),
    ],
)
def test_single_segment_tokens(segment, expected):
    assert lex(segment) == expected


def test_literals_and_literal8():
    assert lex(b"a {3}", b" {2+}", b" ~{2}", b"", literals=(b"x\r\n", b"yz", b"\x00\xff")) == [
        Atom("a"),
        String(b"x\r\n", literal=True),
        String(b"yz", literal=True),
        String(b"\x00\xff", literal=True, binary=True),
    ]


def test_literal_inside_list():
    assert lex(b"a (x {1}", b")", literals=(b"y",)) == [Atom("a"), ArgList((Atom("x"), String(b"y", literal=True)))]


def test_marker_reported():
    lexer = Lexer()
    assert lexer.feed_segment(b"a APPEND x ~{12+}") == LiteralMarker(12, False, True)


@pytest.mark.parametrize(
    "segment,fragment",
    [
        (b'a "open', "unterminated quoted string"),
        (b'a "bad \\n escape"', "invalid escape"),
        (b'a "tab\there"', "control character"),
        (b"a caf\xc3\xa9", "8-bit"),
        (b"a b\x01c", "control character"),
        (b"a (b", "missing ')'"),
        (b"a b)", "unbalanced ')'"),
        (b"a (b )", "space before ')'"),
        (b"a ( b)", "unexpected space"),
        (b"a  b", "unexpected space"),
        (b" a", "space at start"),
        (b"a b ", "space at end"),
        (b'a b"c"', "missing space"),
        (b"a (b)(c)", "missing space"),
        (b"a b{3}", "missing space"),
        (b"a {3} x", "must end the line"),
        (b"a {x}", "must end the line"),
        (b"a ((((((x))))))", "too deeply nested"),
    ],
)
def test_lexer_errors(segment, fragment):
    with pytest.raises(ParseError) as info:
        lex(segment)
    assert fragment in info.value.text


# -- through the connection, every chunking --------------------------------

@pytest.mark.parametrize(
    "line,expected",
    [
        (b"a LOGIN atom \"quoted\"", LoginRequest("atom", "quoted")),
        (b"a LOGIN {5}\r\nlit\r\n {3+}\r\nx y", LoginRequest("lit\r\n", "x y")),
        (b"a LOGIN ]odd] \"\"", LoginRequest("]odd]", "")),
        (b'a ID ("k" {1}\r\nv "k2" NIL)', IdRequest((("k", "v"), ("k2", None)))),
    ],
)
def test_tokens_through_connection_in_every_chunking(line, expected):
    assert parse_one(line, state=State.NOT_AUTHENTICATED, answer=False) == expected


def test_bare_lf_line_ends_are_tolerated():
    events = events_all_chunkings(b"a NOOP\nb NOOP\r\n")
    assert [e.tag for e in events] == ["a", "b"]
