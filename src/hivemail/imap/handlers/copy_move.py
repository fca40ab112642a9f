"""COPY, MOVE and their UID forms (RFC 9051 6.4.7-6.4.8, RFC 6851, RFC 4315 COPYUID)."""

from __future__ import annotations

from hivemail.imap.errors import tagged_for
from hivemail.imap.handlers.common import InvalidSet, resolve
from hivemail.imap_proto import Condition, ResponseCode, SeqSet, Tagged
from hivemail.mailstore import MailError


async def _copy_or_move(session, tag: str, request, move: bool) -> Tagged:
    state = session.state
    view = state.view
    if move and view.read_only:
        return Tagged.no(tag, "Mailbox is read-only", "READ-ONLY")
    try:
        uids = resolve(view, request.seqs, request.uid, session.saved_uids)
    except InvalidSet as e:
        return Tagged.bad(tag, str(e))
    verb = "MOVE" if move else "COPY"
    try:
        target = await session.store.get_mailbox(state.account.name, request.mailbox)
        uids = [u for u in uids if not view.is_expunged(u)]
        if not uids:
            return Tagged.ok(tag, f"{verb} completed")
        op = session.store.move if move else session.store.copy
        pairs = await op(view.mailbox_id, uids, state.account.name, request.mailbox)
    except MailError as e:
        return tagged_for(tag, e, target=True)
    code = None
    if pairs:
        code = ResponseCode.copyuid(target.uidvalidity, SeqSet.of(*(p[0] for p in pairs)), SeqSet.of(*(p[1] for p in pairs)))
    if not move:
        return Tagged.ok(tag, f"{verb} completed", code)
    # RFC 6851 4.3: COPYUID goes in an untagged OK before the expunges.
    if code is not None:
        session.send(Condition.ok("Moved UIDs", code))
    session.send_expunges(view.remove_own_expunges([p[0] for p in pairs]))
    return Tagged.ok(tag, f"{verb} completed")


async def copy(session, tag: str, request) -> Tagged:
    return await _copy_or_move(session, tag, request, move=False)


async def move(session, tag: str, request) -> Tagged:
    return await _copy_or_move(session, tag, request, move=True)
