"""SEARCH / UID SEARCH over a real socket (RFC 9051 6.4.4, RFC 3501 6.4.4,
RFC 4731 ESEARCH, RFC 5182 SEARCHRES, RFC 5032 WITHIN).

Where behaviour is subtle the expected answer was first taken from Dovecot
2.3.19 (tests/support/dovecot.py) and the test says so.
"""

from __future__ import annotations

import base64
import re

import pytest

PLAIN = (b"From: Ann Example <ann@example.com>\r\nTo: bob@example.org\r\nCc: Carl <carl@example.net>\r\n"
         b"Subject: hello there\r\nDate: Mon, 1 Jan 2024 23:30:00 -0500\r\n\r\nplain body text\r\n")
CAFE = (b"From: Ann Example <ann@example.com>\r\nTo: bob@example.org\r\n"
        b"Subject: Re: =?utf-8?q?caf=C3=A9?= meeting\r\nDate: Tue, 2 Jan 2024 02:00:00 +0300\r\n\r\n"
        + b"long line " * 300 + b"\r\n")
MULTIPART = (b"From: =?iso-8859-1?q?J=F6rg?= <joerg@example.de>\r\nTo: team@example.org\r\n"
             b"Subject: =?utf-8?b?UmFwcG9ydCDDqXTDqQ==?=\r\nDate: Wed, 3 Jan 2024 10:00:00 +0000\r\n"
             b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
             b"preamble\r\n--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
             b"Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe aus M=FCnchen\r\n"
             b"--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             + base64.encodebytes("<p>naïve café</p>".encode()).replace(b"\n", b"\r\n")
             + b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             + base64.encodebytes(b"binaryneedle").replace(b"\n", b"\r\n") + b"--b1--\r\n")
KOI8 = (b"From: ivan@example.ru\r\nSubject: =?koi8-r?b?" + base64.b64encode("Привет".encode("koi8-r"))
        + b"?=\r\nDate: Thu, 4 Jan 2024 23:30:00 -0500\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n"
        + "мягких французских булок".encode("koi8-r") + b"\r\n")
# Delivered over LMTP (internal date = now); Date: unparseable.
DELIVERED = (b"From: spam@example.net\r\nTo: user@example.org\r\nBcc: dora@example.org\r\n"
             b"Subject: no date\r\nDate: garbage\r\nX-Empty:\r\nX-Spam: yes\r\n\r\nbuy now\r\n")

APPENDS = [
    (PLAIN, "(\\Seen)", "01-Jan-2024 23:30:00 -0500"),
    (CAFE, "(\\Flagged $Work)", "02-Jan-2024 02:00:00 +0300"),
    (MULTIPART, "(\\Answered \\Seen \\Deleted)", "02-Jan-2024 12:00:00 +0000"),
    (KOI8, "(\\Draft)", "01-Feb-2024 00:00:00 +0000"),
]


def append(c, flags: str, date: str, msg: bytes) -> None:
    c.ok(b'A APPEND INBOX %s "%s" {%d+}\r\n' % (flags.encode(), date.encode(), len(msg)) + msg)


@pytest.fixture(scope="module")
def user(imap_server):
    """One mailbox, five messages (four APPENDed, one delivered), shared by
    the read-only tests of this module."""
    name = imap_server.new_user()
    c = imap_server.raw(name)
    for msg, flags, date in APPENDS:
        append(c, flags, date, msg)
    c.close()
    imap_server.deliver(name, DELIVERED)
    c = imap_server.raw(name)
    c.ok("S SELECT INBOX")
    c.ok("F STORE 5 +FLAGS ($work)")
    c.close()
    return name


@pytest.fixture
def c(imap_server, user):
    client = imap_server.raw(user)
    client.ok("S EXAMINE INBOX")
    yield client
    client.close()


def search(c, command: str | bytes) -> list[int] | None:
    """The numbers of the one ``* SEARCH`` line a command answers, after OK."""
    lines = c.ok(command)
    found = [ln for ln in lines if ln.startswith(b"* SEARCH")]
    assert len(found) == 1, lines
    return [int(n) for n in found[0][len(b"* SEARCH"):].split()]


