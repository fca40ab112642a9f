"""UIDL formats (RFC 1939 section 7): a pure function of UIDVALIDITY and UID.

A UIDL must never change for a message, or clients that "leave mail on the
server" download everything again.  It is therefore derived from what never
changes for a message, its UIDVALIDITY and UID, never from flags or
position; a message migrated from another server may carry its old UIDL
(``MessageMeta.explicit_uidl``), which wins.

The presets are the defaults of the servers people migrate from:

* ``dovecot``: ``%08Xu%08Xv``, Dovecot's ``pop3_uidl_format`` default since
  1.0: UID then UIDVALIDITY, 8 upper-case hex digits each.
* ``cyrus``: ``%v.%u``, Cyrus's ``uidl_format: cyrus`` (its default since
  3.0, and the only format of Cyrus >= 2.1.4 before that).
* ``courier``: ``%v-%u`` (Courier v2 and Cyrus's ``uidl_format: courier``).
* ``uid``: ``%u`` (Cyrus <= 2.1.3, Cyrus's ``uidonly``).

A template takes ``%u`` (UID), ``%v`` (UIDVALIDITY), optionally with ``X``
or ``x`` for hex and a zero-padded width (``%08Xu``), and ``%%``: the subset
of Dovecot's syntax that these use.  Kept out of ``handlers.py`` because
config validation at start-up uses it too.
"""

from __future__ import annotations

import re
from collections.abc import Callable

PRESETS = {
    "dovecot": "%08Xu%08Xv",
    "cyrus": "%v.%u",
    "courier": "%v-%u",
    "uid": "%u",
}

_TOKEN = re.compile(r"%(?:(%)|(0?\d*)([Xx]?)([uv]))")
_UIDL_CHARS = re.compile(r"[\x21-\x7e]*\Z")


def compile_format(fmt: str) -> Callable[[int, int], str]:
    """``fmt`` (a preset name or a template) -> ``f(uidvalidity, uid) -> uidl``.

    Raises ``ValueError`` for a template that does not use both ``%u`` and
    ``%v`` or ``%u`` alone (anything else could repeat across messages), for
    an unknown ``%`` sequence, or for characters a UIDL may not hold.
    """
    template = PRESETS.get(fmt, fmt)
    parts: list[str | tuple[str, str, str]] = []
    pos = 0
    for m in _TOKEN.finditer(template):
        parts.append(template[pos:m.start()])
        parts.append("%" if m.group(1) else (m.group(2), m.group(3), m.group(4)))
        pos = m.end()
    rest = template[pos:]
    if "%" in rest or any(isinstance(p, str) and "%" in p and p != "%" for p in parts):
        raise ValueError(f"unknown %-sequence in UIDL format {fmt!r}")
    parts.append(rest)
    fields = {p[2] for p in parts if isinstance(p, tuple)}
    if "u" not in fields:
        raise ValueError(f"UIDL format {fmt!r} must contain %u")
    literal = "".join(p for p in parts if isinstance(p, str))
    if not _UIDL_CHARS.match(literal):
        raise ValueError(f"UIDL format {fmt!r} has characters a UIDL may not hold")
    py = "".join(
        p.replace("{", "{{").replace("}", "}}") if isinstance(p, str)
        else "{%s:%s%s}" % ("uid" if p[2] == "u" else "uidvalidity", p[0], {"X": "X", "x": "x", "": "d"}[p[1]])
        for p in parts
    )

    def uidl(uidvalidity: int, uid: int) -> str:
        return py.format(uid=uid, uidvalidity=uidvalidity)

    return uidl
