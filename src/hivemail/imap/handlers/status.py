"""STATUS (RFC 9051 6.3.11, RFC 8438 SIZE, RFC 9208 4.1.4 DELETED-STORAGE)."""

from __future__ import annotations

from hivemail.imap import objectid
from hivemail.imap_proto import Status, Tagged


async def status_items(session, name: str, items: tuple[str, ...]) -> Status:
    """The STATUS response for one mailbox (also used by LIST-STATUS)."""
    st = await session.store.mailbox_status(session.state.account.name, name)
    values = {
        "MESSAGES": st.messages,
        "UIDNEXT": st.mailbox.uidnext,
        "UIDVALIDITY": st.mailbox.uidvalidity,
        "UNSEEN": st.unseen,
        "DELETED": st.deleted,
        "SIZE": st.size,
        "RECENT": st.recent,
        # RFC 9208 4.1.4 lets the server answer "the sum of the RFC822.SIZE
        # of the messages with the \Deleted flag set": exactly what an
        # EXPUNGE takes off the account's usage here, so it is also exact.
        # In octets, like that sum and STATUS SIZE (RFC 8438).
        "DELETED-STORAGE": st.deleted_size,
        "HIGHESTMODSEQ": st.mailbox.highestmodseq,
        "MAILBOXID": (objectid.mailbox_id(st.mailbox),),  # RFC 8474 4.3
    }
    out = []
    for item in items:
        key = item.upper()
        if key == "RECENT" and session.rev2:
            continue  # IMAP4rev2 has no \Recent
        if key in values:
            out.append((key, values[key]))
    return Status(st.mailbox.name, tuple(out))


async def status(session, tag: str, request) -> Tagged:
    if any(item.upper() == "HIGHESTMODSEQ" for item in request.items):
        session.enable_condstore()  # RFC 7162 3.1
    session.send(await status_items(session, request.mailbox, request.items))
    return Tagged.ok(tag, "STATUS completed")
