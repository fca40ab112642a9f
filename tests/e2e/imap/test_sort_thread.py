"""SORT / UID SORT / THREAD / ESORT over a real socket: exact server lines
(RFC 5256 sections 3-4, RFC 5957, RFC 5267 section 3).

Every untagged answer below was first taken from Dovecot 2.3 on the same
ten messages (tests/support/dovecot.py) and hivemail agrees line for line,
except ``* THREAD`` for an empty result, where Dovecot sends a trailing
space that RFC 5256's ``thread-data = "THREAD" [SP 1*thread-list]`` does
not allow.
"""

from __future__ import annotations

import pytest


def _m(headers: str, body: str = "text\r\n") -> bytes:
    return (headers.replace("\n", "\r\n") + "\r\n" + body).encode()


# (INTERNALDATE, message); all \Seen except 3 and 5.
MESSAGES = [
    ("01-Jan-2024 10:00:00 +0000", _m("From: Bob Smith <bob@example.com>\nTo: amy@example.org\nSubject: Hello\n"
                                      "Message-ID: <a@x>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n")),
    ("01-Jan-2024 12:00:00 +0000", _m("From: alice@example.com\nTo: Bob <bob@example.com>\nCc: zoe@example.net\n"
                                      "Subject: Re: hello\nMessage-ID: <b@x>\nReferences: <a@x>\n"
                                      "Date: Mon, 1 Jan 2024 12:00:00 +0000\n", "a longer body than the others\r\n" * 3)),
    ("31-Dec-2023 09:00:00 +0000", _m("From: =?utf-8?q?=C3=89mile?= <carol@example.com>\nTo: amy@example.org\n"
                                      "Subject: [list] Other topic\nMessage-ID: <c@x>\nDate: Sun, 31 Dec 2023 09:00:00 +0000\n")),
    # Sent 11:00 UTC: the zone counts (RFC 5256 section 2.2).
    ("01-Jan-2024 11:00:00 +0000", _m("From: dave@example.com\nTo: amy@example.org\nSubject: Fwd: Re: Hello (fwd)\n"
                                      "Message-ID: <d@x>\nReferences: <a@x> <b@x>\nDate: Mon, 1 Jan 2024 06:00:00 -0500\n")),
    # No Date: sorts by INTERNALDATE; its parent <zz@x> is not in the mailbox.
    ("30-Dec-2023 08:00:00 +0000", _m("From: _under@example.com\nTo: amy@example.org\nSubject: Re: Other topic\n"
                                      "Message-ID: <e@x>\nReferences: <zz@x>\n")),
    ("02-Jan-2024 08:00:00 +0000", _m("From: Amy <amy@example.org>\nTo: carol@example.com\nCc: bob@example.com\n"
                                      "Subject: other topic\nDate: Tue, 2 Jan 2024 08:00:00 +0000\n")),
    ("03-Jan-2024 08:00:00 +0000", _m("From: eve@example.com\nTo: amy@example.org\nSubject: Re: lost\nMessage-ID: <g@x>\n"
                                      "In-Reply-To: <lost@x>\nDate: garbage\n")),
    ("03-Jan-2024 09:00:00 +0000", _m("From: frank@example.com\nTo: amy@example.org\nSubject: Re: lost\nMessage-ID: <h@x>\n"
                                      "References: <lost@x>\nDate: Wed, 3 Jan 2024 09:00:00 +0000\n")),
    ("04-Jan-2024 09:00:00 +0000", _m("From: gina@example.com\nTo: amy@example.org\nSubject: [fwd: Hello]\nMessage-ID: <i@x>\n"
                                      "Date: Thu, 4 Jan 2024 09:00:00 +0000\n")),
    ("05-Jan-2024 09:00:00 +0000", _m("From: hal@example.com\nSubject: Hello\nMessage-ID: <j@x>\n"
                                      "Date: Fri, 5 Jan 2024 09:00:00 +0000\n")),
]


@pytest.fixture(scope="module")
def user(imap_server):
    name = imap_server.new_user()
    c = imap_server.raw(name)
    for date, raw in MESSAGES:
        c.ok(b'A APPEND INBOX (\\Seen) "%s" {%d+}\r\n' % (date.encode(), len(raw)) + raw)
    c.ok("S SELECT INBOX")
    c.ok("F STORE 3,5 -FLAGS.SILENT (\\Seen)")
    c.close()
    return name


@pytest.fixture
def c(imap_server, user):
    client = imap_server.raw(user)
    client.ok("S EXAMINE INBOX")
    yield client
    client.close()


