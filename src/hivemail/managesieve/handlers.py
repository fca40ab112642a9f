"""Every ManageSieve request, answered: one module, as the core has one ``commands.py``.

A handler is ``async (session, request) -> list[Response]``: the data lines,
if any, then exactly one final ``Ok``/``No``/``Bye`` (or, during
AUTHENTICATE, one ``SaslChallenge``).  The core has already checked syntax,
state, script names and the size limit (RFC 5804 section 2: a command in the
wrong state is ``NO`` from the core); handlers check what only the session
knows: credentials, the account's scripts, whether a script is valid Sieve.
The table of what each request gets is in ``managesieve_proto/connection.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from hivemail.auth import sasl
from hivemail.mailstore import AccountInfo, ErrorKind, MailError
from hivemail.managesieve.session import Authenticated, ManageSieveSession, NotAuthenticated
from hivemail.managesieve_proto import (
    ACTIVE,
    ALREADYEXISTS,
    ENCRYPT_NEEDED,
    NONEXISTENT,
    QUOTA_MAXSCRIPTS,
    TRYLATER,
    AuthenticateRequest,
    CapabilityRequest,
    CheckScriptRequest,
    DeleteScriptRequest,
    GetScriptRequest,
    HaveSpaceRequest,
    ListScriptsRequest,
    LogoutRequest,
    No,
    NoopRequest,
    Ok,
    PutScriptRequest,
    RenameScriptRequest,
    Request,
    Response,
    ResponseCode,
    SaslChallenge,
    ScriptContent,
    ScriptList,
    SetActiveRequest,
    StartTlsRequest,
    UnauthenticateRequest,
)
from hivemail.sieve import SieveError, parse

log = logging.getLogger("hivemail.managesieve")

AUTH_FAILED_TEXT = "Authentication failed"

Handler = Callable[[ManageSieveSession, Request], Awaitable[list[Response]]]


# -- any state --------------------------------------------------------------------


async def capability(session: ManageSieveSession, req: CapabilityRequest) -> list[Response]:
    """CAPABILITY (section 2.4): what is offered now (no PLAIN where plaintext
    is refused, no STARTTLS under TLS or after login, OWNER once logged in)."""
    return [session.capabilities(), Ok()]


async def noop(session: ManageSieveSession, req: NoopRequest) -> list[Response]:
    """NOOP [tag] (section 2.13): the tag comes back as ``OK (TAG ...)``."""
    return [Ok("Done", ResponseCode.tag(req.tag) if req.tag is not None else None)]


async def logout(session: ManageSieveSession, req: LogoutRequest) -> list[Response]:
    """LOGOUT (section 2.3): OK, then the core closes."""
    return [Ok("Logout completed")]


# -- non-authenticated --------------------------------------------------------------


async def starttls(session: ManageSieveSession, req: StartTlsRequest) -> list[Response]:
    """STARTTLS (section 2.2).  The core refused it already under TLS or without
    a certificate; the handshake follows the flush of this OK (session.py)."""
    session.start_tls = True
    return [Ok("Begin TLS negotiation now")]


async def authenticate(session: ManageSieveSession, req: AuthenticateRequest) -> list[Response]:
    """AUTHENTICATE mechanism [initial-response] (section 2.1), through the SASL
    exchanges IMAP and POP3 use.  PLAIN on a connection that is neither TLS
    nor (trusted) loopback is ``NO (ENCRYPT-NEEDED)``: section 1.3, "This
    response code is returned if the server requires that the client use
    TLS ... before it can use an authentication mechanism"."""
    exchange = sasl.new_exchange(req.mechanism)
    if exchange is None:
        return [No(f"Unsupported authentication mechanism {req.mechanism}")]
    if req.mechanism in sasl.PLAINTEXT_MECHANISMS and not session.plaintext_allowed:
        return [No("Plaintext authentication requires TLS", ENCRYPT_NEEDED)]
    session.state = NotAuthenticated(exchange)
    # No initial response: step(b"") asks for an empty challenge.
    return await _sasl_step(session, req.initial_response or b"")


async def auth_response(session: ManageSieveSession, data: bytes) -> list[Response]:
    """A client string during AUTHENTICATE (the core decoded the base64 and
    handled ``"*"``)."""
    return await _sasl_step(session, data)


