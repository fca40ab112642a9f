"""``analyse(raw)``: everything FETCH, SEARCH, SORT and POP3 need, once.

DESIGN.md principle 2 ("parse once, at the door"): the store calls
``analyse`` at delivery/APPEND, persists ``to_bytes()``, and later answers
from ``MessageAnalysis.from_bytes()`` without reading the message again
(except to send byte ranges, located by ``part()``).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime

from . import headers as H
from .parse import DEFAULT_MAX_DEPTH, PartInfo, parse_message

__all__ = ["MessageAnalysis", "analyse", "is_dot_free", "normalise_crlf", "decode_transfer"]

# Limits are data (DESIGN.md principle 7).  Search text beyond this is not
# indexed; the message itself is still stored and served whole.
MAX_BODY_TEXT = 8 * 1024 * 1024

_BARE_LINE_END = re.compile(rb"\r\n|\r|\n")


def normalise_crlf(data: bytes) -> bytes:
    """Turn bare LF and bare CR into CRLF; CRLF stays.

    Stored messages are CRLF so that RFC822.SIZE equals the octets sent
    (RFC 9051 section 2.3.4 counts the message as it is sent, with CRLF
    line ends, and Dovecot's "virtual size" does the same conversion).
    """
    if b"\r" not in data:
        return data.replace(b"\n", b"\r\n")
    crlf = data.count(b"\r\n")
    if crlf == data.count(b"\n") == data.count(b"\r"):
        return data  # already CRLF throughout: the common case, at memchr speed
    return _BARE_LINE_END.sub(b"\r\n", data)


@dataclass
class MessageAnalysis:
    """Result of ``analyse``; plain data, serialisable with ``to_bytes``."""

    size: int
    root: PartInfo
    headers: list[tuple[str, str]] = field(default_factory=list)
    """Top-level header fields: (name as sent, decoded unfolded value)."""
    sent_date: datetime | None = None
    dot_free: bool | None = None
    """No line of the stored bytes starts with ".": POP3 can send the file as
    it is, without byte-stuffing (RFC 1939 section 3), e.g. with sendfile.
    ``None`` when unknown (analyses stored before this field existed)."""

    # -- derived header data ------------------------------------------------
    @property
    def message_id(self) -> str | None:
        env = self.root.envelope
        return env.message_id if env is not None else None

    @property
    def subject(self) -> str:
        values = self.header_values("subject")
        return values[0] if values else ""

    @property
    def from_addr(self) -> str:
        env = self.root.envelope
        if env is None or not env.from_:
            return ""
        for a in env.from_:
            if a.host is not None and a.mailbox is not None:
                return H.decode_raw(f"{a.mailbox}@{a.host}").lower()
        return ""

    @property
    def header_text(self) -> str:
        """All top-level header fields as "Name: value" lines (decoded)."""
        return "\n".join(f"{n}: {v}" for n, v in self.headers)

    def header_values(self, name: str) -> list[str]:
        """Decoded, unfolded values of every top-level field called *name*."""
        lname = name.lower()
        return [v for n, v in self.headers if n.lower() == lname]

    # -- sections --------------------------------------------------------------
    def part(self, section: tuple[int, ...]) -> PartInfo | None:
        """The entity for an IMAP section part number (RFC 9051 s6.4.5).

        ``()`` is the whole message.  In a multipart, n is the n-th child.
        In a non-multipart message (the root, or the message inside a
        message/rfc822 part), part 1 is the message's body and the returned
        PartInfo is that message entity itself.  A message/rfc822 part's
        sub-parts are those of its encapsulated message ("2.1" is the
        first part of the message in part 2).  For "x.HEADER"/"x.TEXT" use
        ``part(x).message``; for "x.MIME" use ``part(x)``'s header range.
        Returns None for a number that does not exist.
        """
        cur = self.root
        in_message = True
        for n in section:
            if not in_message and cur.message is not None:
                cur = cur.message
                in_message = True
            if cur.is_multipart:
                if not 1 <= n <= len(cur.children):
                    return None
                cur = cur.children[n - 1]
                in_message = False
            elif in_message and n == 1:
                in_message = False
            else:
                return None
        return cur

    def walk(self):
        return self.root.walk()

    def body_text_from(self, raw: bytes) -> str:
        """The decoded text of every text/* leaf, for SEARCH BODY/TEXT.

        Not stored with the analysis: it would double the size of the index
        for every message. It is decoded from the byte ranges the analysis
        located (no MIME re-parse); a full-text index makes it unneeded.
        """
        return _body_text(raw, self.root)

    # -- persistence -------------------------------------------------------------
    def to_bytes(self) -> bytes:
        from .serialize import dumps

        return dumps(self)

    @classmethod
    def from_bytes(cls, blob: bytes) -> "MessageAnalysis":
        from .serialize import loads

        return loads(blob)


# --------------------------------------------------------------------------
# Content-Transfer-Encoding
# --------------------------------------------------------------------------

_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def decode_transfer(data: bytes, encoding: str | None) -> bytes:
    """Undo a Content-Transfer-Encoding (RFC 2045 section 6); never raises.

    base64 ignores characters outside the alphabet ("Any characters
    outside of the base64 alphabet are to be ignored", RFC 2045 s6.8) and
    drops a dangling partial quantum.  Unknown encodings (RFC 2045 s6.4:
    "treat as application/octet-stream") are returned as they are.
    """
    enc = (encoding or "").lower()
    if enc == "base64":
        clean = _B64_JUNK.sub(b"", data)  # also drops "=" padding
        if len(clean) % 4 == 1:
            clean = clean[:-1]  # a lone sextet carries no whole octet
        clean += b"=" * (-len(clean) % 4)
        try:
            return base64.b64decode(clean)
        except (binascii.Error, ValueError):
            return b""
    if enc == "quoted-printable":
        try:
            return binascii.a2b_qp(data)
        except (binascii.Error, ValueError):
            return data
    return data


# --------------------------------------------------------------------------
# Text extraction
# --------------------------------------------------------------------------



def _part_text(raw: bytes, part: PartInfo) -> str:
    data = decode_transfer(raw[part.body_start : part.body_end], part.encoding)
    return H.decode_bytes(data, part.charset)


def _text_leaves(root: PartInfo):
    for part in root.walk():
        if not part.children and part.message is None and part.is_text:
            yield part


def _body_text(raw: bytes, root: PartInfo) -> str:
    texts: list[str] = []
    total = 0
    for part in _text_leaves(root):
        if total >= MAX_BODY_TEXT:
            break
        text = _part_text(raw, part)[: MAX_BODY_TEXT - total]
        total += len(text)
        texts.append(text)
    return "\n".join(texts)


def analyse(raw: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> MessageAnalysis:
    """Analyse a message; never raises, on any bytes.

    *raw* should already be ``normalise_crlf``-ed: offsets, sizes and line
    counts are into *raw* as given.  Runs in time linear in ``len(raw)``.
    """
    root, fields = parse_message(raw, max_depth)
    headers = [(name, H.decode_words(H.unfold(value)).rstrip(" \t")) for name, value in fields]
    env = root.envelope
    return MessageAnalysis(
        size=len(raw),
        root=root,
        headers=headers,
        sent_date=H.parse_date(env.date if env is not None else None),
        dot_free=is_dot_free(raw),
    )


def is_dot_free(raw: bytes) -> bool:
    """True if no line of ``raw`` starts with "." (a line starts after any LF,
    as POP3's dot-stuffing counts it).  One memchr-speed scan."""
    return raw[:1] != b"." and b"\n." not in raw