TRANSCRIPT = [
    # RFC 5256 section 3: ARRIVAL is INTERNALDATE; DATE the sent date in
    # UTC, INTERNALDATE where Date: is missing (5) or unparseable (7).
    ("SORT (ARRIVAL) UTF-8 ALL", "* SORT 5 3 1 4 2 6 7 8 9 10", "SORT completed"),
    ("SORT (DATE) UTF-8 ALL", "* SORT 5 3 1 4 2 6 7 8 9 10", "SORT completed"),
    ("SORT (REVERSE DATE) UTF-8 ALL", "* SORT 10 9 8 7 6 2 4 1 3 5", "SORT completed"),
    ("SORT (SIZE) UTF-8 ALL", "* SORT 10 5 7 9 1 6 8 3 4 2", "SORT completed"),
    # Base subjects: "hello" x5 (1 2 4 9 10), "lost" (7 8), "other topic" (3 5 6);
    # ties by sequence number.
    ("SORT (SUBJECT) UTF-8 ALL", "* SORT 1 2 4 9 10 7 8 3 5 6", "SORT completed"),
    ("SORT (SUBJECT REVERSE DATE) UTF-8 ALL", "* SORT 10 9 2 4 1 8 7 6 3 5", "SORT completed"),
    # REVERSE reverses its key only, not the implicit sequence order (RFC 5256 REVERSE note).
    ("SORT (REVERSE SUBJECT) UTF-8 ALL", "* SORT 3 5 6 7 8 1 2 4 9 10", "SORT completed"),
    # addr-mailbox, i;unicode-casemap as Dovecot: "_under" after the letters
    # ('_' > 'Z'); a missing header is the empty string, first (10 has no To).
    ("SORT (FROM) UTF-8 ALL", "* SORT 2 6 1 3 4 7 8 9 10 5", "SORT completed"),
    ("SORT (TO) UTF-8 ALL", "* SORT 10 1 3 4 5 7 8 9 2 6", "SORT completed"),
    ("SORT (CC) UTF-8 ALL", "* SORT 1 3 4 5 7 8 9 10 6 2", "SORT completed"),
    # RFC 5957: the decoded display name ("Émile" after "eve@..."), else the address.
    ("SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 2 6 1 4 7 3 8 9 10 5", "SORT completed"),
    ("SORT (DISPLAYTO) UTF-8 ALL", "* SORT 10 1 3 4 5 7 8 9 2 6", "SORT completed"),
    ("UID SORT (SUBJECT) US-ASCII 2:8", "* SORT 2 4 7 8 3 5 6", "UID SORT completed"),
    ('SORT (SUBJECT) UTF-8 TEXT "not in mailbox"', "* SORT", "SORT completed"),
    # ESORT (RFC 5267 3.1): MIN / MAX are the first / last in sort order, ALL keeps it.
    ("SORT RETURN (MIN MAX COUNT ALL) (REVERSE DATE) UTF-8 ALL",
     '* ESEARCH (TAG "T") MIN 10 MAX 5 ALL 10,9,8,7,6,2,4,1,3,5 COUNT 10', "SORT completed"),
    ("UID SORT RETURN () (DATE) UTF-8 UNSEEN", '* ESEARCH (TAG "T") UID ALL 5,3', "UID SORT completed"),
    ("SORT RETURN (COUNT) (DATE) UTF-8 FROM nobody", '* ESEARCH (TAG "T") COUNT 0', "SORT completed"),
    # RFC 5256 section 3 ORDEREDSUBJECT: no grandchildren; threads by their first date.
    ("THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (5 (3)(6))(1 (4)(2)(9)(10))(7 8)", "THREAD completed"),
    # REFERENCES: 5's parent <zz@x> is a dummy with one child (promoted);
    # 3 and 6 (neither a reply) merge under a new dummy, 5 (a reply) under 3;
    # 9 ("[fwd: Hello]", a forward) joins thread 1; 10 ("Hello") gets a dummy
    # with it; 7 and 8 share the missing parent <lost@x>.
    ("THREAD REFERENCES UTF-8 ALL", "* THREAD ((3 5)(6))((1 (2 4)(9))(10))((7)(8))", "THREAD completed"),
    ("UID THREAD REFERENCES UTF-8 2:9", "* THREAD ((3 5)(6))((2 4)(9))((7)(8))", "UID THREAD completed"),
    ('THREAD REFERENCES US-ASCII TEXT "gewp"', "* THREAD", "THREAD completed"),
]


@pytest.mark.parametrize("command,untagged,done", TRANSCRIPT, ids=[t[0] for t in TRANSCRIPT])
def test_transcript(c, command, untagged, done):
    assert c.cmd("T " + command) == [untagged.encode(), b"T OK " + done.encode()]


