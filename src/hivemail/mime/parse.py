"""Message bytes -> MIME part tree with byte offsets (RFC 2045/2046).

One linear pass, written on bytes, never raising:

* Headers end at the first empty line (RFC 5322 section 2.1).  No empty
  line: the whole entity is header and the body is empty.
* Multipart bodies (RFC 2046 section 5.1.1) are split on delimiter lines
  ``CRLF "--" boundary [ "--" ] *LWSP``.  The CRLF before a delimiter
  belongs to the delimiter, not to the part ("the CRLF preceding the
  boundary delimiter line is conceptually attached to the boundary").
* Every enclosing boundary is active at once: a part that runs into an
  outer boundary (missing close-delimiter, as in truncated mail) ends
  there, like Dovecot's message-parser does.  All active boundaries are
  searched by one compiled regex, so each byte is scanned once: no
  per-level rescans and no quadratic behaviour on deep nesting.
* message/rfc822 bodies are parsed as messages (RFC 2046 section 5.2.1).
* Nesting deeper than ``max_depth`` is not descended into: such a part is
  kept as an opaque application/octet-stream leaf (limits are data, see
  DESIGN.md principle 7; Dovecot stops at 100 too).

Bare LF line ends are tolerated everywhere, but offsets, sizes and line
counts are only what IMAP expects once the caller has applied
``normalise_crlf``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from . import headers as H
from .addresses import Address, parse_address_list

__all__ = ["PartInfo", "Envelope", "parse_message", "DEFAULT_MAX_DEPTH"]

DEFAULT_MAX_DEPTH = 100

# Structured fields are parsed only up to these many characters (limits are
# data, DESIGN.md principle 7): a 10 MB To: or Content-Type must not cost
# seconds.  The whole value stays searchable through header_values().
MAX_ADDRESS_FIELD = 256 * 1024
MAX_CONTENT_FIELD = 64 * 1024

# Header fields whose first occurrence feeds the ENVELOPE (RFC 9051 s7.5.2).
_ENVELOPE_FIELDS = ("date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc", "in-reply-to", "message-id")
_ADDRESS_FIELDS = frozenset(("from", "sender", "reply-to", "to", "cc", "bcc"))


@dataclass(frozen=True)
class Envelope:
    """Raw ENVELOPE fields of one message (the root or a message/rfc822 body).

    Strings are unfolded raw header values carried as latin-1 (see
    ``headers``); ``None`` means the field was absent.  Address lists are
    ``None`` when absent; the formatter applies "sender and reply-to
    default to from" (RFC 9051 section 7.5.2).
    """

    date: str | None = None
    subject: str | None = None
    from_: tuple[Address, ...] | None = None
    sender: tuple[Address, ...] | None = None
    reply_to: tuple[Address, ...] | None = None
    to: tuple[Address, ...] | None = None
    cc: tuple[Address, ...] | None = None
    bcc: tuple[Address, ...] | None = None
    in_reply_to: str | None = None
    message_id: str | None = None


@dataclass
class PartInfo:
    """One MIME entity and where it lives in the raw message.

    Offsets index the bytes given to ``analyse``:
    ``raw[header_start:header_end]`` is the header block including the
    empty line that ends it (BODY[x.MIME], or BODY[HEADER] for a message),
    ``raw[body_start:body_end]`` is the body (BODY[x] / BODY[TEXT]);
    ``body_start == header_end``.

    ``mtype``/``subtype`` are None when Content-Type was missing or
    unparsable; ``media_type``/``media_subtype`` give the effective values
    after the RFC 2045 section 5.2 / RFC 2046 section 5.1.5 defaults.
    ``params`` keep RFC 2231 values encoded (see ``headers.param_value``).
    ``children`` are the parts of a multipart; ``message`` is the
    encapsulated message of a message/rfc822 part, and ``envelope`` is set
    on message entities (the root and each ``message``).
    """

    header_start: int
    header_end: int
    body_end: int
    mtype: str | None = None
    subtype: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    default_type: tuple[str, str] = ("text", "plain")
    encoding: str | None = None
    content_id: str | None = None
    description: str | None = None
    md5: str | None = None
    disposition: str | None = None
    disposition_params: tuple[tuple[str, str], ...] = ()
    language: tuple[str, ...] | None = None
    location: str | None = None
    lines: int = 0
    opaque: bool = False
    children: list["PartInfo"] = field(default_factory=list)
    message: "PartInfo | None" = None
    envelope: Envelope | None = None

    @property
    def body_start(self) -> int:
        return self.header_end

    @property
    def size(self) -> int:
        """Body size in octets (body-fld-octets)."""
        return self.body_end - self.header_end

    @property
    def media_type(self) -> str:
        if self.opaque:
            return "application"
        return self.mtype if self.mtype is not None else self.default_type[0]

    @property
    def media_subtype(self) -> str:
        if self.opaque:
            return "octet-stream"
        return self.subtype if self.subtype is not None else self.default_type[1]

    @property
    def is_multipart(self) -> bool:
        return not self.opaque and self.media_type.lower() == "multipart"

    @property
    def is_message(self) -> bool:
        """message/rfc822 with a parsed encapsulated message."""
        return self.message is not None

    @property
    def is_text(self) -> bool:
        return not self.opaque and self.media_type.lower() == "text"

    @property
    def content_type(self) -> str:
        """Lower-cased "type/subtype" after defaults."""
        return f"{self.media_type}/{self.media_subtype}".lower()

    @property
    def charset(self) -> str | None:
        return H.param_value(self.params, "charset")

    @property
    def transfer_encoding(self) -> str:
        """Lower-cased Content-Transfer-Encoding, "7bit" if absent."""
        return (self.encoding or "7bit").lower()

    @property
    def filename(self) -> str | None:
        """Decoded attachment name: disposition filename, else type name."""
        return H.param_value(self.disposition_params, "filename") or H.param_value(self.params, "name")

    def param(self, name: str) -> str | None:
        return H.param_value(self.params, name)

    def walk(self):
        """Yield this part and every part below it, depth first (iterative)."""
        stack = [self]
        while stack:
            p = stack.pop()
            yield p
            if p.message is not None:
                stack.append(p.message)
            stack.extend(reversed(p.children))


# --------------------------------------------------------------------------
# Boundary search
# --------------------------------------------------------------------------

@lru_cache(maxsize=256)
def _delimiter_regex(boundaries: tuple[bytes, ...]) -> re.Pattern[bytes]:
    """One regex finding a delimiter line of any active boundary.

    dash-boundary := "--" boundary; close-delimiter := delimiter "--";
    transport-padding := *LWSP-char  (RFC 2046 section 5.1.1).
    Exact match up to padding, so "--b1" does not end a "b10" part; longer
    boundaries are tried first for the same reason.
    """
    alts = b"|".join(re.escape(b) for b in sorted(set(boundaries), key=len, reverse=True))
    return re.compile(rb"(?m)^--(" + alts + rb")(--)?[ \t]*\r?$")


@dataclass
class _Stop:
    """A delimiter line: where it starts, ends (after its line end), which
    boundary, and whether it is a close-delimiter."""

    start: int
    end: int
    boundary: bytes
    close: bool


def _find_stop(raw: bytes, stack: tuple[bytes, ...], pos: int, limit: int) -> _Stop | None:
    if not stack or pos >= limit:
        return None
    m = _delimiter_regex(stack).search(raw, pos, limit)
    if m is None:
        return None
    end = m.end()
    if end < limit and raw[end : end + 1] == b"\n":
        end += 1
    return _Stop(m.start(), end, m.group(1), m.group(2) is not None)


def _content_end(raw: bytes, content_start: int, stop: _Stop | None, limit: int) -> int:
    """End of content before *stop*: the line end before a delimiter
    belongs to the delimiter (RFC 2046 section 5.1.1)."""
    if stop is None:
        return limit
    end = stop.start
    if end > content_start and raw[end - 1 : end] == b"\n":
        end -= 1
        if end > content_start and raw[end - 1 : end] == b"\r":
            end -= 1
    return end


@lru_cache(maxsize=256)
def _header_regex(boundaries: tuple[bytes, ...]) -> re.Pattern[bytes]:
    """First empty line (end of header, RFC 5322 s2.1) or delimiter line,
    whichever comes first, so a header search never scans past the part."""
    if not boundaries:
        return re.compile(rb"(?m)^(\r?\n)")
    alts = b"|".join(re.escape(b) for b in sorted(set(boundaries), key=len, reverse=True))
    return re.compile(rb"(?m)^(?:(\r?\n)|--(" + alts + rb")(--)?[ \t]*\r?$)")


def _header_end(raw: bytes, start: int, limit: int, stack: tuple[bytes, ...]) -> tuple[int, _Stop | None]:
    """Where the header block at *start* ends (after its empty line).

    Returns (header_end, stop): *stop* is set when a delimiter line came
    before any empty line (a part with headers but no body); then the
    header ends where the delimiter begins.  With neither, the header runs
    to *limit* and the body is empty.
    """
    if start >= limit:
        return limit, None
    m = _header_regex(stack).search(raw, start, limit)
    if m is None:
        return limit, None
    if m.group(1) is not None:
        return m.end(), None
    end = m.end()
    if end < limit and raw[end : end + 1] == b"\n":
        end += 1
    stop = _Stop(m.start(), end, m.group(2), m.group(3) is not None)
    # the line end before the delimiter belongs to the delimiter, as for bodies
    return _content_end(raw, start, stop, limit), stop


# --------------------------------------------------------------------------
# Entities
# --------------------------------------------------------------------------

def _apply_headers(part: PartInfo, fields: list[H.HeaderField], want_envelope: bool) -> None:
    """Fill Content-* (RFC 2045 s5-6, RFC 2183, RFC 3282, RFC 2557) and,
    for message entities, the envelope.  The first occurrence wins."""
    seen: set[str] = set()
    env: dict[str, object] = {}
    for name, value in fields:
        lname = name.lower()
        if lname in seen:
            continue
        if lname.startswith("content-"):
            value = value[:MAX_CONTENT_FIELD]
            seen.add(lname)
            if lname == "content-type":
                mtype, subtype, params = H.parse_content_type(value)
                part.mtype, part.subtype, part.params = mtype, subtype, tuple(params)
            elif lname == "content-transfer-encoding":
                token, _ = H.parse_token(H.unfold(value), 0)
                part.encoding = token or None
            elif lname == "content-id":
                part.content_id = H.unfold(value)
            elif lname == "content-description":
                part.description = H.unfold(value)
            elif lname == "content-md5":
                part.md5 = H.unfold(value)
            elif lname == "content-disposition":
                dtype, dparams = H.parse_disposition(value)
                part.disposition, part.disposition_params = dtype, tuple(dparams)
            elif lname == "content-language":
                part.language = H.parse_language(value) or None
            elif lname == "content-location":
                part.location = H.unfold(value)
        elif want_envelope and lname in _ENVELOPE_FIELDS:
            seen.add(lname)
            if lname in _ADDRESS_FIELDS:
                env[lname] = tuple(parse_address_list(H.unfold(value[:MAX_ADDRESS_FIELD])))
            else:
                env[lname] = H.unfold(value)
    if want_envelope:
        part.envelope = Envelope(
            date=env.get("date"),  # type: ignore[arg-type]
            subject=env.get("subject"),  # type: ignore[arg-type]
            from_=env.get("from"),  # type: ignore[arg-type]
            sender=env.get("sender"),  # type: ignore[arg-type]
            reply_to=env.get("reply-to"),  # type: ignore[arg-type]
            to=env.get("to"),  # type: ignore[arg-type]
            cc=env.get("cc"),  # type: ignore[arg-type]
            bcc=env.get("bcc"),  # type: ignore[arg-type]
            in_reply_to=env.get("in-reply-to"),  # type: ignore[arg-type]
            message_id=env.get("message-id"),  # type: ignore[arg-type]
        )


class _Parser:
    def __init__(self, raw: bytes, max_depth: int) -> None:
        self.raw = raw
        self.max_depth = max_depth
        self.root_fields: list[H.HeaderField] = []

    def entity(
        self,
        start: int,
        limit: int,
        stack: tuple[bytes, ...],
        depth: int,
        default_type: tuple[str, str],
        is_message: bool,
    ) -> tuple[PartInfo, _Stop | None]:
        """Parse the entity at *start*; return it and the delimiter (of a
        boundary in *stack*) that ended it, or None if it ran to *limit*."""
        raw = self.raw
        header_end, header_stop = _header_end(raw, start, limit, stack)
        fields = H.split_fields(raw[start:header_end])
        if depth == 0:
            self.root_fields = fields
        part = PartInfo(start, header_end, header_end, default_type=default_type)
        _apply_headers(part, fields, want_envelope=is_message)
        if header_stop is not None:
            # headers but no empty line before the next delimiter: no body
            return part, header_stop

        ctype = part.content_type
        if part.mtype is not None and ctype.startswith("multipart/"):
            boundary = H.param_value(part.params, "boundary")
            if not boundary:
                # RFC 2046 s5.1.1: the boundary parameter is mandatory, so
                # this Content-Type is syntactically invalid and RFC 2045
                # s5.2 recommends the default, text/plain; us-ascii.  (Dovecot
                # reports an empty multipart instead, hiding the body; see
                # tests/dovecot_compare.)
                part.mtype, part.subtype, part.params = None, None, ()
                part.default_type = ("text", "plain")
                return self._leaf(part, stack, limit)
            if depth >= self.max_depth:
                part.opaque = True
                return self._leaf(part, stack, limit)
            return self._multipart(part, boundary, limit, stack, depth)
        if ctype == "message/rfc822":
            if depth >= self.max_depth:
                part.opaque = True
                return self._leaf(part, stack, limit)
            inner, stop = self.entity(header_end, limit, stack, depth + 1, ("text", "plain"), True)
            part.message = inner
            part.body_end = inner.body_end
            part.lines = raw.count(b"\n", part.body_start, part.body_end)
            return part, stop
        return self._leaf(part, stack, limit)

    def _leaf(self, part: PartInfo, stack: tuple[bytes, ...], limit: int) -> tuple[PartInfo, _Stop | None]:
        stop = _find_stop(self.raw, stack, part.header_end, limit)
        part.body_end = _content_end(self.raw, part.header_end, stop, limit)
        part.lines = self.raw.count(b"\n", part.header_end, part.body_end)
        return part, stop

    def _multipart(
        self, part: PartInfo, boundary: str, limit: int, stack: tuple[bytes, ...], depth: int
    ) -> tuple[PartInfo, _Stop | None]:
        raw = self.raw
        own = boundary.encode("latin-1", "replace")
        inner_stack = stack + (own,)
        # RFC 2046 s5.1.5: in a digest the default part type is message/rfc822.
        child_default = ("message", "rfc822") if part.content_type == "multipart/digest" else ("text", "plain")
        stop = _find_stop(raw, inner_stack, part.header_end, limit)
        closed = False
        while stop is not None and stop.boundary == own and not stop.close:
            child, stop = self.entity(stop.end, limit, inner_stack, depth + 1, child_default, False)
            part.children.append(child)
        if stop is not None and stop.boundary == own and stop.close:
            closed = True
        if closed:
            # epilogue: runs to the next delimiter of an enclosing boundary
            stop = _find_stop(raw, stack, stop.end, limit)
        elif stop is not None and stop.boundary not in stack:
            stop = None
        part.body_end = _content_end(raw, part.header_end, stop, limit)
        if part.children and part.children[-1].body_end > part.body_end:
            # an empty last part whose header's empty line is also the CRLF
            # of the delimiter after it: keep the child inside its parent
            part.body_end = part.children[-1].body_end
        part.lines = raw.count(b"\n", part.header_end, part.body_end)
        return part, stop


def parse_message(raw: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> tuple[PartInfo, list[H.HeaderField]]:
    """Parse a whole message.  Returns the root entity and its header fields."""
    p = _Parser(raw, max_depth)
    root, _ = p.entity(0, len(raw), (), 0, ("text", "plain"), True)
    return root, p.root_fields
