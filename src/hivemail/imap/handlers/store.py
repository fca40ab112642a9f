"""STORE / UID STORE (RFC 9051 6.4.6)."""

from __future__ import annotations

from hivemail.imap.handlers.common import InvalidSet, resolve
from hivemail.imap_proto import Fetch, ResponseCode, SeqSet, Tagged
from hivemail.mailstore import FlagMode
from hivemail.mailstore.types import SYSTEM_FLAG_BY_LOWER

_MODES = {"+": FlagMode.ADD, "-": FlagMode.REMOVE, "": FlagMode.REPLACE}


def normalise_flags(flags) -> list[str]:
    """System flags in their canonical spelling; \\Recent cannot be stored
    (RFC 3501 2.3.2) and is dropped; other backslash flags are refused."""
    out = []
    for f in flags:
        if f.startswith("\\"):
            canon = SYSTEM_FLAG_BY_LOWER.get(f.lower())
            if canon is None:
                if f.lower() == "\\recent":
                    continue
                raise ValueError(f"Invalid system flag {f}")
            out.append(canon)
        else:
            out.append(f)
    return out


def _stale(view, updates, mode: FlagMode, flags: list[str]) -> set[int]:
    """UIDs whose new flags are not what the client expects: the flags it
    was last told, changed as it asked. There another session changed the
    message meanwhile and the client was not told yet; noting our own change
    makes the view current, so after .SILENT that change would never be
    reported (the consistency checker caught this on PostgreSQL). Without
    .SILENT the FLAGS go out anyway, so only .SILENT asks."""
    asked = {f.lower() for f in flags}
    stale = set()
    for u in updates:
        if u.uid in view.meta:
            told = {f.lower() for f in view.meta[u.uid].flags}
            expected = {FlagMode.ADD: told | asked, FlagMode.REMOVE: told - asked}.get(mode, asked)
            if expected != {f.lower() for f in u.flags}:
                stale.add(u.uid)
    return stale


async def store(session, tag: str, request) -> Tagged:
    view = session.state.view
    if view.read_only:
        return Tagged.no(tag, "Mailbox is read-only", "READ-ONLY")
    try:
        uids = resolve(view, request.seqs, request.uid, session.saved_uids)
        flags = normalise_flags(request.flags)
    except (InvalidSet, ValueError) as e:
        return Tagged.bad(tag, str(e))
    if request.unchanged_since is not None:
        session.enable_condstore()  # RFC 7162 3.1
    mode = _MODES[request.mode]
    updates, failed = await session.store.store_flags(
        view.mailbox_id, uids, mode, flags, unchanged_since=request.unchanged_since
    )
    stale = _stale(view, updates, mode, flags) if request.silent else set()
    view.note_own_flags([(u.uid, u.flags, u.modseq) for u in updates])
    # RFC 9051 6.4.6: the new flags of each message, also those whose flags
    # did not change (Dovecot sends them all too). A CONDSTORE client gets
    # the MODSEQ of each, and a FETCH even after .SILENT for the messages
    # changed (RFC 7162 3.1.3); a QRESYNC client also the UID (3.2.4).
    # Item order as Dovecot's: UID, MODSEQ, FLAGS.
    # After .SILENT the FLAGS still go out where the client's idea is stale.
    if request.silent:
        targets = [u.uid for u in updates if session.condstore or u.uid in stale]
    else:
        targets = uids
    for uid in targets:
        if uid in failed or uid not in view.meta or view.is_expunged(uid):
            continue
        m = view.meta[uid]
        items: list = []
        if request.uid or session.qresync:
            items.append(("UID", uid))
        if session.condstore:
            items.append(("MODSEQ", (m.modseq,)))
        if not request.silent or uid in stale:
            items.append(("FLAGS", session.flags_for(uid, m.flags)))
        session.send(Fetch(view.seq_of(uid), tuple(items)))
    if failed:
        # RFC 7162 3.1.3: [MODIFIED set] names the messages not stored.
        nums = sorted(failed) if request.uid else sorted(view.seq_of(u) for u in failed if view.seq_of(u))
        return Tagged.ok(tag, "Conditional STORE failed", ResponseCode("MODIFIED", (SeqSet.compact(nums),)))
    return Tagged.ok(tag, "STORE completed")
