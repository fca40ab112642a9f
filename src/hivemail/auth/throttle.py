"""Failed logins: a growing delay, then a temporary refusal.

Three counters, each over ``failure_window`` seconds, shared by every
worker process (``shared_state.FailureFiles``):

* per client address (IPv6: per /48, as Dovecot's auth penalty does, so
  that one host cannot get a fresh counter from each of its addresses).
  Over ``max_failures_per_ip``, every login from there is refused for
  ``lockout_time``. It is never reset by a success: an attacker holding
  one valid account must not clear his counter by logging in with it.
* per account *and* address. Over ``max_failures_per_account_ip``, that
  account is refused from that address only. A success clears it.
* per account, from everywhere (a botnet spreading guesses over many
  addresses). Over ``max_failures_per_account`` the account is "under
  attack" for ``lockout_time``: an address that has failed on it within
  the window is refused at once, an address that has not is still let
  in. Each attacking address thus gets one guess per window, while the
  owner, who types the right password, still logs in.

Why not lock the account outright: then anyone who knows an address can
keep its owner out for ever, by failing a few times every lockout period.
Keying the refusal on (account, address) bounds what an attacker can do
to the owner to his own addresses.

Dovecot, for comparison, never refuses: its anvil process keeps a penalty
per address (IPv6 /48) and delays each failure reply 2, 4, 8, then 15 s
(``AUTH_PENALTY_INIT_SECS``/``AUTH_PENALTY_MAX_SECS``, plus
``auth_failure_delay``), does not raise it when the same user and password
fail again (a phone with an old password), and leaves refusal to an
external policy server (``auth_policy_server_url``, e.g. weakforced,
which counts per login and per address). The delay here follows Dovecot's
curve (``failure_delay`` .. ``failure_delay_max``); the refusal is the
policy server's job done in-house, for a server that has no other.

A refused attempt is not checked at all (no password hashing, no answer
that tells a right password from a wrong one) and does not extend the
refusal, so a lockout always ends ``lockout_time`` after it began.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from hivemail.config import AuthConfig
from hivemail.shared_state import FailureRecord

log = logging.getLogger("hivemail.auth")

#: IPv6 clients are counted per network of this many bits (Dovecot's
#: PENALTY_IPV6_MASK_BITS): a host has a whole /64 or more to pick from.
IPV6_PREFIX = 48


class LoginRefused(Exception):
    """Raised by ``ConnectionAuth`` instead of checking credentials while a
    limit refuses them; the session answers "try later" (IMAP ``NO
    [UNAVAILABLE]``, POP3 ``-ERR [SYS/TEMP]``)."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def address_key(ip: str) -> str:
    """The counter key of a client address: IPv4 as is (also when mapped
    into IPv6), IPv6 as its /48 network."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, IPV6_PREFIX), strict=False))
    return str(addr)


class MemoryFailures:
    """Failure records in one process's memory (tests, single-process use);
    the same interface as ``shared_state.FailureFiles``."""

    def __init__(self) -> None:
        self.records: dict[str, FailureRecord] = {}

    def get(self, key: str) -> FailureRecord | None:
        return self.records.get(key)

    def update(self, key: str, change: Callable[[FailureRecord | None], FailureRecord]) -> FailureRecord:
        new = self.records[key] = change(self.records.get(key))
        return new

    def clear(self, key: str) -> None:
        self.records.pop(key, None)

    def expire(self, older_than: float) -> int:
        dead = [k for k, r in self.records.items() if max(r.last, r.locked_until) < older_than]
        for k in dead:
            del self.records[k]
        return len(dead)


@dataclass(frozen=True)
class ThrottlePolicy:
    delay: float = 2.0
    delay_max: float = 15.0
    window: float = 600.0
    lockout: float = 600.0
    per_ip: int = 30
    per_account_ip: int = 5
    per_account: int = 100

    @classmethod
    def from_config(cls, cfg: AuthConfig) -> ThrottlePolicy:
        return cls(
            delay=cfg.failure_delay,
            delay_max=cfg.failure_delay_max,
            window=cfg.failure_window,
            lockout=cfg.lockout_time,
            per_ip=cfg.max_failures_per_ip,
            per_account_ip=cfg.max_failures_per_account_ip,
            per_account=cfg.max_failures_per_account,
        )

    def delay_for(self, count: int) -> float:
        """The wait before answering the ``count``-th recent failure."""
        return min(self.delay * 2 ** min(max(count - 1, 0), 30), max(self.delay_max, self.delay))


def count_failure(rec: FailureRecord | None, now: float, window: float, limit: int, lockout: float) -> FailureRecord:
    """One more failure. A count starts over when its window has passed or
    its lockout has ended; reaching ``limit`` (0: no limit) starts a lockout."""
    if rec is None or (rec.locked_until == 0 and now - rec.first > window) or 0 < rec.locked_until <= now:
        rec = FailureRecord(0, now, now, 0.0)
    count = rec.count + 1
    locked = rec.locked_until
    if limit > 0 and count >= limit and locked <= now:
        locked = now + lockout
    return FailureRecord(count, rec.first, now, locked)


class Throttle:
    """The counting rules over a failure table (``MemoryFailures`` or
    ``shared_state.FailureFiles``). ``now`` is wall-clock time."""

    def __init__(self, policy: ThrottlePolicy, table, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.table = table
        self.clock = clock
        self._next_sweep = 0.0

    @staticmethod
    def _keys(ip: str, account: str | None) -> tuple[str, str | None, str | None]:
        addr = address_key(ip)
        if account is None:
            return f"ip {addr}", None, None
        return f"ip {addr}", f"pair {account}\0{addr}", f"account {account}"

    def check(self, ip: str, account: str | None) -> None:
        """Raise :class:`LoginRefused` if a login from ``ip`` (as
        ``account``, when known) must be refused now."""
        now = self.clock()
        ip_key, pair_key, account_key = self._keys(ip, account)
        rec = self.table.get(ip_key)
        if rec is not None and rec.locked_until > now:
            raise LoginRefused("too many failed logins from this address", rec.locked_until - now)
        if pair_key is None:
            return
        pair = self.table.get(pair_key)
        if pair is not None and pair.locked_until > now:
            raise LoginRefused("too many failed logins for this account from this address", pair.locked_until - now)
        if pair is None or now - pair.last >= self.policy.window:
            return  # this address has not failed on the account: let it try
        acct = self.table.get(account_key)
        if acct is not None and acct.locked_until > now:
            raise LoginRefused("account under attack; this address failed on it", acct.locked_until - now)

    def failure(self, ip: str, account: str | None) -> float:
        """Count a failed login; returns the seconds to wait before answering."""
        now = self.clock()
        p = self.policy
        ip_key, pair_key, account_key = self._keys(ip, account)
        counts = []
        for key, limit in ((ip_key, p.per_ip), (pair_key, p.per_account_ip), (account_key, p.per_account)):
            if key is None:
                continue
            rec = self.table.update(key, lambda r, limit=limit: count_failure(r, now, p.window, limit, p.lockout))
            if rec.count == limit:
                log.warning("%s: %d failed logins in %d s, refusing logins there for %d s",
                            key.replace("\0", " from "), rec.count, p.window, p.lockout)
            if key != account_key:
                counts.append(rec.count)
        return p.delay_for(max(counts))

    def success(self, ip: str, account: str) -> None:
        """A login succeeded: forget this account's failures from this
        address (not the address's, nor the account's: see the module
        docstring)."""
        _, pair_key, _ = self._keys(ip, account)
        assert pair_key is not None
        self.table.clear(pair_key)

    def sweep_due(self) -> bool:
        return self.clock() >= self._next_sweep

    def sweep(self) -> int:
        """Drop records that can no longer count or refuse."""
        now = self.clock()
        self._next_sweep = now + max(self.policy.window, 60.0)
        return self.table.expire(now - self.policy.window - self.policy.lockout)
