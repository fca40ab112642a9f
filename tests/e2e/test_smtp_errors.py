"""Bad input over real sockets: each gets its reply code, nothing is stored,
and the listener keeps serving the next command and the next client."""

from __future__ import annotations


import pytest

from tests.e2e.test_delivery import read_mailbox
from tests.support.server import HivemailServer, cli
from tests.support.smtp_lines import SmtpLines

pytestmark = pytest.mark.xdist_group("smtp-errors")

USER = "user@example.org"
MAX = 64 * 1024


Client = SmtpLines


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    cli(data, "user", "add", USER, "--password", "pw")
    with HivemailServer(data, extra=("--config", str(write_config(data)))) as s:
        s.data = data
        yield s
        assert s.tracebacks() == []


def write_config(data):
    path = data / "test.toml"
    path.write_text(f"[limits]\nmax_message_size = {MAX}\nsmtp_max_command_line = 512\n")
    return path


def stored(server) -> list[bytes]:
    return [raw for raw, _ in read_mailbox(server.data, USER)]


def smtp(server) -> Client:
    c = Client(server.ports["smtp"])
    assert c.greeting[0].startswith(b"220 ")
    ehlo = c.cmd(b"EHLO client.example")
    assert ehlo.startswith(b"250 ")
    return c


def lmtp(server) -> Client:
    c = Client(server.ports["lmtp"])
    assert c.greeting[0].startswith(b"220 ")
    assert c.cmd(b"LHLO client.example").startswith(b"250 ")
    return c


def test_ehlo_advertises_the_extensions(server):
    c = Client(server.ports["smtp"])
    c.send(b"EHLO client.example\r\n")
    keywords = {line[4:].split(b" ")[0].upper() for line in c.reply()[1:]}
    assert {b"PIPELINING", b"8BITMIME", b"SMTPUTF8", b"ENHANCEDSTATUSCODES", b"SIZE"} <= keywords
    c.close()


def test_relaying_is_denied_and_the_session_goes_on(server):
    c = smtp(server)
    assert c.cmd(b"MAIL FROM:<a@example.net>").startswith(b"250 ")
    assert c.cmd(b"RCPT TO:<someone@elsewhere.example>").startswith(b"550 5.7.1 ")
    assert c.cmd(b"RCPT TO:<nobody@example.org>").startswith(b"550 5.1.1 ")
    assert c.cmd(b"RCPT TO:<user@example.org>").startswith(b"250 ")
    assert c.cmd(b"QUIT").startswith(b"221 ")


def test_lmtp_unknown_user_is_550_5_1_1(server):
    c = lmtp(server)
    assert c.cmd(b"MAIL FROM:<a@example.net>").startswith(b"250 ")
    assert c.cmd(b"RCPT TO:<ghost@example.org>").startswith(b"550 5.1.1 ")
    assert c.cmd(b"DATA").startswith(b"503 ")  # no valid recipient yet
    c.close()


def test_lmtp_refuses_ehlo(server):
    c = Client(server.ports["lmtp"])
    assert c.cmd(b"EHLO client.example").startswith(b"500 ")
    assert c.cmd(b"LHLO client.example").startswith(b"250 ")
    c.close()


def test_too_big_is_552_5_3_4_and_stores_nothing(server):
    before = len(stored(server))
    c = smtp(server)
    assert c.cmd(f"MAIL FROM:<a@example.net> SIZE={MAX * 2}".encode()).startswith(b"552 5.3.4 ")
    # Without a SIZE declaration, the limit is enforced on the data itself.
    assert c.cmd(b"MAIL FROM:<a@example.net>").startswith(b"250 ")
    assert c.cmd(b"RCPT TO:<user@example.org>").startswith(b"250 ")
    assert c.cmd(b"DATA").startswith(b"354 ")
    c.send(b"Subject: big\r\n\r\n" + b"x" * 998 + b"\r\n")
    for _ in range(MAX // 1000 + 10):
        c.send(b"y" * 998 + b"\r\n")
    assert c.cmd(b".").startswith(b"552 5.3.4 ")
    # The session is still usable.
    assert c.cmd(b"NOOP").startswith(b"250 ")
    assert c.cmd(b"QUIT").startswith(b"221 ")
    assert len(stored(server)) == before


@pytest.mark.parametrize(
    "smuggle",
    [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"],
    ids=["LF.LF", "CR.CR", "LF.CRLF", "CRLF.LF", "CR.CRLF"],
)
def test_no_end_of_data_smuggling(server, smuggle):
    """Only <CRLF>.<CRLF> ends DATA (RFC 5321 4.1.1.4); the rest is content."""
    before = len(stored(server))
    c = smtp(server)
    assert c.cmd(b"MAIL FROM:<a@example.net>").startswith(b"250 ")
    assert c.cmd(b"RCPT TO:<user@example.org>").startswith(b"250 ")
    assert c.cmd(b"DATA").startswith(b"354 ")
    c.send(
        b"Subject: smuggle\r\n\r\nfirst"
        + smuggle
        + b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<user@example.org>\r\nDATA\r\nSubject: injected\r\n\r\nx\r\n.\r\n"
    )
    assert c.reply()[-1].startswith(b"250 ")
    assert c.cmd(b"QUIT").startswith(b"221 ")
    after = stored(server)
    assert len(after) == before + 1, "exactly one message, the injected one is content"
    assert b"Subject: injected" in after[-1] and b"MAIL FROM:<evil@example.net>" in after[-1]


@pytest.mark.parametrize(
    "line,code",
    [
        (b"MAIL FROM:a@example.net", b"501 "),
        (b"MAIL FROM:<a@example.net> FOO=BAR", b"555 "),
        (b"RCPT TO:<user@example.org>", b"503 "),
        (b"FROBNICATE", b"500 "),
        (b"X" * 2000, b"500 "),
        (b"", b"500 "),
    ],
    ids=["no-brackets", "unknown-param", "rcpt-before-mail", "unknown-verb", "too-long", "empty"],
)
def test_syntax_errors_leave_the_session_usable(server, line, code):
    c = smtp(server)
    assert c.cmd(line).startswith(code)
    assert c.cmd(b"NOOP").startswith(b"250 ")
    assert c.cmd(b"MAIL FROM:<a@example.net>").startswith(b"250 ")
    c.close()


def test_lmtp_one_reply_per_recipient_after_data(server):
    """RFC 2033 4.2: one reply per accepted RCPT, in order, after the final dot."""
    c = lmtp(server)
    c.send(
        b"MAIL FROM:<a@example.net>\r\nRCPT TO:<user@example.org>\r\nRCPT TO:<ghost@example.org>\r\n"
        b"RCPT TO:<user+tag@example.org>\r\nDATA\r\n"
    )
    assert c.reply()[-1].startswith(b"250 ")
    assert c.reply()[-1].startswith(b"250 ")
    assert c.reply()[-1].startswith(b"550 5.1.1 ")
    assert c.reply()[-1].startswith(b"250 ")
    assert c.reply()[-1].startswith(b"354 ")
    c.send(b"Subject: two\r\n\r\nhello\r\n.\r\n")
    first, second = c.reply(), c.reply()
    assert first[-1].startswith(b"250 2.0.0 <user@example.org>")
    assert second[-1].startswith(b"250 2.0.0 <user+tag@example.org>")
    assert c.cmd(b"QUIT").startswith(b"221 ")


def test_listener_serves_the_next_client(server):
    bad = Client(server.ports["smtp"])
    bad.send(b"\x00\xff garbage\r\n" * 5)
    bad.close()
    good = smtp(server)
    assert good.cmd(b"QUIT").startswith(b"221 ")
