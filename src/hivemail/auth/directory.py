"""Who may log in: password and SCRAM checks against the store, and the
slow-down that makes guessing passwords expensive. Shared by IMAP and POP3."""

from __future__ import annotations

import asyncio
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
    def __init__(self, store: MailStore, failure_delay: float, max_tracked: int = 10_000) -> None:
        self.store = store
        self.failure_delay = failure_delay
        # Recent failures per client address, oldest first, bounded.
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._max_tracked = max_tracked

    async def check_password(self, username: str, password: str) -> AccountInfo | None:
        account = await self.store.get_account(username.strip().lower())
        stored = account.password_hash if account and account.password_hash else _DUMMY_HASH
        ok = await asyncio.to_thread(verify_password, stored, password)
        return account if ok and account is not None and account.password_hash else None

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
