"""Mailbox and account names: validation and canonical form, shared by backends.

A mailbox name is a sequence of levels joined by :data:`~hivemail.mailstore.types.SEPARATOR`.
Every backend calls :func:`mailbox_name` on every name a client gives before
looking anything up, so that ``inbox``, ``Inbox`` and ``INBOX`` are one
mailbox (RFC 9051 section 5.1: "INBOX" is case-insensitive) and so that no
name can smuggle in something a later layer might misread.

Names never become file-system paths in hivemail (the embedded store keeps
mailboxes as index rows, messages as content-addressed files), so "escaping"
here means names that look like paths or confuse the hierarchy: empty
levels (``a//b``, ``/a``, ``a/``), ``.`` and ``..`` levels, control
characters, and the LIST wildcards ``*`` and ``%``, which RFC 9051 section
5.1 advises against because such a mailbox cannot be listed by itself.
Dovecot refuses the same set (``mailbox_verify_name()``).
"""

from __future__ import annotations

from collections.abc import Iterator

from hivemail.mailstore.errors import ErrorKind, MailError
from hivemail.mailstore.types import SEPARATOR

INBOX = "INBOX"

# Limits on a full name. Dovecot's defaults are similar (MAILBOX_LIST_NAME_MAX_LENGTH
# is 4096 octets, with a 255-octet level limit imposed by file systems);
# we are stricter on the total because names are sent in every LIST.
MAX_NAME_LENGTH = 1024      # octets of UTF-8
MAX_LEVEL_LENGTH = 255      # octets of UTF-8
MAX_DEPTH = 32              # levels

_FORBIDDEN = frozenset("*%") | frozenset(chr(c) for c in range(0x20)) | {"\x7f"}


def _bad(name: str, why: str) -> MailError:
    return MailError(ErrorKind.BAD_NAME, f"bad mailbox name {name!r}: {why}")


def mailbox_name(name: str) -> str:
    """Return the canonical form of ``name`` or raise MailError(BAD_NAME).

    The canonical form differs from the input only in the first level: any
    case of ``inbox`` becomes ``INBOX`` (so ``inbox/sub`` is ``INBOX/sub``).
    Every other level is case-sensitive and kept as given.
    """
    if not isinstance(name, str) or not name:
        raise _bad(str(name), "empty")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad(name, "not valid Unicode") from None
    if len(encoded) > MAX_NAME_LENGTH:
        raise _bad(name[:40] + "...", "too long")
    bad = _FORBIDDEN.intersection(name)
    if bad:
        raise _bad(name, "forbidden character " + repr("".join(sorted(bad))))
    levels = name.split(SEPARATOR)
    if len(levels) > MAX_DEPTH:
        raise _bad(name, "too deep")
    for level in levels:
        if not level:
            raise _bad(name, "empty hierarchy level")
        if level in (".", ".."):
            raise _bad(name, "'.' or '..' level")
        if len(level.encode("utf-8")) > MAX_LEVEL_LENGTH:
            raise _bad(name, "level too long")
    if levels[0].upper() == INBOX:
        levels[0] = INBOX
    return SEPARATOR.join(levels)


def is_inbox(canonical: str) -> bool:
    return canonical == INBOX


def parents(canonical: str) -> Iterator[str]:
    """The proper ancestors of a canonical name, outermost first:
    ``a/b/c`` -> ``a``, ``a/b``."""
    levels = canonical.split(SEPARATOR)
    for i in range(1, len(levels)):
        yield SEPARATOR.join(levels[:i])


def is_descendant(canonical: str, ancestor: str) -> bool:
    return canonical.startswith(ancestor + SEPARATOR)


def account_name(name: str) -> str:
    """The canonical account name (a lower-cased address) or MailError(BAD_NAME).

    Addresses are compared case-insensitively throughout the store, which is
    what users expect even though RFC 5321 leaves local parts case-sensitive.
    """
    if not isinstance(name, str):
        raise MailError(ErrorKind.BAD_NAME, "account name must be a string")
    canonical = name.strip().lower()
    if not canonical or len(canonical) > 320:
        raise MailError(ErrorKind.BAD_NAME, f"bad account name {name!r}")
    if any(c.isspace() or ord(c) < 0x20 or c in '/\\"<>,;' for c in canonical):
        raise MailError(ErrorKind.BAD_NAME, f"bad account name {name!r}")
    if canonical.count("@") > 1 or canonical.startswith("@") or canonical.endswith("@"):
        raise MailError(ErrorKind.BAD_NAME, f"bad account name {name!r}")
    return canonical


def domain_of(account: str) -> str | None:
    return account.rpartition("@")[2] if "@" in account else None
