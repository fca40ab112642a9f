"""Failed-login counting: delays, refusals, and the owner never locked out."""

from __future__ import annotations

import pytest

from hivemail.auth.throttle import (
    LoginRefused,
    MemoryFailures,
    Throttle,
    ThrottlePolicy,
    address_key,
    count_failure,
)
from hivemail.shared_state import FailureFiles, FailureRecord, SharedState

POLICY = ThrottlePolicy(delay=2.0, delay_max=15.0, window=600.0, lockout=300.0,
                        per_ip=10, per_account_ip=3, per_account=5)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "files"])
def throttle(request, tmp_path):
    table = MemoryFailures() if request.param == "memory" else FailureFiles(SharedState(tmp_path))
    return Throttle(POLICY, table, clock=Clock())


def fail(t: Throttle, ip: str, account: str | None, n: int = 1) -> float:
    delay = 0.0
    for _ in range(n):
        t.check(ip, account)
        delay = t.failure(ip, account)
    return delay


def test_delay_doubles_up_to_the_maximum_like_dovecot():
    assert [POLICY.delay_for(n) for n in range(1, 6)] == [2.0, 4.0, 8.0, 15.0, 15.0]
    assert POLICY.delay_for(10_000) == 15.0


def test_account_is_refused_from_the_failing_address_only(throttle):
    fail(throttle, "198.51.100.1", "alice@example.org", 3)
    with pytest.raises(LoginRefused) as e:
        throttle.check("198.51.100.1", "alice@example.org")
    assert 0 < e.value.retry_after <= POLICY.lockout
    throttle.check("203.0.113.9", "alice@example.org")   # the owner, elsewhere
    throttle.check("198.51.100.1", "bob@example.org")    # another account there


def test_refusal_ends_after_the_lockout(throttle):
    fail(throttle, "198.51.100.1", "alice@example.org", 3)
    throttle.clock.now += POLICY.lockout + 1
    throttle.check("198.51.100.1", "alice@example.org")
    # ... and the count started over: one failure does not lock again.
    fail(throttle, "198.51.100.1", "alice@example.org")
    throttle.check("198.51.100.1", "alice@example.org")


def test_refused_attempts_do_not_extend_the_lockout(throttle):
    fail(throttle, "198.51.100.1", "alice@example.org", 3)
    for _ in range(50):
        throttle.clock.now += 5
        with pytest.raises(LoginRefused):
            throttle.check("198.51.100.1", "alice@example.org")
    throttle.clock.now += POLICY.lockout
    throttle.check("198.51.100.1", "alice@example.org")


def test_success_clears_the_pair_but_not_the_address(throttle):
    fail(throttle, "198.51.100.1", "alice@example.org", 2)
    throttle.success("198.51.100.1", "alice@example.org")
    fail(throttle, "198.51.100.1", "alice@example.org", 2)
    throttle.check("198.51.100.1", "alice@example.org")  # 2 + 2, but not in a row
    # The address keeps counting: logging in to one's own account between
    # guesses does not reset it.
    for i in range(6):
        throttle.success("198.51.100.1", "mallory@example.org")
        fail(throttle, "198.51.100.1", f"user{i}@example.org")
    with pytest.raises(LoginRefused):
        throttle.check("198.51.100.1", "mallory@example.org")


def test_address_limit_counts_failures_without_a_user_name(throttle):
    fail(throttle, "198.51.100.1", None, POLICY.per_ip)
    with pytest.raises(LoginRefused):
        throttle.check("198.51.100.1", "anyone@example.org")
    throttle.check("198.51.100.2", "anyone@example.org")


def test_distributed_guessing_gives_each_address_one_guess_and_spares_the_owner(throttle):
    # Five bots fail once each: the account is now under attack.
    for i in range(POLICY.per_account):
        fail(throttle, f"192.0.2.{i}", "alice@example.org")
    for i in range(POLICY.per_account):
        with pytest.raises(LoginRefused):
            throttle.check(f"192.0.2.{i}", "alice@example.org")
    # A fresh bot still gets its one guess; the owner, who has not failed, logs in.
    throttle.check("192.0.2.200", "alice@example.org")
    throttle.check("203.0.113.9", "alice@example.org")
    # When the attack state ends, the bots may try again (one failure each is
    # below the per-address limit).
    throttle.clock.now += POLICY.lockout + 1
    throttle.check("192.0.2.0", "alice@example.org")


def test_window_forgets_old_failures(throttle):
    fail(throttle, "198.51.100.1", "alice@example.org", 2)
    throttle.clock.now += POLICY.window + 1
    fail(throttle, "198.51.100.1", "alice@example.org", 2)
    throttle.check("198.51.100.1", "alice@example.org")


def test_delay_grows_with_the_address_count(throttle):
    delays = [fail(throttle, "198.51.100.1", f"u{i}@example.org") for i in range(5)]
    assert delays == [2.0, 4.0, 8.0, 15.0, 15.0]


def test_sweep_removes_dead_records(throttle, tmp_path):
    fail(throttle, "198.51.100.1", "alice@example.org")
    throttle.clock.now += POLICY.window + POLICY.lockout + 10
    if isinstance(throttle.table, FailureFiles):
        import os

        for entry in os.scandir(throttle.table.dir):
            os.utime(entry.path, (throttle.clock.now - POLICY.window - POLICY.lockout - 5,) * 2)
    assert throttle.sweep() == 3
    assert not throttle.sweep_due()


@pytest.mark.parametrize(
    "ip,key",
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3::9", "2001:db8:1::/48"),
        ("2001:db8:1:ffff::1", "2001:db8:1::/48"),
        ("fe80::1%eth0", "fe80::/48"),
        ("not an address", "not an address"),
    ],
)
def test_address_key(ip, key):
    assert address_key(ip) == key


def test_ipv6_neighbours_share_a_counter(throttle):
    for i in range(POLICY.per_ip):
        fail(throttle, f"2001:db8:1:{i:x}::1", None)
    with pytest.raises(LoginRefused):
        throttle.check("2001:db8:1:ffff::99", None)


def test_count_failure_starts_a_lockout_at_the_limit():
    r = None
    for _ in range(3):
        r = count_failure(r, 100.0, 600.0, 3, 50.0)
    assert r == FailureRecord(3, 100.0, 100.0, 150.0)
    assert count_failure(r, 151.0, 600.0, 3, 50.0) == FailureRecord(1, 151.0, 151.0, 0.0)


def test_failure_files_are_shared_between_instances(tmp_path):
    a = FailureFiles(SharedState(tmp_path))
    b = FailureFiles(SharedState(tmp_path))
    a.update("k", lambda r: count_failure(r, 1.0, 600.0, 0, 0.0))
    b.update("k", lambda r: count_failure(r, 2.0, 600.0, 0, 0.0))
    assert a.get("k") == FailureRecord(2, 1.0, 2.0, 0.0)
    a.clear("k")
    assert b.get("k") is None
    (tmp_path / "run" / "authfail" / "junk").write_bytes(b"garbage")
    assert FailureRecord.decode(b"garbage") is None
