"""GETQUOTA / GETQUOTAROOT / SETQUOTA parsing and the QUOTA / QUOTAROOT
responses (RFC 9208), fed whole, byte by byte and in chunks (parse_one)."""

import pytest

from hivemail.imap_proto import (
    FormatContext,
    GetQuotaRequest,
    GetQuotaRootRequest,
    SetQuotaRequest,
    State,
    StatusRequest,
    Version,
    format_bytes,
)
from hivemail.imap_proto.responses import Quota, QuotaRoot
from tests.unit.imap_proto._helpers import assert_bad, parse_one

AUTH = State.AUTHENTICATED

GOOD = [
    # RFC 9208 4.1.1 - 4.1.3 examples
    (b'G0001 GETQUOTA "!partition/sda4"', GetQuotaRequest("!partition/sda4")),
    (b"G0002 GETQUOTAROOT INBOX", GetQuotaRootRequest("INBOX")),
    (b'S0001 SETQUOTA "#user/alice" (STORAGE 510)', SetQuotaRequest("#user/alice", (("STORAGE", 510),))),
    (b'S0002 SETQUOTA "!partition/sda4" (STORAGE 99999999)',
     SetQuotaRequest("!partition/sda4", (("STORAGE", 99999999),))),
    (b'a GETQUOTA ""', GetQuotaRequest("")),
    (b"a getquota {10+}\r\nUser quota", GetQuotaRequest("User quota")),
    (b"a GETQUOTAROOT inbox", GetQuotaRootRequest("INBOX")),
    (b"a GETQUOTAROOT Entw&APw-rfe", GetQuotaRootRequest("Entwürfe")),
    (b'a GETQUOTAROOT "no such box"', GetQuotaRootRequest("no such box")),
    (b'a setquota "" (storage 1 Message 2 X-OTHER 3)',
     SetQuotaRequest("", (("STORAGE", 1), ("MESSAGE", 2), ("X-OTHER", 3)))),
    # setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")": may be empty
    (b'a SETQUOTA "User quota" ()', SetQuotaRequest("User quota", ())),
    # resource-limit = number64
    (b'a SETQUOTA r (STORAGE 9223372036854775807)', SetQuotaRequest("r", (("STORAGE", 2**63 - 1),))),
    # RFC 9208 4.1.4 example
    (b"S0003 STATUS INBOX (MESSAGES DELETED DELETED-STORAGE)",
     StatusRequest("INBOX", ("MESSAGES", "DELETED", "DELETED-STORAGE"))),
    (b"a status x (deleted-storage)", StatusRequest("x", ("DELETED-STORAGE",))),
]


@pytest.mark.parametrize("line,expected", GOOD)
@pytest.mark.parametrize("state", [State.AUTHENTICATED, State.SELECTED])
def test_good(line, expected, state):
    assert parse_one(line, state=state) == expected


BAD = [
    (b"a GETQUOTA", "missing a quota root name"),
    (b"a GETQUOTA a b", "unexpected extra argument"),
    (b"a GETQUOTA (x)", "expected a quota root name"),
    (b"a GETQUOTAROOT", "missing a mailbox name"),
    (b"a GETQUOTAROOT INBOX x", "unexpected extra argument"),
    (b'a SETQUOTA "User quota"', "missing a parenthesized list of resource limits"),
    (b'a SETQUOTA "User quota" STORAGE 5', "expected a parenthesized list of resource limits"),
    (b'a SETQUOTA "User quota" (STORAGE)', "missing a resource limit"),
    (b'a SETQUOTA "User quota" (STORAGE x)', "expected a resource limit"),
    (b'a SETQUOTA "User quota" (STORAGE -1)', "expected a resource limit"),
    (b'a SETQUOTA "User quota" (STORAGE 18446744073709551616)', "too large"),
    (b'a SETQUOTA "User quota" ("STORAGE" 5)', "expected a resource name"),
    (b'a SETQUOTA "User quota" (STORAGE 5) x', "unexpected extra argument"),
]


@pytest.mark.parametrize("line,fragment", BAD)
def test_bad(line, fragment):
    assert_bad(line, fragment, state=AUTH)


@pytest.mark.parametrize("line", [b"a GETQUOTA x", b"a GETQUOTAROOT INBOX", b"a SETQUOTA x ()"])
def test_refused_before_login(line):
    assert_bad(line, "not allowed in the not authenticated state", state=State.NOT_AUTHENTICATED)


REV1 = FormatContext(Version.REV1)
REV2 = FormatContext(Version.REV2)

RESPONSES = [
    # RFC 9208 4.1.1, 4.1.2, 4.2.1 and 4.2.2 examples
    (Quota("!partition/sda4", (("STORAGE", 104, 10923847),)), b'* QUOTA "!partition/sda4" (STORAGE 104 10923847)\r\n'),
    (Quota("#user/alice", (("STORAGE", 54, 111), ("MESSAGE", 42, 1000))),
     b'* QUOTA "#user/alice" (STORAGE 54 111 MESSAGE 42 1000)\r\n'),
    (Quota("", (("STORAGE", 10, 512),)), b'* QUOTA "" (STORAGE 10 512)\r\n'),
    (Quota("User quota", ()), b'* QUOTA "User quota" ()\r\n'),
    (QuotaRoot("INBOX", ("#user/alice", "!partition/sda4")), b'* QUOTAROOT INBOX "#user/alice" "!partition/sda4"\r\n'),
    (QuotaRoot("INBOX", ("",)), b'* QUOTAROOT INBOX ""\r\n'),
    (QuotaRoot("comp.mail.mime", ()), b'* QUOTAROOT "comp.mail.mime"\r\n'),
    (QuotaRoot("Drafts", ("User quota",)), b'* QUOTAROOT "Drafts" "User quota"\r\n'),
    (Quota('a"b\\c', ()), b'* QUOTA "a\\"b\\\\c" ()\r\n'),
]


@pytest.mark.parametrize("resp,wire", RESPONSES)
@pytest.mark.parametrize("ctx", [REV1, REV2])
def test_quota_responses_format(resp, wire, ctx):
    assert format_bytes(resp, ctx) == wire


def test_quotaroot_mailbox_is_modified_utf7_in_rev1_and_utf8_in_rev2():
    resp = QuotaRoot("Entwürfe", ("User quota",))
    assert format_bytes(resp, REV1) == b'* QUOTAROOT "Entw&APw-rfe" "User quota"\r\n'
    assert format_bytes(resp, REV2) == '* QUOTAROOT "Entwürfe" "User quota"\r\n'.encode()
