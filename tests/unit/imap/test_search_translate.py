"""IMAP SEARCH key tree -> neutral query: sequence sets through the view,
``$`` through the saved result, flags, dates, headers, nesting."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from hivemail.imap.handlers.search import translate
from hivemail.imap_proto.seqset import SeqSet
from hivemail.imap.selected import SelectedView
from hivemail.mailstore import MailboxInfo, MailboxSnapshot, MessageMeta
from hivemail.mailstore import search as s
from tests.unit.imap_proto._helpers import parse_one

T = datetime(2026, 1, 1, tzinfo=timezone.utc)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def view(uids=(3, 5, 9, 12)) -> SelectedView:
    mb = MailboxInfo(1, 1, "INBOX", 7, max(uids, default=0) + 1, 10, True, None)
    metas = tuple(MessageMeta(u, 1, frozenset(), T, T, 100, f"b{u}") for u in uids)
    return SelectedView.from_snapshot(MailboxSnapshot(mb, metas), read_only=False)


def tr(line: bytes, v: SelectedView | None = None, saved=()) -> s.Query:
    request = parse_one(b"a " + line)
    return translate(request.key, v or view(), list(saved), now=NOW)


def uids(*numbers: int) -> s.UidIn:
    return s.UidIn(frozenset(numbers))


SEEN = s.HasFlag("\\Seen")

CASES = [
    (b"SEARCH ALL", s.All()),
    (b"SEARCH ANSWERED", s.HasFlag("\\Answered")),
    (b"SEARCH UNANSWERED", s.Not(s.HasFlag("\\Answered"))),
    (b"SEARCH DELETED UNDELETED", s.And((s.HasFlag("\\Deleted"), s.Not(s.HasFlag("\\Deleted"))))),
    (b"SEARCH DRAFT UNDRAFT", s.And((s.HasFlag("\\Draft"), s.Not(s.HasFlag("\\Draft"))))),
    (b"SEARCH FLAGGED UNFLAGGED", s.And((s.HasFlag("\\Flagged"), s.Not(s.HasFlag("\\Flagged"))))),
    (b"SEARCH SEEN", SEEN),
    (b"SEARCH UNSEEN", s.Not(SEEN)),
    (b"SEARCH KEYWORD $Work", s.HasFlag("$Work")),
    (b"SEARCH UNKEYWORD $Work", s.Not(s.HasFlag("$Work"))),
    # RFC 3501: NEW = RECENT UNSEEN, OLD = NOT RECENT.
    (b"SEARCH RECENT", s.Recent()),
    (b"SEARCH NEW", s.And((s.Recent(), s.Not(SEEN)))),
    (b"SEARCH OLD", s.Not(s.Recent())),
    (b"SEARCH BEFORE 1-Feb-2024", s.InternalDate("before", date(2024, 2, 1))),
    (b"SEARCH ON 1-Feb-2024", s.InternalDate("on", date(2024, 2, 1))),
    (b"SEARCH SINCE 1-Feb-2024", s.InternalDate("since", date(2024, 2, 1))),
    (b"SEARCH SENTBEFORE 1-Feb-2024", s.SentDate("before", date(2024, 2, 1))),
    (b"SEARCH SENTON \"1-Feb-2024\"", s.SentDate("on", date(2024, 2, 1))),
    (b"SEARCH SENTSINCE 1-Feb-2024", s.SentDate("since", date(2024, 2, 1))),
    (b"SEARCH LARGER 1000", s.Size("larger", 1000)),
    (b"SEARCH SMALLER 99999999999", s.Size("smaller", 99999999999)),
    (b"SEARCH FROM ann", s.Header("from", "ann")),
    (b"SEARCH TO \"bob smith\"", s.Header("to", "bob smith")),
    (b"SEARCH CC carl", s.Header("cc", "carl")),
    (b"SEARCH BCC dora", s.Header("bcc", "dora")),
    (b"SEARCH SUBJECT hello", s.Header("subject", "hello")),
    (b"SEARCH HEADER X-Spam-Flag YES", s.Header("x-spam-flag", "YES")),
    (b"SEARCH HEADER List-Id \"\"", s.Header("list-id", "")),
    (b"SEARCH BODY needle", s.Body("needle")),
    (b"SEARCH TEXT needle", s.Text("needle")),
    (b"SEARCH MODSEQ 17", s.ModSeq(17)),
    (b"SEARCH MODSEQ \"/flags/\\\\draft\" all 17", s.ModSeq(17)),
    (b"SEARCH OLDER 3600", s.InternalTime("before", NOW - timedelta(hours=1))),
    (b"SEARCH YOUNGER 60", s.InternalTime("since", NOW - timedelta(minutes=1))),
    (b"SEARCH NOT SEEN", s.Not(SEEN)),
    (b"SEARCH OR SEEN FLAGGED", s.Or((SEEN, s.HasFlag("\\Flagged")))),
    (b"SEARCH OR (SEEN FROM a) NOT (TO b OR BODY c TEXT d)",
     s.Or((s.And((SEEN, s.Header("from", "a"))),
           s.Not(s.And((s.Header("to", "b"), s.Or((s.Body("c"), s.Text("d"))))))))),
    (b"SEARCH CHARSET UTF-8 SUBJECT \"caf\xc3\xa9\"", s.Header("subject", "café")),
    (b"SEARCH CHARSET UTF-8 SUBJECT {5+}\r\ncaf\xc3\xa9", s.Header("subject", "café")),
    (b"SEARCH CHARSET ISO-8859-1 BODY {4+}\r\ncaf\xe9", s.Body("café")),
    (b"SEARCH CHARSET US-ASCII UNSEEN", s.Not(SEEN)),
    (b"SEARCH RETURN (MIN COUNT) CHARSET UTF-8 DELETED", s.HasFlag("\\Deleted")),
]


@pytest.mark.parametrize("line,expected", CASES, ids=[c[0].decode("latin-1")[7:50] for c in CASES])
def test_every_key_translates(line, expected):
    assert tr(line) == expected


# The view holds UIDs 3, 5, 9, 12 as sequence numbers 1..4.
SETS = [
    (b"SEARCH 2", uids(5)),
    (b"SEARCH 2:3,1", uids(3, 5, 9)),
    (b"SEARCH 3:*", uids(9, 12)),
    (b"SEARCH *", uids(12)),
    # Beyond the message count: nothing, not BAD (Dovecot answers "* SEARCH" OK).
    (b"SEARCH 5", uids()),
    (b"SEARCH 4:7", uids(12)),
    # n:* is *:n, so it includes the last message (RFC 9051 section 9).
    (b"SEARCH 9:*", uids(12)),
    (b"SEARCH UID 4:9", uids(5, 9)),
    (b"SEARCH UID 1,12", uids(12)),
    (b"SEARCH UID 100:*", uids(12)),
    (b"SEARCH UID *", uids(12)),
    (b"UID SEARCH 1:2", uids(3, 5)),               # a bare set is sequence numbers even in UID SEARCH
    (b"UID SEARCH UID 6:8", uids()),
]


@pytest.mark.parametrize("line,expected", SETS, ids=[c[0].decode()[7:] for c in SETS])
def test_sets_become_the_uids_they_name_now(line, expected):
    assert tr(line) == expected


def test_saved_result_is_the_saved_uids_still_present():
    # RFC 5182: "$" means the same UIDs in SEARCH and UID SEARCH.
    assert tr(b"SEARCH $", saved=[5, 7, 12]) == uids(5, 12)
    assert tr(b"UID SEARCH UID $", saved=[5, 7, 12]) == uids(5, 12)
    assert tr(b"SEARCH $") == uids()
    assert tr(b"SEARCH OR $ SEEN", saved=[3]) == s.Or((uids(3), SEEN))


def test_empty_mailbox():
    empty = view(())
    assert tr(b"SEARCH 1:*", empty) == uids()
    assert tr(b"SEARCH UID 1:*", empty) == uids()
    assert tr(b"SEARCH *", empty) == uids()


def test_bad_charset_is_refused_by_the_parser():
    bad = parse_one(b"a SEARCH CHARSET X-NO-SUCH SUBJECT x")
    assert bad.response().status == "NO" and "BADCHARSET" in str(bad.response().code)


def test_runs_compress_for_esearch_all():
    assert str(SeqSet.compact([1, 2, 3, 5, 7, 8])) == "1:3,5,7:8"
    # The order given is kept (ESORT ALL in sort order, RFC 5267 3.1).
    assert str(SeqSet.compact([9, 5, 3, 4, 1])) == "9,5,3:4,1"
    assert SeqSet.compact([]).items == ()
