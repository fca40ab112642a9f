"""ManageSieve (RFC 5804, issue 8) over a real socket against a real server:
byte-exact transcripts of every command, SASL PLAIN and SCRAM-SHA-256,
STARTTLS, the plaintext rule, the limits; sievelib's client (a third-party
implementation); and the store seen from the CLI after a SETACTIVE."""

from __future__ import annotations

import base64
import re
import socket
import ssl
import time
import warnings

import pytest
import scramp

from hivemail import __version__
from hivemail.sieve import EXTENSIONS
from tests.support.server import HivemailServer, cli

pytestmark = pytest.mark.xdist_group("managesieve")

USER = "sieve@example.org"
PASSWORD = "sieve secret"
GOOD = b'require "fileinto";\r\nif header :contains "List-Id" "dev" {\r\n  fileinto "Lists/dev";\r\n}\r\n'
# Line 4: "}" where the ";" ending fileinto belongs.
BAD = b'require "fileinto";\r\nif header :contains "List-Id" "dev" {\r\n  fileinto "Lists/dev"\r\n}\r\n'
VACATION = b'require "vacation";\r\nvacation :days 7 "Away until Monday.";\r\n'

CAPS_TAIL = (
    f'"SIEVE" "{" ".join(EXTENSIONS)}"\r\n'.encode()
)


def plain(user: str = USER, password: str = PASSWORD) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def literal(script: bytes) -> bytes:
    return b"{%d+}\r\n" % len(script) + script


class Sieve:
    """A raw ManageSieve client: sends lines, reads one whole response (data
    lines and literals up to the final OK/NO/BYE line) as the exact bytes."""

    FINAL = re.compile(rb"(OK|NO|BYE)( |\r\n)")
    LITERAL = re.compile(rb"\{(\d+)\}\r\n$")

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.buf = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError(self.buf)
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError(self.buf)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self) -> bytes:
        out = b""
        while True:
            first = line = self.line()
            out += line
            # A literal continues the logical line it ends.
            while (m := self.LITERAL.search(line)) is not None:
                out += self.exact(int(m.group(1)))
                line = self.line()
                out += line
            if self.FINAL.match(first):
                return out

    def send(self, data: bytes | str) -> None:
        self.sock.sendall((data.encode() if isinstance(data, str) else data) + b"\r\n")

    def cmd(self, data: bytes | str) -> bytes:
        self.send(data)
        return self.response()

    def eof(self) -> bool:
        """True if the server closed the connection (nothing more to read)."""
        try:
            return not self.buf and not self._fill()
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def greeting(sasl: str, *, starttls: bool = True) -> bytes:
    return (
        f'"IMPLEMENTATION" "hivemail {__version__}"\r\n"SASL" "{sasl}"\r\n'.encode()
        + CAPS_TAIL
        + (b'"STARTTLS"\r\n' if starttls else b"")
        + b'"UNAUTHENTICATE"\r\n"VERSION" "1.0"\r\n'
    )


def start(tmp_path, config: str = "", listeners=("managesieve",)) -> HivemailServer:
    data = tmp_path / "data"
    cli(data, "user", "add", USER, "--password", PASSWORD)
    cfg = tmp_path / "c.toml"
    cfg.write_text("workers = 1\n[auth]\nfailure_delay = 0.01\nfailure_delay_max = 0.02\n" + config)
    s = HivemailServer(data, listeners=listeners, extra=("--config", str(cfg)))
    s.data = data  # type: ignore[attr-defined]
    return s.start()


@pytest.fixture
def server(tmp_path):
    s = start(tmp_path, "[managesieve]\nmax_scripts = 3\n")
    try:
        yield s
    finally:
        s.stop()
    assert s.tracebacks() == []


@pytest.fixture
def client(server):
    c = Sieve(server.ports["managesieve"])
    yield c
    c.close()


def login(c: Sieve) -> None:
    assert c.response().endswith(b'OK "localhost hivemail ManageSieve ready"\r\n')
    assert c.cmd(f'AUTHENTICATE "PLAIN" "{plain()}"') == b'OK "Logged in"\r\n'


# -- transcripts ----------------------------------------------------------------------


