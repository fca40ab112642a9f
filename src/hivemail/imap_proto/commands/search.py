"""SEARCH / UID SEARCH -> a SearchKey tree  (RFC 9051 section 6.4.4; RFC 4731, 5182, 7162, 5032).

Grammar (RFC 9051 section 9)::

    search          = "SEARCH" [search-return-opts] SP search-program
    search-return-opts = SP "RETURN" SP "(" [search-return-opt
                      *(SP search-return-opt)] ")"
    search-return-opt = "MIN" / "MAX" / "ALL" / "COUNT" /
                      "SAVE" / search-ret-opt-ext
    search-program  = ["CHARSET" SP charset SP] search-key *(SP search-key)
    search-key      = "ALL" / "ANSWERED" / "BCC" SP astring /
                      "BEFORE" SP date / "BODY" SP astring /
                      "CC" SP astring / "DELETED" / "FLAGGED" /
                      "FROM" SP astring / "KEYWORD" SP flag-keyword /
                      "ON" SP date / "SEEN" /
                      "SINCE" SP date / "SUBJECT" SP astring /
                      "TEXT" SP astring / "TO" SP astring /
                      "UNANSWERED" / "UNDELETED" / "UNFLAGGED" /
                      "UNKEYWORD" SP flag-keyword / "UNSEEN" /
                      "DRAFT" / "HEADER" SP header-fld-name SP astring /
                      "LARGER" SP number64 / "NOT" SP search-key /
                      "OR" SP search-key SP search-key /
                      "SENTBEFORE" SP date / "SENTON" SP date /
                      "SENTSINCE" SP date / "SMALLER" SP number64 /
                      "UID" SP sequence-set / "UNDRAFT" / sequence-set /
                      "(" search-key *(SP search-key) ")"
    search-key      =/ "NEW" / "OLD" / "RECENT"                     ; RFC 3501
    search-key      =/ "MODSEQ" [search-modsequence-ext] SP mod-sequence-valzer
    search-modsequence-ext = SP entry-name SP entry-type-req        ; RFC 7162
    search-key      =/ "OLDER" SP nz-number / "YOUNGER" SP nz-number ; RFC 5032
    search-key      =/ "SAVEDBEFORE" SP date / "SAVEDON" SP date /
                       "SAVEDSINCE" SP date / "SAVEDATESUPPORTED"   ; RFC 8514
    search-key      =/ "EMAILID" SP objectid / "THREADID" SP objectid ; RFC 8474

The tree is IMAP's, not storage's: sequence sets stay sequence sets (``$``
included) because only the session knows the sequence-number view;
``imap/handlers/search.py`` translates it into the neutral SearchQuery.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import date
from typing import Union

from ..dates import DateError, parse_date
from ..seqset import SeqSet
from ..tokens import Args, ArgList, Atom, ParseError, String

__all__ = [
    "SearchRequest",
    "SearchKey",
    "SearchAll",
    "SearchSeq",
    "SearchFlag",
    "SearchDate",
    "SearchSize",
    "SearchHeader",
    "SearchText",
    "SearchModSeq",
    "SearchAge",
    "SearchSaveDate",
    "SearchSaveDateSupported",
    "SearchObjectId",
    "SearchNot",
    "SearchOr",
    "SearchAnd",
    "parse_search",
    "parse_uid_search",
    "RETURN_OPTIONS",
    "MAX_SEARCH_DEPTH",
    "parse_return_options",
    "charset_codec",
    "parse_criteria",
]

RETURN_OPTIONS = ("MIN", "MAX", "ALL", "COUNT", "SAVE")
#: NOT and OR nest without parentheses; bound the recursion.
MAX_SEARCH_DEPTH = 64


@dataclass(frozen=True)
class SearchAll:
    """ALL"""


@dataclass(frozen=True)
class SearchSeq:
    """sequence-set (``uid=False``) or ``UID sequence-set``."""

    seqs: SeqSet
    uid: bool = False


@dataclass(frozen=True)
class SearchFlag:
    """SEEN / UNSEEN / KEYWORD x / ... : ``flag`` set (``present``) or not.

    ``\\Recent`` appears for RECENT / OLD (IMAP4rev1 only).
    """

    flag: str
    present: bool = True


@dataclass(frozen=True)
class SearchDate:
    """BEFORE/ON/SINCE (``sent=False``: internal date) and SENTBEFORE/SENTON/SENTSINCE."""

    op: str  # "BEFORE" | "ON" | "SINCE"
    date: date
    sent: bool = False


@dataclass(frozen=True)
class SearchSaveDate:
    """SAVEDBEFORE/SAVEDON/SAVEDSINCE date (RFC 8514 section 4)."""

    op: str  # "BEFORE" | "ON" | "SINCE"
    date: date


@dataclass(frozen=True)
class SearchSaveDateSupported:
    """SAVEDATESUPPORTED: every message, where the mailbox keeps save dates (RFC 8514 section 4)."""


@dataclass(frozen=True)
class SearchObjectId:
    """EMAILID objectid / THREADID objectid (RFC 8474 section 6)."""

    kind: str  # "EMAILID" | "THREADID"
    value: str


@dataclass(frozen=True)
class SearchSize:
    """LARGER n / SMALLER n (RFC822.SIZE)."""

    op: str  # "LARGER" | "SMALLER"
    size: int


@dataclass(frozen=True)
class SearchHeader:
    """HEADER name value; FROM/TO/CC/BCC/SUBJECT map to their header names."""

    name: str
    value: str


@dataclass(frozen=True)
class SearchText:
    """BODY value (``part="BODY"``) or TEXT value (header and body, ``part="TEXT"``)."""

    part: str
    value: str


@dataclass(frozen=True)
class SearchModSeq:
    """MODSEQ [entry-name entry-type] modseq  (RFC 7162 section 3.1.5)."""

    modseq: int
    entry_name: str | None = None
    entry_type: str | None = None


@dataclass(frozen=True)
class SearchAge:
    """OLDER n / YOUNGER n seconds (RFC 5032)."""

    op: str  # "OLDER" | "YOUNGER"
    seconds: int


@dataclass(frozen=True)
class SearchNot:
    key: SearchKey


@dataclass(frozen=True)
class SearchOr:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True)
class SearchAnd:
    keys: tuple[SearchKey, ...]


SearchKey = Union[
    SearchAll, SearchSeq, SearchFlag, SearchDate, SearchSize, SearchHeader, SearchText,
    SearchModSeq, SearchAge, SearchNot, SearchOr, SearchAnd, SearchSaveDate, SearchSaveDateSupported,
    SearchObjectId,
]


@dataclass(frozen=True)
class SearchRequest:
    """SEARCH or UID SEARCH (``uid``).

    ``return_options`` is ``None`` without RETURN (a classic ``* SEARCH``
    answer in IMAP4rev1), else the upper-cased options; ``RETURN ()`` means
    ``(ALL)`` (RFC 4731 section 3.1).  ``charset`` is as sent (upper-case)
    or ``None``; string values are already decoded with it.
    """

    key: SearchKey
    uid: bool = False
    charset: str | None = None
    return_options: tuple[str, ...] | None = None

    @property
    def save(self) -> bool:
        return bool(self.return_options and "SAVE" in self.return_options)


_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True), "UNANSWERED": ("\\Answered", False),
    "DELETED": ("\\Deleted", True), "UNDELETED": ("\\Deleted", False),
    "FLAGGED": ("\\Flagged", True), "UNFLAGGED": ("\\Flagged", False),
    "SEEN": ("\\Seen", True), "UNSEEN": ("\\Seen", False),
    "DRAFT": ("\\Draft", True), "UNDRAFT": ("\\Draft", False),
    "RECENT": ("\\Recent", True), "OLD": ("\\Recent", False),
}
_HEADER_KEYS = {"FROM": "From", "TO": "To", "CC": "Cc", "BCC": "Bcc", "SUBJECT": "Subject"}
_DATE_KEYS = {
    "BEFORE": ("BEFORE", False), "ON": ("ON", False), "SINCE": ("SINCE", False),
    "SENTBEFORE": ("BEFORE", True), "SENTON": ("ON", True), "SENTSINCE": ("SINCE", True),
}
_SAVED_KEYS = {"SAVEDBEFORE": "BEFORE", "SAVEDON": "ON", "SAVEDSINCE": "SINCE"}
# objectid = 1*255(ALPHA / DIGIT / "_" / "-")  (RFC 8474 section 7)
_OBJECTID = re.compile(r"[A-Za-z0-9_-]{1,255}")


class _Parser:
    def __init__(self, args: Args, charset: str) -> None:
        self.args = args
        self.charset = charset

    def text(self, args: Args, expected: str) -> str:
        raw = args.astring_bytes(expected)
        try:
            return raw.decode(self.charset)
        except UnicodeDecodeError:
            raise args.error(f"{expected} is not valid {self.charset}") from None

    def date(self, args: Args) -> date:
        arg = args.next("a date")
        if isinstance(arg, Atom):
            text = arg.value
        elif isinstance(arg, String) and not arg.literal:
            text = arg.value.decode("ascii", "replace")
        else:
            raise args.unexpected("a date (d-Mon-yyyy)", arg)
        try:
            return parse_date(text)
        except DateError as exc:
            raise args.error(str(exc)) from None

    def key(self, args: Args, depth: int) -> SearchKey:
        if depth > MAX_SEARCH_DEPTH:
            raise args.error(f"search keys nested too deeply (limit {MAX_SEARCH_DEPTH})", code="LIMIT")
        arg = args.peek()
        if isinstance(arg, ArgList):
            inner = args.list("a search key list")
            if inner.at_end():
                raise args.error("empty parenthesized search key")
            return self.keys(inner, depth + 1)
        if not isinstance(arg, Atom):
            raise args.unexpected("a search key", arg)
        word = arg.value.upper()
        if word[:1].isdigit() or word[:1] in ("*", "$"):
            return SearchSeq(args.seqset())
        args.next("a search key")
        if word == "ALL":
            return SearchAll()
        if word in _FLAG_KEYS:
            flag, present = _FLAG_KEYS[word]
            return SearchFlag(flag, present)
        if word == "NEW":
            return SearchAnd((SearchFlag("\\Recent", True), SearchFlag("\\Seen", False)))
        if word in ("KEYWORD", "UNKEYWORD"):
            flag = args.flag("a keyword")
            if flag.startswith("\\"):
                raise args.error(f"{word} takes a keyword, not a system flag ({flag})")
            return SearchFlag(flag, word == "KEYWORD")
        if word in _HEADER_KEYS:
            return SearchHeader(_HEADER_KEYS[word], self.text(args, f"a string after {word}"))
        if word == "HEADER":
            name = args.astring("a header field name")
            if not name or any(c <= " " or c == ":" or c > "~" for c in name):
                raise args.error(f"invalid header field name {name!r}")
            return SearchHeader(name, self.text(args, "a string after HEADER name"))
        if word in ("BODY", "TEXT"):
            return SearchText(word, self.text(args, f"a string after {word}"))
        if word in _DATE_KEYS:
            op, sent = _DATE_KEYS[word]
            return SearchDate(op, self.date(args), sent)
        if word in ("LARGER", "SMALLER"):
            return SearchSize(word, args.number("a size", bits64=True))
        if word in ("OLDER", "YOUNGER"):
            return SearchAge(word, args.number("a number of seconds", nonzero=True))
        if word == "UID":
            return SearchSeq(args.seqset("a UID set"), uid=True)
        if word == "NOT":
            return SearchNot(self.key(args, depth + 1))
        if word == "OR":
            left = self.key(args, depth + 1)
            return SearchOr(left, self.key(args, depth + 1))
        if word == "MODSEQ":
            return self.modseq(args)
        if word in _SAVED_KEYS:
            return SearchSaveDate(_SAVED_KEYS[word], self.date(args))
        if word == "SAVEDATESUPPORTED":
            return SearchSaveDateSupported()
        if word in ("EMAILID", "THREADID"):
            value = args.astring(f"an object id after {word}")
            if not _OBJECTID.fullmatch(value):
                raise args.error(f"invalid object id {value[:40]!r}")
            return SearchObjectId(word, value)
        raise args.error(f"unknown search key {arg.value if len(arg.value) < 40 else arg.value[:37] + '...'}")

    def modseq(self, args: Args) -> SearchModSeq:
        # search-modsequence-ext = SP entry-name SP entry-type-req
        # entry-name      = entry-flag-name ; DQUOTE "/flags/" attr-flag DQUOTE
        # entry-type-req  = entry-type-resp / "all" ; "priv" / "shared" / "all"
        entry_name = entry_type = None
        if isinstance(args.peek(), String):
            entry_name = args.string_bytes("an entry name").decode("utf-8", "surrogateescape")
            if not entry_name.lower().startswith("/flags/"):
                raise args.error(f"invalid MODSEQ entry name {entry_name!r}")
            entry_type = args.keyword("priv, shared or all").lower()
            if entry_type not in ("priv", "shared", "all"):
                raise args.error(f"invalid MODSEQ entry type {entry_type!r}")
        return SearchModSeq(args.number("a mod-sequence value", bits64=True), entry_name, entry_type)

    def keys(self, args: Args, depth: int) -> SearchKey:
        keys = [self.key(args, depth)]
        while not args.at_end():
            keys.append(self.key(args, depth))
        return keys[0] if len(keys) == 1 else SearchAnd(tuple(keys))


def parse_return_options(args: Args, allowed: tuple[str, ...] = RETURN_OPTIONS,
                         command: str = "SEARCH") -> tuple[str, ...] | None:
    """``RETURN (opt ...)`` if it comes next (RFC 4731; RFC 5267 for SORT),
    upper-cased, duplicates dropped; ``RETURN ()`` means ``(ALL)``. None if
    there is no RETURN."""
    if not (args.peek_keyword() == "RETURN" and args.pos + 1 < len(args.items)
            and isinstance(args.items[args.pos + 1], ArgList)):
        return None
    args.next("RETURN")
    opts = args.list("return options")
    chosen: list[str] = []
    while not opts.at_end():
        opt = opts.keyword("a return option")
        if opt not in allowed:
            raise args.error(f"unknown {command} return option {opt}")
        if opt not in chosen:
            chosen.append(opt)
    return tuple(chosen) or ("ALL",)


def charset_codec(args: Args, charset: str) -> str:
    """The Python codec for a CHARSET argument, or NO [BADCHARSET] (RFC 9051
    6.4.4; SORT and THREAD answer the same, RFC 5256 section 3)."""
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        raise ParseError(
            f"unsupported charset {charset}", code="BADCHARSET (US-ASCII UTF-8)", status="NO"
        ) from None
    if codec == "ascii":
        codec = "utf-8"  # a superset; clients mislabel UTF-8 all the time
    return codec


def parse_criteria(args: Args, codec: str) -> SearchKey:
    """The search keys to the end of the arguments (one or more, ANDed),
    strings decoded with ``codec``: SEARCH's, SORT's and THREAD's."""
    if args.at_end():
        raise args.error("missing search key")
    return _Parser(args, codec).keys(args, 0)


def _parse(args: Args, uid: bool) -> SearchRequest:
    returns = parse_return_options(args)
    charset = None
    codec = "utf-8"
    if args.peek_keyword() == "CHARSET":
        args.next("CHARSET")
        charset = args.astring("a charset name").upper()
        codec = charset_codec(args, charset)
    key = parse_criteria(args, codec)
    return SearchRequest(key, uid, charset, returns)


def parse_search(args: Args) -> SearchRequest:
    return _parse(args, False)


def parse_uid_search(args: Args) -> SearchRequest:
    return _parse(args, True)
