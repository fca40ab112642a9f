"""IMAP sessions over real sockets: exact lines for the commands every
client uses, two sessions seeing each other, IDLE, TLS."""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
import time

import pytest

from tests.e2e.imap.conftest import PASSWORD, RawClient, unverified_context
from tests.support.server import HivemailServer, cli

pytestmark = pytest.mark.xdist_group("imap")

MSG = b"From: a@example.net\r\nTo: b@example.org\r\nSubject: hello %d\r\nMessage-ID: <%d@x>\r\n\r\nbody %d\r\n"


def msg(n: int) -> bytes:
    return MSG % (n, n, n)


def test_greeting_and_capability_before_and_after_login(imap_server):
    c = imap_server.raw()
    lines = c.ok("a CAPABILITY")
    caps = lines[0].split()[2:]
    assert lines[0].startswith(b"* CAPABILITY IMAP4rev1 IMAP4rev2 ")
    assert b"AUTH=PLAIN" in caps and b"AUTH=SCRAM-SHA-256" in caps and b"STARTTLS" in caps
    assert b"LOGINDISABLED" not in caps  # loopback counts as secure by default
    user = imap_server.new_user()
    lines = c.ok(f"b LOGIN {user} {PASSWORD}")
    assert re.match(rb"b OK \[CAPABILITY IMAP4rev1 IMAP4rev2 .*\bMOVE\b.*\] Logged in", lines[-1])
    lines = c.ok("c CAPABILITY")
    assert b"STARTTLS" not in lines[0] and b"ESEARCH" in lines[0]
    assert c.cmd("d LOGOUT") == [b"* BYE Logging out", b"d OK Logout completed"]


