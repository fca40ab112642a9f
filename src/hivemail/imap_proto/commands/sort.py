"""SORT / UID SORT and THREAD / UID THREAD  (RFC 5256; RFC 5957 SORT=DISPLAY;
RFC 5267 ESORT). One family: both are a SEARCH with an ordering in front.

Grammar (RFC 5256 section 5, RFC 5957 section 5, RFC 5267 section 3)::

    sort            = ["UID" SP] "SORT" [search-return-opts] SP
                      sort-criteria SP search-criteria
    sort-criteria   = "(" sort-criterion *(SP sort-criterion) ")"
    sort-criterion  = ["REVERSE" SP] sort-key
    sort-key        = "ARRIVAL" / "CC" / "DATE" / "FROM" / "SIZE" /
                      "SUBJECT" / "TO"
    sort-key        =/ "DISPLAYFROM" / "DISPLAYTO"            ; RFC 5957
    thread          = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
    thread-alg      = "ORDEREDSUBJECT" / "REFERENCES" / thread-alg-ext
    search-criteria = charset 1*(SP search-key)
    charset         = atom / quoted

Unlike SEARCH the charset is mandatory. The search keys are SEARCH's own
parser (``search.parse_criteria``), and a charset is accepted exactly when
SEARCH CHARSET would accept it (else NO [BADCHARSET]).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..tokens import Args
from .search import SearchKey, charset_codec, parse_criteria, parse_return_options

__all__ = [
    "SORT_KEYS",
    "THREAD_ALGORITHMS",
    "SortCriterion",
    "SortRequest",
    "ThreadRequest",
    "parse_sort",
    "parse_uid_sort",
    "parse_thread",
    "parse_uid_thread",
]

SORT_KEYS = ("ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO")
THREAD_ALGORITHMS = ("ORDEREDSUBJECT", "REFERENCES")
# RFC 5267 section 3.1 adapts ESEARCH's options; SAVE is RFC 5182's, which
# applies to "any command based on SEARCH, e.g., SORT and THREAD".
SORT_RETURN_OPTIONS = ("MIN", "MAX", "ALL", "COUNT", "SAVE")


@dataclass(frozen=True)
class SortCriterion:
    """One sort key; ``reverse`` reverses only this key (RFC 5256 REVERSE)."""

    key: str
    reverse: bool = False


@dataclass(frozen=True)
class SortRequest:
    """SORT or UID SORT. ``return_options`` is None without RETURN (a
    ``* SORT`` answer), else the options for an ESEARCH answer (ESORT)."""

    criteria: tuple[SortCriterion, ...]
    key: SearchKey
    uid: bool = False
    charset: str = "UTF-8"
    return_options: tuple[str, ...] | None = None

    @property
    def save(self) -> bool:
        return bool(self.return_options and "SAVE" in self.return_options)


@dataclass(frozen=True)
class ThreadRequest:
    """THREAD or UID THREAD."""

    algorithm: str
    key: SearchKey
    uid: bool = False
    charset: str = "UTF-8"


def _criteria(args: Args) -> tuple[SortCriterion, ...]:
    items = args.list("a parenthesized list of sort criteria")
    out: list[SortCriterion] = []
    while not items.at_end():
        reverse = items.peek_keyword() == "REVERSE"
        if reverse:
            items.next("REVERSE")
        key = items.keyword("a sort key")
        if key not in SORT_KEYS:
            raise args.error(f"unknown sort key {key[:40]}")
        out.append(SortCriterion(key, reverse))
    if not out:
        raise args.error("empty sort criteria")
    return tuple(out)


def _charset_and_keys(args: Args) -> tuple[str, SearchKey]:
    charset = args.astring("a charset").upper()
    codec = charset_codec(args, charset)
    return charset, parse_criteria(args, codec)


def _sort(args: Args, uid: bool) -> SortRequest:
    returns = parse_return_options(args, SORT_RETURN_OPTIONS, "SORT")
    criteria = _criteria(args)
    charset, key = _charset_and_keys(args)
    return SortRequest(criteria, key, uid, charset, returns)


def _thread(args: Args, uid: bool) -> ThreadRequest:
    algorithm = args.keyword("a threading algorithm")
    if algorithm not in THREAD_ALGORITHMS:
        raise args.error(f"unknown threading algorithm {algorithm[:40]}")
    charset, key = _charset_and_keys(args)
    return ThreadRequest(algorithm, key, uid, charset)


def parse_sort(args: Args) -> SortRequest:
    return _sort(args, False)


def parse_uid_sort(args: Args) -> SortRequest:
    return _sort(args, True)


def parse_thread(args: Args) -> ThreadRequest:
    return _thread(args, False)


def parse_uid_thread(args: Args) -> ThreadRequest:
    return _thread(args, True)
