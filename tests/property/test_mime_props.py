"""Hypothesis: analyse() never raises, stays in bounds, round-trips, is fast."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hivemail.imap_proto.bodystructure import body, envelope
from hivemail.mime import MessageAnalysis, analyse, normalise_crlf
from tests.support.imap_values import parse

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "messages").glob("*.eml"))
SMALL_FIXTURES = [p.read_bytes() for p in FIXTURES if p.stat().st_size < 20_000]

# Bytes that matter to the parser, so random input hits its branches.
_TOKENS = [
    b"\r\n", b"\n", b"\r", b"--", b"--b", b"--b--", b": ", b";", b"=", b'"', b"(", b")", b"<", b">", b"@",
    b",", b" ", b"\t", b"\x00", b"\xff", b"=?utf-8?b?", b"?=", b"=?x?q?=ZZ", b"*0*=", b"''",
    b"Content-Type: multipart/mixed; boundary=b\r\n", b"Content-Type: message/rfc822\r\n",
    b"Content-Type: multipart/digest; boundary=b\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"From: ", b"To: ", b"Subject: ", b"Date: ", b"group:", b"a@b", b"\r\n\r\n",
]
mime_ish = st.lists(st.one_of(st.sampled_from(_TOKENS), st.binary(max_size=8)), max_size=60).map(b"".join)


def check_invariants(raw: bytes) -> MessageAnalysis:
    a = analyse(raw)
    assert a.size == len(raw)
    for p in a.walk():
        assert 0 <= p.header_start <= p.header_end <= p.body_end <= len(raw)
        assert p.lines == raw.count(b"\n", p.body_start, p.body_end)
        for c in p.children:
            assert p.header_end <= c.header_start and c.body_end <= p.body_end
        if p.message is not None:
            assert p.message.header_start == p.body_start and p.message.body_end <= p.body_end
    assert MessageAnalysis.from_bytes(a.to_bytes()) == a
    # the formatter produces parseable IMAP values
    parse(envelope(a))
    parse(envelope(a, utf8=True))
    parse(body(a, False))
    parse(body(a, True))
    return a


@settings(max_examples=300, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
@example(b"")
@example(b"\r\n")
@example(b"--")
def test_arbitrary_bytes(raw: bytes) -> None:
    check_invariants(raw)


@settings(max_examples=400, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow])
@given(mime_ish)
def test_mime_shaped_bytes(raw: bytes) -> None:
    check_invariants(raw)
    check_invariants(normalise_crlf(raw))


@settings(max_examples=200, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SMALL_FIXTURES),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 40), st.binary(max_size=20)), max_size=6),
)
def test_mutated_fixtures(fixture: bytes, edits) -> None:
    data = bytearray(fixture)
    for pos, cut, insert in edits:
        pos %= len(data) + 1
        data[pos : pos + cut] = insert
    check_invariants(bytes(data))
    check_invariants(normalise_crlf(bytes(data)))


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 300), st.sampled_from([b"multipart/mixed; boundary=", b"message/rfc822; x="]))
def test_deep_nesting_is_bounded(depth: int, kind: bytes) -> None:
    raw = b"".join(b"Content-Type: %s\"n%d\"\r\n\r\n--n%d\r\n" % (kind, i, i) for i in range(depth)) + b"\r\nx\r\n"
    t = time.perf_counter()
    check_invariants(raw)
    assert time.perf_counter() - t < 2


def test_normalise_crlf_is_idempotent_and_crlf_only() -> None:
    for p in FIXTURES:
        once = normalise_crlf(p.read_bytes())
        assert normalise_crlf(once) == once
        assert once.count(b"\n") == once.count(b"\r\n") == once.count(b"\r")
