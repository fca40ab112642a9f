"""QUOTA (RFC 9208) transcripts over real sockets: exact server lines for
GETQUOTAROOT, GETQUOTA, SETQUOTA, STATUS DELETED / DELETED-STORAGE and
NO [OVERQUOTA] for APPEND, COPY and MOVE, following the RFC's examples and
Dovecot 2.3's wording (its quota plugin was run to compare, see
imap/handlers/quota.py). Limits are set by the admin CLI, in another
process, as an administrator would."""

from __future__ import annotations

import re

import pytest

from tests.support.server import cli

pytestmark = pytest.mark.xdist_group("imap")


def message(size: int, n: int = 0) -> bytes:
    """A message of exactly ``size`` octets (CRLF line ends, stored as is)."""
    head = b"From: a@example.net\r\nSubject: quota %d\r\n\r\n" % n
    return head + b"x" * (size - len(head) - 2) + b"\r\n"


def quota(imap_server, user: str, *args: str) -> None:
    cli(imap_server.data_dir, "user", "quota", user, *args)


def matches(lines: list[bytes], patterns: list[str]) -> None:
    """Exact lines; ``{*}`` in a pattern matches any run of characters."""
    texts = [line.decode() for line in lines]
    assert len(texts) == len(patterns), texts
    for text, pattern in zip(texts, patterns):
        regex = ".*".join(re.escape(part) for part in pattern.split("{*}"))
        assert re.fullmatch(regex, text), (text, pattern)


def append(c, tag: str, mailbox: str, data: bytes, flags: str = "") -> list[bytes]:
    """APPEND with a non-synchronizing literal: the server judges after the upload."""
    flag_part = f" ({flags})" if flags else ""
    return c.cmd(f"{tag} APPEND {mailbox}{flag_part} {{{len(data)}+}}\r\n".encode() + data)


def test_capabilities_name_the_resources_and_not_quotaset(imap_server):
    c = imap_server.raw(imap_server.new_user())
    caps = c.cmd("a CAPABILITY")[0].split()
    # RFC 9208 1 and 3.1.1: QUOTA plus one QUOTA=RES-* per resource; no
    # QUOTASET, since SETQUOTA always fails (section 4.1.3).
    assert {b"QUOTA", b"QUOTA=RES-STORAGE", b"QUOTA=RES-MESSAGE"} <= set(caps)
    assert b"QUOTASET" not in caps


