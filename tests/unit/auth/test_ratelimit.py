"""Login rate limiting with a fake clock: per-address delays and lockout, the smart per-account
delay, expiry, reset, unblock, memory bound."""

from __future__ import annotations

import asyncio

import pytest

from pochta.auth import ratelimit
from pochta.auth.ratelimit import Lockout, LoginRateLimiter, Verdict, ip_key, unblock_target
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


def test_lockout_is_per_address_never_per_account(limiter: LoginRateLimiter) -> None:
    for n in range(6):
        limiter.record_failure("192.0.2.1", f"user{n}@example.com")  # one address, many accounts
    assert limiter.check("192.0.2.1", "fresh@example.com").locked_out
    assert not limiter.check("192.0.2.2", "fresh@example.com").locked_out
    for n in range(20):
        limiter.record_failure(f"198.51.100.{n}", "target@example.com")  # one account, many addresses
    # the owner, at an address that never failed, is neither refused nor delayed
    assert limiter.check("203.0.113.9", "TARGET@example.com") == Verdict(False, 0.0)


def test_record_failure_reports_the_lockout_once(limiter: LoginRateLimiter) -> None:
    reports = [limiter.record_failure("192.0.2.1", "Bob@example.com") for _ in range(7)]
    assert reports[:5] == [None] * 5
    assert reports[5] == Lockout("192.0.2.1", "bob@example.com", 6, 100.0)
    assert reports[6] is None  # already locked
    assert limiter.locked_addresses() == 1


def test_account_counter_slows_only_addresses_that_failed_for_it(limiter: LoginRateLimiter) -> None:
    # a distributed guesser: ten addresses, two failures each, for one account
    for n in range(10):
        fail(limiter, 2, ip=f"198.51.100.{n}", account="bob@example.com")
    # each guessing address is slowed by the account's 20 failures, though it has only 2 of its own
    assert limiter.check("198.51.100.3", "bob@example.com") == Verdict(False, 4.0)
    # ...for that account only
    assert limiter.check("198.51.100.3", "other@example.com") == Verdict(False, 0.0)
    # a fresh address (the owner) is not slowed, nor one that failed only for another account
    assert limiter.check("203.0.113.9", "bob@example.com") == Verdict(False, 0.0)
    limiter.record_failure("203.0.113.10", "alice@example.com")
    assert limiter.check("203.0.113.10", "bob@example.com") == Verdict(False, 0.0)
    # the owner mistypes once: now it is an address that failed for bob, and is slowed
    limiter.record_failure("203.0.113.9", "bob@example.com")
    assert limiter.check("203.0.113.9", "bob@example.com") == Verdict(False, 4.0)
    # a success clears its pair: the owner is fast again, the guessers stay slow
    limiter.record_success("203.0.113.9", "bob@example.com")
    assert limiter.check("203.0.113.9", "bob@example.com") == Verdict(False, 0.0)
    assert limiter.check("198.51.100.3", "bob@example.com") == Verdict(False, 4.0)


def test_per_address_delay_grows_with_its_own_failures_for_any_account(limiter: LoginRateLimiter) -> None:
    for n in range(4):
        limiter.record_failure("192.0.2.1", f"user{n}@example.com")
    assert limiter.check("192.0.2.1", "fresh@example.com") == Verdict(False, 1.0)
    assert limiter.check("192.0.2.2", "user0@example.com") == Verdict(False, 0.0)


def test_failures_expire_after_the_window(limiter: LoginRateLimiter, clock: FakeClock) -> None:
    fail(limiter, 4)
    assert limiter.check("192.0.2.1", "a@example.com").delay == 1.0
    clock.now += 999
    fail(limiter, 1)
    assert limiter.check("192.0.2.1", "a@example.com").delay == 2.0
    clock.now += 2  # the first four are now older than the window
    assert limiter.check("192.0.2.1", "a@example.com").delay == 0.0


def test_success_clears_the_pair_not_the_address_nor_the_account(limiter: LoginRateLimiter) -> None:
    fail(limiter, 4)
    limiter.record_success("192.0.2.1", "A@example.com")
    assert limiter.check("192.0.2.1", "a@example.com").delay == 1.0  # the address's own record stays
    assert limiter.check("192.0.2.9", "a@example.com") == Verdict(False, 0.0)
    fail(limiter, 1, ip="192.0.2.9")
    assert limiter.check("192.0.2.9", "a@example.com").delay == 2.0  # the account's 5 failures remain


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
    assert limiter.tracked() == (10, 10, 10)
    # the most recent are kept
    assert limiter.check("10.0.0.99", "x@example.com").delay == 0.0
    fail(limiter, 2, ip="10.0.0.99")
    assert limiter.check("10.0.0.99", "x@example.com").delay == 0.5


def test_old_entries_expire(limiter: LoginRateLimiter, clock: FakeClock) -> None:
    for n in range(50):
        limiter.record_failure(f"10.0.0.{n}", f"user{n}@example.com")
    assert limiter.tracked() == (50, 50, 50)
    clock.now += 1001
    limiter.record_failure("10.9.9.9", "late@example.com")
    assert limiter.tracked() == (1, 1, 1)


