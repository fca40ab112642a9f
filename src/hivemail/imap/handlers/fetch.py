"""FETCH and UID FETCH (RFC 9051 sections 6.4.5, 6.4.9 and 7.5.2; RFC 3516
BINARY; RFC 7162 CHANGEDSINCE / VANISHED).

Where each item comes from (DESIGN.md principle 2, never re-parse):

* FLAGS, INTERNALDATE, RFC822.SIZE, UID, MODSEQ: the view's metadata
  only; a metadata-only FETCH never touches the store.
* ENVELOPE, BODY, BODYSTRUCTURE and the location of every section: the
  analysis stored at delivery, read once per message per session
  (``session.analysis_cache``, a bounded LRU).
* Section contents: byte ranges of the stored file, streamed
  (``LiteralFile``).  Only HEADER.FIELDS subsets, BINARY decoding and the
  rare message with ``binary`` parts (NUL must not go in a plain literal)
  are built in memory.

Item order follows the request, with Dovecot's two adjustments (checked
against Dovecot 2.3, tests/e2e/imap/test_fetch.py): UID comes first in UID
FETCH, and the short items (FLAGS, INTERNALDATE, RFC822.SIZE, UID, MODSEQ)
come before the others, the FLAGS that an implicit \\Seen adds among them.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from datetime import datetime, timezone

from hivemail.imap import fetch_sections as S
from hivemail.imap import objectid
from hivemail.imap import qresync as Q
from hivemail.imap.handlers.common import InvalidSet, resolve
from hivemail.imap_proto import Fetch, FetchLines, Tagged, format_datetime
from hivemail.imap_proto.bodystructure import body, envelope
from hivemail.imap_proto.commands.fetch import FetchAttribute, FetchRequest, Section
from hivemail.imap_proto.responses import EXPUNGEISSUED, Literal, LiteralFile, ResponseCode, Vanished
from hivemail.imap_proto.seqset import SeqSet
from hivemail.mailstore import MailError
from hivemail.mailstore.types import FlagMode
from hivemail.mime import MessageAnalysis

# Responses are flushed to the socket every this many messages, so a
# FETCH 1:* over 100,000 messages never holds more than this in memory.
FLUSH_EVERY = 2000
# Parsed analyses kept per session (a few KB each).
ANALYSIS_CACHE_SIZE = 4096

UNKNOWN_CTE = ResponseCode("UNKNOWN-CTE")
_META = frozenset({"FLAGS", "INTERNALDATE", "RFC822.SIZE", "UID", "MODSEQ", "EMAILID", "SAVEDATE"})
_SEEN = "\\Seen"


@dataclass(frozen=True)
class _Item:
    """One requested item, resolved once per command."""

    name: str                      # the response item name
    kind: str                      # FLAGS, UID, ..., ENVELOPE, BODY, BODYSTRUCTURE, SECTION, BINARY, BINARY.SIZE
    section: Section | None = None
    partial: tuple[int, int] | None = None


def _items(request: FetchRequest) -> tuple[list[_Item], list[_Item]]:
    """(short metadata items, content items), each in request order."""
    attrs = list(request.attributes)
    if request.uid:
        attrs.sort(key=lambda a: a.name != "UID")  # stable: UID first
    if request.changed_since is not None and not any(a.name == "MODSEQ" for a in attrs):
        # RFC 7162 section 3.1.4.1: CHANGEDSINCE implies MODSEQ.
        attrs.append(FetchAttribute("MODSEQ"))
    meta: list[_Item] = []
    content: list[_Item] = []
    for a in attrs:
        if a.name in _META:
            meta.append(_Item(a.name, a.name))
        elif a.section is None and a.name in ("ENVELOPE", "BODY", "BODYSTRUCTURE", "THREADID", "PREVIEW"):
            content.append(_Item(a.name, a.name))
        elif a.section is None:  # RFC822, RFC822.HEADER, RFC822.TEXT (RFC 3501)
            text = {"RFC822": None, "RFC822.HEADER": "HEADER", "RFC822.TEXT": "TEXT"}[a.name]
            content.append(_Item(a.name, "SECTION", Section((), text)))
        else:
            kind = a.name.removesuffix(".PEEK")
            sec = a.section
            if sec.headers:
                # Dovecot answers with the field names upper-cased:
                # BODY[HEADER.FIELDS (SUBJECT FROM)].
                sec = Section(sec.part, sec.text, tuple(h.upper() for h in sec.headers))
            name = FetchAttribute(a.name, sec, a.partial).response_name()
            content.append(_Item(name, "SECTION" if kind == "BODY" else kind, a.section, a.partial))
    return meta, content


class _Outcome:
    """What the tagged response must say, gathered over the messages."""

    def __init__(self) -> None:
        self.expunged = False
        self.unknown_cte: str | None = None

    def tagged(self, tag: str) -> Tagged:
        if self.unknown_cte is not None:
            # RFC 3516 section 4.3; Dovecot sends the same code and text.
            return Tagged.no(tag, "Unknown Content-Transfer-Encoding", UNKNOWN_CTE)
        if self.expunged:
            # Dovecot: "OK [EXPUNGEISSUED] Some messages were already expunged."
            # (cmd-fetch.c; it never answers NO to a FETCH for this.)
            return Tagged.ok(tag, "Some messages were already expunged", EXPUNGEISSUED)
        return Tagged.ok(tag, "Fetch completed")


async def fetch(session, tag: str, request: FetchRequest) -> Tagged:
    view = session.state.view
    try:
        uids = resolve(view, request.seqs, request.uid, session.saved_uids)
    except InvalidSet as e:
        return Tagged.bad(tag, str(e))
    if request.vanished and not session.qresync:
        return Tagged.bad(tag, "QRESYNC not enabled")  # RFC 7162 3.2.6
    if request.changed_since is not None or any(a.name == "MODSEQ" for a in request.attributes):
        session.enable_condstore()
    if request.vanished:
        await _send_vanished(session, view, request)
    if request.changed_since is not None:
        since = request.changed_since
        uids = [u for u in uids if view.meta[u].modseq > since]

    meta_items, content_items = _items(request)
    # PREVIEW and THREADID come from the keys stored at delivery, read for a
    # batch of messages at a time: no analysis, no message file.
    keyed = [i for i in content_items if i.kind in _KEYED]
    content_items = [i for i in content_items if i.kind not in _KEYED]
    seen_set = await _set_seen(session, view, uids, request)
    outcome = _Outcome()
    if not content_items and not keyed and not seen_set:
        if not await _fetch_meta_only(session, view, uids, meta_items):
            return Tagged.ok(tag, "Fetch aborted")
        return outcome.tagged(tag)

    explicit_flags = any(i.kind == "FLAGS" for i in meta_items)
    seq = 0
    batch: dict[str, dict] = {}
    for n, uid in enumerate(uids, 1):
        seq = _seq(view, uid, seq)
        m = view.meta[uid]
        items = [(i.name, _meta_value(session, i.kind, uid, m)) for i in meta_items]
        if keyed:
            if (n - 1) % FLUSH_EVERY == 0:
                batch = await _keyed_batch(session, view, keyed, uids[n - 1 : n - 1 + FLUSH_EVERY])
            items.extend((i.name, _keyed_value(i.kind, batch, uid, m)) for i in keyed)
        if uid in seen_set and not explicit_flags:
            # Dovecot (and RFC 9051 section 6.4.5's SHOULD) report the
            # \Seen just set; it goes with the short items, with the
            # MODSEQ (and UID) a CONDSTORE (QRESYNC) client is owed (RFC
            # 7162 3.2.4).
            items.append(("FLAGS", session.flags_for(uid, m.flags)))
            if session.qresync and not any(i.kind == "UID" for i in meta_items):
                items.insert(0, ("UID", uid))
            if session.condstore and not any(i.kind == "MODSEQ" for i in meta_items):
                items.append(("MODSEQ", (m.modseq,)))
        if content_items:
            items.extend(await _content(session, view, uid, m, content_items, outcome))
        if items:
            session.send(Fetch(seq, tuple(items)))
        if n % FLUSH_EVERY == 0 and not await session.flush():
            return Tagged.ok(tag, "Fetch aborted")
    return outcome.tagged(tag)


# -- metadata ---------------------------------------------------------------

_KEYED = frozenset({"PREVIEW", "THREADID"})


async def _keyed_batch(session, view, keyed: list[_Item], uids: list[int]) -> dict[str, dict]:
    """The stored previews / sort keys of ``uids``, one store read each."""
    out: dict[str, dict] = {}
    kinds = {i.kind for i in keyed}
    if "PREVIEW" in kinds:
        out["PREVIEW"] = await session.store.previews(view.mailbox_id, uids)
    if "THREADID" in kinds:
        out["THREADID"] = await session.services.mailboxes.sort_keys.keys(view.mailbox_id, view.uidvalidity, uids)
    return out


def _keyed_value(kind: str, batch: dict[str, dict], uid: int, m):
    """PREVIEW (RFC 8970, computed at delivery) or THREADID (RFC 8474);
    NIL for a message gone from the store meanwhile."""
    found = batch[kind].get(uid)
    if kind == "PREVIEW" or found is None:
        return found
    return (objectid.thread_of(found, m.blob_id),)


def _seq(view, uid: int, lo: int) -> int:
    """Sequence number of ``uid``; ``lo`` is the previous one (UIDs come
    ascending, so the search starts there)."""
    i = bisect.bisect_left(view.uids, uid, lo)
    return i + 1


def _meta_value(session, kind: str, uid: int, m):
    if kind == "UID":
        return uid
    if kind == "FLAGS":
        return session.flags_for(uid, m.flags)
    if kind == "INTERNALDATE":
        return m.internal_date
    if kind == "RFC822.SIZE":
        return m.size
    if kind == "EMAILID":
        return (objectid.email_id(m.blob_id),)  # "EMAILID (M...)" (RFC 8474 5.3)
    if kind == "SAVEDATE":
        return m.save_date  # RFC 8514 section 3
    return (m.modseq,)  # MODSEQ: "MODSEQ (n)" (RFC 7162 section 3.3.2)


async def _fetch_meta_only(session, view, uids: list[int], items: list[_Item]) -> bool:
    """The hot path (FETCH 1:* (UID FLAGS) on a big mailbox): read the
    view's columns, format each line directly (FLAGS once per distinct flag
    set), and send them in batches of FLUSH_EVERY. No store access, no
    object per message."""
    table = view.table
    recent = view.recent if not session.rev2 else ()
    flags_for = session.flags_for
    fsids, sizes, modseqs, all_uids = table.fsids, table.sizes, table.modseqs, table.uids
    flag_bytes: dict[tuple[int, bool], bytes] = {}

    def flags(i: int, uid: int) -> bytes:
        key = (fsids[i], uid in recent)
        found = flag_bytes.get(key)
        if found is None:
            found = flag_bytes[key] = b"FLAGS (" + " ".join(flags_for(uid, table.flags(i))).encode() + b")"
        return found

    def part(kind: str, i: int, uid: int) -> bytes:
        if kind == "UID":
            return b"UID %d" % uid
        if kind == "FLAGS":
            return flags(i, uid)
        if kind == "RFC822.SIZE":
            return b"RFC822.SIZE %d" % sizes[i]
        if kind == "INTERNALDATE":
            return b'INTERNALDATE "' + format_datetime(table.internal_date(i)).encode() + b'"'
        if kind == "EMAILID":
            return b"EMAILID (" + objectid.email_id(table.blob_ids[i]).encode() + b")"
        if kind == "SAVEDATE":
            return b'SAVEDATE "' + format_datetime(datetime.fromtimestamp(table.sdates[i], timezone.utc)).encode() + b'"'
        return b"MODSEQ (%d)" % modseqs[i]

    kinds = [i.kind for i in items]
    rows = _rows(table, uids)
    if kinds == ["UID", "FLAGS"] and not recent:
        # The commonest resync of all: one comprehension per batch, the
        # FLAGS text looked up by flag-set id.
        by_fsid = [b"FLAGS (" + " ".join(flags_for(0, f)).encode() + b")" for f in table.flagsets]
        for start in range(0, len(rows), FLUSH_EVERY):
            batch = rows[start : start + FLUSH_EVERY]
            session.send(FetchLines(b"".join(
                [b"* %d FETCH (UID %d %s)\r\n" % (i + 1, all_uids[i], by_fsid[fsids[i]]) for i in batch]
            )))
            if not await session.flush():
                return False
        return True
    lines: list[bytes] = []
    for n, i in enumerate(rows, 1):
        uid = all_uids[i]
        if kinds == ["UID", "FLAGS"]:
            lines.append(b"* %d FETCH (UID %d %s)\r\n" % (i + 1, uid, flags(i, uid)))
        else:
            lines.append(b"* %d FETCH (%s)\r\n" % (i + 1, b" ".join([part(k, i, uid) for k in kinds])))
        if n % FLUSH_EVERY == 0:
            session.send(FetchLines(b"".join(lines)))
            lines.clear()
            if not await session.flush():
                return False
    if lines:
        session.send(FetchLines(b"".join(lines)))
    return True


def _rows(table, uids: list[int]) -> list[int] | range:
    """Row indexes of ``uids`` (ascending, all present in the table)."""
    if not uids:
        return []
    first = bisect.bisect_left(table.uids, uids[0])
    last = first + len(uids) - 1
    if last < len(table.uids) and table.uids[last] == uids[-1]:
        return range(first, last + 1)  # contiguous: 1:* and most ranges
    out, lo = [], first
    for uid in uids:
        lo = bisect.bisect_left(table.uids, uid, lo)
        out.append(lo)
    return out


async def _set_seen(session, view, uids: list[int], request: FetchRequest) -> set[int]:
    """Set \\Seen for a non-PEEK body fetch (RFC 9051 section 6.4.5), in one
    store call before answering; not in a read-only (EXAMINE) view.
    Returns the UIDs whose flags changed."""
    if view.read_only or not any(a.sets_seen for a in request.attributes):
        return set()
    targets = [u for u in uids if _SEEN not in view.meta[u].flags and not view.is_expunged(u)]
    if not targets:
        return set()
    updates, _ = await session.store.store_flags(view.mailbox_id, targets, FlagMode.ADD, [_SEEN])
    view.note_own_flags([(u.uid, u.flags, u.modseq) for u in updates])
    return {u.uid for u in updates}


async def _send_vanished(session, view, request: FetchRequest) -> None:
    """UID FETCH ... (CHANGEDSINCE m VANISHED): the UIDs of the set expunged
    since m, as ``* VANISHED (EARLIER)`` before any FETCH (RFC 7162 3.2.6)."""
    if request.seqs.saved:
        return  # "$" names messages the view holds: none of them vanished
    changes = await session.store.changes_since(view.mailbox_id, request.changed_since)
    gone = Q.vanished_earlier(view, changes, request.seqs)
    if gone:
        session.send(Vanished(SeqSet.compact(gone), earlier=True))


# -- content ------------------------------------------------------------------


async def analysis(session, mailbox_id: int, uid: int) -> MessageAnalysis:
    """The stored analysis of a message, parsed once per session (LRU).
    Raises MailError(EXPUNGED) when the message is gone."""
    cache = session.analysis_cache
    key = (mailbox_id, uid)
    a = cache.pop(key, None)
    if a is None:
        a = MessageAnalysis.from_bytes(await session.store.read_analysis(mailbox_id, uid))
        while len(cache) >= ANALYSIS_CACHE_SIZE:
            del cache[next(iter(cache))]
    cache[key] = a
    return a


async def _content(session, view, uid: int, m, items: list[_Item], outcome: _Outcome) -> list:
    if view.is_expunged(uid):
        # Expunged by another session, not yet reported: Dovecot answers
        # NIL for what it can no longer read and OK [EXPUNGEISSUED].
        outcome.expunged = True
        return [(i.name, None) for i in items]
    try:
        a = await analysis(session, view.mailbox_id, uid)
    except MailError as e:
        if e.kind.name != "EXPUNGED":
            raise
        outcome.expunged = True
        return [(i.name, None) for i in items]
    path = session.store.blob_path(m.blob_id)
    if path and not os.path.exists(path):
        outcome.expunged = True
        return [(i.name, None) for i in items]
    reader = _Reader(session, m.blob_id, path)
    try:
        return await _items_of(reader, a, items, outcome, "UTF8=ACCEPT" in session.enabled)
    except MailError as e:
        if e.kind.name != "EXPUNGED":
            raise
        # The file went away under us (expunged, and the last reference).
        outcome.expunged = True
        return [(i.name, None) for i in items]


async def _items_of(reader: _Reader, a: MessageAnalysis, items: list[_Item], outcome: _Outcome, utf8: bool) -> list:
    binary_parts = S.has_binary_part(a)
    out = []
    for i in items:
        match i.kind:
            case "ENVELOPE":
                out.append((i.name, envelope(a, utf8)))
            case "BODY":
                out.append((i.name, body(a, False)))
            case "BODYSTRUCTURE":
                out.append((i.name, body(a, True)))
            case "SECTION":
                out.append((i.name, await _section(reader, a, i, binary_parts)))
            case "BINARY" | "BINARY.SIZE":
                where = S.locate_binary(a, i.section.part)
                if isinstance(where, S.UnknownEncoding):
                    outcome.unknown_cte = where.encoding
                    continue
                if i.kind == "BINARY":
                    out.append((i.name, await _binary(reader, where, i.partial, binary_parts)))
                elif where.encoding is None:
                    out.append((i.name, where.span.length))
                else:
                    data = S.decode_binary(await reader.read(where.span), where.encoding)
                    out.append((i.name, len(data)))
    return out


async def _section(reader: _Reader, a: MessageAnalysis, item: _Item, binary_parts: bool):
    where = S.locate(a, item.section)
    if isinstance(where, S.HeaderFields):
        data = S.header_fields(await reader.read(where.span), where.names, where.exclude)
        offset, count = S.apply_partial(len(data), item.partial)
        return Literal(data[offset : offset + count])
    offset, count = S.apply_partial(where.length, item.partial)
    span = S.Span(where.start + offset, where.start + offset + count)
    if binary_parts or not reader.path:
        # NUL may not go in a literal (RFC 9051 section 9, CHAR8); like
        # Dovecot, send it as 0x80.
        return Literal((await reader.read(span)).replace(b"\0", b"\x80"))
    return LiteralFile(reader.path, span.start, span.length)


async def _binary(reader: _Reader, where: S.Binary, partial, binary_parts: bool):
    if where.encoding is None:
        offset, count = S.apply_partial(where.span.length, partial)
        start = where.span.start + offset
        if reader.path:
            # literal8 (RFC 3516 section 4.2) when NUL may be in the data.
            return LiteralFile(reader.path, start, count, binary=binary_parts)
        return Literal(await reader.read(S.Span(start, start + count)), binary=True)
    data = S.decode_binary(await reader.read(where.span), where.encoding)
    offset, count = S.apply_partial(len(data), partial)
    return Literal(data[offset : offset + count], binary=True)


class _Reader:
    """Reads byte ranges of one stored message (small pieces only)."""

    def __init__(self, session, blob_id: str, path: str) -> None:
        self.store = session.store
        self.blob_id = blob_id
        self.path = path

    async def read(self, span: S.Span) -> bytes:
        if span.length <= 0:
            return b""
        return await self.store.read_blob(self.blob_id, span.start, span.end)
