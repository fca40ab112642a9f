"""Per worker process: the message tables of big mailboxes, kept up to date
from the change log, so that SELECT of a 100,000-message mailbox is a copy
of arrays and a look at what changed, not 100,000 rows read again.

Dovecot keeps its index files for the same reason; here the store is the
index and this cache saves turning its rows into columns at every SELECT.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

from hivemail.mailstore import Changes, MailboxInfo, MailStore
from hivemail.mailstore.table import MessageTable
from hivemail.imap.sort_cache import SortKeyCache

# Mailboxes smaller than this are read fresh: cheap, and not worth the memory.
MIN_CACHED_ROWS = 2_000
# Rows kept over all cached mailboxes of one worker (~60 bytes each).
MAX_CACHED_ROWS = 2_000_000


@dataclass
class _Entry:
    mailbox: MailboxInfo
    table: MessageTable


class MailboxCache:
    def __init__(self, store: MailStore, max_rows: int = MAX_CACHED_ROWS) -> None:
        self.store = store
        self.max_rows = max_rows
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._inflight: dict[tuple[int, int], tuple[asyncio.Future, float]] = {}
        # SORT / THREAD keys of the same worker's mailboxes (imap/sort_cache.py).
        self.sort_keys = SortKeyCache(store)

    async def changes_since(self, mailbox_id: int, modseq: int, not_before: float = 0.0) -> Changes:
        """The store's change log after ``modseq``, read once however many
        sessions ask at the same moment: when a message arrives, every IDLE
        session on that mailbox wakes and asks the same question. A read in
        flight is shared only if it began at or after ``not_before`` (the
        asker's last own write, which it must see)."""
        key = (mailbox_id, modseq)
        pending = self._inflight.get(key)
        if pending is not None and pending[1] >= not_before:
            return await asyncio.shield(pending[0])
        future = asyncio.ensure_future(self.store.changes_since(mailbox_id, modseq))
        self._inflight[key] = (future, time.monotonic())
        def forget(_f=None) -> None:
            if self._inflight.get(key, (None,))[0] is future:
                del self._inflight[key]

        try:
            return await asyncio.shield(future)
        finally:
            if future.done():
                forget()
            else:
                future.add_done_callback(forget)

    async def select(self, account: str, name: str) -> tuple[MailboxInfo, MessageTable, bool]:
        """The mailbox, a table of its messages consistent at
        ``mailbox.highestmodseq``, and whether that table is shared (the
        caller must copy it before changing it; see ``SelectedView._own``)."""
        current = await self.store.get_mailbox(account, name)
        entry = self._entries.get(current.id)
        if entry is not None and entry.mailbox.uidvalidity == current.uidvalidity:
            self._entries.move_to_end(current.id)
            if await self._refresh(entry):
                # The name (RENAME) and attributes are today's; the counters
                # are those the table is consistent with.
                entry.mailbox = replace(
                    current, highestmodseq=entry.mailbox.highestmodseq, uidnext=entry.mailbox.uidnext
                )
                return entry.mailbox, entry.table, True
            del self._entries[current.id]
        mailbox, table = await self.store.message_table(account, name)
        if len(table) < MIN_CACHED_ROWS:
            return mailbox, table, False
        self._entries[mailbox.id] = _Entry(mailbox, table)
        self._evict()
        return mailbox, table, True

    async def _refresh(self, entry: _Entry) -> bool:
        """Apply the change log since the entry's MODSEQ; False when that
        is more work than reading the table anew."""
        box = entry.mailbox
        changes = await self.store.changes_since(box.id, box.highestmodseq)
        if not (changes.expunged or changes.appended or changes.flag_updates):
            entry.mailbox = replace(
                box,
                highestmodseq=max(box.highestmodseq, changes.highestmodseq),
                uidnext=max(box.uidnext, changes.uidnext),
            )
            return True
        if len(changes.expunged) + len(changes.appended) > len(entry.table) // 2 + 100:
            return False
        # Sessions may hold the current table: change a copy (copy-on-write).
        table = entry.table = entry.table.copy()
        if changes.expunged:
            table.remove(changes.expunged)
        for u in changes.flag_updates:
            i = table.index(u.uid)
            if i is not None:
                table.set_flags(i, u.flags, u.modseq)
        expunged = set(changes.expunged)
        for m in sorted(changes.appended, key=lambda m: m.uid):
            if m.uid in expunged or table.index(m.uid) is not None:
                continue
            if table.uids and m.uid < table.uids[-1]:
                return False
            table.append_meta(m)
        entry.mailbox = replace(
            box,
            highestmodseq=max(box.highestmodseq, changes.highestmodseq),
            uidnext=max(box.uidnext, changes.uidnext),
        )
        return True

    def _evict(self) -> None:
        total = sum(len(e.table) for e in self._entries.values())
        while total > self.max_rows and len(self._entries) > 1:
            _, old = self._entries.popitem(last=False)
            total -= len(old.table)

    def forget(self, mailbox_id: int) -> None:
        self._entries.pop(mailbox_id, None)
