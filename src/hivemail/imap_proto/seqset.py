"""Sequence sets: ``1:4,7,10:*``, ``$``  (RFC 9051 section 9, RFC 5182).

Grammar (RFC 9051 section 9)::

    seq-number      = nz-number / "*"
    seq-range       = seq-number ":" seq-number
                        ; two seq-number values and all values between
                        ; these two regardless of order.
    sequence-set    = (seq-number / seq-range) ["," sequence-set]
    sequence-set    =/ seq-last-command
    seq-last-command   = "$"                          ; RFC 5182 SEARCHRES

A :class:`SeqSet` keeps the set *as written* (order, overlaps, reversed
ranges), so ``parse(format(s)) == s``.  Resolving against a mailbox is a
separate step, :meth:`SeqSet.ranges`, because only the session knows what
``*`` is (the message count, or the highest UID).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .grammar import MAX_NUMBER

__all__ = ["SeqSet", "SeqRange", "STAR", "parse_seqset", "SeqSetError"]

#: ``*``: the largest number in use.  An ``int`` so ranges stay comparable.
STAR = 0


class SeqSetError(ValueError):
    """Not a valid sequence set; the message is readable."""


@dataclass(frozen=True)
class SeqRange:
    """``start:end`` as written; ``end is None`` for a single number.  ``STAR`` is ``*``."""

    start: int
    end: int | None = None

    def bounds(self, largest: int) -> tuple[int, int]:
        """``(low, high)`` with ``*`` replaced by ``largest`` and the order fixed."""
        a = largest if self.start == STAR else self.start
        b = a if self.end is None else (largest if self.end == STAR else self.end)
        return (a, b) if a <= b else (b, a)

    def __str__(self) -> str:
        text = "*" if self.start == STAR else str(self.start)
        if self.end is not None:
            text += ":" + ("*" if self.end == STAR else str(self.end))
        return text


@dataclass(frozen=True)
class SeqSet:
    """A sequence set as written.  ``saved`` is ``$`` (the SEARCHRES saved result)."""

    items: tuple[SeqRange, ...] = ()
    saved: bool = False

    @classmethod
    def of(cls, *numbers: int) -> SeqSet:
        """Build from single numbers (for responses and tests)."""
        return cls(tuple(SeqRange(n) for n in numbers))

    @classmethod
    def compact(cls, numbers: Iterable[int]) -> SeqSet:
        """Build from numbers in the order given, each run of consecutive
        ones written as a range: 1,2,3,5 -> ``1:3,5``; 5,3,2,1 (a SORT
        result, whose order ESORT's ALL keeps, RFC 5267 3.1) -> ``5,3,2,1``.
        Sort first for a set (VANISHED of thousands of UIDs stays short)."""
        pairs: list[tuple[int, int]] = []
        for n in numbers:
            if pairs and n == pairs[-1][1] + 1:
                pairs[-1] = (pairs[-1][0], n)
            else:
                pairs.append((n, n))
        return cls.from_ranges(*pairs)

    @classmethod
    def from_ranges(cls, *pairs: tuple[int, int]) -> SeqSet:
        return cls(tuple(SeqRange(a, None if a == b else b) for a, b in pairs))

    @property
    def uses_star(self) -> bool:
        return any(r.start == STAR or r.end == STAR for r in self.items)

    def ranges(self, largest: int) -> list[tuple[int, int]]:
        """Merged, ascending ``(low, high)`` ranges with ``*`` = ``largest``.

        Numbers above ``largest`` are dropped (``3291:*`` still includes
        ``largest`` itself, as RFC 9051 section 9 requires).  An empty
        mailbox (``largest == 0``) gives no ranges.  ``$`` cannot be resolved
        here: the caller substitutes the saved set first.
        """
        if self.saved:
            raise ValueError("resolve $ (the saved search result) before ranges()")
        if largest <= 0:
            return []
        spans = sorted(r.bounds(largest) for r in self.items)
        merged: list[tuple[int, int]] = []
        for low, high in spans:
            if low > largest:
                continue
            high = min(high, largest)
            if merged and low <= merged[-1][1] + 1:
                if high > merged[-1][1]:
                    merged[-1] = (merged[-1][0], high)
            else:
                merged.append((low, high))
        return merged

    def iter(self, largest: int) -> Iterator[int]:
        """Every number of the set, ascending, unique, ``<= largest``."""
        for low, high in self.ranges(largest):
            yield from range(low, high + 1)

    def contains(self, number: int, largest: int) -> bool:
        return any(low <= number <= high for low, high in self.ranges(largest))

    def max_number(self) -> int:
        """The largest explicit number written (``*`` counts as 0); for "number too big" checks."""
        return max((max(r.start, r.end or 0) for r in self.items), default=0)

    def __str__(self) -> str:
        if self.saved:
            return "$"
        return ",".join(str(r) for r in self.items)

    def to_bytes(self) -> bytes:
        return str(self).encode("ascii")


def _seq_number(text: str, whole: str) -> int:
    if text == "*":
        return STAR
    if not text.isascii() or not text.isdigit() or text.startswith("0"):
        raise SeqSetError(f"invalid sequence set {whole!r}: {text!r} is not a non-zero number or *")
    value = int(text)
    if value > MAX_NUMBER:
        raise SeqSetError(f"invalid sequence set {whole!r}: {text} is larger than 4294967295")
    return value


def parse_seqset(text: str | bytes, *, allow_saved: bool = True) -> SeqSet:
    """Parse a sequence set; raise :class:`SeqSetError` with a readable message."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if text == "$":
        if not allow_saved:
            raise SeqSetError("$ (saved search result) is not allowed here")
        return SeqSet(saved=True)
    if not text:
        raise SeqSetError("empty sequence set")
    items = []
    for part in text.split(","):
        if not part:
            raise SeqSetError(f"invalid sequence set {text!r}: empty element")
        start, sep, end = part.partition(":")
        if sep:
            items.append(SeqRange(_seq_number(start, text), _seq_number(end, text)))
        else:
            items.append(SeqRange(_seq_number(start, text)))
    return SeqSet(tuple(items))
