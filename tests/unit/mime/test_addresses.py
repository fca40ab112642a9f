"""hivemail.mime.addresses: RFC 5322 address lists in ENVELOPE shape."""

from __future__ import annotations

import time

import pytest

from hivemail.mime.addresses import Address, parse_address_list

END = Address(None, None, None, None)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Alice Example <alice@example.org>", [Address("Alice Example", None, "alice", "example.org")]),
        ('"Last, First" <f.l@example.org> (comment)', [Address("Last, First", None, "f.l", "example.org")]),
        ("user@host.example (Real Name)", [Address("Real Name", None, "user", "host.example")]),
        ("sender@[192.0.2.1]", [Address(None, None, "sender", "[192.0.2.1]")]),
        ("B. Person <b@x>", [Address("B. Person", None, "b", "x")]),
        ("=?ISO-8859-1?Q?Andr=E9?= Pirard <P@vm1>", [Address("=?ISO-8859-1?Q?Andr=E9?= Pirard", None, "P", "vm1")]),
        ("<@r1,@r2:u@h>", [Address(None, "@r1,@r2", "u", "h")]),
        ("undisclosed-recipients:;", [Address(None, None, "undisclosed-recipients", None), END]),
        ("<>", [Address(None, None, "MISSING_MAILBOX", "MISSING_DOMAIN")]),
        ("bob", [Address(None, None, "bob", "MISSING_DOMAIN")]),
        ("", []),
        (" , ,", []),
    ],
)
def test_parse_address_list(value: str, expected: list[Address]) -> None:
    assert parse_address_list(value) == expected


def test_group_with_members_and_escaped_quotes() -> None:
    got = parse_address_list('Team: a@example.org, "B \\"Q\\" C" <b@example.org>;, plain@example.org')
    assert got == [
        Address(None, None, "Team", None),
        Address(None, None, "a", "example.org"),
        Address('B "Q" C', None, "b", "example.org"),
        END,
        Address(None, None, "plain", "example.org"),
    ]
    assert got[0].is_group_start and got[3].is_group_end


@pytest.mark.parametrize("value", ['"unterminated <a@b>', '"x\\', "((((", "<<<>>>", "@@@", ":;:;", "a@b@c", "\x00\xff"])
def test_garbage_never_raises(value: str) -> None:
    assert isinstance(parse_address_list(value), list)


def test_huge_list_is_fast() -> None:
    t = time.perf_counter()
    parse_address_list("a@b, " * 200_000)
    assert time.perf_counter() - t < 5