KEYS = [
    ("ALL", [1, 2, 3, 4, 5]),
    ("ANSWERED", [3]), ("UNANSWERED", [1, 2, 4, 5]),
    ("DELETED", [3]), ("UNDELETED", [1, 2, 4, 5]),
    ("DRAFT", [4]), ("UNDRAFT", [1, 2, 3, 5]),
    ("FLAGGED", [2]), ("UNFLAGGED", [1, 3, 4, 5]),
    ("SEEN", [1, 3]), ("UNSEEN", [2, 4, 5]),
    # Keywords compare case-insensitively (Dovecot: KEYWORD $foo finds $Foo).
    ("KEYWORD $WORK", [2, 5]), ("UNKEYWORD $work", [1, 3, 4]),
    # INTERNALDATE: the day FETCH INTERNALDATE shows (see test_dates_follow_internaldate_as_shown).
    ("BEFORE 2-Jan-2024", [1]), ("ON 2-Jan-2024", [2, 3]), ("SINCE 2-Jan-2024", [2, 3, 4, 5]),
    # Date: header, the day in its own zone (Dovecot: SENTON 1-Jan-2024 finds
    # "Mon, 1 Jan 2024 23:30:00 -0500"); an unparseable Date: counts as 1970,
    # as in Dovecot, so every SENTBEFORE finds message 5 and no SENTSINCE does.
    ("SENTON 1-Jan-2024", [1]), ("SENTON 2-Jan-2024", [2]), ("SENTBEFORE 2-Jan-2024", [1, 5]),
    ("SENTSINCE 3-Jan-2024", [3, 4]),
    ("LARGER 576", [2]), ("LARGER 575", [2, 3]), ("SMALLER 576", [1, 4, 5]),  # sizes 166 3144 576 163 <500
    ("FROM ann", [1, 2]), ('FROM "Ann Example <ann@"', [1, 2]), ('FROM "jörg"'.encode(), [3]),
    ("TO team", [3]), ("CC carl", [1]), ("BCC dora", [5]), ("SUBJECT RAPPORT", [3]),
    ("HEADER X-Spam yes", [5]),
    # RFC 9051: an empty string matches every message that has the field (Dovecot agrees).
    ('HEADER X-Empty ""', [5]), ('HEADER X-Nope ""', []), ('HEADER Subject ""', [1, 2, 3, 4, 5]),
    ('BODY "münchen"'.encode(), [3]), ('BODY "NAÏVE"'.encode(), [3]), ("BODY binaryneedle", []),
    ("BODY bob@example", []), ("TEXT bob@example", [1, 2]), ("BODY buy", [5]),
    ("UID 2:4", [2, 3, 4]), ("2,4:*", [2, 4, 5]), ("7", []),
    ("OLDER 3600", [1, 2, 3, 4]), ("YOUNGER 3600", [5]),
    ("NOT SEEN", [2, 4, 5]), ("OR DRAFT FLAGGED", [2, 4]), ("OR (SEEN FROM ann) BODY buy", [1, 5]),
    ("NOT (OR SEEN TO team)", [2, 4, 5]), ('UNSEEN (OR TEXT "БУЛОК" KEYWORD $work)'.encode(), [2, 4, 5]),
    ("SEEN NOT OR ON 1-Jan-2024 LARGER 500", []),
]


@pytest.mark.parametrize("key,expected", KEYS, ids=[k if isinstance(k, str) else k.decode() for k, _ in KEYS])
def test_every_key_rev1(c, key, expected):
    line = b"T SEARCH CHARSET UTF-8 " + (key.encode() if isinstance(key, str) else key)
    assert search(c, line) == expected


def test_uid_search_answers_uids(c):
    # UIDs are 1..5 here as well, so compare with a sequence subset.
    assert search(c, "T UID SEARCH UNSEEN") == [2, 4, 5]
    assert search(c, "T UID SEARCH 2:3") == [2, 3]


