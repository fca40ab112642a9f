"""GETQUOTA, GETQUOTAROOT, SETQUOTA (RFC 9208).

Every mailbox of an account shares one quota root, the account, named as
Dovecot's quota plugin names its default root ("User quota"), so clients
that learned Dovecot's answers see the same ones here::

    * QUOTAROOT INBOX "User quota"
    * QUOTA "User quota" (STORAGE 12 1024 MESSAGE 3 100)

STORAGE is in units of 1024 octets (RFC 9208 5.1), usage and limit rounded
up as Dovecot rounds them (a few hundred octets show as 1, not as 0). Usage
counts every message in full: an account's RFC822.SIZEs, summed. A resource without a limit is left out of the list (section 4.2.1:
"Resources not named in the list are not limited"), so an account with no
limits answers ``(...)`` empty, as the RFC's example "QUOTA "" ()" shows
it for no administrative limits.

SETQUOTA is refused: users must not raise their own quota. QUOTASET is not
advertised (section 4.1.3 ties SETQUOTA support to it), and the command is
still known so that it is answered NO (Dovecot: "Quota can be changed only
by admin") rather than BAD. Limits are set with ``hivemail user quota``.
"""

from __future__ import annotations

from hivemail.imap.errors import tagged_for
from hivemail.imap_proto import Tagged
from hivemail.imap_proto.responses import Quota, QuotaRoot
from hivemail.mailstore import MailError

#: The name of the one quota root of an account (Dovecot's default).
ROOT = "User quota"


def _kib(octets: int) -> int:
    return -(-octets // 1024)


async def quota_response(session) -> Quota:
    """The ``* QUOTA`` response of the session's account, read now."""
    q = await session.store.get_quota(session.state.account.name)
    resources = []
    if q.bytes_limit is not None:
        resources.append(("STORAGE", _kib(q.bytes_used), _kib(q.bytes_limit)))
    if q.messages_limit is not None:
        resources.append(("MESSAGE", q.messages_used, q.messages_limit))
    return Quota(ROOT, tuple(resources))


async def getquota(session, tag: str, request) -> Tagged:
    if request.root != ROOT:
        return Tagged.no(tag, "Quota root doesn't exist")
    try:
        session.send(await quota_response(session))
    except MailError as e:
        return tagged_for(tag, e)
    return Tagged.ok(tag, "Getquota completed")


async def getquotaroot(session, tag: str, request) -> Tagged:
    # The mailbox need not exist (RFC 9208 4.1.2): every name of the account,
    # existing or to be created, is under the account's root.
    try:
        quota = await quota_response(session)
    except MailError as e:
        return tagged_for(tag, e)
    session.send(QuotaRoot(request.mailbox, (ROOT,)))
    session.send(quota)
    return Tagged.ok(tag, "Getquotaroot completed")


async def setquota(session, tag: str, request) -> Tagged:
    return Tagged.no(tag, "Quota can be changed only by admin")
