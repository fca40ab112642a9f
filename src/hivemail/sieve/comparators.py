"""Comparators (RFC 4790, RFC 5228 section 2.7.3) and match types.

Three comparators: ``i;octet`` (exact), ``i;ascii-casemap`` (only A-Z fold,
so positions in the folded string are positions in the original, which is
what lets ``:matches`` capture original text) and ``i;ascii-numeric``
(RFC 4790 section 9.1: the leading digits are the value; a string with none
is positive infinity).  Strings are Python ``str``: comparing code points
orders exactly as comparing their UTF-8 octets does.

Match types: ``:is``, ``:contains``, ``:matches`` (RFC 5228 section 2.7.1)
and the relational ``:value`` / ``:count`` (RFC 5231 section 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

# RFC 5231 section 4: relational-match = DQUOTE ("gt" / "ge" / "lt" / "le" / "eq" / "ne") DQUOTE
RELATIONAL_OPS: dict[str, Callable[[int], bool]] = {
    "gt": lambda c: c > 0,
    "ge": lambda c: c >= 0,
    "lt": lambda c: c < 0,
    "le": lambda c: c <= 0,
    "eq": lambda c: c == 0,
    "ne": lambda c: c != 0,
}


def _numeric_key(s: str) -> tuple[int, int, str]:
    # Compare digit strings by (length, digits) rather than int(): a key of
    # ten thousand digits is legal Sieve and int() would refuse it.
    end = 0
    while end < len(s) and "0" <= s[end] <= "9":
        end += 1
    if end == 0:
        return (1, 0, "")  # positive infinity; all infinities are equal
    digits = s[:end].lstrip("0") or "0"
    return (0, len(digits), digits)


@dataclass(frozen=True)
class Comparator:
    name: str
    fold: Callable[[str], str]
    order_key: Callable[[str], object]
    substring: bool  # supports :contains and :matches

    def compare(self, a: str, b: str) -> int:
        ka, kb = self.order_key(a), self.order_key(b)
        return (ka > kb) - (ka < kb)  # type: ignore[operator]


def _identity(s: str) -> str:
    return s


def _casemap(s: str) -> str:
    return s.translate(_UPPER)


COMPARATORS: dict[str, Comparator] = {
    "i;octet": Comparator("i;octet", _identity, _identity, True),
    "i;ascii-casemap": Comparator("i;ascii-casemap", _casemap, _casemap, True),
    "i;ascii-numeric": Comparator("i;ascii-numeric", _identity, _numeric_key, False),
}
DEFAULT_COMPARATOR = COMPARATORS["i;ascii-casemap"]


def is_match(comp: Comparator, value: str, key: str) -> bool:
    return comp.compare(value, key) == 0


def contains(comp: Comparator, value: str, key: str) -> bool:
    return comp.fold(key) in comp.fold(value)


def relational(comp: Comparator, op: str, value: str, key: str) -> bool:
    return RELATIONAL_OPS[op.lower()](comp.compare(value, key))


# A compiled :matches pattern: segments between "*"s; in a segment, a str item
# is literal text and None is "?".
Segment = list  # list[str | None]
_ANY = None


def compile_glob(pattern: str) -> list[Segment]:
    """Split a ``:matches`` key at its ``*``s; ``\\`` quotes the next character.

    RFC 5228 section 2.7.1: "*" matches zero or more characters, "?" exactly
    one, and a backslash makes the next character literal.  A trailing lone
    backslash matches a backslash.
    """
    segments: list[Segment] = [[]]
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            segments[-1].append(pattern[i + 1] if i + 1 < len(pattern) else "\\")
            i += 2
            continue
        if c == "*":
            segments.append([])
        elif c == "?":
            segments[-1].append(_ANY)
        else:
            segments[-1].append(c)
        i += 1
    return segments


def _segment_at(seg: Segment, text: str, pos: int) -> bool:
    if pos < 0 or pos + len(seg) > len(text):
        return False
    return all(item is _ANY or text[pos + k] == item for k, item in enumerate(seg))


def _find_segment(seg: Segment, text: str, start: int, stop: int) -> int:
    """Leftmost position >= start where ``seg`` fits and ends by ``stop``; -1 if none."""
    if _ANY not in seg:
        return text.find("".join(seg), start, stop)  # type: ignore[arg-type]
    for pos in range(start, stop - len(seg) + 1):
        if _segment_at(seg, text, pos):
            return pos
    return -1


def matches(comp: Comparator, value: str, pattern: str) -> list[str] | None:
    """``:matches``: None, or the match variables ``[whole, wildcard1, ...]``.

    RFC 5229 section 3.2: "The wildcards match as little as possible
    (non-greedy matching)".  Placing every middle segment at its leftmost
    fit is both the non-greedy answer and a complete search (if the leftmost
    fit fails, every later fit fails too), so there is no backtracking and
    the cost is at most len(value) * len(pattern) character steps.
    """
    text = comp.fold(value)
    segments = [[comp.fold(i) if i is not _ANY else _ANY for i in seg] for seg in compile_glob(pattern)]
    first, last = segments[0], segments[-1]
    captures: list[str] = []

    def any_captures(seg: Segment, pos: int) -> None:
        captures.extend(value[pos + k] for k, item in enumerate(seg) if item is _ANY)

    if len(segments) == 1:
        if len(first) != len(text) or not _segment_at(first, text, 0):
            return None
        any_captures(first, 0)
        return [value] + captures
    if not _segment_at(first, text, 0):
        return None
    any_captures(first, 0)
    pos = len(first)
    last_start = len(text) - len(last)
    if last_start < pos:
        return None
    for seg in segments[1:-1]:
        found = _find_segment(seg, text, pos, last_start)
        if found < 0:
            return None
        captures.append(value[pos:found])
        any_captures(seg, found)
        pos = found + len(seg)
    if not _segment_at(last, text, last_start):
        return None
    captures.append(value[pos:last_start])
    any_captures(last, last_start)
    return [value] + captures