async def _sasl_step(session: ManageSieveSession, data: bytes) -> list[Response]:
    state = session.state
    assert isinstance(state, NotAuthenticated) and state.sasl is not None
    exchange = state.sasl
    auth = session.service.auth
    step = exchange.step(data)  # type: ignore[attr-defined]
    if isinstance(step, sasl.NeedScramRecord):
        account = await auth.account(step.authcid)
        step = exchange.provide(account.scram if account else None)  # type: ignore[attr-defined]
    match step:
        case sasl.Challenge(data=challenge):
            return [SaslChallenge(challenge)]
        case sasl.CheckPassword(authcid=authcid, password=password):
            return await _login(session, await auth.check_password(authcid, password))
        case sasl.Success(authcid=authcid, final=final):
            # Section 2.1: SCRAM's server-final goes in the OK, as (SASL "...").
            return await _login(session, await auth.account(authcid), final)
        case _:
            return await _login(session, None)


async def _login(session: ManageSieveSession, account: AccountInfo | None,
                 final: bytes | None = None) -> list[Response]:
    auth = session.service.auth
    if account is None:
        await auth.failed(session.conn.peer_ip)
        return [session.login_failed(No(AUTH_FAILED_TEXT))]
    auth.succeeded(session.conn.peer_ip)
    session.logged_in(account.name)
    return [Ok("Logged in", ResponseCode.sasl(final) if final else None)]


# -- authenticated: the account's scripts ---------------------------------------------


def _account(session: ManageSieveSession) -> str:
    state = session.state
    assert isinstance(state, Authenticated)  # the core allows these commands only then
    return state.account


def _store_error(exc: MailError, *meaningful: ErrorKind) -> No:
    """A storage error as the NO it is (mapped once, DESIGN.md principle 3).
    Kinds the command does not expect are temporary: ``NO (TRYLATER)``."""
    kind = exc.kind if exc.kind in meaningful else None
    match kind:
        case ErrorKind.NOT_FOUND:
            return No("There is no script by that name", NONEXISTENT)
        case ErrorKind.EXISTS:
            return No("A script by that name already exists", ALREADYEXISTS)
        case ErrorKind.IN_USE:
            return No("You may not delete an active script", ACTIVE)
    log.warning("managesieve: storage error: %s", exc)
    return No("Temporary failure, try again later", TRYLATER)


async def _check(session: ManageSieveSession, script: bytes) -> str | No:
    """The script's text if it is valid Sieve, else the NO naming where it is
    wrong (section 2.6: the reason "SHOULD be ... human-readable"; ours reads
    ``line L, column C: message``)."""
    if not script:
        # Section 2.6: "A script of zero length SHOULD be disallowed."
        return No("An empty script is not allowed")
    try:
        text = script.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = script[: exc.start].count(b"\n") + 1
        return No(f"line {line}: the script is not valid UTF-8")
    try:
        # Off the event loop: a 64 KiB script is a parse worth not blocking on.
        await asyncio.to_thread(parse, text, max_size=session.config.managesieve.max_script_size)
    except SieveError as exc:
        return No(str(exc))
    return text


async def _room_for(session: ManageSieveSession, account: str, name: str) -> No | None:
    """``NO (QUOTA/MAXSCRIPTS)`` if ``name`` would be a script too many."""
    limit = session.config.managesieve.max_scripts
    scripts = await session.store.sieve_list(account)
    if len(scripts) >= limit and all(n != name for n, _ in scripts):
        return No(f"Too many scripts (the limit is {limit})", QUOTA_MAXSCRIPTS)
    return None


async def havespace(session: ManageSieveSession, req: HaveSpaceRequest) -> list[Response]:
    """HAVESPACE name size (section 2.5).  A size over ``max_script_size`` never
    gets here: the core answers ``NO (QUOTA/MAXSIZE)``."""
    try:
        refused = await _room_for(session, _account(session), req.name)
    except MailError as exc:
        return [_store_error(exc)]
    return [refused or Ok()]


async def putscript(session: ManageSieveSession, req: PutScriptRequest) -> list[Response]:
    """PUTSCRIPT name script (section 2.6): validate, check the quota, store."""
    checked = await _check(session, req.script)
    if isinstance(checked, No):
        return [checked]
    account = _account(session)
    try:
        refused = await _room_for(session, account, req.name)
        if refused is not None:
            return [refused]
        await session.store.sieve_put(account, req.name, checked)
    except MailError as exc:
        return [_store_error(exc)]
    log.info("managesieve: stored script %r (%d octets)", req.name, len(req.script))
    return [Ok()]


