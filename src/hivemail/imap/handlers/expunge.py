"""CHECK, EXPUNGE, UID EXPUNGE (RFC 9051 6.4.3, RFC 4315 2.1, RFC 7162
3.2.7 and 3.2.9)."""

from __future__ import annotations

import time

from hivemail.imap.handlers.common import InvalidSet, resolve
from hivemail.imap_proto import ResponseCode, Tagged


async def check(session, tag: str, request) -> Tagged:
    # Every change is durable when it is acknowledged: nothing to do.
    return Tagged.ok(tag, "CHECK completed")


async def expunge(session, tag: str, request) -> Tagged:
    state = session.state
    view = state.view
    if view.read_only:
        return Tagged.no(tag, "Mailbox is read-only", "READ-ONLY")
    uids = None
    if request.uids is not None:
        try:
            uids = resolve(view, request.uids, True, session.saved_uids)
        except InvalidSet as e:
            return Tagged.bad(tag, str(e))
        if not uids:
            return Tagged.ok(tag, "EXPUNGE completed")
    gone = await session.store.expunge(view.mailbox_id, uids)
    session.send_expunges(view.remove_own_expunges(gone))
    if gone and session.qresync:
        # RFC 7162 3.2.7: the tagged OK carries the new HIGHESTMODSEQ, so
        # the client must first have heard of every change up to it.
        await session.sync(not_before=time.monotonic())
        return Tagged.ok(tag, "EXPUNGE completed", ResponseCode.highestmodseq(view.modseq))
    return Tagged.ok(tag, "EXPUNGE completed")