def test_greeting_lists_the_capabilities_then_ok(client):
    assert client.response() == greeting("PLAIN SCRAM-SHA-256") + b'OK "localhost hivemail ManageSieve ready"\r\n'


def test_sieve_capability_is_exactly_the_implemented_extensions(client):
    caps = client.response()
    sieve = re.search(rb'^"SIEVE" "([^"]*)"\r\n', caps, re.M)
    assert sieve is not None and sieve.group(1).decode().split() == list(EXTENSIONS)


def test_scripts_put_list_activate_get_delete_rename(server, client):
    login(client)
    assert client.cmd(b'PUTSCRIPT "lists" ' + literal(GOOD)) == b"OK\r\n"
    bad = client.cmd(b'PUTSCRIPT "broken" ' + literal(BAD))
    assert bad.startswith(b'NO "line 4, column ') and bad.endswith(b'"\r\n')
    assert client.cmd(b'PUTSCRIPT "away" ' + literal(VACATION)) == b"OK\r\n"
    assert client.cmd("LISTSCRIPTS") == b'"away"\r\n"lists"\r\nOK\r\n'  # "broken" was not stored

    assert client.cmd('SETACTIVE "lists"') == b"OK\r\n"
    assert client.cmd("LISTSCRIPTS") == b'"away"\r\n"lists" ACTIVE\r\nOK\r\n'
    # The store agrees, as the administrator sees it.
    assert cli(server.data, "sieve", "list", USER).stdout == b"away\nlists (active)\n"

    # Byte for byte, CRLFs included, in a literal.
    assert client.cmd('GETSCRIPT "lists"') == b"{%d}\r\n" % len(GOOD) + GOOD + b"\r\nOK\r\n"
    assert client.cmd('GETSCRIPT "nope"') == b'NO (NONEXISTENT) "There is no script by that name"\r\n'

    assert client.cmd('DELETESCRIPT "lists"') == b'NO (ACTIVE) "You may not delete an active script"\r\n'
    assert client.cmd('DELETESCRIPT "nope"') == b'NO (NONEXISTENT) "There is no script by that name"\r\n'

    assert client.cmd('RENAMESCRIPT "lists" "away"') == b'NO (ALREADYEXISTS) "A script by that name already exists"\r\n'
    assert client.cmd('RENAMESCRIPT "nope" "other"') == b'NO (NONEXISTENT) "There is no script by that name"\r\n'
    assert client.cmd('RENAMESCRIPT "lists" "mailing lists"') == b"OK\r\n"
    # The active script stays active under its new name.
    assert client.cmd("LISTSCRIPTS") == b'"away"\r\n"mailing lists" ACTIVE\r\nOK\r\n'

    assert client.cmd('SETACTIVE "nope"') == b'NO (NONEXISTENT) "There is no script by that name"\r\n'
    assert client.cmd('SETACTIVE ""') == b"OK\r\n"  # deactivates
    assert client.cmd('DELETESCRIPT "mailing lists"') == b"OK\r\n"
    assert client.cmd("LISTSCRIPTS") == b'"away"\r\nOK\r\n'
    assert cli(server.data, "sieve", "list", USER).stdout == b"away\n"
    assert client.cmd("LOGOUT") == b'OK "Logout completed"\r\n'
    assert client.eof()


def test_putscript_replaces_and_refuses_empty_and_non_utf8(client):
    login(client)
    assert client.cmd(b'PUTSCRIPT "s" ' + literal(GOOD)) == b"OK\r\n"
    assert client.cmd(b'PUTSCRIPT "s" ' + literal(VACATION)) == b"OK\r\n"
    assert client.cmd('GETSCRIPT "s"').endswith(VACATION + b"\r\nOK\r\n")
    assert client.cmd(b'PUTSCRIPT "s" ' + literal(b"")) == b'NO "An empty script is not allowed"\r\n'
    assert client.cmd(b'PUTSCRIPT "s" ' + literal(b'keep;\r\n# caf\xe9\r\n')) == (
        b'NO "line 2: the script is not valid UTF-8"\r\n'
    )
    assert client.cmd('GETSCRIPT "s"').endswith(VACATION + b"\r\nOK\r\n")


