"""Rows <-> values, the same for every backend: flag bits and keyword text,
dates with their zone, MessageMeta and MailboxInfo from rows, the texts the
search index holds, and the sort/preview key columns. Pure functions, so the
embedded and PostgreSQL stores store and read exactly the same values."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from hivemail.mailstore.errors import ErrorKind, MailError
from hivemail.mailstore.search import body_text, fold
from hivemail.mailstore.sortkeys import SortKeys
from hivemail.mailstore.types import FlagMode, FlagUpdate, MailboxInfo, MessageMeta

# System flags as bits of messages.sysflags.
SEEN, ANSWERED, FLAGGED, DELETED, DRAFT = 1, 2, 4, 8, 16
SYSTEM_BITS = {"\\Seen": SEEN, "\\Answered": ANSWERED, "\\Flagged": FLAGGED,
               "\\Deleted": DELETED, "\\Draft": DRAFT}
SYSTEM_BY_LOWER = {name.lower(): (name, bit) for name, bit in SYSTEM_BITS.items()}
# unique-id = 1*70 (%x21-7E)  (RFC 1939 section 7, UIDL)
UIDL = re.compile(r"[\x21-\x7e]{1,70}\Z")
KEYWORD_FORBIDDEN = frozenset('(){ %*"\\]') | frozenset(chr(c) for c in range(0x21)) | {"\x7f"}

#: Header fields with a column of their own in the search index: HEADER /
#: FROM / TO / CC / BCC / SUBJECT on them is answered by the index alone.
HEADER_COLUMNS = {"subject": "h_subject", "from": "h_from", "to": "h_to", "cc": "h_cc", "bcc": "h_bcc"}
COLUMNS = ("hdr", "body", *HEADER_COLUMNS.values())
# Characters the index stores as U+FFFD (neither SQLite nor PostgreSQL binds
# lone surrogates; NUL is not text). ``search.indexable`` keeps needles with
# them off the index.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def parse_flags(flags: Iterable[str]) -> tuple[int, dict[str, str]]:
    """-> (system flag bits, {keyword.lower(): keyword}). \\Recent is ignored
    (it is a session property in RFC 3501 and gone in RFC 9051)."""
    bits = 0
    keywords: dict[str, str] = {}
    for flag in flags:
        if flag.startswith("\\"):
            lower = flag.lower()
            if lower == "\\recent":
                continue
            try:
                bits |= SYSTEM_BY_LOWER[lower][1]
            except KeyError:
                raise MailError(ErrorKind.NOT_ALLOWED, f"unknown system flag {flag}") from None
            continue
        if not flag or len(flag) > 256 or not KEYWORD_FORBIDDEN.isdisjoint(flag):
            raise MailError(ErrorKind.NOT_ALLOWED, f"bad keyword {flag!r}")
        keywords.setdefault(flag.lower(), flag)
    return bits, keywords


def keywords_text(keywords: Iterable[str]) -> str:
    return " ".join(sorted(keywords))


_flagsets: dict[tuple[int, str], frozenset[str]] = {}


def flagset(bits: int, keywords: str) -> frozenset[str]:
    """Interned frozensets: a mailbox has few distinct flag combinations, so
    a snapshot of 100k rows shares a handful of set objects."""
    key = (bits, keywords)
    found = _flagsets.get(key)
    if found is None:
        found = frozenset([n for n, b in SYSTEM_BITS.items() if bits & b]
                          + (keywords.split(" ") if keywords else []))
        if len(_flagsets) < 100_000:
            _flagsets[key] = found
    return found


_zones: dict[int, timezone] = {0: timezone.utc}


def zone(minutes: int) -> timezone:
    zone = _zones.get(minutes)
    if zone is None:
        zone = _zones[minutes] = timezone(timedelta(minutes=minutes))
    return zone


def date_columns(when: datetime | None, now: float) -> tuple[int, int]:
    """-> (Unix seconds, zone offset in minutes). A naive datetime is UTC."""
    if when is None:
        return int(now), 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    offset = when.utcoffset() or timedelta()
    return int(when.timestamp() // 1), int(offset.total_seconds() // 60)


def metas(rows: list[tuple]) -> tuple[MessageMeta, ...]:
    """Build MessageMeta objects as fast as CPython allows; this loop is most
    of the cost of SELECTing a 100k mailbox (~2 us per row). It avoids the
    frozen dataclass __init__ (one object.__setattr__ per field) by filling
    the instance dict directly; the result is indistinguishable from one
    built normally. Delivered mail has INTERNALDATE == save date (UTC), so
    the second datetime is usually shared rather than built."""
    new = object.__new__
    cls = MessageMeta
    stamp = datetime.fromtimestamp
    utc = timezone.utc
    flagsets = _flagsets
    out = []
    append = out.append
    for uid, modseq, bits, keywords, idate, itz, sdate, size, blob_id, uidl in rows:
        flags = flagsets.get((bits, keywords)) or flagset(bits, keywords)
        internal = stamp(idate, _zones.get(itz) or zone(itz))
        meta = new(cls)
        meta.__dict__.update(
            uid=uid, modseq=modseq, flags=flags, internal_date=internal,
            save_date=internal if (sdate == idate and itz == 0) else stamp(sdate, utc),
            size=size, blob_id=blob_id, explicit_uidl=uidl)
        append(meta)
    return tuple(out)


def mailbox_info(row: tuple) -> MailboxInfo:
    return MailboxInfo(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), row[7])




def storable(text: str) -> str:
    return UNSTORABLE.sub("\ufffd", text) if UNSTORABLE.search(text) else text


def parse_analysis(blob: bytes) -> Any:
    """The analysis, or None when this version cannot read it (the IMAP
    search handler treats such a message as having no header and no text:
    the index must agree)."""
    from hivemail.mime import MessageAnalysis

    try:
        return MessageAnalysis.from_bytes(bytes(blob))
    except Exception:
        return None


def search_columns(analysis: bytes, raw: bytes) -> tuple[str, ...]:
    """The folded texts of a blob's index rows, in ``COLUMNS`` order."""
    a = parse_analysis(analysis)
    if a is None:
        return ("",) * len(COLUMNS)
    texts = [a.header_text, body_text(a, raw)]
    texts.extend("\n".join(a.header_values(name)) for name in HEADER_COLUMNS)
    return tuple(storable(fold(t)) for t in texts)




