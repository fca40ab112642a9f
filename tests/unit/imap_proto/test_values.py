"""seqset.py, utf7.py, dates.py."""

from datetime import date, datetime, timedelta, timezone

import pytest

from hivemail.imap_proto import STAR, SeqRange, SeqSet, parse_seqset
from hivemail.imap_proto.dates import DateError, format_date, format_datetime, parse_date, parse_datetime
from hivemail.imap_proto.seqset import SeqSetError
from hivemail.imap_proto.utf7 import Utf7Error, decode, encode


@pytest.mark.parametrize(
    "text,items",
    [
        ("1", (SeqRange(1),)),
        ("1:*", (SeqRange(1, STAR),)),
        ("*:4,5:7", (SeqRange(STAR, 4), SeqRange(5, 7))),
        ("4:2", (SeqRange(4, 2),)),
    ],
)
def test_seqset_parse_keeps_the_written_form(text, items):
    s = parse_seqset(text)
    assert s.items == items and str(s) == text


def test_seqset_resolution():
    assert list(parse_seqset("2,4:7,9,12:*").iter(15)) == [2, 4, 5, 6, 7, 9, 12, 13, 14, 15]
    assert parse_seqset("*:4,5:7").ranges(10) == [(4, 10)]
    assert parse_seqset("3291:*").ranges(100) == [(100, 100)]  # RFC 9051: includes the last
    assert parse_seqset("1:*").ranges(0) == []
    assert parse_seqset("5").contains(5, 10) and not parse_seqset("5").contains(6, 10)
    assert parse_seqset("200").ranges(10) == []
    with pytest.raises(ValueError):
        SeqSet(saved=True).ranges(5)


@pytest.mark.parametrize("text", ["", "0", "01", "1:", ":1", "1,,2", "a", "1:2:3", "4294967296", "$", "-1"])
def test_seqset_errors(text):
    with pytest.raises(SeqSetError):
        parse_seqset(text, allow_saved=False)


@pytest.mark.parametrize(
    "name,wire",
    [
        ("INBOX", "INBOX"),
        ("&", "&-"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("a&b", "a&-b"),
        ("😀", "&2D3eAA-"),
    ],
)
def test_utf7_known_values(name, wire):
    assert encode(name) == wire
    assert decode(wire) == name


@pytest.mark.parametrize(
    "wire",
    ["&", "&Jjo", "&Jjo!-", "&AGE-", "&U,BTFw-&ZeVnLIqe-", "&2D0-", "caf\xe9", "tab\there", "&APx-".replace("x", "y"), "&APw=-"],
)
def test_utf7_strict(wire):
    with pytest.raises(Utf7Error):
        decode(wire)


def test_dates():
    assert parse_date("1-Feb-1994") == date(1994, 2, 1)
    assert parse_date("01-feb-1994") == date(1994, 2, 1)
    assert format_date(date(1994, 2, 1)) == "1-Feb-1994"
    dt = parse_datetime("17-Jul-1996 02:44:25 -0700")
    assert dt == datetime(1996, 7, 17, 2, 44, 25, tzinfo=timezone(timedelta(hours=-7)))
    assert format_datetime(dt) == "17-Jul-1996 02:44:25 -0700"
    assert format_datetime(datetime(2000, 1, 2, 3, 4, 5, tzinfo=timezone.utc)) == " 2-Jan-2000 03:04:05 +0000"
    assert parse_datetime(" 2-Jan-2000 03:04:05 +0000").day == 2


@pytest.mark.parametrize("text", ["1-Foo-1994", "32-Jan-1994", "1-Jan-94", "1 Jan 1994", "29-Feb-2023"])
def test_bad_dates(text):
    with pytest.raises(DateError):
        parse_date(text)


@pytest.mark.parametrize("text", ["2-Jan-2000 03:04:05 +0000", "02-Jan-2000 3:04:05 +0000", "02-Jan-2000 03:04:05", "02-Jan-2000 25:04:05 +0000", "02-Jan-2000 03:04:05 +0099"])
def test_bad_datetimes(text):
    with pytest.raises(DateError):
        parse_datetime(text)
