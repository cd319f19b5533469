"""The MX's per-address counters (pochta.delivery.gate.limits) and HELO checks (gate.helo)."""

from __future__ import annotations

from pochta.config_gate import ConnectionCheckSettings
from pochta.delivery.gate.helo import helo_refusal
from pochta.delivery.gate.limits import MxLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_connection_rate_counts_per_address_within_the_window() -> None:
    clock = Clock()
    limits = MxLimits(ConnectionCheckSettings(connection_rate=2, rate_window=60), clock)
    assert limits.connection("192.0.2.1")
    assert limits.connection("192.0.2.1")
    assert not limits.connection("192.0.2.1")
    assert limits.connection("192.0.2.2")  # another address
    clock.now += 61
    assert limits.connection("192.0.2.1")


def test_ipv6_addresses_count_by_their_64() -> None:
    limits = MxLimits(ConnectionCheckSettings(message_rate=1), Clock())
    assert limits.message("2001:db8::1")
    assert not limits.message("2001:db8::2")
    assert limits.message("2001:db8:0:1::1")


def test_no_limit_counts_nothing() -> None:
    shared: list[tuple[str, str]] = []
    limits = MxLimits(ConnectionCheckSettings(), Clock())
    limits.share = lambda kind, key: shared.append((kind, key))
    assert all(limits.connection("192.0.2.1") for _ in range(1000))
    assert shared == []


def test_a_block_ends_after_block_seconds() -> None:
    clock = Clock()
    limits = MxLimits(ConnectionCheckSettings(block_seconds=600), clock)
    assert limits.blocked_for("192.0.2.1") == 0
    limits.block("192.0.2.1")
    assert limits.blocked_for("192.0.2.1") == 600
    clock.now += 599
    assert limits.blocked_for("192.0.2.1") == 1
    clock.now += 1
    assert limits.blocked_for("192.0.2.1") == 0


def test_events_are_shared_and_applied_in_another_process() -> None:
    clock = Clock()
    settings = ConnectionCheckSettings(connection_rate=2, block_seconds=60)
    here, there = MxLimits(settings, clock), MxLimits(settings, clock)
    here.share = there.apply_shared
    here.connection("192.0.2.1")
    here.connection("192.0.2.1")
    assert not there.connection("192.0.2.1")  # the two of the other process count
    here.block("2001:db8::7")
    assert there.blocked_for("2001:db8::9") == 60  # the /64


def test_memory_is_bounded() -> None:
    limits = MxLimits(ConnectionCheckSettings(connection_rate=5, max_tracked=3, block_seconds=10), Clock())
    for n in range(10):
        limits.connection(f"192.0.2.{n}")
        limits.block(f"192.0.2.{n}")
    assert limits.blocked_for("192.0.2.0") == 0  # forgotten first
    assert limits.blocked_for("192.0.2.9") == 10


def _helo(name: str) -> tuple[int, str] | None:
    reply = helo_refusal(name, hostname="mx.example.org", local_ip="192.0.2.25", peer_ip="198.51.100.7")
    return None if reply is None else (reply.code, reply.enhanced or "")


def test_helo_names() -> None:
    assert _helo("mail.example.net") is None
    assert _helo("mail.example.net.") is None
    assert _helo("my_host.example.net") is None
    assert _helo("localhost") is None  # no dot: accepted
    assert _helo("[198.51.100.7]") is None
    assert _helo("[IPv6:2001:db8::1]") is None
    assert _helo("198.51.100.7") == (501, "5.5.2")  # RFC 5321 §4.1.3: brackets
    assert _helo("[300.1.1.1]") == (501, "5.5.2")
    assert _helo("bad..name") == (501, "5.5.2")
    assert _helo("-x.example") == (501, "5.5.2")
    assert _helo("MX.Example.Org") == (550, "5.7.1")  # our name
    assert _helo("[192.0.2.25]") == (550, "5.7.1")  # our address


def test_our_address_from_ourselves_is_no_claim() -> None:
    assert helo_refusal("[127.0.0.1]", hostname="mx", local_ip="127.0.0.1", peer_ip="127.0.0.1") is None