def test_badcharset_is_no_and_names_the_charsets(c):
    for command in ("SORT (DATE) X-UNKNOWN ALL", "THREAD REFERENCES X-UNKNOWN ALL"):
        [line] = c.cmd("T " + command)
        assert line.startswith(b"T NO [BADCHARSET (US-ASCII UTF-8)] "), line
    assert c.cmd("T NOOP")[-1].startswith(b"T OK")


@pytest.mark.parametrize("command,text", [
    ("SORT DATE UTF-8 ALL", b"sort criteria"),
    ("SORT (DATE) UTF-8", b"missing search key"),
    ("SORT (DATE)", b"missing a charset"),
    ("SORT (BOGUS) UTF-8 ALL", b"unknown sort key BOGUS"),
    ("SORT () UTF-8 ALL", b"empty sort criteria"),
    ("SORT (REVERSE REVERSE DATE) UTF-8 ALL", b"unknown sort key REVERSE"),
    ("SORT RETURN (PARTIAL 1:10) (DATE) UTF-8 ALL", b"unknown SORT return option PARTIAL"),
    ("THREAD BOGUS UTF-8 ALL", b"unknown threading algorithm BOGUS"),
    ("THREAD REFERENCES UTF-8 FROZZLE", b"unknown search key FROZZLE"),
    ("UID THREAD", b"missing a threading algorithm"),
])
def test_malformed_is_bad_and_the_connection_goes_on(c, command, text):
    [line] = c.cmd("T " + command)
    assert line.startswith(b"T BAD ") and text in line, line
    assert c.cmd("T SORT (DATE) UTF-8 1:2") == [b"* SORT 1 2", b"T OK SORT completed"]


def test_rev2_sort_still_answers_sort_and_thread(imap_server, user):
    """RFC 9051 changes SEARCH's answer to ESEARCH but not SORT's or THREAD's."""
    c = imap_server.raw(user)
    try:
        c.ok("E ENABLE IMAP4rev2")
        c.ok("S EXAMINE INBOX")
        assert c.cmd("T SORT (DATE) UTF-8 1:3") == [b"* SORT 3 1 2", b"T OK SORT completed"]
        assert c.cmd("T THREAD REFERENCES UTF-8 1:2") == [b"* THREAD (1 2)", b"T OK THREAD completed"]
        assert c.cmd("T SEARCH 1:2")[0] == b'* ESEARCH (TAG "T") ALL 1:2'
    finally:
        c.close()


def test_capabilities_after_login(c):
    [caps, _ok] = c.cmd("T CAPABILITY")
    for cap in (b"SORT", b"SORT=DISPLAY", b"THREAD=ORDEREDSUBJECT", b"THREAD=REFERENCES", b"ESORT"):
        assert b" " + cap + b" " in caps + b" ", caps


def test_sort_save_then_dollar(c):
    """RFC 5182: SAVE applies to SORT; $ is the set of what matched."""
    assert c.cmd("T SORT RETURN (SAVE) (REVERSE ARRIVAL) UTF-8 UNSEEN") == [b"T OK SORT completed"]
    assert c.cmd("T SEARCH $") == [b"* SEARCH 3 5", b"T OK SEARCH completed"]


def test_sort_sees_a_message_appended_by_another_session(imap_server):
    """The worker's key cache is filled as messages arrive: a new message is
    sorted by its own keys, an expunged one leaves the answer."""
    name = imap_server.new_user()
    a = imap_server.raw(name)
    b = imap_server.raw(name)
    try:
        for date, raw in MESSAGES[:2]:
            a.ok(b'A APPEND INBOX () "%s" {%d+}\r\n' % (date.encode(), len(raw)) + raw)
        a.ok("S SELECT INBOX")
        assert a.cmd("T SORT (REVERSE DATE) UTF-8 ALL") == [b"* SORT 2 1", b"T OK SORT completed"]
        date, raw = MESSAGES[2]  # sent 31-Dec-2023: sorts first
        b.ok(b'A APPEND INBOX () "%s" {%d+}\r\n' % (date.encode(), len(raw)) + raw)
        assert a.cmd("T SORT (DATE) UTF-8 ALL") == [b"* 3 EXISTS", b"* 3 RECENT", b"* SORT 3 1 2",
                                                  b"T OK SORT completed"]
        a.ok("D STORE 1 +FLAGS.SILENT (\\Deleted)")
        a.ok("X EXPUNGE")
        assert a.cmd("T UID SORT (DATE) UTF-8 ALL") == [b"* SORT 3 2", b"T OK UID SORT completed"]
    finally:
        a.close()
        b.close()