def test_dates_follow_internaldate_as_shown(c):
    """Dovecot compares BEFORE/ON/SINCE with the day of the internal date in
    the zone it shows it in (its server zone, as maildir keeps no zone: with
    TZ=America/New_York an APPEND dated "02-Jan-2024 02:00:00 +0300" shows as
    "01-Jan-2024 18:00:00 -0500" and is found by ON 1-Jan-2024). hivemail keeps
    the APPEND zone and shows it, so the same rule is: the day FETCH shows."""
    lines = c.ok("F FETCH 1:4 (INTERNALDATE)")
    days = [re.search(rb'INTERNALDATE "\s?(\d+-\w+-\d+)', ln).group(1).decode() for ln in lines[:-1]]
    assert days == ["1-Jan-2024", "2-Jan-2024", "2-Jan-2024", "1-Feb-2024"]
    for seq, day in enumerate(days, 1):
        assert seq in search(c, f"T SEARCH ON {day}")


def test_modseq_key_reports_highest_modseq(c):
    lines = c.ok("T SEARCH MODSEQ 1 UNSEEN")
    # The first CONDSTORE enabling command reports HIGHESTMODSEQ (RFC 7162 3.1).
    assert re.fullmatch(rb"\* OK \[HIGHESTMODSEQ \d+\] Highest", lines[0]), lines
    assert re.fullmatch(rb"\* SEARCH 2 4 5 \(MODSEQ \d+\)", lines[1]), lines
    assert c.ok("T SEARCH MODSEQ 1 DRAFT FLAGGED")[0] == b"* SEARCH"


def test_charset_utf8_with_imaplib(imap_server, user):
    m = imap_server.imaplib(user)
    m.select("INBOX", readonly=True)
    assert m.search("UTF-8", "SUBJECT", '"CAF\u00c9"'.encode()) == ("OK", [b"2"])
    assert m.uid("SEARCH", "CHARSET", "UTF-8", "SUBJECT", '"привет"'.encode()) == ("OK", [b"4"])
    assert m.search(None, "UNSEEN") == ("OK", [b"2 4 5"])
    m.logout()


def test_charset_utf8_literal_plus(c):
    word = "CAFÉ".encode()
    assert search(c, b"T SEARCH CHARSET UTF-8 SUBJECT {%d+}\r\n%s" % (len(word), word)) == [2]
    # Dovecot accepts any charset it can convert, ISO-8859-1 included.
    assert search(c, b"T SEARCH CHARSET ISO-8859-1 BODY {5+}\r\nm\xfcnch") == [3]


def test_charset_utf8_synchronizing_literal_with_imaplib(imap_server, user):
    m = imap_server.imaplib(user)
    m.select("INBOX", readonly=True)
    m.literal = "CAFÉ".encode()
    assert m.search("UTF-8", "SUBJECT") == ("OK", [b"2"])
    m.logout()


def test_charset_utf8_synchronizing_literal(c):
    c.sock.settimeout(3)
    word = "münch".encode()
    c.send(b"T SEARCH CHARSET UTF-8 BODY {%d}\r\n" % len(word))
    assert c.line().startswith(b"+ ")
    c.send(word + b"\r\n")
    assert c.until(b"T")[:-1] == [b"* SEARCH 3"]


def test_bad_charset(c):
    lines = c.cmd("T SEARCH CHARSET X-NO-SUCH SUBJECT x")
    assert lines == [lines[-1]]
    assert lines[-1].startswith(b"T NO [BADCHARSET (US-ASCII UTF-8)]")
    c.ok("N NOOP")


def test_rev2_answers_esearch(c):
    c.ok("E ENABLE IMAP4rev2")
    assert c.ok("T SEARCH UNSEEN")[:-1] == [b'* ESEARCH (TAG "T") ALL 2,4:5']
    assert c.ok("U UID SEARCH DELETED")[:-1] == [b'* ESEARCH (TAG "U") UID ALL 3']
    assert c.ok("V SEARCH SUBJECT zzz")[:-1] == [b'* ESEARCH (TAG "V")']


