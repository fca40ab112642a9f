"""hivemail.mime structure: offsets, sections, robustness, limits."""

from __future__ import annotations

import time

import pytest

from hivemail.mime import MessageAnalysis, analyse, normalise_crlf

MULTI = (
    b"Subject: m\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n"
    b"--b\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: inner\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n"
    b"--c\r\n\r\nin1\r\n--c\r\nContent-Type: text/html\r\n\r\n<p>in2</p>\r\n--c--\r\n"
    b"\r\n--b--\r\nepilogue\r\n"
)


def body_of(raw: bytes, p) -> bytes:
    return raw[p.body_start : p.body_end]


def test_normalise_crlf() -> None:
    assert normalise_crlf(b"a\nb\rc\r\nd") == b"a\r\nb\r\nc\r\nd"
    assert normalise_crlf(b"a\r\n") == b"a\r\n"
    assert normalise_crlf(b"\n\n") == b"\r\n\r\n"


def test_sections_and_offsets() -> None:
    a = analyse(MULTI)
    root = a.part(())
    assert root is a.root and root.content_type == "multipart/mixed"
    assert MULTI[root.header_start : root.header_end].endswith(b"boundary=b\r\n\r\n")
    one = a.part((1,))
    assert body_of(MULTI, one) == b"one" and one.lines == 0
    two = a.part((2,))
    assert two.content_type == "message/rfc822" and two.message is not None
    assert MULTI[two.header_start : two.header_end] == b"Content-Type: message/rfc822\r\n\r\n"
    assert body_of(MULTI, two).startswith(b"Subject: inner") and body_of(MULTI, two).endswith(b"--c--\r\n")
    assert MULTI[two.message.header_start : two.message.header_end].startswith(b"Subject: inner")
    assert body_of(MULTI, a.part((2, 1))) == b"in1"
    assert body_of(MULTI, a.part((2, 2))) == b"<p>in2</p>"
    assert a.part((3,)) is None and a.part((2, 3)) is None and a.part((1, 1)) is None
    assert a.part((2,)).message.envelope.subject == "inner"


def test_non_multipart_part_1_is_the_body() -> None:
    raw = b"Subject: s\r\n\r\nbody\r\n"
    a = analyse(raw)
    assert a.part((1,)) is a.root
    assert body_of(raw, a.part((1,))) == b"body\r\n"
    assert a.part((2,)) is None and a.part((1, 1)) is None


def test_rfc822_with_simple_body_numbers_part_1() -> None:
    raw = b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ninner body\r\n"
    a = analyse(raw)
    assert a.part((1,)) is a.root
    assert body_of(raw, a.part((1, 1))) == b"inner body\r\n"


def test_missing_end_boundary_runs_to_end() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\na\r\n--x\r\n\r\nb\r\n"
    a = analyse(raw)
    assert [body_of(raw, p) for p in a.root.children] == [b"a", b"b\r\n"]


def test_inner_part_ends_at_outer_boundary() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n"
        b"Content-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\nunclosed\r\n"
        b"--o\r\n\r\nsecond\r\n--o--\r\n"
    )
    a = analyse(raw)
    assert len(a.root.children) == 2
    assert body_of(raw, a.part((1, 1))) == b"unclosed"
    assert body_of(raw, a.part((2,))) == b"second"


def test_boundary_prefix_does_not_match() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n\r\n--b10\r\nx\r\n--b1--\r\n"
    a = analyse(raw)
    assert len(a.root.children) == 1
    assert body_of(raw, a.part((1,))) == b"--b10\r\nx"


def test_boundary_with_transport_padding() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b  \r\n\r\nx\r\n--b-- \t\r\n"
    a = analyse(raw)
    assert body_of(raw, a.part((1,))) == b"x"


def test_digest_default_is_message_rfc822() -> None:
    raw = b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in\r\n\r\nhi\r\n--d--\r\n"
    a = analyse(raw)
    part = a.part((1,))
    assert part.content_type == "message/rfc822" and part.message.envelope.subject == "in"


def test_header_only_message() -> None:
    raw = b"Subject: only"
    a = analyse(raw)
    assert a.root.header_end == len(raw) and a.root.size == 0


def test_empty_message() -> None:
    a = analyse(b"")
    assert a.size == 0 and a.part(()) is not None and a.root.size == 0


def test_nesting_is_capped() -> None:
    depth = 150
    raw = b"".join(b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i) for i in range(depth))
    raw += b"\r\nbottom\r\n" + b"".join(b"--n%d--\r\n" % i for i in reversed(range(depth)))
    a = analyse(raw, max_depth=100)
    deepest = max(len(s) for s in _all_sections(a))
    assert deepest == 100
    opaque = [p for p in a.walk() if p.opaque]
    assert len(opaque) == 1 and opaque[0].content_type == "application/octet-stream"


def _all_sections(a: MessageAnalysis):
    stack = [()]
    while stack:
        sec = stack.pop()
        yield sec
        p = a.part(sec)
        if p is not None and p.children:
            stack.extend(sec + (i + 1,) for i in range(len(p.children)))


@pytest.mark.slow
def test_ten_thousand_deep_nesting_is_quick() -> None:
    raw = b"From: a@b.example\r\n" + b"".join(
        b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i) for i in range(10_000)
    )
    raw += b"Content-Type: text/plain\r\n\r\nbottom\r\n" + b"".join(b"--n%d--\r\n" % i for i in reversed(range(10_000)))
    t = time.perf_counter()
    a = analyse(raw)
    assert time.perf_counter() - t < 2
    assert MessageAnalysis.from_bytes(a.to_bytes()) == a


@pytest.mark.slow
def test_ten_megabyte_header_is_quick() -> None:
    raw = b"From: a@b.example\r\nTo: " + b"x@y, " * 2_000_000 + b"\r\nSubject: s\r\n"
    raw += b"".join(b"X-F-%d: %s\r\n" % (i, b"y" * 90) for i in range(1000)) + b"\r\nbody\r\n"
    assert len(raw) > 10_000_000
    t = time.perf_counter()
    a = analyse(raw)
    assert time.perf_counter() - t < 2
    assert a.subject == "s" and a.root.size == 6


def test_nul_bytes_and_binary_are_kept() -> None:
    raw = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\x01\xff\r\n"
    a = analyse(raw)
    assert a.root.size == 5 and a.root.transfer_encoding == "binary"
