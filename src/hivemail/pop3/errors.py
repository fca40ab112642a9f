"""Storage errors as POP3 ``-ERR`` responses: the one place they are mapped.

RFC 3206 defines ``[SYS/TEMP]`` ("a problem which is likely to be
transient") and ``[SYS/PERM]`` ("a problem which is unlikely to be resolved
without intervention"); RFC 2449 section 8.1 ``[IN-USE]`` and
``[LOGIN-DELAY]``; RFC 3206 ``[AUTH]``.  Every storage failure gets one of
them, as Dovecot's ``pop3`` does (``mail_storage_get_last_error`` ->
``-ERR [SYS/TEMP]``).  The storage's own text is logged, not sent: it can
name paths and SQL.
"""

from __future__ import annotations

import logging

from hivemail.mailstore import ErrorKind, MailError
from hivemail.pop3_proto import IN_USE, SYS_PERM, SYS_TEMP, Err

log = logging.getLogger("hivemail.pop3")

_TEXT = {
    ErrorKind.TEMP: (SYS_TEMP, "Temporary storage failure, try again later"),
    ErrorKind.IN_USE: (IN_USE, "Mailbox is in use"),
    ErrorKind.EXPUNGED: (SYS_PERM, "Message no longer exists"),
    ErrorKind.CORRUPT: (SYS_PERM, "Message data is damaged"),
    ErrorKind.NOT_FOUND: (SYS_PERM, "Mailbox not found"),
    ErrorKind.NO_QUOTA: (SYS_PERM, "Over quota"),
}


def err_for(exc: MailError, what: str = "") -> Err:
    """The ``-ERR`` for a storage failure; anything unforeseen is SYS/TEMP
    (the client retries later, which is right for a server-side problem)."""
    code, text = _TEXT.get(exc.kind, (SYS_TEMP, "Temporary storage failure, try again later"))
    if exc.kind is ErrorKind.NO_SPACE:
        # A full disk is transient from the client's side: SYS/TEMP, retry later.
        code, text = SYS_TEMP, "Server is out of disk space, try again later"
    log.warning("pop3: %s%s", f"{what}: " if what else "", exc.text)
    return Err(text, code)
