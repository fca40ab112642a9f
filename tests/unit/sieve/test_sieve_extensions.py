"""Behaviour of each extension beyond the RFC examples: body, relational, copy, mailbox,
date/index, editheader, reject, vacation rules, and the limits."""

from __future__ import annotations

import datetime as dt

import pytest

from hivemail.sieve import (
    AddHeader,
    Context,
    DeleteHeader,
    Discard,
    Envelope,
    Ereject,
    FileInto,
    Keep,
    Limits,
    Redirect,
    Reject,
    SieveMessage,
    apply_header_edits,
    vacation_allowed,
)
from tests.unit.sieve.sieve_data import MESSAGE_A, explicit, headers_only, run

MULTIPART = (
    b"From: a@example.com\r\nTo: me@example.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"SGVsbG8gc2VjcmV0IHdvcmxk\r\n"  # "Hello secret world"
    b"--b\r\nContent-Type: text/html\r\n\r\n<p>markup only</p>\r\n"
    b"--b\r\nContent-Type: application/octet-stream\r\n\r\nbinary-thing\r\n--b--\r\n"
)


@pytest.mark.parametrize(
    "test, expected",
    [
        ('body :contains "secret"', True),  # :text decodes base64
        ('body :raw :contains "secret"', False),  # :raw does not
        ('body :raw :contains "SGVsbG8g"', True),
        ('body :content "text/html" :contains "markup"', True),
        ('body :content "text/plain" :contains "markup"', False),
        ('body :content "text" :contains "markup"', True),
        ('body :content "application" :contains "binary"', True),
        ('body :content "" :contains "binary"', True),
        ('body :text :contains "binary"', False),
    ],
)
def test_body_transforms(test: str, expected: bool) -> None:
    outcome = run(f'require "body"; if {test} {{ discard; }}', MULTIPART)
    assert (not outcome.implicit_keep) is expected


@pytest.mark.parametrize(
    "test, expected",
    [
        ('header :count "eq" :comparator "i;ascii-numeric" "received" "3"', True),
        ('header :count "gt" :comparator "i;ascii-numeric" "received" "2"', True),
        ('header :count "lt" :comparator "i;ascii-numeric" "received" "3"', False),
        ('address :count "eq" :comparator "i;ascii-numeric" ["to", "cc"] "3"', True),
        ('header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "5"', True),
        ('header :value "lt" :comparator "i;ascii-numeric" "x-spam-score" "5"', False),
        ('header :count "eq" :comparator "i;ascii-numeric" "absent" "0"', True),
    ],
)
def test_relational_in_tests(test: str, expected: bool) -> None:
    raw = headers_only(
        "Received: a", "Received: b", "Received: c", "To: a@x.example, b@x.example", "Cc: c@x.example", "X-Spam-Score: 12"
    )
    script = f'require ["relational", "comparator-i;ascii-numeric"]; if {test} {{ discard; }}'
    assert (not run(script, raw).implicit_keep) is expected


def test_copy_keeps_the_implicit_keep() -> None:
    outcome = run('require ["copy", "fileinto"]; redirect :copy "x@example.net"; fileinto :copy "Archive";')
    assert list(outcome.actions) == [Redirect("x@example.net", copy=True), FileInto("Archive", copy=True), Keep(implicit=True)]


def test_duplicate_actions_collapse() -> None:
    outcome = run('require "fileinto"; fileinto "A"; fileinto "A"; redirect "x@y.example"; redirect "x@y.example"; keep; keep;')
    assert list(outcome.actions) == [FileInto("A"), Redirect("x@y.example"), Keep()]


def test_mailbox_extension() -> None:
    existing = {"INBOX", "Lists"}
    context = Context(mailbox_exists=existing.__contains__)
    script = 'require ["mailbox", "fileinto"]; if mailboxexists "Lists" { fileinto :create "New"; }'
    assert explicit(run(script, context=context)) == [FileInto("New", create=True)]
    assert run('require "mailbox"; if mailboxexists ["Lists", "Gone"] { discard; }', context=context).implicit_keep
    # fileinto a missing mailbox without :create is a runtime error: implicit keep.
    failed = run('require "fileinto"; fileinto "Gone"; discard;', context=context)
    assert list(failed.actions) == [Keep(implicit=True)] and "does not exist" in failed.errors[0]


