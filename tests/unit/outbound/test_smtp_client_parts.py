"""The pure parts of the relay client: reply lines, EHLO keywords, DATA."""

from __future__ import annotations

import pytest

from hivemail.outbound.relay import RelayProtocolError, SmtpReply, dot_stuff, parse_ehlo, parse_reply_line


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"250 ok\r\n", (250, True, "ok")),
        (b"250-PIPELINING\r\n", (250, False, "PIPELINING")),
        (b"250\r\n", (250, True, "")),
        (b"250-\r\n", (250, False, "")),
        (b"550 5.1.1 no such user\n", (550, True, "5.1.1 no such user")),
        (b"451 caf\xc3\xa9\r\n", (451, True, "café")),
    ],
)
def test_reply_lines(line, expected):
    assert parse_reply_line(line) == expected


@pytest.mark.parametrize("line", [b"", b"25 ok\r\n", b"600 no\r\n", b"2500 x\r\n", b"ok 250\r\n", b"250x\r\n", b"199 x\r\n"])
def test_bad_reply_lines(line):
    with pytest.raises(RelayProtocolError):
        parse_reply_line(line)


def test_ehlo_keywords_are_upper_cased_with_their_parameters():
    reply = SmtpReply(250, "relay.example greets you\nstarttls\nAUTH PLAIN LOGIN\nSIZE 1000\n8BITMIME")
    assert parse_ehlo(reply) == {"STARTTLS": "", "AUTH": "PLAIN LOGIN", "SIZE": "1000", "8BITMIME": ""}


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        (b"a\r\nb\r\n", b"a\r\nb\r\n.\r\n"),
        (b".hidden\r\n", b"..hidden\r\n.\r\n"),
        (b"x\r\n.\r\ny\r\n", b"x\r\n..\r\ny\r\n.\r\n"),  # a lone dot must not end DATA
        (b"x\r\n..two\r\n", b"x\r\n...two\r\n.\r\n"),
        (b"no newline at end", b"no newline at end\r\n.\r\n"),
        (b"bare\nlf\n.dot\n", b"bare\r\nlf\r\n..dot\r\n.\r\n"),
        (b"bare\rcr\r\n", b"bare\r\ncr\r\n.\r\n"),  # smuggling: no bare CR on the wire
        (b"a\r\n\r\n", b"a\r\n\r\n.\r\n"),
        (b"", b".\r\n"),
        (b"a\n.\r\n", b"a\r\n..\r\n.\r\n"),
    ],
)
def test_dot_stuffing(message, wire):
    assert dot_stuff(message) == wire


def test_dot_stuffed_data_contains_exactly_one_end_marker():
    message = b"\r\n".join([b".", b"..", b".\r", b"x.", b"\n."] * 20)
    wire = dot_stuff(message)
    assert wire.endswith(b"\r\n.\r\n")
    assert wire.count(b"\r\n.\r\n") == 1
    assert not wire.replace(b"\r\n", b"").count(b"\r") and b"\n" not in wire.replace(b"\r\n", b"")
