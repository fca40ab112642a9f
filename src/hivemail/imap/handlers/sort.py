"""SORT / UID SORT and THREAD / UID THREAD  (RFC 5256, RFC 5957 SORT=DISPLAY,
RFC 5267 ESORT).

Both first run the SEARCH evaluator (``search.matching``: the same
translation, staging and EXPUNGEISSUED as SEARCH), then order what matched
by keys computed at delivery (``mailstore/sortkeys.py``), read once per
worker and mailbox (``imap/sort_cache.py``): a SORT is Python's sort over
precomputed values, never a read of a message.

Decisions:

* Ties go to the lower sequence number (RFC 5256 section 3). Each
  criterion is applied by one stable sort, least significant first, and
  ``reverse=True`` keeps equal keys in their order, so REVERSE reverses its
  own key only and never the implicit sequence-number order.
* DATE falls back to INTERNALDATE when Date: is missing or unparseable
  (RFC 5256 section 2.2); THREAD's sent dates too.
* THREAD works on the searched messages only (RFC 5256: "For each searched
  message"); a parent that did not match is a dummy.
* Plain SORT answers ``* SORT`` in IMAP4rev2 too (RFC 9051 leaves SORT as
  RFC 5256 has it); SORT RETURN (...) answers ESEARCH (RFC 5267), with MIN,
  MAX and ALL in sort order. SAVE saves what matched (RFC 5182 section 1:
  "any command based on SEARCH, e.g., SORT").
"""

from __future__ import annotations

import asyncio
import gc

from hivemail.imap.handlers.search import SearchOutcome, highest_modseq, matching, send_esearch, uses_modseq
from hivemail.imap_proto import Tagged
from hivemail.imap_proto.commands.sort import SortRequest, ThreadRequest
from hivemail.imap_proto.responses import Sort, Thread
from hivemail.mailstore import threads
from hivemail.mailstore.sortkeys import EMPTY_KEYS

__all__ = ["sort", "thread", "sort_order"]

# Above this many messages, sorting and threading run in a thread so the
# event loop keeps serving other sessions between the GIL's switches.
OFF_LOOP = 20_000


def sort_order(criteria, keys: list, idates: list, sizes: list) -> list[int]:
    """Positions 0..n-1 (ascending sequence numbers) in sort order.
    ``keys`` are the messages' SortKeys, ``idates`` and ``sizes`` their
    INTERNALDATE seconds and RFC822.SIZE, all in sequence-number order."""
    order = list(range(len(keys)))
    for c in reversed(criteria):
        name = c.key
        if name == "ARRIVAL":
            col = idates
        elif name == "SIZE":
            col = sizes
        elif name == "DATE":
            col = [k.sent if k.sent is not None else d for k, d in zip(keys, idates)]
        else:
            field = _FIELDS[name]
            col = [getattr(k, field) for k in keys]
        order.sort(key=col.__getitem__, reverse=c.reverse)
    return order


_FIELDS = {"SUBJECT": "subject", "FROM": "from_", "TO": "to", "CC": "cc",
           "DISPLAYFROM": "display_from", "DISPLAYTO": "display_to"}


async def _matched(session, state, key):
    """(outcome, its keys, INTERNALDATEs, sizes), in sequence-number order."""
    view, outcome = await matching(session, state, key)
    known = await session.services.mailboxes.sort_keys.keys(view.mailbox_id, view.uidvalidity, outcome.uids)
    table = view.table
    idates, sizes = table.idates, table.sizes
    # A message expunged from the store since the view was taken has no
    # keys any more: it sorts as if it had no headers.
    keys = [known.get(u, EMPTY_KEYS) for u in outcome.uids]
    return (outcome, keys, [idates[s - 1] for s in outcome.seqs], [sizes[s - 1] for s in outcome.seqs])


async def _cpu(fn, n: int, *args):
    return await asyncio.to_thread(fn, *args) if n > OFF_LOOP else fn(*args)


async def sort(session, tag: str, request: SortRequest) -> Tagged:
    from hivemail.imap.session import Selected

    state = session.state
    if not isinstance(state, Selected):  # the core's state table prevents this
        return Tagged.bad(tag, "No mailbox selected")
    try:
        outcome, keys, idates, sizes = await _matched(session, state, request.key)
    except Exception:
        if request.save:
            session.saved_uids = []  # RFC 5182 2.1: a failed search empties $
        raise
    order = await _cpu(sort_order, len(keys), request.criteria, keys, idates, sizes)
    uids = [outcome.uids[i] for i in order]
    numbers = uids if request.uid else [outcome.seqs[i] for i in order]
    # RFC 7162 3.1.9 / 3.1.10: a MODSEQ criterion adds the highest MODSEQ.
    modseq = highest_modseq(state.view, uids) if uses_modseq(request.key) else None
    opts = request.return_options
    if opts is None:
        session.send(Sort(tuple(numbers), modseq))
    else:
        ordered = SearchOutcome([outcome.seqs[i] for i in order], uids, outcome.expunge_issued)
        send_esearch(session, tag, request, opts, ordered, numbers, modseq)
        if request.save:
            session.saved_uids.sort()  # $ is a set; keep it ascending as SEARCH leaves it
    code = "EXPUNGEISSUED" if outcome.expunge_issued else None
    return Tagged.ok(tag, f"{'UID SORT' if request.uid else 'SORT'} completed", code)


def _threads(algorithm: str, numbers: list[int], keys: list, idates: list) -> list:
    dates = [k.sent if k.sent is not None else d for k, d in zip(keys, idates)]
    subjects = [k.subject for k in keys]
    # Threading allocates a few objects per message; every so many
    # allocations the cyclic collector would walk every object of the
    # process (the worker's key cache and message tables included): on
    # 100,000 messages that tripled the time. The algorithm frees what it
    # made itself (threads.py breaks its cycles), so pause the collector.
    paused = gc.isenabled()
    gc.disable()
    try:
        if algorithm == "ORDEREDSUBJECT":
            return threads.ordered_subject(numbers, dates, subjects)
        return threads.references(numbers, dates, subjects, [k.reply for k in keys],
                                  [k.message_id for k in keys], [k.references for k in keys])
    finally:
        if paused:
            gc.enable()


async def thread(session, tag: str, request: ThreadRequest) -> Tagged:
    from hivemail.imap.session import Selected

    state = session.state
    if not isinstance(state, Selected):
        return Tagged.bad(tag, "No mailbox selected")
    outcome, keys, idates, _sizes = await _matched(session, state, request.key)
    numbers = outcome.uids if request.uid else outcome.seqs
    forest = await _cpu(_threads, len(keys), request.algorithm, numbers, keys, idates)
    session.send(Thread(tuple(forest)))
    code = "EXPUNGEISSUED" if outcome.expunge_issued else None
    return Tagged.ok(tag, f"{'UID THREAD' if request.uid else 'THREAD'} completed", code)
