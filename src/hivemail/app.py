"""Composition root: the one place that names concrete backends and wires
listeners to sessions. Everything else receives its collaborators."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from hivemail.config import Config, parse_hostport
from hivemail.mailstore import MailStore
from hivemail.net.listeners import ConnectionLimits, Handler, Listener
from hivemail.net.tls import ensure_self_signed, server_context

log = logging.getLogger("hivemail")


def open_store(config: Config) -> MailStore:
    from hivemail.mailstore.embedded.store import EmbeddedStore

    return EmbeddedStore(Path(config.data_dir))


def tls_context(config: Config):
    if config.tls.cert and config.tls.key:
        return server_context(Path(config.tls.cert), Path(config.tls.key))
    cert, key = ensure_self_signed(Path(config.data_dir), config.hostname)
    return server_context(cert, key)


def build_listeners(config: Config, store: MailStore) -> list[Listener]:
    from hivemail.auth.directory import Authenticator
    from hivemail.imap import session as imap_session
    from hivemail.lmtp import session as lmtp_session
    from hivemail.pop3 import session as pop3_session

    limits = ConnectionLimits(config.limits.max_connections, config.limits.max_connections_per_ip)
    # Made (or loaded) at every start, even with no implicit-TLS listener:
    # STARTTLS/STLS need it, and a fresh install should have its
    # certificate from the first start.
    tls = tls_context(config)
    listeners: list[Listener] = []
    smtp_refusal = f"421 4.7.0 {config.hostname} too many connections, try later\r\n".encode()

    def add(name: str, address: str, handler: Handler, refusal: bytes, implicit_tls: bool = False) -> None:
        if not address:
            return
        host, port = parse_hostport(address)
        listeners.append(Listener(name, host, port, handler, limits, refusal, tls if implicit_tls else None))

    add("lmtp", config.listen.lmtp, lmtp_session.handler(store, config, None, lmtp=True), smtp_refusal)
    add("smtp", config.listen.smtp, lmtp_session.handler(store, config, None, lmtp=False), smtp_refusal)
    # POP3: the plain listener offers STLS with the same context; pop3s is
    # implicit TLS (RFC 8314).  One service for both: the maildrop lock and
    # LOGIN-DELAY bookkeeping must span them.
    # One Authenticator: failed logins over IMAP and POP3 slow down together.
    auth = Authenticator(store, config.auth.failure_delay)
    pop3 = pop3_session.Pop3Service(store, auth, config, tls)
    pop3_refusal = b"-ERR [SYS/TEMP] Too many connections, try later\r\n"
    add("pop3", config.listen.pop3, pop3_session.handler(pop3), pop3_refusal)
    add("pop3s", config.listen.pop3s, pop3_session.handler(pop3), pop3_refusal, implicit_tls=True)
    imap = imap_session.Services(store, config, auth, tls)
    imap_refusal = b"* BYE Too many connections, try later\r\n"
    add("imap", config.listen.imap, imap_session.handler(imap), imap_refusal)
    add("imaps", config.listen.imaps, imap_session.handler(imap), imap_refusal, implicit_tls=True)
    return listeners


async def serve(config: Config, ready: Callable[[list[Listener]], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then close every listener cleanly."""
    store = open_store(config)
    await store.open()
    listeners = build_listeners(config, store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        for listener in listeners:
            await listener.start()
        if ready is not None:
            ready(listeners)
        await stop.wait()
        log.info("shutting down")
    finally:
        await asyncio.gather(*(listener.stop() for listener in listeners), return_exceptions=True)
        await store.close()


def run(config: Config, ready: Callable[[list[Listener]], None] | None = None) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop installs everywhere we run
        asyncio.run(serve(config, ready))
    else:
        uvloop.run(serve(config, ready))
