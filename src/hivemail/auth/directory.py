"""Who may log in: password and SCRAM checks against the store, and the
slow-down that makes guessing passwords expensive. Shared by IMAP and POP3."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict

from hivemail.auth.passwords import hash_password, verify_password
from hivemail.config import AuthConfig
from hivemail.mailstore import AccountInfo, MailStore

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
    ) -> None:
        self.store = store
        self.failure_delay = failure_delay
        # Recent failures per client address, oldest first, bounded.
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._max_tracked = max_tracked
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

    async def failed(self, peer_ip: str) -> None:
        """Record a failure and wait: the delay doubles with each recent
        failure from the same address, up to 8 times the base (Dovecot waits
        auth_failure_delay, 2 s, on every failure)."""
        now = time.monotonic()
        count, last = self._failures.pop(peer_ip, (0, now))
        if now - last > 300:
            count = 0
        count += 1
        self._failures[peer_ip] = (count, now)
        while len(self._failures) > self._max_tracked:
            self._failures.popitem(last=False)
        await asyncio.sleep(min(self.failure_delay * 2 ** (count - 1), self.failure_delay * 8))

    def succeeded(self, peer_ip: str) -> None:
        self._failures.pop(peer_ip, None)