ESEARCH = [
    # RFC 4731 3.1: RETURN () means ALL; ALL is a compact set.
    ("SEARCH RETURN () UNSEEN", b'* ESEARCH (TAG "T") ALL 2,4:5'),
    ("SEARCH RETURN (MIN MAX COUNT) UNSEEN", b'* ESEARCH (TAG "T") MIN 2 MAX 5 COUNT 3'),
    ("UID SEARCH RETURN (COUNT ALL) ALL", b'* ESEARCH (TAG "T") UID ALL 1:5 COUNT 5'),
    ("SEARCH RETURN (MAX) SEEN", b'* ESEARCH (TAG "T") MAX 3'),
    # Nothing found: MIN/MAX/ALL are left out, COUNT 0 stays (Dovecot: "COUNT 0").
    ("SEARCH RETURN (MIN MAX ALL COUNT) SUBJECT zzz", b'* ESEARCH (TAG "T") COUNT 0'),
    ("SEARCH RETURN (MIN) SUBJECT zzz", b'* ESEARCH (TAG "T")'),
]


@pytest.mark.parametrize("command,answer", ESEARCH, ids=[c for c, _ in ESEARCH])
def test_esearch_return_options(c, command, answer):
    assert c.ok("T " + command)[:-1] == [answer]


def test_searchres_saves_for_fetch_and_uid_search(imap_server, user):
    c = imap_server.raw(user)
    c.ok("S EXAMINE INBOX")
    # RFC 5182 2.2: SAVE alone answers nothing but the OK (Dovecot agrees).
    assert c.ok("T SEARCH RETURN (SAVE) UNSEEN")[:-1] == []
    fetched = c.ok("F FETCH $ (UID)")[:-1]
    assert fetched == [b"* 2 FETCH (UID 2)", b"* 4 FETCH (UID 4)", b"* 5 FETCH (UID 5)"]
    assert search(c, "U UID SEARCH UID $") == [2, 4, 5]
    assert search(c, "U SEARCH $ DRAFT") == [4]
    assert search(c, "U SEARCH OR $ SEEN") == [1, 2, 3, 4, 5]
    # SAVE with other options answers them too.
    assert c.ok("T UID SEARCH RETURN (SAVE COUNT) SEEN")[:-1] == [b'* ESEARCH (TAG "T") UID COUNT 2']
    assert search(c, "U SEARCH $") == [1, 3]
    # RFC 5182 2.4: SAVE with MIN/MAX only saves what they report (as Dovecot).
    assert c.ok("T SEARCH RETURN (SAVE MIN MAX) UNSEEN")[:-1] == [b'* ESEARCH (TAG "T") MIN 2 MAX 5']
    assert search(c, "U SEARCH $") == [2, 5]
    assert c.ok("T SEARCH RETURN (SAVE) SUBJECT zzz")[:-1] == []
    assert search(c, "U SEARCH $") == []
    c.close()


def test_recent_new_old_in_rev1(imap_server):
    name = imap_server.new_user()
    imap_server.deliver(name, DELIVERED)
    imap_server.deliver(name, PLAIN)
    first = imap_server.raw(name)
    first.ok("S SELECT INBOX")
    first.ok("F STORE 2 +FLAGS (\\Seen)")
    assert search(first, "T SEARCH RECENT") == [1, 2]
    assert search(first, "T SEARCH NEW") == [1]
    assert search(first, "T SEARCH OLD") == []
    # \Recent went to the first session; the second sees old messages.
    second = imap_server.raw(name)
    second.ok("S SELECT INBOX")
    assert search(second, "T SEARCH RECENT") == []
    assert search(second, "T SEARCH OLD") == [1, 2]
    # IMAP4rev2 has no \Recent: nothing is recent there.
    first.ok("E ENABLE IMAP4rev2")
    assert first.ok("T SEARCH RECENT")[:-1] == [b'* ESEARCH (TAG "T")']
    first.close()
    second.close()


