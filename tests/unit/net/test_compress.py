"""net/compress.py: raw DEFLATE both ways, bounded inflation, finding the end
of a client's stream (RFC 4978, RFC 8437 section 4.1)."""

from __future__ import annotations

import os
import zlib

import pytest

from hivemail.net.compress import SYNC_FLUSH_MARKER, CompressionError, Deflater, Inflater


def client_deflate(*bursts: bytes) -> bytes:
    """What a client sends: each burst compressed and sync-flushed."""
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    return b"".join(z.compress(b) + z.flush(zlib.Z_SYNC_FLUSH) for b in bursts)


def drain(inflater: Inflater, limit: int = 1 << 20) -> bytes:
    out = b""
    for _ in range(100_000):
        if not inflater.pending:
            return out
        out += inflater.inflate(limit)
    raise AssertionError("inflater never drained")


def test_deflater_output_is_raw_deflate_and_every_burst_inflates_whole():
    d = Deflater()
    client = zlib.decompressobj(-15)
    for burst in (b"* OK hello\r\n", b"a OK done\r\n" * 100, os.urandom(5000)):
        # Sync-flushed: all of it comes out of the peer's inflater at once.
        assert client.decompress(d.compress(burst)) == burst
    assert d.raw_bytes == 12 + 1100 + 5000 and d.wire_bytes > 0


def test_deflater_without_flush_holds_back_until_the_burst_ends():
    d = Deflater()
    client = zlib.decompressobj(-15)
    held = d.compress(b"x" * 1000, flush=False)
    early = client.decompress(held)
    assert early != b"x" * 1000  # zlib keeps some of it back...
    rest = d.compress(b"y", flush=True)
    assert early + client.decompress(rest) == b"x" * 1000 + b"y"  # ...until the flush


def test_deflater_finish_ends_the_stream_and_plain_bytes_follow():
    d = Deflater()
    wire = d.compress(b"a OK bye\r\n") + d.finish() + b"* OK plain\r\n"
    client = zlib.decompressobj(-15)
    assert client.decompress(wire) == b"a OK bye\r\n"
    assert client.eof and client.unused_data == b"* OK plain\r\n"


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, None])
def test_inflater_fed_in_any_chunks(chunk):
    plain = [b"a NOOP\r\n", b"b SELECT INBOX\r\n", b"c FETCH 1:* (FLAGS)\r\n" * 50]
    wire = client_deflate(*plain)
    inflater = Inflater()
    out = b""
    step = chunk or len(wire)
    for i in range(0, len(wire), step):
        inflater.feed(wire[i : i + step])
        out += drain(inflater, limit=5)
    assert out == b"".join(plain)
    assert inflater.total_in == len(wire) and inflater.total_out == len(out)


def test_a_flush_alone_inflates_to_nothing():
    inflater = Inflater()
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    inflater.feed(z.flush(zlib.Z_SYNC_FLUSH))
    assert inflater.inflate(100) == b""
    assert not inflater.pending


def test_bomb_is_inflated_in_bounded_pieces():
    """Gigabytes from a megabyte: each call gives at most ``limit`` bytes and
    what is not inflated yet stays compressed (a few hundred kilobytes)."""
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = b"\0" * (1 << 20)
    wire = b"".join(z.compress(block) for _ in range(64)) + z.flush(zlib.Z_SYNC_FLUSH)
    assert len(wire) < 128 * 1024  # 64 MiB in well under 0.2 % of it
    inflater = Inflater()
    inflater.feed(wire)
    total = 0
    calls = 0
    while inflater.pending:
        piece = inflater.inflate(256 * 1024)
        assert len(piece) <= 256 * 1024
        total += len(piece)
        calls += 1
        # What is held is the compressed input, never the inflated output.
        assert len(inflater._input) <= len(wire)
    assert total == 64 << 20 and calls >= 256


def test_invalid_data_raises_after_the_good_bytes_before_it():
    inflater = Inflater()
    inflater.feed(client_deflate(b"a NOOP\r\n") + b"\xff\xff\xff\xff garbage")
    assert inflater.inflate(1000) == b"a NOOP\r\n"
    assert inflater.pending
    with pytest.raises(CompressionError):
        inflater.inflate(1000)
    with pytest.raises(CompressionError):
        inflater.inflate(1000)


@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 5, 6, 7, 11, 1000])
def test_end_after_a_flush_returns_the_plain_bytes_pipelined_after_it(chunk):
    """RFC 8437 4.1: the client stops compressing after the CRLF of
    UNAUTHENTICATE; what it pipelines after (a LOGIN) is plain."""
    command = b"a UNAUTHENTICATE\r\n"
    wire = client_deflate(b"z NOOP\r\n", command) + b"b LOGIN fred secret\r\n"
    before = b"z NOOP\r\n" + command
    inflater = Inflater()
    out = b""
    fed = 0
    # As the session does: read until the command is there, then end.
    while len(out) < len(before):
        assert fed < len(wire)
        inflater.feed(wire[fed : fed + chunk])
        fed += chunk
        try:
            while inflater.pending:
                out += inflater.inflate(1000)
        except CompressionError:
            pass  # the plain bytes, taken for DEFLATE; end() recovers them
    # They may also have inflated to junk after the command, unread.
    assert out.startswith(before)
    rest = inflater.end(len(out) - len(before))
    # The last bytes of the flush may still be coming (small chunks).
    while rest is None:
        assert fed < len(wire)
        inflater.feed(wire[fed : fed + chunk])
        fed += chunk
        rest = inflater.end(0)
    assert rest + wire[fed:] == b"b LOGIN fred secret\r\n"


def test_end_when_nothing_followed():
    inflater = Inflater()
    inflater.feed(client_deflate(b"a UNAUTHENTICATE\r\n"))
    assert drain(inflater) == b"a UNAUTHENTICATE\r\n"
    assert inflater.end(0) == b""


def test_end_after_a_final_block_is_exact():
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    wire = z.compress(b"a UNAUTHENTICATE\r\n") + z.flush(zlib.Z_FINISH) + b"b LOGIN x y\r\n"
    inflater = Inflater()
    inflater.feed(wire)
    assert drain(inflater) == b"a UNAUTHENTICATE\r\n"
    assert inflater.ended
    assert inflater.end(0) == b"b LOGIN x y\r\n"


def test_end_is_refused_when_the_client_kept_compressing():
    inflater = Inflater()
    inflater.feed(client_deflate(b"a UNAUTHENTICATE\r\nb NOOP\r\n"))
    out = drain(inflater)
    # "b NOOP" came in the same compressed burst: the stream did not end after "a".
    with pytest.raises(CompressionError):
        inflater.end(len(out) - len(b"a UNAUTHENTICATE\r\n"))


def test_a_marker_inside_compressed_data_is_harmless():
    # Stored blocks (level 0) of data containing the marker bytes.
    data = (SYNC_FLUSH_MARKER + b"abc") * 1000
    z = zlib.compressobj(0, zlib.DEFLATED, -15)
    wire = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
    inflater = Inflater()
    inflater.feed(wire)
    assert drain(inflater, limit=777) == data
