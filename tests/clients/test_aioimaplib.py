"""aioimaplib 2.x (asyncio IMAP client): login, select, fetch, IDLE."""

from __future__ import annotations

import asyncio
import re
import time

from tests.support.clients import (
    MailServer,
    User,
    make_messages,
    require_module,
    simple_message,
    split_delivery_headers,
)

aioimaplib = require_module("aioimaplib")


async def _session(mail_server: MailServer, user: User, msgs) -> None:
    client = aioimaplib.IMAP4(host=mail_server.host, port=mail_server.imap_port, timeout=30)
    await client.wait_hello_from_server()
    resp = await client.login(user.address, user.password)
    assert resp.result == "OK", resp
    resp = await client.select("INBOX")
    assert resp.result == "OK", resp
    assert any(line.endswith(b"%d EXISTS" % len(msgs)) for line in resp.lines if isinstance(line, bytes)), resp.lines

    resp = await client.fetch("1:*", "(UID FLAGS BODY.PEEK[])")
    assert resp.result == "OK", resp
    # lines: b'1 FETCH (UID 1 FLAGS () BODY[] {n}', bytearray(literal), b')', ..., b'Fetch completed'
    literals = [bytes(x) for x in resp.lines if isinstance(x, bytearray)]
    assert len(literals) == len(msgs)
    for raw, sent in zip(literals, msgs):
        split_delivery_headers(raw, sent.raw)

    resp = await client.uid("fetch", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert resp.result == "OK"
    subjects = [bytes(x).strip() for x in resp.lines if isinstance(x, bytearray)]
    assert subjects[0] == b"Subject: Plain message 1"

    resp = await client.store("1", "+FLAGS", r"(\Flagged)")
    assert resp.result == "OK"
    resp = await client.search("FLAGGED")
    assert resp.result == "OK" and resp.lines[0].split() == [b"1"], resp.lines

    # IDLE: an LMTP delivery during IDLE arrives as EXISTS within a second
    assert client.has_capability("IDLE")
    idle = await client.idle_start(timeout=30)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(
        None, mail_server.deliver, user.address, simple_message(user.address, "aio idle", "aio").raw
    )
    delivered = time.monotonic()
    pushed: list = []
    while not any(re.fullmatch(rb"%d EXISTS" % (len(msgs) + 1), x) for x in pushed if isinstance(x, bytes)):
        remaining = 1.0 - (time.monotonic() - delivered)
        assert remaining > 0, f"no EXISTS within 1 s of delivery, got {pushed}"
        msg = await asyncio.wait_for(client.wait_server_push(), remaining)
        pushed += msg if isinstance(msg, list) else [msg]
    client.idle_done()
    result = await asyncio.wait_for(idle, 10)
    assert result.result == "OK", result

    resp = await client.logout()
    assert resp.result == "OK"


def test_login_select_fetch_idle(mail_server: MailServer, user: User) -> None:
    msgs = make_messages(user.address)
    mail_server.deliver_all(user.address, msgs)
    asyncio.run(asyncio.wait_for(_session(mail_server, user, msgs), 60))
