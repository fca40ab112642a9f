"""A generator-based stream reader for sans-I/O protocol cores.

A core owns one :class:`StreamReader`.  The caller's bytes go in with
:meth:`StreamReader.feed_data` (and the end of the stream with
:meth:`StreamReader.feed_eof`); the core's parser is a generator that pulls
complete units out of it with ``yield from``::

    def parse(self):
        while True:
            line = yield from self.reader.read_line(2048)
            ...
            body = yield from self.reader.read_exact(n)

Every ``read_*`` method is itself a generator.  When the buffer does not yet
hold what was asked for it *yields* ``None``: that means "need more data", and
the driver resumes the parser (``next(parser)``) after the next
``feed_data``/``feed_eof``.  Nothing is re-parsed when data arrives in pieces;
the parser simply continues where it stopped.  This is the shape of
``websockets/streams.py``, with two changes that matter for mail:

* Searches resume where the previous attempt stopped (minus the length of the
  delimiter, which may straddle two chunks), so a 50 MB DATA body arriving in
  64 KiB chunks is scanned once, not once per chunk: linear, not quadratic.
* Limits never consume input.  :class:`~hivemail.wire.errors.LimitExceeded`
  (and its subclass ``LineTooLong``) is raised with the buffer untouched, so a
  core can answer "line too long", call :meth:`skip_until` to discard the rest
  of the line in bounded memory, and carry on with the next command.

The buffer is a ``bytearray``.  Deleting a prefix of a ``bytearray`` is
amortised O(1) in CPython (it moves a start offset instead of the bytes), and
each returned unit is copied out exactly once.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

from .errors import LimitExceeded, LineTooLong, UnexpectedEOF

__all__ = ["StreamReader", "Reading"]

#: The type of every ``read_*`` generator: yields ``None`` for "need more
#: data", returns the value read.
T = TypeVar("T")
Reading = Generator[None, None, T]


class StreamReader:
    """Buffer of received bytes plus generators that wait for complete units.

    Not thread-safe, no I/O.  After :meth:`feed_eof`, every read that cannot be
    satisfied from the buffer raises :class:`~hivemail.wire.errors.UnexpectedEOF`
    (an ``EOFError``) instead of yielding.
    """

    __slots__ = ("_buffer", "_eof")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._eof = False

    # -- feeding ---------------------------------------------------------

    def feed_data(self, data: bytes) -> None:
        """Append received bytes.  Raises ``EOFError`` after :meth:`feed_eof`."""
        if self._eof:
            raise EOFError("stream ended")
        self._buffer += data

    def feed_eof(self) -> None:
        """Mark the end of the stream (idempotent)."""
        self._eof = True

    @property
    def eof(self) -> bool:
        """True once :meth:`feed_eof` was called (bytes may still be buffered)."""
        return self._eof

    def __len__(self) -> int:
        """Number of bytes buffered and not yet consumed."""
        return len(self._buffer)

    # -- reading ---------------------------------------------------------

    def read_line(self, limit: int) -> Reading[bytes]:
        """Read one line, up to and including ``b"\\n"``.

        The line is returned with its terminator exactly as received (``\\r\\n``
        or a bare ``\\n``); deciding what a line end is belongs to the protocol.
        Raises :class:`LineTooLong` if no ``\\n`` occurs within ``limit`` bytes
        (terminator included), leaving the buffer untouched, and
        :class:`UnexpectedEOF` if the stream ends first.
        """
        return (yield from self._read_until(b"\n", limit, LineTooLong))

    def read_until(self, delimiter: bytes, limit: int) -> Reading[bytes]:
        """Read up to and including the first occurrence of ``delimiter``.

        Raises :class:`LimitExceeded` if the delimiter does not end within
        ``limit`` bytes (delimiter included), leaving the buffer untouched, and
        :class:`UnexpectedEOF` if the stream ends first.
        """
        return (yield from self._read_until(delimiter, limit, LimitExceeded))

    def _read_until(
        self, delimiter: bytes, limit: int, error: type[LimitExceeded]
    ) -> Reading[bytes]:
        if not delimiter:
            raise ValueError("empty delimiter")
        buffer = self._buffer
        start = 0
        while True:
            # ``end=limit`` bounds the search: a delimiter that would end past
            # the limit is as bad as none, and we never scan a huge pipelined
            # buffer beyond the limit.
            index = buffer.find(delimiter, start, limit)
            if index >= 0:
                return self._take(index + len(delimiter))
            if len(buffer) >= limit:
                raise error(limit)
            if self._eof:
                raise UnexpectedEOF(self._take(len(buffer)))
            # The delimiter may straddle what we have and what comes next.
            start = max(0, len(buffer) - len(delimiter) + 1)
            yield

    def read_exact(self, n: int) -> Reading[bytes]:
        """Read exactly ``n`` bytes.  Raises :class:`UnexpectedEOF` if the stream ends first.

        The caller bounds ``n`` (e.g. against a literal size limit) before asking.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        while len(self._buffer) < n:
            if self._eof:
                raise UnexpectedEOF(self._take(len(self._buffer)))
            yield
        return self._take(n)

    def peek(self, n: int) -> Reading[bytes]:
        """Return the next ``n`` bytes without consuming them.

        Returns fewer than ``n`` bytes only if the stream ended first.
        """
        while len(self._buffer) < n and not self._eof:
            yield
        return bytes(self._buffer[:n])

    def skip_until(self, delimiter: bytes) -> Reading[int]:
        """Discard bytes up to and including ``delimiter``; return how many were discarded.

        Memory stays bounded whatever the peer sends: everything but a possible
        partial delimiter at the end of the buffer is dropped as it arrives.
        Raises :class:`UnexpectedEOF` if the stream ends before the delimiter.
        """
        if not delimiter:
            raise ValueError("empty delimiter")
        buffer = self._buffer
        skipped = 0
        while True:
            index = buffer.find(delimiter)
            if index >= 0:
                end = index + len(delimiter)
                del buffer[:end]
                return skipped + end
            if self._eof:
                skipped += len(buffer)
                buffer.clear()
                raise UnexpectedEOF()
            keep = len(delimiter) - 1
            drop = len(buffer) - keep
            if drop > 0:
                del buffer[:drop]
                skipped += drop
            yield

    def at_eof(self) -> Reading[bool]:
        """Wait until a byte is buffered or the stream ended; True means ended with nothing left.

        Lets a core tell a clean end of stream (between commands) from an
        interrupted one before it starts reading the next unit.
        """
        while not self._buffer and not self._eof:
            yield
        return not self._buffer

    def _take(self, n: int) -> bytes:
        # One copy out of the buffer; the memoryview is released before the
        # ``del`` (a bytearray with live exports cannot be resized).
        with memoryview(self._buffer) as view:
            data = bytes(view[:n])
        del self._buffer[:n]
        return data