def test_expunged_but_unreported_messages_match_nothing(imap_server):
    """RFC 9051 7.5.1: no EXPUNGE during SEARCH, so the numbers stay. Dovecot
    keeps matching such a message on flags and numbers but not on text (and
    says [EXPUNGEISSUED]); hivemail never matches it, whatever the keys, and
    says [EXPUNGEISSUED] too."""
    name = imap_server.new_user()
    for n in range(3):
        imap_server.deliver(name, PLAIN.replace(b"hello", b"hello%d" % n))
    a = imap_server.raw(name)
    a.ok("S SELECT INBOX")
    b = imap_server.raw(name)
    b.ok("S SELECT INBOX")
    b.ok("D STORE 2 +FLAGS (\\Deleted)")
    b.ok("X EXPUNGE")
    lines = a.ok("T SEARCH ALL")
    assert lines[0] == b"* SEARCH 1 3"
    assert b"* 2 EXPUNGE" not in lines
    assert lines[-1].startswith(b"T OK [EXPUNGEISSUED]")
    assert search(a, "T SEARCH SUBJECT hello") == [1, 3]
    assert search(a, "T SEARCH 2") == []
    # UID SEARCH may report the expunge, after which the numbers move.
    lines = a.ok("U UID SEARCH ALL")
    assert b"* 2 EXPUNGE" in lines and b"* SEARCH 1 3" in lines
    assert search(a, "T SEARCH ALL") == [1, 2]
    a.close()
    b.close()


def test_search_needs_a_selected_mailbox(imap_server, user):
    c = imap_server.raw(user)
    assert c.cmd("T SEARCH ALL")[-1].startswith(b"T BAD")
    c.close()


def test_empty_mailbox(imap_server):
    c = imap_server.raw(imap_server.new_user())
    c.ok("S SELECT INBOX")
    assert search(c, "T SEARCH ALL") == []
    assert search(c, "T SEARCH 1:*") == []
    assert search(c, "T UID SEARCH UID 1:* BODY x") == []
    assert c.ok("T SEARCH RETURN (COUNT) ALL")[:-1] == [b'* ESEARCH (TAG "T") COUNT 0']
    c.close()


# -- the full-text index (store.search_text) ---------------------------------------
CJK_BODY = "关于邮件服务器的配置说明：请检查邮件系统日志".encode()
HTML_AND_FILE = (b"From: a@example.org\r\nSubject: html\r\nMIME-Version: 1.0\r\n"
                 b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
                 b"Content-Type: text/html; charset=utf-8\r\n\r\n"
                 b"<p>Caf&eacute; <a href=\"http://tracker.example/\">link</a></p>\r\n--b\r\n"
                 b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"Budget-2025.pdf\"\r\n"
                 b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n")


def _wait_indexed(imap_server) -> None:
    """Until the server's background indexer has caught up (searches are
    exact before as well; this makes sure the index path is the one used)."""
    import time

    from tests.support.backend import unindexed_count

    for _ in range(200):
        if unindexed_count(imap_server.data_dir) == 0:
            return
        time.sleep(0.05)
    raise AssertionError("index did not catch up")


@pytest.mark.parametrize("indexed", [False, True], ids=["just-appended", "indexed"])
def test_text_search_index_and_scan_agree(imap_server, indexed):
    name = imap_server.new_user()
    c = imap_server.raw(name)
    c.ok("S SELECT INBOX")
    append(c, "()", "01-Jan-2024 00:00:00 +0000",
           b"From: a@example.org\r\nSubject: cjk\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + CJK_BODY + b"\r\n")
    append(c, "()", "01-Jan-2024 00:00:00 +0000", HTML_AND_FILE)
    append(c, "()", "01-Jan-2024 00:00:00 +0000", PLAIN)
    if indexed:
        _wait_indexed(imap_server)
    for key, expected in [
        ('BODY "邮件"', [1]), ('BODY "邮件系统"', [1]), ('TEXT "务器的配置"', [1]), ('BODY "系統"', []),
        ('BODY "CAFÉ LINK"', [2]), ("BODY tracker", []), ("BODY budget-2025.PDF", [2]),
        ("SUBJECT CJK", [1]), ("FROM a@example", [1, 2]), ("TEXT \"plain body\"", [3]),
    ]:
        assert search(c, b"T SEARCH CHARSET UTF-8 " + key.encode()) == expected, key
    # Expunged messages leave the answers at once, indexed or not.
    c.ok("T STORE 1 +FLAGS (\\Deleted)")
    c.ok("T EXPUNGE")
    assert search(c, 'T SEARCH CHARSET UTF-8 BODY "邮件系统"'.encode()) == []
    assert search(c, "T SEARCH BODY budget-2025") == [1]
    c.close()
