"""Reply dataclass -> exact bytes."""

from __future__ import annotations

import pytest

from hivemail.smtp_proto import Reply, format_replies


@pytest.mark.parametrize(
    ("reply", "wire"),
    [
        (Reply(250, "2.0.0", "OK"), b"250 2.0.0 OK\r\n"),
        (Reply(220, None, "mx ESMTP ready"), b"220 mx ESMTP ready\r\n"),
        (Reply(250, None, "mx\nPIPELINING\nSIZE 10"), b"250-mx\r\n250-PIPELINING\r\n250 SIZE 10\r\n"),
        # RFC 2034: the enhanced code starts every line of a multi-line reply.
        (Reply(550, "5.1.1", "no\nsuch user"), b"550-5.1.1 no\r\n550 5.1.1 such user\r\n"),
        (Reply(250, None, ""), b"250\r\n"),
        (Reply(250, "2.0.0", ""), b"250 2.0.0\r\n"),
        (Reply(250, None, "a\n\nb"), b"250-a\r\n250-\r\n250 b\r\n"),
        (Reply(250, "2.0.0", "héllo"), "250 2.0.0 héllo\r\n".encode()),
        (Reply.ok(), b"250 2.0.0 OK\r\n"),
        (Reply.too_big(), b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"),
        (Reply.no_such_user("x@y"), b"550 5.1.1 <x@y>: Recipient address rejected: no such user\r\n"),
    ],
)
def test_format(reply: Reply, wire: bytes) -> None:
    assert reply.format() == wire


@pytest.mark.parametrize(
    ("code", "enhanced", "text"),
    [
        (199, None, "x"),
        (600, None, "x"),
        (250, "5.0.0", "class does not match"),
        (250, "2.0", "too short"),
        (250, "2.1000.0", "subject too long"),
        (250, None, "injected\r\n250 fake"),
        (250, None, "bare\rcr"),
        (250, None, "nul\x00"),
    ],
)
def test_bad_replies_are_refused(code: int, enhanced: str | None, text: str) -> None:
    with pytest.raises(ValueError):
        Reply(code, enhanced, text)


def test_constructors_and_predicates() -> None:
    assert Reply.sender_ok().is_positive and Reply.recipient_ok().is_positive
    assert not Reply.temp_fail().is_positive
    assert Reply.over_quota().code == 452 and Reply.over_quota(permanent=True).code == 552
    assert Reply.service_closing("mx").closes
    assert format_replies([Reply.ok(), Reply.ok("Done")]) == b"250 2.0.0 OK\r\n250 2.0.0 Done\r\n"
