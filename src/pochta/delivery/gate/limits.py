"""Per-address counters of the MX: connections and messages per ``rate_window``, and the temporary
block of an address that tried too many unknown recipients.

Pure logic over an injectable monotonic clock, like the login rate limiter (``auth.ratelimit``), and
shared across worker processes the same way: each event counted here is handed to ``share``, which
the server sends to the other processes of the data directory (``server.peers``, message ``mx``);
they ``apply_shared`` it to their own counters. Addresses are counted under ``netaddr.ip_key`` (an
IPv4 address, an IPv6 /64). Memory is bounded: at most ``max_tracked`` addresses per table, the
least recently seen dropped first.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Literal

from pochta.config_gate import ConnectionCheckSettings
from pochta.netaddr import ip_key

__all__ = ["Event", "MxLimits"]

Clock = Callable[[], float]
Event = Literal["conn", "msg", "block"]


class _Window:
    """Times of recent events per key, at most ``limit + 1`` kept (enough to tell "over")."""

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.entries: OrderedDict[str, deque[float]] = OrderedDict()

    def add(self, key: str, now: float, limit: int) -> None:
        times = self.entries.pop(key, None)
        if times is None or times.maxlen != limit + 1:
            times = deque(times or (), maxlen=limit + 1)
        times.append(now)
        self.entries[key] = times
        while len(self.entries) > self.max_keys:
            self.entries.popitem(last=False)

    def count(self, key: str, now: float, window: float) -> int:
        times = self.entries.get(key)
        if times is None:
            return 0
        while times and times[0] <= now - window:
            times.popleft()
        return len(times)


class MxLimits:
    def __init__(self, settings: ConnectionCheckSettings, clock: Clock = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._connections = _Window(settings.max_tracked)
        self._messages = _Window(settings.max_tracked)
        self._blocked: OrderedDict[str, float] = OrderedDict()  # key -> monotonic end of the block
        # Hears every event counted here (kind, key); the server sends it to the other processes.
        self.share: Callable[[Event, str], None] | None = None

    def reconfigure(self, settings: ConnectionCheckSettings) -> None:
        self.settings = settings

    def blocked_for(self, ip: str) -> float:
        """Seconds the address stays blocked (0: not blocked)."""
        key = ip_key(ip)
        until = self._blocked.get(key)
        if until is None:
            return 0.0
        left = until - self.clock()
        if left <= 0:
            del self._blocked[key]
            return 0.0
        return left

    def connection(self, ip: str) -> bool:
        """Counts a connection; False when the address is over connection_rate."""
        return self._count(self._connections, "conn", ip, self.settings.connection_rate)

    def message(self, ip: str) -> bool:
        """Counts a message (a MAIL command); False when the address is over message_rate."""
        return self._count(self._messages, "msg", ip, self.settings.message_rate)

    def block(self, ip: str) -> None:
        """Blocks the address for block_seconds (from now, in every process)."""
        key = ip_key(ip)
        self._block(key, self.settings.block_seconds)
        if self.share is not None:
            self.share("block", key)

    def apply_shared(self, kind: str, key: str) -> None:
        """An event another process counted (``key`` is already an ip_key)."""
        now, settings = self.clock(), self.settings
        if kind == "conn" and settings.connection_rate:
            self._connections.add(key, now, settings.connection_rate)
        elif kind == "msg" and settings.message_rate:
            self._messages.add(key, now, settings.message_rate)
        elif kind == "block":
            self._block(key, settings.block_seconds)

    def _block(self, key: str, seconds: float) -> None:
        if seconds <= 0:
            return
        self._blocked.pop(key, None)
        self._blocked[key] = self.clock() + seconds
        while len(self._blocked) > self.settings.max_tracked:
            self._blocked.popitem(last=False)

    def _count(self, window: _Window, kind: Event, ip: str, limit: int) -> bool:
        if limit <= 0:
            return True
        key, now = ip_key(ip), self.clock()
        window.add(key, now, limit)
        if self.share is not None:
            self.share(kind, key)
        return window.count(key, now, self.settings.rate_window) <= limit
