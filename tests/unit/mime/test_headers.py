"""hivemail.mime.headers: fields, RFC 2047 words, RFC 2231 parameters, dates."""

from __future__ import annotations

import pytest

from hivemail.mime import headers as H


def test_split_fields_keeps_folding_and_drops_lines_without_colon() -> None:
    block = b"Subject: a\r\n b\r\nnot a field\r\nX-A : 1\r\n"
    fields = H.split_fields(block)
    assert [name for name, _ in fields] == ["Subject", "X-A"]
    assert [H.unfold(value) for _, value in fields] == ["a b", "1"]


def test_split_fields_accepts_bare_lf_and_8bit() -> None:
    fields = H.split_fields("Subject: Grüße\nTo: x\n".encode())
    assert [n for n, _ in fields] == ["Subject", "To"]
    assert H.decode_raw(H.unfold(fields[0][1])) == "Grüße"


def test_unfold_keeps_trailing_whitespace_like_dovecot() -> None:
    assert H.unfold(" \tvalue \t") == "value \t"


@pytest.mark.parametrize(
    "raw, text",
    [
        ("=?UTF-8?B?5byg5LiJ?=", "张三"),
        ("=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # RFC 2047 s6.2: space between words dropped
        ("=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b"),
        ("=?utf-8?q?a_b?=", "a b"),
        ("=?GB2312?B?suLK1NPKvP4=?=", "测试邮件"),
        # a UTF-8 character split across two words survives
        ("=?utf-8?b?4oI=?= =?utf-8?b?rA==?=", "€"),
        ("=?utf-8*en?q?hi?=", "hi"),  # RFC 2231 s5 language suffix
    ],
)
def test_decode_words(raw: str, text: str) -> None:
    assert H.decode_words(raw) == text


@pytest.mark.parametrize(
    "raw",
    ["=?utf-8?B?not-base64!!?=", "=?utf-8?Q?=ZZ?=", "=?x-unknown?B?////?=", "=?utf-8?X?abc?="],
)
def test_broken_encoded_words_are_kept_raw(raw: str) -> None:
    assert H.decode_words(raw) == raw


def test_decode_bytes_fallbacks_never_raise() -> None:
    assert H.decode_bytes("é".encode(), "no-such-charset") == "é"
    assert H.decode_bytes(b"caf\xe9", None) == "café"
    assert H.decode_bytes(b"caf\xe9", "us-ascii") == "café"  # mislabelled 8-bit
    assert isinstance(H.decode_bytes(bytes(range(256)), "utf-16"), str)


def test_parse_content_type_keeps_case_and_params() -> None:
    t, s, p = H.parse_content_type(' TEXT/Plain; CHARSET="ISO-8859-1"; format=flowed (c); delsp=yes')
    assert (t, s) == ("TEXT", "Plain")
    assert p == [("CHARSET", "ISO-8859-1"), ("format", "flowed"), ("delsp", "yes")]


def test_parse_content_type_invalid_gives_none() -> None:
    assert H.parse_content_type("garbage")[:2] == (None, None)
    assert H.parse_content_type("")[:2] == (None, None)


def test_rfc2231_continuations_merge_like_dovecot() -> None:
    _, _, p = H.parse_content_type(
        "application/pdf; name*0*=UTF-8''%E5%AD%A3%E5%BA%A6; name*1*=%E6%8A%A5%E5%91%8A.pdf"
    )
    assert p == [("name*", "UTF-8''%E5%AD%A3%E5%BA%A6%E6%8A%A5%E5%91%8A.pdf")]
    assert H.param_value(p, "NAME") == "季度报告.pdf"


def test_rfc2231_plain_continuations_and_order() -> None:
    _, _, p = H.parse_content_type('text/plain; a*1="world"; a*0="hello "; b=c')
    assert p == [("b", "c"), ("a", "hello world")]  # RFC 2231 params last, as Dovecot


def test_rfc2231_single_extended_value() -> None:
    _, p = H.parse_disposition("attachment; filename*=iso-8859-1'fr'caf%E9.txt")
    assert H.param_value(p, "filename") == "café.txt"


def test_parse_language() -> None:
    assert H.parse_language(" en, de-AT (comment)") == ("en", "de-AT")


@pytest.mark.parametrize("value", [None, "", "32 Foo 2024 25:61:99 +9999", "garbage", "Tue, 14 May 99999 09:30:00 +0800"])
def test_parse_date_invalid(value) -> None:
    assert H.parse_date(value) is None


def test_parse_date_aware() -> None:
    dt = H.parse_date("Tue, 14 May 2024 09:30:00 +0800")
    assert dt is not None and dt.utcoffset() is not None
    assert H.parse_date("Tue, 14 May 2024 09:30:00 -0000").utcoffset().total_seconds() == 0
