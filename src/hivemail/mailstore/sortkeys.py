"""Sort, thread and preview keys of a message: pure functions of its bytes.

SORT and THREAD (RFC 5256, RFC 5957) compare a handful of values per
message; PREVIEW (RFC 8970) shows a line of its text. They are computed
once, at delivery or APPEND, from the stored analysis and the bytes
(DESIGN.md principle 2) and stored per blob, so a SORT of 100,000 messages
is a Python sort of precomputed values and never reads a message.

The strings that SORT compares are stored as *collation keys*: already put
through the comparator, so comparing them is comparing Python strings
(code point order, which is UTF-8 octet order). The comparator is
i;unicode-casemap (RFC 5051), as RFC 5256 section 7 requires and as Dovecot
does (``uni_utf8_to_decomposed_titlecase`` before ``strcmp``): each
character to its titlecase, then canonical decomposition. For ASCII that is
upper-casing, so "_x" sorts *after* "a" ('A' < '_'), the test that tells
it from lower-casing (tests/unit/mailstore/test_sortkeys.py).
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from hivemail.mime import MessageAnalysis, decode_bytes, decode_transfer, decode_words
from hivemail.mime.headers import decode_raw
from hivemail.mime.parse import PartInfo
from hivemail.mailstore.search import html_text

__all__ = [
    "SortKeys",
    "EMPTY_KEYS",
    "PREVIEW_CHARS",
    "base_subject",
    "casemap",
    "message_ids",
    "sort_keys",
    "preview",
    "keys_from_bytes",
]

#: RFC 8970 section 3: "no more than 256 characters".
PREVIEW_CHARS = 256
# Bytes of a text part decoded for its preview: far more than 256
# characters need, bounded whatever the part's size.
_PREVIEW_SOURCE = 64 * 1024


class SortKeys(NamedTuple):
    """What SORT and THREAD need of one message (all strings are collation
    keys except ``message_id`` / ``references``, which compare exactly)."""

    sent: int | None          # Date: in UTC seconds; None if missing or unparseable (RFC 5256 2.2)
    subject: str              # base subject (RFC 5256 2.1), casemapped
    reply: bool               # base-subject extraction removed a re/fwd marker (THREAD step 5)
    from_: str                # addr-mailbox of the first From address, casemapped
    to: str
    cc: str
    display_from: str         # RFC 5957 section 3 display value, casemapped
    display_to: str
    message_id: str | None    # normalised msg-id, None if missing or invalid
    references: tuple[str, ...]  # RFC 5256 REFERENCES: References, else first In-Reply-To


EMPTY_KEYS = SortKeys(None, "", False, "", "", "", "", "", None, ())


# ---------------------------------------------------------------------------
# i;unicode-casemap (RFC 5051)


def casemap(text: str) -> str:
    """The i;unicode-casemap collation key: titlecase, then canonical
    decomposition. Python's ``title()`` of one character is its *full*
    titlecase mapping; RFC 5051 uses the simple one, which is the character
    itself wherever the full mapping has more than one (ß, ŉ, ligatures)."""
    if text.isascii():
        return text.upper()
    out = []
    for ch in text:
        t = ch.title()
        out.append(t if len(t) == 1 else ch)
    return unicodedata.normalize("NFD", "".join(out))


# ---------------------------------------------------------------------------
# Base subject (RFC 5256 section 2.1)
#
# subj-refwd  = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
# subj-blob   = "[" *BLOBCHAR "]" *WSP
# subj-leader = (*subj-blob subj-refwd) / WSP
# subj-trailer = "(fwd)" / WSP
# subj-fwd-hdr = "[fwd:"   subj-fwd-trl = "]"
# BLOBCHAR    = %x01-5a / %x5c / %x5e-ff   ; any CHAR8 except '[' and ']'
#
# After step (1) the only white space left is single spaces.

_BLOB = r"\[[^\[\]\x00]*\] *"
_REFWD = re.compile(r"(?:" + _BLOB + r")*(?:re|fwd?) *(?:" + _BLOB + r")?:", re.I)
_BLOB_PREFIX = re.compile(_BLOB)
_WHITE = re.compile(r"[ \t\r\n]+")


def base_subject(subject: str) -> tuple[str, bool]:
    """(base subject, is it a reply or forward) for an RFC 2047-decoded subject.

    "A message is considered to be a reply or forward if the base subject
    extraction rules, applied to the original subject, remove any of the
    following: a subj-refwd, a "(fwd)" subj-trailer, or a subj-fwd-hdr and
    subj-fwd-trl" (RFC 5256 section 4, REFERENCES)."""
    # (1) tabs and continuations to space, runs of spaces to one
    s = _WHITE.sub(" ", subject)
    reply = False
    while True:
        # (2) trailing subj-trailer, as long as one matches
        while True:
            if s.endswith(" "):
                s = s.rstrip(" ")
            elif s[-5:].lower() == "(fwd)":
                s = s[:-5]
                reply = True
            else:
                break
        # (5) repeat (3) and (4) until neither removes anything
        while True:
            before = s
            # (3) every leading subj-leader
            while True:
                if s.startswith(" "):
                    s = s.lstrip(" ")
                    continue
                m = _REFWD.match(s)
                if m is None:
                    break
                s = s[m.end():]
                reply = True
            # (4) a leading subj-blob, if a non-empty subj-base remains
            m = _BLOB_PREFIX.match(s)
            if m is not None and s[m.end():].strip(" "):
                s = s[m.end():]
            if s == before:
                break
        # (6) "[fwd:" ... "]": remove both and go back to (2)
        if s[:5].lower() == "[fwd:" and s.endswith("]"):
            s = s[5:-1]
            reply = True
            continue
        return s, reply


