"""Transcripts for the remaining command families, rev1 and rev2, over real
sockets: exact server lines for what clients parse."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.xdist_group("imap")

MSG = b"From: a@example.net\r\nSubject: s%d\r\n\r\nbody %d\r\n"


def msg(n: int) -> bytes:
    return MSG % (n, n)


def test_utf8_names_are_modified_utf7_for_rev1_and_utf8_for_rev2(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw(user)
    # RFC 3501 5.1.3: "Entwürfe" in modified UTF-7.
    c.ok('a CREATE "Entw&APw-rfe"')
    assert c.cmd('b LIST "" Entw*') == [b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"', b"b OK LIST completed"]
    d = imap_server.raw(user)
    d.ok("e ENABLE UTF8=ACCEPT")
    assert d.cmd('b LIST "" Entw*') == ['* LIST (\\HasNoChildren) "/" "Entwürfe"'.encode(), b"b OK LIST completed"]
    # "&-" is a literal "&"; an unterminated shift is invalid modified UTF-7.
    c.ok('c CREATE "R&-D"')
    assert d.cmd('c1 LIST "" R*') == [b'* LIST (\\HasNoChildren) "/" "R&D"', b"c1 OK LIST completed"]
    assert c.cmd('c2 CREATE "&Jjo"')[-1].startswith(b"c2 BAD ")


def test_inbox_is_case_insensitive(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw(user)
    assert c.ok("a SELECT inbox")[-1] == b"a OK [READ-WRITE] SELECT completed"
    c.ok("b CREATE iNbOx/Sub")
    assert c.cmd('c LIST "" inbox/*') == [b'* LIST (\\HasNoChildren) "/" "INBOX/Sub"', b"c OK LIST completed"]


def test_lsub_rev1(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw(user)
    c.ok("a CREATE Lists/one")
    c.ok("b SUBSCRIBE Lists/one")
    c.ok("c UNSUBSCRIBE Lists")
    assert c.cmd('d LSUB "" Lists/*') == [b'* LSUB () "/" "Lists/one"', b"d OK LSUB completed"]
    # "%" reaches the unsubscribed parent of a subscribed child: \Noselect.
    assert b'* LSUB (\\Noselect) "/" "Lists"' in c.cmd('e LSUB "" %')


def test_rename_inbox_moves_its_messages(imap_server):
    """RFC 9051 6.3.6: renaming INBOX moves its messages to the new name and
    leaves INBOX empty."""
    user = imap_server.new_user()
    imap_server.deliver(user, msg(1))
    c = imap_server.raw(user)
    c.ok("a RENAME INBOX Old")
    assert c.cmd("b STATUS INBOX (MESSAGES)")[0] == b"* STATUS INBOX (MESSAGES 0)"
    assert c.cmd("c STATUS Old (MESSAGES)")[0] == b'* STATUS "Old" (MESSAGES 1)'


def test_examine_is_read_only(imap_server):
    user = imap_server.new_user()
    imap_server.deliver(user, msg(1))
    c = imap_server.raw(user)
    lines = c.ok("a EXAMINE INBOX")
    assert b"* OK [PERMANENTFLAGS ()] Flags permitted" in lines
    assert lines[-1] == b"a OK [READ-ONLY] EXAMINE completed"
    assert c.cmd("b STORE 1 +FLAGS (\\Seen)")[-1] == b"b NO [READ-ONLY] Mailbox is read-only"
    assert c.cmd("c EXPUNGE")[-1] == b"c NO [READ-ONLY] Mailbox is read-only"


def test_close_expunges_silently_and_unselect_does_not(imap_server):
    user = imap_server.new_user()
    for n in (1, 2):
        imap_server.deliver(user, msg(n))
    c = imap_server.raw(user)
    c.ok("a SELECT INBOX")
    c.ok("b STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert c.cmd("c UNSELECT") == [b"c OK UNSELECT completed"]
    assert c.cmd("d STATUS INBOX (MESSAGES DELETED)")[0] == b"* STATUS INBOX (MESSAGES 2 DELETED 1)"
    c.ok("e SELECT INBOX")
    assert c.cmd("f CLOSE") == [b"f OK CLOSE completed"]  # no untagged EXPUNGE
    assert c.cmd("g STATUS INBOX (MESSAGES DELETED)")[0] == b"* STATUS INBOX (MESSAGES 1 DELETED 0)"
    assert c.cmd("h FETCH 1 FLAGS")[-1].startswith(b"h BAD ")  # back in authenticated state


def test_store_forms(imap_server):
    user = imap_server.new_user()
    for n in (1, 2):
        imap_server.deliver(user, msg(n))
    c = imap_server.raw(user)
    c.ok("e ENABLE IMAP4rev2")
    c.ok("a SELECT INBOX")
    assert c.cmd("b STORE 1:2 +FLAGS (\\Seen $Important)") == [
        b"* 1 FETCH (FLAGS (\\Seen $Important))",
        b"* 2 FETCH (FLAGS (\\Seen $Important))",
        b"b OK STORE completed",
    ]
    assert c.cmd("c STORE 1 -FLAGS (\\Seen)") == [b"* 1 FETCH (FLAGS ($Important))", b"c OK STORE completed"]
    assert c.cmd("d UID STORE 2 FLAGS (\\Answered)") == [b"* 2 FETCH (UID 2 FLAGS (\\Answered))", b"d OK STORE completed"]
    assert c.cmd("f STORE 1 +FLAGS.SILENT (\\Flagged)") == [b"f OK STORE completed"]


def test_uid_expunge_only_touches_the_named_uids(imap_server):
    user = imap_server.new_user()
    for n in (1, 2, 3):
        imap_server.deliver(user, msg(n))
    c = imap_server.raw(user)
    c.ok("a SELECT INBOX")
    c.ok("b STORE 1:3 +FLAGS.SILENT (\\Deleted)")
    assert c.cmd("c UID EXPUNGE 2") == [b"* 2 EXPUNGE", b"c OK EXPUNGE completed"]
    assert c.cmd("d EXPUNGE") == [b"* 2 EXPUNGE", b"* 1 EXPUNGE", b"d OK EXPUNGE completed"]


def test_multiappend_with_flags_and_date(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw(user)
    one, two = msg(1), msg(2)
    c.send(
        b'a APPEND Drafts (\\Draft \\Seen) "14-Jul-2024 02:44:25 -0700" {%d+}\r\n' % len(one)
        + one
        + b" {%d+}\r\n" % len(two)
        + two
        + b"\r\n"
    )
    assert re.fullmatch(rb"a OK \[APPENDUID \d+ 1:2\] APPEND completed|a OK \[APPENDUID \d+ 1,2\] APPEND completed", c.until(b"a")[-1])
    c.ok("b SELECT Drafts")
    # The STATUS of the other counts both; the flags went with the first one.
    assert c.cmd("c STATUS Drafts (MESSAGES UNSEEN)")[0] == b'* STATUS "Drafts" (MESSAGES 2 UNSEEN 1)'


def test_append_of_an_empty_message_is_refused(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw(user)
    c.send(b"a APPEND INBOX {0+}\r\n\r\n")
    assert c.until(b"a")[-1].startswith(b"a NO ")


def test_id_and_noop_and_check(imap_server):
    user = imap_server.new_user()
    c = imap_server.raw(user)
    lines = c.ok('a ID ("name" "pytest")')
    assert lines[0].startswith(b'* ID ("name" "hivemail" "version" ')
    c.ok("b SELECT INBOX")
    assert c.cmd("c CHECK") == [b"c OK CHECK completed"]


def test_copy_and_move_report_uids(imap_server):
    user = imap_server.new_user()
    for n in (1, 2, 3):
        imap_server.deliver(user, msg(n))
    c = imap_server.raw(user)
    c.ok("a SELECT INBOX")
    lines = c.ok("b COPY 2:3 Archive")
    assert re.fullmatch(rb"b OK \[COPYUID \d+ 2(,|:)3 1(,|:)2\] COPY completed", lines[-1])
    lines = c.ok("c UID MOVE 1 Trash")
    assert re.fullmatch(rb"\* OK \[COPYUID \d+ 1 1\] Moved UIDs", lines[0])
    assert lines[1:] == [b"* 1 EXPUNGE", b"c OK MOVE completed"]
