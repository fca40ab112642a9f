"""StreamReader: every read fed whole, one byte at a time and in chunks."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

import pytest

from hivemail.wire import LimitExceeded, LineTooLong, StreamReader, UnexpectedEOF

CHUNK_SIZES = [1, 2, 3, 5, 7, 64, 10**9]


def drive(
    read: Callable[[StreamReader], Generator[None, None, Any]],
    data: bytes,
    chunk: int,
    eof: bool = True,
) -> tuple[str, Any, bytes]:
    """Run one reading generator over ``data`` fed in ``chunk``-sized pieces.

    Returns ("ok", value, leftover) / ("error", exception type, leftover) /
    ("pending", None, leftover) when the data ran out without EOF.
    """
    reader = StreamReader()
    gen = read(reader)
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]

    def leftover() -> bytes:
        # What the reader holds plus what the test had not fed yet.
        return bytes(reader._buffer) + b"".join(pieces)

    try:
        next(gen)
        while pieces:
            reader.feed_data(pieces.pop(0))
            next(gen)
        if not eof:
            return "pending", None, leftover()
        reader.feed_eof()
        next(gen)
        raise AssertionError("reader yielded after EOF")
    except StopIteration as stop:
        return "ok", stop.value, leftover()
    except (LimitExceeded, EOFError) as exc:
        return "error", type(exc), leftover()


def read_lines(n: int, limit: int = 100) -> Callable[[StreamReader], Generator[None, None, list[bytes]]]:
    def read(reader: StreamReader) -> Generator[None, None, list[bytes]]:
        lines = []
        for _ in range(n):
            lines.append((yield from reader.read_line(limit)))
        return lines

    return read


LINE_CASES = [
    # (data, lines to read, limit, expected outcome, expected value, leftover)
    (b"abc\r\n", 1, 100, "ok", [b"abc\r\n"], b""),
    (b"abc\n", 1, 100, "ok", [b"abc\n"], b""),
    (b"a\r\nb\r\nrest", 2, 100, "ok", [b"a\r\n", b"b\r\n"], b"rest"),
    (b"\n\n", 2, 100, "ok", [b"\n", b"\n"], b""),
    (b"a\rb\n", 1, 100, "ok", [b"a\rb\n"], b""),  # a bare CR is not a line end
    (b"12345678\r\n", 1, 10, "ok", [b"12345678\r\n"], b""),  # exactly the limit
    (b"123456789\r\n", 1, 10, "error", LineTooLong, b"123456789\r\n"),  # one over: untouched
    (b"1234567890", 1, 10, "error", LineTooLong, b"1234567890"),
    (b"abc", 1, 100, "error", UnexpectedEOF, b""),
    (b"", 1, 100, "error", UnexpectedEOF, b""),
]


@pytest.mark.parametrize("chunk", CHUNK_SIZES)
@pytest.mark.parametrize(("data", "n", "limit", "outcome", "value", "leftover"), LINE_CASES)
def test_read_line(data: bytes, n: int, limit: int, outcome: str, value: Any, leftover: bytes, chunk: int) -> None:
    assert drive(read_lines(n, limit), data, chunk) == (outcome, value, leftover)


def test_line_too_long_is_raised_before_the_line_ends() -> None:
    # The limit trips as soon as it is certain, not when the LF finally comes:
    # memory stays bounded against a peer that never sends one.
    assert drive(read_lines(1, 10), b"x" * 10, 1, eof=False)[0] == "error"
    assert drive(read_lines(1, 10), b"x" * 9, 1, eof=False)[0] == "pending"


def test_too_long_line_can_be_skipped_and_reading_goes_on() -> None:
    def read(reader: StreamReader) -> Generator[None, None, tuple[int, bytes]]:
        try:
            yield from reader.read_line(8)
        except LineTooLong:
            skipped = yield from reader.skip_until(b"\n")
        return skipped, (yield from reader.read_line(8))

    for chunk in CHUNK_SIZES:
        assert drive(read, b"0123456789abcdef\r\nNOOP\r\n", chunk) == ("ok", (18, b"NOOP\r\n"), b"")


@pytest.mark.parametrize("chunk", CHUNK_SIZES)
def test_read_until_multibyte_delimiter_straddling_chunks(chunk: int) -> None:
    def read(reader: StreamReader) -> Generator[None, None, bytes]:
        return (yield from reader.read_until(b"\r\n.\r\n", 1000))

    data = b"a\r\n.b\n.\r\nc\r\n.\r\ntail"
    assert drive(read, data, chunk) == ("ok", b"a\r\n.b\n.\r\nc\r\n.\r\n", b"tail")


@pytest.mark.parametrize("chunk", CHUNK_SIZES)
def test_read_until_limit_counts_the_delimiter(chunk: int) -> None:
    def read(limit: int) -> Callable[[StreamReader], Generator[None, None, bytes]]:
        def inner(reader: StreamReader) -> Generator[None, None, bytes]:
            return (yield from reader.read_until(b"END", limit))

        return inner

    assert drive(read(6), b"abcEND", chunk)[:2] == ("ok", b"abcEND")
    assert drive(read(5), b"abcEND", chunk) == ("error", LimitExceeded, b"abcEND")


@pytest.mark.parametrize("chunk", CHUNK_SIZES)
def test_read_exact(chunk: int) -> None:
    def read(reader: StreamReader) -> Generator[None, None, tuple[bytes, bytes, bytes]]:
        a = yield from reader.read_exact(3)
        b = yield from reader.read_exact(0)
        c = yield from reader.read_exact(4)
        return a, b, c

    assert drive(read, b"abcdefgh", chunk) == ("ok", (b"abc", b"", b"defg"), b"h")
    assert drive(read, b"abcdef", chunk) == ("error", UnexpectedEOF, b"")


def test_unexpected_eof_carries_the_partial_bytes() -> None:
    reader = StreamReader()
    gen = reader.read_line(100)
    next(gen)
    reader.feed_data(b"partial")
    reader.feed_eof()
    with pytest.raises(UnexpectedEOF) as info:
        next(gen)
    assert info.value.partial == b"partial"
    assert isinstance(info.value, EOFError)


@pytest.mark.parametrize("chunk", CHUNK_SIZES)
def test_peek_does_not_consume(chunk: int) -> None:
    def read(reader: StreamReader) -> Generator[None, None, tuple[bytes, bytes]]:
        head = yield from reader.peek(3)
        return head, (yield from reader.read_exact(5))

    assert drive(read, b"abcdef", chunk) == ("ok", (b"abc", b"abcde"), b"f")
    # Short at EOF: peek returns what there is.
    assert drive(lambda r: r.peek(3), b"ab", chunk) == ("ok", b"ab", b"ab")


@pytest.mark.parametrize("chunk", CHUNK_SIZES)
def test_skip_until_keeps_memory_bounded(chunk: int) -> None:
    reader = StreamReader()
    gen = reader.skip_until(b"\r\n.\r\n")
    next(gen)
    data = b"x" * 10_000
    for i in range(0, len(data), chunk):
        reader.feed_data(data[i : i + chunk])
        next(gen)
        assert len(reader) <= 4  # at most a partial delimiter is kept
    reader.feed_data(b"\r\n.")
    next(gen)
    reader.feed_data(b"\r\nNEXT")
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == 10_005
    assert bytes(reader._buffer) == b"NEXT"


def test_skip_until_eof() -> None:
    assert drive(lambda r: r.skip_until(b"\n"), b"abc", 1) == ("error", UnexpectedEOF, b"")


def test_at_eof_tells_clean_end_from_more_data() -> None:
    assert drive(lambda r: r.at_eof(), b"", 1) == ("ok", True, b"")
    assert drive(lambda r: r.at_eof(), b"x", 1) == ("ok", False, b"x")


def test_feed_after_eof_is_an_error() -> None:
    reader = StreamReader()
    reader.feed_eof()
    reader.feed_eof()  # idempotent
    assert reader.eof
    with pytest.raises(EOFError):
        reader.feed_data(b"x")


def test_empty_delimiter_and_negative_size_are_caller_bugs() -> None:
    with pytest.raises(ValueError):
        next(StreamReader().read_until(b"", 10))
    with pytest.raises(ValueError):
        next(StreamReader().read_exact(-1))
    with pytest.raises(ValueError):
        next(StreamReader().skip_until(b""))


def test_large_read_until_is_linear_in_size() -> None:
    """20 MB in 64 KiB chunks: a rescanning or copying reader would take minutes."""
    reader = StreamReader()
    gen = reader.read_until(b"\r\n.\r\n", 30 * 2**20)
    next(gen)
    chunk = b"y" * 78 + b"\r\n"
    block = chunk * (65536 // len(chunk))
    start = time.perf_counter()
    for _ in range(20 * 2**20 // len(block)):
        reader.feed_data(block)
        next(gen)
    reader.feed_data(b".\r\n")
    with pytest.raises(StopIteration) as stop:
        next(gen)
    elapsed = time.perf_counter() - start
    assert stop.value.value.endswith(b"\r\n.\r\n")
    assert elapsed < 5.0, elapsed
