"""The asyncio ManageSieve session: moves bytes between the socket and the pure core.

Everything protocol-shaped is in ``hivemail.managesieve_proto`` (its
``connection.py`` has the table of what the session does for each request);
every request is answered in ``handlers.py``.  This module keeps what
lives for the whole connection:

* :class:`ManageSieveService`: what all sessions of a process share (store,
  authenticator, config, TLS context, the core's limits), passed in
  explicitly.
* :class:`ManageSieveSession`: the read -> events -> handler -> write loop,
  STARTTLS, the login and idle timers, and the session state as a tagged
  union (:class:`NotAuthenticated` | :class:`Authenticated`).

The shape is POP3's (``pop3/session.py``): the same SASL exchanges, the
same throttle, the same plaintext rule.
"""

from __future__ import annotations

import copy
import logging
import ssl
from dataclasses import dataclass

from hivemail import __version__
from hivemail.auth import sasl
from hivemail.auth.directory import Authenticator, plaintext_allowed
from hivemail.auth.throttle import LoginRefused
from hivemail.config import Config
from hivemail.mailstore import MailStore
from hivemail.managesieve_proto import (
    TRYLATER,
    AuthAborted,
    AuthResponse,
    BadCommand,
    Bye,
    Capabilities,
    CommandReceived,
    ConnectionClosed,
    Event,
    ManageSieveLimits,
    ManageSieveServerConnection,
    No,
    Ok,
    Response,
    capabilities,
)
from hivemail.net.listeners import Connection
from hivemail.sieve import EXTENSIONS

log = logging.getLogger("hivemail.managesieve")


class ManageSieveService:
    """Shared by every ManageSieve session of one server process (no globals)."""

    def __init__(self, store: MailStore, auth: Authenticator, config: Config,
                 tls_context: ssl.SSLContext | None) -> None:
        self.store = store
        self.auth = auth
        self.config = config
        self.tls_context = tls_context
        cfg = config.managesieve
        if cfg.max_script_size < 1 or cfg.max_scripts < 1:
            raise ValueError("managesieve.max_script_size and max_scripts must be positive")
        # The core refuses a script literal (and a HAVESPACE size) over the
        # limit before reading it whole: NO (QUOTA/MAXSIZE).
        self.limits = ManageSieveLimits(max_script_size=cfg.max_script_size)
        self.implementation = f"hivemail {__version__}"

    def for_connection(self, conn: Connection, on_login) -> ManageSieveService:
        """This service as one connection's handlers see it: the authenticator
        bound to the connection's address (auth/throttle.py), the rest shared."""
        view = copy.copy(self)
        view.auth = self.auth.for_connection(conn.peer_ip, on_login)  # type: ignore[assignment]
        return view


@dataclass
class NotAuthenticated:
    """Before AUTHENTICATE succeeds (and after UNAUTHENTICATE).  ``sasl``: the
    exchange of an AUTHENTICATE in progress."""

    sasl: object | None = None


@dataclass(frozen=True)
class Authenticated:
    """``account``: the account's name (its primary address), whose scripts
    every command works on."""

    account: str


