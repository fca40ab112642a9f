"""SMTP and LMTP command lines: split, parse, and the ESMTP parameters we support.

Pure functions over one command line (already stripped of its CRLF and
decoded).  A parse error is a :class:`CommandError` carrying the exact reply
to send; the connection sends it and counts it against ``max_errors``.

RFC 5321 section 4.1.1 and 4.1.2 (grammar quoted above each regex).  Verbs
are case-insensitive (section 2.4).  Where real clients deviate harmlessly we
are lenient and say so: a space after ``FROM:``/``TO:`` (``MAIL FROM: <a@b>``,
sent by some Outlook and PHP mailers), several spaces between parameters,
trailing spaces, and a bare LF instead of CRLF ending the *command* line (the
data terminator is never relaxed, see ``data.py``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from .replies import Reply

__all__ = [
    "CommandError",
    "MailCommand",
    "RcptCommand",
    "split_command",
    "parse_hello",
    "parse_mail",
    "parse_rcpt",
    "parse_params",
    "parse_path",
    "MAIL_PARAMETERS",
    "RCPT_PARAMETERS",
]


class CommandError(Exception):
    """A command line the core rejects; ``reply`` is what to answer."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


@dataclass(frozen=True)
class MailCommand:
    """MAIL FROM:<reverse-path> [params].  ``address`` is ``""`` for the null path ``<>``."""

    address: str
    params: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class RcptCommand:
    """RCPT TO:<forward-path> [params]."""

    address: str
    params: dict[str, str | None] = field(default_factory=dict)


# -- the line -----------------------------------------------------------------

# command = verb [ SP argument ].  The verb is a Keyword (Ldh-str); an
# unknown or malformed verb is simply "not recognized" (500) upstream.
def split_command(line: str) -> tuple[str, str]:
    """``"mail FROM:<a@b>"`` -> ``("MAIL", "FROM:<a@b>")``; extra spaces dropped."""
    verb, _, arg = line.strip(" ").partition(" ")
    return verb.upper(), arg.strip(" ")


# -- addresses (RFC 5321 section 4.1.2, extended by RFC 6531 section 3.3) ------

# UTF8-non-ascii (RFC 6531 section 3.3): added to atext, qtextSMTP, sub-domain
# (as U-label) and esmtp-value.  The regexes always accept it; whether it is
# *allowed* depends on the SMTPUTF8 parameter and is checked afterwards so
# the client gets the specific 550/553 5.6.7 instead of a generic 501.
_U = "\u0080-\U0010ffff"

# atext = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" /
#         "/" / "=" / "?" / "^" / "_" / "`" / "{" / "|" / "}" / "~"  (RFC 5322)
# Dot-string = Atom *("." Atom);  Atom = 1*atext
_ATEXT = rf"[A-Za-z0-9!#$%&'*+\-/=?^_`{{|}}~{_U}]"
_DOT_STRING = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
# Quoted-string = DQUOTE *QcontentSMTP DQUOTE
# QcontentSMTP = qtextSMTP / quoted-pairSMTP
# quoted-pairSMTP = %d92 %d32-126;  qtextSMTP = %d32-33 / %d35-91 / %d93-126
_QUOTED = rf'"(?:[\x20\x21\x23-\x5b\x5d-\x7e{_U}]|\\[\x20-\x7e])*"'
# sub-domain = Let-dig [Ldh-str];  Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig
# Domain = sub-domain *("." sub-domain)
_LET_DIG = rf"[A-Za-z0-9{_U}]"
_SUB_DOMAIN = rf"{_LET_DIG}(?:[A-Za-z0-9\-{_U}]*{_LET_DIG})?"
_DOMAIN = rf"{_SUB_DOMAIN}(?:\.{_SUB_DOMAIN})*"
# address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
#                         General-address-literal ) "]"      (section 4.1.3)
# General-address-literal = Standardized-tag ":" 1*dcontent
# dcontent = %d33-90 / %d94-126   ; printable US-ASCII excl. "[", "\", "]"
_ADDRESS_LITERAL = r"\[[\x21-\x5a\x5e-\x7e]+\]"
# Mailbox = Local-part "@" ( Domain / address-literal )
_MAILBOX = rf"(?P<local>{_DOT_STRING}|{_QUOTED})@(?P<domain>{_DOMAIN}|{_ADDRESS_LITERAL})"
# Path = "<" [ A-d-l ":" ] Mailbox ">"
# A-d-l = At-domain *( "," At-domain )   ; source route: MUST be accepted,
# At-domain = "@" Domain                 ; SHOULD be ignored (section 4.1.2)
_PATH = re.compile(rf"<(?:@{_DOMAIN}(?:,@{_DOMAIN})*:)?{_MAILBOX}>")

