"""Storage errors, neutral to every protocol.

Each protocol maps a :class:`MailError` to its own reply in one place
(``imap/errors.py``, ``pop3/errors.py``, ``lmtp/delivery.py``), as Dovecot
does with ``mail-error.h`` and ``imap_get_error_string()``.
"""

from __future__ import annotations

import enum


class ErrorKind(enum.Enum):
    NOT_FOUND = "not-found"          # account, mailbox or message does not exist
    EXISTS = "exists"                # mailbox (or account) already exists
    EXPUNGED = "expunged"            # message went away meanwhile
    NOT_ALLOWED = "not-allowed"      # e.g. deleting INBOX, a name reaching outside the account
    BAD_NAME = "bad-name"            # mailbox name malformed
    HAS_CHILDREN = "has-children"    # DELETE of a mailbox with inferiors and \Noselect rules
    NO_QUOTA = "no-quota"            # over quota now; expunging makes room (try again later)
    QUOTA_TOO_BIG = "quota-too-big"  # larger than a quota limit itself: can never fit
    TOO_BIG = "too-big"              # message over the size limit
    IN_USE = "in-use"                # locked by another session (POP3 maildrop)
    TEMP = "temp"                    # transient failure: try again later
    NO_SPACE = "no-space"            # the disk (or filesystem quota) is full: try again later
    CORRUPT = "corrupt"              # index and files disagree


class MailError(Exception):
    """A storage failure a client may be told about."""

    def __init__(self, kind: ErrorKind, text: str = "") -> None:
        super().__init__(text or kind.value)
        self.kind = kind
        self.text = text or kind.value

    def __repr__(self) -> str:
        return f"MailError({self.kind.name}, {self.text!r})"
