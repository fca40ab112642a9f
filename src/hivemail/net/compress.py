"""DEFLATE for one connection (IMAP COMPRESS=DEFLATE, RFC 4978).

Both directions are raw DEFLATE streams (RFC 1951: no zlib or gzip header,
hence ``wbits=-15``).  The layer sits between the socket (or the TLS layer:
RFC 4978 section 3 wants data compressed *before* it is encrypted) and the
protocol core, which keeps seeing plain bytes, so every limit of the core
(line length, literal size, command size) applies to inflated bytes.

* :class:`Deflater`: our output.  Every burst ends with ``Z_SYNC_FLUSH``,
  so the client can inflate all of it at once and never waits for bytes
  zlib is holding back (RFC 4978 section 4).
* :class:`Inflater`: the client's input, inflated at most ``limit`` bytes
  per call.  What did not fit stays compressed (at most one socket read of
  it), so a "decompression bomb" -- a few kilobytes that inflate to
  gigabytes -- never sits in memory inflated; the caller bounds how much
  it is willing to inflate in all (``Connection.max_inflate``).

Pure: no asyncio, no sockets.  ``Connection`` (net/listeners.py) drives it.
"""

from __future__ import annotations

import zlib

__all__ = ["CompressionError", "Deflater", "Inflater", "SYNC_FLUSH_MARKER"]

#: What Z_SYNC_FLUSH ends with: an empty stored block (RFC 1951 section
#: 3.2.4: LEN 0x0000, NLEN 0xFFFF), byte-aligned.  After it the stream may
#: stop or go on (see :meth:`Inflater.end`).
SYNC_FLUSH_MARKER = b"\x00\x00\xff\xff"
_WBITS = -15
#: Raw input remembered after the last flush point, for :meth:`Inflater.end`;
#: a client that sends more compressed data than this before the end of a
#: flush is no longer one whose stream we could end cleanly.
_MAX_SINCE_FLUSH = 64 * 1024


class CompressionError(Exception):
    """The client's data is not a valid DEFLATE stream; the connection
    cannot continue (the two sides no longer agree on the stream)."""


class Deflater:
    """Our half: compress, flushing at the end of each burst of output.

    ``level`` 6 is zlib's default and Dovecot's ``imap_zlib_compress_level``;
    RFC 4978 section 4 suggests 1-5 for CPU's sake.  Either works with any
    client; the level is ours alone to pick (section 3)."""

    def __init__(self, level: int = 6) -> None:
        self._z = zlib.compressobj(level, zlib.DEFLATED, _WBITS)
        self.raw_bytes = 0  # bytes given to compress (for logs and tests)
        self.wire_bytes = 0  # bytes it made

    def compress(self, data: bytes, flush: bool = True) -> bytes:
        """Compress ``data``; with ``flush`` end it with a sync flush so the
        peer can inflate everything so far.  May return b"" when not
        flushing.  Large inputs may be passed from a worker thread: zlib
        releases the GIL while it works, but one Deflater must not be used
        by two threads at once."""
        out = self._z.compress(data)
        if flush:
            out += self._z.flush(zlib.Z_SYNC_FLUSH)
        self.raw_bytes += len(data)
        self.wire_bytes += len(out)
        return out

    def finish(self) -> bytes:
        """End the stream (a final block; RFC 8437 section 4.1: UNAUTHENTICATE
        ends compression after the OK).  The Deflater is unusable after."""
        out = self._z.flush(zlib.Z_FINISH)
        self.wire_bytes += len(out)
        return out


