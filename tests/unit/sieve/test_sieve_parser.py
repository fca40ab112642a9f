"""parse(): syntax and validation errors with line and column; strings, comments, limits."""

from __future__ import annotations

import pytest

from hivemail.sieve import EXTENSIONS, SieveError, parse
from hivemail.sieve.lexer import tokenize
from hivemail.sieve.nodes import StringList


def error_of(script: str, **kw: int) -> tuple[int, int, str]:
    with pytest.raises(SieveError) as err:
        parse(script, **kw)
    return err.value.line, err.value.column, err.value.message


@pytest.mark.parametrize(
    "script, line, column, words",
    [
        ("keep\ndiscard;", 2, 1, "missing ';' before 'discard'"),  # missing semicolon
        ("keep", 1, 5, "missing ';'"),
        ('if true {\n  keep;\n  frobnicate "x";\n}', 3, 3, "unknown command 'frobnicate'"),
        ('fileinto "x";', 1, 1, 'needs require "fileinto"'),
        ('require "fileinto";\nkeep :copy;', 2, 6, "unknown tagged argument ':copy'"),
        ('require "fileinto";\nfileinto :copy "x";', 2, 10, 'needs require "copy"'),
        ('if header :is :contains "a" "b" { keep; }', 1, 15, "cannot be used with ':is'"),
        ('if header :comparator "i;bogus" "a" "b" { keep; }', 1, 23, "unknown comparator"),
        ('if header :comparator "i;ascii-numeric" "a" "b" { keep; }', 1, 23, "comparator-i;ascii-numeric"),
        ('if header :comparator :is "a" "b" { keep; }', 1, 11, "needs a string argument"),
        ('require "x-unknown";', 1, 9, "unsupported extension"),
        ('keep;\nrequire "fileinto";', 2, 1, "must come before"),
        ('if true { keep; }\nelse { discard; }\nelse { keep; }', 3, 1, "must follow"),
        ('elsif true { keep; }', 1, 1, "must follow"),
        ('redirect "a@b" "c@d";', 1, 16, "takes 1 positional"),
        ('redirect;', 1, 1, "takes 1 positional"),
        ('redirect ["a@b"];', 1, 10, "expects a string"),
        ('if header "a" :is "b" { keep; }', 1, 15, "after positional"),
        ('if size 100 { keep; }', 1, 4, "needs :over or :under"),
        ('keep { }', 1, 1, "takes no block"),
        ("if true;", 1, 1, "needs a block"),
        ('if header :is "a" "b" true { keep; }', 1, 23, "takes no test"),
        ('if "x" { keep; }', 1, 4, "takes 0 positional"),
        ('"x";', 1, 1, "expected a command"),
        ("}", 1, 1, "without a matching"),
        ("if true { keep;", 1, 16, "'}'"),
        ('discard;\nkeep :x;', 2, 6, "unknown tagged argument"),
        ("keep\n  :", 2, 3, "':' must start"),
        ('if header :count "gt" "a" "1" { keep; }', 1, 11, 'needs require "relational"'),
        ('require "relational"; if header :value "gg" "a" "1" { keep; }', 1, 40, "relational operator"),
        ('require "variables"; set "1x" "y";', 1, 26, "not a variable name"),
        ('require "date"; if currentdate "fortnight" "1" { keep; }', 1, 32, "date-part"),
        ('require "index"; if header :last "a" "b" { keep; }', 1, 21, ":last' needs ':index'"),
        ('keep; @', 1, 7, "unexpected character"),
    ],
)
def test_errors_have_line_and_column(script: str, line: int, column: int, words: str) -> None:
    got_line, got_column, message = error_of(script)
    assert words in message
    assert (got_line, got_column) == (line, column), message


@pytest.mark.parametrize(
    "script, line, column, words",
    [
        ('keep;\nredirect "abc', 2, 10, "unterminated quoted string"),
        ('keep;\n/* never closed\nkeep;', 2, 1, "unterminated /* comment"),
        ('require "vacation";\nvacation text:\nline\n', 2, 10, "unterminated multi-line"),
        ("vacation text: x\n.\n;", 1, 16, "end of the line"),
        ("keep;\n\0", 2, 1, "unexpected character"),
        ('redirect "a\0b";', 1, 12, "NUL"),
        ("if size :over 123456789012345678901234567890 { keep; }", 1, 15, "number too large"),
    ],
)
def test_lexical_errors(script: str, line: int, column: int, words: str) -> None:
    got_line, got_column, message = error_of(script)
    assert words in message
    assert (got_line, got_column) == (line, column), message


def test_error_text_carries_position_for_managesieve() -> None:
    with pytest.raises(SieveError) as err:
        parse("keep;\nbogus;")
    assert str(err.value).startswith("line 2, column 1: ")