def test_getquotaroot_and_getquota(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw(user)
    # No limits yet: the root exists, with an empty list (RFC 9208 4.2.1).
    assert c.cmd("a GETQUOTAROOT INBOX") == [
        b'* QUOTAROOT INBOX "User quota"',
        b'* QUOTA "User quota" ()',
        b"a OK Getquotaroot completed",
    ]
    quota(imap_server, user, "--storage", "10K", "--messages", "3")
    append(c, "b", "INBOX", message(300))
    append(c, "c", "Archive", message(1500))
    # 1800 octets are 2 units of 1024 (rounded up, as Dovecot does).
    assert c.cmd("d GETQUOTAROOT INBOX") == [
        b'* QUOTAROOT INBOX "User quota"',
        b'* QUOTA "User quota" (STORAGE 2 10 MESSAGE 2 3)',
        b"d OK Getquotaroot completed",
    ]
    # Any mailbox name, even one not created yet (RFC 9208 4.1.2).
    assert c.cmd('e GETQUOTAROOT "Not yet/created"') == [
        b'* QUOTAROOT "Not yet/created" "User quota"',
        b'* QUOTA "User quota" (STORAGE 2 10 MESSAGE 2 3)',
        b"e OK Getquotaroot completed",
    ]
    assert c.cmd('f GETQUOTA "User quota"') == [
        b'* QUOTA "User quota" (STORAGE 2 10 MESSAGE 2 3)',
        b"f OK Getquota completed",
    ]
    assert c.cmd('g GETQUOTA ""') == [b"g NO Quota root doesn't exist"]
    assert c.cmd('h GETQUOTA "#user/alice"') == [b"h NO Quota root doesn't exist"]
    # Only the limited resources are listed.
    quota(imap_server, user, "--storage", "none")
    assert c.cmd('i GETQUOTA "User quota"') == [b'* QUOTA "User quota" (MESSAGE 2 3)', b"i OK Getquota completed"]
    assert c.cmd("j GETQUOTAROOT")[-1].startswith(b"j BAD ")


def test_setquota_is_refused(imap_server):
    user = imap_server.new_user()
    quota(imap_server, user, "--messages", "5")
    c = imap_server.raw(user)
    # RFC 9208 4.1.3 example S0001; users cannot raise their own quota.
    assert c.cmd('S0001 SETQUOTA "User quota" (STORAGE 510)') == [b"S0001 NO Quota can be changed only by admin"]
    assert c.cmd('S0002 SETQUOTA "!partition/sda4" (STORAGE 99999999)') == [
        b"S0002 NO Quota can be changed only by admin"]
    assert c.cmd('S0003 SETQUOTA "User quota" ()') == [b"S0003 NO Quota can be changed only by admin"]
    assert c.cmd('S0004 SETQUOTA "User quota" (STORAGE x)') == [
        b"S0004 BAD SETQUOTA: expected a resource limit, got 'x'"]
    assert c.cmd('S0005 GETQUOTA "User quota"') == [b'* QUOTA "User quota" (MESSAGE 0 5)', b"S0005 OK Getquota completed"]


def test_status_deleted_and_deleted_storage(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw(user)
    append(c, "a", "Archive", message(700, 1), "\\Deleted")
    append(c, "b", "Archive", message(800, 2))
    append(c, "c", "Archive", message(900, 3), "\\Deleted \\Seen")
    # RFC 9208 4.1.4 example: DELETED-STORAGE is the sum of RFC822.SIZE of
    # the \Deleted messages, exactly what EXPUNGE takes off the usage.
    assert c.cmd("S0003 STATUS Archive (MESSAGES DELETED DELETED-STORAGE)") == [
        b'* STATUS "Archive" (MESSAGES 3 DELETED 2 DELETED-STORAGE 1600)',
        b"S0003 OK STATUS completed",
    ]
    assert c.cmd("d STATUS INBOX (DELETED-STORAGE DELETED)") == [
        b"* STATUS INBOX (DELETED-STORAGE 0 DELETED 0)",
        b"d OK STATUS completed",
    ]
    c.ok("e SELECT Archive")
    matches(c.cmd("f EXPUNGE"), ["* 3 EXPUNGE", "* 1 EXPUNGE", "f OK {*}"])
    assert c.cmd('g GETQUOTAROOT Archive')[1] == b'* QUOTA "User quota" ()'
    quota(imap_server, user, "--storage", "1M")
    assert c.cmd('h GETQUOTA "User quota"')[0] == b'* QUOTA "User quota" (STORAGE 1 1024)'


def test_append_over_quota_is_refused_and_stores_nothing(imap_server):
    user = imap_server.new_user()
    quota(imap_server, user, "--storage", "4K", "--messages", "3")
    c = imap_server.raw(user)
    matches(append(c, "a", "INBOX", message(3000)), ["a OK [APPENDUID {*} 1] APPEND completed"])
    # RFC 9208 4.3.1 example 1, with a synchronizing literal: refused before
    # the upload (no "+" continuation), as Dovecot does.
    c.send(b"A003 APPEND saved-messages (\\Seen) {1200}\r\n")
    assert c.line() == b"A003 NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"
    # With a non-synchronizing literal the message is read, then refused.
    assert append(c, "b", "INBOX", message(1200)) == [b"b NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"]
    # Bigger than the whole limit: it can never fit; the same code for IMAP.
    assert append(c, "d", "INBOX", message(5000)) == [
        b"d NO [OVERQUOTA] Quota exceeded (message is larger than the quota limit)"]
    c.send(b"e APPEND INBOX {5000}\r\n")
    assert c.line() == b"e NO [OVERQUOTA] Quota exceeded (message is larger than the quota limit)"
    assert c.cmd('f GETQUOTA "User quota"') == [
        b'* QUOTA "User quota" (STORAGE 3 4 MESSAGE 1 3)', b"f OK Getquota completed"]
    # MULTIAPPEND is all or nothing (RFC 3502 6): the first fits, the
    # second would not, and neither stays.
    first, second = message(500, 1), message(700, 2)
    lines = c.cmd(b"g APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s" % (len(first), first, len(second), second))
    assert lines == [b"g NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"]
    assert c.cmd("h STATUS INBOX (MESSAGES)") == [b"* STATUS INBOX (MESSAGES 1)", b"h OK STATUS completed"]
    assert c.cmd('i GETQUOTA "User quota"')[0] == b'* QUOTA "User quota" (STORAGE 3 4 MESSAGE 1 3)'


def test_copy_over_quota_is_refused_and_move_within_the_account_is_not(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw(user)
    for n in range(3):
        append(c, f"a{n}", "INBOX", message(400, n))
    quota(imap_server, user, "--messages", "4")
    c.ok("b SELECT INBOX")
    # Two copies would make 5 messages: refused whole (RFC 9208 4.3.1).
    assert c.cmd("A004 COPY 2:3 Archive") == [b"A004 NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"]
    assert c.cmd("c STATUS Archive (MESSAGES)") == [b'* STATUS "Archive" (MESSAGES 0)', b"c OK STATUS completed"]
    matches(c.cmd("d COPY 3 Archive"), ["d OK [COPYUID {*} 3 1] COPY completed"])
    # At the limit now (4 of 4), a MOVE still works: it adds nothing.
    assert c.cmd('e GETQUOTA "User quota"')[0] == b'* QUOTA "User quota" (MESSAGE 4 4)'
    matches(c.cmd("f MOVE 1:2 Archive"), [
        "* OK [COPYUID {*} 1,2 2,3] Moved UIDs",
        "* 2 EXPUNGE",
        "* 1 EXPUNGE",
        "f OK MOVE completed",
    ])
    assert c.cmd("g UID COPY 3 Trash") == [b"g NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"]
    assert c.cmd('h GETQUOTA "User quota"')[0] == b'* QUOTA "User quota" (MESSAGE 4 4)'
    # A limit lowered below the usage refuses more, and deletes nothing.
    quota(imap_server, user, "--messages", "none", "--storage", "1K")
    assert c.cmd("i UID COPY 3 Trash") == [
        b"i NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"]
    quota(imap_server, user, "--storage", "10K")
    matches(c.cmd("j UID COPY 3 Trash"), ["j OK [COPYUID {*} 3 1] COPY completed"])
