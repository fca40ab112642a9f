"""STATUS  (RFC 9051 section 6.3.11, RFC 7162 HIGHESTMODSEQ, RFC 8438 SIZE)."""

from __future__ import annotations

from dataclasses import dataclass

from ..tokens import Args

__all__ = ["StatusRequest", "parse_status", "parse_status_items", "STATUS_ITEMS"]

# status-att      = "MESSAGES" / "UIDNEXT" / "UIDVALIDITY" /
#                   "UNSEEN" / "DELETED" / "SIZE"
# RECENT is IMAP4rev1 (RFC 3501); HIGHESTMODSEQ is RFC 7162 section 3.1.8;
# APPENDLIMIT is RFC 7889; DELETED-STORAGE is RFC 9208 section 4.1.4:
# status-att =/ "DELETED" / "DELETED-STORAGE"; MAILBOXID is RFC 8474 section 4.3.
STATUS_ITEMS = frozenset(
    {"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "HIGHESTMODSEQ", "APPENDLIMIT",
     "DELETED-STORAGE", "MAILBOXID"}
)


@dataclass(frozen=True)
class StatusRequest:
    """status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"

    ``items`` are upper-cased, in the order asked, without duplicates.
    """

    mailbox: str
    items: tuple[str, ...]


def parse_status_items(args: Args, *, allow_empty: bool = False) -> tuple[str, ...]:
    inner = args.list("a parenthesized list of status items")
    items: list[str] = []
    while not inner.at_end():
        item = inner.keyword("a status item")
        if item not in STATUS_ITEMS:
            raise args.error(f"unknown status item {item}")
        if item not in items:
            items.append(item)
    if not items and not allow_empty:
        raise args.error("at least one status item is required")
    return tuple(items)


def parse_status(args: Args) -> StatusRequest:
    mailbox = args.mailbox()
    items = parse_status_items(args)
    args.end()
    return StatusRequest(mailbox, items)