async def checkscript(session: ManageSieveSession, req: CheckScriptRequest) -> list[Response]:
    """CHECKSCRIPT script (section 2.12): PUTSCRIPT's validation, nothing stored,
    no quota check."""
    checked = await _check(session, req.script)
    return [checked if isinstance(checked, No) else Ok()]


async def listscripts(session: ManageSieveSession, req: ListScriptsRequest) -> list[Response]:
    """LISTSCRIPTS (section 2.7): every script, ``ACTIVE`` on at most one."""
    try:
        scripts = await session.store.sieve_list(_account(session))
    except MailError as exc:
        return [_store_error(exc)]
    return [ScriptList(tuple(scripts)), Ok()]


async def setactive(session: ManageSieveSession, req: SetActiveRequest) -> list[Response]:
    """SETACTIVE name (section 2.8); the empty name deactivates ("If the script
    name is the empty string ... the server MUST disable all scripts")."""
    try:
        await session.store.sieve_activate(_account(session), req.name or None)
    except MailError as exc:
        return [_store_error(exc, ErrorKind.NOT_FOUND)]
    log.info("managesieve: active script now %r", req.name or None)
    return [Ok()]


async def getscript(session: ManageSieveSession, req: GetScriptRequest) -> list[Response]:
    """GETSCRIPT name (section 2.9): the octets stored, as a literal."""
    try:
        text = await session.store.sieve_get(_account(session), req.name)
    except MailError as exc:
        return [_store_error(exc, ErrorKind.NOT_FOUND)]
    return [ScriptContent(text.encode("utf-8")), Ok()]


async def deletescript(session: ManageSieveSession, req: DeleteScriptRequest) -> list[Response]:
    """DELETESCRIPT name (section 2.10): "The server MUST reject an attempt to
    delete the currently active script" with ``NO (ACTIVE)``."""
    try:
        await session.store.sieve_delete(_account(session), req.name)
    except MailError as exc:
        return [_store_error(exc, ErrorKind.NOT_FOUND, ErrorKind.IN_USE)]
    log.info("managesieve: deleted script %r", req.name)
    return [Ok()]


async def renamescript(session: ManageSieveSession, req: RenameScriptRequest) -> list[Response]:
    """RENAMESCRIPT old new (section 2.11.1): ``NONEXISTENT`` / ``ALREADYEXISTS``;
    the active script stays active under its new name."""
    try:
        await session.store.sieve_rename(_account(session), req.old, req.new)
    except MailError as exc:
        return [_store_error(exc, ErrorKind.NOT_FOUND, ErrorKind.EXISTS)]
    log.info("managesieve: renamed script %r to %r", req.old, req.new)
    return [Ok()]


async def unauthenticate(session: ManageSieveSession, req: UnauthenticateRequest) -> list[Response]:
    """UNAUTHENTICATE (section 2.14.1): back to non-authenticated; it "MUST NOT fail"."""
    session.logged_out()
    return [Ok()]


HANDLERS: dict[type[Request], Handler] = {
    CapabilityRequest: capability,  # type: ignore[dict-item]
    NoopRequest: noop,  # type: ignore[dict-item]
    LogoutRequest: logout,  # type: ignore[dict-item]
    StartTlsRequest: starttls,  # type: ignore[dict-item]
    AuthenticateRequest: authenticate,  # type: ignore[dict-item]
    HaveSpaceRequest: havespace,  # type: ignore[dict-item]
    PutScriptRequest: putscript,  # type: ignore[dict-item]
    CheckScriptRequest: checkscript,  # type: ignore[dict-item]
    ListScriptsRequest: listscripts,  # type: ignore[dict-item]
    SetActiveRequest: setactive,  # type: ignore[dict-item]
    GetScriptRequest: getscript,  # type: ignore[dict-item]
    DeleteScriptRequest: deletescript,  # type: ignore[dict-item]
    RenameScriptRequest: renamescript,  # type: ignore[dict-item]
    UnauthenticateRequest: unauthenticate,  # type: ignore[dict-item]
}


async def handle(session: ManageSieveSession, request: Request) -> list[Response]:
    """Answer one request through :data:`HANDLERS` (an explicit table, STYLE.md 10)."""
    return await HANDLERS[type(request)](session, request)

