from datetime import date

import pytest

from hivemail.imap_proto import (
    BadCommand,
    SearchAge,
    SearchAll,
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchRequest,
    SearchSeq,
    SearchSize,
    SearchText,
    SeqSet,
    State,
    parse_seqset,
)
from tests.unit.imap_proto._helpers import assert_bad, parse_one

SEL = State.SELECTED


def q(key, **kw) -> SearchRequest:
    return SearchRequest(key, **kw)


GOOD = [
    (b"a SEARCH ALL", q(SearchAll())),
    (b"a SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
     q(SearchAnd((SearchFlag("\\Flagged"), SearchDate("SINCE", date(1994, 2, 1)), SearchNot(SearchHeader("From", "Smith")))))),
    (b"a SEARCH ANSWERED UNANSWERED DELETED UNDELETED DRAFT UNDRAFT SEEN UNSEEN FLAGGED UNFLAGGED",
     q(SearchAnd(tuple(SearchFlag(f, p) for f in ("\\Answered", "\\Deleted", "\\Draft", "\\Seen", "\\Flagged") for p in (True, False))))),
    (b"a SEARCH NEW", q(SearchAnd((SearchFlag("\\Recent"), SearchFlag("\\Seen", False))))),
    (b"a SEARCH OLD RECENT", q(SearchAnd((SearchFlag("\\Recent", False), SearchFlag("\\Recent"))))),
    (b"a SEARCH KEYWORD $Junk UNKEYWORD foo", q(SearchAnd((SearchFlag("$Junk"), SearchFlag("foo", False))))),
    (b"a SEARCH TO a CC b BCC c SUBJECT \"d e\"",
     q(SearchAnd((SearchHeader("To", "a"), SearchHeader("Cc", "b"), SearchHeader("Bcc", "c"), SearchHeader("Subject", "d e"))))),
    (b"a SEARCH HEADER Message-ID <x@y>", q(SearchHeader("Message-ID", "<x@y>"))),
    (b'a SEARCH HEADER X-Foo ""', q(SearchHeader("X-Foo", ""))),
    (b"a SEARCH BODY hello TEXT {5+}\r\nworld", q(SearchAnd((SearchText("BODY", "hello"), SearchText("TEXT", "world"))))),
    (b"a SEARCH BEFORE 1-Jan-2020 ON \"15-mar-2021\" SENTBEFORE 2-Feb-2000 SENTON 3-Mar-2001 SENTSINCE 04-Apr-2002",
     q(SearchAnd((SearchDate("BEFORE", date(2020, 1, 1)), SearchDate("ON", date(2021, 3, 15)),
                  SearchDate("BEFORE", date(2000, 2, 2), True), SearchDate("ON", date(2001, 3, 3), True),
                  SearchDate("SINCE", date(2002, 4, 4), True))))),
    (b"a SEARCH LARGER 100 SMALLER 9999999999", q(SearchAnd((SearchSize("LARGER", 100), SearchSize("SMALLER", 9999999999))))),
    (b"a SEARCH 1:5,7 UID 100:*", q(SearchAnd((SearchSeq(parse_seqset("1:5,7")), SearchSeq(parse_seqset("100:*"), uid=True))))),
    (b"a SEARCH $", q(SearchSeq(SeqSet(saved=True)))),
    (b"a SEARCH * ", None),  # trailing space: BAD (checked below)
    (b"a SEARCH OR SEEN FLAGGED", q(SearchOr(SearchFlag("\\Seen"), SearchFlag("\\Flagged")))),
    (b"a SEARCH OR (SEEN DRAFT) NOT (FLAGGED)",
     q(SearchOr(SearchAnd((SearchFlag("\\Seen"), SearchFlag("\\Draft"))), SearchNot(SearchFlag("\\Flagged"))))),
    (b"a SEARCH NOT NOT ALL", q(SearchNot(SearchNot(SearchAll())))),
    (b"a SEARCH MODSEQ 620162338", q(SearchModSeq(620162338))),
    (b'a SEARCH MODSEQ "/flags/\\\\draft" all 620162338', q(SearchModSeq(620162338, "/flags/\\draft", "all"))),
    (b"a SEARCH OLDER 3600 YOUNGER 60", q(SearchAnd((SearchAge("OLDER", 3600), SearchAge("YOUNGER", 60))))),
    (b"a SEARCH CHARSET UTF-8 SUBJECT \"\xc3\xa9t\xc3\xa9\"", q(SearchHeader("Subject", "été"), charset="UTF-8")),
    (b"a SEARCH CHARSET ISO-8859-1 SUBJECT {3+}\r\n\xe9t\xe9", q(SearchHeader("Subject", "été"), charset="ISO-8859-1")),
    (b"a SEARCH CHARSET us-ascii ALL", q(SearchAll(), charset="US-ASCII")),
    (b"a SEARCH RETURN (MIN MAX) UNSEEN", q(SearchFlag("\\Seen", False), return_options=("MIN", "MAX"))),
    (b"a SEARCH RETURN () ALL", q(SearchAll(), return_options=("ALL",))),
    (b"a SEARCH RETURN (SAVE COUNT) ALL", q(SearchAll(), return_options=("SAVE", "COUNT"))),
    (b"a UID SEARCH RETURN (ALL) CHARSET UTF-8 ALL", q(SearchAll(), uid=True, charset="UTF-8", return_options=("ALL",))),
    (b"a UID SEARCH UID 1:*", q(SearchSeq(parse_seqset("1:*"), uid=True), uid=True)),
]


