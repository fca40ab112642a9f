"""The task that empties the outgoing queue into the relay.

One entry at a time, one connection at a time: outgoing mail here is Sieve
redirects and vacation replies, a trickle; a second connection would buy
nothing and would need a per-entry claim between senders. The runner wakes
when :meth:`OutboundRunner.submit` (or :meth:`wake`) is called, when the
earliest entry is due, and at least every ``poll_interval`` seconds (for
entries queued by another process, and for wall-clock jumps).

Every disk step runs in a worker thread (``asyncio.to_thread``): the queue
fsyncs, and the event loop never blocks (DESIGN.md principle 6).

Stopping: :meth:`stop` lets the message in flight finish for up to
``grace`` seconds, then cancels it; a cancelled attempt leaves the entry
as it was, to be sent again at the next start (at least once, never lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from hivemail.outbound.queue import OutboundQueue, QueueEntry, QueueError
from hivemail.outbound.relay import RecipientStatus, RelayResult, send_message
from hivemail.outbound.settings import OutboundSettings

__all__ = ["OutboundRunner", "SendFunction"]

log = logging.getLogger("hivemail.outbound")

SendFunction = Callable[[OutboundSettings, str, Sequence[str], bytes], Awaitable[RelayResult]]

# Longest sleep between looks at the queue, in seconds.
DEFAULT_POLL_INTERVAL = 60.0


class OutboundRunner:
    """Sends what ``queue`` holds through ``settings.smarthost``.

    The retry policy (back-off, max_age) is the queue's settings; the relay
    (host, TLS, AUTH, timeouts) is ``settings``: the two are the same
    ``OutboundSettings`` when wired normally. ``clock`` says what time it is
    for "is this entry due" (default: the queue's clock); tests inject one
    and call :meth:`wake` after moving it. ``send`` is the relay client
    (tests may replace it to inject faults)."""

    def __init__(
        self,
        queue: OutboundQueue,
        settings: OutboundSettings,
        clock: Callable[[], float] | None = None,
        *,
        send: SendFunction = send_message,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        if not settings.smarthost:
            raise ValueError("the outbound runner needs a smarthost")
        self.queue = queue
        self.settings = settings
        self.clock = clock if clock is not None else queue.clock
        self.send = send
        self.poll_interval = poll_interval
        self.attempts = 0  # sends tried since start (for tests and stats)
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # -- control ---------------------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        """Run :meth:`run` in a task of the current loop (or put
        ``runner.run()`` in the application's TaskGroup instead)."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="outbound-runner")
        return self._task

    def wake(self) -> None:
        """Look at the queue now (something was queued, or the clock moved)."""
        self._wakeup.set()

    async def stop(self, grace: float = 10.0) -> None:
        """Ask the runner to stop after the message in flight; cancel it if
        that takes longer than ``grace`` seconds. Returns when it has stopped."""
        self._stopping = True
        self._wakeup.set()
        task = self._task
        if task is None or task.done():
            return
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def submit(self, sender: str, recipients: Iterable[str], message: bytes) -> str:
        """Queue a message durably (see ``OutboundQueue.enqueue``) and wake
        the runner; returns the entry id. When this returns the message is
        on disk: the caller may acknowledge what caused it."""
        entry_id = await asyncio.to_thread(self.queue.enqueue, sender, list(recipients), message)
        self.wake()
        return entry_id

    # -- the loop -------------------------------------------------------------
    async def run(self) -> None:
        """Recover the queue, take its lock, then send due entries until
        :meth:`stop`. Raises QueueLocked if another process runs the queue."""
        await asyncio.to_thread(self.queue.recover)
        await asyncio.to_thread(self.queue.lock)
        try:
            while not self._stopping:
                self._wakeup.clear()
                try:
                    await self.run_due()
                    next_due = await asyncio.to_thread(self.queue.next_due)
                except Exception:
                    # The queue's disk failing (full, read-only) must not end
                    # the task and with it the server; what is on disk stays.
                    log.exception("outbound runner: queue error; looking again in %.0f s", self.poll_interval)
                    next_due = None
                if self._stopping:
                    break
                delay = self.poll_interval
                if next_due is not None:
                    delay = min(max(next_due - self.clock(), 0.0), delay)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wakeup.wait()
        finally:
            self.queue.unlock()

    async def run_due(self) -> int:
        """Try every entry due now, oldest due first; returns how many
        were tried. Stops early when the runner is stopping."""
        entries = await asyncio.to_thread(self.queue.due, self.clock())
        tried = 0
        for entry in entries:
            if self._stopping:
                break
            await self._attempt(entry)
            tried += 1
        return tried

    async def _attempt(self, entry: QueueEntry) -> None:
        try:
            message = await asyncio.to_thread(self.queue.read_message, entry)
        except QueueError as exc:
            log.error("outbound %s: %s; moved to failed/", entry.id, exc)
            await asyncio.to_thread(self.queue.failed, entry, str(exc))
            return
        self.attempts += 1
        try:
            result = await self.send(self.settings, entry.sender, entry.recipients, message)
        except Exception as exc:  # a bug in the client must not lose or spin on the entry
            log.exception("outbound %s: relay client failed", entry.id)
            await asyncio.to_thread(self.queue.deferred, entry, entry.recipients, f"internal error: {exc!r}")
            return
        await asyncio.to_thread(self._settle, entry, result)

    def _settle(self, entry: QueueEntry, result: RelayResult) -> None:
        """Record ``result`` (runs in a thread)."""
        delivered = result.with_status(RecipientStatus.DELIVERED)
        deferred = result.with_status(RecipientStatus.DEFERRED)
        failed = result.with_status(RecipientStatus.FAILED)
        for r in result.results:
            if r.status is RecipientStatus.DELIVERED:
                log.info("outbound %s: delivered to %s via %s", entry.id, r.recipient, self.settings.smarthost)
            elif r.status is RecipientStatus.FAILED:
                log.warning("outbound %s: %s refused permanently: %s %s", entry.id, r.recipient, r.code, r.text)
        if deferred:
            log.info("outbound %s: deferred for %s: %s", entry.id, ", ".join(deferred), result.summary)
            self.queue.deferred(entry, deferred, result.summary)
        elif delivered:
            self.queue.delivered(entry.id)
        else:
            # Nobody got it: keep the message for a human (and a bounce).
            self.queue.failed(entry, result.summary, failed)
