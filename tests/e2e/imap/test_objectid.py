"""OBJECTID (RFC 8474) and SAVEDATE (RFC 8514) over real sockets."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

pytestmark = pytest.mark.xdist_group("imap")

ROOT = (b"From: a@example.net\r\nSubject: Message A\r\nMessage-ID: <root.1@example.com>\r\n\r\nfirst\r\n")
REPLY = (b"From: b@example.net\r\nSubject: Re: Message A\r\nMessage-ID: <reply.2@example.org>\r\n"
         b"References: <root.1@example.com>\r\n\r\nsecond\r\n")
OTHER = b"From: c@example.net\r\nSubject: Message C\r\nMessage-ID: <other.3@example.com>\r\n\r\nthird\r\n"
NO_ID = b"From: d@example.net\r\nSubject: no id\r\n\r\nfourth\r\n"


def ids(lines: list[bytes], item: bytes) -> list[bytes]:
    return [re.search(item + rb" \(([A-Za-z0-9_-]+)\)", ln).group(1) for ln in lines if b" FETCH " in ln]


def test_mailboxid_in_create_select_status_and_kept_by_rename(imap_server):
    """RFC 8474 sections 4.1-4.3 and the RENAME example of 4.3."""
    user = imap_server.new_user()
    c = imap_server.raw(user)
    assert b"OBJECTID" in c.ok("a CAPABILITY")[0]
    created = c.cmd("b CREATE foo")
    m = re.fullmatch(rb"b OK \[MAILBOXID \((F[0-9a-f]+)\)\] CREATE completed", created[-1])
    assert m, created
    foo = m.group(1)
    bar = re.search(rb"MAILBOXID \((F[0-9a-f]+)\)", c.cmd("c CREATE bar")[-1]).group(1)
    assert foo != bar
    assert c.cmd("d STATUS foo (MAILBOXID)") == [b'* STATUS "foo" (MAILBOXID (%s))' % foo, b"d OK STATUS completed"]
    assert b"* OK [MAILBOXID (%s)] Ok" % foo in c.ok("e SELECT foo")
    c.ok("f UNSELECT")
    c.ok("g RENAME foo renamed")
    assert c.cmd("h STATUS renamed (MAILBOXID)") == [b'* STATUS "renamed" (MAILBOXID (%s))' % foo, b"h OK STATUS completed"]
    # DELETE + CREATE under the same name is a new mailbox (section 4).
    c.ok("i DELETE bar")
    again = re.search(rb"MAILBOXID \((F[0-9a-f]+)\)", c.cmd("j CREATE bar")[-1]).group(1)
    assert again != bar
    # LIST-STATUS carries it too.
    assert b'* STATUS "renamed" (MAILBOXID (%s))' % foo in c.ok('k LIST "" renamed RETURN (STATUS (MAILBOXID))')


def test_emailid_survives_copy_and_move_and_threadid_groups_replies(imap_server):
    """RFC 8474 5.1 (same EMAILID after COPY/MOVE) and 5.2 (a reply shares
    its root's THREADID; THREADID never equals an EMAILID)."""
    user = imap_server.new_user()
    for m in (ROOT, REPLY, OTHER, NO_ID):
        imap_server.deliver(user, m)
    c = imap_server.raw(user)
    c.ok("a SELECT INBOX")
    lines = c.ok("b FETCH 1:4 (EMAILID THREADID)")
    emails = ids(lines, b"EMAILID")
    threads = ids(lines, b"THREADID")
    assert all(e.startswith(b"M") for e in emails) and len(set(emails)) == 4
    assert all(t.startswith(b"T") for t in threads)
    assert threads[0] == threads[1] != threads[2]
    assert threads[3] not in threads[:3]
    assert not set(emails) & set(threads)
    c.ok("c CREATE Kept")
    c.ok("d COPY 1 Kept")
    c.ok("e MOVE 2 Kept")
    c.ok("f SELECT Kept")
    moved = c.ok("g UID FETCH 1:* (EMAILID THREADID)")
    assert ids(moved, b"EMAILID") == emails[:2]
    assert ids(moved, b"THREADID") == threads[:2]
    # SEARCH EMAILID finds the copy; an id nobody has finds nothing (section 6).
    assert c.cmd(b"h SEARCH EMAILID " + emails[1]) == [b"* SEARCH 2", b"h OK SEARCH completed"]
    assert c.cmd("i SEARCH EMAILID Mnothing") == [b"* SEARCH", b"i OK SEARCH completed"]
    assert c.cmd("j SEARCH EMAILID bad$id")[-1].startswith(b"j BAD ")


def test_search_threadid(imap_server):
    user = imap_server.new_user()
    for m in (ROOT, OTHER, REPLY):
        imap_server.deliver(user, m)
    c = imap_server.raw(user)
    c.ok("a SELECT INBOX")
    root_thread = ids(c.ok("b FETCH 1 (THREADID)"), b"THREADID")[0]
    assert c.cmd(b"c SEARCH THREADID " + root_thread) == [b"* SEARCH 1 3", b"c OK SEARCH completed"]
    assert c.cmd(b"d UID SEARCH NOT THREADID " + root_thread) == [b"* SEARCH 2", b"d OK UID SEARCH completed"]


def test_savedate_fetch_and_search(imap_server):
    """RFC 8514: SAVEDATE is when the message entered this mailbox (a COPY
    gets a new one, unlike INTERNALDATE); SAVEDBEFORE/ON/SINCE compare its
    day; SAVEDATESUPPORTED matches all."""
    user = imap_server.new_user()
    c = imap_server.raw(user)
    assert b"SAVEDATE" in c.ok("a CAPABILITY")[0].split()
    c.send(b'b APPEND INBOX "01-Jan-2020 10:00:00 +0000" {8+}\r\nSubject:\r\n')
    assert c.until(b"b")[-1].startswith(b"b OK")
    c.ok("c SELECT INBOX")
    line = c.ok("d FETCH 1 (INTERNALDATE SAVEDATE)")[0]
    m = re.fullmatch(rb'\* 1 FETCH \(INTERNALDATE " 1-Jan-2020 10:00:00 \+0000" SAVEDATE "([^"]+)"\)', line)
    assert m, line
    saved = datetime.strptime(m.group(1).decode().strip(), "%d-%b-%Y %H:%M:%S %z")
    assert abs((saved - datetime.now(timezone.utc)).total_seconds()) < 300
    today = datetime.now(timezone.utc).strftime("%d-%b-%Y")
    assert c.cmd(f"e SEARCH SAVEDON {today}") == [b"* SEARCH 1", b"e OK SEARCH completed"]
    assert c.cmd("f SEARCH SAVEDBEFORE 1-Jan-2021") == [b"* SEARCH", b"f OK SEARCH completed"]
    assert c.cmd("g SEARCH SAVEDSINCE 1-Jan-2021 SAVEDATESUPPORTED") == [b"* SEARCH 1", b"g OK SEARCH completed"]
    assert c.cmd("h SEARCH BEFORE 1-Jan-2021") == [b"* SEARCH 1", b"h OK SEARCH completed"]
