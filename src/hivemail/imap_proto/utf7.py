"""Modified UTF-7 for mailbox names (RFC 3501 section 5.1.3).

Used only for IMAP4rev1 clients that did not ``ENABLE UTF8=ACCEPT``; in
IMAP4rev2 and UTF-8 mode, mailbox names travel as UTF-8 (RFC 9051 section
5.1, RFC 6855 section 3).

The rules, from RFC 3501 section 5.1.3:

* printable US-ASCII (0x20-0x7E) except ``&`` represents itself;
* ``&`` is written ``&-``;
* everything else is UTF-16, base64 with ``,`` for ``/``, no padding,
  between ``&`` and ``-``;
* "modified BASE64 MUST NOT be used to represent any printing US-ASCII
  character", and a shifted sequence ends as soon as an ASCII character
  follows, so each string has exactly one encoding.

The decoder is strict: it rejects anything the encoder would not produce
(unterminated shifts, bad base64, non-zero padding bits, unpaired
surrogates, encoded printable ASCII, adjacent shifts, raw 8-bit or control
characters).  Accepting non-canonical forms would let two different names on
the wire mean one mailbox.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["encode", "decode", "Utf7Error"]


class Utf7Error(ValueError):
    """Not valid modified UTF-7; the message is readable."""


_DIRECT = re.compile(r"[\x20-\x25\x27-\x7e]+")
_SHIFT = re.compile(r"&([A-Za-z0-9+,]*)-")


def _is_direct(ch: str) -> bool:
    return "\x20" <= ch <= "\x7e"


def encode(name: str) -> str:
    """Encode a Unicode mailbox name to modified UTF-7 (ASCII)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be", "surrogatepass")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if _is_direct(ch):
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def decode(data: str | bytes) -> str:
    """Decode modified UTF-7 strictly; raise :class:`Utf7Error` on anything non-canonical."""
    if isinstance(data, bytes):
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise Utf7Error("8-bit characters are not allowed in modified UTF-7") from None
    else:
        text = data
    out: list[str] = []
    pos = 0
    previous_was_shift = False
    while pos < len(text):
        ch = text[pos]
        if ch != "&":
            if not _is_direct(ch):
                raise Utf7Error(f"character {ch!r} must be encoded in modified UTF-7")
            out.append(ch)
            pos += 1
            previous_was_shift = False
            continue
        match = _SHIFT.match(text, pos)
        if match is None:
            raise Utf7Error("unterminated or invalid &...- sequence in modified UTF-7")
        payload = match.group(1)
        pos = match.end()
        if not payload:
            out.append("&")
            previous_was_shift = False
            continue
        if previous_was_shift:
            raise Utf7Error("adjacent encoded sequences in modified UTF-7")
        out.append(_decode_payload(payload))
        previous_was_shift = True
    return "".join(out)


def _decode_payload(payload: str) -> str:
    bits = len(payload) * 6
    if bits % 16 >= 6:
        raise Utf7Error("truncated UTF-16 data in modified UTF-7")
    padded = payload.replace(",", "/") + "=" * (-len(payload) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise Utf7Error("invalid base64 in modified UTF-7") from None
    if len(raw) % 2:
        raise Utf7Error("odd number of UTF-16 bytes in modified UTF-7")
    # Non-zero padding bits mean a second spelling of the same name.
    if base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") != payload:
        raise Utf7Error("non-zero padding bits in modified UTF-7")
    try:
        decoded = raw.decode("utf-16-be")
    except UnicodeDecodeError:
        raise Utf7Error("invalid UTF-16 (unpaired surrogate) in modified UTF-7") from None
    if any(_is_direct(ch) for ch in decoded):
        raise Utf7Error("printable ASCII must not be encoded in modified UTF-7")
    return decoded
