"""Section extraction for FETCH (hivemail.imap.fetch_sections), pure, over
the fixture messages.  The expected bytes are what Dovecot 2.3 answers for
the same messages (tests/e2e/imap/test_fetch.py checks that live)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hivemail.imap import fetch_sections as S
from hivemail.imap_proto.commands.fetch import Section
from hivemail.mime import analyse, normalise_crlf

FIXTURES = Path(__file__).parents[2] / "fixtures" / "messages"


def load(number: str):
    (path,) = FIXTURES.glob(f"{number}-*.eml")
    raw = normalise_crlf(path.read_bytes())
    return raw, analyse(raw)


def section(raw: bytes, a, spec: Section, partial=None) -> bytes:
    """What BODY[spec]<partial> sends, built from the helpers as the handler does."""
    where = S.locate(a, spec)
    if isinstance(where, S.HeaderFields):
        data = S.header_fields(raw[where.span.start : where.span.end], where.names, where.exclude)
    else:
        data = raw[where.start : where.end]
    offset, count = S.apply_partial(len(data), partial)
    return data[offset : offset + count]


def binary(raw: bytes, a, part: tuple[int, ...]) -> bytes | S.UnknownEncoding:
    where = S.locate_binary(a, part)
    if isinstance(where, S.UnknownEncoding):
        return where
    data = raw[where.span.start : where.span.end]
    return data if where.encoding is None else S.decode_binary(data, where.encoding)


# -- whole message, HEADER, TEXT -------------------------------------------------


def test_whole_message_is_every_stored_byte():
    raw, a = load("01")
    assert section(raw, a, Section()) == raw


def test_header_ends_with_the_empty_line_and_text_is_the_rest():
    raw, a = load("01")
    header = section(raw, a, Section((), "HEADER"))
    text = section(raw, a, Section((), "TEXT"))
    assert header.endswith(b"Subject: Lunch on Friday?\r\n\r\n")
    assert header + text == raw
    assert text == b"Hi Bob,\r\n\r\nShall we meet at noon?\r\n\r\n-- \r\nAlice\r\n"


def test_message_without_header_has_an_empty_line_as_header():
    raw, a = load("11")
    assert section(raw, a, Section((), "HEADER")) + section(raw, a, Section((), "TEXT")) == raw


# -- HEADER.FIELDS ------------------------------------------------------------------


def test_header_fields_keep_message_order_and_end_with_crlf():
    raw, a = load("01")
    got = section(raw, a, Section((), "HEADER.FIELDS", ("subject", "FROM")))
    # Asked for Subject first; the message has From first, and so does the answer.
    assert got == b"From: Alice Example <alice@example.org>\r\nSubject: Lunch on Friday?\r\n\r\n"


def test_header_fields_with_no_match_is_just_the_empty_line():
    raw, a = load("01")
    assert section(raw, a, Section((), "HEADER.FIELDS", ("X-Nope",))) == b"\r\n"


def test_header_fields_not_drops_the_named_fields():
    raw, a = load("01")
    got = section(raw, a, Section((), "HEADER.FIELDS.NOT", ("Subject", "from", "DATE", "message-id")))
    assert got == b"To: bob@example.net\r\n\r\n"


def test_header_fields_keep_folded_continuation_lines_as_stored():
    raw, a = load("06")
    got = section(raw, a, Section((), "HEADER.FIELDS", ("Content-Type",)))
    assert got == b'Content-Type: multipart/mixed;\r\n boundary="mixed-01"\r\n\r\n'


def test_header_fields_match_every_occurrence():
    raw, a = load("13")
    got = section(raw, a, Section((), "HEADER.FIELDS", ("subject",)))
    assert got.lower().startswith(b"subject:")
    assert got.endswith(b"\r\n\r\n")
    assert b"\r\n\t" in got or b"\r\n " in got  # the fold is kept


def test_header_fields_on_raw_utf8_keeps_the_bytes():
    raw, a = load("04")
    got = section(raw, a, Section((), "HEADER.FIELDS", ("from",)))
    assert got == "From: Jörg Müller <jörg@bücher.example>\r\n\r\n".encode()


def test_header_fields_of_header_block_without_trailing_newline():
    assert S.header_fields(b"A: 1\r\nB: 2", frozenset({"b"}), False) == b"B: 2\r\n\r\n"
    assert S.header_fields(b"A: 1\r\nB: 2\r\n\r\n", frozenset({"b"}), True) == b"A: 1\r\n\r\n"


# -- part numbers ---------------------------------------------------------------------


def test_part_one_of_a_single_part_message_is_its_body():
    raw, a = load("01")
    assert section(raw, a, Section((1,))) == section(raw, a, Section((), "TEXT"))


def test_one_mime_of_a_single_part_message_is_the_message_header():
    # Dovecot answers the message header here.
    raw, a = load("01")
    assert section(raw, a, Section((1,), "MIME")) == section(raw, a, Section((), "HEADER"))


def test_header_and_text_of_a_part_that_is_not_a_message_are_empty():
    raw, a = load("01")
    assert section(raw, a, Section((1,), "HEADER")) == b""
    assert section(raw, a, Section((1,), "TEXT")) == b""


def test_nonexistent_parts_are_empty():
    raw, a = load("01")
    for part in [(2,), (1, 1), (5, 1, 2)]:
        assert section(raw, a, Section(part)) == b""
        assert section(raw, a, Section(part, "MIME")) == b""


def test_multipart_alternative_parts_and_mime_headers():
    raw, a = load("05")
    assert section(raw, a, Section((1,))) == b"Offers: shoes 20% off."
    assert section(raw, a, Section((2,), "MIME")) == (
        b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    )
    assert section(raw, a, Section((3,))) == b""


def test_nested_multipart_part_mime():
    raw, a = load("06")
    assert section(raw, a, Section((1, 2))) == b"<p>Report attached.</p>"
    assert section(raw, a, Section((1, 2), "MIME")) == b"Content-Type: text/html; charset=utf-8\r\n\r\n"


def test_message_rfc822_part_header_text_and_inner_parts():
    raw, a = load("07")
    assert section(raw, a, Section((2,), "MIME")) == (
        b"Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
    )
    header = section(raw, a, Section((2,), "HEADER"))
    text = section(raw, a, Section((2,), "TEXT"))
    assert header.startswith(b"From: original@example.org\r\n") and header.endswith(b"\r\n\r\n")
    assert text.startswith(b"--inner-b\r\n") and text.endswith(b"--inner-b--\r\n")
    assert section(raw, a, Section((2,))) == header + text
    assert section(raw, a, Section((2, 1))) == b"Inner body."
    assert section(raw, a, Section((2, 1), "MIME")) == b"Content-Type: text/plain\r\n\r\n"
    assert section(raw, a, Section((2, 2))) == b"a,b\r\n1,2"
    assert section(raw, a, Section((2, 1), "HEADER")) == b""
    assert section(raw, a, Section((2,), "HEADER.FIELDS", ("Subject",))) == (
        b"Subject: The original message\r\n\r\n"
    )


def test_missing_end_boundary_part_runs_to_the_end():
    raw, a = load("09")
    assert section(raw, a, Section((1,))) == b"part one"


def test_deep_nesting_reaches_the_innermost_part():
    raw, a = load("14")
    path = (1,) * 59
    assert section(raw, a, Section(path, "MIME")).lower().startswith(b"content-type:")


# -- partial ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "partial, expected",
    [((0, 10), (0, 10)), ((5, 1000), (5, 95)), ((100, 10), (100, 0)), ((1000, 10), (100, 0)), (None, (0, 100))],
)
def test_apply_partial(partial, expected):
    assert S.apply_partial(100, partial) == expected


def test_partial_of_a_section_slices_the_section_not_the_message():
    raw, a = load("05")
    assert section(raw, a, Section((1,)), (8, 5)) == b"shoes"
    assert section(raw, a, Section((), "HEADER.FIELDS", ("subject",)), (0, 7)) == b"Subject"
    assert section(raw, a, Section((1,)), (500, 5)) == b""


# -- BINARY -------------------------------------------------------------------------


def test_binary_decodes_base64():
    raw, a = load("02")
    got = binary(raw, a, (1,))
    assert got.decode("utf-8").startswith("IMAP")


def test_binary_decodes_quoted_printable_soft_breaks_and_escapes():
    raw, a = load("05")
    got = binary(raw, a, (2,))
    assert got == "<html><body><p>Offers: <b>shoes</b> 20% off — today only.</p></body></html>".encode()
    assert len(got) == 77  # Dovecot's BINARY.SIZE[2]


def test_binary_of_identity_encodings_is_the_stored_body():
    raw, a = load("05")
    assert binary(raw, a, (1,)) == b"Offers: shoes 20% off."
    raw, a = load("24")
    assert binary(raw, a, (1,)) == b"\x00\x01\x02binary\x00data\r\n"
    assert S.has_binary_part(a)
    assert not S.has_binary_part(load("05")[1])


def test_binary_of_a_large_base64_attachment():
    raw, a = load("20")
    assert len(binary(raw, a, (2,))) == 1_500_000  # Dovecot's BINARY.SIZE[2]


def test_binary_unknown_encoding_is_reported():
    raw, a = load("17")
    assert binary(raw, a, (1,)) == S.UnknownEncoding("x-weird")


def test_binary_of_nonexistent_part_is_empty():
    raw, a = load("01")
    assert binary(raw, a, (2,)) == b""
    assert binary(raw, a, (1, 3)) == b""


def test_binary_of_message_and_multipart_entities_is_sent_as_stored():
    raw, a = load("07")
    assert binary(raw, a, (2,)) == section(raw, a, Section((2,)))
    assert binary(raw, a, ()) == raw


def test_decode_binary_base64_ignores_junk_and_partial_quantum():
    assert S.decode_binary(b"aGVs\r\nbG8=\r\n", "base64") == b"hello"
    assert S.decode_binary(b"aGVs*bG8!", "base64") == b"hello"
    with pytest.raises(ValueError):
        S.decode_binary(b"", "x-uuencode")