@pytest.mark.parametrize("line,expected", [g for g in GOOD if g[1] is not None])
def test_good(line, expected):
    assert parse_one(line, state=SEL) == expected


def test_save_property():
    assert parse_one(b"a SEARCH RETURN (SAVE) ALL").save
    assert not parse_one(b"a SEARCH ALL").save


BAD = [
    (b"a SEARCH", "missing search key"),
    (b"a SEARCH * ", "space at end"),
    (b"a SEARCH BOGUS", "unknown search key BOGUS"),
    (b"a SEARCH FROM", "missing a string after FROM"),
    (b"a SEARCH SINCE yesterday", "invalid date"),
    (b"a SEARCH SINCE 31-Feb-2020", "invalid date"),
    (b"a SEARCH SINCE 1-Foo-2020", "invalid"),
    (b"a SEARCH LARGER big", "expected a size"),
    (b"a SEARCH OR SEEN", "expected a search key, got end of command"),
    (b"a SEARCH NOT", "expected a search key"),
    (b"a SEARCH ()", "empty parenthesized search key"),
    (b"a SEARCH KEYWORD \\Seen", "takes a keyword"),
    (b"a SEARCH HEADER \"bad name\" x", "invalid header field name"),
    (b"a SEARCH RETURN (BOGUS) ALL", "unknown SEARCH return option"),
    (b"a SEARCH MODSEQ \"/bogus\" all 1", "invalid MODSEQ entry name"),
    (b"a SEARCH MODSEQ \"/flags/x\" some 1", "invalid MODSEQ entry type"),
    (b"a SEARCH UID x", "invalid sequence set"),
    (b"a SEARCH " + b"NOT " * 100 + b"ALL", "nested too deeply"),
    (b"a SEARCH " + b"(" * 40 + b"ALL" + b")" * 40, "too deeply nested"),
    (b"a SEARCH CHARSET UTF-8 SUBJECT \"\xff\"", "not valid"),
]


@pytest.mark.parametrize("line,fragment", BAD)
def test_bad(line, fragment):
    assert_bad(line, fragment, state=SEL)


def test_unknown_charset_is_no_badcharset():
    event = parse_one(b"a SEARCH CHARSET X-KLINGON ALL", state=SEL)
    assert isinstance(event, BadCommand)
    assert event.status == "NO" and event.code.startswith("BADCHARSET")
    from hivemail.imap_proto import format_bytes

    assert format_bytes(event.response()) == b"a NO [BADCHARSET (US-ASCII UTF-8)] unsupported charset X-KLINGON\r\n"
