"""hivemail.imap_proto.bodystructure: exact bytes of ENVELOPE/BODY/BODYSTRUCTURE."""

from __future__ import annotations

import pytest

from hivemail.imap_proto.bodystructure import body, envelope, nstring, part_body, string_for_humans
from hivemail.mime import analyse


@pytest.mark.parametrize(
    "value, wire",
    [
        (None, b"NIL"),
        (b"", b'""'),
        (b"plain", b'"plain"'),
        (b'a"b', b'"a\\"b"'),
        (b'"""""', b'{5}\r\n"""""'),  # Dovecot: literal after 4 quoted-specials
        (b"caf\xc3\xa9", b"{5}\r\ncaf\xc3\xa9"),
        (b"a\r\nb", b"{4}\r\na\r\nb"),
        (b"a\x00b", b"{3}\r\na\x80b"),  # NUL is not CHAR8
    ],
)
def test_nstring(value, wire) -> None:
    assert nstring(value) == wire


def test_nstring_utf8_mode_quotes_valid_utf8() -> None:
    assert nstring("café".encode(), utf8=True) == '"café"'.encode()
    assert nstring(b"caf\xe9", utf8=True) == b"{4}\r\ncaf\xe9"


@pytest.mark.parametrize(
    "value, wire",
    [
        (b"Hello", b'"Hello"'),
        (b"a\tb", b"{3}\r\na b"),
        (b"  x  y  ", b"{3}\r\nx y"),
        (b"   ", b'""'),
        (b'B "Q" C', b'{7}\r\nB "Q" C'),
    ],
)
def test_string_for_humans(value, wire) -> None:
    assert string_for_humans(value) == wire


def test_envelope_defaults_and_nil_rules() -> None:
    a = analyse(b"From: a@b.example\r\nSubject:\r\n\r\nx")
    # RFC 9051 s7.5.2: present-but-empty subject is "", absent date is NIL,
    # sender and reply-to default to from
    assert envelope(a) == (
        b'(NIL "" ((NIL NIL "a" "b.example")) ((NIL NIL "a" "b.example")) ((NIL NIL "a" "b.example"))'
        b" NIL NIL NIL NIL NIL)"
    )


def test_envelope_of_message_without_headers() -> None:
    assert envelope(analyse(b"\r\nbody")) == b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"


def test_envelope_utf8_mode_decodes_words() -> None:
    a = analyse(b"From: =?UTF-8?B?5byg5LiJ?= <z@x.cn>\r\nSubject: =?UTF-8?Q?caf=C3=A9?=\r\n\r\n")
    assert b'"=?UTF-8?Q?caf=C3=A9?="' in envelope(a)
    env = envelope(a, utf8=True)
    assert '"café"'.encode() in env and '(("张三" NIL "z" "x.cn"))'.encode() in env


def test_text_part_defaults() -> None:
    a = analyse(b"Subject: s\r\n\r\nline1\r\nline2\r\n")
    assert body(a, False) == b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 2)'
    assert body(a, True) == b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 2 NIL NIL NIL NIL)'


def test_single_part_extension_data() -> None:
    a = analyse(
        b"Content-Type: image/png; name=x.png\r\nContent-ID: <i@x>\r\nContent-Description: pic\r\n"
        b"Content-Transfer-Encoding: base64\r\nContent-MD5: abc=\r\nContent-Disposition: inline; filename=x.png\r\n"
        b"Content-Language: en, de\r\nContent-Location: x.png\r\n\r\nAAAA\r\n"
    )
    assert body(a, True) == (
        b'("image" "png" ("name" "x.png") "<i@x>" "pic" "base64" 6 "abc=" ("inline" ("filename" "x.png"))'
        b' ("en" "de") "x.png")'
    )
    assert body(a, False) == b'("image" "png" ("name" "x.png") "<i@x>" "pic" "base64" 6)'


def test_multipart_without_parts_reports_an_empty_text_part() -> None:
    a = analyse(b"Content-Type: multipart/alternative; boundary=x\r\n\r\nnothing\r\n")
    assert body(a, False) == b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "alternative")'
    assert body(a, True) == (
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "alternative"'
        b' ("boundary" "x") NIL NIL NIL)'
    )


def test_message_rfc822_part() -> None:
    a = analyse(
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
        b"Subject: in\r\n\r\nhi\r\n--b--\r\n"
    )
    part = a.part((1,))
    assert part_body(part, False) == (
        b'("message" "rfc822" NIL NIL NIL "7bit" 17 (NIL "in" NIL NIL NIL NIL NIL NIL NIL NIL)'
        b' ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 2 0) 2)'
    )


def test_opaque_deep_part_is_basic() -> None:
    raw = b'Content-Type: multipart/mixed; boundary="a"\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n\r\nx\r\n--a--\r\n'
    a = analyse(raw, max_depth=1)
    assert body(a, False) == b'(("application" "octet-stream" NIL NIL NIL "7bit" 1) "mixed")'
