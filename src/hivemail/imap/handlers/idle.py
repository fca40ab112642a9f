"""IDLE (RFC 2177, RFC 9051 section 6.3.13): the session pushes changes
until DONE; see ``ImapSession.read_while_idle``."""

from __future__ import annotations

from hivemail.imap_proto import Continuation


async def idle(session, tag: str, request) -> None:
    await session.sync(allow_expunge=True)
    session.send(Continuation("idling"))
    session.idle_tag = tag
    return None
