"""Header fields: splitting, unfolding, RFC 2047 words, RFC 2231 parameters.

Pure functions over bytes.  Nothing here raises on malformed input: every
function returns a best-effort value, because a mail server must store and
serve whatever it was handed (RFC 9051 section 7.5.2 leaves broken headers
to the server's judgement; Dovecot's lib-mail takes the same stance).

Raw header values are carried around as ``str`` decoded with latin-1, which
is a lossless bytes<->str mapping: ``value.encode("latin-1")`` gives back
the exact octets.  That keeps 8-bit bytes (RFC 6532 UTF-8 or undeclared
legacy charsets) intact until a caller decides how to present them.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

__all__ = [
    "HeaderField",
    "split_fields",
    "unfold",
    "decode_words",
    "decode_bytes",
    "decode_raw",
    "parse_content_type",
    "parse_disposition",
    "parse_language",
    "parse_token",
    "param_value",
    "parse_date",
]

HeaderField = tuple[str, str]
"""(name, raw value) -- both latin-1 str; the value keeps its folding."""


# --------------------------------------------------------------------------
# Splitting a header block into fields
# --------------------------------------------------------------------------

def split_fields(block: bytes) -> list[HeaderField]:
    """Split a header block (without the blank line) into (name, value) pairs.

    RFC 5322 section 2.2: a field is ``field-name ":" unstructured CRLF``;
    section 2.2.3: a line starting with WSP continues the previous field
    (folding).  The value keeps its CRLFs; call ``unfold`` to remove them.

    Lines without a colon are not fields.  Like Dovecot's header parser we
    drop them instead of failing the whole message.  A space before the
    colon (``Subject : x``, obs-optional in RFC 5322 section 4.5) is
    tolerated.  Bare LF line ends are accepted too.
    """
    fields: list[HeaderField] = []
    text = block.decode("latin-1")
    name: str | None = None
    value_parts: list[str] = []
    for line in text.split("\n"):
        if line[:1] in (" ", "\t"):
            if name is not None:
                value_parts.append("\n" + line)
            continue
        if name is not None:
            fields.append((name, "".join(value_parts)))
            name = None
        colon = line.find(":")
        if colon <= 0:
            continue
        candidate = line[:colon].rstrip(" \t")
        # field-name = 1*ftext; ftext is %d33-57 / %d59-126 (RFC 5322 3.6.8)
        if not candidate or any(c <= " " or c > "~" for c in candidate):
            continue
        name = candidate
        value_parts = [line[colon + 1 :]]
    if name is not None:
        fields.append((name, "".join(value_parts)))
    return fields


def unfold(value: str) -> str:
    """Remove folding: drop CR and LF, keep the whitespace that follows.

    RFC 5322 section 2.2.3: "Unfolding is accomplished by simply removing
    any CRLF that is immediately followed by WSP."  Leading whitespace after
    the colon is dropped; trailing whitespace is kept, as in Dovecot, so
    ENVELOPE strings match it byte for byte (the display-string cleanup in
    the formatter trims it where it matters).
    """
    if "\n" in value or "\r" in value:
        value = value.replace("\r", "").replace("\n", "")
    return value.lstrip(" \t")


# --------------------------------------------------------------------------
# Charsets
# --------------------------------------------------------------------------

_CHARSET_ALIASES = {
    # Common mislabels seen in the wild: decode with the superset.
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "ks_c_5601-1987": "cp949",
    "x-sjis": "shift_jis",
    "unicode-1-1-utf-7": "utf-7",
}


def _lookup(charset: str | None) -> str | None:
    if not charset:
        return None
    cs = charset.strip().strip('"').lower()
    # RFC 2231 section 5 allows "charset*language" inside encoded words.
    cs = cs.split("*", 1)[0]
    cs = _CHARSET_ALIASES.get(cs, cs)
    try:
        return codecs.lookup(cs).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, charset: str | None = None, *, guess: bool = True) -> str:
    """Decode *data* declared as *charset*; never raises.

    Order: the declared charset if Python knows it; UTF-8 if the bytes are
    valid UTF-8 (RFC 6532 headers, undeclared modern mail); then, only for
    undeclared or unknown charsets and only when *guess* is true,
    charset-normalizer; finally cp1252/latin-1, which cannot fail.
    """
    codec = _lookup(charset)
    if codec is not None:
        if codec == "utf-8" or data.isascii():
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                pass  # "us-ascii"/"utf-8" label on 8-bit legacy bytes
        else:
            try:
                return data.decode(codec, errors="replace")
            except Exception:  # some codecs raise on odd input even with replace
                pass
    if data.isascii():
        return data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if guess and len(data) >= 32:
        try:
            from charset_normalizer import from_bytes

            best = from_bytes(data[:65536]).best()
            if best is not None and best.encoding:
                return data.decode(best.encoding, errors="replace")
        except Exception:  # the guesser is a heuristic; never let it break analysis
            pass
    return data.decode("cp1252", errors="replace")


def decode_raw(value: str) -> str:
    """Present a raw (latin-1 carried) header value as text.

    8-bit header bytes are UTF-8 under RFC 6532; anything else is legacy
    8-bit that we read as cp1252 (the "latin-1 fallback").
    """
    if value.isascii():
        return value
    return decode_bytes(value.encode("latin-1"), None, guess=False)


# --------------------------------------------------------------------------
# RFC 2047 encoded words
# --------------------------------------------------------------------------

# encoded-word = "=?" charset "?" encoding "?" encoded-text "?="   (RFC 2047 s2)
# encoded-text = 1*<Any printable ASCII character other than "?" or SPACE>
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")
_QP_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")


def _decode_word_payload(enc: str, text: str) -> bytes | None:
    """Return the octets of one encoded word, or None if it is broken."""
    if enc in "Bb":
        t = text.rstrip("=")
        if len(t) % 4 == 1 or not re.fullmatch(r"[A-Za-z0-9+/]*", t):
            return None
        try:
            return base64.b64decode(t + "=" * (-len(t) % 4))
        except (binascii.Error, ValueError):
            return None
    # RFC 2047 section 4.2: "_" is space; "=" must be followed by two hex digits.
    raw = text.encode("latin-1").replace(b"_", b" ")
    if raw.count(b"=") != len(_QP_HEX.findall(raw)):
        return None
    return _QP_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words in an unfolded raw header value.

    * Whitespace between two adjacent encoded words is dropped (RFC 2047
      section 6.2); adjacent words in the same charset are joined as bytes
      first, so a multi-byte character split across words survives.
    * A broken word (bad base64, bad Q escape, unknown charset) is kept
      verbatim, as Dovecot and most clients do.
    * Text outside words goes through ``decode_raw`` (RFC 6532 UTF-8 or
      latin-1 fallback).
    """
    if "=?" not in value:
        return decode_raw(value)
    out: list[str] = []
    pending: list[tuple[str | None, bytes]] = []  # adjacent decoded words
    pos = 0

    def flush() -> None:
        if not pending:
            return
        # group consecutive words with the same charset
        cs, buf = pending[0][0], bytearray()
        for c, b in pending:
            if c != cs:
                out.append(decode_bytes(bytes(buf), cs, guess=False))
                cs, buf = c, bytearray()
            buf += b
        out.append(decode_bytes(bytes(buf), cs, guess=False))
        pending.clear()

    for m in _ENCODED_WORD.finditer(value):
        gap = value[pos : m.start()]
        charset, enc, text = m.group(1), m.group(2), m.group(3)
        payload = _decode_word_payload(enc, text)
        codec = _lookup(charset)
        if payload is None or codec is None:
            flush()
            out.append(decode_raw(gap + m.group(0)))
            pos = m.end()
            continue
        if gap.strip(" \t") or not pending:
            flush()
            out.append(decode_raw(gap))
        pending.append((codec, payload))
        pos = m.end()
    flush()
    out.append(decode_raw(value[pos:]))
    return "".join(out)


