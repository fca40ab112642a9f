"""SEARCH / UID SEARCH  (RFC 9051 section 6.4.4, RFC 3501 section 6.4.4,
RFC 4731 ESEARCH, RFC 5182 SEARCHRES, RFC 5032 WITHIN).

The IMAP key tree (``imap_proto/commands/search.py``) is translated into the
neutral query (``mailstore/search.py``) here, because only the session knows
what sequence numbers, ``$`` and \\Recent mean; the query is then evaluated in
stages, cheapest first: flags, dates, sizes and UIDs from the view's
metadata without touching the store, the stored analysis only for the
messages those leave undecided (in batches, one store round trip per
batch), and the message text last, only for BODY / TEXT and only for the
messages still undecided. Text keys of three characters or more (BODY,
TEXT, SUBJECT, FROM, TO, CC, BCC, HEADER) are first put to the store's
full-text index (``store.search_text``), which decides them for every
message it has indexed; only messages delivered too recently to be
indexed, and keys the index cannot answer (shorter needles), are read.

Decisions, checked against Dovecot 2.3.19 where it has an opinion:

* Messages expunged by another session but not yet reported keep their
  sequence numbers (RFC 9051 7.5.1) and never match; the tagged OK then says
  [EXPUNGEISSUED] (RFC 5530). Dovecot goes half-way: such a message still
  matches keys its index answers (ALL, flags, a sequence number), matches no
  key that needs its text, and says EXPUNGEISSUED then. Never matching gives
  the same answer whichever keys are asked.
* A sequence number above the message count matches nothing (Dovecot: ``SEARCH
  5`` with 3 messages is ``* SEARCH`` and OK), rather than FETCH's BAD: a
  search is a filter. ``n:*`` includes the last message however big n is
  (RFC 9051 section 9); Dovecot returns nothing for ``9:*`` over 3 messages.
* RECENT / NEW / OLD use the session's \\Recent set in IMAP4rev1; IMAP4rev2
  has no \\Recent (RFC 9051 appendix E), so there nothing is recent.
* RETURN (SAVE) with MIN and/or MAX but neither ALL nor COUNT saves only the
  messages reported (RFC 5182 section 2.4; Dovecot does the same). A search
  that fails leaves ``$`` empty (RFC 5182 section 2.1).
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from hivemail.imap import objectid
from hivemail.imap.handlers.common import resolve
from hivemail.imap.selected import SelectedView
from hivemail.imap_proto import ESearch, Search, SeqSet, Tagged
from hivemail.imap_proto.commands.search import (
    SearchAge,
    SearchAll,
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchObjectId,
    SearchOr,
    SearchRequest,
    SearchSaveDate,
    SearchSaveDateSupported,
    SearchSeq,
    SearchSize,
    SearchText,
)
from hivemail.mailstore import MailError
from hivemail.mailstore import search as q
from hivemail.mailstore.table import Row
from hivemail.mime import MessageAnalysis

__all__ = ["search", "translate", "evaluate", "matching", "send_esearch", "SearchOutcome", "uses_modseq", "highest_modseq"]

#: Messages whose analysis is fetched per store round trip, and whose text is
#: read before the next batch: bounds memory, and lets other sessions run.
BATCH = 256


# -- translation: IMAP key tree -> neutral query ------------------------------
def translate(key: SearchKey, view: SelectedView, saved: list[int], now: datetime | None = None,
              threads: dict[str, frozenset[int]] | None = None) -> q.Query:
    """The neutral query for ``key`` over ``view``: sequence sets become the
    UIDs they name now, ``$`` the saved UIDs, OLDER / YOUNGER instants
    relative to ``now``. And/Or/Not keep the client's order (the evaluator
    reorders by cost)."""
    match key:
        case SearchAll():
            return q.All()
        case SearchSeq(seqs, uid):
            return q.UidIn(frozenset(_uids_named(view, seqs, uid, saved)))
        case SearchFlag("\\Recent", present):
            return q.Recent() if present else q.Not(q.Recent())
        case SearchFlag(flag, present):
            return q.HasFlag(flag) if present else q.Not(q.HasFlag(flag))
        case SearchDate(op, day, sent):
            return q.SentDate(op.lower(), day) if sent else q.InternalDate(op.lower(), day)
        case SearchSaveDate(op, day):
            return q.SaveDate(op.lower(), day)
        case SearchSaveDateSupported():
            return q.All()  # every mailbox keeps save dates (RFC 8514 section 4)
        case SearchObjectId("EMAILID", value):
            blob_ids = view.table.blob_ids
            return q.UidIn(frozenset(
                uid for i, uid in enumerate(view.uids) if objectid.email_id(blob_ids[i]) == value))
        case SearchObjectId("THREADID", value):
            return q.UidIn((threads or {}).get(value, frozenset()))
        case SearchSize(op, size):
            return q.Size(op.lower(), size)
        case SearchHeader(name, value):
            return q.Header(name.lower(), value)
        case SearchText("BODY", value):
            return q.Body(value)
        case SearchText(_, value):
            return q.Text(value)
        case SearchModSeq(modseq):
            # The entry name and type only matter once per-flag modseqs
            # exist (RFC 7162 3.1.5); every flag shares the message's.
            return q.ModSeq(modseq)
        case SearchAge(op, seconds):
            instant = (now or datetime.now(timezone.utc)) - timedelta(seconds=seconds)
            # OLDER n: received more than n seconds ago; YOUNGER n: within them.
            return q.InternalTime("before" if op == "OLDER" else "since", instant)
        case SearchNot(inner):
            return q.Not(translate(inner, view, saved, now, threads))
        case SearchOr(left, right):
            return q.Or((translate(left, view, saved, now, threads), translate(right, view, saved, now, threads)))
        case SearchAnd(keys):
            return q.And(tuple(translate(k, view, saved, now, threads) for k in keys))
    raise TypeError(f"unknown search key {key!r}")


def _uids_named(view: SelectedView, seqs: SeqSet, uid: bool, saved: list[int]) -> list[int]:
    if seqs.saved or uid:
        return resolve(view, seqs, uid, saved)
    # Sequence numbers beyond the mailbox name nothing (Dovecot agrees);
    # ranges() drops them and keeps "n:*" meaning "n or the last".
    out: list[int] = []
    for low, high in seqs.ranges(view.exists):
        out.extend(view.uids[low - 1 : high])
    return out


# -- evaluation -----------------------------------------------------------------
class SearchOutcome:
    """Matching messages' sequence numbers and UIDs (ascending, in step), and
    whether some message could not be considered because it is expunged."""

    __slots__ = ("seqs", "uids", "expunge_issued")

    def __init__(self, seqs: list[int], uids: list[int], expunge_issued: bool) -> None:
        self.seqs = seqs
        self.uids = uids
        self.expunge_issued = expunge_issued


class _FlagsOnly:
    """Stands for every message with these flags (see ``q.flags_only``)."""

    __slots__ = ("flags",)

    def __init__(self, flags: frozenset[str]) -> None:
        self.flags = flags


async def evaluate(session, view: SelectedView, query: q.Query, recent: Callable[[int], bool]) -> SearchOutcome:
    """Run ``query`` over every message of ``view``, in stages by cost."""
    table = view.table
    uids = view.uids
    pending = view.pending_expunge
    expunge_issued = bool(pending)
    # Rows are read in place from the view's columns (no MessageMeta per
    # message). Sequence numbers are plain ints: no (seq, uid) tuple per
    # message, which for 100,000 messages costs more than the matching
    # itself. Pending expunges never match.
    if q.flags_only(query):
        # Decided once per distinct flag set, then one scan of that column.
        pred = q.meta_predicate(query, recent)
        hit = {n for n, flags in enumerate(table.flagsets) if pred(_FlagsOnly(flags))}
        fsids = table.fsids
        seqs = [i + 1 for i in range(len(uids)) if fsids[i] in hit and uids[i] not in pending]
        return SearchOutcome(seqs, [uids[i - 1] for i in seqs], expunge_issued)
    if q.cost(query) == q.META:
        pred = q.meta_predicate(query, recent)
        if pending:
            seqs = [i + 1 for i in range(len(uids)) if uids[i] not in pending and pred(Row(table, i))]
        else:
            seqs = [i + 1 for i in range(len(uids)) if pred(Row(table, i))]
        return SearchOutcome(seqs, [uids[i - 1] for i in seqs], expunge_issued)

    index = None
    keys = q.text_keys(query)
    if keys:
        found = await session.store.search_text(view.mailbox_id, keys)
        index = {k: (hits, found.unindexed) for k, hits in zip(keys, found.hits)}
    staged = q.compile_query(query, recent, index)
    unknown = q.UNKNOWN
    decided: dict[int, bool] = {}
    undecided: list[int] = []
    if index and query in index:
        # The whole query is one indexed key (SEARCH BODY x, SUBJECT y...):
        # its answer names the rows; no loop over every message.
        hits, unindexed = index[query]
        if not unindexed and len(hits) >= len(uids) // 8:
            # Many hits ("BODY wrote" names a third of a big mailbox): one
            # pass over the view's UIDs beats a sort and a bisect per hit.
            if pending:
                seqs = [i for i, u in enumerate(uids, 1) if u in hits and u not in pending]
            else:
                seqs = [i for i, u in enumerate(uids, 1) if u in hits]
            return SearchOutcome(seqs, [uids[i - 1] for i in seqs], expunge_issued)
        for u in sorted(hits):
            if _seq_of(uids, u) and u not in pending:
                decided[u] = True
        undecided = [u for u in sorted(unindexed) if _seq_of(uids, u) and u not in pending]
    else:
        for i, u in enumerate(uids):
            if u in pending:
                continue
            r = staged(Row(table, i), unknown, unknown)
            if r is None:
                undecided.append(u)
            elif r:
                decided[u] = True
    for start in range(0, len(undecided), BATCH):
        batch = undecided[start : start + BATCH]
        gone = await _decide_batch(session, view, staged, batch, decided)
        expunge_issued = expunge_issued or gone
    if len(decided) < len(uids) // 8:
        found = sorted(decided)
        return SearchOutcome([_seq_of(uids, u) for u in found], found, expunge_issued)
    seqs = [i for i, u in enumerate(uids, 1) if u in decided]
    return SearchOutcome(seqs, [uids[i - 1] for i in seqs], expunge_issued)


def _seq_of(uids, uid: int) -> int:
    """The sequence number of ``uid`` in the ascending ``uids``, 0 if absent
    (the store may name messages delivered after this view was taken)."""
    i = bisect.bisect_left(uids, uid)
    return i + 1 if i < len(uids) and uids[i] == uid else 0


async def _decide_batch(session, view: SelectedView, staged: q.StagedPredicate, batch: list[int],
                        decided: dict[int, bool]) -> bool:
    """Decide ``batch`` with the analyses, then the text where still needed;
    True if some message's data was gone (expunged meanwhile)."""
    store = session.store
    cache: dict = session.analysis_cache
    mailbox_id = view.mailbox_id
    analyses: dict[int, object] = {}
    missing = [u for u in batch if not isinstance(cache.get((mailbox_id, u)), MessageAnalysis)]
    blobs = await store.read_analyses(mailbox_id, missing) if missing else {}
    for u in batch:
        hit = cache.get((mailbox_id, u))
        if isinstance(hit, MessageAnalysis):
            analyses[u] = hit
    gone = any(u not in blobs and u not in analyses for u in missing)
    meta = view.meta
    # Parsing hundreds of analyses and decoding texts is CPU work: off the
    # loop (DESIGN.md principle 6), so other sessions keep being served.
    need_text = await asyncio.to_thread(_with_analyses, staged, meta, batch, blobs, analyses, decided)
    for u in need_text:
        try:
            raw = await store.read_blob(meta[u].blob_id)
        except (MailError, OSError):
            gone = True
            continue
        if await asyncio.to_thread(_with_text, staged, meta[u], analyses[u], raw):
            decided[u] = True
    return gone