def test_locked_entries_outlive_the_window() -> None:
    clock = FakeClock()
    limiter = LoginRateLimiter(SETTINGS.model_copy(update={"lockout_seconds": 5000.0}), clock)
    fail(limiter, 6)
    clock.now += 2000
    limiter.record_failure("10.9.9.9", "late@example.com")
    assert limiter.check("192.0.2.1", "a@example.com").locked_out
    clock.now += 3001
    assert not limiter.check("192.0.2.1", "a@example.com").locked_out


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("127.0.0.9", "127.0.0.9/32"),
        (" 192.0.2.0/24 ", "192.0.2.0/24"),
        ("192.0.2.7/24", "192.0.2.0/24"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("::ffff:192.0.2.1", "192.0.2.1/32"),
        ("::ffff:192.0.2.0/120", "192.0.2.0/24"),
        ("Bob@Example.ORG", "bob@example.org"),
    ],
)
def test_unblock_target(text: str, canonical: str) -> None:
    assert unblock_target(text) == canonical


@pytest.mark.parametrize("text", ["", "bob", "@example.org", "bob@", "300.1.1.1", "10.0.0.0/33", "a b@c"])
def test_unblock_target_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="not an"):
        unblock_target(text)


def test_unblock_an_address_lifts_its_lockout_and_keeps_later_failures(
    limiter: LoginRateLimiter, clock: FakeClock
) -> None:
    fail(limiter, 6, ip="192.0.2.1")
    fail(limiter, 6, ip="192.0.2.2", account="b@example.com")
    assert limiter.check("192.0.2.1", "a@example.com").locked_out
    clock.now += 1
    unblocked_at = clock.now
    clock.now += 1
    limiter.record_failure("192.0.2.1", "z@example.com")  # after the unblock was asked for
    assert limiter.unblock("192.0.2.1", unblocked_at) == 3  # the address and its two pairs
    assert limiter.check("192.0.2.1", "a@example.com") == Verdict(False, 0.0)  # 1 failure left
    assert limiter.check("192.0.2.2", "a@example.com").locked_out  # another address stays locked
    assert limiter.locked_addresses() == 1
    # replaying it changes nothing more
    limiter.unblock("192.0.2.1/32", unblocked_at)
    fail(limiter, 2, ip="192.0.2.1", account="z@example.com")
    assert limiter.check("192.0.2.1", "a@example.com") == Verdict(False, 0.5)  # 3 failures


def test_unblock_a_lockout_that_began_after_it_does_nothing(
    limiter: LoginRateLimiter, clock: FakeClock
) -> None:
    unblocked_at = clock.now
    clock.now += 1
    fail(limiter, 6)
    limiter.unblock("192.0.2.1", unblocked_at)
    assert limiter.check("192.0.2.1", "a@example.com").locked_out


def test_unblock_a_network(limiter: LoginRateLimiter, clock: FakeClock) -> None:
    for ip in ("10.1.0.1", "10.1.200.7", "10.2.0.1", "2001:db8:0:1::5", "2001:db8:1:1::5"):
        fail(limiter, 6, ip=ip)
    limiter.unblock("10.1.0.0/16", clock.now)
    limiter.unblock("2001:db8::/48", clock.now)
    locked = {
        ip: limiter.check(ip, "a@example.com").locked_out for ip in ("10.1.0.1", "10.1.200.7", "10.2.0.1")
    }
    assert locked == {"10.1.0.1": False, "10.1.200.7": False, "10.2.0.1": True}
    assert not limiter.check("2001:db8:0:1::77", "a@example.com").locked_out
    assert limiter.check("2001:db8:1:1::77", "a@example.com").locked_out
    # a single IPv6 address unblocks its /64
    limiter.unblock("2001:db8:1:1:ffff::1", clock.now)
    assert not limiter.check("2001:db8:1:1::77", "a@example.com").locked_out


def test_unblock_an_account_clears_its_counter_and_pairs(limiter: LoginRateLimiter, clock: FakeClock) -> None:
    for n in range(5):
        fail(limiter, 2, ip=f"198.51.100.{n}", account="bob@example.com")
    fail(limiter, 2, ip="198.51.100.0", account="carol@example.com")
    assert limiter.check("198.51.100.1", "bob@example.com").delay == 4.0
    assert limiter.unblock("BOB@example.com", clock.now) == 6  # five pairs and the account
    assert limiter.check("198.51.100.1", "bob@example.com") == Verdict(False, 0.0)
    # the addresses keep their own record (4 failures of 198.51.100.0, 2 for each other one)
    assert limiter.check("198.51.100.0", "bob@example.com").delay == 1.0
    assert limiter.check("198.51.100.0", "carol@example.com").delay == 1.0


def test_bad_max_entries() -> None:
    with pytest.raises(ValueError, match="positive"):
        LoginRateLimiter(SETTINGS, max_entries=0)


async def test_wait_sleeps_the_delay() -> None:
    await ratelimit.wait(Verdict(False, 0.0))
    await asyncio.wait_for(ratelimit.wait(Verdict(False, 0.001)), timeout=5)