_NON_ASCII = re.compile(rf"[{_U}]")
_IPV4 = re.compile(r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}\Z")
_TAG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\Z")
_DOT_STRING_FULL = re.compile(rf"{_DOT_STRING}\Z")
_QUOTED_PAIR = re.compile(r"\\(.)")
# RFC 5321 section 3.3 and 4.5.1: "RCPT TO:<Postmaster>" without a domain
# MUST be accepted (case-insensitive).
_POSTMASTER = re.compile(r"<postmaster>", re.IGNORECASE)
# A domain label is at most 63 octets, a domain name at most 255 (section 4.5.3.1.2);
# the path, brackets included, at most 256 (section 4.5.3.1.3).
_MAX_PATH = 256


def _check_address_literal(literal: str) -> bool:
    inner = literal[1:-1]
    # IPv4-address-literal = Snum 3("." Snum)
    if _IPV4.match(inner):
        return True
    tag, colon, value = inner.partition(":")
    if not colon or not value or not _TAG.match(tag):
        return False
    # IPv6-address-literal = "IPv6:" IPv6-addr  (the tag is case-insensitive)
    if tag.lower() == "ipv6":
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return False
    return True


def _canonical_local_part(local: str) -> str:
    """All quoted forms are equivalent (section 4.1.2): unquote when a Dot-string
    says the same, otherwise quote minimally, so lookups see one spelling."""
    if not local.startswith('"'):
        return local
    content = _QUOTED_PAIR.sub(r"\1", local[1:-1])
    if _DOT_STRING_FULL.match(content):
        return content
    return '"' + content.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_path(text: str, *, null_ok: bool, postmaster_ok: bool = False) -> tuple[str, str]:
    """Parse a Path at the start of ``text``; return ``(address, rest)``.

    Reverse-path = Path / "<>"  (``null_ok``);  the address of ``<>`` is ``""``.
    Raises ``ValueError`` on bad syntax.
    """
    if null_ok and text.startswith("<>"):
        return "", text[2:]
    if postmaster_ok:
        m = _POSTMASTER.match(text)
        if m:
            return text[1 : m.end() - 1], text[m.end() :]
    m = _PATH.match(text)
    if m is None or m.end() > _MAX_PATH:
        raise ValueError("bad path")
    domain = m["domain"]
    if domain.startswith("["):
        if not _check_address_literal(domain):
            raise ValueError("bad address literal")
    elif len(domain) > 255 or any(len(label) > 63 for label in domain.split(".")):
        raise ValueError("domain too long")
    return f"{_canonical_local_part(m['local'])}@{domain}", text[m.end() :]


# -- ESMTP parameters ------------------------------------------------------------

# esmtp-param   = esmtp-keyword ["=" esmtp-value]
# esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
# esmtp-value   = 1*(%d33-60 / %d62-126)   ; =/ UTF8-non-ascii (RFC 6531)
_PARAM = re.compile(rf"(?P<key>[A-Za-z0-9][A-Za-z0-9-]*)(?:=(?P<value>[\x21-\x3c\x3e-\x7e{_U}]+))?\Z")

#: MAIL parameters we implement, and how each value is checked.
#:   SIZE=1*20DIGIT                       RFC 1870 section 3 and 6
#:   BODY=7BIT / 8BITMIME                 RFC 6152 section 2 (BINARYMIME needs CHUNKING)
#:   SMTPUTF8 (no value)                  RFC 6531 section 3.4
MAIL_PARAMETERS = frozenset({"SIZE", "BODY", "SMTPUTF8"})
#: RCPT parameters we implement: none (no DSN: NOTIFY/ORCPT are not advertised).
RCPT_PARAMETERS: frozenset[str] = frozenset()

_SIZE = re.compile(r"[0-9]{1,20}\Z")


