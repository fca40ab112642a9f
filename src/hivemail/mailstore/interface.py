"""The one storage interface; the embedded and PostgreSQL backends implement it.

Every method is a coroutine and none blocks the event loop: a backend runs
its disk and database work off the loop. Mailboxes are named by their full
name within an account (``SEPARATOR`` between levels; ``INBOX`` matched
case-insensitively); messages by UID.

Durability contract: when :meth:`deliver` or :meth:`append` returns, the
message bytes and its index row are on stable storage (file and directory
fsynced, transaction committed). A crash at any instant leaves a message
whole or absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from hivemail.mailstore.errors import MailError
from hivemail.mailstore.search import TextKey, TextMatches
from hivemail.mailstore.sortkeys import SortKeys
from hivemail.mailstore.table import MessageTable
from hivemail.mailstore.types import (
    AccountInfo,
    AppendResult,
    Changes,
    CheckReport,
    FlagMode,
    FlagUpdate,
    MailboxInfo,
    MailboxSnapshot,
    MailboxStatus,
    MessageMeta,
    QuotaInfo,
    Recipient,
)


class MailStore(Protocol):
    # -- life cycle -------------------------------------------------------
    async def open(self) -> None:
        """Create or migrate the schema, remove orphans left by a crash."""

    async def close(self) -> None: ...

    # -- accounts, domains, aliases ----------------------------------------
    async def create_account(self, name: str, password_hash: str, scram: str = "") -> AccountInfo:
        """Create an account with the default mailboxes; its domain becomes local.
        Raises MailError(EXISTS)."""

    async def get_account(self, name: str) -> AccountInfo | None: ...

    async def list_accounts(self) -> list[AccountInfo]: ...

    async def set_password(self, name: str, password_hash: str, scram: str = "") -> None: ...

    async def set_account_setting(self, name: str, key: str, value: str) -> None: ...

    async def set_quota(self, name: str, quota_bytes: int | None, quota_messages: int | None) -> None:
        """Set the account's quota (None = unlimited). deliver, append and copy
        (and move into another account; a move within it adds nothing) then
        refuse what would not fit: MailError(QUOTA_TOO_BIG) if it exceeds a
        limit by itself (it can never fit), MailError(NO_QUOTA) otherwise.
        Lowering a limit below the usage refuses new mail, deletes nothing."""

    async def get_quota(self, name: str) -> QuotaInfo:
        """The account's limits and its usage now: every message of every
        mailbox counted in full (RFC822.SIZE), kept exact as mail comes and
        goes, never summed on demand. Raises MailError(NOT_FOUND)."""

    async def delete_account(self, name: str) -> None:
        """Delete the account, its mailboxes and its messages (blobs unreferenced)."""

    async def add_domain(self, domain: str) -> None: ...

    async def list_domains(self) -> list[str]: ...

    async def add_alias(self, address: str, account: str) -> None: ...

    async def resolve_address(self, address: str) -> str | None:
        """The account name an address delivers to (alias or account), or None.
        The caller strips ``+detail`` first."""

    # -- mailboxes ---------------------------------------------------------
    async def list_mailboxes(self, account: str) -> list[MailboxInfo]: ...

    async def get_mailbox(self, account: str, name: str) -> MailboxInfo:
        """Raises MailError(NOT_FOUND)."""

    async def create_mailbox(self, account: str, name: str, special_use: str | None = None) -> MailboxInfo:
        """Creates missing parents too. Raises EXISTS, BAD_NAME."""

    async def delete_mailbox(self, account: str, name: str) -> None:
        """Deletes the mailbox and its messages; children stay (RFC 9051 6.3.5).
        INBOX cannot be deleted (NOT_ALLOWED)."""

    async def rename_mailbox(self, account: str, old: str, new: str) -> None:
        """Renames with all children. Renaming INBOX moves its messages into a
        new mailbox and leaves INBOX empty (RFC 9051 6.3.6)."""

    async def set_subscribed(self, account: str, name: str, subscribed: bool) -> None: ...

    async def mailbox_status(self, account: str, name: str) -> MailboxStatus: ...

    # -- messages ----------------------------------------------------------
    async def deliver(
        self,
        recipients: Sequence[Recipient],
        raw: bytes,
        analysis: bytes,
        internal_date: datetime | None = None,
    ) -> list[AppendResult | MailError]:
        """Store one message for many recipients: the bytes once (content
        addressed, reference counted), one index row per recipient. Returns one
        result per recipient, in order; one failing recipient does not fail the
        others. ``raw`` is already CRLF-normalised; ``analysis`` is the
        serialized MIME analysis (``hivemail.mime``)."""

    async def append(
        self,
        account: str,
        mailbox: str,
        raw: bytes,
        analysis: bytes,
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
    ) -> AppendResult: ...

    async def snapshot(self, account: str, mailbox: str) -> MailboxSnapshot:
        """All messages' metadata at one consistent point (no bodies)."""

    async def message_table(self, account: str, mailbox: str) -> tuple[MailboxInfo, MessageTable]:
        """The same as :meth:`snapshot`, in columns (``mailstore.table``):
        what SELECT needs for a big mailbox without an object per message."""

    async def fetch_meta(self, mailbox_id: int, uids: Sequence[int]) -> list[MessageMeta]:
        """Metadata of the UIDs still present, ascending."""

    async def read_analysis(self, mailbox_id: int, uid: int) -> bytes:
        """The serialized MIME analysis stored at delivery. Raises EXPUNGED."""

    async def read_analyses(self, mailbox_id: int, uids: Sequence[int]) -> dict[int, bytes]:
        """The serialized MIME analyses of many messages in one round trip
        (SEARCH over headers): uid -> analysis. UIDs that are gone are simply
        absent; nothing is raised for them. Ask in batches of a few hundred
        so that no single call holds much memory."""

    def blob_path(self, blob_id: str) -> str:
        """Path of the stored bytes of a message, for streaming (embedded);
        a backend without files returns "" and serves :meth:`read_blob`."""

    async def read_blob(self, blob_id: str, start: int = 0, end: int | None = None) -> bytes: ...

    async def store_flags(
        self,
        mailbox_id: int,
        uids: Sequence[int],
        mode: FlagMode,
        flags: Iterable[str],
        unchanged_since: int | None = None,
    ) -> tuple[list[FlagUpdate], list[int]]:
        """Change flags; returns (updates actually made, UIDs that failed the
        UNCHANGEDSINCE test). UIDs that are gone are ignored."""

    async def copy(self, mailbox_id: int, uids: Sequence[int], account: str, target: str) -> list[tuple[int, int]]:
        """Copy into ``target``; returns [(source uid, new uid)]. Shares blobs."""

    async def move(self, mailbox_id: int, uids: Sequence[int], account: str, target: str) -> list[tuple[int, int]]:
        """Copy then expunge atomically (RFC 6851)."""

    async def expunge(self, mailbox_id: int, uids: Sequence[int] | None = None) -> list[int]:
        """Remove messages flagged \\Deleted (only those in ``uids`` if given);
        returns the expunged UIDs."""

    async def set_explicit_uidls(self, mailbox_id: int, uidls: Mapping[int, str | None]) -> int:
        """Give messages a POP3 UIDL of their own (kept from a server they were
        migrated from); ``None`` removes it. It wins over the configured UIDL
        format. A UIDL is 1-70 characters 0x21-0x7E (RFC 1939 section 7);
        anything else, or the same UIDL twice in ``uidls``, raises
        MailError(NOT_ALLOWED) and changes nothing. UIDs that are gone are
        ignored; returns how many messages were changed. Not a change IMAP
        sees: no MODSEQ is bumped."""

    async def pin_blobs(self, blob_ids: Iterable[str]) -> tuple[int, frozenset[str]]:
        """Keep the stored bytes of ``blob_ids`` readable (``blob_path`` /
        ``read_blob``) even after every message using them is expunged, until
        :meth:`unpin_blobs`. A POP3 session pins its maildrop at login: RFC
        1939 fixes the maildrop for the session, whatever IMAP expunges.
        Returns (pin id, the ids that were already gone and are not pinned);
        call it right after a snapshot and treat the gone ones as expunged."""

    async def unpin_blobs(self, pin_id: int) -> None:
        """Release a pin; unknown ids are ignored. Blobs nobody refers to
        any more are removed by a later write."""

    async def lock_maildrop(self, account: str) -> bool:
        """Take the account's POP3 maildrop lock for every server sharing
        this store; False if a session elsewhere holds it ([IN-USE], RFC
        2449 section 8.1.1). It dies with the process that holds it. The
        embedded store is one machine's, whose processes the POP3 service
        already excludes (``SharedState``): it always answers True."""

    async def unlock_maildrop(self, account: str) -> None: ...

    async def changes_since(self, mailbox_id: int, modseq: int) -> Changes:
        """Everything the change log holds after ``modseq``."""

    async def wait_for_change(self, mailbox_id: int, modseq: int, timeout: float | None = None) -> bool:
        """Wait until the mailbox's HIGHESTMODSEQ passes ``modseq`` — by a
        change from any connection or any process on the same store. Returns
        False on timeout."""

    # -- Sieve scripts (issue 8; RFC 5804's operations) ------------------------
    async def sieve_put(self, account: str, name: str, script: str) -> None:
        """Create or replace a script (validated by the caller). NOT_FOUND
        for an unknown account."""

    async def sieve_get(self, account: str, name: str) -> str:
        """A script's text. Raises NOT_FOUND."""

    async def sieve_list(self, account: str) -> list[tuple[str, bool]]:
        """(name, active) of every script, by name."""

    async def sieve_activate(self, account: str, name: str | None) -> None:
        """Make ``name`` the only active script; None deactivates all.
        Raises NOT_FOUND."""

    async def sieve_delete(self, account: str, name: str) -> None:
        """Raises NOT_FOUND, or IN_USE for the active script (RFC 5804 2.10)."""

    async def sieve_rename(self, account: str, old: str, new: str) -> None:
        """Raises NOT_FOUND, or EXISTS when ``new`` is taken."""

    async def sieve_active(self, account: str) -> tuple[str, str] | None:
        """(name, text) of the active script, or None (one read per delivery)."""

    async def vacation_should_reply(self, account: str, sender: str, handle: str, period: float,
                                    now: float) -> bool:
        """True, and the reply recorded, when no vacation reply went to
        ``sender`` for ``handle`` within ``period`` seconds before ``now``
        (RFC 5230 4.2); check and record are atomic."""

    # -- sort, thread and preview keys ---------------------------------------
    async def sort_keys(self, mailbox_id: int, uids: Sequence[int]) -> dict[int, SortKeys]:
        """What SORT and THREAD compare (``mailstore.sortkeys``), computed
        once per message at delivery: uid -> keys for the UIDs still present
        (the others are simply absent). One round trip however many UIDs."""

    async def previews(self, mailbox_id: int, uids: Sequence[int]) -> dict[int, str]:
        """RFC 8970 PREVIEW text computed at delivery (``sortkeys.preview``):
        uid -> text for the UIDs still present."""

    # -- search index ------------------------------------------------------
    async def search_text(self, mailbox_id: int, keys: Sequence[TextKey]) -> TextMatches:
        """Answer text keys (BODY, TEXT, HEADER) from the backend's full-text
        index: per key, the UIDs of the mailbox's messages that match it,
        with exactly the semantics of ``search.matches`` (case-insensitive
        substring of the folded text, ``search.body_text``), among the
        messages already indexed; plus the UIDs of messages not indexed yet,
        which the caller evaluates by reading them. Each key must satisfy
        ``search.indexable`` (ValueError otherwise). Text is indexed after
        delivery, off the acknowledged path, so a message delivered a moment
        ago is usually in ``unindexed``; the answer is exact either way."""

    async def update_search_index(self, limit: int | None = None) -> int:
        """Index up to ``limit`` (None: all) messages' text now and drop the
        entries of deleted ones; returns how many were indexed. A backend
        does this by itself in the background; tests and tools call it to
        be sure. Returns 0 if another process is indexing at the moment."""

    # -- maintenance -------------------------------------------------------
    async def check(self, repair: bool = False) -> CheckReport:
        """Verify that index and files agree; repair what can be repaired."""


__all__ = ["MailStore", "MailError"]
