"""Whether an auto-reply may be sent at all: RFC 5230 sections 4.5 and 4.6.

Pure: the caller adds what needs state (the ``:days`` memory of section 4.2).
"""

from __future__ import annotations

import email.utils

from .message import Envelope, SieveMessage

# Section 4.5: the user's address must be in one of these for the message to be "personal".
_RECIPIENT_FIELDS = ("to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc")
# Section 4.6 and RFC 2369 / RFC 2919: any of these marks list traffic.
_LIST_FIELDS = (
    "list-id",
    "list-help",
    "list-subscribe",
    "list-unsubscribe",
    "list-post",
    "list-owner",
    "list-archive",
)
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
_ROBOT_LOCALPARTS = frozenset({"mailer-daemon", "listserv", "majordomo"})


def addresses_in(values: list[str]) -> list[str]:
    """The bare addresses in address-list header values, lower-cased."""
    return [addr.lower() for _, addr in email.utils.getaddresses(values) if addr]


def vacation_allowed(message: SieveMessage, envelope: Envelope, own_addresses: tuple[str, ...] | list[str]) -> bool:
    """True when RFC 5230 lets a vacation reply go to ``envelope.mail_from``.

    No reply to: the null return path; ``Auto-Submitted`` other than "no";
    ``List-*`` fields; ``Precedence: bulk/list/junk``; MAILER-DAEMON,
    LISTSERV, majordomo, ``owner-*`` and ``*-request`` senders; oneself; and
    messages whose To/Cc/Bcc (and Resent-*) name none of ``own_addresses``.
    """
    sender = envelope.mail_from.strip().strip("<>").lower()
    if not sender:
        return False
    own = {a.strip().strip("<>").lower() for a in own_addresses if a.strip()}
    if sender in own:
        return False
    local = sender.rpartition("@")[0] if "@" in sender else sender
    if local in _ROBOT_LOCALPARTS or local.startswith("owner-") or local.endswith("-request"):
        return False
    for value in message.header_values("auto-submitted"):
        if value.split(";", 1)[0].strip().lower() != "no":
            return False
    if any(message.header_values(name) for name in _LIST_FIELDS):
        return False
    if any(v.strip().lower() in _BULK_PRECEDENCE for v in message.header_values("precedence")):
        return False
    recipients = addresses_in([v for name in _RECIPIENT_FIELDS for v in message.header_values(name)])
    return any(r in own for r in recipients)
