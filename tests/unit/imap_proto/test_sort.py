"""SORT / UID SORT / THREAD / UID THREAD parsing (RFC 5256 section 5, RFC
5957, RFC 5267) and the SORT / THREAD responses; every case fed whole,
byte by byte and in chunks."""

from __future__ import annotations

import pytest

from hivemail.imap_proto import (
    BadCommand,
    SearchAll,
    SearchAnd,
    SearchFlag,
    SearchHeader,
    SearchSeq,
    SortCriterion,
    SortRequest,
    ThreadRequest,
    parse_seqset,
)
from hivemail.imap_proto.responses import FormatContext, Sort, Thread, Version, format_bytes
from tests.unit.imap_proto._helpers import assert_bad, parse_one

C = SortCriterion

GOOD = [
    (b"a SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994", None),
    (b"a SORT (ARRIVAL) UTF-8 ALL", SortRequest((C("ARRIVAL"),), SearchAll())),
    (b"a SORT (subject REVERSE date) utf-8 ALL", SortRequest((C("SUBJECT"), C("DATE", True)), SearchAll())),
    (b'a SORT (CC FROM SIZE TO DISPLAYFROM DISPLAYTO) "US-ASCII" UNSEEN',
     SortRequest(tuple(C(k) for k in ("CC", "FROM", "SIZE", "TO", "DISPLAYFROM", "DISPLAYTO")),
                 SearchFlag("\\Seen", False), charset="US-ASCII")),
    (b'a UID SORT (DATE) UTF-8 1:5 FROM "caf\xc3\xa9"',
     SortRequest((C("DATE"),), SearchAnd((SearchSeq(parse_seqset("1:5")), SearchHeader("From", "café"))), uid=True)),
    (b"a SORT RETURN (MIN MAX) (DATE) UTF-8 ALL", SortRequest((C("DATE"),), SearchAll(), return_options=("MIN", "MAX"))),
    (b"a UID SORT RETURN () (REVERSE DATE) UTF-8 UNDELETED",
     SortRequest((C("DATE", True),), SearchFlag("\\Deleted", False), uid=True, return_options=("ALL",))),
    (b"a THREAD ORDEREDSUBJECT UTF-8 ALL", ThreadRequest("ORDEREDSUBJECT", SearchAll())),
    (b"a UID THREAD references US-ASCII SEEN", ThreadRequest("REFERENCES", SearchFlag("\\Seen"), uid=True, charset="US-ASCII")),
    (b"a THREAD REFERENCES {5+}\r\nUTF-8 ALL", ThreadRequest("REFERENCES", SearchAll())),
]


@pytest.mark.parametrize("line,expected", [g for g in GOOD if g[1] is not None])
def test_parses(line, expected):
    assert parse_one(line) == expected


def test_sort_example_of_rfc5256_parses_its_search_keys_with_searchs_parser():
    req = parse_one(b"A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994")
    assert isinstance(req, SortRequest) and req.criteria == (C("SUBJECT"),)
    assert req.key == parse_one(b"A SEARCH SINCE 1-Feb-1994").key


@pytest.mark.parametrize("line,fragments", [
    (b"a SORT DATE UTF-8 ALL", ("sort criteria",)),
    (b"a SORT () UTF-8 ALL", ("empty sort criteria",)),
    (b"a SORT (DATE) UTF-8", ("missing search key",)),
    (b"a SORT (DATE)", ("missing a charset",)),
    (b"a SORT (NAME) UTF-8 ALL", ("unknown sort key NAME",)),
    (b"a SORT (REVERSE) UTF-8 ALL", ("missing a sort key",)),
    (b"a SORT (REVERSE REVERSE DATE) UTF-8 ALL", ("unknown sort key REVERSE",)),
    (b"a SORT RETURN (BOGUS) (DATE) UTF-8 ALL", ("unknown SORT return option BOGUS",)),
    (b"a THREAD (REFERENCES) UTF-8 ALL", ("threading algorithm",)),
    (b"a THREAD JWZ UTF-8 ALL", ("unknown threading algorithm JWZ",)),
    (b"a UID THREAD REFERENCES UTF-8 ALL NOPE", ("unknown search key NOPE",)),
])
def test_malformed_is_bad_and_the_next_command_parses(line, fragments):
    assert_bad(line, *fragments)


def test_unknown_charset_is_no_badcharset():
    for line in (b"a SORT (DATE) X-NOPE ALL", b"a THREAD REFERENCES X-NOPE ALL"):
        bad = parse_one(line)
        assert isinstance(bad, BadCommand) and bad.status == "NO" and bad.code == "BADCHARSET (US-ASCII UTF-8)"


def test_sort_is_not_allowed_before_select():
    from hivemail.imap_proto import State

    bad = parse_one(b"a SORT (DATE) UTF-8 ALL", state=State.AUTHENTICATED)
    assert isinstance(bad, BadCommand)


# -- responses ----------------------------------------------------------------

REV2 = FormatContext(version=Version.REV2)


def test_sort_response_is_the_same_in_rev1_and_rev2():
    for ctx in (FormatContext(), REV2):
        assert format_bytes(Sort((2, 84, 882)), ctx) == b"* SORT 2 84 882\r\n"
        assert format_bytes(Sort(()), ctx) == b"* SORT\r\n"


def n(number, *children):
    return (number, list(children))


@pytest.mark.parametrize("threads,wire", [
    ((), b"* THREAD"),
    # RFC 5256 section 4's examples
    ((n(2), n(3, n(6, n(4, n(23)), n(44, n(7, n(96)))))), b"* THREAD (2)(3 6 (4 23)(44 7 96))"),
    ((n(None, n(3), n(5)),), b"* THREAD ((3)(5))"),
    # ORDEREDSUBJECT shapes: "(194 195)", "(174 (175)(176))"
    ((n(194, n(195)), n(174, n(175), n(176))), b"* THREAD (194 195)(174 (175)(176))"),
    ((n(None, n(1, n(2, n(4)), n(9)), n(10)),), b"* THREAD ((1 (2 4)(9))(10))"),
])
def test_thread_response(threads, wire):
    assert format_bytes(Thread(threads)) == wire + b"\r\n"


def test_a_thread_deeper_than_the_recursion_limit_formats():
    node = n(100_000)
    for i in range(99_999, 0, -1):
        node = n(i, node)
    wire = format_bytes(Thread((node,)))
    assert wire == b"* THREAD (" + b" ".join(b"%d" % i for i in range(1, 100_001)) + b")\r\n"
