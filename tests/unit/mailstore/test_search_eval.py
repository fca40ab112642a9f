"""The neutral search query: what each node matches, and that the staged
evaluator (cheap keys first, analysis and text only when needed) agrees
with the reference :func:`matches` on every message."""

from __future__ import annotations

import base64
from datetime import date, datetime, timedelta, timezone

import pytest

from hivemail.mailstore import MessageMeta
from hivemail.mailstore import search as s
from hivemail.mime import MessageAnalysis, analyse, normalise_crlf

MINUS5 = timezone(timedelta(hours=-5))
PLUS3 = timezone(timedelta(hours=3))


class Msg:
    """One stored message as SEARCH sees it: metadata, analysis, raw bytes."""

    def __init__(self, uid: int, raw: bytes, flags=(), internal=datetime(2024, 1, 2, 12, 0, tzinfo=timezone.utc),
                 modseq: int = 1) -> None:
        self.raw = normalise_crlf(raw)
        # Round-trip through the stored form, as the store serves it.
        self.analysis = MessageAnalysis.from_bytes(analyse(self.raw).to_bytes())
        self.meta = MessageMeta(uid, modseq, frozenset(flags), internal, internal, len(self.raw), f"blob{uid}")


def plain(subject: str = "hello", date_: str = "Mon, 1 Jan 2024 10:00:00 +0000", body: str = "plain body",
          extra: str = "") -> bytes:
    return (f"From: Ann Example <ann@example.com>\nTo: bob@example.org\nCc: Carl <carl@example.net>\n"
            f"Subject: {subject}\nDate: {date_}\n{extra}\n{body}\n").encode()


MULTIPART = b"""From: =?iso-8859-1?q?J=F6rg?= <joerg@example.de>
To: team@example.org
Subject: =?utf-8?b?UmFwcG9ydCDDqXTDqSDwn5Ox?=
Date: Tue, 2 Jan 2024 02:00:00 +0300
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

preamble is not text
--b1
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe aus M=FCnchen, STRASSE
--b1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

""" + base64.encodebytes("<p>Ça va, <b>naïve</b> café</p>".encode()) + b"""
--b1
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

""" + base64.encodebytes(b"secretbinaryneedle") + b"""
--b1--
"""

KOI8 = ("From: ivan@example.ru\nSubject: =?koi8-r?b?" + base64.b64encode("Привет".encode("koi8-r")).decode()
        + "?=\nDate: Wed, 3 Jan 2024 23:30:00 -0500\nContent-Type: text/plain; charset=koi8-r\n\n").encode() \
    + "Съешь же ещё этих мягких французских булок".encode("koi8-r") + b"\n"


@pytest.fixture(scope="module")
def box() -> dict[int, Msg]:
    msgs = [
        Msg(1, plain(), flags=("\\Seen",), internal=datetime(2024, 1, 1, 23, 30, tzinfo=MINUS5)),
        Msg(2, plain("Re: =?utf-8?q?caf=C3=A9?= meeting", body="x" * 2000), flags=("\\Flagged", "$Work"),
            internal=datetime(2024, 1, 2, 2, 0, tzinfo=PLUS3), modseq=7),
        Msg(3, MULTIPART, flags=("\\Answered", "\\Seen", "\\Deleted")),
        Msg(4, KOI8, flags=("\\Draft",), internal=datetime(2024, 2, 1, tzinfo=timezone.utc), modseq=3),
        Msg(5, plain("no date", date_="garbage", extra="X-Empty:\nX-Spam: yes\n"), flags=("$work",)),
    ]
    return {m.meta.uid: m for m in msgs}


def reference(query: s.Query, box: dict[int, Msg], recent=frozenset()) -> list[int]:
    return [u for u, m in box.items()
            if s.matches(query, m.meta, analysis=lambda m=m: m.analysis, recent=recent.__contains__,
                         body_text=lambda m=m: s.body_text(m.analysis, m.raw))]


