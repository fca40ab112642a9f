"""ENVELOPE, BODY and BODYSTRUCTURE values (RFC 9051 section 7.5.2).

Pure formatting of a stored ``MessageAnalysis`` (or one of its parts);
nothing here parses the message again.  The output matches Dovecot's
(lib-imap imap-envelope.c / imap-bodystructure.c) byte for byte on the
fixture corpus, except where noted in tests/dovecot_compare.

Grammar (RFC 9051 section 9), quoted where it is produced:

    envelope        = "(" env-date SP env-subject SP env-from SP
                      env-sender SP env-reply-to SP env-to SP env-cc SP
                      env-bcc SP env-in-reply-to SP env-message-id ")"
    address         = "(" addr-name SP addr-adl SP addr-mailbox SP
                      addr-host ")"
    body            = "(" (body-type-1part / body-type-mpart) ")"
    body-type-1part = (body-type-basic / body-type-msg / body-type-text)
                      [SP body-ext-1part]
    body-type-basic = media-basic SP body-fields
    body-type-msg   = media-message SP body-fields SP envelope
                      SP body SP body-fld-lines
    body-type-text  = media-text SP body-fields SP body-fld-lines
    body-fields     = body-fld-param SP body-fld-id SP body-fld-desc SP
                      body-fld-enc SP body-fld-octets
    body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
    body-ext-mpart  = body-fld-param [SP body-fld-dsp [SP body-fld-lang
                      [SP body-fld-loc *(SP body-extension)]]]
    body-ext-1part  = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
                      [SP body-fld-loc *(SP body-extension)]]]
    body-fld-param  = "(" string SP string *(SP string SP string) ")" / nil
    body-fld-dsp    = "(" string SP body-fld-param ")" / nil
    body-fld-lang   = nstring / "(" string *(SP string) ")"
"""

from __future__ import annotations

from hivemail.mime import MessageAnalysis, PartInfo
from hivemail.mime.addresses import Address
from hivemail.mime.headers import decode_words
from hivemail.mime.parse import Envelope

__all__ = ["envelope", "body", "part_body", "envelope_of", "nstring", "string_for_humans"]

# Dovecot (imap-quote.c) switches from a quoted string to a literal after
# four quoted-specials: past that a literal is shorter.  Same here, so our
# bytes match.
_MAX_QUOTED_ESCAPES = 4


def _literal(data: bytes) -> bytes:
    # literal = "{" number64 ["+"] "}" CRLF *CHAR8 ; CHAR8 excludes NUL
    return b"{%d}\r\n" % len(data) + data


def _quoted(data: bytes) -> bytes:
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def nstring(value: bytes | None, utf8: bool = False) -> bytes:
    """nstring = string / nil; string = quoted / literal  (RFC 9051 s9).

    quoted = DQUOTE *QUOTED-CHAR DQUOTE; QUOTED-CHAR is any TEXT-CHAR (not
    CR or LF) except quoted-specials, or "\\" quoted-specials.  So CR, LF
    and (without UTF8=ACCEPT, RFC 6855 section 3) 8-bit need a literal.
    NUL is not allowed even in a literal (CHAR8); it becomes 0x80 as
    Dovecot does.
    """
    if value is None:
        return b"NIL"
    if b"\0" in value:
        value = value.replace(b"\0", b"\x80")
    if b"\r" in value or b"\n" in value:
        return _literal(value)
    if not value.isascii() and not (utf8 and _is_utf8(value)):
        return _literal(value)
    if value.count(b'"') + value.count(b"\\") > _MAX_QUOTED_ESCAPES:
        return _literal(value)
    return _quoted(value)


def string_for_humans(value: bytes, utf8: bool = False) -> bytes:
    """A display string (subject, address name), cleaned like Dovecot's
    imap_append_string_for_humans(): TABs become spaces, runs of white
    space collapse to one, leading/trailing white space and CR/LF go, NUL
    becomes 0x80.  If the value had to change or holds quoted-specials or
    8-bit, it is sent as a literal; otherwise as a quoted string.
    """
    out = bytearray()
    modified = False
    last_space = True  # drops leading white space
    for ch in value:
        if ch in (0x20, 0x09):
            if ch == 0x09 or last_space:
                modified = True
            if not last_space:
                out.append(0x20)
            last_space = True
        elif ch in (0x0D, 0x0A):
            modified = True
        elif ch == 0:
            out.append(0x80)
            modified = True
            last_space = False
        else:
            if ch in (0x22, 0x5C) or ch >= 0x80:
                modified = True
            out.append(ch)
            last_space = False
    if out and out[-1] == 0x20:
        del out[-1]
        modified = True
    data = bytes(out)
    if not data:
        return b'""'
    if not modified:
        return b'"' + data + b'"'
    if utf8 and _is_utf8(data) and data.count(b'"') + data.count(b"\\") <= _MAX_QUOTED_ESCAPES:
        return _quoted(data)
    return _literal(data)


def _raw(value: str) -> bytes:
    """Raw header text is carried as latin-1 (see hivemail.mime.headers)."""
    return value.encode("latin-1", "replace")


def _text(value: str | None, utf8: bool) -> bytes | None:
    """A raw header value as sent: encoded words kept, unless UTF8=ACCEPT
    is on, where RFC 6855 section 3 lets us send decoded UTF-8."""
    if value is None:
        return None
    if utf8:
        return decode_words(value).encode("utf-8")
    return _raw(value)


