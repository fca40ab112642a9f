"""COMPRESS (RFC 4978).  The DEFLATE layer itself is net/compress.py, under
the protocol core, driven by the Connection; this only decides and switches."""

from __future__ import annotations

import logging

from hivemail.imap_proto import Tagged

log = logging.getLogger("hivemail.imap")


async def compress(session, tag: str, request) -> None | Tagged:
    conn = session.conn
    if conn.compressed:
        # RFC 4978 section 3: NO [COMPRESSIONACTIVE], naming the layer.
        return Tagged.no(tag, "DEFLATE is already active (COMPRESS)", "COMPRESSIONACTIVE")
    await session.sync()
    # The client must wait for our answer (section 3); one that did not sent
    # compressed bytes, which the core has not parsed (COMPRESS is a barrier).
    buffered = session.proto.take_unparsed_input()
    session.send(Tagged.ok(tag, "DEFLATE active"))
    # Compression starts right after the CRLF of the OK, so the OK goes out
    # plain first.
    if await session.flush():
        conn.start_compression(buffered, max_inflate=session.inflate_limit)
        log.info("compression started (DEFLATE)")
    return None
