"""Per worker process: the sort and thread keys of the messages of recently
sorted mailboxes, so that the second SORT of a 100,000-message mailbox reads
nothing from the store and the first reads one range of rows.

The keys of a message never change (they are a function of its bytes, and
a UID names the same bytes for as long as the mailbox has its
UIDVALIDITY), so the cache needs no invalidation: new messages' keys are
read when first asked for, expunged ones are dropped when they outnumber
the living. Strings are interned per mailbox: a thread's subject, a
correspondent's address and every Message-ID that References repeat are
held once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from hivemail.mailstore.sortkeys import SortKeys

#: Messages' keys kept over all mailboxes of one worker (~0.5 KB each).
MAX_CACHED_KEYS = 400_000


class _Entry:
    __slots__ = ("uidvalidity", "keys", "pool")

    def __init__(self, uidvalidity: int) -> None:
        self.uidvalidity = uidvalidity
        self.keys: dict[int, SortKeys] = {}
        self.pool: dict[str, str] = {}

    def add(self, uid: int, k: SortKeys) -> None:
        intern = self.pool.setdefault
        self.keys[uid] = SortKeys(
            k.sent, intern(k.subject, k.subject), k.reply, intern(k.from_, k.from_), intern(k.to, k.to),
            intern(k.cc, k.cc), intern(k.display_from, k.display_from), intern(k.display_to, k.display_to),
            None if k.message_id is None else intern(k.message_id, k.message_id),
            tuple(intern(r, r) for r in k.references),
        )


class SortKeyCache:
    def __init__(self, store, max_keys: int = MAX_CACHED_KEYS) -> None:
        self.store = store
        self.max_keys = max_keys
        self._entries: OrderedDict[int, _Entry] = OrderedDict()

    async def keys(self, mailbox_id: int, uidvalidity: int, uids: Sequence[int]) -> dict[int, SortKeys]:
        """uid -> keys for ``uids`` (those the store still has), as a dict
        the caller must not change."""
        entry = self._entries.get(mailbox_id)
        if entry is None or entry.uidvalidity != uidvalidity:
            entry = self._entries[mailbox_id] = _Entry(uidvalidity)
        self._entries.move_to_end(mailbox_id)
        have = entry.keys
        missing = [u for u in uids if u not in have]
        if missing:
            for uid, k in (await self.store.sort_keys(mailbox_id, missing)).items():
                entry.add(uid, k)
        if len(have) > 2 * len(uids) + 1000:
            # Mostly expunged messages (or a small search of a big mailbox
            # after a big one): keep what this request needs.
            wanted = set(uids)
            entry.keys = {u: k for u, k in have.items() if u in wanted}
            entry.pool = {}
            have = entry.keys
        self._evict()
        return have

    def _evict(self) -> None:
        total = sum(len(e.keys) for e in self._entries.values())
        while total > self.max_keys and len(self._entries) > 1:
            _, old = self._entries.popitem(last=False)
            total -= len(old.keys)

    def forget(self, mailbox_id: int) -> None:
        self._entries.pop(mailbox_id, None)
