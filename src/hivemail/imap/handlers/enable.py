"""ENABLE (RFC 5161; IMAP4rev2 and UTF8=ACCEPT per RFC 9051 and RFC 6855;
CONDSTORE and QRESYNC per RFC 7162 section 3.2.3)."""

from __future__ import annotations

from hivemail.imap_proto import Enabled, Tagged

# What ENABLE can switch on; anything else is ignored, as RFC 5161 3.1 asks.
SUPPORTED = ("IMAP4REV2", "UTF8=ACCEPT", "CONDSTORE", "QRESYNC")
_SPELLING = {"IMAP4REV2": "IMAP4rev2"}


async def enable(session, tag: str, request) -> Tagged:
    newly = []
    before = set(session.enabled)
    for cap in request.capabilities:
        name = cap.upper()
        if name not in SUPPORTED or name in before or _SPELLING.get(name, name) in newly:
            continue
        if name in ("CONDSTORE", "QRESYNC"):
            # QRESYNC implies CONDSTORE ("ENABLE QRESYNC" and "ENABLE
            # QRESYNC CONDSTORE" have identical results, RFC 7162 3.2.3).
            session.enable_condstore()
        session.enabled.add(name)
        newly.append(_SPELLING.get(name, name))
    # Sending ENABLED switches the core's version / UTF-8 mode (h11's rule:
    # state changes with what the server sends).
    session.send(Enabled(tuple(newly)))
    return Tagged.ok(tag, "ENABLE completed")
