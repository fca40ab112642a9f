"""Where a FETCH body section lives in a stored message: pure helpers.

FETCH never re-parses a message (DESIGN.md principle 2).  The stored
``MessageAnalysis`` gives every part's byte offsets, so a section is
either a byte range of the stored file (sent as a streamed literal) or a
small piece derived from one (HEADER.FIELDS subsets, BINARY decoding),
built in memory by the caller from the bytes of that range.

Section semantics (RFC 9051 section 6.4.5), and what Dovecot 2.3 answers
for the corner cases the RFC leaves open (checked against a live Dovecot,
see tests/e2e/imap/test_fetch.py):

* ``[]`` the whole message; ``[HEADER]`` / ``[TEXT]`` its header block
  (with the empty line that ends it) and its body.
* ``[n]`` the body of part n.  In a non-multipart message part 1 is the
  message body; for a message/rfc822 part it is the whole encapsulated
  message.  ``[n.MIME]`` is the part's own header block; for part 1 of a
  non-multipart message that is the message header, as in Dovecot.
* ``[n.HEADER]``, ``[n.TEXT]``, ``[n.HEADER.FIELDS ...]`` apply to the
  message inside a message/rfc822 part n; on any other part they are
  empty, as Dovecot answers.
* A part that does not exist is the empty string (RFC 9051: "If the
  section specification refers to a part that does not exist, ... an empty
  string"), which is what Dovecot sends (``{0}``), not NIL.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from hivemail.imap_proto.commands.fetch import Section
from hivemail.mime import MessageAnalysis, PartInfo

__all__ = [
    "Span",
    "HeaderFields",
    "Binary",
    "UnknownEncoding",
    "locate",
    "locate_binary",
    "header_fields",
    "apply_partial",
    "decode_binary",
    "has_binary_part",
]


@dataclass(frozen=True)
class Span:
    """Bytes ``[start, end)`` of the stored message, sent as they are."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


EMPTY = Span(0, 0)


@dataclass(frozen=True)
class HeaderFields:
    """HEADER.FIELDS (``exclude=False``) or HEADER.FIELDS.NOT of the header
    block at ``span``; ``names`` are lower-case.  Apply :func:`header_fields`
    to the bytes of ``span``."""

    span: Span
    names: frozenset[str]
    exclude: bool


@dataclass(frozen=True)
class Binary:
    """BINARY content: ``span`` with its Content-Transfer-Encoding undone.
    ``encoding`` is ``None`` when the bytes are sent as stored (7bit, 8bit,
    binary, and every multipart or message entity)."""

    span: Span
    encoding: str | None


@dataclass(frozen=True)
class UnknownEncoding:
    """BINARY of a part whose transfer encoding we cannot undo: the command
    answers ``NO [UNKNOWN-CTE]`` (RFC 3516 section 4.3)."""

    encoding: str


def locate(a: MessageAnalysis, section: Section) -> Span | HeaderFields:
    """The bytes a BODY[section] names; :data:`EMPTY` for a part that does
    not exist or a text specifier that does not apply."""
    if section.part:
        part = a.part(section.part)
        if part is None:
            return EMPTY
        if section.text is None:
            return body_span(a, section.part, part)
        if section.text == "MIME":
            return Span(part.header_start, part.header_end)
        message = part.message
        if message is None:
            return EMPTY
    else:
        if section.text is None:
            return Span(0, a.size)
        message = a.root
    return _message_text(message, section)


def _message_text(message: PartInfo, section: Section) -> Span | HeaderFields:
    header = Span(message.header_start, message.header_end)
    if section.text == "HEADER":
        return header
    if section.text == "TEXT":
        return Span(message.body_start, message.body_end)
    if section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        names = frozenset(h.lower() for h in section.headers)
        return HeaderFields(header, names, section.text == "HEADER.FIELDS.NOT")
    return EMPTY


def body_span(a: MessageAnalysis, path: tuple[int, ...], part: PartInfo) -> Span:
    """The body of part ``path`` (BODY[n], BINARY[n]).

    One adjustment to the parser's offsets, for Dovecot's sake: a nested
    multipart whose close-delimiter line is followed directly by the next
    delimiter of the enclosing multipart (no epilogue) keeps that line's
    CRLF.  The parser gives the CRLF to the following delimiter (RFC 2046
    section 5.1.1), but it also ends the close-delimiter line, and Dovecot
    counts it in the part: ``BODY[1]`` of fixture 06 ends ``--alt-02--\r\n``.
    """
    end = part.body_end
    if part.is_multipart and part.children:
        boundary = part.param("boundary")
        close = len(b"\r\n--") + len((boundary or "").encode("latin-1", "replace")) + len(b"--")
        if boundary and end - part.children[-1].body_end == close and end + 2 <= _enclosing_end(a, path):
            end += 2
    return Span(part.body_start, end)


