"""Command-line parsing, table-driven: good lines and bad lines with their exact reply."""

from __future__ import annotations

import pytest

from hivemail.smtp_proto.commands import (
    CommandError,
    MailCommand,
    RcptCommand,
    parse_hello,
    parse_mail,
    parse_rcpt,
    split_command,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("MAIL FROM:<a@b>", ("MAIL", "FROM:<a@b>")),
        ("mail from:<a@b>", ("MAIL", "from:<a@b>")),
        ("  NOOP   ", ("NOOP", "")),
        ("EHLO   client.example  ", ("EHLO", "client.example")),
        ("", ("", "")),
    ],
)
def test_split_command(line: str, expected: tuple[str, str]) -> None:
    assert split_command(line) == expected


GOOD_MAIL = [
    ("FROM:<a@b.example>", MailCommand("a@b.example", {})),
    ("from:<a@b.example>", MailCommand("a@b.example", {})),
    ("FROM: <a@b.example>", MailCommand("a@b.example", {})),  # space after colon: tolerated
    ("FROM:<>", MailCommand("", {})),
    ("FROM:<> SIZE=0", MailCommand("", {"SIZE": "0"})),
    ("FROM:<a@b> SIZE=1000 BODY=8bitmime", MailCommand("a@b", {"SIZE": "1000", "BODY": "8BITMIME"})),
    ("FROM:<a@b>  body=7BIT   size=5 ", MailCommand("a@b", {"BODY": "7BIT", "SIZE": "5"})),
    ("FROM:<a@b> SMTPUTF8", MailCommand("a@b", {"SMTPUTF8": None})),
    ("FROM:<@relay.example,@r2.example:a@b.example>", MailCommand("a@b.example", {})),  # source route dropped
    ('FROM:<"john doe"@b.example>', MailCommand('"john doe"@b.example', {})),
    ('FROM:<"john"@b.example>', MailCommand("john@b.example", {})),  # needless quotes dropped
    ('FROM:<"a\\"b"@x.example>', MailCommand('"a\\"b"@x.example', {})),
    ('FROM:<"\\j\\o"@x.example>', MailCommand("jo@x.example", {})),
    ("FROM:<a.b+tag@sub.b-c.example>", MailCommand("a.b+tag@sub.b-c.example", {})),
    ("FROM:<a@[192.0.2.1]>", MailCommand("a@[192.0.2.1]", {})),
    ("FROM:<a@[IPv6:2001:db8::1]>", MailCommand("a@[IPv6:2001:db8::1]", {})),
    ("FROM:<a@[x-tag:anything]>", MailCommand("a@[x-tag:anything]", {})),
    ("FROM:<jöran@bücher.example> SMTPUTF8", MailCommand("jöran@bücher.example", {"SMTPUTF8": None})),
    ("FROM:<!#$%&'*+-/=?^_`{|}~@x>", MailCommand("!#$%&'*+-/=?^_`{|}~@x", {})),
]


@pytest.mark.parametrize(("arg", "expected"), GOOD_MAIL)
def test_parse_mail_accepts(arg: str, expected: MailCommand) -> None:
    assert parse_mail(arg) == expected


