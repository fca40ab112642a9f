"""Who may log in: password and SCRAM checks against the store, and the
slow-down and refusal that make guessing passwords expensive (the rules are
in ``throttle.py``). Shared by IMAP and POP3."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from hivemail.auth.passwords import hash_password, verify_password
from hivemail.auth.throttle import LoginRefused, MemoryFailures, Throttle, ThrottlePolicy
from hivemail.config import AuthConfig
from hivemail.mailstore import AccountInfo, MailStore

log = logging.getLogger("hivemail.auth")

# Verified against when the user does not exist, so that an unknown user
# costs the same time as a wrong password (no user enumeration by timing).
_DUMMY_HASH = hash_password("not a password")


def plaintext_allowed(config: AuthConfig, *, tls: bool, loopback: bool) -> bool:
    """May a password cross this connection in the clear (IMAP LOGIN and
    AUTHENTICATE PLAIN, POP3 USER/PASS and AUTH PLAIN)? Under TLS always;
    from loopback if it counts as secure; elsewhere only if the config says
    so (RFC 8314 section 2 wants TLS; RFC 9051 LOGINDISABLED, RFC 2595)."""
    return tls or (loopback and config.loopback_is_secure) or config.allow_plaintext_without_tls


class Authenticator:
    """``cache_ttl``/``cache_size``: successful logins remembered so that a
    phone reconnecting every few minutes does not pay an argon2 verification
    (tens of milliseconds of CPU and 64 MiB) each time; Dovecot's auth_cache
    does the same. What is kept is an HMAC of the password under a key made
    at start-up and never written anywhere, tied to the stored hash: a
    password change invalidates it at once."""

    def __init__(
        self,
        store: MailStore,
        failure_delay: float,
        max_tracked: int = 10_000,
        cache_ttl: float = 3600.0,
        cache_size: int = 10_000,
        *,
        throttle: Throttle | None = None,
    ) -> None:
        self.store = store
        self.failure_delay = failure_delay
        # Without a shared table (tests, one process): counted in memory,
        # with the default limits and the given delay.
        self.throttle = throttle or Throttle(
            ThrottlePolicy(delay=failure_delay, delay_max=max(failure_delay * 8, failure_delay)), MemoryFailures()
        )
        self._cache: OrderedDict[str, tuple[str, bytes, float]] = OrderedDict()
        self._cache_key = secrets.token_bytes(32)
        self._cache_ttl = cache_ttl
        self._cache_size = cache_size

    def _mac(self, password: str) -> bytes:
        return hmac.new(self._cache_key, password.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()

    async def check_password(self, username: str, password: str) -> AccountInfo | None:
        name = username.strip().lower()
        account = await self.store.get_account(name)
        stored = account.password_hash if account and account.password_hash else _DUMMY_HASH
        hit = self._cache.get(name)
        if (
            hit is not None
            and account is not None
            and hit[0] == stored
            and time.monotonic() - hit[2] < self._cache_ttl
            and hmac.compare_digest(hit[1], self._mac(password))
        ):
            self._cache.move_to_end(name)
            return account
        ok = await asyncio.to_thread(verify_password, stored, password)
        if not (ok and account is not None and account.password_hash):
            return None
        self._cache[name] = (stored, self._mac(password), time.monotonic())
        self._cache.move_to_end(name)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return account

    async def account(self, username: str) -> AccountInfo | None:
        return await self.store.get_account(username.strip().lower())

    def for_connection(self, peer_ip: str, on_login: Callable[[str], None] | None = None) -> ConnectionAuth:
        """This authenticator as one connection sees it: the same methods,
        with the client address and the account tried kept, so that failures
        count per address and per account (``auth/throttle.py``)."""
        return ConnectionAuth(self, peer_ip, on_login)

    async def failed(self, peer_ip: str) -> None:
        """Count a failure from ``peer_ip`` (no account known) and wait:
        ``failure_delay``, doubling with each recent failure from there, up
        to ``failure_delay_max`` (Dovecot's auth penalty: 2, 4, 8, 15 s)."""
        await asyncio.sleep(self.throttle.failure(peer_ip, None))

    def succeeded(self, peer_ip: str) -> None:
        """Nothing to forget without an account: an address's count is never
        reset by a success (see ``auth/throttle.py``)."""


class ConnectionAuth:
    """The :class:`Authenticator` of one connection. Sessions hand it to
    the login handlers in place of the shared one; it has the same methods.

    Before credentials are checked, :meth:`check_password` and
    :meth:`account` (SCRAM's first step) ask the throttle and raise
    :class:`~hivemail.auth.throttle.LoginRefused` (after the base delay)
    when a limit refuses this address or this account from it; the
    session turns that into "try later". :meth:`failed` counts the failure
    against the address and the account last tried; :meth:`succeeded`
    clears that pair and reports the account to ``on_login`` (the session
    puts it into its log lines)."""

    def __init__(self, auth: Authenticator, peer_ip: str, on_login: Callable[[str], None] | None) -> None:
        self.auth = auth
        self.peer_ip = peer_ip
        self.on_login = on_login
        self.tried: str | None = None   # the account name of the current attempt

    async def _admit(self, username: str) -> str:
        name = username.strip().lower()
        self.tried = name
        try:
            self.auth.throttle.check(self.peer_ip, name)
        except LoginRefused as e:
            log.info("login refused for %s: %s (%d s left)", name, e.reason, e.retry_after)
            await asyncio.sleep(self.auth.throttle.policy.delay)
            raise
        return name

    async def check_password(self, username: str, password: str) -> AccountInfo | None:
        await self._admit(username)
        return await self.auth.check_password(username, password)

    async def account(self, username: str) -> AccountInfo | None:
        await self._admit(username)
        return await self.auth.account(username)

    async def failed(self, peer_ip: str | None = None) -> None:
        throttle = self.auth.throttle
        delay = throttle.failure(self.peer_ip, self.tried)
        log.info("authentication failed for %s from %s", self.tried or "(no user name)", self.peer_ip)
        if throttle.sweep_due():
            await asyncio.to_thread(throttle.sweep)
        await asyncio.sleep(delay)

    def succeeded(self, peer_ip: str | None = None) -> None:
        if self.tried is None:
            return
        self.auth.throttle.success(self.peer_ip, self.tried)
        if self.on_login is not None:
            self.on_login(self.tried)