def keys_row(keys: SortKeys, preview: str) -> tuple:
    """The blob_keys columns after blob_id, in _KEYS_COLUMNS order."""
    return (keys.sent, storable(keys.subject), int(keys.reply), storable(keys.from_), storable(keys.to),
            storable(keys.cc), storable(keys.display_from), storable(keys.display_to),
            None if keys.message_id is None else storable(keys.message_id),
            "\n".join(storable(r) for r in keys.references), storable(preview))


def sort_keys_of(row: tuple) -> SortKeys:
    sent, subject, reply, from_, to, cc, dfrom, dto, message_id, refs, _preview = row
    return SortKeys(sent, subject, bool(reply), from_, to, cc, dfrom, dto, message_id,
                    tuple(refs.split("\n")) if refs else ())




def flag_changes(rows: Iterable[Sequence], mode: FlagMode, bits: int, keywords: dict[str, str],
                 unchanged_since: int | None) -> tuple[list[tuple[int, int, str]], list[int]]:
    """STORE on rows of (uid, modseq, sysflags, keywords), ascending by uid:
    -> ([(uid, new sysflags, new keywords text)] of the rows that change,
    UIDs that fail UNCHANGEDSINCE (RFC 7162 section 3.2))."""
    failed: list[int] = []
    changes: list[tuple[int, int, str]] = []
    for uid, modseq, old_bits, old_keywords in rows:
        if unchanged_since is not None and modseq > unchanged_since:
            failed.append(uid)
            continue
        current = {k.lower(): k for k in old_keywords.split(" ")} if old_keywords else {}
        if mode is FlagMode.ADD:
            new_bits = old_bits | bits
            new_keywords = {**keywords, **current}
        elif mode is FlagMode.REMOVE:
            new_bits = old_bits & ~bits
            new_keywords = {k: v for k, v in current.items() if k not in keywords}
        else:
            new_bits = bits
            new_keywords = keywords
        text = keywords_text(new_keywords.values())
        if new_bits != old_bits or text != old_keywords:
            changes.append((uid, new_bits, text))
    return changes, failed


def split_changed(rows: Iterable[Sequence], since: int) -> tuple[tuple[MessageMeta, ...], list[FlagUpdate]]:
    """Rows of (META columns..., append_modseq) changed after ``since``,
    ascending by uid: -> (messages appended since, flag updates of the others)."""
    new_rows: list[tuple] = []
    updates: list[FlagUpdate] = []
    for row in rows:
        if row[10] > since:
            new_rows.append(tuple(row)[:10])
        else:
            updates.append(FlagUpdate(row[0], flagset(row[2], row[3]), row[1]))
    return metas(new_rows), updates


def check_uidls(uidls: Mapping[int, str | None]) -> None:
    """set_explicit_uidls' rule: each UIDL 1-70 characters 0x21-0x7E (RFC
    1939 section 7) and none twice; MailError(NOT_ALLOWED) otherwise."""
    seen: set[str] = set()
    for uid, uidl in uidls.items():
        if uidl is None:
            continue
        if not UIDL.match(uidl):
            raise MailError(ErrorKind.NOT_ALLOWED, f"UID {uid}: not a valid UIDL: {uidl!r}")
        if uidl in seen:
            raise MailError(ErrorKind.NOT_ALLOWED, f"UIDL {uidl!r} given twice")
        seen.add(uidl)
