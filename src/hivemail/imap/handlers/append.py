"""APPEND with MULTIAPPEND (RFC 9051 6.3.12, RFC 3502, RFC 4315 APPENDUID,
RFC 7888 [TOOBIG] for a refused literal)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from hivemail.imap.errors import tagged_for
from hivemail.imap.handlers.store import normalise_flags
from hivemail.imap_proto import ResponseCode, SeqSet, Tagged
from hivemail.lmtp.delivery import analyse_to_bytes
from hivemail.mailstore import ErrorKind, FlagMode, MailError
from hivemail.mime import normalise_crlf


async def literal_requested(session, event) -> None:
    """Decide on a synchronizing APPEND literal before the client sends it:
    too big gets NO [TOOBIG], and the bytes are never read (RFC 7888 4).
    (Dovecot also checks that the mailbox exists at this point; the event
    does not carry the mailbox name yet, so [TRYCREATE] comes after the upload.)"""
    limit = session.config.limits.max_message_size
    if event.size > limit:
        session.proto.reject_literal(Tagged.no(event.tag, f"Message is larger than {limit} bytes", "TOOBIG"))
        return
    refused = await _quota_refuses(session, event.size)
    if refused is not None:
        # As Dovecot does: NO [OVERQUOTA] before the upload (every mailbox
        # of the account shares its one quota root, so the target mailbox,
        # not known yet, does not matter). The store checks again, exactly.
        session.proto.reject_literal(tagged_for(event.tag, refused, target=True))
        return
    session.proto.accept_literal()


async def _quota_refuses(session, size: int) -> MailError | None:
    try:
        q = await session.store.get_quota(session.state.account.name)
    except MailError:
        return None  # the append itself will say what is wrong
    if (q.bytes_limit is not None and size > q.bytes_limit) or q.messages_limit == 0:
        return MailError(ErrorKind.QUOTA_TOO_BIG, "Quota exceeded (message is larger than the quota limit)")
    if (q.bytes_limit is not None and q.bytes_used + size > q.bytes_limit) \
            or (q.messages_limit is not None and q.messages_used + 1 > q.messages_limit):
        return MailError(ErrorKind.NO_QUOTA, "Quota exceeded (mailbox for user is full)")
    return None


async def append(session, tag: str, request) -> Tagged:
    account = session.state.account.name
    try:
        box = await session.store.get_mailbox(account, request.mailbox)
    except MailError as e:
        return tagged_for(tag, e, target=True)
    limit = session.config.limits.max_message_size
    done: list[int] = []
    try:
        for msg in request.messages:
            if not msg.message:
                raise _Refused(Tagged.no(tag, "Cannot save an empty message", "CANNOT"))
            if len(msg.message) > limit:
                raise _Refused(Tagged.no(tag, f"Message is larger than {limit} bytes", "TOOBIG"))
            try:
                flags = normalise_flags(msg.flags)
            except ValueError as e:
                raise _Refused(Tagged.bad(tag, str(e))) from None
            raw = normalise_crlf(msg.message)
            analysis = await asyncio.to_thread(analyse_to_bytes, raw)
            date = msg.internal_date or datetime.now(timezone.utc).astimezone()
            result = await session.store.append(account, request.mailbox, raw, analysis, flags, date)
            done.append(result.uid)
    except (_Refused, MailError) as e:
        # RFC 3502 6: MULTIAPPEND is all or nothing; take back what went in.
        if done:
            await session.store.store_flags(box.id, done, FlagMode.ADD, ["\\Deleted"])
            await session.store.expunge(box.id, done)
        if isinstance(e, _Refused):
            return e.response
        return tagged_for(tag, e, target=True)
    return Tagged.ok(tag, "APPEND completed", ResponseCode.appenduid(box.uidvalidity, SeqSet.of(*done)))


class _Refused(Exception):
    def __init__(self, response: Tagged) -> None:
        self.response = response