# --------------------------------------------------------------------------
# ENVELOPE
# --------------------------------------------------------------------------

def _address(a: Address, utf8: bool) -> bytes:
    name = b"NIL" if a.name is None else string_for_humans(_text(a.name, utf8) or b"", utf8)
    return b"(%s %s %s %s)" % (
        name,
        nstring(_text(a.adl, False), utf8),
        nstring(_text(a.mailbox, utf8), utf8),
        nstring(_text(a.host, utf8), utf8),
    )


def _address_list(addrs: tuple[Address, ...] | None, utf8: bool) -> bytes:
    # "If [a] header line is absent ... or ... present but empty, the
    # corresponding member of the envelope is NIL" (RFC 9051 s7.5.2).
    if not addrs:
        return b"NIL"
    return b"(" + b"".join(_address(a, utf8) for a in addrs) + b")"


def envelope_of(env: Envelope | None, utf8: bool = False) -> bytes:
    """ENVELOPE value for one message entity (root or message/rfc822 body)."""
    if env is None:
        return b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    subject = b"NIL" if env.subject is None else string_for_humans(_text(env.subject, utf8) or b"", utf8)
    # "sender" and "reply-to" default to "from" (RFC 9051 section 7.5.2:
    # "If the Sender or Reply-To lines are absent in the [RFC-5322]
    # header, or are present but empty, the server sets the corresponding
    # member of the envelope to be the same value as the from member").
    sender = env.sender or env.from_
    reply_to = env.reply_to or env.from_
    fields = [
        nstring(None if env.date is None else _raw(env.date), utf8),
        subject,
        _address_list(env.from_, utf8),
        _address_list(sender, utf8),
        _address_list(reply_to, utf8),
        _address_list(env.to, utf8),
        _address_list(env.cc, utf8),
        _address_list(env.bcc, utf8),
        nstring(None if env.in_reply_to is None else _raw(env.in_reply_to), utf8),
        nstring(None if env.message_id is None else _raw(env.message_id), utf8),
    ]
    return b"(" + b" ".join(fields) + b")"


def envelope(a: MessageAnalysis, utf8: bool = False) -> bytes:
    """The parenthesized ENVELOPE of the message."""
    return envelope_of(a.root.envelope, utf8)


# --------------------------------------------------------------------------
# BODY / BODYSTRUCTURE
# --------------------------------------------------------------------------

def _params(params: tuple[tuple[str, str], ...], add_charset: bool = False) -> bytes:
    items = [nstring(_raw(k)) + b" " + nstring(_raw(v)) for k, v in params]
    # Dovecot adds ("charset" "us-ascii") to text/* parts that lack one: it
    # is the RFC 2045 section 5.2 default, stated explicitly.
    if add_charset and not any(k.lower() == "charset" for k, _ in params):
        items.append(b'"charset" "us-ascii"')
    if not items:
        return b"NIL"
    return b"(" + b" ".join(items) + b")"


def _nstr(value: str | None) -> bytes:
    return nstring(None if value is None else _raw(value))


def _disposition(p: PartInfo) -> bytes:
    if p.disposition is None:
        return b"NIL"
    return b"(%s %s)" % (nstring(_raw(p.disposition)), _params(p.disposition_params))


def _language(p: PartInfo) -> bytes:
    if not p.language:
        return b"NIL"
    return b"(" + b" ".join(nstring(_raw(t)) for t in p.language) + b")"


def _ext_common(p: PartInfo) -> bytes:
    return b" %s %s %s" % (_disposition(p), _language(p), _nstr(p.location))


# A multipart without parts is not allowed by the grammar (1*body), so like
# Dovecot we describe an empty text/plain part in its place.
_EMPTY = b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0'


def part_body(p: PartInfo, extended: bool) -> bytes:
    """BODY (extended=False) or BODYSTRUCTURE (extended=True) of a part.

    For a whole message pass ``a.root``; for a message/rfc822 part's
    encapsulated message pass ``part.message``.
    """
    if p.is_multipart:
        if p.children:
            inner = b"".join(part_body(c, extended) for c in p.children)
        else:
            inner = _EMPTY + (b" NIL NIL NIL NIL)" if extended else b")")
        out = inner + b" " + nstring(_raw(p.media_subtype))
        if extended:
            out += b" " + _params(p.params) + _ext_common(p)
        return b"(" + out + b")"

    is_text = p.is_text
    fields = b"%s %s %s %s %s %s %d" % (
        nstring(_raw(p.media_type)),
        nstring(_raw(p.media_subtype)),
        _params(p.params, add_charset=is_text),
        _nstr(p.content_id),
        _nstr(p.description),
        nstring(_raw(p.encoding)) if p.encoding else b'"7bit"',
        p.size,
    )
    if p.message is not None:
        fields += b" %s %s %d" % (envelope_of(p.message.envelope), part_body(p.message, extended), p.lines)
    elif is_text:
        fields += b" %d" % p.lines
    if extended:
        fields += b" " + _nstr(p.md5) + _ext_common(p)
    return b"(" + fields + b")"


def body(a: MessageAnalysis, extended: bool) -> bytes:
    """BODY (extended=False) / BODYSTRUCTURE (extended=True) of the message."""
    return part_body(a.root, extended)