def parse_params(text: str, allowed: frozenset[str]) -> dict[str, str | None]:
    """``"SIZE=10  BODY=8bitmime"`` -> ``{"SIZE": "10", "BODY": "8BITMIME"}``.

    Keywords are case-insensitive and returned upper-case.  An unknown keyword
    is 555 5.5.4 (RFC 5321 section 4.1.1.11: "parameters not recognized or
    not implemented"); a malformed or repeated one is 501 5.5.4.
    """
    params: dict[str, str | None] = {}
    for token in text.split(" "):
        if not token:
            continue  # several spaces between parameters: tolerated
        m = _PARAM.match(token)
        if m is None:
            raise CommandError(Reply(501, "5.5.4", f"Syntax error in parameter: {token}"))
        key, value = m["key"].upper(), m["value"]
        if key not in allowed:
            raise CommandError(Reply(555, "5.5.4", f"Unsupported parameter: {key}"))
        if key in params:
            raise CommandError(Reply(501, "5.5.4", f"Duplicate parameter: {key}"))
        params[key] = _check_param(key, value)
    return params


def _check_param(key: str, value: str | None) -> str | None:
    if key == "SIZE":
        if value is None or not _SIZE.match(value):
            raise CommandError(Reply(501, "5.5.4", "Bad SIZE parameter"))
        return value
    if key == "BODY":
        if value is None or value.upper() not in ("7BIT", "8BITMIME"):
            raise CommandError(Reply(501, "5.5.4", "Unsupported BODY type"))
        return value.upper()
    if key == "SMTPUTF8":
        if value is not None:
            raise CommandError(Reply(501, "5.5.4", "SMTPUTF8 takes no value"))
        return None
    raise AssertionError(key)  # pragma: no cover - the allowed sets list only these


# -- the commands ----------------------------------------------------------------


def parse_hello(arg: str) -> str:
    """ehlo = "EHLO" SP ( Domain / address-literal ) CRLF   (section 4.1.1.1)

    Lenient: the first word is taken as is, without checking it is a domain
    (clients behind NAT send all sorts; RFC 5321 section 4.1.4 forbids
    refusing a message over a mismatching EHLO anyway).  It must be present.
    """
    if not arg:
        raise CommandError(Reply(501, "5.5.4", "Syntax: EHLO hostname"))
    return arg.split(" ", 1)[0]


_MAIL_FROM = re.compile(r"FROM: *", re.IGNORECASE)
_RCPT_TO = re.compile(r"TO: *", re.IGNORECASE)


def _split_path_and_params(rest: str) -> str:
    if rest and not rest.startswith(" "):
        raise ValueError("no space before parameters")
    return rest


def parse_mail(arg: str) -> MailCommand:
    """mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF   (section 4.1.1.2)

    A non-ASCII address without the SMTPUTF8 parameter is refused with
    550 5.6.7 (RFC 6531 section 3.5).
    """
    m = _MAIL_FROM.match(arg)
    if m is None:
        raise CommandError(Reply(501, "5.5.4", "Syntax: MAIL FROM:<address>"))
    try:
        address, rest = parse_path(arg[m.end() :], null_ok=True)
        rest = _split_path_and_params(rest)
    except ValueError:
        raise CommandError(Reply(501, "5.1.7", "Bad sender address syntax")) from None
    params = parse_params(rest, MAIL_PARAMETERS)
    if "SMTPUTF8" not in params and (_NON_ASCII.search(address) or _NON_ASCII.search(rest)):
        raise CommandError(Reply(550, "5.6.7", "Non-ASCII addresses require SMTPUTF8"))
    return MailCommand(address, params)


def parse_rcpt(arg: str, *, smtputf8: bool) -> RcptCommand:
    """rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
                           Forward-path ) [SP Rcpt-parameters] CRLF   (section 4.1.1.3)

    ``smtputf8``: the transaction's MAIL carried SMTPUTF8; without it a
    non-ASCII recipient is 553 5.6.7 (RFC 6531 section 3.5).
    """
    m = _RCPT_TO.match(arg)
    if m is None:
        raise CommandError(Reply(501, "5.5.4", "Syntax: RCPT TO:<address>"))
    try:
        address, rest = parse_path(arg[m.end() :], null_ok=False, postmaster_ok=True)
        rest = _split_path_and_params(rest)
    except ValueError:
        raise CommandError(Reply(501, "5.1.3", "Bad recipient address syntax")) from None
    params = parse_params(rest, RCPT_PARAMETERS)
    if not smtputf8 and _NON_ASCII.search(address):
        raise CommandError(Reply(553, "5.6.7", "Non-ASCII addresses require SMTPUTF8"))
    return RcptCommand(address, params)