def test_checkscript_validates_without_storing(client):
    login(client)
    assert client.cmd(b"CHECKSCRIPT " + literal(GOOD)) == b"OK\r\n"
    bad = client.cmd(b"CHECKSCRIPT " + literal(BAD))
    assert bad.startswith(b'NO "line 4, column ')
    unknown = client.cmd(b"CHECKSCRIPT " + literal(b'require "enotify";\r\nkeep;\r\n'))
    assert unknown.startswith(b'NO "line 1, column ')
    assert client.cmd("LISTSCRIPTS") == b"OK\r\n"


def test_havespace_and_the_limits(client):
    login(client)
    limit = 64 * 1024
    assert client.cmd(f'HAVESPACE "a" {limit}') == b"OK\r\n"
    assert client.cmd(f'HAVESPACE "a" {limit + 1}') == (
        b'NO (QUOTA/MAXSIZE) "Script too big (limit %d octets)"\r\n' % limit
    )
    for name in ("a", "b", "c"):
        assert client.cmd(f'PUTSCRIPT "{name}" '.encode() + literal(b"keep;\r\n")) == b"OK\r\n"
    # max_scripts = 3: a fourth is refused; replacing one of the three is not.
    assert client.cmd('HAVESPACE "d" 10') == b'NO (QUOTA/MAXSCRIPTS) "Too many scripts (the limit is 3)"\r\n'
    assert client.cmd('HAVESPACE "b" 10') == b"OK\r\n"
    assert client.cmd(b'PUTSCRIPT "d" ' + literal(b"keep;\r\n")) == (
        b'NO (QUOTA/MAXSCRIPTS) "Too many scripts (the limit is 3)"\r\n'
    )
    assert client.cmd(b'PUTSCRIPT "b" ' + literal(b"discard;\r\n")) == b"OK\r\n"
    # A script over the size limit is refused before it is stored (and read
    # whole); the connection goes on.
    big = b"keep;\r\n" + b"#" * limit + b"\r\n"
    assert client.cmd(b'PUTSCRIPT "big" ' + literal(big)) == (
        b'NO (QUOTA/MAXSIZE) "Script too big (%d octets, limit %d)"\r\n' % (len(big), limit)
    )
    assert client.cmd("LISTSCRIPTS") == b'"a"\r\n"b"\r\n"c"\r\nOK\r\n'


def test_noop_capability_and_unauthenticate(client):
    assert client.response().startswith(b'"IMPLEMENTATION"')
    assert client.cmd('NOOP "tag 1"') == b'OK (TAG "tag 1") "Done"\r\n'
    assert client.cmd("NOOP") == b'OK "Done"\r\n'
    assert client.cmd("LISTSCRIPTS") == b'NO "LISTSCRIPTS is not allowed in the non-authenticated state"\r\n'
    assert client.cmd(f'AUTHENTICATE "PLAIN" "{plain()}"') == b'OK "Logged in"\r\n'
    caps = client.cmd("CAPABILITY")
    # OWNER once authenticated, STARTTLS no longer (RFC 5804 section 1.7).
    assert caps == greeting("PLAIN SCRAM-SHA-256", starttls=False).replace(
        b'"UNAUTHENTICATE"', f'"OWNER" "{USER}"\r\n"UNAUTHENTICATE"'.encode()
    ) + b"OK\r\n"
    assert client.cmd("UNAUTHENTICATE") == b"OK\r\n"
    assert client.cmd("LISTSCRIPTS").startswith(b"NO ")
    assert client.cmd("CAPABILITY") == greeting("PLAIN SCRAM-SHA-256") + b"OK\r\n"
    assert client.cmd(f'AUTHENTICATE "PLAIN" "{plain()}"') == b'OK "Logged in"\r\n'
    assert client.cmd("LISTSCRIPTS") == b"OK\r\n"


def test_plain_without_initial_response_gets_an_empty_challenge(client):
    client.response()
    client.send('AUTHENTICATE "PLAIN"')
    assert client.line() == b'""\r\n'
    assert client.cmd(f'"{plain()}"') == b'OK "Logged in"\r\n'


