"""SELECT, EXAMINE, CLOSE, UNSELECT (RFC 9051 6.3.2, 6.3.3, 6.4.1, 6.4.2;
RFC 7162 3.1.8 CONDSTORE and 3.2.5 QRESYNC parameters)."""

from __future__ import annotations

from hivemail.imap import objectid
from hivemail.imap import qresync as Q
from hivemail.imap.selected import SelectedView
from hivemail.imap.session import Authenticated, Selected
from hivemail.imap_proto import Condition, Exists, Fetch, Flags, ListItem, Recent, ResponseCode, Tagged, Vanished
from hivemail.imap_proto.seqset import SeqSet
from hivemail.mailstore import SEPARATOR, MailError

SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


async def select(session, tag: str, request) -> Tagged:
    if request.qresync is not None and not session.qresync:
        # RFC 7162 3.2.5: BAD, and the current mailbox stays selected.
        return Tagged.bad(tag, "QRESYNC not enabled")
    state = session.state
    if isinstance(state, Selected):
        # Selecting anew closes the current mailbox without expunging
        # (RFC 9051 6.3.2); rev2 and QRESYNC clients are told with [CLOSED]
        # (RFC 7162 3.2.11).
        session.state = Authenticated(state.account)
        if session.rev2 or session.qresync:
            session.send(Condition.ok("Previous mailbox is now closed", "CLOSED"))
    account = session.state.account
    mailbox, table, shared = await session.services.mailboxes.select(account.name, request.mailbox)
    read_only = request.readonly
    view = SelectedView.from_table(mailbox, table, read_only=read_only, shared=shared)
    keywords = sorted({k for flags in table.flagsets for k in flags if not k.startswith("\\")})
    session.send(Flags((*SYSTEM_FLAGS, *keywords)))
    permanent = () if read_only else (*SYSTEM_FLAGS, *keywords, "\\*")
    session.send(Condition.ok("Flags permitted", ResponseCode.permanentflags(permanent)))
    session.send(Exists(view.exists))
    if not session.rev2:
        session.services.recent.claim(view)
        session.send(Recent(len(view.recent)))
        unseen = {i for i, flags in enumerate(table.flagsets) if "\\Seen" not in flags}
        first_unseen = next((i + 1 for i, fs in enumerate(table.fsids) if fs in unseen), None)
        if first_unseen is not None:
            session.send(Condition.ok("First unseen", ResponseCode("UNSEEN", (first_unseen,))))
    session.send(Condition.ok("UIDs valid", ResponseCode.uidvalidity(mailbox.uidvalidity)))
    session.send(Condition.ok("Predicted next UID", ResponseCode.uidnext(mailbox.uidnext)))
    session.send(Condition.ok("Ok", ResponseCode("MAILBOXID", ((objectid.mailbox_id(mailbox),),))))  # RFC 8474 4.2
    if request.condstore or request.qresync is not None:
        session.enabled.add("CONDSTORE")  # RFC 7162 3.1.8; the OK below says so
    if session.condstore:
        session.send(Condition.ok("Highest", ResponseCode.highestmodseq(view.modseq)))
    if session.rev2:
        attrs = ("\\HasChildren",) if await _has_children(session, mailbox.name) else ("\\HasNoChildren",)
        session.send(ListItem(mailbox.name, SEPARATOR, attrs + ((mailbox.special_use,) if mailbox.special_use else ())))
    session.state = Selected(account, mailbox, view)
    session.saved_uids = []
    q = request.qresync
    if q is not None and q.uidvalidity == mailbox.uidvalidity:
        # A UIDVALIDITY mismatch ignores the rest (RFC 7162 3.2.5).
        await _resync(session, view, q)
    code = "READ-ONLY" if read_only else "READ-WRITE"
    return Tagged.ok(tag, f"{'EXAMINE' if read_only else 'SELECT'} completed", code)


async def _resync(session, view: SelectedView, q) -> None:
    """VANISHED (EARLIER) then FETCH (UID FLAGS MODSEQ) for what changed
    since the client's MODSEQ, within its known UIDs (RFC 7162 3.2.5.1)."""
    changes = await session.store.changes_since(view.mailbox_id, q.modseq)
    floor = Q.matched_floor(view, q.known_seqs, q.known_seq_uids)
    gone = Q.vanished_earlier(view, changes, q.known_uids, floor)
    if gone:
        session.send(Vanished(SeqSet.compact(gone), earlier=True))
    for uid in Q.changed_uids(view, changes, q.modseq, q.known_uids):
        i = view.table.index(uid)
        flags = session.flags_for(uid, view.table.flags(i))
        session.send(Fetch(i + 1, (("UID", uid), ("FLAGS", flags), ("MODSEQ", (view.table.modseqs[i],)))))


async def _has_children(session, name: str) -> bool:
    prefix = name + SEPARATOR
    return any(mb.name.startswith(prefix) for mb in await session.store.list_mailboxes(session.state.account.name))


async def close(session, tag: str, request) -> Tagged:
    state = session.state
    if not state.view.read_only:
        # RFC 9051 6.4.1: expunge silently, no untagged EXPUNGE.
        try:
            await session.store.expunge(state.view.mailbox_id)
        except MailError:
            pass  # the mailbox went away: closing succeeds all the same
    session.state = Authenticated(state.account)
    session.saved_uids = []
    return Tagged.ok(tag, "CLOSE completed")


async def unselect(session, tag: str, request) -> Tagged:
    session.state = Authenticated(session.state.account)
    session.saved_uids = []
    return Tagged.ok(tag, "UNSELECT completed")
