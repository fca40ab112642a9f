"""Read and pretty-print IMAP values (ENVELOPE, BODYSTRUCTURE) in tests.

``parse_value(b'("a" NIL (1 2) {3}\\r\\nabc)')`` gives nested lists of
``Str(bytes)``, ``None`` (NIL), ``int`` and ``Atom(str)``.  ``pretty()``
renders one value per line with indentation, escaping non-UTF-8 bytes, so
golden files stay readable text.  ``join_imaplib()`` rebuilds the raw
response bytes from imaplib's (prefix, literal) tuples.
"""

from __future__ import annotations

import re


class Str(bytes):
    """A string value; ``kind`` records quoted or literal."""

    kind = "quoted"


class Atom(str):
    pass


_ATOM = re.compile(rb"[^\s()\"{}]+")


def parse_value(data: bytes, pos: int = 0):
    """Parse one value at *pos*; returns (value, new_pos)."""
    n = len(data)
    while pos < n and data[pos : pos + 1] == b" ":
        pos += 1
    c = data[pos : pos + 1]
    if c == b"(":
        items = []
        pos += 1
        while True:
            while pos < n and data[pos : pos + 1] == b" ":
                pos += 1
            if data[pos : pos + 1] == b")":
                return items, pos + 1
            if pos >= n:
                raise ValueError("unterminated list")
            v, pos = parse_value(data, pos)
            items.append(v)
    if c == b'"':
        out = bytearray()
        pos += 1
        while pos < n:
            ch = data[pos]
            if ch == 0x5C:
                out.append(data[pos + 1])
                pos += 2
                continue
            if ch == 0x22:
                return Str(out), pos + 1
            out.append(ch)
            pos += 1
        raise ValueError("unterminated quoted string")
    if c == b"{":
        end = data.index(b"}", pos)
        size = int(data[pos + 1 : end].rstrip(b"+"))
        start = end + 3  # "}\r\n"
        s = Str(data[start : start + size])
        s.kind = "literal"
        return s, start + size
    m = _ATOM.match(data, pos)
    if m is None:
        raise ValueError(f"bad token at {pos}: {data[pos:pos+20]!r}")
    tok = m.group(0)
    if tok.upper() == b"NIL":
        return None, m.end()
    if tok.isdigit():
        return int(tok), m.end()
    return Atom(tok.decode("latin-1")), m.end()


def parse(data: bytes):
    value, pos = parse_value(data)
    if data[pos:].strip():
        raise ValueError(f"trailing data: {data[pos:pos+40]!r}")
    return value


def _scalar(v) -> str:
    if v is None:
        return "NIL"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Atom):
        return str(v)
    text = bytes(v).decode("utf-8", "backslashreplace")
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\0", "\\0")
    if getattr(v, "kind", "quoted") == "literal":
        return "{" + str(len(v)) + "}" + '"' + text + '"'
    return '"' + text.replace('"', '\\"') + '"'


def pretty(v, indent: int = 0, width: int = 100) -> str:
    """One line if it fits in *width*, else one element per line."""
    pad = "  " * indent
    flat = _flat(v)
    if not isinstance(v, list) or len(pad) + len(flat) <= width:
        return pad + flat
    lines = [pad + "("]
    for item in v:
        lines.append(pretty(item, indent + 1, width))
    lines.append(pad + ")")
    return "\n".join(lines)


def _flat(v) -> str:
    if isinstance(v, list):
        return "(" + " ".join(_flat(x) for x in v) + ")"
    return _scalar(v)


def join_imaplib(parts) -> bytes:
    """imaplib FETCH data -> the raw response line with literals inline."""
    out = bytearray()
    for p in parts:
        if isinstance(p, tuple):
            out += p[0] + b"\r\n" + p[1]
        else:
            out += p
    return bytes(out)


def fetch_items(response: bytes) -> dict[str, bytes]:
    """Split '1 (ENVELOPE (...) BODY (...))' into {'ENVELOPE': raw bytes, ...}."""
    start = response.index(b"(")
    items: dict[str, bytes] = {}
    pos = start + 1
    n = len(response)
    while pos < n:
        while response[pos : pos + 1] == b" ":
            pos += 1
        if response[pos : pos + 1] == b")":
            break
        m = _ATOM.match(response, pos)
        name = m.group(0).decode()
        pos = m.end()
        _, end = parse_value(response, pos)
        items[name] = response[pos:end].strip(b" ")
        pos = end
    return items
