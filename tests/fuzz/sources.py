"""Where a target's choices come from: Hypothesis or raw fuzzer bytes.

Targets draw through this small interface, so one generator serves both
engines: Hypothesis shrinks the draws; atheris mutates the bytes that
:class:`BytesSource` decodes (deterministically, so a crash file replays
without atheris: ``python -m tests.fuzz --replay FILE --target NAME``).
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, TypeVar

T = TypeVar("T")


class Source(Protocol):
    def integer(self, low: int, high: int) -> int: ...
    def binary(self, max_size: int) -> bytes: ...
    def boolean(self) -> bool: ...
    def choice(self, options: Sequence[T]) -> T: ...


class HypothesisSource:
    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self._data = data
        self._st = st

    def integer(self, low: int, high: int) -> int:
        return self._data.draw(self._st.integers(low, high))

    def binary(self, max_size: int) -> bytes:
        return self._data.draw(self._st.binary(max_size=max_size))

    def boolean(self) -> bool:
        return self._data.draw(self._st.booleans())

    def choice(self, options: Sequence[T]) -> T:
        return self._data.draw(self._st.sampled_from(options))


class BytesSource:
    """Decode choices from a byte string, front to back; zeros once exhausted
    (so every input is a valid, finite case)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _take(self, n: int) -> bytes:
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    def integer(self, low: int, high: int) -> int:
        span = high - low
        if span <= 0:
            return low
        width = (span.bit_length() + 7) // 8
        return low + int.from_bytes(self._take(width).ljust(width, b"\0"), "little") % (span + 1)

    def binary(self, max_size: int) -> bytes:
        return self._take(self.integer(0, max_size))

    def boolean(self) -> bool:
        return bool(self.integer(0, 1))

    def choice(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]