# ---------------------------------------------------------------------------
# Message IDs (RFC 5322 section 3.6.4; RFC 5256: "MUST normalize any msg-id")
#
# msg-id   = [CFWS] "<" id-left "@" id-right ">" [CFWS]
# id-left  = dot-atom-text / no-fold-quote / obs-id-left
# id-right = dot-atom-text / no-fold-literal / obs-id-right

_ANGLE = re.compile(r"<([^<>]*)>")
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
_ATEXT_DOTS = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.\x80-\U0010ffff]+\Z")
_LITERAL = re.compile(r"\[[^\[\]\\]*\]\Z")
_AROUND_DOTS = re.compile(r"[ \t]*\.[ \t]*")


def _normal_id(inner: str) -> str | None:
    """``local@domain`` with quoting and folding white space removed (so
    <"01KF8JCEOCBS0045PS"@xxx.yyy.com> and <01KF8JCEOCBS0045PS@xxx.yyy.com>
    are the same ID), or None if ``inner`` is not an id-left "@" id-right."""
    inner = inner.strip(" \t\r\n")
    if inner.startswith('"'):
        end = 1
        while end < len(inner) and inner[end] != '"':
            end += 2 if inner[end] == "\\" else 1
        if end >= len(inner):
            return None
        local = _QUOTED_PAIR.sub(r"\1", inner[1:end])
        rest = inner[end + 1 :].lstrip(" \t")
        if not rest.startswith("@") or not local:
            return None
        domain = rest[1:].strip(" \t")
    else:
        local, at, domain = inner.rpartition("@")
        if not at:
            return None
        # obs-id-left allows white space around the dots; drop it.
        local = _AROUND_DOTS.sub(".", local.strip(" \t"))
        domain = domain.strip(" \t")
        if not _ATEXT_DOTS.match(local):
            return None
    domain = _AROUND_DOTS.sub(".", domain)
    if not domain or not (_ATEXT_DOTS.match(domain) or _LITERAL.match(domain)):
        return None
    return f"{local}@{domain}"


def message_ids(value: str | None) -> list[str]:
    """Every valid msg-id in a header value, normalised, in order."""
    if not value:
        return []
    out = []
    for m in _ANGLE.finditer(value):
        ident = _normal_id(m.group(1))
        if ident is not None:
            out.append(ident)
    return out


# ---------------------------------------------------------------------------
# Addresses


def _addr_mailbox(addresses) -> str:
    """[IMAP] addr-mailbox of the first address structure (RFC 5256 SORT
    FROM / TO / CC); a group's first structure names the group."""
    if not addresses:
        return ""
    mailbox = addresses[0].mailbox
    return decode_raw(mailbox) if mailbox else ""


