"""Login rate limiting with a fake clock: delays, lockout, expiry, reset, memory bound."""

from __future__ import annotations

import asyncio

import pytest

from pochta.auth import ratelimit
from pochta.auth.ratelimit import LoginRateLimiter, Verdict, ip_key
from pochta.config import LoginSettings

SETTINGS = LoginSettings(
    failures_before_delay=3,
    delay_base=0.5,
    delay_max=4.0,
    lockout_after=6,
    lockout_seconds=100.0,
    failure_window=1000.0,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> LoginRateLimiter:
    return LoginRateLimiter(SETTINGS, clock)


def fail(
    limiter: LoginRateLimiter, times: int, ip: str = "192.0.2.1", account: str = "a@example.com"
) -> None:
    for _ in range(times):
        limiter.record_failure(ip, account)


def test_no_delay_before_the_threshold(limiter: LoginRateLimiter) -> None:
    assert limiter.check("192.0.2.1", "a@example.com") == Verdict(False, 0.0)
    fail(limiter, 2)
    assert limiter.check("192.0.2.1", "a@example.com") == Verdict(False, 0.0)


def test_delay_doubles_up_to_the_maximum(limiter: LoginRateLimiter) -> None:
    delays = []
    for _ in range(5):
        limiter.record_failure("192.0.2.1", "a@example.com")
        delays.append(limiter.check("192.0.2.1", "a@example.com").delay)
    assert delays == [0.0, 0.0, 0.5, 1.0, 2.0]
    limiter.record_failure("192.0.2.1", "a@example.com")  # sixth: locked out
    assert limiter.delay_for(6) == 4.0
    assert limiter.delay_for(60) == 4.0
    assert limiter.delay_for(10**6) == 4.0


def test_delay_with_zero_threshold() -> None:
    limiter = LoginRateLimiter(SETTINGS.model_copy(update={"failures_before_delay": 0}))
    assert limiter.delay_for(0) == 0.0
    assert limiter.delay_for(1) == 0.5
    assert limiter.delay_for(2) == 1.0


def test_lockout_and_its_end(limiter: LoginRateLimiter, clock: FakeClock) -> None:
    fail(limiter, 5)
    assert not limiter.check("192.0.2.1", "a@example.com").locked_out
    fail(limiter, 1)
    verdict = limiter.check("192.0.2.1", "a@example.com")
    assert verdict == Verdict(locked_out=True, delay=0.0, retry_after=100.0)
    clock.now += 60
    assert limiter.check("192.0.2.1", "a@example.com").retry_after == 40.0
    clock.now += 40
    verdict = limiter.check("192.0.2.1", "a@example.com")
    assert not verdict.locked_out
    assert verdict.delay == 4.0  # the failures are still remembered...
    fail(limiter, 1)
    assert limiter.check("192.0.2.1", "a@example.com").locked_out  # ...so one more locks again


def test_lockout_applies_per_ip_and_per_account(limiter: LoginRateLimiter) -> None:
    for n in range(6):
        limiter.record_failure("192.0.2.1", f"user{n}@example.com")  # one IP, many accounts
    assert limiter.check("192.0.2.1", "fresh@example.com").locked_out
    assert not limiter.check("192.0.2.2", "fresh@example.com").locked_out
    for n in range(6):
        limiter.record_failure(f"198.51.100.{n}", "target@example.com")  # one account, many IPs
    assert limiter.check("203.0.113.9", "TARGET@example.com").locked_out


def test_failures_expire_after_the_window(limiter: LoginRateLimiter, clock: FakeClock) -> None:
    fail(limiter, 4)
    assert limiter.check("192.0.2.1", "a@example.com").delay == 1.0
    clock.now += 999
    fail(limiter, 1)
    assert limiter.check("192.0.2.1", "a@example.com").delay == 2.0
    clock.now += 2  # the first four are now older than the window
    assert limiter.check("192.0.2.1", "a@example.com").delay == 0.0


def test_success_resets_the_account_not_the_ip(limiter: LoginRateLimiter) -> None:
    fail(limiter, 4)
    limiter.record_success("192.0.2.1", "A@example.com")
    assert limiter.check("192.0.2.9", "a@example.com") == Verdict(False, 0.0)
    assert limiter.check("192.0.2.1", "other@example.com").delay == 1.0


def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4(limiter: LoginRateLimiter) -> None:
    assert ip_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert ip_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert ip_key("fe80::1%eth0") == "fe80::/64"
    assert ip_key("not-an-ip") == "not-an-ip"
    for n in range(6):
        limiter.record_failure(f"2001:db8:1:2::{n + 1}", f"u{n}@example.com")
    assert limiter.check("2001:db8:1:2:ffff::1", "x@example.com").locked_out
    assert not limiter.check("2001:db8:1:3::1", "x@example.com").locked_out


def test_memory_is_bounded(clock: FakeClock) -> None:
    limiter = LoginRateLimiter(SETTINGS, clock, max_entries=10)
    for n in range(100):
        limiter.record_failure(f"10.0.{n // 256}.{n % 256}", f"user{n}@example.com")
    assert limiter.tracked() == (10, 10)
    # the most recent are kept
    assert limiter.check("10.0.0.99", "x@example.com").delay == 0.0
    fail(limiter, 2, ip="10.0.0.99")
    assert limiter.check("10.0.0.99", "x@example.com").delay == 0.5


def test_old_entries_expire(limiter: LoginRateLimiter, clock: FakeClock) -> None:
    for n in range(50):
        limiter.record_failure(f"10.0.0.{n}", f"user{n}@example.com")
    assert limiter.tracked() == (50, 50)
    clock.now += 1001
    limiter.record_failure("10.9.9.9", "late@example.com")
    assert limiter.tracked() == (1, 1)


def test_locked_entries_outlive_the_window() -> None:
    clock = FakeClock()
    limiter = LoginRateLimiter(SETTINGS.model_copy(update={"lockout_seconds": 5000.0}), clock)
    fail(limiter, 6)
    clock.now += 2000
    limiter.record_failure("10.9.9.9", "late@example.com")
    assert limiter.check("192.0.2.1", "a@example.com").locked_out
    clock.now += 3001
    assert not limiter.check("192.0.2.1", "a@example.com").locked_out


def test_bad_max_entries() -> None:
    with pytest.raises(ValueError, match="positive"):
        LoginRateLimiter(SETTINGS, max_entries=0)


async def test_wait_sleeps_the_delay() -> None:
    await ratelimit.wait(Verdict(False, 0.0))
    await asyncio.wait_for(ratelimit.wait(Verdict(False, 0.001)), timeout=5)
