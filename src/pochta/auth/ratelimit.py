"""Login throttling and lockout per source address, with a "smart lockout" for accounts.

Pure logic over an injectable monotonic clock; the numbers come from ``LoginSettings``. Three tables
of recent failures, each failure remembered for ``failure_window`` seconds:

- per source address (``netaddr.ip_key``: an IPv4 address, or the IPv6 /64 one subscriber usually controls),
  whatever the account;
- per (address, account) pair;
- per account, from every address.

The rules, asked before the password is checked (``check``) and applied whatever the outcome, so
that a client cannot give up early on a slow reply and learn that it was a failure:

1. Lockout is per address. An address with ``lockout_after`` failures within the window is locked out
   for ``lockout_seconds``: its attempts, for any account, are refused without checking the password.
   No account is ever locked: anyone could otherwise lock anyone out of their mail.
2. An address with ``failures_before_delay`` failures waits ``delay_base`` seconds before each further
   attempt, doubling per further failure, up to ``delay_max``.
3. Smart lockout: the account's counter (its failures from every address) delays attempts the same
   way, but only from an address that has itself failed for that account within the window. An
   address with no recent failure for the account -- the owner at home while a botnet guesses -- is
   never delayed nor refused because of the account's counter.
4. A success clears its (address, account) pair: the address proved that it knows the password, so the
   account's counter no longer slows it. A success clears neither the address (one good login must not
   wipe out the record of an attack from it) nor the account (the owner's phone logging in every few
   minutes would otherwise give a distributed guesser its speed back).

What keeps a distributed guesser (many addresses, one account) in check: each address has its own
delays and lockout (rules 1 and 2), and once the account has collected failures every address that
failed for it waits up to ``delay_max`` before each further guess (rule 3). Each new address gets
one quick guess per window, then is slowed like the rest; the owner is not slowed at all.

``unblock`` forgets what was recorded up to a given instant for an address or network (its failures,
its pairs, a lockout that began by then) or for an account (its counter and its pairs). Failures
after that instant still count, so replaying an old unblock is harmless (``pochta auth unblock``).

Memory is bounded: at most ``max_entries`` entries per table, the least recently failed dropped first;
entries with nothing left to remember expire.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pochta.config import LoginSettings
from pochta.netaddr import ip_key as ip_key  # re-exported: the rule lives in pochta.netaddr

Clock = Callable[[], float]
DEFAULT_MAX_ENTRIES = 100_000
K = TypeVar("K", bound=Hashable)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Verdict:
    """What to do with a login attempt before checking its password."""

    locked_out: bool
    delay: float  # seconds to wait before answering (0 when locked out: refuse at once)
    retry_after: float = 0.0  # seconds until a lockout ends


@dataclass(frozen=True)
class Lockout:
    """An address has just been locked out (``record_failure`` reports it once, for the log)."""

    address: str  # the ip_key: an IPv4 address or an IPv6 /64
    account: str  # the account of the failure that locked it
    failures: int
    seconds: float


@dataclass
class _Entry:
    failures: deque[float]  # monotonic times of recent failures, as many as make a difference
    locked_at: float = 0.0
    locked_until: float = 0.0

    def count(self, now: float, window: float) -> int:
        while self.failures and self.failures[0] <= now - window:
            self.failures.popleft()
        return len(self.failures)

    def forget(self, before: float) -> bool:
        """Drops failures and a lockout from ``before`` or earlier; True when nothing is left."""
        while self.failures and self.failures[0] <= before:
            self.failures.popleft()
        if self.locked_until and self.locked_at <= before:
            self.locked_at = self.locked_until = 0.0
        return not self.failures and not self.locked_until


@dataclass
class _Table(Generic[K]):
    max_entries: int
    entries: OrderedDict[K, _Entry] = field(default_factory=OrderedDict)  # oldest failure first

    def forget(self, keys: list[K], before: float) -> int:
        for key in keys:
            if self.entries[key].forget(before):
                del self.entries[key]
        return len(keys)


def account_key(address: str) -> str:
    return address.strip().lower()


def unblock_target(text: str) -> str:
    """The canonical form of what ``pochta auth unblock`` names: an account (lower-cased, as logins
    are counted), or an IP network -- a bare IPv4 address is its /32, a bare IPv6 address its /64
    (the unit addresses are counted in). Raises ValueError for anything else."""
    text = text.strip()
    if "@" in text:
        local, _, domain = text.rpartition("@")
        if not local or not domain or any(c.isspace() for c in text):
            raise ValueError(f"not an account address: {text!r}")
        return account_key(text)
    try:
        if "/" in text:
            network: IPNetwork = ipaddress.ip_network(text, strict=False)
        else:
            network = ipaddress.ip_network(ip_key(str(ipaddress.ip_address(text))), strict=False)
    except ValueError:
        raise ValueError(f"not an IP address, network or account address: {text!r}") from None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:  # ::ffff:a.b.c.d/n is counted as the IPv4 address
            return str(ipaddress.IPv4Network((mapped, max(network.prefixlen - 96, 0)), strict=False))
    return str(network)


def _ip_in(key: str, network: IPNetwork) -> bool:
    try:
        counted = ipaddress.ip_network(key, strict=False)
    except ValueError:
        return False
    return counted.version == network.version and counted.overlaps(network)


class LoginRateLimiter:
    def __init__(
        self, settings: LoginSettings, clock: Clock = time.monotonic, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._settings = settings
        self._clock = clock
        self._ips: _Table[str] = _Table(max_entries)
        self._pairs: _Table[tuple[str, str]] = _Table(max_entries)
        self._accounts: _Table[str] = _Table(max_entries)
        # Failures worth remembering per entry: enough to lock out and to reach delay_max.
        saturation = max(settings.failures_before_delay, 1)
        while (
            self.delay_for(saturation) < settings.delay_max
            and saturation < settings.failures_before_delay + 64
        ):
            saturation += 1
        self._keep = max(settings.lockout_after, saturation)

    @property
    def clock(self) -> Clock:
        return self._clock

    def reconfigure(self, settings: LoginSettings) -> None:
        """New thresholds and delays from a reload; the failures recorded so far stay."""
        self._settings = settings

    def check(self, remote_ip: str, address: str) -> Verdict:
        """Before an attempt: is it refused outright, and how long must it wait?"""
        now, window = self._clock(), self._settings.failure_window
        ip, account = ip_key(remote_ip), account_key(address)
        ip_entry = self._ips.entries.get(ip)
        if ip_entry is not None and ip_entry.locked_until > now:  # rule 1
            return Verdict(locked_out=True, delay=0.0, retry_after=ip_entry.locked_until - now)
        failures = 0 if ip_entry is None else ip_entry.count(now, window)  # rule 2
        pair = self._pairs.entries.get((ip, account))
        if pair is not None and pair.count(now, window) > 0:  # rule 3: only addresses that failed
            account_entry = self._accounts.entries.get(account)
            if account_entry is not None:
                failures = max(failures, account_entry.count(now, window))
        return Verdict(locked_out=False, delay=self.delay_for(failures))

    def delay_for(self, failures: int) -> float:
        """The wait after ``failures`` recent failures: delay_base doubling per failure, capped."""
        threshold = self._settings.failures_before_delay
        if failures == 0 or failures < threshold:
            return 0.0
        exponent = min(failures - max(threshold, 1), 64)  # 2**64 is past any delay_max already
        return min(self._settings.delay_max, self._settings.delay_base * 2.0**exponent)

    def record_failure(self, remote_ip: str, address: str) -> Lockout | None:
        """Counts a failure; returns the lockout it caused, if it locked the address just now."""
        now = self._clock()
        ip, account = ip_key(remote_ip), account_key(address)
        self._fail(self._pairs, (ip, account), now)
        self._fail(self._accounts, account, now)
        entry = self._fail(self._ips, ip, now)
        settings = self._settings
        failures = entry.count(now, settings.failure_window)
        if failures >= settings.lockout_after and entry.locked_until <= now:
            entry.locked_at, entry.locked_until = now, now + settings.lockout_seconds
            return Lockout(ip, account, failures, settings.lockout_seconds)
        return None

    def record_success(self, remote_ip: str, address: str) -> bool:
        """Forgets the address's failures for the account (rule 4); False when there were none."""
        return self._pairs.entries.pop((ip_key(remote_ip), account_key(address)), None) is not None

    def unblock(self, target: str, before: float) -> int:
        """Forgets what was recorded for ``target`` (an ``unblock_target``) at monotonic time ``before``
        or earlier; returns how many entries it touched."""
        canonical = unblock_target(target)
        if "@" in canonical:
            pairs = [key for key in self._pairs.entries if key[1] == canonical]
            accounts = [canonical] if canonical in self._accounts.entries else []
            return self._pairs.forget(pairs, before) + self._accounts.forget(accounts, before)
        network = ipaddress.ip_network(canonical)
        ips = [key for key in self._ips.entries if _ip_in(key, network)]
        pairs = [key for key in self._pairs.entries if _ip_in(key[0], network)]
        return self._ips.forget(ips, before) + self._pairs.forget(pairs, before)

    def locked_addresses(self) -> int:
        """How many addresses are locked out now (for the metric)."""
        now = self._clock()
        return sum(1 for entry in self._ips.entries.values() if entry.locked_until > now)

    def tracked(self) -> tuple[int, int, int]:
        """How many addresses, (address, account) pairs and accounts are remembered."""
        return len(self._ips.entries), len(self._pairs.entries), len(self._accounts.entries)

    def _fail(self, table: _Table[K], key: K, now: float) -> _Entry:
        self._expire(table, now)
        entry = table.entries.pop(key, None)
        if entry is None:
            entry = _Entry(deque(maxlen=self._keep))
        entry.failures.append(now)
        table.entries[key] = entry  # re-inserted last: the table stays ordered by latest failure
        while len(table.entries) > table.max_entries:
            table.entries.popitem(last=False)
        return entry

    def _expire(self, table: _Table[K], now: float) -> None:
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
