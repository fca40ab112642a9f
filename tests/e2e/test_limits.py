"""Issue 6, points 3 and 4, over real sockets: failed-login delays and
refusals (shared by the worker processes), the owner still let in, slow
clients dropped, TLS certificate reload on SIGHUP.

Each test speaks from its own loopback source address (127.0.0.x; Linux
routes all of 127/8 to lo), so the counters of one test never touch
another's, and "the owner, from elsewhere" is just another source address.
"""

from __future__ import annotations

import base64
import datetime
import signal
import smtplib
import socket
import ssl
import time

import pytest

from tests.support.server import HivemailServer, cli, wait_until

pytestmark = pytest.mark.xdist_group("limits")

USER = "owner@example.org"
PASSWORD = "right-password"
LOCKOUT = 3.0

CONFIG = f"""
workers = 2
[auth]
failure_delay = 0.01
failure_delay_max = 0.05
max_failures_per_connection = 10
failure_window = 600.0
max_failures_per_ip = 8
max_failures_per_account_ip = 3
max_failures_per_account = 4
lockout_time = {LOCKOUT}
[limits]
command_timeout = 1.0
command_min_rate = 1024
send_timeout = 1.0
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("limits")
    for name in (USER, "other@example.org", "third@example.org", "fourth@example.org"):
        cli(data, "user", "add", name, "--password", PASSWORD)
    (data / "c.toml").write_text(CONFIG)
    s = HivemailServer(data, listeners=("imap", "pop3", "lmtp", "smtp"), extra=("--config", str(data / "c.toml")))
    s.start()
    yield s
    s.stop()
    assert s.tracebacks() == [], "\n".join(s.log)


class Line:
    """A line-oriented client from a chosen source address."""

    def __init__(self, port: int, source: str, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
        self.f = self.sock.makefile("rb")
        self.greeting = self.f.readline()

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self) -> bytes:
        return self.f.readline()

    def close(self) -> None:
        self.f.close()
        self.sock.close()


def imap_login(server, source: str, user: str, password: str) -> bytes:
    """One LOGIN on a fresh connection; the tagged reply."""
    c = Line(server.ports["imap"], source)
    try:
        c.send(f'a LOGIN "{user}" "{password}"\r\n')
        while True:
            line = c.line()
            if not line.startswith(b"*"):
                return line
    finally:
        c.close()


def pop3_login(server, source: str, user: str, password: str) -> bytes:
    c = Line(server.ports["pop3"], source)
    try:
        c.send(f"USER {user}\r\n")
        assert c.line().startswith(b"+OK")
        c.send(f"PASS {password}\r\n")
        return c.line()
    finally:
        c.close()


# -- failed logins ------------------------------------------------------------


def test_imap_account_refused_from_the_guessing_address_then_recovers(server):
    attacker, owner = "127.0.0.11", "127.0.0.12"
    for _ in range(3):  # max_failures_per_account_ip, on fresh connections (any worker)
        assert imap_login(server, attacker, USER, "guess").startswith(b"a NO [AUTHENTICATIONFAILED]")
    # Now even the right password is refused from there, without being checked.
    reply = imap_login(server, attacker, USER, PASSWORD)
    assert reply.startswith(b"a NO [UNAVAILABLE]") and b"try again later" in reply
    # Another account from the same address is not affected ...
    assert imap_login(server, attacker, "other@example.org", PASSWORD).startswith(b"a OK")
    # ... and the owner logs in from elsewhere.
    assert imap_login(server, owner, USER, PASSWORD).startswith(b"a OK")
    # After the lockout the address may log in again.
    time.sleep(LOCKOUT + 0.2)
    assert imap_login(server, attacker, USER, PASSWORD).startswith(b"a OK")


def test_pop3_shares_the_counters_and_answers_sys_temp(server):
    attacker = "127.0.0.21"
    # Failures over IMAP and POP3 count together.
    assert imap_login(server, attacker, "third@example.org", "x").startswith(b"a NO")
    assert pop3_login(server, attacker, "third@example.org", "x").startswith(b"-ERR [AUTH]")
    assert pop3_login(server, attacker, "third@example.org", "x").startswith(b"-ERR [AUTH]")
    reply = pop3_login(server, attacker, "third@example.org", PASSWORD)
    assert reply.startswith(b"-ERR [SYS/TEMP]") and b"try again later" in reply
    assert pop3_login(server, "127.0.0.22", "third@example.org", PASSWORD).startswith(b"+OK")
    time.sleep(LOCKOUT + 0.2)
    assert pop3_login(server, attacker, "third@example.org", PASSWORD).startswith(b"+OK")


def test_authenticate_plain_is_refused_too(server):
    attacker = "127.0.0.31"
    for _ in range(3):
        assert imap_login(server, attacker, "fourth@example.org", "nope").startswith(b"a NO")
    c = Line(server.ports["imap"], attacker)
    blob = base64.b64encode(f"\0fourth@example.org\0{PASSWORD}".encode()).decode()
    c.send("a AUTHENTICATE PLAIN\r\n")
    assert c.line().startswith(b"+")
    c.send(blob + "\r\n")
    assert c.line().startswith(b"a NO [UNAVAILABLE]")
    c.send(f"b AUTHENTICATE PLAIN {blob}\r\n")  # SASL-IR
    assert c.line().startswith(b"b NO [UNAVAILABLE]")
    c.close()


def test_distributed_guessing_spares_the_owner(server):
    # Four addresses fail once each on the owner's account (max_failures_per_account):
    # each is below the per-address limits, together they mark the account.
    bots = [f"127.0.1.{i}" for i in range(1, 5)]
    for bot in bots:
        assert imap_login(server, bot, USER, "botguess").startswith(b"a NO [AUTHENTICATIONFAILED]")
    # A bot that failed is refused even with the right password ...
    assert imap_login(server, bots[0], USER, PASSWORD).startswith(b"a NO [UNAVAILABLE]")
    # ... the owner, who never failed, is let in.
    assert imap_login(server, "127.0.1.99", USER, PASSWORD).startswith(b"a OK")
    time.sleep(LOCKOUT + 0.2)
    assert imap_login(server, bots[0], USER, PASSWORD).startswith(b"a OK")


def test_guessing_many_accounts_from_one_address_is_refused(server):
    attacker = "127.0.0.41"
    for i in range(8):  # max_failures_per_ip, over many user names
        assert imap_login(server, attacker, f"nobody{i}@example.org", "x").startswith(b"a NO")
    assert imap_login(server, attacker, "other@example.org", PASSWORD).startswith(b"a NO [UNAVAILABLE]")
    assert imap_login(server, "127.0.0.42", "other@example.org", PASSWORD).startswith(b"a OK")
    assert any("refusing logins there" in line for line in server.log)


# -- slow clients ------------------------------------------------------------------


def dribble(c: Line, data: bytes, interval: float = 0.25) -> bool:
    """Send a byte at a time; False once the server has closed on us."""
    for b in data:
        try:
            c.send(bytes([b]))
        except OSError:
            return False
        time.sleep(interval)
    return True


@pytest.mark.parametrize(
    "protocol,command,farewell",
    [
        ("imap", b"a NOOP and then some more words\r\n", b"* BYE"),
        ("pop3", b"NOOP and then some more words\r\n", b"-ERR [SYS/TEMP]"),
        ("lmtp", b"LHLO a.very.slow.client.example\r\n", b"421 4.4.2"),
        ("smtp", b"EHLO a.very.slow.client.example\r\n", b"421 4.4.2"),
    ],
)
def test_client_sending_a_byte_at_a_time_is_dropped(server, protocol, command, farewell):
    c = Line(server.ports[protocol], "127.0.0.51")
    start = time.monotonic()
    dribble(c, command)
    reply = c.line()
    while reply and not reply.startswith(farewell):
        reply = c.line()
    assert reply.startswith(farewell), reply
    assert c.line() == b""  # closed
    assert time.monotonic() - start < 5
    c.close()


def test_silence_and_fast_commands_are_not_cut(server):
    c = Line(server.ports["imap"], "127.0.0.52")
    c.send(f"a LOGIN {USER} {PASSWORD}\r\n")
    assert c.line().startswith(b"a OK")
    time.sleep(1.5)  # silence is the idle timeout's business (30 minutes)
    # A command that comes in pieces, each quick, well within the limit.
    for piece in (b"b NO", b"OP\r", b"\n"):
        c.send(piece)
        time.sleep(0.2)
    assert c.line().startswith(b"b OK")
    c.close()


def test_large_upload_at_a_modest_rate_is_not_cut(server):
    """200 KB of DATA over ~2 s: far beyond command_timeout = 1 s, but
    the rate allowance (1 s per 1024 bytes) covers it."""
    s = socket.create_connection(("127.0.0.1", server.ports["lmtp"]), timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"LHLO x\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<%s>\r\nDATA\r\n" % USER.encode())
    line = f.readline()
    while not line.startswith(b"354"):
        line = f.readline()
    body = b"Subject: slow upload\r\n\r\n" + (b"z" * 998 + b"\r\n") * 200
    for i in range(0, len(body), 10_000):
        s.sendall(body[i:i + 10_000])
        time.sleep(0.1)
    s.sendall(b".\r\n")
    assert f.readline().startswith(b"250 ")
    s.close()


def test_client_that_never_reads_is_dropped(server):
    big = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 8000
    with smtplib.LMTP("127.0.0.1", server.ports["lmtp"]) as lmtp:
        lmtp.sendmail("a@example.net", ["other@example.org"], big)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(("127.0.0.53", 0))
    s.connect(("127.0.0.1", server.ports["imap"]))
    s.sendall(f"a LOGIN other@example.org {PASSWORD}\r\nb SELECT INBOX\r\n".encode())
    time.sleep(0.5)
    s.sendall(b"c FETCH 1:* BODY.PEEK[]\r\n")
    assert wait_until(lambda: any("read nothing" in line for line in server.log), timeout=10)
    s.close()


# -- TLS -------------------------------------------------------------------------


def make_cert(directory, serial: int) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(serial).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256())
    )
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def served_serial(port: int, **ctx_opts) -> int:
    from cryptography import x509

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for k, v in ctx_opts.items():
        setattr(ctx, k, v)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


@pytest.fixture
def tls_server(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    make_cert(tmp_path, 1001)
    (tmp_path / "c.toml").write_text(
        f'workers = 2\n[tls]\ncert = "{tmp_path / "cert.pem"}"\nkey = "{tmp_path / "key.pem"}"\n'
    )
    s = HivemailServer(data, listeners=("imaps", "pop3s"), extra=("--config", str(tmp_path / "c.toml")))
    s.start()
    s.dir = tmp_path
    # Both workers serving (start() returns when the first is ready).
    assert wait_until(lambda: sum("worker ready" in line for line in s.log) >= 2, timeout=30)
    yield s
    s.stop()
    assert s.tracebacks() == [], "\n".join(s.log)


def test_sighup_reloads_the_certificate_in_every_worker(tls_server):
    s = tls_server
    assert served_serial(s.ports["imaps"]) == 1001
    make_cert(s.dir, 2002)
    s.proc.send_signal(signal.SIGHUP)
    # Every worker reloads (the kernel spreads connections over both), on
    # every TLS listener, and the server keeps running. The signal reaches
    # the workers through the supervisor, each in its own time: wait until
    # a dozen connections in a row all get the new certificate.
    for port in (s.ports["imaps"], s.ports["pop3s"]):
        assert wait_until(lambda: {served_serial(port) for _ in range(12)} == {2002}, timeout=15)
    assert {served_serial(s.ports["imaps"]) for _ in range(12)} == {2002}
    assert s.proc.poll() is None


def test_sighup_with_a_broken_certificate_keeps_the_old_one(tls_server):
    s = tls_server
    (s.dir / "cert.pem").write_text("not a certificate\n")
    s.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: any("not reloaded" in line for line in s.log), timeout=10)
    assert {served_serial(s.ports["imaps"]) for _ in range(6)} == {1001}
    assert s.proc.poll() is None


def test_tls_below_1_2_is_refused(tls_server):
    with pytest.raises((ssl.SSLError, OSError)):
        served_serial(tls_server.ports["imaps"], maximum_version=ssl.TLSVersion.TLSv1_1,
                      minimum_version=ssl.TLSVersion.TLSv1)
    assert served_serial(tls_server.ports["imaps"], maximum_version=ssl.TLSVersion.TLSv1_2) == 1001
