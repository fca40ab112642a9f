"""The response parser the soak test and the checker rely on."""

from __future__ import annotations

from tests.consistency.wire import fetch_items, parse, text_of


def test_fetch_with_a_literal_and_a_section_with_spaces():
    pieces = [b'* 1 FETCH (UID 7 FLAGS (\\Seen $k) BODY[HEADER.FIELDS (X-SOAK-ID)] {15}', b"X-Soak-Id: a\r\n\r\n"[:15], b")"]
    tokens = parse(pieces)
    assert tokens[:3] == ["*", "1", "FETCH"]
    items = fetch_items(tokens)
    assert items["UID"] == "7"
    assert items["FLAGS"] == ["\\Seen", "$k"]
    assert items["BODY[HEADER.FIELDS (X-SOAK-ID)]"] == b"X-Soak-Id: a\r\n\r"


def test_quoted_strings_and_nested_lists():
    tokens = parse([b'* LIST (\\HasNoChildren) "/" "a \\"b\\""'])
    assert tokens == ["*", "LIST", ["\\HasNoChildren"], "/", 'a "b"']


def test_text_of_replaces_literals_by_their_length():
    assert text_of([b"* 1 FETCH (BODY[] {3}", b"abc", b")"]) == b"* 1 FETCH (BODY[] {3}<3 bytes>)"
