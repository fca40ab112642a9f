"""Storage errors as IMAP answers, in one place (RFC 5530 response codes)."""

from __future__ import annotations

from hivemail.imap_proto import Tagged
from hivemail.mailstore import ErrorKind, MailError

_CODES = {
    ErrorKind.NOT_FOUND: "NONEXISTENT",
    ErrorKind.EXISTS: "ALREADYEXISTS",
    ErrorKind.EXPUNGED: "EXPUNGEISSUED",
    ErrorKind.NOT_ALLOWED: "CANNOT",
    ErrorKind.BAD_NAME: "CANNOT",
    ErrorKind.HAS_CHILDREN: "INUSE",
    ErrorKind.NO_QUOTA: "OVERQUOTA",
    # RFC 9208 4.3.1 has one code for both: the addition puts the mailbox
    # over a limit (Dovecot answers [OVERQUOTA] for a message bigger than
    # the whole quota too).
    ErrorKind.QUOTA_TOO_BIG: "OVERQUOTA",
    ErrorKind.TOO_BIG: "TOOBIG",
    ErrorKind.IN_USE: "INUSE",
    ErrorKind.TEMP: "UNAVAILABLE",
    ErrorKind.CORRUPT: "SERVERBUG",
}


def tagged_for(tag: str, error: MailError, *, target: bool = False) -> Tagged:
    """``target``: the mailbox named is where a message was to go (APPEND,
    COPY, MOVE), where RFC 9051 6.3.12 asks for [TRYCREATE] if it does not exist.

    A full disk is ``NO [OVERQUOTA]``.  RFC 5530 has no code for "the server's
    storage is full"; OVERQUOTA ("the user would be over quota after the
    operation") is the one about running out of space, it tells the client
    that this message cannot be stored now (not that the command or message
    is wrong), and it is what Dovecot answers for ENOSPC ("Not enough disk
    space", MAIL_ERROR_NOQUOTA), so clients already know it in this role.
    [LIMIT] is for fixed implementation limits (retrying never helps),
    [SERVERBUG] would send users to report a bug, and [UNAVAILABLE] is about
    a subsystem that is down."""
    if error.kind is ErrorKind.NO_SPACE:
        return Tagged.no(tag, "Not enough disk space on the server, try again later", "OVERQUOTA")
    if target and error.kind is ErrorKind.NOT_FOUND:
        return Tagged.no(tag, "Mailbox does not exist", "TRYCREATE")
    text = error.text[:1].upper() + error.text[1:] if error.text else "Failed"
    return Tagged.no(tag, text, _CODES.get(error.kind))
