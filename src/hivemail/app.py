"""Composition root: the one place that names concrete backends and wires
listeners to sessions. Everything else receives its collaborators."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import logging
import os
import signal
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from hivemail.config import Config, is_postgres_url, parse_hostport
from hivemail.outbound import OutboundQueue, OutboundRunner
from hivemail.mailstore import MailStore
from hivemail.net import logcontext
from hivemail.net.listeners import ClientTimeouts, ConnectionLimits, Endpoint, Handler, Listener
from hivemail.net.tls import ensure_self_signed, reload_cert, server_context
from hivemail.shared_state import FailureFiles, SharedState

log = logging.getLogger("hivemail")


def open_store(config: Config, index: bool = False) -> MailStore:
    """``index``: this process keeps the search index up to date in the
    background (the indexer process, or a server with a single worker);
    short-lived commands (deliver, user ...) leave that to the server.

    ``config.storage`` names the store: "" the embedded one in data_dir, a
    postgresql:// URL the PostgreSQL one (Config checked the scheme)."""
    if is_postgres_url(config.storage):
        from hivemail.mailstore.postgres.store import PostgresStore

        return PostgresStore(config.storage, blob_dir=config.postgresql.blob_dir or None, background_index=index)
    from hivemail.mailstore.embedded.store import EmbeddedStore

    return EmbeddedStore(Path(config.data_dir), background_index=index)


def tls_files(config: Config) -> tuple[Path, Path]:
    if config.tls.cert and config.tls.key:
        return Path(config.tls.cert), Path(config.tls.key)
    return ensure_self_signed(Path(config.data_dir), config.hostname)


def tls_context(config: Config):
    return server_context(*tls_files(config))


def reload_tls(config: Config, ctx, quiet: bool = False) -> None:
    """SIGHUP: load the certificate and key files again into ``ctx``, the
    context every listener and STARTTLS of this process uses. A file that
    cannot be used is logged and the old certificate stays."""
    try:
        cert, key = tls_files(config)
        reload_cert(ctx, cert, key)
    except (OSError, ssl.SSLError) as e:
        log.error("TLS certificate not reloaded, keeping the old one: %s", e)
    else:
        if not quiet:
            log.info("TLS certificate reloaded from %s", cert)


LISTENERS = (  # name, implicit TLS
    ("lmtp", False), ("smtp", False), ("imap", False), ("imaps", True), ("pop3", False), ("pop3s", True),
    ("managesieve", False),
)


def bind_endpoints(config: Config) -> list[Endpoint]:
    """Bind every configured listener once, before any worker starts."""
    return [
        Endpoint.bind(name, *parse_hostport(getattr(config.listen, name)), implicit_tls=tls)
        for name, tls in LISTENERS
        if getattr(config.listen, name)
    ]


def worker_count(config: Config) -> int:
    return config.workers if config.workers > 0 else (os.cpu_count() or 1)