def _enclosing_end(a: MessageAnalysis, path: tuple[int, ...]) -> int:
    """Where the entity containing part ``path`` ends: the multipart (or
    message) the part's delimiters belong to."""
    parent = a.part(path[:-1]) if len(path) > 1 else a.root
    if parent is None:
        return 0
    container = parent.message if parent.message is not None and len(path) > 1 else parent
    return container.body_end


def locate_binary(a: MessageAnalysis, part: tuple[int, ...]) -> Binary | UnknownEncoding:
    """What BINARY[part] sends (RFC 3516 section 4.2; RFC 9051 section 6.4.5).

    Only a leaf carries an encoding to undo: RFC 2045 section 6.4 allows
    multipart and message entities nothing but 7bit, 8bit and binary, so
    their bytes go as stored.  (Dovecot goes further and re-encodes every
    base64 / quoted-printable leaf inside them; we do not, a deliberate
    difference covered in tests/e2e/imap/test_fetch.py.)  A part that
    does not exist is empty, as Dovecot answers.
    """
    if not part:
        return Binary(Span(0, a.size), None)
    p = a.part(part)
    if p is None:
        return Binary(EMPTY, None)
    span = body_span(a, part, p)
    if p.is_multipart or p.message is not None:
        return Binary(span, None)
    encoding = p.transfer_encoding
    if encoding in ("7bit", "8bit", "binary"):
        return Binary(span, None)
    if encoding in ("base64", "quoted-printable"):
        return Binary(span, encoding)
    return UnknownEncoding(encoding)


_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def decode_binary(data: bytes, encoding: str) -> bytes:
    """Undo base64 or quoted-printable (RFC 2045 sections 6.7 and 6.8).

    Lenient like Dovecot: base64 ignores characters outside the alphabet
    and a trailing partial quantum; quoted-printable keeps CRLF line ends
    and joins soft line breaks.
    """
    if encoding == "base64":
        clean = _B64_JUNK.sub(b"", data)
        if len(clean) % 4 == 1:
            clean = clean[:-1]
        clean += b"=" * (-len(clean) % 4)
        try:
            return base64.b64decode(clean)
        except (binascii.Error, ValueError):
            return b""
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    raise ValueError(f"not a decodable encoding: {encoding}")


# A header field: its first line and every continuation line (RFC 5322
# section 2.2.3: folding whitespace starts a continuation).
_FIELD = re.compile(rb"[^\r\n]*(?:\r?\n|$)(?:[ \t][^\r\n]*(?:\r?\n|$))*")


def header_fields(block: bytes, names: frozenset[str], exclude: bool) -> bytes:
    """HEADER.FIELDS[.NOT] of a header block (RFC 9051 section 6.4.5).

    Field names match case-insensitively; the fields keep their bytes as
    stored (folding included) and their order in the message, and the
    result ends with the empty line CRLF, as RFC 9051 shows ("the
    subset ... followed by a blank line") and Dovecot sends even when no
    field matches (``{2}``).
    """
    out: list[bytes] = []
    pos = 0
    n = len(block)
    while pos < n:
        m = _FIELD.match(block, pos)
        assert m is not None  # the pattern matches the empty string
        field = m.group(0)
        if not field:
            break
        pos = m.end()
        if field in (b"\r\n", b"\n"):
            break  # the empty line ending the header block
        colon = field.find(b":")
        name = (field[:colon] if colon >= 0 else field.rstrip(b"\r\n")).rstrip(b" \t")
        if (name.decode("latin-1").lower() in names) != exclude:
            if not field.endswith(b"\n"):
                field += b"\r\n"
            out.append(field)
    out.append(b"\r\n")
    return b"".join(out)


def apply_partial(length: int, partial: tuple[int, int] | None) -> tuple[int, int]:
    """``(offset, count)`` within content of ``length`` octets for a
    ``<start.count>`` request: past the end is empty (RFC 9051 section
    6.4.5, "if the origin is beyond the end ... an empty string")."""
    if partial is None:
        return 0, length
    start, count = partial
    offset = min(start, length)
    return offset, max(0, min(count, length - offset))


def has_binary_part(a: MessageAnalysis) -> bool:
    """True if some part declares Content-Transfer-Encoding: binary, the
    only one under which NUL may appear (RFC 2045 section 2.9)."""
    return any(p.transfer_encoding == "binary" for p in a.walk())
