"""The neutral search query, and its evaluation over stored metadata.

IMAP's SEARCH keys are translated into this tree by the IMAP session
(``imap/handlers/search.py``), which alone can turn sequence numbers into
UIDs; Sieve and POP3 never need it. A backend may answer parts of a query
from its index (flags, dates, sizes in SQL); :func:`matches` is the
reference semantics every backend must agree with.

Text matching is case-insensitive substring matching on decoded text
(RFC 9051 section 6.4.4: "case-insensitive substring"), after Unicode
case folding, as Dovecot does with its i;unicode-casemap comparator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from hivemail.mailstore.types import MessageMeta


@dataclass(frozen=True)
class All:
    pass


@dataclass(frozen=True)
class And:
    items: tuple[Query, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Query, ...]


@dataclass(frozen=True)
class Not:
    item: Query


@dataclass(frozen=True)
class HasFlag:
    flag: str            # "\\Seen", a keyword, ...; keywords compare case-insensitively


@dataclass(frozen=True)
class UidIn:
    uids: frozenset[int]


@dataclass(frozen=True)
class InternalDate:
    op: str              # "before" | "on" | "since"
    day: date


@dataclass(frozen=True)
class SentDate:
    op: str
    day: date


@dataclass(frozen=True)
class Size:
    op: str              # "larger" | "smaller"
    octets: int


@dataclass(frozen=True)
class Header:
    name: str            # lower-case field name
    text: str            # "" matches every message that has the field


@dataclass(frozen=True)
class Body:
    text: str


@dataclass(frozen=True)
class Text:
    text: str            # header or body


@dataclass(frozen=True)
class ModSeq:
    at_least: int


@dataclass(frozen=True)
class Recent:
    pass


Query = All | And | Or | Not | HasFlag | UidIn | InternalDate | SentDate | Size | Header | Body | Text | ModSeq | Recent


def fold(text: str) -> str:
    return text.casefold()


def needs_analysis(q: Query) -> bool:
    """Whether evaluating ``q`` needs the stored MIME analysis (and not only
    the metadata row)."""
    match q:
        case And(items) | Or(items):
            return any(needs_analysis(i) for i in items)
        case Not(item):
            return needs_analysis(item)
        case SentDate() | Header() | Body() | Text():
            return True
    return False


def needs_body(q: Query) -> bool:
    """Whether evaluating ``q`` needs the message text (BODY, TEXT)."""
    match q:
        case And(items) | Or(items):
            return any(needs_body(i) for i in items)
        case Not(item):
            return needs_body(item)
        case Body() | Text():
            return True
    return False


def _compare_day(op: str, actual: date, wanted: date) -> bool:
    if op == "before":
        return actual < wanted
    if op == "on":
        return actual == wanted
    return actual >= wanted


def matches(
    q: Query,
    meta: MessageMeta,
    analysis: Callable[[], object] | None = None,
    recent: Callable[[int], bool] = lambda uid: False,
    body_text: Callable[[], str] | None = None,
) -> bool:
    """Evaluate ``q`` for one message. ``analysis()`` returns its
    :class:`hivemail.mime.MessageAnalysis` and ``body_text()`` its decoded
    text; each is called only when a key needs it (callers cache them)."""
    match q:
        case All():
            return True
        case And(items):
            return all(matches(i, meta, analysis, recent, body_text) for i in items)
        case Or(items):
            return any(matches(i, meta, analysis, recent, body_text) for i in items)
        case Not(item):
            return not matches(item, meta, analysis, recent, body_text)
        case HasFlag(flag):
            if flag.startswith("\\"):
                return flag.lower() in {f.lower() for f in meta.flags}
            return fold(flag) in {fold(f) for f in meta.flags}
        case UidIn(uids):
            return meta.uid in uids
        case InternalDate(op, day):
            # RFC 9051 6.4.4: dates compare "disregarding time and timezone".
            return _compare_day(op, meta.internal_date.date(), day)
        case Size(op, octets):
            return meta.size > octets if op == "larger" else meta.size < octets
        case ModSeq(at_least):
            return meta.modseq >= at_least
        case Recent():
            return recent(meta.uid)
        case SentDate(op, day):
            a = analysis() if analysis else None
            sent: datetime | None = getattr(a, "sent_date", None)
            # A message with no usable Date: matches no SENT* key.
            return sent is not None and _compare_day(op, sent.date(), day)
        case Header(name, text):
            a = analysis() if analysis else None
            values = a.header_values(name) if a is not None else []
            if not values:
                return False
            needle = fold(text)
            return any(needle in fold(v) for v in values)
        case Body(text):
            return body_text is not None and fold(text) in fold(body_text())
        case Text(text):
            a = analysis() if analysis else None
            needle = fold(text)
            if a is not None and needle in fold(a.header_text):
                return True
            return body_text is not None and needle in fold(body_text())
    raise TypeError(f"unknown query node {q!r}")