def build_listeners(
    config: Config, store: MailStore, endpoints: list[Endpoint], tls, workers: int = 1
) -> list[Listener]:
    from hivemail.auth.directory import Authenticator
    from hivemail.auth.throttle import Throttle, ThrottlePolicy
    from hivemail.imap import session as imap_session
    from hivemail.imap.mailbox_cache import MailboxCache
    from hivemail.imap.recent import RecentTracker
    from hivemail.lmtp import session as lmtp_session
    from hivemail.managesieve import session as managesieve_session
    from hivemail.pop3 import session as pop3_session

    # Each worker admits its share of the configured connection limits.
    share = lambda n: -(-n // workers)  # noqa: E731 - ceiling division
    limits = ConnectionLimits(share(config.limits.max_connections), share(config.limits.max_connections_per_ip))
    timeouts = ClientTimeouts(
        command=config.limits.command_timeout,
        command_min_rate=config.limits.command_min_rate,
        send=config.limits.send_timeout,
    )
    shared = SharedState(config.data_dir)
    # One Authenticator: failed logins over IMAP and POP3 count together,
    # and in every worker process (the counters are files in run/).
    throttle = Throttle(ThrottlePolicy.from_config(config.auth), FailureFiles(shared))
    auth = Authenticator(store, config.auth.failure_delay, throttle=throttle)
    imap = imap_session.Services(store, config, auth, tls, RecentTracker(shared), MailboxCache(store))
    pop3 = pop3_session.Pop3Service(store, auth, config, tls, shared)
    managesieve = managesieve_session.ManageSieveService(store, auth, config, tls)
    smtp_refusal = f"421 4.7.0 {config.hostname} too many connections, try later\r\n".encode()
    imap_refusal = b"* BYE Too many connections, try later\r\n"
    pop3_refusal = b"-ERR [SYS/TEMP] Too many connections, try later\r\n"
    managesieve_refusal = b'BYE (TRYLATER) "Too many connections, try later"\r\n'
    protocols = {
        "lmtp": (lmtp_session.handler(store, config, None, lmtp=True), smtp_refusal),
        "smtp": (lmtp_session.handler(store, config, None, lmtp=False), smtp_refusal),
        "imap": (imap_session.handler(imap), imap_refusal),
        "imaps": (imap_session.handler(imap), imap_refusal),
        "pop3": (pop3_session.handler(pop3), pop3_refusal),
        "pop3s": (pop3_session.handler(pop3), pop3_refusal),
        "managesieve": (managesieve_session.handler(managesieve), managesieve_refusal),
    }
    listeners = []
    for ep in endpoints:
        handler, refusal = protocols[ep.name]
        listeners.append(Listener(ep, handler, limits, refusal, tls if ep.implicit_tls else None, timeouts))
    return listeners


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def serve(config: Config, endpoints: list[Endpoint], tls, workers: int = 1) -> None:
    """One worker: serve the endpoints until SIGTERM or SIGINT, then close
    every session cleanly (BYE, 421, -ERR). A lone worker also indexes."""
    logcontext.install()
    store = open_store(config, index=workers == 1)
    await store.open()
    listeners = build_listeners(config, store, endpoints, tls, workers)
    stop = _stop_event()
    if tls is not None:
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload_tls, config, tls)
        # A SIGHUP that came while this worker was starting was ignored, and
        # the context it was forked with may predate the supervisor's reload:
        # load the files once now that the handler is in place.
        reload_tls(config, tls, quiet=True)
    try:
        for listener in listeners:
            await listener.start()
        log.info("worker ready")
        async with sending(config) if workers == 1 else contextlib.nullcontext():
            await stop.wait()
        log.info("shutting down")
    finally:
        await asyncio.gather(*(listener.stop() for listener in listeners), return_exceptions=True)
        await store.close()


# Seconds between looks at DATA_DIR/queue for what other processes queued
# (a worker queues a vacation reply; this process sends it). An empty queue
# costs one directory listing.
QUEUE_POLL = 2.0


def outbound_runner(config: Config) -> OutboundRunner | None:
    """The sender of DATA_DIR/queue, when a relay is configured: it runs in
    the indexer process (or the lone worker), one per store (the queue's
    lock makes sure)."""
    settings = config.outbound
    if not settings.smarthost:
        return None
    if settings.helo_name == "localhost":
        settings = dataclasses.replace(settings, helo_name=config.hostname)
    return OutboundRunner(OutboundQueue(Path(config.data_dir) / "queue", settings), settings,
                          poll_interval=QUEUE_POLL)


@contextlib.asynccontextmanager
async def sending(config: Config):
    """Run the outbound runner (if any) for the duration of the block."""
    runner = outbound_runner(config)
    if runner is not None:
        runner.start()
        log.info("sending queued mail through %s", config.outbound.smarthost)
    try:
        yield
    finally:
        if runner is not None:
            await runner.stop()


async def index_forever(config: Config) -> None:
    """The indexer process: keeps the full-text search index in step with
    new mail. It runs apart from the workers, at a lower CPU priority, so
    that decoding and indexing a big message never holds a worker's event
    loop nor takes a core from clients (searches scan what is not indexed
    yet, so answers stay exact while it catches up)."""
    store = open_store(config, index=True)
    await store.open()
    try:
        async with sending(config):
            await _stop_event().wait()
    finally:
        await store.close()