def _with_analyses(staged: q.StagedPredicate, meta: dict, batch: list[int], blobs: dict[int, bytes],
                   analyses: dict[int, object], decided: dict[int, bool]) -> list[int]:
    need_text = []
    for u in batch:
        a = analyses.get(u)
        if a is None:
            blob = blobs.get(u)
            if blob is None:
                continue  # expunged since the view was taken: never matches
            a = analyses[u] = _parse(blob)
        r = staged(meta[u], a, q.UNKNOWN)
        if r is None:
            need_text.append(u)
        elif r:
            decided[u] = True
    return need_text


def _with_text(staged: q.StagedPredicate, m, analysis: object, raw: bytes) -> bool:
    body = q.body_text(analysis, raw)
    return bool(staged(m, analysis, q.fold(body)))


def _parse(blob: bytes) -> MessageAnalysis | None:
    try:
        return MessageAnalysis.from_bytes(blob)
    except (ValueError, KeyError, TypeError):
        # An analysis this version cannot read: the message has no headers
        # to match, rather than failing the whole search.
        return None


# -- the command ------------------------------------------------------------------
async def search(session, tag: str, request: SearchRequest) -> Tagged:
    from hivemail.imap.session import Selected

    state = session.state
    if not isinstance(state, Selected):  # the core's state table prevents this
        return Tagged.bad(tag, "No mailbox selected")
    name = "UID SEARCH" if request.uid else "SEARCH"
    try:
        view, outcome = await matching(session, state, request.key)
    except Exception:
        if request.save:
            session.saved_uids = []  # RFC 5182 2.1: a failed search empties $
        raise
    numbers = outcome.uids if request.uid else outcome.seqs
    modseq = highest_modseq(view, outcome.uids) if uses_modseq(request.key) else None
    opts = request.return_options
    if opts is None:
        session.send(Search(tuple(numbers), modseq, tag, request.uid))
    else:
        send_esearch(session, tag, request, opts, outcome, numbers, modseq)
    code = "EXPUNGEISSUED" if outcome.expunge_issued else None
    return Tagged.ok(tag, f"{name} completed", code)