@pytest.mark.parametrize(
    "test, expected",
    [
        ('date :originalzone "date" "year" "1997"', True),
        ('date :originalzone "date" "date" "1997-04-01"', True),
        ('date :originalzone "date" "time" "09:06:31"', True),
        ('date :originalzone "date" "zone" "-0800"', True),
        ('date :zone "+0000" "date" "hour" "17"', True),
        ('date :zone "+0000" "date" "weekday" "2"', True),  # a Tuesday
        ('date :zone "+0000" "date" "julian" "50539"', True),
        ('date :zone "+0000" "date" "iso8601" "1997-04-01T17:06:31+00:00"', True),
        ('date "date" "hour" "18"', True),  # no :zone: the context clock's zone (+0100)
        ('date :value "ge" :originalzone "date" "date" "1997-01-01"', True),
        ('date :originalzone "nodate" "year" "1997"', False),
        ('currentdate :zone "+0000" "date" "2024-02-29"', True),
        ('currentdate :value "gt" "year" "2023"', True),
        ('currentdate "hour" "13"', True),
    ],
)
def test_date_and_currentdate(test: str, expected: bool) -> None:
    now = dt.datetime(2024, 2, 29, 12, 0, tzinfo=dt.timezone.utc).astimezone(dt.timezone(dt.timedelta(hours=1)))
    script = f'require ["date", "relational"]; if {test} {{ discard; }}'
    assert (not run(script, MESSAGE_A, context=Context(now=now)).implicit_keep) is expected


@pytest.mark.parametrize(
    "test, expected",
    [
        ('header :index 1 "received" "first"', True),
        ('header :index 2 "received" "second"', True),
        ('header :index 1 :last "received" "third"', True),
        ('header :index 4 "received" "first"', False),
        ('address :index 2 :domain "received" "x"', False),
    ],
)
def test_index(test: str, expected: bool) -> None:
    raw = headers_only("Received: first", "Received: second", "Received: third")
    assert (not run(f'require "index"; if {test} {{ discard; }}', raw).implicit_keep) is expected


def test_editheader_changes_what_later_tests_see() -> None:
    raw = headers_only("X-A: 1", "Subject: hi", "X-A: 2", "X-A: 3", "Received: r")
    script = """require ["editheader", "variables"];
addheader "X-Filtered" "yes";
addheader :last "X-Tail" "end";
deleteheader :index 2 "X-A";
deleteheader :matches "X-A" "3";
deleteheader "Received";
if header :is "X-Filtered" "yes" { set "seen" "1"; }
if exists "X-A" { set "left" "${0}"; }
"""
    outcome = run(script, raw)
    assert dict(outcome.variables)["seen"] == "1"
    assert outcome.header_edits == (
        AddHeader("X-Filtered", "yes"),
        AddHeader("X-Tail", "end", last=True),
        DeleteHeader("X-A", (2,)),
        DeleteHeader("X-A", (2,)),  # "3" is now the second X-A
    )
    assert [n for n, _ in outcome.headers] == ["X-Filtered", "X-A", "Subject", "Received", "X-Tail"]
    message = SieveMessage.from_bytes(raw)
    assert apply_header_edits(message.raw_header, outcome.header_edits) == (
        "X-Filtered: yes\r\nX-A: 1\r\nSubject: hi\r\nReceived: r\r\nX-Tail: end\r\n"
    )


def test_editheader_cannot_touch_received_or_auto_submitted() -> None:
    outcome = run('require "editheader"; addheader "Received" "x"; deleteheader "auto-submitted";',
                  headers_only("Auto-Submitted: auto-replied"))
    assert outcome.header_edits == () and not outcome.errors


def test_addheader_non_ascii_is_encoded_on_replay() -> None:
    replayed = apply_header_edits("Subject: x\r\n", [AddHeader("X-Note", "caf\u00e9")])
    assert replayed.startswith("X-Note: =?utf-8?")