# --------------------------------------------------------------------------
# MIME header parameters (RFC 2045 section 5.1, RFC 2231)
# --------------------------------------------------------------------------

# tspecials := "(" / ")" / "<" / ">" / "@" / "," / ";" / ":" / "\" / <">
#              "/" / "[" / "]" / "?" / "="                  (RFC 2045 s5.1)
_TSPECIALS = frozenset('()<>@,;:\\"/[]?=')


def _skip_cfws(s: str, i: int) -> int:
    """Skip whitespace and (nested) comments, RFC 5322 section 3.2.2."""
    n = len(s)
    while i < n:
        c = s[i]
        if c in " \t\r\n":
            i += 1
        elif c == "(":
            depth = 0
            while i < n:
                c = s[i]
                if c == "\\":
                    i += 2
                    continue
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
        else:
            break
    return i


_TOKEN = re.compile(r'[^\x00-\x20()<>@,;:\\"/\[\]?=\x7f]*')


def parse_token(s: str, i: int = 0) -> tuple[str, int]:
    """token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>."""
    i = _skip_cfws(s, i)
    j = _TOKEN.match(s, i).end()  # type: ignore[union-attr]
    return s[i:j], j


def _parse_quoted(s: str, i: int) -> tuple[str, int]:
    """quoted-string starting at s[i] == '"'; unterminated runs to the end."""
    out: list[str] = []
    i += 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n:
            out.append(s[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        if c not in "\r\n":
            out.append(c)
        i += 1
    return "".join(out), i


def _parse_params(s: str, i: int) -> list[tuple[str, str]]:
    """*(";" parameter), lenient: unquoted values may hold spaces up to ';'."""
    raw: list[tuple[str, str]] = []
    n = len(s)
    while i < n:
        i = _skip_cfws(s, i)
        if i >= n:
            break
        if s[i] != ";":
            # garbage between parameters: skip to the next ';'
            j = s.find(";", i)
            if j < 0:
                break
            i = j
        i = _skip_cfws(s, i + 1)
        name, i = parse_token(s, i)
        i = _skip_cfws(s, i)
        if not name or i >= n or s[i] != "=":
            continue
        i = _skip_cfws(s, i + 1)
        if i < n and s[i] == '"':
            value, i = _parse_quoted(s, i)
        else:
            token, j = parse_token(s, i)
            k = _skip_cfws(s, j)
            if token and (k >= n or s[k] == ";"):
                value, i = token, k
            else:
                # not a token: take everything up to the next ';' (seen
                # with unquoted file names containing spaces)
                j = s.find(";", i)
                j = n if j < 0 else j
                value = s[i:j].strip(" \t\r\n")
                i = j
        raw.append((name, value))
    return _merge_rfc2231(raw)


_SEGMENT = re.compile(r"^(.*?)\*(\d+)(\*?)$|^(.*?)(\*)$")
_ATTRIBUTE_CHAR = re.compile(r"[^A-Za-z0-9!#$&+\-.^_`|~]")


def _merge_rfc2231(raw: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Join RFC 2231 continuations (section 3) and keep the charset prefix.

    ``name*0*=UTF-8''%E5; name*1*=%E6`` becomes one ``("name*", "UTF-8''%E5%E6")``
    and ``name*0="a"; name*1="b"`` becomes ``("name", "ab")``.  This is the
    shape Dovecot reports in BODYSTRUCTURE: the value stays encoded and the
    trailing "*" tells the client so (RFC 2231 section 4).  Use
    ``param_value`` to get the decoded text.  Order: plain parameters
    first, then RFC 2231 ones in order of first appearance (Dovecot's
    order, so BODYSTRUCTURE matches it).
    """
    if not any("*" in name for name, _ in raw):
        return raw
    result: list[tuple[str, str] | list] = []
    groups: dict[str, list] = {}
    for name, value in raw:
        m = _SEGMENT.match(name)
        if m is None:
            result.append((name, value))
            continue
        if m.group(2) is not None:
            base, index, ext = m.group(1), int(m.group(2)), bool(m.group(3))
        else:
            base, index, ext = m.group(4), 0, True
        key = base.lower()
        if key not in groups:
            groups[key] = [base, []]
            result.append(groups[key])
        groups[key][1].append((index, ext, value))
    merged: list[tuple[str, str]] = [item for item in result if isinstance(item, tuple)]
    for item in result:
        if isinstance(item, tuple):
            continue
        base, segs = item
        seen: set[int] = set()
        segs = sorted((s for s in segs if not (s[0] in seen or seen.add(s[0]))), key=lambda s: s[0])
        if any(ext for _, ext, _ in segs):
            parts = []
            for idx, ext, value in segs:
                if ext or idx == 0:
                    parts.append(value)
                else:
                    # a plain segment inside an encoded value: escape it so
                    # the whole value stays one RFC 2231 extended-value
                    parts.append(_ATTRIBUTE_CHAR.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode("latin-1", "replace")), value))
            if not segs[0][1]:
                # first segment was not extended: it has no charset'lang' part
                parts[0] = "''" + _ATTRIBUTE_CHAR.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode("latin-1", "replace")), parts[0])
            merged.append((base + "*", "".join(parts)))
        else:
            merged.append((base, "".join(v for _, _, v in segs)))
    return merged


_PCT = re.compile(r"%([0-9A-Fa-f]{2})")


def param_value(params: tuple[tuple[str, str], ...] | list[tuple[str, str]], name: str) -> str | None:
    """Decoded value of parameter *name* (case-insensitive), or None.

    Handles the merged RFC 2231 form (``name*`` = charset'lang'%XX...) and
    RFC 2047 words inside quoted values (not allowed by RFC 2047 section 5,
    but common in filenames).
    """
    lname = name.lower()
    for key, value in params:
        k = key.lower()
        if k == lname + "*":
            parts = value.split("'", 2)
            if len(parts) == 3:
                charset, _lang, text = parts
            else:
                charset, text = "", value
            data = _PCT.sub(lambda m: chr(int(m.group(1), 16)), text).encode("latin-1", "replace")
            return decode_bytes(data, charset or None, guess=False)
        if k == lname:
            return decode_words(value)
    return None


def parse_content_type(value: str) -> tuple[str | None, str | None, list[tuple[str, str]]]:
    """Content-Type := type "/" subtype *(";" parameter)   (RFC 2045 s5.1)

    Returns (type, subtype, params) with the case of the message (Dovecot
    reports it unchanged).  An unparsable type gives (None, None, params)
    and the caller applies the default (RFC 2045 section 5.2).
    """
    value = unfold(value)
    mtype, i = parse_token(value, 0)
    i = _skip_cfws(value, i)
    subtype = None
    if mtype and i < len(value) and value[i] == "/":
        subtype, i = parse_token(value, i + 1)
    if not mtype or not subtype:
        return None, None, _parse_params(value, i)
    return mtype, subtype, _parse_params(value, i)


def parse_disposition(value: str) -> tuple[str | None, list[tuple[str, str]]]:
    """disposition := disposition-type *(";" disposition-parm)  (RFC 2183 s2)"""
    value = unfold(value)
    dtype, i = parse_token(value, 0)
    return (dtype or None), _parse_params(value, i)


def parse_language(value: str) -> tuple[str, ...]:
    """Content-Language := 1#Language-tag  (RFC 3282 section 2)."""
    tags = []
    for piece in unfold(value).split(","):
        tag, _ = parse_token(piece, 0)
        if tag:
            tags.append(tag)
    return tuple(tags)


# --------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------

def parse_date(value: str | None) -> datetime | None:
    """RFC 5322 section 3.3 date-time -> aware datetime, or None if invalid.

    "-0000" (RFC 5322 section 3.3: time zone unknown) is read as UTC.
    """
    if not value or not value.strip():
        return None
    try:
        dt = parsedate_to_datetime(unfold(value).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        dt.utcoffset()
        dt.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None
    return dt