def staged(query: s.Query, box: dict[int, Msg], recent=frozenset()) -> tuple[list[int], dict[str, set[int]]]:
    """Evaluate the way the IMAP handler does, recording what was loaded."""
    pred = s.compile_query(query, recent.__contains__)
    loaded: dict[str, set[int]] = {"analysis": set(), "body": set()}
    out = []
    for u, m in box.items():
        r = pred(m.meta, s.UNKNOWN, s.UNKNOWN)
        if r is None:
            loaded["analysis"].add(u)
            r = pred(m.meta, m.analysis, s.UNKNOWN)
        if r is None:
            loaded["body"].add(u)
            r = pred(m.meta, m.analysis, s.fold(s.body_text(m.analysis, m.raw)))
        assert r is not None
        if r:
            out.append(u)
    return out, loaded


def check(query: s.Query, box, expected: list[int], recent=frozenset()) -> dict[str, set[int]]:
    assert reference(query, box, recent) == expected
    got, loaded = staged(query, box, recent)
    assert got == expected
    if s.cost(query) == s.META:
        pred = s.meta_predicate(query, recent.__contains__)
        assert [u for u, m in box.items() if pred(m.meta)] == expected
    return loaded


CASES = [
    (s.All(), [1, 2, 3, 4, 5]),
    (s.HasFlag("\\Seen"), [1, 3]),
    (s.Not(s.HasFlag("\\Seen")), [2, 4, 5]),
    (s.HasFlag("\\seen"), [1, 3]),                       # system flags: case-insensitive
    (s.HasFlag("$WORK"), [2, 5]),                        # keywords too (Dovecot: KEYWORD $foo finds $Foo)
    (s.Not(s.HasFlag("$work")), [1, 3, 4]),
    (s.And((s.HasFlag("\\Answered"), s.HasFlag("\\Deleted"))), [3]),
    (s.Or((s.HasFlag("\\Draft"), s.HasFlag("\\Flagged"))), [2, 4]),
    (s.UidIn(frozenset({2, 4, 99})), [2, 4]),
    (s.Size("larger", 2000), [2]),
    (s.Size("smaller", 157), [1]),                      # sizes 155, 2173, 633, 181, 157
    (s.Size("larger", 157), [2, 3, 4]),
    (s.ModSeq(3), [2, 4]),
    # INTERNALDATE: the calendar day in the zone it carries (as FETCH shows it).
    (s.InternalDate("on", date(2024, 1, 1)), [1]),
    (s.InternalDate("on", date(2024, 1, 2)), [2, 3, 5]),
    (s.InternalDate("before", date(2024, 1, 2)), [1]),
    (s.InternalDate("since", date(2024, 1, 3)), [4]),
    (s.InternalTime("before", datetime(2024, 1, 2, 4, 29, tzinfo=timezone.utc)), [2]),   # 2 is 23:00Z, 1 04:30Z
    (s.InternalTime("since", datetime(2024, 1, 2, 4, 30, tzinfo=timezone.utc)), [1, 3, 4, 5]),
    # Date: header, the day in its own zone; no usable Date: = 1970 (Dovecot).
    (s.SentDate("on", date(2024, 1, 2)), [3]),
    (s.SentDate("on", date(2024, 1, 3)), [4]),
    (s.SentDate("before", date(2024, 1, 2)), [1, 2, 5]),
    (s.SentDate("since", date(2024, 1, 2)), [3, 4]),
    (s.Not(s.SentDate("before", date(2000, 1, 1))), [1, 2, 3, 4]),
    # Headers: decoded (RFC 2047, any charset), unfolded, case-folded substring.
    (s.Header("subject", "CAFÉ"), [2]),
    (s.Header("subject", "rapport été 📱"), [3]),
    (s.Header("subject", "привет"), [4]),
    (s.Header("from", "jörg"), [3]),
    (s.Header("from", "Ann Example <ann@"), [1, 2, 5]),
    (s.Header("cc", "carl"), [1, 2, 5]),
    (s.Header("bcc", ""), []),
    (s.Header("x-empty", ""), [5]),                      # empty value: has the field (Dovecot agrees)
    (s.Header("subject", ""), [1, 2, 3, 4, 5]),
    # Body: decoded text of text parts only (not headers, not preamble, not binaries).
    (s.Body("grüße aus münchen"), [3]),
    (s.Body("straße"), [3]),                             # casefold: STRASSE ~ straße
    (s.Body("naïve"), [3]),                              # base64 html part, utf-8
    (s.Body("мягких французских"), [4]),
    (s.Body("secretbinaryneedle"), []),
    (s.Body("preamble"), []),
    (s.Body("bob@example"), []),
    (s.Text("bob@example"), [1, 2, 5]),                  # TEXT = headers + body
    (s.Text("плюшка"), []),
    (s.Text("X" * 100), [2]),
    (s.And((s.HasFlag("\\Seen"), s.Header("subject", "hello"))), [1]),
    (s.Or((s.Body("булок"), s.HasFlag("\\Flagged"))), [2, 4]),
    (s.Not(s.Or((s.Body("булок"), s.Header("to", "team")))), [1, 2, 5]),
]


