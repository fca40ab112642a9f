"""CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 9051 6.3.4-6.3.8,
RFC 6154 CREATE-SPECIAL-USE, RFC 8474 MAILBOXID)."""

from __future__ import annotations

from hivemail.imap import objectid
from hivemail.imap.session import Selected
from hivemail.imap_proto import ResponseCode, Tagged

SPECIAL_USES = {u.lower(): u for u in ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")}


def _account(session) -> str:
    return session.state.account.name


async def create(session, tag: str, request) -> Tagged:
    name = request.mailbox.rstrip("/")  # RFC 9051 6.3.4: a trailing separator only says "will have children"
    if name.upper() == "INBOX":
        return Tagged.no(tag, "INBOX always exists", "ALREADYEXISTS")
    use = None
    if request.special_use:
        uses = list(request.special_use)
        unknown = [u for u in uses if u.lower() not in SPECIAL_USES]
        if unknown or len(uses) > 1:
            # RFC 6154 3: NO [USEATTR] for an attribute we cannot give (one per mailbox).
            return Tagged.no(tag, f"Unsupported special-use attribute {' '.join(unknown or uses)}", "USEATTR")
        use = SPECIAL_USES[uses[0].lower()]
    mailbox = await session.store.create_mailbox(_account(session), name, use)
    # RFC 8474 4.1: the new mailbox's MAILBOXID in the tagged OK.
    return Tagged.ok(tag, "CREATE completed", ResponseCode("MAILBOXID", ((objectid.mailbox_id(mailbox),),)))


async def delete(session, tag: str, request) -> Tagged:
    state = session.state
    if request.mailbox.upper() == "INBOX":
        return Tagged.no(tag, "INBOX cannot be deleted", "CANNOT")
    if isinstance(state, Selected) and state.mailbox.name == request.mailbox:
        # Dovecot refuses to delete the mailbox a session has selected; the
        # RFC leaves it open, and refusing keeps this session consistent.
        return Tagged.no(tag, "Cannot delete the selected mailbox", "INUSE")
    await session.store.delete_mailbox(_account(session), request.mailbox)
    return Tagged.ok(tag, "DELETE completed")


async def rename(session, tag: str, request) -> Tagged:
    new = request.new.rstrip("/")
    if new.upper() == "INBOX":
        return Tagged.no(tag, "INBOX already exists", "ALREADYEXISTS")
    await session.store.rename_mailbox(_account(session), request.existing, new)
    return Tagged.ok(tag, "RENAME completed")


async def subscribe(session, tag: str, request) -> Tagged:
    await session.store.set_subscribed(_account(session), request.mailbox, True)
    return Tagged.ok(tag, "SUBSCRIBE completed")


async def unsubscribe(session, tag: str, request) -> Tagged:
    await session.store.set_subscribed(_account(session), request.mailbox, False)
    return Tagged.ok(tag, "UNSUBSCRIBE completed")
