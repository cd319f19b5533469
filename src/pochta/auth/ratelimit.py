"""Login failure tracking per client IP and per account: growing delays, then a temporary lockout.

Pure logic over an injectable monotonic clock. The rules (numbers from ``LoginSettings``):
- a failure within ``failure_window`` counts; older ones are forgotten;
- once an IP or account has ``failures_before_delay`` failures, every further attempt from it waits
  ``delay_base`` seconds, doubling per further failure, up to ``delay_max`` -- before the password is
  checked, whatever the outcome, so that a client cannot give up early on a slow reply and learn
  that it was a failure;
- ``lockout_after`` failures within the window lock the IP or account for ``lockout_seconds``: its
  attempts are refused without checking the password;
- a success clears the account's failures (not the IP's: one good login from an address must not wipe
  out the record of an attack from it);
- memory is bounded: at most ``max_entries`` IPs and as many accounts, least recently failed dropped
  first, entries with nothing left to remember expire.

IPv6 clients are counted per /64, the block one subscriber usually controls.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pochta.config import LoginSettings

Clock = Callable[[], float]
DEFAULT_MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class Verdict:
    """What to do with a login attempt before checking its password."""

    locked_out: bool
    delay: float  # seconds to wait before answering (0 when locked out: refuse at once)
    retry_after: float = 0.0  # seconds until a lockout ends


@dataclass
class _Entry:
    failures: deque[float]  # monotonic times of recent failures, at most lockout_after kept
    locked_until: float = 0.0

    def count(self, now: float, window: float) -> int:
        while self.failures and self.failures[0] <= now - window:
            self.failures.popleft()
        return len(self.failures)


@dataclass
class _Table:
    max_entries: int
    entries: OrderedDict[str, _Entry] = field(default_factory=OrderedDict)  # oldest failure first


def ip_key(remote_ip: str) -> str:
    """The key an address is counted under: IPv4 (also when IPv4-mapped), or the IPv6 /64."""
    try:
        address = ipaddress.ip_address(remote_ip.split("%", 1)[0])
    except ValueError:
        return remote_ip  # not an IP (a UNIX socket peer, say): counted by its name
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def account_key(address: str) -> str:
    return address.strip().lower()


class LoginRateLimiter:
    def __init__(
        self, settings: LoginSettings, clock: Clock = time.monotonic, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._settings = settings
        self._clock = clock
        self._ips = _Table(max_entries)
        self._accounts = _Table(max_entries)

    def reconfigure(self, settings: LoginSettings) -> None:
        """New thresholds and delays from a reload; the failures recorded so far stay."""
        self._settings = settings

    def check(self, remote_ip: str, address: str) -> Verdict:
        """Before an attempt: is it refused outright, and how long must it wait?"""
        now = self._clock()
        keys = ((self._ips, ip_key(remote_ip)), (self._accounts, account_key(address)))
        entries = [entry for table, key in keys if (entry := table.entries.get(key)) is not None]
        locked_until = max((entry.locked_until for entry in entries), default=0.0)
        if locked_until > now:
            return Verdict(locked_out=True, delay=0.0, retry_after=locked_until - now)
        failures = max((entry.count(now, self._settings.failure_window) for entry in entries), default=0)
        return Verdict(locked_out=False, delay=self.delay_for(failures))

    def delay_for(self, failures: int) -> float:
        """The wait after ``failures`` recent failures: delay_base doubling per failure, capped."""
        threshold = self._settings.failures_before_delay
        if failures == 0 or failures < threshold:
            return 0.0
        exponent = min(failures - max(threshold, 1), 64)  # 2**64 is past any delay_max already
        return min(self._settings.delay_max, self._settings.delay_base * 2.0**exponent)

    def record_failure(self, remote_ip: str, address: str) -> None:
        now = self._clock()
        self._fail(self._ips, ip_key(remote_ip), now)
        self._fail(self._accounts, account_key(address), now)

    def record_success(self, remote_ip: str, address: str) -> None:
        self._accounts.entries.pop(account_key(address), None)

    def tracked(self) -> tuple[int, int]:
        """How many IPs and accounts are remembered (for metrics and tests)."""
        return len(self._ips.entries), len(self._accounts.entries)

    def _fail(self, table: _Table, key: str, now: float) -> None:
        settings = self._settings
        self._expire(table, now)
        entry = table.entries.pop(key, None)
        if entry is None:
            entry = _Entry(deque(maxlen=settings.lockout_after))
        entry.failures.append(now)
        if entry.count(now, settings.failure_window) >= settings.lockout_after:
            entry.locked_until = now + settings.lockout_seconds
        table.entries[key] = entry  # re-inserted last: the table stays ordered by latest failure
        while len(table.entries) > table.max_entries:
            table.entries.popitem(last=False)

    def _expire(self, table: _Table, now: float) -> None:
        """Drops entries from the old end that remember nothing any more."""
        horizon = now - self._settings.failure_window
        while table.entries:
            entry = next(iter(table.entries.values()))
            if (entry.failures and entry.failures[-1] > horizon) or entry.locked_until > now:
                break
            table.entries.popitem(last=False)


async def wait(verdict: Verdict) -> None:
    """Sleeps the verdict's delay (the async half; the limiter itself never sleeps)."""
    if verdict.delay > 0:
        await asyncio.sleep(verdict.delay)
