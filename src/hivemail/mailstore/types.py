"""Value types the storage interface speaks in.

Storage speaks UIDs, MODSEQs and change records; it never sees sequence
numbers, tags or response text (DESIGN.md, principle 3).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

# The hierarchy separator of every mailbox name in the store.
SEPARATOR = "/"

# System flags as IMAP spells them; keywords are any other atom.
SYSTEM_FLAGS = frozenset({"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"})
#: "\\seen" -> "\\Seen": system flags are case-insensitive on the wire (RFC
#: 9051 2.3.2) and stored in one spelling.
SYSTEM_FLAG_BY_LOWER = {f.lower(): f for f in SYSTEM_FLAGS}

# The mailboxes every new account gets, with their RFC 6154 attributes.
DEFAULT_MAILBOXES: tuple[tuple[str, str | None], ...] = (
    ("INBOX", None),
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
)


@dataclass(frozen=True)
class AccountInfo:
    id: int
    name: str                      # the primary address, lower-cased
    password_hash: str             # argon2id PHC string ("" = no password login)
    scram: str                     # serialized SCRAM-SHA-256 credentials ("" = none)
    quota_bytes: int | None = None
    quota_messages: int | None = None
    settings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MailboxInfo:
    id: int
    account_id: int
    name: str                      # full name, SEPARATOR between levels, "INBOX" canonical
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    subscribed: bool
    special_use: str | None        # "\\Sent", ... or None


@dataclass(frozen=True)
class MailboxStatus:
    mailbox: MailboxInfo
    messages: int
    unseen: int
    deleted: int
    size: int                      # sum of RFC822.SIZE
    recent: int = 0
    deleted_size: int = 0          # sum of RFC822.SIZE of the \Deleted ones (RFC 9208 DELETED-STORAGE)


@dataclass(frozen=True)
class MessageMeta:
    """What FETCH of FLAGS/INTERNALDATE/RFC822.SIZE/UID needs, without bodies."""

    uid: int
    modseq: int
    flags: frozenset[str]
    internal_date: datetime        # aware
    save_date: datetime            # aware
    size: int                      # RFC822.SIZE: octets of the stored CRLF form
    blob_id: str                   # content address of the stored bytes
    explicit_uidl: str | None = None


@dataclass(frozen=True)
class MailboxSnapshot:
    """The state of a mailbox at one MODSEQ: what SELECT and a POP3 login see."""

    mailbox: MailboxInfo
    messages: tuple[MessageMeta, ...]   # ascending UID


class FlagMode(enum.Enum):
    ADD = "+"
    REMOVE = "-"
    REPLACE = "="


@dataclass(frozen=True)
class AppendResult:
    uidvalidity: int
    uid: int
    modseq: int
    mailbox_id: int


@dataclass(frozen=True)
class FlagUpdate:
    uid: int
    flags: frozenset[str]
    modseq: int


@dataclass(frozen=True)
class Changes:
    """Everything that happened in a mailbox after a MODSEQ, from its change log.

    A UID appears in at most one of ``expunged`` / ``appended``+``flag_updates``
    ordering aside: an appended-then-expunged UID is reported only as expunged
    if the caller had not seen it yet it should simply be dropped, which
    :meth:`~hivemail.mailstore.MailStore.changes_since` already does.
    """

    mailbox_id: int
    highestmodseq: int
    uidnext: int
    expunged: tuple[int, ...] = ()
    appended: tuple[MessageMeta, ...] = ()
    flag_updates: tuple[FlagUpdate, ...] = ()


@dataclass(frozen=True)
class Recipient:
    """One delivery target of a message: an account and a mailbox in it."""

    account: str
    mailbox: str = "INBOX"
    flags: frozenset[str] = frozenset()


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class QuotaInfo:
    """An account's quota: its limits (None: unlimited) and what it uses.

    Usage counts every message of every mailbox of the account in full
    (RFC822.SIZE), also when its bytes are shared with other messages."""

    bytes_limit: int | None
    messages_limit: int | None
    bytes_used: int
    messages_used: int

    @property
    def limited(self) -> bool:
        return self.bytes_limit is not None or self.messages_limit is not None

    @property
    def full(self) -> bool:
        """Nothing more fits: every delivery would be refused until some
        mail is expunged (used by SMTP to refuse at RCPT time)."""
        return ((self.bytes_limit is not None and self.bytes_used >= self.bytes_limit)
                or (self.messages_limit is not None and self.messages_used >= self.messages_limit))