def test_cancelled_and_unknown_mechanisms(client):
    client.response()
    client.send('AUTHENTICATE "PLAIN"')
    assert client.line() == b'""\r\n'
    assert client.cmd('"*"') == b'NO "Authentication cancelled"\r\n'
    assert client.cmd('AUTHENTICATE "LOGIN"') == b'NO "Unsupported authentication mechanism LOGIN"\r\n'
    assert client.cmd(f'AUTHENTICATE "PLAIN" "{plain()}"') == b'OK "Logged in"\r\n'


def test_scram_sha_256_with_server_final_in_the_ok(client):
    client.response()
    scram = scramp.ScramClient(["SCRAM-SHA-256"], USER, PASSWORD)
    first = base64.b64encode(scram.get_client_first().encode()).decode()
    client.send(f'AUTHENTICATE "SCRAM-SHA-256" "{first}"')
    challenge = client.line()
    scram.set_server_first(base64.b64decode(challenge.strip().strip(b'"')).decode())
    final = client.cmd(f'"{base64.b64encode(scram.get_client_final().encode()).decode()}"')
    m = re.fullmatch(rb'OK \(SASL "([^"]+)"\) "Logged in"\r\n', final)
    assert m is not None
    scram.set_server_final(base64.b64decode(m.group(1)).decode())  # verifies the server
    assert client.cmd("LISTSCRIPTS") == b"OK\r\n"


def test_wrong_passwords_get_no_then_bye(client):
    client.response()
    wrong = f'AUTHENTICATE "PLAIN" "{plain(password="wrong")}"'
    assert client.cmd(wrong) == b'NO "Authentication failed"\r\n'
    assert client.cmd(wrong) == b'NO "Authentication failed"\r\n'
    # auth.max_failures_per_connection = 3
    assert client.cmd(wrong) == b'BYE "Too many failed logins"\r\n'
    assert client.eof()


def test_throttled_account_gets_trylater_even_with_the_right_password(tmp_path):
    s = start(tmp_path, "max_failures_per_account_ip = 2\n")  # in [auth]
    try:
        first = Sieve(s.ports["managesieve"])
        first.response()
        for _ in range(2):
            assert first.cmd(f'AUTHENTICATE "PLAIN" "{plain(password="wrong")}"') == b'NO "Authentication failed"\r\n'
        first.close()
        second = Sieve(s.ports["managesieve"])
        second.response()
        assert second.cmd(f'AUTHENTICATE "PLAIN" "{plain()}"') == (
            b'NO (TRYLATER) "Too many failed logins, try again later"\r\n'
        )
        second.close()
    finally:
        s.stop()
    assert s.tracebacks() == []


def test_shutdown_says_bye(server, client):
    login(client)
    server.stop()
    assert client.response() == b'BYE (TRYLATER) "Server shutting down"\r\n'
    assert client.eof()


def test_starttls_then_authenticate(server, client):
    client.response()
    assert client.cmd("STARTTLS") == b'OK "Begin TLS negotiation now"\r\n'
    ctx = ssl.create_default_context(cafile=str(server.data / "tls-cert.pem"))
    client.sock = ctx.wrap_socket(client.sock, server_hostname="localhost")
    # RFC 5804 section 2.2: the capabilities again (no STARTTLS), then OK.
    assert client.response() == greeting("PLAIN SCRAM-SHA-256", starttls=False) + (
        b'OK "TLS negotiation successful"\r\n'
    )
    assert client.cmd("STARTTLS") == b'NO "TLS is already active"\r\n'
    assert client.cmd(f'AUTHENTICATE "PLAIN" "{plain()}"') == b'OK "Logged in"\r\n'
    assert client.cmd(b'PUTSCRIPT "tls" ' + literal(GOOD)) == b"OK\r\n"
    assert client.cmd('GETSCRIPT "tls"') == b"{%d}\r\n" % len(GOOD) + GOOD + b"\r\nOK\r\n"