async def _recover(config: Config) -> None:
    store = open_store(config)
    await store.open()
    await store.close()


def _run_loop(coro) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop installs everywhere we run
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def run(config: Config, ready: Callable[[list[Endpoint]], None] | None = None) -> None:
    """Bind, then serve with ``workers`` processes (one: no supervisor).

    Python runs one thread of Python at a time, so a second core serves
    clients only from a second process (DESIGN.md principle 6). The workers
    share the listening sockets (the kernel spreads connections over them)
    and the store (SQLite and blob files are multi-process safe; changes
    reach other workers' IDLE sessions through the store's change polling);
    what else they share lives in ``SharedState``.
    """
    # SIGHUP reloads the TLS certificate (Supervisor, serve); until those
    # handlers are in place it must not end the server (its default action).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    logcontext.install()
    # Made (or loaded) at every start, even with no implicit-TLS listener:
    # STARTTLS/STLS need it, and a fresh install should have its
    # certificate from the first start.
    tls = tls_context(config)
    # Crash recovery (orphan files of a killed server) needs the store to
    # itself: open it once here, before the workers open it together.
    _run_loop(_recover(config))
    endpoints = bind_endpoints(config)
    workers = worker_count(config)
    if ready is not None:
        ready(endpoints)
    if workers == 1:
        _run_loop(serve(config, endpoints, tls))
        return
    Supervisor(config, endpoints, tls, workers).run()


class _Stop(Exception):
    pass


class Supervisor:
    """Forks the workers, restarts one that dies, and stops them all on
    SIGTERM/SIGINT (waiting for their goodbyes, then SIGKILL after a grace).
    SIGHUP reloads the TLS certificate here (for children forked later) and
    is passed on to every child; workers reload their own copy."""

    GRACE = 15.0

    def __init__(self, config: Config, endpoints: list[Endpoint], tls, workers: int) -> None:
        self.config = config
        self.endpoints = endpoints
        self.tls = tls
        self.workers = workers
        self.children: dict[int, tuple[str, float]] = {}  # pid -> (role, start time)

    def spawn(self, role: str = "worker") -> None:
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                _die_with_parent()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                # A worker's serve() handles SIGHUP once its loop runs; until
                # then (and in the indexer) a reload must not kill the child.
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                if role == "indexer":
                    os.nice(10)
                    _run_loop(index_forever(self.config))
                else:
                    _run_loop(serve(self.config, self.endpoints, self.tls, self.workers))
                code = 0
            except BaseException:
                log.exception("%s %d failed", role, os.getpid())
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = (role, time.monotonic())

    def run(self) -> None:
        stopping = False

        def stop(signum, frame):
            # Only the first: Ctrl-C reaches the whole process group, often
            # twice, and a second _Stop raised while the first is handled
            # would end the supervisor before its workers.
            nonlocal stopping
            if not stopping:
                stopping = True
                raise _Stop

        def hangup(signum, frame):
            if self.tls is not None:
                reload_tls(self.config, self.tls)
            for pid in list(self.children):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGHUP)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, hangup)
        try:
            for _ in range(self.workers):
                self.spawn()
            self.spawn("indexer")
            while True:
                pid, status = os.wait()
                child = self.children.pop(pid, None)
                if child is None:
                    continue
                role, started = child
                log.error("%s %d exited (status %d); starting another", role, pid, status)
                if time.monotonic() - started < 1.0:
                    time.sleep(1.0)  # a child that dies at once must not spin
                self.spawn(role)
        except _Stop:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            self.stop_all()

    def stop_all(self) -> None:
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.GRACE
        while self.children and time.monotonic() < deadline:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid:
                self.children.pop(pid, None)
            else:
                time.sleep(0.05)
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _die_with_parent() -> None:
    """Linux: the kernel sends this worker SIGKILL if the supervisor dies, so
    a crashed (or kill -9'd) server never leaves workers behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)