async def matching(session, state, key: SearchKey) -> tuple[SelectedView, SearchOutcome]:
    """The messages of the selected mailbox that ``key`` matches: what
    SEARCH, SORT and THREAD share (RFC 5256: "The SORT command first
    searches the mailbox for messages that match the given searching
    criteria")."""
    # Fold in what other sessions did first, so that a message expunged
    # meanwhile is known as such (it keeps its number, RFC 9051 7.5.1,
    # and matches nothing) and new ones are counted (EXISTS goes out
    # before the result). The session syncs again after the command.
    await session.sync(allow_expunge=False)
    if uses_modseq(key):
        session.enable_condstore()  # RFC 7162 3.1 (SEARCH, SORT, THREAD)
    view = state.view
    threads = await _threads(session, view) if _has_threadid(key) else None
    query = translate(key, view, session.saved_uids, threads=threads)
    # RFC 9051 dropped \Recent: in IMAP4rev2 no message is recent.
    recent_set = set() if session.rev2 else view.recent
    return view, await evaluate(session, view, query, recent_set.__contains__)


def _has_threadid(key: SearchKey) -> bool:
    match key:
        case SearchObjectId("THREADID", _):
            return True
        case SearchNot(inner):
            return _has_threadid(inner)
        case SearchOr(left, right):
            return _has_threadid(left) or _has_threadid(right)
        case SearchAnd(keys):
            return any(_has_threadid(k) for k in keys)
    return False


