"""RFC 5322 address lists, as IMAP ENVELOPE wants them.

    address-list    = (address *("," address)) / obs-addr-list
    address         = mailbox / group
    mailbox         = name-addr / addr-spec
    name-addr       = [display-name] angle-addr
    angle-addr      = [CFWS] "<" addr-spec ">" [CFWS] / obs-angle-addr
    obs-angle-addr  = [CFWS] "<" obs-route addr-spec ">" [CFWS]
    group           = display-name ":" [group-list] ";" [CFWS]
    addr-spec       = local-part "@" domain                 (RFC 5322 s3.4)

The result is flat, in the shape of RFC 9051 section 7.5.2's address
structure: ``Address(name, adl, mailbox, host)``.  A group is a start
marker ``(None, None, group-name, None)``, its members, and an end marker
``(None, None, None, None)`` ("[RFC-5322] group syntax is indicated by a
special form of address structure in which the host name field is NIL").

Values are raw latin-1 carried strings: display names keep their RFC 2047
encoded words (ENVELOPE sends them as-is) and 8-bit bytes survive.  Quotes
are removed and quoted-pairs unescaped, comments are dropped, except that
a comment after a bare addr-spec becomes the name when there is no other
(``user@host (Real Name)``, as c-client and Dovecot do).

Broken input never raises.  A mailbox with no local part becomes
``MISSING_MAILBOX`` and one with no domain ``MISSING_DOMAIN``: the markers
UW c-client introduced and Dovecot kept, so clients already know them.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["Address", "parse_address_list", "MISSING_MAILBOX", "MISSING_DOMAIN"]

MISSING_MAILBOX = "MISSING_MAILBOX"
MISSING_DOMAIN = "MISSING_DOMAIN"

# Bound the work on pathological headers (a 10 MB To: line); addresses past
# this many are dropped from the ENVELOPE but stay searchable as header text.
MAX_ADDRESSES = 10_000


class Address(NamedTuple):
    name: str | None
    adl: str | None
    mailbox: str | None
    host: str | None

    @property
    def is_group_start(self) -> bool:
        return self.host is None and self.mailbox is not None and self.name is None and self.adl is None

    @property
    def is_group_end(self) -> bool:
        return self == (None, None, None, None)


_SPECIALS = frozenset('()<>[]:;@\\,."')
_WSP = re.compile(r"[ \t\r\n]+")
_ATOM_RUN = re.compile(r'[^()<>\[\]:;@\\,." \t\r\n]+')
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)(?:"|\\?$)', re.S)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
_COMMENT_STOP = re.compile(r"[()\\]")


class _Lexer:
    """Tokens: ("w", text) for atoms/quoted strings, ("d", text) for domain
    literals, ("c", text) for comments, (char, char) for specials; each with
    a flag telling whether whitespace/comment preceded it."""

    def __init__(self, s: str) -> None:
        self.s = s
        self.i = 0
        self.n = len(s)
        self.tokens: list[tuple[str, str, bool]] = []
        self._lex()
        self.pos = 0

    def _lex(self) -> None:
        # Runs of ordinary characters are matched with regexes so a 10 MB
        # header costs C-speed scans, not a Python step per character.
        s, n = self.s, self.n
        i = 0
        space = False
        toks = self.tokens
        while i < n:
            c = s[i]
            if c in " \t\r\n":
                i = _WSP.match(s, i).end()
                space = True
            elif c == "(":
                depth, j, buf = 0, i, []
                while j < n:
                    m = _COMMENT_STOP.search(s, j)
                    if m is None:
                        buf.append(s[j:])
                        j = n
                        break
                    buf.append(s[j : m.start()])
                    j = m.start()
                    ch = s[j]
                    if ch == "\\":
                        buf.append(s[j + 1 : j + 2])
                        j += 2
                        continue
                    if ch == "(":
                        depth += 1
                        if depth > 1:
                            buf.append(ch)
                    else:
                        depth -= 1
                        if depth == 0:
                            j += 1
                            break
                        buf.append(ch)
                    j += 1
                toks.append(("c", "".join(buf), space))
                space = True
                i = j
            elif c == '"':
                m = _QUOTED.match(s, i)
                text = _QUOTED_PAIR.sub(r"\1", m.group(1)).replace("\r", "").replace("\n", "")
                toks.append(("q", text, space))
                space = False
                i = m.end()
            elif c == "[":
                j = s.find("]", i)
                j = n if j < 0 else j + 1
                toks.append(("d", s[i:j], space))
                space = False
                i = j
            elif c in _SPECIALS:
                toks.append((c, c, space))
                space = False
                i += 1
            else:
                j = _ATOM_RUN.match(s, i).end()
                toks.append(("w", s[i:j], space))
                space = False
                i = j

    def peek(self) -> tuple[str, str, bool] | None:
        while self.pos < len(self.tokens) and self.tokens[self.pos][0] == "c":
            self.pos += 1
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self) -> tuple[str, str, bool] | None:
        t = self.peek()
        if t is not None:
            self.pos += 1
        return t

    def trailing_comment(self) -> str | None:
        """A comment directly at the current position (before skipping)."""
        last = None
        while self.pos < len(self.tokens) and self.tokens[self.pos][0] == "c":
            last = self.tokens[self.pos][1]
            self.pos += 1
        return last


def _phrase(lx: _Lexer, stop: str) -> tuple[str, bool]:
    """Collect words, dots and stray specials until one in *stop*.

    Returns (text, quoted_seen).  Whitespace between tokens in the source
    becomes one space, so "B. Person" and "Andr=?..?= Pirard" survive.
    """
    out: list[str] = []
    while True:
        t = lx.peek()
        if t is None or t[0] in stop:
            break
        lx.next()
        kind, text, space = t
        if out and space:
            out.append(" ")
        out.append(text)
    return "".join(out), False


def _addr_spec_from(local: str, lx: _Lexer, stop: str) -> tuple[str, str | None]:
    """After a local part: optional "@" domain.  Returns (mailbox, host)."""
    t = lx.peek()
    if t is not None and t[0] == "@":
        lx.next()
        parts: list[str] = []
        while True:
            t = lx.peek()
            if t is None or t[0] in stop:
                break
            lx.next()
            if t[0] == "@":
                continue
            parts.append(t[1])
        host = "".join(parts)
        return local, host or None
    return local, None


def _angle(lx: _Lexer) -> tuple[str | None, str | None, str | None]:
    """After "<": [obs-route] addr-spec ">" -> (adl, mailbox, host)."""
    adl = None
    t = lx.peek()
    if t is not None and t[0] == "@":
        # obs-route = obs-domain-list ":"   (RFC 5322 s4.4)
        route: list[str] = []
        while True:
            t = lx.peek()
            if t is None or t[0] in ">":
                break
            lx.next()
            if t[0] == ":":
                break
            route.append(t[1])
        adl = "".join(route) or None
    local = []
    while True:
        t = lx.peek()
        if t is None or t[0] in "@>":
            break
        lx.next()
        local.append(t[1])
    mailbox, host = _addr_spec_from("".join(local), lx, ">")
    t = lx.peek()
    if t is not None and t[0] == ">":
        lx.next()
    return adl, mailbox, host


def _mailbox(lx: _Lexer, stop: str) -> Address | None:
    """One mailbox (name-addr or addr-spec); None if nothing was there."""
    start = lx.pos
    name, _ = _phrase(lx, "<@" + stop)
    t = lx.peek()
    if t is not None and t[0] == "<":
        lx.next()
        adl, mailbox, host = _angle(lx)
        return Address(name or None, adl, mailbox or MISSING_MAILBOX, host or MISSING_DOMAIN)
    if t is not None and t[0] == "@":
        # addr-spec: the "phrase" was the local part; re-read it without
        # inserted spaces (obs-local-part allows CFWS between words)
        local = "".join(tok[1] for tok in lx.tokens[start:lx.pos] if tok[0] != "c")
        mailbox, host = _addr_spec_from(local, lx, "<>,;" + stop)
        comment = lx.trailing_comment()
        if comment is None:
            # a comment before the next separator, e.g. "a@b (Name) ,"
            comment = _last_comment(lx, start)
        return Address(comment or None, None, mailbox or MISSING_MAILBOX, host or MISSING_DOMAIN)
    if not name:
        if lx.pos == start:
            return None
        return None
    # a bare word with no "@": a local part without a domain
    comment = _last_comment(lx, start)
    return Address(comment or None, None, name.replace(" ", ""), MISSING_DOMAIN)


def _last_comment(lx: _Lexer, start: int) -> str | None:
    for tok in reversed(lx.tokens[start : lx.pos]):
        if tok[0] == "c":
            return tok[1].strip() or None
    return None


def parse_address_list(value: str) -> list[Address]:
    """Parse an unfolded raw address-list header value; never raises."""
    lx = _Lexer(value)
    out: list[Address] = []
    while len(out) < MAX_ADDRESSES:
        t = lx.peek()
        if t is None:
            break
        if t[0] in ",;>":
            lx.next()
            continue
        save = lx.pos
        name, _ = _phrase(lx, "<@:,;")
        t = lx.peek()
        if t is not None and t[0] == ":":
            lx.next()
            out.append(Address(None, None, name, None))
            while len(out) < MAX_ADDRESSES:
                t = lx.peek()
                if t is None:
                    break
                if t[0] == ";":
                    lx.next()
                    break
                if t[0] in ",:":
                    lx.next()
                    continue
                before = lx.pos
                addr = _mailbox(lx, ",;")
                if addr is not None:
                    out.append(addr)
                if lx.pos == before:
                    lx.next()
            out.append(Address(None, None, None, None))
            continue
        lx.pos = save
        before = lx.pos
        addr = _mailbox(lx, ",;")
        if addr is not None:
            out.append(addr)
        if lx.pos == before:
            lx.next()
    return out