class Inflater:
    """The client's half: feed raw bytes, take inflated bytes in bounded pieces.

    ``feed(raw)`` stores input; ``inflate(limit)`` returns up to ``limit``
    inflated bytes, ``b""`` when it needs more input (a sync flush alone, or
    half a block, inflates to nothing: the caller reads the socket again).
    ``pending`` says whether more can come out without more input.

    The input is handed to zlib in pieces that end at sync-flush markers
    (``SYNC_FLUSH_MARKER``), remembering how many bytes had been inflated at
    the last one and which raw bytes came after it.  That is what lets
    :meth:`end` find the plain bytes a client sends right after ending its
    stream with a flush, not a final block (RFC 8437 section 4.1).
    """

    def __init__(self) -> None:
        self._z = zlib.decompressobj(_WBITS)
        self._input = bytearray()  # raw bytes not given to zlib yet
        self._more = False  # zlib may hold inflated output (the last call hit its limit)
        self._flush_due = False  # the piece zlib last consumed ended with a flush marker
        self.total_in = 0  # raw bytes fed
        self.total_out = 0  # bytes inflate() returned
        self._flush_out = 0  # total_out at the last flush point
        self._since_flush: bytearray | None = bytearray()  # raw bytes consumed after it
        self._error: CompressionError | None = None
        self._flush_points = 0
        self._last = b""  # the last raw bytes consumed (a marker may straddle two feeds)

    def feed(self, raw: bytes) -> None:
        self._input += raw
        self.total_in += len(raw)

    @property
    def pending(self) -> bool:
        """True when :meth:`inflate` may return bytes without more input."""
        if self._error is not None:
            return True  # inflate() will raise it
        return not self._z.eof and (bool(self._input) or self._more)

    @property
    def ended(self) -> bool:
        """The client ended its stream with a final block."""
        return self._z.eof

    def inflate(self, limit: int, stop_at_flush: bool = False) -> bytes:
        """Up to ``limit`` inflated bytes (``limit`` > 0).  Raises
        :class:`CompressionError` on data that is not DEFLATE -- on the call
        after the one that returned the good bytes before it, so that the
        caller can act on those first (they may be the UNAUTHENTICATE after
        which the bad bytes are plain text: :meth:`end`)."""
        if self._error is not None:
            raise self._error
        out = bytearray()
        while len(out) < limit and self.pending and self._error is None:
            end = self._next_flush_end()
            piece = bytes(self._input[:end])
            del self._input[:end]
            room = limit - len(out)
            try:
                chunk = self._z.decompress(piece, room)
            except zlib.error as e:
                self._error = CompressionError(f"invalid compressed data: {e}")
                self._input[:0] = piece
                break
            tail = self._z.unconsumed_tail
            if self._z.eof:
                # What follows a final block is not ours: it stays input
                # (for end()), in front of what was not looked at yet.
                tail = self._z.unused_data
            if tail:
                self._input[:0] = tail
            consumed = piece[: len(piece) - len(tail)]
            self._remember(consumed)
            if consumed:
                self._last = (self._last + consumed)[-len(SYNC_FLUSH_MARKER) :]
                self._flush_due = self._last == SYNC_FLUSH_MARKER and not self._z.eof
            # Hitting the limit may leave output inside zlib (a long match).
            self._more = len(chunk) == room
            out += chunk
            if self._flush_due and not self._more:
                self._flush_due = False
                self._flush_out = self.total_out + len(out)
                self._since_flush = bytearray()
                self._flush_points += 1
                if stop_at_flush:
                    break
        self.total_out += len(out)
        return bytes(out)

    def _next_flush_end(self) -> int:
        """How much of the input to give zlib next: up to the end of the
        next flush marker (which may have begun in what zlib already has),
        or all of it."""
        n = len(SYNC_FLUSH_MARKER)
        head = self._last[-(n - 1) :] if self._last else b""
        straddle = (head + bytes(self._input[: n - 1])).find(SYNC_FLUSH_MARKER)
        if straddle >= 0:
            return straddle + n - len(head)
        cut = self._input.find(SYNC_FLUSH_MARKER)
        return len(self._input) if cut < 0 else cut + n

    def _remember(self, consumed: bytes) -> None:
        if self._since_flush is None or not consumed:
            return
        self._since_flush += consumed
        if len(self._since_flush) > _MAX_SINCE_FLUSH:
            self._since_flush = None

    def end(self, unread: int) -> bytes | None:
        """Stop inflating: the client ended its stream right after the
        inflated byte ``total_out - unread`` (``unread``: bytes the caller
        got from :meth:`inflate` but finds past the end, e.g. pipelined
        after UNAUTHENTICATE).

        Returns the raw bytes received after the end, which are plain.
        None when the end has not arrived whole yet (the last bytes of the
        client's flush are still on their way, after the inflated bytes
        they close): :meth:`feed` what arrives and call ``end(0)`` again.
        Raises :class:`CompressionError` when the stream does not end there
        (the client went on compressing)."""
        if self._z.eof:
            # A final block: exact, whatever came with it.
            if unread:
                raise CompressionError("compressed data after the end of the stream")
            return bytes(self._input)
        if self._since_flush is not None and not self._more and self.total_out - unread == self._flush_out:
            return bytes(self._since_flush) + bytes(self._input)
        if unread:
            raise CompressionError("compressed data after the end of the stream")
        # The rest of the flush (or a final block) must inflate to nothing.
        points = self._flush_points
        if self.inflate(1, stop_at_flush=True):
            raise CompressionError("compressed data after the end of the stream")
        if self._z.eof:
            return bytes(self._input)
        if self._flush_points > points:
            return bytes(self._input)
        if self._error is not None:
            raise self._error
        return None