def test_select_transcript_rev1(imap_server):
    user = imap_server.new_user()
    imap_server.deliver(user, msg(1))
    imap_server.deliver(user, msg(2))
    c = imap_server.raw(user)
    lines = c.ok("s SELECT INBOX")
    assert lines[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
    assert lines[1] == b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted"
    assert lines[2] == b"* 2 EXISTS"
    assert lines[3] == b"* 2 RECENT"
    assert lines[4] == b"* OK [UNSEEN 1] First unseen"
    assert re.fullmatch(rb"\* OK \[UIDVALIDITY \d+\] UIDs valid", lines[5])
    assert lines[6] == b"* OK [UIDNEXT 3] Predicted next UID"
    assert re.fullmatch(rb"\* OK \[MAILBOXID \(F[0-9a-f]+\)\] Ok", lines[7])  # RFC 8474 4.2
    assert lines[8] == b"s OK [READ-WRITE] SELECT completed"
    # A second session sees the messages, but they are no longer recent.
    d = imap_server.raw(user)
    assert b"* 0 RECENT" in d.ok("s EXAMINE INBOX")


def test_select_rev2_has_list_and_no_recent(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw(user)
    assert c.ok("e ENABLE IMAP4rev2")[0] == b"* ENABLED IMAP4rev2"
    lines = c.ok("s SELECT INBOX")
    assert b"* 0 EXISTS" in lines
    assert not any(b"RECENT" in line for line in lines)
    assert b'* LIST (\\HasNoChildren) "/" INBOX' in lines
    lines = c.ok("x SELECT Sent")
    assert lines[0] == b"* OK [CLOSED] Previous mailbox is now closed"


def test_two_sessions_see_each_others_changes(imap_server):
    user = imap_server.new_user()
    for n in range(1, 4):
        imap_server.deliver(user, msg(n))
    a, b = imap_server.raw(user), imap_server.raw(user)
    a.ok("a SELECT INBOX")
    b.ok("b SELECT INBOX")
    # b flags message 2 and expunges message 1; a learns at its next command.
    b.ok("b STORE 2 +FLAGS.SILENT (\\Flagged)")
    b.ok("b STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert b.cmd("b EXPUNGE") == [b"* 1 EXPUNGE", b"b OK EXPUNGE completed"]
    # No EXPUNGE during a FETCH (RFC 9051 7.5.1): a still numbers 3 messages.
    lines = a.cmd("a FETCH 3 (UID)")
    assert not any(b"EXPUNGE" in line for line in lines)
    assert b"* 3 FETCH (UID 3)" in lines
    # a selected first, so the messages are recent to a (rev1).
    assert b"* 2 FETCH (FLAGS (\\Flagged \\Recent) UID 2)" in lines
    # NOOP may send the EXPUNGE.
    assert a.cmd("a NOOP") == [b"* 1 EXPUNGE", b"a OK NOOP completed"]
    # An append by a is seen by b.
    a.send(b"a APPEND INBOX {%d+}\r\n" % len(msg(9)) + msg(9) + b"\r\n")
    assert re.fullmatch(rb"a OK \[APPENDUID \d+ 4\] APPEND completed", a.until(b"a")[-1])
    assert b.cmd("b NOOP")[0] == b"* 3 EXISTS"


def test_idle_learns_of_lmtp_delivery_within_a_second(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw(user)
    c.ok("s SELECT INBOX")
    c.send(b"i IDLE\r\n")
    assert c.line() == b"+ idling"
    start = time.monotonic()
    imap_server.deliver(user, msg(1))
    assert c.line() == b"* 1 EXISTS"
    assert time.monotonic() - start < 1.0
    c.send(b"DONE\r\n")
    assert c.until(b"i")[-1] == b"i OK IDLE terminated"


def test_idle_learns_of_delivery_by_another_process(imap_server):
    """`hivemail deliver` is a separate process writing the same store."""
    user = imap_server.new_user()
    c = imap_server.raw(user)
    c.ok("s SELECT INBOX")
    c.send(b"i IDLE\r\n")
    assert c.line() == b"+ idling"
    cli(imap_server.data_dir, "deliver", user, input=msg(1))
    c.sock.settimeout(1.5)
    assert c.line() == b"* 1 EXISTS"
    c.send(b"DONE\r\n")
    c.until(b"i")


def test_bad_commands_leave_the_connection_usable(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw()
    assert c.cmd("a FROBNICATE")[-1].startswith(b"a BAD ")
    assert c.cmd("b SELECT INBOX")[-1].startswith(b"b BAD ")  # not authenticated yet
    assert c.cmd("c LOGIN onlyone")[-1].startswith(b"c BAD ")
    c.send(b"\r\n")
    assert c.line().startswith(b"* BAD ")
    c.ok(f"d LOGIN {user} {PASSWORD}")
    assert c.cmd("e FETCH 1 FLAGS")[-1].startswith(b"e BAD ")  # nothing selected
    c.ok("f SELECT INBOX")
    assert c.cmd("g FETCH 1:* (FLAGS")[-1].startswith(b"g BAD ")
    assert c.cmd("h STORE 1 +FLAGS (\\Bogus)")[-1].startswith(b"h BAD ")
    assert c.cmd("i COPY 5 Trash")[-1].startswith(b"i BAD ")  # no message 5
    c.ok("j NOOP")


def test_errors_map_to_response_codes(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw(user)
    assert c.cmd("a SELECT Nope")[-1].startswith(b"a NO [NONEXISTENT] ")
    assert c.cmd("b CREATE Sent")[-1].startswith(b"b NO [ALREADYEXISTS]")
    assert c.cmd("c DELETE INBOX")[-1].startswith(b"c NO [CANNOT]")
    c.ok("d SELECT INBOX")
    imap_server.deliver(user, msg(1))
    c.ok("e0 NOOP")
    assert c.cmd("e COPY 1:* Nope")[-1] == b"e NO [TRYCREATE] Mailbox does not exist"
    c.send(b"f APPEND Nope {5+}\r\nhello\r\n")
    assert c.until(b"f")[-1] == b"f NO [TRYCREATE] Mailbox does not exist"


def test_append_too_big_literal_is_refused_before_upload(tmp_path):
    data = tmp_path / "d"
    cli(data, "user", "add", "u@example.org", "--password", PASSWORD)
    (tmp_path / "c.toml").write_text("[limits]\nmax_message_size = 1000\n")
    with HivemailServer(data, listeners=("imap",), extra=("--config", str(tmp_path / "c.toml"))) as s:
        c = RawClient(socket.create_connection(("127.0.0.1", s.ports["imap"]), timeout=10))
        c.line()
        c.ok(f"l LOGIN u@example.org {PASSWORD}")
        c.send(b"a APPEND INBOX {5000}\r\n")
        assert c.line() == b"a NO [TOOBIG] Message is larger than 1000 bytes"
        # The literal was never read: the next line is a new command.
        c.ok("b NOOP")


def test_mailbox_hierarchy_transcript(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw(user)
    c.ok("a CREATE Work/Projects/2026")
    assert c.cmd('b LIST "" Work/*') == [
        b'* LIST (\\HasChildren) "/" "Work/Projects"',
        b'* LIST (\\HasNoChildren) "/" "Work/Projects/2026"',
        b"b OK LIST completed",
    ]
    c.ok("c RENAME Work Job")
    assert c.cmd('d LIST "" %') [-2] == b'* LIST (\\HasNoChildren \\Trash) "/" "Trash"'
    assert b'* LIST (\\HasChildren) "/" "Job"' in c.cmd('e LIST "" %')
    c.ok("f DELETE Job")  # has children: the name stays as a placeholder
    assert c.cmd('g LIST "" Job') == [b'* LIST (\\Noselect \\HasChildren) "/" "Job"', b"g OK LIST completed"]
    c.ok("h CREATE Stuff (USE (\\Flagged))")
    assert c.cmd('i LIST "" Stuff') == [b'* LIST (\\HasNoChildren \\Flagged) "/" "Stuff"', b"i OK LIST completed"]
    # Names never reach outside the account.
    assert c.cmd('j CREATE "../evil"')[-1].startswith(b"j NO ")
    assert c.cmd('k CREATE "a//b"')[-1].startswith(b"k NO ")


def test_list_extended_and_status(imap_server):
    user = imap_server.new_user()
    imap_server.deliver(user, msg(1))
    c = imap_server.raw(user)
    c.ok("a SUBSCRIBE Sent")
    c.ok("a UNSUBSCRIBE Drafts")
    lines = c.ok('b LIST (SUBSCRIBED) "" "*" RETURN (STATUS (MESSAGES UNSEEN))')
    assert b'* LIST (\\Subscribed \\HasNoChildren) "/" INBOX' in lines or b'* LIST (\\HasNoChildren \\Subscribed) "/" INBOX' in lines
    assert b"* STATUS INBOX (MESSAGES 1 UNSEEN 1)" in lines
    assert not any(b'"Drafts"' in line for line in lines)
    lines = c.ok('c LIST (SPECIAL-USE) "" "*"')
    assert [line.split(b'"/" ')[1] for line in lines[:-1]] == [b'"Archive"', b'"Drafts"', b'"Junk"', b'"Sent"', b'"Trash"']
    assert c.cmd('d STATUS INBOX (MESSAGES UIDNEXT UNSEEN DELETED SIZE)')[0].startswith(
        b"* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UNSEEN 1 DELETED 0 SIZE "
    )
    assert c.cmd("e NAMESPACE")[0] == b'* NAMESPACE (("" "/")) NIL NIL'


def test_starttls_then_login(imap_server):
    user = imap_server.new_user()
    c = imaplib.IMAP4("127.0.0.1", imap_server.port, timeout=10)
    c.starttls(unverified_context())
    assert c.login(user, PASSWORD)[0] == "OK"
    assert c.select("INBOX")[0] == "OK"
    c.logout()


def test_starttls_discards_pipelined_commands(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw()
    c.send(f"a STARTTLS\r\nb LOGIN {user} {PASSWORD}\r\n".encode())
    assert c.line() == b"a OK Begin TLS negotiation now"
    tls = unverified_context().wrap_socket(c.sock, server_hostname="localhost")
    c2 = RawClient(tls)
    # "b LOGIN" was injected before TLS and must be gone: no answer to it.
    assert c2.cmd("c NOOP") == [b"c OK NOOP completed"]


def test_implicit_tls(imap_server):
    user = imap_server.new_user()
    c = imaplib.IMAP4_SSL("127.0.0.1", imap_server.tls_port, ssl_context=unverified_context(), timeout=10)
    assert "STARTTLS" not in c.capabilities
    assert c.login(user, PASSWORD)[0] == "OK"
    c.logout()


def test_authenticate_plain_with_sasl_ir_and_scram(imap_server):
    user = imap_server.new_user()
    c = imaplib.IMAP4("127.0.0.1", imap_server.port, timeout=10)
    assert c.authenticate("PLAIN", lambda _: f"\0{user}\0{PASSWORD}".encode())[0] == "OK"
    c.logout()
    import scramp

    client = scramp.ScramClient(["SCRAM-SHA-256"], user, PASSWORD)
    raw = imap_server.raw()
    import base64

    raw.send(b"a AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(client.get_client_first().encode()) + b"\r\n")
    challenge = raw.line()
    assert challenge.startswith(b"+ ")
    client.set_server_first(base64.b64decode(challenge[2:]).decode())
    raw.send(base64.b64encode(client.get_client_final().encode()) + b"\r\n")
    final = raw.line()
    client.set_server_final(base64.b64decode(final[2:]).decode())  # the server proves it knows the key
    raw.send(b"\r\n")
    assert raw.line().startswith(b"a OK [CAPABILITY ")


def test_failed_logins_get_authenticationfailed_then_bye(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw()
    assert c.cmd(f"a LOGIN {user} wrong") == [b"a NO [AUTHENTICATIONFAILED] Authentication failed"]
    assert c.cmd("b LOGIN nobody@example.org wrong") == [b"b NO [AUTHENTICATIONFAILED] Authentication failed"]
    assert c.cmd(f"c LOGIN {user} wrong") == [b"c NO [AUTHENTICATIONFAILED] Authentication failed"]
    assert c.line() == b"* BYE Too many authentication failures"


def test_logindisabled_without_tls_when_plaintext_is_off(tmp_path):
    data = tmp_path / "d"
    cli(data, "user", "add", "u@example.org", "--password", PASSWORD)
    (tmp_path / "c.toml").write_text("[auth]\nloopback_is_secure = false\n")
    with HivemailServer(data, listeners=("imap",), extra=("--config", str(tmp_path / "c.toml"))) as s:
        c = imaplib.IMAP4("127.0.0.1", s.ports["imap"], timeout=10)
        assert "LOGINDISABLED" in c.capabilities and "AUTH=PLAIN" not in c.capabilities
        assert "AUTH=SCRAM-SHA-256" in c.capabilities  # no password crosses the wire
        raw = RawClient(socket.create_connection(("127.0.0.1", s.ports["imap"]), timeout=10))
        raw.line()
        assert raw.cmd(f"a LOGIN u@example.org {PASSWORD}")[-1].startswith(b"a NO [PRIVACYREQUIRED]")
        assert raw.cmd("b AUTHENTICATE PLAIN " + "AHVAZXhhbXBsZS5vcmcAc2VjcmV0")[-1].startswith(b"b NO [PRIVACYREQUIRED]")
        c.starttls(unverified_context())
        assert "LOGINDISABLED" not in c.capabilities and "AUTH=PLAIN" in c.capabilities
        assert c.login("u@example.org", PASSWORD)[0] == "OK"


def test_shutdown_says_bye(tmp_path):
    data = tmp_path / "d"
    cli(data, "user", "add", "u@example.org", "--password", PASSWORD)
    s = HivemailServer(data, listeners=("imap",)).start()
    c = RawClient(socket.create_connection(("127.0.0.1", s.ports["imap"]), timeout=10))
    c.line()
    c.ok(f"l LOGIN u@example.org {PASSWORD}")
    assert s.stop() == 0
    assert c.line() == b"* BYE Server shutting down"


def test_autologout_and_limits_are_configurable(tmp_path):
    data = tmp_path / "d"
    cli(data, "user", "add", "u@example.org", "--password", PASSWORD)
    (tmp_path / "c.toml").write_text("[imap]\nlogin_timeout = 0.5\nidle_timeout = 1.0\nmax_line = 200\n")
    with HivemailServer(data, listeners=("imap",), extra=("--config", str(tmp_path / "c.toml"))) as s:
        c = RawClient(socket.create_connection(("127.0.0.1", s.ports["imap"]), timeout=10))
        c.line()
        start = time.monotonic()
        assert c.line() == b"* BYE Autologout; idle for too long"
        assert time.monotonic() - start < 3
        c = RawClient(socket.create_connection(("127.0.0.1", s.ports["imap"]), timeout=10))
        c.line()
        c.ok(f"l LOGIN u@example.org {PASSWORD}")
        # A line over max_line: BAD [LIMIT], and the connection goes on.
        assert c.cmd("a NOOP " + "x" * 300) == [b"a BAD [LIMIT] line too long (limit 200 bytes)"]
        c.ok("b NOOP")
        assert c.line() == b"* BYE Autologout; idle for too long"


def test_silent_store_still_reports_what_another_session_changed(imap_server):
    # RFC 9051 6.4.6: .SILENT spares the client the FETCH of what it asked
    # for, not of what another session did meanwhile. B's own STORE must
    # not swallow A's flag (the consistency checker caught it: B's view
    # took the store's answer, A's $x included, and B was never told).
    user = imap_server.new_user()
    imap_server.deliver(user, msg(1))
    a, b = imap_server.raw(user), imap_server.raw(user)
    a.ok("s SELECT INBOX")
    b.ok("s SELECT INBOX")
    a.ok("x STORE 1 +FLAGS.SILENT ($x)")
    told = b.ok("y STORE 1 +FLAGS.SILENT ($y)") + b.ok("n NOOP")
    fetches = [line for line in told if line.startswith(b"* 1 FETCH")]
    assert fetches and b"$x" in fetches[-1] and b"$y" in fetches[-1], told
    # Nothing more is owed: the next NOOP is quiet.
    assert b.ok("m NOOP") == [b"m OK NOOP completed"]
    a.close()
    b.close()
