"""RFC 9051 section 9 character classes and small productions, as regexes.

The ABNF is quoted above each regex (as in h11's ``_abnf.py``).  Everything
here works on ``bytes``: the wire is bytes, and deciding where text is UTF-8
belongs to the parsers that know the connection's mode.
"""

from __future__ import annotations

import re

__all__ = [
    "ATOM",
    "ASTRING_CHARS",
    "TAG",
    "LIST_MAILBOX",
    "NUMBER",
    "LITERAL_MARKER",
    "FLAG",
    "is_atom",
    "is_astring_chars",
    "is_tag",
]

# CHAR            = %x01-7F
# CTL             = %x00-1F / %x7F
# atom-specials   = "(" / ")" / "{" / SP / CTL / list-wildcards /
#                   quoted-specials / resp-specials
# list-wildcards  = "%" / "*"
# quoted-specials = DQUOTE / "\"
# resp-specials   = "]"
# ATOM-CHAR       = <any CHAR except atom-specials>
# atom            = 1*ATOM-CHAR
_ATOM_CHAR = rb"[^(){ \x00-\x1f\x7f%*\"\\\]\x80-\xff]"
ATOM = re.compile(_ATOM_CHAR + rb"+")

# ASTRING-CHAR    = ATOM-CHAR / resp-specials
# astring         = 1*ASTRING-CHAR / string
ASTRING_CHARS = re.compile(rb"(?:" + _ATOM_CHAR + rb"|\])+")

# tag             = 1*<any ASTRING-CHAR except "+">
TAG = re.compile(rb"[^(){ \x00-\x1f\x7f%*\"\\\x80-\xff+]+")

# list-char       = ATOM-CHAR / list-wildcards / resp-specials
# list-mailbox    = 1*list-char / string
LIST_MAILBOX = re.compile(rb"(?:" + _ATOM_CHAR + rb"|[%*\]])+")

# number          = 1*DIGIT   ; unsigned 32-bit (number64: 63-bit)
NUMBER = re.compile(rb"[0-9]+")

# literal         = "{" number64 ["+"] "}" CRLF *CHAR8   (RFC 9051, RFC 7888)
# literal8        = "~{" number64 ["+"] "}" CRLF *OCTET  (RFC 3516 section 4.2)
# The marker must end the line: a literal's data follows the CRLF.
LITERAL_MARKER = re.compile(rb"(~?)\{([0-9]{1,20})(\+?)\}\r?\Z")

# flag            = "\Answered" / ... / flag-keyword / flag-extension
# flag-keyword    = "$MDNSent" / "$Forwarded" / ... / atom
# flag-extension  = "\" atom
FLAG = re.compile(rb"\\?" + _ATOM_CHAR + rb"+")

MAX_NUMBER = 0xFFFFFFFF  # number, nz-number: 32-bit unsigned
MAX_NUMBER64 = 0x7FFFFFFFFFFFFFFF  # number64: 63-bit (RFC 9051 section 9)


def is_atom(value: str | bytes) -> bool:
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    return ATOM.fullmatch(data) is not None


def is_astring_chars(value: str | bytes) -> bool:
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    return ASTRING_CHARS.fullmatch(data) is not None


def is_tag(value: bytes) -> bool:
    return TAG.fullmatch(value) is not None
