"""ENABLE (RFC 5161; IMAP4rev2 and UTF8=ACCEPT per RFC 9051 and RFC 6855)."""

from __future__ import annotations

from hivemail.imap_proto import Enabled, Tagged

# What ENABLE can switch on; anything else is ignored, as RFC 5161 3.1 asks.
SUPPORTED = ("IMAP4REV2", "UTF8=ACCEPT")


async def enable(session, tag: str, request) -> Tagged:
    newly = []
    for cap in request.capabilities:
        name = cap.upper()
        if name in SUPPORTED and name not in session.enabled:
            session.enabled.add(name)
            newly.append("IMAP4rev2" if name == "IMAP4REV2" else name)
    # Sending ENABLED switches the core's version / UTF-8 mode (h11's rule:
    # state changes with what the server sends).
    session.send(Enabled(tuple(newly)))
    return Tagged.ok(tag, "ENABLE completed")