def test_multiline_string_with_dot_stuffing_and_hash_comment() -> None:
    script = 'require "vacation";\nvacation text: # a comment\nfirst\n..second\n..\n.\n;\n'
    reason = parse(script).commands[1].positional[0]
    assert isinstance(reason, StringList)
    assert reason.values == ("first\r\n.second\r\n.\r\n",)


def test_multiline_with_crlf_line_ends() -> None:
    tokens = tokenize("text:\r\nhello\r\n.\r\n;")
    assert tokens[0].value == "hello\r\n" and tokens[0].multiline


@pytest.mark.parametrize(
    "quoted, value",
    [
        (r'"a\"b"', 'a"b'),
        (r'"a\\b"', "a\\b"),
        (r'"\a\b"', "ab"),  # section 2.4.2: other escapes drop the backslash
        ('"two\nlines"', "two\r\nlines"),
    ],
)
def test_quoted_string_escapes(quoted: str, value: str) -> None:
    assert tokenize(quoted)[0].value == value


def test_numbers_with_quantifiers() -> None:
    assert [t.value for t in tokenize("1 1K 1k 2M 3G")[:-1]] == [1, 1024, 1024, 2 << 20, 3 << 30]


def test_identifiers_and_tags_are_case_insensitive() -> None:
    script = parse('REQUIRE "fileinto"; IF Header :IS "Subject" "x" { FileInto "a"; }')
    assert script.commands[1].name == "if"
    assert script.commands[1].tests[0].tagged == (("is", None),)


def test_comments_everywhere() -> None:
    script = parse('# top\nif /* a */ header /* b */ :is /* c */ "a" # d\n "b" { keep; # e\n} /* f */')
    assert script.commands[0].tests[0].name == "header"


@pytest.mark.parametrize(
    "encoded, value",
    [
        ('"$${hex:40}"', "$@"),
        ('"${hex: 40 }"', "@"),
        ('"${HEX: 40}"', "@"),
        ('"${hex:40"', "${hex:40"),
        ('"${hex:400}"', "${hex:400}"),
        ('"${hex:4${hex:30}}"', "${hex:40}"),
        ('"${unicode:40}"', "@"),
        ('"${ unicode:40}"', "${ unicode:40}"),
        ('"${UNICODE:40}"', "@"),
        ('"${UnICoDE:0000040}"', "@"),
        ('"${Unicode:40}"', "@"),
        ('"${Unicode:Cool}"', "${Unicode:Cool}"),
        ('"${hex:e2 82 ac}"', "\u20ac"),
    ],
)
def test_encoded_character_table_section_2_4_2_4(encoded: str, value: str) -> None:
    script = parse(f'require ["encoded-character", "fileinto"]; fileinto {encoded};')
    assert script.commands[1].positional[0].values == (value,)  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ['"${unicode:200000}"', '"${unicode:D800}"', '"${hex:ff}"'])
def test_encoded_character_errors(bad: str) -> None:
    with pytest.raises(SieveError):
        parse(f'require ["encoded-character", "fileinto"]; fileinto {bad};')


def test_encoded_character_needs_require() -> None:
    script = parse('require "fileinto"; fileinto "${hex:40}";')
    assert script.commands[1].positional[0].values == ("${hex:40}",)  # type: ignore[union-attr]


def test_size_limit_counts_octets() -> None:
    assert error_of("keep;" + " " * 100, max_size=100)[2].startswith("script is 105 octets")
    parse("keep;" + " " * 95, max_size=100)


def test_nesting_limit_covers_blocks_and_tests() -> None:
    blocks = "if true { " * 5 + "keep;" + " }" * 5
    parse(blocks, max_nesting=5)
    assert "nesting" in error_of(blocks, max_nesting=4)[2]
    nots = "if " + "not " * 40 + "true { keep; }"
    assert "nesting" in error_of(nots)[2]
    deep = "if " + "anyof(" * 100 + "true" + ")" * 100 + " { keep; }"
    assert "nesting" in error_of(deep)[2]


def test_anyof_accepts_a_single_test_without_parentheses() -> None:
    # RFC 5232 section 9 writes "anyof address ..."; the grammar allows it.
    parse('if anyof address :is "to" "a@b" { keep; }')


def test_every_announced_extension_can_be_required() -> None:
    script = parse("require [" + ", ".join(f'"{e}"' for e in EXTENSIONS) + "];")
    assert script.extensions == frozenset(EXTENSIONS)


def test_mandatory_comparators_may_be_required() -> None:
    parse('require ["comparator-i;octet", "comparator-i;ascii-casemap"];')


def test_namespaced_variable_is_an_error() -> None:
    assert "namespace" in error_of('require "variables"; set "a" "${env.x}";')[2]
