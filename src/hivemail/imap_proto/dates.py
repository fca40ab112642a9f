"""IMAP dates (RFC 9051 section 9).

Grammar::

    date            = date-text / DQUOTE date-text DQUOTE
    date-text       = date-day "-" date-month "-" date-year
    date-day        = 1*2DIGIT
    date-day-fixed  = (SP DIGIT) / 2DIGIT
    date-month      = "Jan" / "Feb" / "Mar" / "Apr" / "May" / "Jun" /
                      "Jul" / "Aug" / "Sep" / "Oct" / "Nov" / "Dec"
    date-year       = 4DIGIT
    date-time       = DQUOTE date-day-fixed "-" date-month "-" date-year
                      SP time SP zone DQUOTE
    time            = 2DIGIT ":" 2DIGIT ":" 2DIGIT
    zone            = ("+" / "-") 4DIGIT

Month names are matched case-insensitively (RFC 9051 section 9: "ABNF
literal text strings are case-insensitive").  ``parse_*`` take the text
without the surrounding quotes (the tokenizer removed them).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

__all__ = ["parse_date", "format_date", "parse_datetime", "format_datetime", "DateError"]

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_INDEX = {m.lower(): i + 1 for i, m in enumerate(MONTHS)}

_DATE = re.compile(r"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")
_DATETIME = re.compile(
    r"( [0-9]|[0-9]{2})-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"
)


class DateError(ValueError):
    """Not an IMAP date; the message is readable."""


def _month(name: str, text: str) -> int:
    try:
        return _MONTH_INDEX[name.lower()]
    except KeyError:
        raise DateError(f"invalid month in date {text!r}") from None


def parse_date(text: str) -> date:
    """``1-Feb-1994`` -> ``date(1994, 2, 1)``."""
    match = _DATE.fullmatch(text)
    if match is None:
        raise DateError(f"invalid date {text!r} (expected d-Mon-yyyy)")
    day, month, year = match.groups()
    try:
        return date(int(year), _month(month, text), int(day))
    except ValueError:
        raise DateError(f"invalid date {text!r}") from None


def format_date(value: date) -> str:
    return f"{value.day}-{MONTHS[value.month - 1]}-{value.year:04d}"


def parse_datetime(text: str) -> datetime:
    """``17-Jul-1996 02:44:25 -0700`` -> an aware ``datetime`` keeping the offset."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise DateError(f"invalid date-time {text!r} (expected dd-Mon-yyyy hh:mm:ss +zzzz)")
    day, month, year, hh, mm, ss, sign, zh, zm = match.groups()
    if int(zm) > 59:
        raise DateError(f"invalid zone in date-time {text!r}")
    offset = timedelta(hours=int(zh), minutes=int(zm))
    if sign == "-":
        offset = -offset
    try:
        return datetime(
            int(year), _month(month, text), int(day), int(hh), int(mm), int(ss),
            tzinfo=timezone(offset),
        )
    except ValueError:
        raise DateError(f"invalid date-time {text!r}") from None


def format_datetime(value: datetime) -> str:
    """An aware datetime -> `` 7-Jul-1996 02:44:25 -0700`` (no quotes; naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    offset = value.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return (
        f"{value.day:2d}-{MONTHS[value.month - 1]}-{value.year:04d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} {sign}{minutes // 60:02d}{minutes % 60:02d}"
    )