@pytest.mark.parametrize("query,expected", CASES, ids=[repr(c[0])[:60] for c in CASES])
def test_each_key_and_the_staged_evaluator_agree(box, query, expected):
    check(query, box, expected)


def test_recent_comes_from_the_caller(box):
    check(s.Recent(), box, [2, 5], recent=frozenset({2, 5}))
    check(s.And((s.Recent(), s.Not(s.HasFlag("\\Seen")))), box, [2], recent=frozenset({1, 2}))


def test_cheap_keys_decide_before_any_analysis_is_loaded(box):
    loaded = check(s.And((s.Header("subject", "hello"), s.HasFlag("\\Seen"))), box, [1])
    # Flags rule out 2, 4, 5 without their analysis (the And is reordered).
    assert loaded == {"analysis": {1, 3}, "body": set()}


def test_text_is_read_only_for_what_headers_leave_undecided(box):
    loaded = check(s.Or((s.Header("to", "bob"), s.Body("булок"))), box, [1, 2, 4, 5])
    assert loaded["analysis"] == {1, 2, 3, 4, 5}
    assert loaded["body"] == {3, 4}
    # TEXT found in the headers needs no body.
    loaded = check(s.Text("ann@example.com"), box, [1, 2, 5])
    assert loaded["body"] == {3, 4}


def test_flag_predicates_are_memoised_per_flag_set():
    seen = frozenset({"\\Seen"})
    metas = [MessageMeta(u, 1, seen if u % 2 else frozenset(), datetime.now(timezone.utc),
                         datetime.now(timezone.utc), 10, "b") for u in range(1, 1001)]
    pred = s.meta_predicate(s.Not(s.HasFlag("\\Seen")))
    assert sum(pred(m) for m in metas) == 500
    assert pred.__closure__ is not None
    memo = next(c.cell_contents for c in pred.__closure__ if isinstance(c.cell_contents, dict))
    assert len(memo) == 2


def test_meta_predicate_refuses_queries_that_need_the_message():
    with pytest.raises(ValueError):
        s.meta_predicate(s.And((s.HasFlag("\\Seen"), s.Body("x"))))
    assert s.cost(s.Not(s.SentDate("on", date(2024, 1, 1)))) == s.ANALYSIS
    assert s.cost(s.Or((s.Header("a", "b"), s.Text("c")))) == s.BODY


def test_a_message_without_analysis_matches_no_header_key(box):
    m = box[1]
    pred = s.compile_query(s.Header("subject", ""))
    assert pred(m.meta, None, s.UNKNOWN) is False
    pred = s.compile_query(s.Text("hello"))
    assert pred(m.meta, None, s.UNKNOWN) is None
    assert pred(m.meta, None, "") is False
