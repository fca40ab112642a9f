"""Ask a private Dovecot for ENVELOPE/BODY/BODYSTRUCTURE of messages."""

from __future__ import annotations

import imaplib
from pathlib import Path

from tests.support.dovecot import Dovecot
from tests.support.imap_values import fetch_items, join_imaplib

ITEMS = ("ENVELOPE", "BODY", "BODYSTRUCTURE")


def _group_responses(data) -> list[bytes]:
    """imaplib FETCH data -> one raw response per message."""
    responses: list[list] = []
    for item in data:
        if isinstance(item, tuple):
            head = item[0]
            if responses and not head[:1].isdigit():
                responses[-1].append(item)
            elif responses and responses[-1] and _open(responses[-1]):
                responses[-1].append(item)
            else:
                responses.append([item])
        elif item == b")":
            responses[-1].append(item)
        elif responses and _open(responses[-1]):
            responses[-1].append(item)
        else:
            responses.append([item])
    return [join_imaplib(r) for r in responses]


def _open(parts: list) -> bool:
    """True while the parentheses of a response are not balanced yet."""
    raw = join_imaplib(parts)
    depth = 0
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i : i + 1]
        if c == b'"':
            i += 1
            while i < n and raw[i : i + 1] != b'"':
                i += 2 if raw[i : i + 1] == b"\\" else 1
        elif c == b"{":
            end = raw.index(b"}", i)
            i = end + 3 + int(raw[i + 1 : end])
            continue
        elif c == b"(":
            depth += 1
        elif c == b")":
            depth -= 1
        i += 1
    return depth > 0


def fetch_structures(tmpdir: Path, messages: list[bytes]) -> list[dict[str, bytes]]:
    """APPEND *messages* to a fresh Dovecot and FETCH ITEMS for each."""
    dovecot = Dovecot(tmpdir)
    dovecot.add_user("compare", "secret")
    dovecot.start()
    try:
        imap = imaplib.IMAP4("127.0.0.1", dovecot.imap_port)
        try:
            imap.login("compare", "secret")
            for msg in messages:
                typ, resp = imap.append("INBOX", None, None, msg)
                assert typ == "OK", resp
            imap.select("INBOX")
            results = []
            for i in range(1, len(messages) + 1):
                typ, data = imap.fetch(str(i), "(" + " ".join(ITEMS) + ")")
                assert typ == "OK", data
                (raw,) = _group_responses(data)
                results.append(fetch_items(raw))
            imap.logout()
        finally:
            try:
                imap.shutdown()
            except OSError:
                pass
    finally:
        dovecot.stop()
    return results