def _display(addresses) -> str:
    """The DISPLAY sort value of the first address (RFC 5957 section 3)."""
    if not addresses:
        return ""
    a = addresses[0]
    if a.name is not None:
        name = decode_words(a.name)
        if name:
            return name
    if a.mailbox is not None and a.host is not None:
        return decode_raw(f"{a.mailbox}@{a.host}")
    if a.mailbox is not None:
        return decode_raw(a.mailbox)
    return ""


# ---------------------------------------------------------------------------
# The keys


def sort_keys(analysis: MessageAnalysis | None) -> SortKeys:
    """The keys of a message from its stored analysis (never raises)."""
    if analysis is None:
        return EMPTY_KEYS
    env = analysis.root.envelope
    sent = None
    if analysis.sent_date is not None:
        try:
            sent = int(analysis.sent_date.timestamp())
        except (OverflowError, ValueError, OSError):
            sent = None
    subject, reply = base_subject(analysis.subject)
    refs = []
    values = analysis.header_values("references")
    if values:
        refs = message_ids(values[0])
    if not refs:
        # "use the first (if any) valid Message ID found in the In-Reply-To
        # header line as the only reference" (RFC 5256 REFERENCES)
        values = analysis.header_values("in-reply-to")
        refs = message_ids(values[0])[:1] if values else []
    ids = message_ids(analysis.header_values("message-id")[0]) if analysis.header_values("message-id") else []
    return SortKeys(
        sent=sent,
        subject=casemap(subject),
        reply=reply,
        from_=casemap(_addr_mailbox(env.from_ if env else None)),
        to=casemap(_addr_mailbox(env.to if env else None)),
        cc=casemap(_addr_mailbox(env.cc if env else None)),
        display_from=casemap(_display(env.from_ if env else None)),
        display_to=casemap(_display(env.to if env else None)),
        message_id=ids[0] if ids else None,
        references=tuple(refs),
    )


# ---------------------------------------------------------------------------
# PREVIEW (RFC 8970)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


def _leaf_text(raw: bytes, part: PartInfo) -> str:
    data = raw[part.body_start : min(part.body_end, part.body_start + _PREVIEW_SOURCE)]
    return decode_bytes(decode_transfer(data, part.encoding), part.charset)


def preview(analysis: MessageAnalysis | None, raw: bytes) -> str:
    """Up to 256 characters of the message's leading text, white space
    collapsed: from the first text/plain part that is not an attachment,
    else the first text/html one reduced to its text (RFC 8970 section 3
    leaves the algorithm to the server; this is what Dovecot's and most
    clients' previews show). "" for a message with no text."""
    if analysis is None:
        return ""
    plain = html = None
    for part in analysis.walk():
        if part.children or part.message is not None or not part.is_text:
            continue
        if (part.disposition or "").lower() == "attachment":
            continue
        sub = part.media_subtype.lower()
        if sub == "plain":
            plain = part
            break
        if sub == "html" and html is None:
            html = part
    if plain is not None:
        text = _leaf_text(raw, plain)
    elif html is not None:
        text = html_text(_leaf_text(raw, html))
    else:
        return ""
    text = _SPACES.sub(" ", _CONTROL.sub(" ", text[: PREVIEW_CHARS * 8])).strip()
    if len(text) <= PREVIEW_CHARS:
        return text
    # Cut at a word boundary when one is near (Dovecot cuts on words too),
    # else mid-word: never more than 256 characters (RFC 8970 section 3).
    cut = text.rfind(" ", PREVIEW_CHARS - 40, PREVIEW_CHARS + 1)
    return text[:cut] if cut > 0 else text[:PREVIEW_CHARS]


def keys_from_bytes(analysis: bytes, raw: bytes) -> tuple[SortKeys, str]:
    """(sort keys, preview) from a stored analysis and the message bytes:
    what the store computes at delivery. An analysis this version cannot
    read gives empty keys (the message sorts as if it had no headers, as
    SEARCH treats it)."""
    try:
        a = MessageAnalysis.from_bytes(analysis)
    except Exception:
        return EMPTY_KEYS, ""
    try:
        return sort_keys(a), preview(a, raw)
    except Exception:  # a pure function of bytes: never fail a delivery for a sort key
        return EMPTY_KEYS, ""