BAD_MAIL = [
    # (argument, code, enhanced)
    ("", 501, "5.5.4"),
    ("TO:<a@b>", 501, "5.5.4"),
    ("FROM", 501, "5.5.4"),
    ("FROM:a@b", 501, "5.1.7"),  # no angle brackets
    ("FROM:<a@b", 501, "5.1.7"),
    ("FROM:<a>", 501, "5.1.7"),  # no domain
    ("FROM:<@b>", 501, "5.1.7"),
    ("FROM:<a@>", 501, "5.1.7"),
    ("FROM:<a@b.>", 501, "5.1.7"),
    ("FROM:<a@-b>", 501, "5.1.7"),
    ("FROM:<a@b_c>", 501, "5.1.7"),  # underscore not allowed in a label
    ("FROM:<a..b@c>", 501, "5.1.7"),
    ("FROM:<.a@c>", 501, "5.1.7"),
    ("FROM:<a b@c>", 501, "5.1.7"),
    ('FROM:<"unterminated@c>', 501, "5.1.7"),
    ("FROM:<a@[300.1.1.1]>", 501, "5.1.7"),
    ("FROM:<a@[IPv6:zz::1]>", 501, "5.1.7"),
    ("FROM:<a@[1.2.3]>", 501, "5.1.7"),
    ("FROM:<a@b>SIZE=1", 501, "5.1.7"),  # no space before the parameter
    ("FROM:<a@b> <c@d>", 501, "5.5.4"),
    ("FROM:<" + "a" * 250 + "@b.example>", 501, "5.1.7"),  # path over 256 octets
    ("FROM:<a@" + "b" * 64 + ".example>", 501, "5.1.7"),  # label over 63 octets
    ("FROM:<a@b> SIZE", 501, "5.5.4"),
    ("FROM:<a@b> SIZE=", 501, "5.5.4"),
    ("FROM:<a@b> SIZE=-1", 501, "5.5.4"),
    ("FROM:<a@b> SIZE=12x", 501, "5.5.4"),
    ("FROM:<a@b> SIZE=1 SIZE=2", 501, "5.5.4"),
    ("FROM:<a@b> BODY=BINARYMIME", 501, "5.5.4"),  # needs CHUNKING, not offered
    ("FROM:<a@b> BODY", 501, "5.5.4"),
    ("FROM:<a@b> SMTPUTF8=yes", 501, "5.5.4"),
    ("FROM:<a@b> RET=HDRS", 555, "5.5.4"),  # DSN not offered
    ("FROM:<a@b> AUTH=<>", 555, "5.5.4"),
    ("FROM:<a@b> X-FOO", 555, "5.5.4"),
    ("FROM:<a@b> =x", 501, "5.5.4"),
    ("FROM:<jöran@example>", 550, "5.6.7"),  # RFC 6531: UTF-8 needs SMTPUTF8
    ("FROM:<a@bücher.example>", 550, "5.6.7"),
]


@pytest.mark.parametrize(("arg", "code", "enhanced"), BAD_MAIL)
def test_parse_mail_rejects(arg: str, code: int, enhanced: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_mail(arg)
    assert (info.value.reply.code, info.value.reply.enhanced) == (code, enhanced)


GOOD_RCPT = [
    ("TO:<c@d.example>", False, RcptCommand("c@d.example", {})),
    ("to: <c@d.example>", False, RcptCommand("c@d.example", {})),
    ("TO:<Postmaster>", False, RcptCommand("Postmaster", {})),  # RFC 5321 section 4.1.1.3
    ("TO:<postmaster>", False, RcptCommand("postmaster", {})),
    ("TO:<@hop.example:c@d.example>", False, RcptCommand("c@d.example", {})),
    ("TO:<ü@d.example>", True, RcptCommand("ü@d.example", {})),
]


@pytest.mark.parametrize(("arg", "utf8", "expected"), GOOD_RCPT)
def test_parse_rcpt_accepts(arg: str, utf8: bool, expected: RcptCommand) -> None:
    assert parse_rcpt(arg, smtputf8=utf8) == expected


BAD_RCPT = [
    ("", False, 501, "5.5.4"),
    ("FROM:<c@d>", False, 501, "5.5.4"),
    ("TO:<>", False, 501, "5.1.3"),  # the null path is a reverse-path only
    ("TO:c@d", False, 501, "5.1.3"),
    ("TO:<postmaster", False, 501, "5.1.3"),
    ("TO:<c@d> NOTIFY=NEVER", False, 555, "5.5.4"),
    ("TO:<c@d> ORCPT=rfc822;c@d", False, 555, "5.5.4"),
    ("TO:<ü@d.example>", False, 553, "5.6.7"),
]


@pytest.mark.parametrize(("arg", "utf8", "code", "enhanced"), BAD_RCPT)
def test_parse_rcpt_rejects(arg: str, utf8: bool, code: int, enhanced: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_rcpt(arg, smtputf8=utf8)
    assert (info.value.reply.code, info.value.reply.enhanced) == (code, enhanced)


@pytest.mark.parametrize(
    ("arg", "expected"),
    [("client.example", "client.example"), ("[192.0.2.1]", "[192.0.2.1]"), ("host extra words", "host")],
)
def test_parse_hello(arg: str, expected: str) -> None:
    assert parse_hello(arg) == expected


def test_parse_hello_needs_a_domain() -> None:
    with pytest.raises(CommandError) as info:
        parse_hello("")
    assert info.value.reply.code == 501