def test_plaintext_refused_where_loopback_is_not_secure(tmp_path):
    """Off loopback a password needs TLS; with ``auth.loopback_is_secure =
    false`` loopback is treated as any other address."""
    s = start(tmp_path, "loopback_is_secure = false\n")  # in [auth]
    c = Sieve(s.ports["managesieve"])
    try:
        assert c.response() == greeting("SCRAM-SHA-256") + b'OK "localhost hivemail ManageSieve ready"\r\n'
        assert c.cmd(f'AUTHENTICATE "PLAIN" "{plain()}"') == (
            b'NO (ENCRYPT-NEEDED) "Plaintext authentication requires TLS"\r\n'
        )
        assert c.cmd("STARTTLS") == b'OK "Begin TLS negotiation now"\r\n'
        ctx = ssl.create_default_context(cafile=str(s.data / "tls-cert.pem"))
        c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
        assert c.response() == greeting("PLAIN SCRAM-SHA-256", starttls=False) + b'OK "TLS negotiation successful"\r\n'
        assert c.cmd(f'AUTHENTICATE "PLAIN" "{plain()}"') == b'OK "Logged in"\r\n'
        assert c.cmd("LISTSCRIPTS") == b"OK\r\n"
    finally:
        c.close()
        s.stop()
    assert s.tracebacks() == []


def test_idle_client_gets_bye(tmp_path):
    s = start(tmp_path, "[managesieve]\nlogin_timeout = 0.5\nidle_timeout = 1.0\n")
    try:
        before = Sieve(s.ports["managesieve"])
        before.response()
        started = time.monotonic()
        assert before.response() == b'BYE "Disconnected for inactivity"\r\n'
        assert before.eof()
        assert 0.4 < time.monotonic() - started < 10
        after = Sieve(s.ports["managesieve"])
        login(after)
        started = time.monotonic()
        assert after.response() == b'BYE "Disconnected for inactivity"\r\n'
        assert 0.9 < time.monotonic() - started < 10
    finally:
        s.stop()
    assert s.tracebacks() == []


def test_log_lines_carry_the_session_and_account(server, client):
    login(client)
    client.cmd(b'PUTSCRIPT "logged" ' + literal(GOOD))
    client.cmd("LOGOUT")
    server.stop()
    lines = [line for line in server.log if "stored script 'logged'" in line]
    assert len(lines) == 1
    assert re.search(rf"managesieve session=[0-9a-f]+ rip=127\.0\.0\.1 user={re.escape(USER)}: ", lines[0])
    assert not any(PASSWORD in line or plain() in line for line in server.log)


# -- sievelib: a third-party client ------------------------------------------------------


@pytest.mark.parametrize("starttls", [False, True], ids=["plain-loopback", "starttls"])
def test_sievelib_client(server, monkeypatch, starttls):
    from sievelib.managesieve import Client

    if starttls:
        # sievelib verifies the certificate against the default CA store:
        # make the server's self-signed certificate part of it.
        monkeypatch.setenv("SSL_CERT_FILE", str(server.data / "tls-cert.pem"))
    c = Client("127.0.0.1", server.ports["managesieve"], srvhostname="localhost")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "credentials over an unencrypted connection": loopback
        assert c.connect(USER, PASSWORD, starttls=starttls, authmech="PLAIN")
    assert c.get_implementation() == f"hivemail {__version__}"
    assert c.get_sieve_capabilities() == list(EXTENSIONS)

    assert c.putscript("lists", GOOD.decode())
    assert c.putscript("away", VACATION.decode())
    assert c.checkscript(GOOD.decode())
    # A script with an error is refused with its line number.
    assert not c.putscript("broken", BAD.decode())
    assert c.errmsg.startswith(b"line 4, column ")
    assert not c.checkscript(BAD.decode())
    assert c.errmsg.startswith(b"line 4, column ")

    assert c.setactive("lists")
    assert c.listscripts() == ("lists", ["away"])
    assert cli(server.data, "sieve", "list", USER).stdout == b"away\nlists (active)\n"
    # sievelib joins the lines with "\n".
    assert c.getscript("lists") == GOOD.decode().replace("\r\n", "\n").rstrip("\n")

    assert not c.deletescript("lists")
    assert c.errcode == b"ACTIVE"
    assert c.renamescript("away", "holiday")
    assert c.listscripts() == ("lists", ["holiday"])
    assert c.setactive("")
    assert c.deletescript("lists")
    assert c.deletescript("holiday")
    assert c.listscripts() == (None, [])
    assert c.havespace("next", 100)
    assert not c.havespace("next", 10 * 1024 * 1024)
    c.logout()
    assert cli(server.data, "sieve", "list", USER).stdout == b""
