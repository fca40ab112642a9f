"""What a script sees of a message and its envelope.

``SieveMessage`` is plain data so the caller can build it from the analysis it
already stored at delivery (DESIGN.md principle 2); ``SieveMessage.from_bytes``
builds one with the stdlib ``email`` package for tests and simple callers.
Nothing here does I/O.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class BodyPart:
    """A leaf MIME part: ``content_type`` is ``type/subtype`` lower-cased, ``text`` decoded."""

    content_type: str
    text: str


@dataclass(frozen=True)
class SieveMessage:
    """A message as the Sieve tests see it.

    ``headers``: (name, value) in message order, values unfolded and RFC 2047
    decoded.  ``raw_header``: the header block as received (for
    ``apply_header_edits``).  ``raw_body``: the body undecoded, for
    ``body :raw``.  ``parts``: the leaf parts decoded to text, for
    ``body :content`` and ``:text`` (RFC 5173 section 5).  ``size``: octets.
    """

    headers: tuple[tuple[str, str], ...] = ()
    raw_header: str = ""
    raw_body: str = ""
    parts: tuple[BodyPart, ...] = ()
    size: int = 0

    def header_values(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for n, v in self.headers if n.lower() == lname]

    @classmethod
    def from_bytes(cls, data: bytes) -> "SieveMessage":
        """Analyse a whole RFC 5322 message; never raises on malformed input."""
        split = re.search(rb"\r?\n\r?\n", data)
        if split is None:
            head, body = data, b""
        else:
            head, body = data[: split.start()], data[split.end() :]
        raw_header = head.decode("utf-8", "surrogateescape")
        return cls(
            headers=tuple(_parse_header_block(raw_header)),
            raw_header=raw_header,
            raw_body=body.decode("utf-8", "replace"),
            parts=tuple(_leaf_parts(data)),
            size=len(data),
        )


@dataclass(frozen=True)
class Envelope:
    """The SMTP envelope of one delivery: ``mail_from`` is "" for the null path ``<>``."""

    mail_from: str
    rcpt_to: str
    auth: str = ""


def _parse_header_block(raw: str) -> list[tuple[str, str]]:
    fields: list[list[str]] = []
    for line in re.split(r"\r?\n", raw):
        if line[:1] in (" ", "\t") and fields:
            fields[-1][1] += line  # unfold (RFC 5322 section 2.2.3)
        elif ":" in line:
            name, _, value = line.partition(":")
            fields.append([name.strip(), value])
    return [(name, decode_header_value(value)) for name, value in fields]


def decode_header_value(value: str) -> str:
    """RFC 2047 words decoded; anything undecodable is kept as it was."""
    value = value.strip()
    if "=?" not in value:
        return value
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:  # noqa: BLE001 - malformed encoded words are common; keep the raw text
        return value


def _leaf_parts(data: bytes) -> list[BodyPart]:
    try:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        out = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            ctype = part.get_content_type().lower()
            payload = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "us-ascii"
            try:
                text = payload.decode(charset, "replace")
            except LookupError:
                text = payload.decode("latin-1")
            out.append(BodyPart(ctype, text))
        return out
    except Exception:  # noqa: BLE001 - a message we cannot walk still gets its raw body tested
        return []
