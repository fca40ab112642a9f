"""LOGIN, AUTHENTICATE, STARTTLS (RFC 9051 section 6.2, RFC 4959, RFC 7677),
UNAUTHENTICATE (RFC 8437)."""

from __future__ import annotations

import logging

from hivemail.auth.sasl import (
    PLAINTEXT_MECHANISMS,
    Challenge,
    CheckPassword,
    Failure,
    NeedScramRecord,
    ScramExchange,
    Success,
    new_exchange,
)
from hivemail.imap_proto import Condition, Continuation, ResponseCode, Tagged
from hivemail.mailstore import AccountInfo

log = logging.getLogger("hivemail.imap")


def _privacy_required(tag: str) -> Tagged:
    return Tagged.no(tag, "Plaintext authentication disallowed on non-secure connections", "PRIVACYREQUIRED")


async def starttls(session, tag: str, request) -> None:
    if session.tls_active:
        session.send(Tagged.bad(tag, "TLS is already active"))
        return None
    if session.conn.compressed:
        # TLS would go under compression; RFC 4978 section 3 wants it above.
        # (COMPRESS needs a login and STARTTLS comes before one, so only a
        # future pre-login COMPRESS could get here.)
        session.send(Tagged.bad(tag, "STARTTLS is not possible after COMPRESS"))
        return None
    if session.services.tls is None:
        session.send(Tagged.no(tag, "TLS is not available", "UNAVAILABLE"))
        return None
    # Sending the OK makes the core drop whatever the client pipelined after
    # STARTTLS (RFC 9051 6.2.1, CVE-2011-0411); only then do we upgrade.
    session.send(Tagged.ok(tag, "Begin TLS negotiation now"))
    if await session.flush():
        try:
            await session.conn.start_tls(session.services.tls)
        except (OSError, ConnectionError) as e:
            log.info("STARTTLS handshake failed: %s", e)
            session.conn.shut()
    return None


async def unauthenticate(session, tag: str, request) -> None:
    """RFC 8437 section 3: back to the not-authenticated state, everything
    reset but TLS.  NO is not an option (clients pipeline the next login
    after it).  Compression ends too (section 4.1): ours after the CRLF of
    the OK, the client's after the CRLF of its command, so what it sent
    after the command is plain."""
    conn = session.conn
    compressed = conn.compressed
    # Anything after the command went through the inflater as if it were
    # compressed; the raw bytes are recovered below.
    unread = session.proto.take_unparsed_input() if compressed else b""
    log.info("%s logged out (UNAUTHENTICATE)", session.state.account.name)
    session.reset_login()
    # The OK takes the core back to not authenticated and IMAP4rev1.
    session.send(Tagged.ok(tag, "UNAUTHENTICATE completed"))
    if not await session.flush() or not compressed:
        return None
    plain = await conn.stop_compression(len(unread))
    if plain is None:
        # The client compressed past its command: section 3 allows a BYE
        # when the connection state cannot be reset.
        log.info("client kept compressing after UNAUTHENTICATE; closing")
        session.send(Condition.bye("Compressed data after UNAUTHENTICATE"))
        return None
    if plain:
        session.proto.receive_data(plain)
    return None


async def _logged_in(session, tag: str, account: AccountInfo, how: str) -> Tagged:
    from hivemail.imap.handlers.any_state import capabilities
    from hivemail.imap.session import Authenticated

    session.services.auth.succeeded(session.conn.peer_ip)
    session.state = Authenticated(account)
    log.info("%s logged in (%s) from %s", account.name, how, session.conn.peer_ip)
    return Tagged.ok(tag, "Logged in", ResponseCode.capability(capabilities(session)))


async def _failed(session, tag: str) -> Tagged:
    await session.services.auth.failed(session.conn.peer_ip)
    state = session.state
    state.failures += 1
    if state.failures >= session.config.auth.max_failures_per_connection:
        # The BYE ends the session (the core moves to LOGOUT with it).
        session.send(Tagged.no(tag, "Authentication failed", "AUTHENTICATIONFAILED"))
        session.send(Condition.bye("Too many authentication failures"))
        return None  # type: ignore[return-value]
    return Tagged.no(tag, "Authentication failed", "AUTHENTICATIONFAILED")


async def login(session, tag: str, request) -> Tagged:
    if not session.plaintext_allowed:
        return _privacy_required(tag)
    account = await session.services.auth.check_password(request.username, request.password)
    if account is None:
        return await _failed(session, tag)
    return await _logged_in(session, tag, account, "LOGIN")


async def authenticate(session, tag: str, request) -> Tagged | None:
    mechanism = request.mechanism.upper()
    exchange = new_exchange(mechanism)
    if exchange is None:
        return Tagged.no(tag, f"Unsupported authentication mechanism {mechanism}", "CANNOT")
    if mechanism in PLAINTEXT_MECHANISMS and not session.plaintext_allowed:
        return _privacy_required(tag)
    session.sasl = (tag, exchange, None)
    if request.initial_response is None:
        session.send(Continuation(data=b""))
        session.proto.expect_auth_line()
        return None
    return await _step(session, request.initial_response)


async def auth_continuation(session, event) -> None:
    tag, exchange, deferred_ok = session.sasl
    if deferred_ok is not None:
        # The client's (empty) answer to our server-final challenge.
        session.sasl = None
        session.send(deferred_ok)
        return
    if event.cancelled:
        session.sasl = None
        session.send(Tagged.bad(tag, "Authentication cancelled"))
        return
    try:
        data = event.decode()
    except ValueError:
        session.sasl = None
        session.send(Tagged.bad(tag, "Invalid base64 in SASL response"))
        return
    result = await _step(session, data)
    if result is not None:
        session.send(result)


async def _step(session, data: bytes) -> Tagged | None:
    """Feed one client response to the exchange; answer with the next
    challenge (and return None) or with the tagged result."""
    tag, exchange, _ = session.sasl
    step = exchange.step(data)
    if isinstance(step, NeedScramRecord):
        account = await session.services.auth.account(step.authcid)
        assert isinstance(exchange, ScramExchange)
        step = exchange.provide(account.scram if account else None)
    match step:
        case Challenge(data=challenge):
            session.send(Continuation(data=challenge))
            session.proto.expect_auth_line()
            return None
        case CheckPassword(authcid=authcid, password=password):
            session.sasl = None
            account = await session.services.auth.check_password(authcid, password)
            if account is None:
                return await _failed(session, tag)
            return await _logged_in(session, tag, account, "AUTHENTICATE PLAIN")
        case Success(authcid=authcid, final=final):
            session.sasl = None
            account = await session.services.auth.account(authcid)
            if account is None:
                return await _failed(session, tag)
            ok = await _logged_in(session, tag, account, "AUTHENTICATE SCRAM-SHA-256")
            if final is None:
                return ok
            # IMAP cannot carry "additional data with success" in the tagged
            # OK, so server-final goes out as a last challenge and the OK
            # follows the client's empty answer (RFC 4422 section 5).
            session.sasl = (tag, exchange, ok)
            session.send(Continuation(data=final))
            session.proto.expect_auth_line()
            return None
        case Failure(reason=reason):
            session.sasl = None
            log.info("authentication failed from %s: %s", session.conn.peer_ip, reason)
            return await _failed(session, tag)
    return Tagged.no(tag, "Authentication failed", "AUTHENTICATIONFAILED")