class ManageSieveSession:
    """One client connection.  ``run()`` returns when the connection is over."""

    def __init__(self, service: ManageSieveService, conn: Connection) -> None:
        self.service = service.for_connection(conn, self._logged_in_as)
        self.conn = conn
        self.store = service.store
        self.config = service.config
        self.proto = ManageSieveServerConnection(
            service.limits, tls=conn.tls, starttls=service.tls_context is not None
        )
        self.state: NotAuthenticated | Authenticated = NotAuthenticated()
        self.failures = 0           # failed AUTHENTICATEs on this connection
        self.start_tls = False      # OK to STARTTLS sent: handshake after the flush

    def _logged_in_as(self, account: str | None) -> None:
        if self.conn.log is not None:
            self.conn.log.account = account

    # -- what handlers ask of the session ------------------------------------------

    @property
    def plaintext_allowed(self) -> bool:
        """SASL PLAIN: under TLS, from loopback if it counts as secure, or if
        the config allows it everywhere (the rule IMAP and POP3 use)."""
        return plaintext_allowed(self.config.auth, tls=self.proto.tls_active, loopback=self.conn.is_loopback)

    def capabilities(self) -> Capabilities:
        """The capability lines as they stand now (RFC 5804 section 1.7): no
        PLAIN where plaintext is refused, STARTTLS only before TLS and login,
        OWNER once logged in."""
        mechanisms = [m for m in sasl.MECHANISMS
                      if self.plaintext_allowed or m not in sasl.PLAINTEXT_MECHANISMS]
        owner = self.state.account if isinstance(self.state, Authenticated) else None
        return capabilities(
            implementation=self.service.implementation,
            sasl=mechanisms,
            sieve=EXTENSIONS,
            starttls=self.proto.starttls_available,
            owner=owner,
        )

    def login_failed(self, response: No) -> No | Bye:
        """Count a failed AUTHENTICATE; at ``auth.max_failures_per_connection``
        the answer is BYE and the connection ends."""
        self.state = NotAuthenticated()
        self.failures += 1
        if self.failures >= self.config.auth.max_failures_per_connection:
            return Bye("Too many failed logins", response.code)
        return response

    def logged_in(self, account: str) -> None:
        self.state = Authenticated(account)
        log.info("managesieve: %s logged in from %s%s", account, self.conn.peer_ip,
                 " (TLS)" if self.proto.tls_active else "")

    def logged_out(self) -> None:
        """UNAUTHENTICATE (RFC 5804 section 2.14.1): back to the start, on the same connection."""
        if isinstance(self.state, Authenticated):
            log.info("managesieve: %s unauthenticated", self.state.account)
        self.state = NotAuthenticated()
        self._logged_in_as(None)

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        from hivemail.managesieve import handlers

        # The greeting (section 1.7): the capabilities, then OK.
        self.send([self.capabilities(), Ok(f"{self.config.hostname} hivemail ManageSieve ready")])
        while True:
            for event in self.proto.events():
                await self.dispatch(handlers, event)
            if not await self.flush() or self.proto.closed:
                return
            if self.start_tls:
                if not await self._start_tls():
                    return
                continue  # flush the capabilities sent after the handshake
            data = await self.read()
            if data is None:
                return
            self.proto.receive_data(data)

    async def dispatch(self, handlers, event: Event) -> None:
        """Answer one event of the core (events.py says what each one needs)."""
        match event:
            case CommandReceived(request=request):
                try:
                    responses = await handlers.handle(self, request)
                except LoginRefused:
                    responses = [self.login_failed(No("Too many failed logins, try again later", TRYLATER))]
            case AuthResponse(data=data):
                try:
                    responses = await handlers.auth_response(self, data)
                except LoginRefused:
                    responses = [self.login_failed(No("Too many failed logins, try again later", TRYLATER))]
            case AuthAborted(response=response):
                self.state = NotAuthenticated()
                responses = [response]
            case BadCommand(response=response):
                responses = [response]
            case ConnectionClosed():
                responses = []
        self.send(responses)

    def send(self, responses: list[Response]) -> None:
        for response in responses:
            if self.proto.closed:
                return
            self.proto.send(response)

    async def flush(self) -> bool:
        """Write what the core has queued; False if the client has gone."""
        data = self.proto.data_to_send()
        if not data:
            return True
        return await self.conn.write(data)

    async def read(self) -> bytes | None:
        """The next chunk for the core; None (after a BYE where one is due)
        when the session must end."""
        timeout = (self.config.managesieve.login_timeout if isinstance(self.state, NotAuthenticated)
                   else self.config.managesieve.idle_timeout)
        data = await self.conn.read(timeout=timeout)
        if self.conn.closing.is_set():
            await self._bye(Bye("Server shutting down", TRYLATER))
            return None
        if data is None:
            if self.conn.command_timed_out:
                log.info("managesieve: %s took too long over one command, closing", self.conn.peer_ip)
                await self._bye(Bye("Command took too long to arrive"))
            else:
                log.info("managesieve: %s idle too long, closing", self.conn.peer_ip)
                await self._bye(Bye("Disconnected for inactivity"))
            return None
        return data

    async def _bye(self, bye: Bye) -> None:
        # Section 1.2: BYE "can be issued at any time and should be
        # immediately followed by a server hang-up".
        if not self.proto.closed:
            self.proto.send(bye)
            await self.flush()

    async def _start_tls(self) -> bool:
        """The handshake after the OK to STARTTLS, then the capabilities again
        and OK (section 2.2: "the server MUST re-issue the capability
        results, followed by an OK response")."""
        self.start_tls = False
        ctx = self.service.tls_context
        assert ctx is not None
        try:
            await self.conn.start_tls(ctx)
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            log.info("managesieve: STARTTLS handshake with %s failed: %s", self.conn.peer_ip, exc)
            return False
        self.proto.start_tls_done()
        self.send([self.capabilities(), Ok("TLS negotiation successful")])
        return True


def handler(service: ManageSieveService):
    async def serve(conn: Connection) -> None:
        await ManageSieveSession(service, conn).run()

    return serve