def test_reject_and_ereject() -> None:
    assert list(run('require "reject"; reject "no thanks";').actions) == [Reject("no thanks")]
    assert list(run('require "ereject"; ereject "go away";').actions) == [Ereject("go away")]
    # RFC 5429 section 2.3: not with vacation, and we refuse it with delivery too.
    failed = run('require ["reject", "fileinto"]; fileinto "A"; reject "x";')
    assert list(failed.actions) == [Keep(implicit=True)] and failed.errors


@pytest.mark.parametrize(
    "headers, mail_from, allowed",
    [
        (("To: me@example.com",), "friend@example.org", True),
        (("To: me@example.com",), "", False),  # null return path
        (("To: me@example.com", "Auto-Submitted: auto-replied"), "friend@example.org", False),
        (("To: me@example.com", "Auto-Submitted: no"), "friend@example.org", True),
        (("To: me@example.com", "List-Id: <l.example.org>"), "friend@example.org", False),
        (("To: me@example.com", "Precedence: bulk"), "friend@example.org", False),
        (("To: me@example.com", "Precedence: junk"), "friend@example.org", False),
        (("To: me@example.com",), "MAILER-DAEMON@example.org", False),
        (("To: me@example.com",), "owner-list@example.org", False),
        (("To: me@example.com",), "list-request@example.org", False),
        (("To: me@example.com",), "me@example.com", False),  # never answer oneself
        (("To: other@example.com",), "friend@example.org", False),  # not personal (4.5)
        (("Bcc: ME@Example.com",), "friend@example.org", True),
    ],
)
def test_vacation_allowed(headers: tuple[str, ...], mail_from: str, allowed: bool) -> None:
    message = SieveMessage.from_bytes(headers_only(*headers))
    assert vacation_allowed(message, Envelope(mail_from, "me@example.com"), ["me@example.com"]) is allowed


def test_vacation_seconds_and_handle() -> None:
    script = 'require ["vacation", "vacation-seconds"]; vacation :seconds 60 :handle "h" :subject "Away" :from "me@example.com" :mime "r";'
    outcome = run(script, headers_only("To: me@example.com"), mail_from="friend@example.org")
    vacation = outcome.actions[0]
    assert (vacation.seconds, vacation.handle, vacation.subject, vacation.from_, vacation.mime) == (60, "h", "Away", "me@example.com", True)


# -- limits: a filter never loses mail ------------------------------------------


def test_too_many_redirects_fall_back_to_implicit_keep() -> None:
    script = "".join(f'redirect "u{i}@example.net";' for i in range(5))
    outcome = run(script, limits=Limits(max_redirects=4))
    assert list(outcome.actions) == [Keep(implicit=True)]
    assert "redirects" in outcome.errors[0]


def test_too_many_actions() -> None:
    script = 'require "fileinto";' + "".join(f'fileinto "m{i}";' for i in range(40))
    outcome = run(script)
    assert list(outcome.actions) == [Keep(implicit=True)] and "actions" in outcome.errors[0]


def test_step_limit() -> None:
    script = "if " + "anyof(" * 20 + ", ".join(['header :contains "subject" "zzz"'] * 50) + ")" * 20 + " { discard; }"
    outcome = run(script, limits=Limits(max_steps=200))
    assert list(outcome.actions) == [Keep(implicit=True)] and "steps" in outcome.errors[0]


def test_variable_growth_is_bounded() -> None:
    script = 'require "variables"; set "a" "xxxxxxxxxxxxxxxx";' + 'set "a" "${a}${a}";' * 30 + "discard;"
    outcome = run(script)
    assert len(dict(outcome.variables)["a"]) == Limits().max_variable_size  # truncated, RFC 5229 section 6
    assert list(outcome.actions) == [Discard()]
    many = 'require "variables"; set "a" "' + "x" * 4000 + '";' + 'set "b" "' + "${a}" * 30 + '";'
    failed = run(many)
    assert failed.errors and list(failed.actions) == [Keep(implicit=True)]


def test_error_records_position() -> None:
    outcome = run('require "fileinto";\nkeep;\nredirect "not an address";')
    assert outcome.errors[0].startswith("line 3, column 1:")
