"""Per-example bounds: no hang (a SIGALRM deadline) and bounded memory
(tracemalloc peak).

Both wrap only the code under test, not input generation, so Hypothesis'
own allocations do not count.  The alarm nests with pytest-timeout's (it
also uses SIGALRM): the previous handler and the rest of its timer are
restored on exit.  Under atheris, pass ``seconds=None``: libFuzzer's
``-timeout`` owns SIGALRM there.
"""

from __future__ import annotations

import signal
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

#: Defaults for one example; generous, so a loaded CI machine does not flake.
SECONDS = 10.0
#: Fixed allowance plus a multiple of the input size (a parser may copy its
#: input a few times; it must not allocate what the input *claims*, such as
#: ``{4294967295}``).
BASE_BYTES = 8 * 1024 * 1024
PER_INPUT_BYTE = 40


class Hang(AssertionError):
    """An example ran past its time bound."""


class MemoryBlowup(AssertionError):
    """An example's traced memory peak went past its bound."""


def memory_bound(input_size: int) -> int:
    return BASE_BYTES + PER_INPUT_BYTE * input_size


@contextmanager
def bounded(seconds: float | None, max_bytes: int | None) -> Iterator[None]:
    """Fail with :class:`Hang` after ``seconds`` (checked by SIGALRM, so even an
    infinite loop is interrupted) and with :class:`MemoryBlowup` if the
    block's tracemalloc peak exceeds ``max_bytes``.  ``None`` disables either."""
    old_handler = None
    old_timer = (0.0, 0.0)
    started = time.monotonic()
    if seconds is not None and hasattr(signal, "setitimer"):

        def on_alarm(signum: int, frame: object) -> None:
            raise Hang(f"example ran longer than {seconds} s")

        old_handler = signal.signal(signal.SIGALRM, on_alarm)
        old_timer = signal.setitimer(signal.ITIMER_REAL, seconds)
        if old_timer[0] and old_timer[0] < seconds:  # an outer timer fires first
            signal.setitimer(signal.ITIMER_REAL, old_timer[0])
    was_tracing = tracemalloc.is_tracing()
    if max_bytes is not None:
        if not was_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0] if max_bytes is not None else 0
    try:
        yield
        if max_bytes is not None:
            peak = tracemalloc.get_traced_memory()[1] - baseline
            if peak > max_bytes:
                raise MemoryBlowup(f"traced memory peak {peak} bytes > bound {max_bytes}")
    finally:
        if max_bytes is not None and not was_tracing:
            tracemalloc.stop()
        if old_handler is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
            if old_timer[0]:
                left = max(old_timer[0] - (time.monotonic() - started), 0.001)
                signal.setitimer(signal.ITIMER_REAL, left, old_timer[1])
