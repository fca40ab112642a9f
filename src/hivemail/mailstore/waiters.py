"""Sessions waiting for a mailbox to change (IDLE, and the update checks):
one registry per store, the same for both backends. What wakes it differs:
the embedded store's own commits and its poll of other processes' commits;
PostgreSQL's NOTIFY from any node."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator


class ChangeWaiters:
    def __init__(self) -> None:
        self._by_box: dict[int, list[tuple[int, asyncio.Future]]] = {}

    def __len__(self) -> int:
        return len(self._by_box)

    def __iter__(self) -> Iterator[int]:
        """The ids of the mailboxes somebody waits on."""
        return iter(list(self._by_box))

    async def wait(self, mailbox_id: int, modseq: int, current: Callable[[], Awaitable[int | None]],
                   timeout: float | None, registered: Callable[[], None] | None = None) -> bool:
        """Until the mailbox's HIGHESTMODSEQ passes ``modseq``; False on
        timeout. Registers first (then calls ``registered``) and asks
        ``current()`` second, so a change committed in between is not
        missed (None: the mailbox is gone)."""
        future = asyncio.get_running_loop().create_future()
        entry = (modseq, future)
        self._by_box.setdefault(mailbox_id, []).append(entry)
        try:
            if registered is not None:
                registered()
            now = await current()
            if now is None or now > modseq:
                return True
            try:
                async with asyncio.timeout(timeout):
                    await future
            except TimeoutError:
                return False
            return True
        finally:
            waiters = self._by_box.get(mailbox_id)
            if waiters and entry in waiters:
                waiters.remove(entry)
                if not waiters:
                    del self._by_box[mailbox_id]

    def wake(self, changed: dict[int, int]) -> None:
        """Mailbox id -> its HIGHESTMODSEQ now: wake who waited for less."""
        for mailbox_id, modseq in changed.items():
            waiters = self._by_box.get(mailbox_id)
            if not waiters:
                continue
            keep = []
            for since, future in waiters:
                if modseq > since:
                    if not future.done():
                        future.set_result(None)
                else:
                    keep.append((since, future))
            if keep:
                self._by_box[mailbox_id] = keep
            else:
                del self._by_box[mailbox_id]

    def release_all(self) -> None:
        """The store closes: every waiter returns (as if changed)."""
        for waiters in self._by_box.values():
            for _, future in waiters:
                if not future.done():
                    future.set_result(None)
        self._by_box.clear()
