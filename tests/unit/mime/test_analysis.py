"""MessageAnalysis: decoded fields, search text, preview, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest

from hivemail.mailstore.sortkeys import base_subject, preview
from hivemail.mime import MessageAnalysis, analyse, decode_transfer, normalise_crlf

FIXTURES = sorted((Path(__file__).parents[2] / "fixtures" / "messages").glob("*.eml"))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name[:2])
def test_round_trip_through_bytes(path: Path) -> None:
    a = analyse(normalise_crlf(path.read_bytes()))
    blob = a.to_bytes()
    assert isinstance(blob, bytes)
    assert MessageAnalysis.from_bytes(blob) == a


def test_decoded_fields() -> None:
    raw = normalise_crlf(
        b"From: =?UTF-8?B?5byg5LiJ?= <Zhang@Example.CN>\r\nSubject: =?UTF-8?Q?Re:_caf=C3=A9?=\r\n"
        b"Date: Tue, 14 May 2024 09:30:00 +0800\r\nMessage-ID: <x@y>\r\nX-Two: a\r\nx-two: b\r\n\r\nhello\r\n"
    )
    a = analyse(raw)
    assert a.subject == "Re: café" and base_subject(a.subject) == ("café", True)
    assert a.from_addr == "zhang@example.cn"
    assert a.message_id == "<x@y>"
    assert a.sent_date.isoformat() == "2024-05-14T09:30:00+08:00"
    assert a.header_values("X-TWO") == ["a", "b"]
    assert a.header_values("from") == ["张三 <Zhang@Example.CN>"]
    assert "hello" in a.body_text_from(raw) and preview(a, raw) == "hello"
    assert a.size == len(raw)


def test_body_text_decodes_cte_and_charset() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"caf=E9 cr=\r\nme\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"PHA+aMOpPC9wPg==\r\n--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n"
    )
    a = analyse(raw)
    assert "café crme" in a.body_text_from(raw)
    assert "<p>hé</p>" in a.body_text_from(raw)
    assert preview(a, raw) == "café crme"


def test_preview_from_html_when_no_plain() -> None:
    raw = b"Content-Type: text/html\r\n\r\n<html><body><p>Hello <b>world</b></p></body></html>\r\n"
    assert preview(analyse(raw), raw) == "Hello world"


@pytest.mark.parametrize(
    "subject, base",
    [
        ("Re: [list] Re: Fwd: Lunch on Friday? (fwd)", "Lunch on Friday?"),
        ("RE:  FW: hello", "hello"),
        ("[fwd: Re: thing]", "thing"),
        ("[list] ", "[list]"),
        ("Re:", ""),
        ("  spaced \t out  ", "spaced out"),
        ("Fwd: [x] [y] z", "z"),
    ],
)
def test_base_subject_rfc5256(subject: str, base: str) -> None:
    assert base_subject(subject)[0] == base


def test_decode_transfer_is_lenient() -> None:
    assert decode_transfer(b"aGVs\r\nbG8=\r\n", "BASE64") == b"hello"
    assert decode_transfer(b"aGVsb!!G8", "base64") == b"hello"
    assert decode_transfer(b"=E9=\r\nx", "quoted-printable") == b"\xe9x"
    assert decode_transfer(b"raw", "x-weird") == b"raw"


def test_from_bytes_rejects_unknown_version() -> None:
    with pytest.raises(ValueError):
        MessageAnalysis.from_bytes(b'{"v": 999}')


def test_stored_analysis_stays_small_for_a_large_message() -> None:
    """The index holds the structure, not a second copy of the text."""
    raw = normalise_crlf((FIXTURES[0].parent / "20-large-attachment-1500k.eml").read_bytes())
    a = analyse(raw)
    assert len(raw) > 1_500_000
    assert len(a.to_bytes()) < 8_000


@pytest.mark.parametrize(
    "raw,dot_free",
    [
        (b"Subject: a\r\n\r\nbody\r\n", True),
        (b"Subject: a\r\n\r\n.hidden\r\n", False),
        (b".Subject: a\r\n", False),
        (b"Subject: a\r\n\r\nend.\r\nx.y", True),  # a "." inside a line is no matter
        (b"Subject: a\r\n\r\n.", False),
        (b"", True),
    ],
)
def test_dot_free_is_stored_and_read_back(raw: bytes, dot_free: bool) -> None:
    a = analyse(raw)
    assert a.dot_free is dot_free
    assert MessageAnalysis.from_bytes(a.to_bytes()).dot_free is dot_free


def test_analysis_stored_before_dot_free_reads_as_unknown() -> None:
    import json

    doc = json.loads(analyse(b"Subject: a\r\n\r\nbody\r\n").to_bytes())
    del doc["df"]
    assert MessageAnalysis.from_bytes(json.dumps(doc).encode()).dot_free is None
