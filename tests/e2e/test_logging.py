"""Issue 6, point 3: log lines of a session carry its id, the client
address and (once known) the account; passwords never reach the log, at
log_level debug, over every way of logging in, right or wrong."""

from __future__ import annotations

import base64
import re
import smtplib
import socket

import pytest

from tests.support.server import HivemailServer, cli

USER = "logme@example.org"
PASSWORD = "Zx81-unmistakable-Secret"
WRONG = "Qw93-distinctly-Wrong"


def plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def talk(port: int, lines: list[str], expect: int | None = None) -> list[bytes]:
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    f = s.makefile("rb")
    out = [f.readline()]
    for line in lines:
        s.sendall(line.encode() + b"\r\n")
        out.append(f.readline())
    s.close()
    return out


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    data = tmp_path_factory.mktemp("logging")
    cli(data, "user", "add", USER, "--password", PASSWORD)
    (data / "c.toml").write_text(
        'log_level = "debug"\n[auth]\nfailure_delay = 0.01\nfailure_delay_max = 0.02\nmax_failures_per_account_ip = 50\n'
    )
    s = HivemailServer(data, listeners=("imap", "pop3", "lmtp"), extra=("--config", str(data / "c.toml")))
    s.start()
    imap, pop3 = s.ports["imap"], s.ports["pop3"]
    for password in (WRONG, PASSWORD):
        talk(imap, [f"a LOGIN {USER} {password}", "b LOGOUT"])
        talk(imap, [f'a LOGIN "{USER}" "{password}"', "b LOGOUT"])
        talk(imap, ["a AUTHENTICATE PLAIN", plain(USER, password), "b LOGOUT"])
        talk(imap, [f"a AUTHENTICATE PLAIN {plain(USER, password)}", "b LOGOUT"])
        talk(pop3, [f"USER {USER}", f"PASS {password}", "QUIT"])
        talk(pop3, ["AUTH PLAIN", plain(USER, password), "QUIT"])
        talk(pop3, [f"AUTH PLAIN {plain(USER, password)}", "QUIT"])
    with smtplib.LMTP("127.0.0.1", s.ports["lmtp"]) as lmtp:
        lmtp.sendmail("a@example.net", [USER], b"Subject: x\r\n\r\ny\r\n")
        lmtp.sendmail("a@example.net", ["nobody@example.org", USER], b"Subject: x\r\n\r\ny\r\n")
    s.stop()
    assert s.tracebacks() == []
    return s.log


def test_no_password_in_the_log_in_any_form(logged):
    text = "\n".join(logged)
    for secret in (PASSWORD, WRONG):
        assert secret not in text
        assert plain(USER, secret) not in text
        assert base64.b64encode(secret.encode()).decode().rstrip("=") not in text


def test_session_lines_carry_id_address_and_account(logged):
    logins = [line for line in logged if "logged in" in line]
    assert len(logins) >= 7, logged
    for line in logins:
        assert re.search(r"session=[0-9a-f]{16} rip=127\.0\.0\.1 user=logme@example\.org:", line), line
    failures = [line for line in logged if "authentication failed" in line]
    assert len(failures) >= 7
    for line in failures:
        # Before a login succeeds there is no account in the prefix; the
        # message names the user tried.
        assert re.search(r"session=[0-9a-f]{16} rip=127\.0\.0\.1:", line) and "user=" not in line.split(":")[3]

