"""The neutral search query, and its evaluation over stored metadata.

IMAP's SEARCH keys are translated into this tree by the IMAP session
(``imap/handlers/search.py``), which alone can turn sequence numbers into
UIDs; Sieve and POP3 never need it. A backend may answer parts of a query
from its index (flags, dates, sizes in SQL); :func:`matches` is the
reference semantics every backend must agree with.

Text matching is case-insensitive substring matching on decoded text
(RFC 9051 section 6.4.4: "case-insensitive substring"), after Unicode
case folding, as Dovecot does with its i;unicode-casemap comparator.

Evaluation is staged by cost (:func:`compile_query`): every key the
metadata row answers (flags, UIDs, dates, sizes, MODSEQ) is decided first
for every message; the stored analysis is loaded only for the messages
those keys leave undecided, and the message text only for those still
undecided after the header keys. For a query with no header or text key
:func:`meta_predicate` gives a plain predicate, memoised per flag set, so
``UNSEEN`` over 100,000 messages costs one dictionary lookup per message.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from hivemail.mailstore.types import MessageMeta
from hivemail.mime import decode_bytes, decode_transfer
from hivemail.mime.analysis import MAX_BODY_TEXT


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
class InternalTime:
    """The internal date compared to an instant (RFC 5032 OLDER / YOUNGER,
    resolved against "now" by the caller): "before" is strictly earlier,
    "since" is at or after ``when``."""

    op: str              # "before" | "since"
    when: datetime       # aware


@dataclass(frozen=True)
class SaveDate:
    """When the message was saved into this mailbox (RFC 8514), as a UTC day."""

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


Query = (All | And | Or | Not | HasFlag | UidIn | InternalDate | InternalTime | SaveDate | SentDate | Size | Header
         | Body | Text | ModSeq | Recent)

#: The keys a full-text index may answer.
TextKey = Body | Text | Header


@dataclass(frozen=True)
class TextMatches:
    """A search index's answer for some text keys over one mailbox
    (``MailStore.search_text``): for each key, the UIDs whose message
    matches it, exactly as :func:`matches` would say, among the messages
    the index covers; and the UIDs it does not cover yet (delivered moments
    ago), which the caller must evaluate itself. A UID in neither is a
    message that does not match (or no longer exists)."""

    hits: tuple[frozenset[int], ...]
    unindexed: frozenset[int]


#: A trigram index finds nothing shorter than three characters.
MIN_INDEXED_CHARS = 3


def indexable(key: Query) -> bool:
    """Whether an index may answer ``key``: a text key whose folded needle
    has at least three characters, none of them one the index cannot store
    (NUL, U+FFFD, lone surrogates). Everything else is evaluated by scanning."""
    if not isinstance(key, (Body, Text, Header)):
        return False
    needle = fold(key.text)
    if len(needle) < MIN_INDEXED_CHARS or "\x00" in needle or "\ufffd" in needle:
        return False
    try:
        needle.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_keys(q: Query) -> list[TextKey]:
    """The distinct indexable text keys of ``q``, in order of appearance."""
    out: list[TextKey] = []

    def walk(node: Query) -> None:
        match node:
            case And(items) | Or(items):
                for i in items:
                    walk(i)
            case Not(item):
                walk(item)
            case Body() | Text() | Header():
                if indexable(node) and node not in out:
                    out.append(node)

    walk(q)
    return out


def fold(text: str) -> str:
    return text.casefold()


# ---------------------------------------------------------------------------
# The text BODY and TEXT match (RFC 9051 6.4.4: "the body of the message").
#
# The decoded text of every text/* leaf, HTML reduced to the text a reader
# sees, then the file name of every part that has one ("attachments named
# by filename match too"), joined with newlines. Dovecot without FTS
# matches the raw decoded HTML (tags, attribute values); with its FTS
# plugin it matches the text (fts-parser-html). A reader searching for a
# word in an HTML mail wants the second: "BODY href" or "BODY nbsp" finding
# every HTML mail is noise, and "BODY café" must find "caf&eacute;". The
# search index (mailstore/embedded) indexes exactly this text, so the two
# answers agree by construction.

# Elements whose content is not shown: dropped with their content.
_HTML_HIDDEN = re.compile(r"<(script|style|head|template)\b", re.I)
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
# Elements that break a line (the rest, <b>, <span>, <a>..., join their text).
_HTML_BLOCK = re.compile(
    r"</?(?:address|article|aside|blockquote|body|br|dd|div|dl|dt|footer|form|h[1-6]|header|hr"
    r"|html|li|main|nav|ol|p|pre|section|table|tbody|td|tfoot|th|thead|tr|ul)\b[^>]*>", re.I)
_HTML_TAG = re.compile(r"<[a-zA-Z/!?][^>]*>?")
# Rendered HTML collapses white space; U+00A0 (&nbsp;) reads as a space.
_HTML_SPACE = re.compile(r"[ \t\r\n\f\xa0]+")


def html_text(source: str) -> str:
    """The text an HTML document shows: comments and script/style/head
    content removed, block elements as line breaks, other tags removed,
    entities decoded, white space collapsed. Linear time on any input (each
    hidden element's end is found with one forward ``find``)."""
    source = _HTML_COMMENT.sub(" ", source)
    lower = source.lower()
    kept: list[str] = []
    pos = 0
    for m in _HTML_HIDDEN.finditer(source):
        if m.start() < pos:
            continue
        kept.append(source[pos : m.start()])
        end = lower.find("</" + m.group(1).lower(), m.end())
        if end < 0:
            pos = len(source)
            break
        close = source.find(">", end)
        pos = len(source) if close < 0 else close + 1
    kept.append(source[pos:])
    # Line ends in the source are white space like any other; only block
    # elements (and <br>) break lines.
    text = _HTML_BLOCK.sub("\n", _HTML_SPACE.sub(" ", "".join(kept)))
    text = html.unescape(_HTML_TAG.sub("", text))
    lines = (_HTML_SPACE.sub(" ", line).strip(" ") for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def body_text(analysis: object, raw: bytes) -> str:
    """The text BODY matches for a message (see above); ``analysis`` is its
    :class:`hivemail.mime.MessageAnalysis` (None: the message has no text).
    At most ``MAX_BODY_TEXT`` characters, as in ``body_text_from``."""
    root = getattr(analysis, "root", None)
    if root is None:
        return ""
    texts: list[str] = []
    names: list[str] = []
    total = 0
    for part in root.walk():
        name = part.filename
        if name:
            names.append(name)
        if part.children or part.message is not None or not part.is_text or total >= MAX_BODY_TEXT:
            continue
        text = decode_bytes(decode_transfer(raw[part.body_start : part.body_end], part.encoding),
                            part.charset)
        if part.media_subtype.lower() == "html":
            text = html_text(text)
        text = text[: MAX_BODY_TEXT - total]
        total += len(text)
        texts.append(text)
    return "\n".join(texts + names)


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


#: The sent date of a message whose Date: is missing or unparseable. Dovecot
#: (index-search.c) compares such a message as if sent at the Unix epoch, so
#: every SENTBEFORE matches it and no SENTSINCE does (checked against
#: Dovecot 2.3.19: ``Date: garbage`` matches ``SENTBEFORE 3-Jan-2024`` and not
#: ``NOT SENTBEFORE 3-Jan-2024``). Following it keeps SENTBEFORE d and
#: SENTSINCE d a partition of the mailbox, as they are for every dated message.
NO_SENT_DATE = date(1970, 1, 1)


def sent_day(analysis: object) -> date:
    """The calendar day of the Date: field in its own zone (RFC 9051 6.4.4:
    "disregarding time and timezone"; Dovecot adds the field's own offset)."""
    sent: datetime | None = getattr(analysis, "sent_date", None)
    return sent.date() if sent is not None else NO_SENT_DATE


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
            # RFC 9051 6.4.4: dates compare "disregarding time and timezone":
            # the day INTERNALDATE shows, in the zone it is stored (and shown) in.
            return _compare_day(op, meta.internal_date.date(), day)
        case InternalTime(op, when):
            return meta.internal_date < when if op == "before" else meta.internal_date >= when
        case SaveDate(op, day):
            return _compare_day(op, meta.save_date.date(), day)
        case Size(op, octets):
            return meta.size > octets if op == "larger" else meta.size < octets
        case ModSeq(at_least):
            return meta.modseq >= at_least
        case Recent():
            return recent(meta.uid)
        case SentDate(op, day):
            return _compare_day(op, sent_day(analysis() if analysis else None), day)
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


# ---------------------------------------------------------------------------
# Staged evaluation: cheap keys first, the analysis and the text only when
# the cheap keys leave a message undecided (Dovecot's search also decides
# index-only arguments before it opens a message: index-search.c).


class _Unknown:
    """Stands for data not loaded yet: a key that needs it answers None."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()

#: ``pred(meta, analysis, folded_body)`` -> True / False / None (undecided).
#: ``analysis`` is UNKNOWN (not loaded yet), None (the message has none) or a
#: :class:`hivemail.mime.MessageAnalysis`; ``folded_body`` is UNKNOWN or the
#: message's decoded text already passed through :func:`fold`.
StagedPredicate = Callable[[MessageMeta, object, object], "bool | None"]

# Costs: 0 = the metadata row, 1 = the stored analysis, 2 = the message text.
META, ANALYSIS, BODY = 0, 1, 2


def cost(q: Query) -> int:
    """What evaluating ``q`` may need to load (META, ANALYSIS or BODY)."""
    match q:
        case And(items) | Or(items):
            return max((cost(i) for i in items), default=META)
        case Not(item):
            return cost(item)
        case SentDate() | Header():
            return ANALYSIS
        case Body() | Text():
            return BODY
    return META


def _cost(q: Query, index: Mapping[Query, object] | None) -> int:
    """:func:`cost`, counting an index-answered key as nearly free (it is
    decided from a set lookup for all but the few unindexed messages)."""
    if not index:
        return cost(q)
    match q:
        case And(items) | Or(items):
            return max((_cost(i, index) for i in items), default=META)
        case Not(item):
            return _cost(item, index)
    return META if q in index else cost(q)


def _flags_only(q: Query) -> bool:
    match q:
        case HasFlag() | All():
            return True
        case And(items) | Or(items):
            return all(_flags_only(i) for i in items)
        case Not(item):
            return _flags_only(item)
    return False


def _has_flag(flag: str, flags: frozenset[str]) -> bool:
    if flag in flags:
        return True
    wanted = flag.lower() if flag.startswith("\\") else fold(flag)
    if flag.startswith("\\"):
        return any(f.lower() == wanted for f in flags)
    return any(fold(f) == wanted for f in flags)


def _flags_eval(q: Query, flags: frozenset[str]) -> bool:
    match q:
        case All():
            return True
        case HasFlag(flag):
            return _has_flag(flag, flags)
        case And(items):
            return all(_flags_eval(i, flags) for i in items)
        case Or(items):
            return any(_flags_eval(i, flags) for i in items)
        case Not(item):
            return not _flags_eval(item, flags)
    raise TypeError(f"not a flag query: {q!r}")


def flags_only(q: Query) -> bool:
    """Whether ``q`` depends on nothing but a message's flags (UNSEEN,
    FLAGGED, OR/NOT of flags...): then it can be decided once per distinct
    flag set rather than once per message."""
    match q:
        case All() | HasFlag():
            return True
        case And(items) | Or(items):
            return all(flags_only(i) for i in items)
        case Not(item):
            return flags_only(item)
    return False


def meta_predicate(q: Query, recent: Callable[[int], bool] = lambda uid: False) -> Callable[[MessageMeta], bool]:
    """A plain predicate for a query of cost META (raises ValueError else).

    A subtree made only of flag keys is evaluated once per distinct flag
    set and memoised: stores share one frozenset per combination, so a
    mailbox has a handful of them however many messages it holds.
    """
    if cost(q) != META:
        raise ValueError("meta_predicate needs a query the metadata answers")
    if _flags_only(q):
        memo: dict[frozenset[str], bool] = {}

        def by_flags(m: MessageMeta) -> bool:
            flags = m.flags
            hit = memo.get(flags)
            if hit is None:
                hit = memo[flags] = _flags_eval(q, flags)
            return hit

        return by_flags
    match q:
        case All():
            return lambda m: True
        case UidIn(uids):
            return lambda m: m.uid in uids
        case InternalDate(op, day):
            if op == "before":
                return lambda m: m.internal_date.date() < day
            if op == "on":
                return lambda m: m.internal_date.date() == day
            return lambda m: m.internal_date.date() >= day
        case InternalTime(op, when):
            if op == "before":
                return lambda m: m.internal_date < when
            return lambda m: m.internal_date >= when
        case SaveDate(op, day):
            return lambda m: _compare_day(op, m.save_date.date(), day)
        case Size(op, octets):
            if op == "larger":
                return lambda m: m.size > octets
            return lambda m: m.size < octets
        case ModSeq(at_least):
            return lambda m: m.modseq >= at_least
        case Recent():
            return lambda m: recent(m.uid)
        case Not(item):
            inner = meta_predicate(item, recent)
            return lambda m: not inner(m)
        case And(items):
            preds = tuple(meta_predicate(i, recent) for i in items)
            return lambda m: all(p(m) for p in preds)
        case Or(items):
            preds = tuple(meta_predicate(i, recent) for i in items)
            return lambda m: any(p(m) for p in preds)
    raise TypeError(f"unknown query node {q!r}")


def compile_query(q: Query, recent: Callable[[int], bool] = lambda uid: False,
                  index: Mapping[Query, tuple[frozenset[int], frozenset[int]]] | None = None,
                  ) -> StagedPredicate:
    """A three-valued predicate for staged evaluation.

    ``index`` maps text keys to a search index's answer, (UIDs that match,
    UIDs the index does not cover) (see :class:`TextMatches`): such a key is
    decided from the metadata row for every covered message, and evaluated
    as without an index for the others.

    Call it first with ``(meta, UNKNOWN, UNKNOWN)``: True and False are
    final; None means "load the analysis and call again" with the analysis
    (the body still UNKNOWN), and None then means "load the text and call
    again" with both, which always decides. And/Or try their cheap children
    first and stop at the first decisive one, so a message the flags rule
    out is never opened. The answers agree with :func:`matches`.
    """
    c = cost(q)
    if c == META:
        plain = meta_predicate(q, recent)
        return lambda m, a, b: plain(m)
    if index and q in index:
        hits, unknown = index[q]
        scan = compile_query(q, recent)

        def indexed(m: MessageMeta, a: object, b: object) -> bool | None:
            uid = m.uid
            if uid in hits:
                return True
            if uid in unknown:
                return scan(m, a, b)
            return False

        return indexed
    match q:
        case And(items):
            parts = tuple(compile_query(i, recent, index) for i in sorted(items, key=lambda i: _cost(i, index)))

            def all_of(m: MessageMeta, a: object, b: object) -> bool | None:
                result: bool | None = True
                for p in parts:
                    r = p(m, a, b)
                    if r is False:
                        return False
                    if r is None:
                        result = None
                return result

            return all_of
        case Or(items):
            parts = tuple(compile_query(i, recent, index) for i in sorted(items, key=lambda i: _cost(i, index)))

            def any_of(m: MessageMeta, a: object, b: object) -> bool | None:
                result: bool | None = False
                for p in parts:
                    r = p(m, a, b)
                    if r is True:
                        return True
                    if r is None:
                        result = None
                return result

            return any_of
        case Not(item):
            inner = compile_query(item, recent, index)

            def not_(m: MessageMeta, a: object, b: object) -> bool | None:
                r = inner(m, a, b)
                return None if r is None else not r

            return not_
        case SentDate(op, day):
            return lambda m, a, b: None if a is UNKNOWN else _compare_day(op, sent_day(a), day)
        case Header(name, text):
            needle = fold(text)

            def header(m: MessageMeta, a: object, b: object) -> bool | None:
                if a is UNKNOWN:
                    return None
                values = a.header_values(name) if a is not None else []  # type: ignore[attr-defined]
                return any(needle in fold(v) for v in values)

            return header
        case Body(text):
            needle = fold(text)
            return lambda m, a, b: None if b is UNKNOWN else needle in b  # type: ignore[operator]
        case Text(text):
            needle = fold(text)

            def text_(m: MessageMeta, a: object, b: object) -> bool | None:
                if a is not UNKNOWN and a is not None and needle in fold(a.header_text):  # type: ignore[attr-defined]
                    return True
                if a is UNKNOWN or b is UNKNOWN:
                    return None
                return needle in b  # type: ignore[operator]

            return text_
    raise TypeError(f"unknown query node {q!r}")
