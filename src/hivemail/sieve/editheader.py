"""Replaying editheader changes (RFC 5293) on a raw header block.

The interpreter resolves each ``deleteheader`` to the exact occurrences it
removed, so replaying ``Outcome.header_edits`` in order on the header as
received gives the header the script saw last, with every untouched field
byte for byte as it came.
"""

from __future__ import annotations

import email.header
import re

from .actions import AddHeader, DeleteHeader, HeaderEdit


def _fields(raw_header: str) -> list[str]:
    """Split a header block into fields, each with its folded continuation lines."""
    fields: list[str] = []
    for line in re.split(r"(?<=\n)", raw_header):
        if not line:
            continue
        if line[:1] in (" ", "\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    return [f if f.endswith("\n") else f + "\r\n" for f in fields]


def _field_name(field: str) -> str:
    return field.split(":", 1)[0].strip().lower()


def _encode(name: str, value: str) -> str:
    if value.isascii():
        return f"{name}: {value}\r\n"
    # RFC 2047 encoded words for non-ASCII text, folded by the stdlib.
    encoded = email.header.Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}\r\n"


def apply_header_edits(raw_header: str, edits: tuple[HeaderEdit, ...] | list[HeaderEdit]) -> str:
    """Return ``raw_header`` (no blank separator line) with ``edits`` applied in order."""
    fields = _fields(raw_header)
    for edit in edits:
        if isinstance(edit, AddHeader):
            line = _encode(edit.name, edit.value)
            if edit.last:
                fields.append(line)
            else:
                fields.insert(0, line)
        elif isinstance(edit, DeleteHeader):
            lname = edit.name.lower()
            positions = [i for i, f in enumerate(fields) if _field_name(f) == lname]
            doomed = {positions[n - 1] for n in edit.occurrences if 1 <= n <= len(positions)}
            fields = [f for i, f in enumerate(fields) if i not in doomed]
    return "".join(fields)
