"""Comparator and match-type tables (RFC 4790, RFC 5228 section 2.7, RFC 5231)."""

from __future__ import annotations

import pytest

from hivemail.sieve.comparators import COMPARATORS, contains, is_match, matches, relational

OCTET, CASEMAP, NUMERIC = (COMPARATORS[n] for n in ("i;octet", "i;ascii-casemap", "i;ascii-numeric"))


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("1", "2", -1),
        ("10", "9", 1),
        ("007", "7", 0),
        ("42abc", "42", 0),  # only the leading digits count
        ("abc", "99999999999999999999999", 1),  # no digits: positive infinity
        ("abc", "xyz", 0),  # all infinities are equal
        ("", "0", 1),
        ("1" * 5000, "9", 1),  # no int() conversion limit
        ("0", "00", 0),
    ],
)
def test_ascii_numeric_ordering(a: str, b: str, expected: int) -> None:
    assert NUMERIC.compare(a, b) == expected
    assert NUMERIC.compare(b, a) == -expected


@pytest.mark.parametrize(
    "comp, a, b, equal",
    [
        (OCTET, "Hello", "hello", False),
        (CASEMAP, "Hello", "hELLO", True),
        (CASEMAP, "\u00c9t\u00e9", "\u00e9t\u00e9", False),  # only ASCII letters fold
        (OCTET, "\u00e9", "\u00e9", True),
    ],
)
def test_is(comp, a: str, b: str, equal: bool) -> None:
    assert is_match(comp, a, b) is equal


def test_contains_empty_key_always_matches() -> None:
    assert contains(CASEMAP, "", "") and contains(OCTET, "abc", "")
    assert contains(CASEMAP, "Make MONEY fast", "money") and not contains(OCTET, "Make MONEY fast", "money")


@pytest.mark.parametrize(
    "value, pattern, captures",
    [
        ("", "*", ["", ""]),
        ("abc", "*", ["abc", "abc"]),
        ("abc", "a?c", ["abc", "b"]),
        ("abc", "???", ["abc", "a", "b", "c"]),
        ("abc", "????", None),
        ("a*c", "a\\*c", ["a*c"]),  # escaped star is literal
        ("abc", "a\\*c", None),
        ("a?c", "a\\?c", ["a?c"]),
        ("abc", "a\\?c", None),
        ("a\\c", "a\\\\c", ["a\\c"]),
        ("foo.bar.baz", "*.*", ["foo.bar.baz", "foo", "bar.baz"]),  # non-greedy (RFC 5229 3.2)
        ("[acme-users] [fwd] x", "[*] *", ["[acme-users] [fwd] x", "acme-users", "[fwd] x"]),
        ("coyote@ACME.Example.COM", "coyote@**.com", ["coyote@ACME.Example.COM", "", "ACME.Example"]),
        ("xaaab", "*a?b", ["xaaab", "xa", "a"]),
        ("aaa", "*a*a*a*a*", None),
        ("ab", "*?*", ["ab", "", "a", "b"]),
        ("abcabc", "*bc", ["abcabc", "abca"]),
    ],
)
def test_matches_captures(value: str, pattern: str, captures: list[str] | None) -> None:
    assert matches(CASEMAP, value, pattern) == captures


def test_matches_captures_keep_original_case() -> None:
    assert matches(CASEMAP, "Hello WORLD", "hello *") == ["Hello WORLD", "WORLD"]
    assert matches(OCTET, "Hello WORLD", "hello *") is None


def test_matches_is_not_exponential() -> None:
    assert matches(OCTET, "a" * 5000, "*a" * 50 + "*b") is None


@pytest.mark.parametrize(
    "comp, op, value, key, expected",
    [
        (NUMERIC, "gt", "10", "9", True),
        (CASEMAP, "gt", "10", "9", False),  # as strings, "10" < "9"
        (NUMERIC, "ge", "3", "3", True),
        (NUMERIC, "lt", "abc", "5", False),  # infinity is not below 5
        (NUMERIC, "ne", "1", "2", True),
        (NUMERIC, "eq", "01", "1", True),
        (CASEMAP, "le", "ABC", "abd", True),
        (OCTET, "lt", "B", "a", True),
        (CASEMAP, "EQ", "x", "X", True),  # operator names are case-insensitive
    ],
)
def test_relational(comp, op: str, value: str, key: str, expected: bool) -> None:
    assert relational(comp, op, value, key) is expected