async def _threads(session, view: SelectedView) -> dict[str, frozenset[int]]:
    """THREADID -> UIDs of the view (SEARCH THREADID, RFC 8474 section 6),
    from the sort keys stored at delivery (the worker's cache SORT and
    THREAD use)."""
    out: dict[str, set[int]] = {}
    uids = list(view.uids)
    known = await session.services.mailboxes.sort_keys.keys(view.mailbox_id, view.uidvalidity, uids)
    for uid, blob_id in zip(uids, view.table.blob_ids):
        keys = known.get(uid)
        if keys is not None:
            out.setdefault(objectid.thread_of(keys, blob_id), set()).add(uid)
    return {k: frozenset(v) for k, v in out.items()}


def send_esearch(session, tag: str, request, opts: tuple[str, ...], outcome: SearchOutcome,
                 numbers: list[int], modseq: int | None) -> None:
    """RFC 4731 section 3.1: MIN, MAX and ALL are left out when nothing
    matched; COUNT 0 is still given. ``numbers`` (and ``outcome.uids``) are
    in the order to report: ascending for SEARCH, the sort order for SORT,
    where MIN and MAX are the first and last in that order and ALL keeps it
    (RFC 5267 section 3.1). ``request`` has ``uid``."""
    if "SAVE" in opts:
        if "ALL" in opts or "COUNT" in opts or not ("MIN" in opts or "MAX" in opts):
            session.saved_uids = list(outcome.uids)
        else:
            # RFC 5182 2.4: with MIN / MAX and neither ALL nor COUNT, $ is
            # only what they report.
            picked = set()
            if outcome.uids and "MIN" in opts:
                picked.add(outcome.uids[0])
            if outcome.uids and "MAX" in opts:
                picked.add(outcome.uids[-1])
            session.saved_uids = sorted(picked)
    if not set(opts) - {"SAVE"}:
        return  # RFC 5182 2.2: SAVE alone answers with no ESEARCH
    session.send(ESearch(
        tag=tag,
        uid=request.uid,
        min=numbers[0] if numbers and "MIN" in opts else None,
        max=numbers[-1] if numbers and "MAX" in opts else None,
        all=SeqSet.compact(numbers) if numbers and "ALL" in opts else None,
        count=len(numbers) if "COUNT" in opts else None,
        modseq=modseq,
    ))


def uses_modseq(key: SearchKey) -> bool:
    match key:
        case SearchModSeq():
            return True
        case SearchNot(inner):
            return uses_modseq(inner)
        case SearchOr(left, right):
            return uses_modseq(left) or uses_modseq(right)
        case SearchAnd(keys):
            return any(uses_modseq(k) for k in keys)
    return False


def highest_modseq(view: SelectedView, uids: list[int]) -> int | None:
    """RFC 7162 3.1.5: a search with MODSEQ reports the highest mod-sequence
    of the messages it returns (none when it returns none)."""
    return max((view.meta[u].modseq for u in uids), default=None)
