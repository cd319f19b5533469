"""Next-hop resolution (pochta.queue.route) against a loopback DNS server (tests/dns_stub.py)."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from typing import Any

import pytest

from dns_stub import DnsStub, Zone
from pochta.queue.route import (
    Hop,
    RouteError,
    Router,
    RouteSettings,
)

ZONE: Zone = {
    ("example.net.", "MX"): ["20 mx2.example.net.", "10 mx1.example.net."],
    ("mx1.example.net.", "A"): ["192.0.2.1"],
    ("mx2.example.net.", "A"): ["192.0.2.2", "192.0.2.3"],
    ("plain.example.", "A"): ["192.0.2.10"],
    ("plain.example.", "AAAA"): ["2001:db8::10"],
    ("textonly.example.", "TXT"): ['"no mail here"'],
    ("nomail.example.", "MX"): ["0 ."],
    ("nomail.example.", "A"): ["192.0.2.99"],
    ("relay.test.", "A"): ["192.0.2.50"],
    ("relay.test.", "AAAA"): ["2001:db8::50"],
    ("other-relay.test.", "A"): ["192.0.2.51"],
    ("xn--bcher-kva.example.", "A"): ["192.0.2.77"],
}


async def route(
    domain: str, zone: Zone = ZONE, *, stub: dict[str, Any] | None = None, **settings: Any
) -> tuple[list[Hop], list[tuple[str, str]]]:
    """Route `domain` through a fresh DnsStub; returns the hops and the questions the stub saw."""
    async with DnsStub(zone, **(stub or {})) as dns:
        router = Router(RouteSettings(nameservers=[dns.nameserver], **settings), rng=random.Random(1))
        return await router.route(domain), dns.queries


async def route_error(domain: str, zone: Zone = ZONE, **kwargs: Any) -> RouteError:
    with pytest.raises(RouteError) as caught:
        await route(domain, zone, **kwargs)
    return caught.value


# --- MX ---------------------------------------------------------------------------------------------


async def test_mx_sorted_by_preference() -> None:
    hops, queries = await route("example.net")
    assert hops == [
        Hop("mx1.example.net", 25, ("192.0.2.1",), 10),
        Hop("mx2.example.net", 25, ("192.0.2.2", "192.0.2.3"), 20),
    ]
    assert queries[0] == ("example.net.", "MX")


async def test_settings_port_applies_to_mx_hops() -> None:
    hops, _ = await route("example.net", port=2525)
    assert {hop.port for hop in hops} == {2525}


async def test_equal_preferences_are_shuffled_reproducibly_by_seed() -> None:
    names = [f"mx{i}.pool.example" for i in range(5)]
    zone: Zone = {
        ("pool.example.", "MX"): ["5 first.pool.example."] + [f"10 {name}." for name in names],
        ("first.pool.example.", "A"): ["192.0.2.100"],
        **{(f"{name}.", "A"): [f"192.0.2.{i}"] for i, name in enumerate(names, 1)},
    }
    orders: list[tuple[str, ...]] = []
    async with DnsStub(zone) as dns:
        for seed in (1, 1, *range(2, 12)):
            router = Router(RouteSettings(nameservers=[dns.nameserver]), rng=random.Random(seed))
            hops = await router.route("pool.example")
            assert hops[0] == Hop("first.pool.example", 25, ("192.0.2.100",), 5)
            assert sorted(hop.host for hop in hops[1:]) == names
            assert {hop.preference for hop in hops[1:]} == {10}
            orders.append(tuple(hop.host for hop in hops[1:]))
    assert orders[0] == orders[1]  # same seed, same order
    assert len(set(orders)) > 3  # RFC 5321 §5.1: equal preferences are randomised


async def test_duplicate_exchange_keeps_lowest_preference() -> None:
    zone: Zone = {**ZONE, ("example.net.", "MX"): ["30 mx1.example.net.", "10 mx1.example.net."]}
    hops, _ = await route("example.net", zone)
    assert hops == [Hop("mx1.example.net", 25, ("192.0.2.1",), 10)]


async def test_exchange_names_are_lower_cased() -> None:
    zone: Zone = {**ZONE, ("example.net.", "MX"): ["10 MX1.Example.NET."]}
    hops, _ = await route("example.net", zone)
    assert [hop.host for hop in hops] == ["mx1.example.net"]


async def test_exchange_without_address_is_skipped() -> None:
    zone: Zone = {
        ("example.net.", "MX"): ["10 gone.example.net.", "20 v6less.example.net.", "30 mx2.example.net."],
        ("v6less.example.net.", "TXT"): ['"x"'],
        ("mx2.example.net.", "A"): ["192.0.2.2"],
    }
    hops, _ = await route("example.net", zone)
    assert hops == [Hop("mx2.example.net", 25, ("192.0.2.2",), 30)]


async def test_exchange_with_one_failing_family_uses_the_other() -> None:
    zone: Zone = {("example.net.", "MX"): ["10 mx.example.net."], ("mx.example.net.", "A"): ["192.0.2.1"]}
    stub = {"silent": {("mx.example.net.", "AAAA")}}  # AAAA times out, A answers: the host is usable
    hops, _ = await route("example.net", zone, stub=stub, timeout=0.3)
    assert hops == [Hop("mx.example.net", 25, ("192.0.2.1",), 10)]


async def test_all_exchanges_without_address_is_temporary_4_4_4() -> None:
    zone: Zone = {("example.net.", "MX"): ["10 gone1.example.net.", "20 gone2.example.net."]}
    error = await route_error("example.net", zone)
    assert (error.permanent, error.status) == (False, "4.4.4")
    assert "example.net" in str(error)


async def test_all_exchanges_failing_is_temporary_4_4_3() -> None:
    zone: Zone = {("example.net.", "MX"): ["10 bad1.example.net.", "20 gone.example.net."]}
    error = await route_error("example.net", zone, stub={"servfail": {"bad1.example.net."}})
    assert (error.permanent, error.status) == (False, "4.4.3")


async def test_exchange_written_as_ip_address_is_used_as_that_address() -> None:
    zone: Zone = {("example.net.", "MX"): ["10 192.0.2.7."]}
    hops, queries = await route("example.net", zone)
    assert hops == [Hop("192.0.2.7", 25, ("192.0.2.7",), 10)]
    assert queries == [("example.net.", "MX")]


async def test_domain_cname_is_followed() -> None:
    zone: Zone = {**ZONE, ("alias.example.", "CNAME"): ["example.net."]}
    hops, _ = await route("alias.example", zone)
    assert [hop.host for hop in hops] == ["mx1.example.net", "mx2.example.net"]


async def test_exchange_cname_is_followed() -> None:
    zone: Zone = {
        ("example.net.", "MX"): ["10 mail.example.net."],
        ("mail.example.net.", "CNAME"): ["mx1.example.net."],
        ("mx1.example.net.", "A"): ["192.0.2.1"],
    }
    hops, _ = await route("example.net", zone)
    assert hops == [Hop("mail.example.net", 25, ("192.0.2.1",), 10)]


async def test_mx_pointing_to_self_drops_that_level_and_higher() -> None:
    zone: Zone = {
        ("example.net.", "MX"): ["10 mx1.example.net.", "20 mx2.example.net.", "30 mx3.example.net."],
        ("mx1.example.net.", "A"): ["192.0.2.1"],
        ("mx2.example.net.", "A"): ["192.0.2.2"],
        ("mx3.example.net.", "A"): ["192.0.2.3"],
    }
    hops, _ = await route("example.net", zone, local_names=["MX2.example.net."])
    assert [hop.host for hop in hops] == ["mx1.example.net"]
    error = await route_error("example.net", zone, local_names=["mx1.example.net"])
    assert (error.permanent, error.status) == (True, "5.4.6")


# --- implicit MX, null MX, NXDOMAIN, DNS failures -----------------------------------------------------


async def test_implicit_mx_uses_the_domain_address_records() -> None:
    hops, queries = await route("plain.example")
    assert hops == [Hop("plain.example", 25, ("192.0.2.10", "2001:db8::10"), 0)]
    assert queries[0] == ("plain.example.", "MX")
    assert set(queries[1:]) == {("plain.example.", "A"), ("plain.example.", "AAAA")}


async def test_no_mx_and_no_address_is_permanent_5_1_2() -> None:
    error = await route_error("textonly.example")
    assert (error.permanent, error.status) == (True, "5.1.2")


async def test_null_mx_is_permanent_5_1_10_without_address_fallback() -> None:
    with pytest.raises(RouteError) as caught:
        await route("nomail.example")
    assert (caught.value.permanent, caught.value.status) == (True, "5.1.10")
    assert "null MX" in str(caught.value)
    async with DnsStub(ZONE) as dns:
        with pytest.raises(RouteError):
            await Router(RouteSettings(nameservers=[dns.nameserver])).route("nomail.example")
        assert dns.queries == [("nomail.example.", "MX")]


async def test_null_mx_with_nonzero_preference_is_still_null() -> None:
    zone: Zone = {("nomail.example.", "MX"): ["10 ."]}
    error = await route_error("nomail.example", zone)
    assert error.status == "5.1.10"


async def test_dot_exchange_among_real_ones_is_skipped() -> None:
    zone: Zone = {**ZONE, ("example.net.", "MX"): ["0 .", "10 mx1.example.net."]}
    hops, _ = await route("example.net", zone)
    assert [hop.host for hop in hops] == ["mx1.example.net"]


async def test_nxdomain_is_permanent_5_1_2() -> None:
    error = await route_error("nowhere.example")
    assert (error.permanent, error.status) == (True, "5.1.2")
    assert "nowhere.example" in str(error)


async def test_servfail_is_temporary_4_4_3() -> None:
    error = await route_error("example.net", stub={"servfail": {"example.net"}})
    assert (error.permanent, error.status) == (False, "4.4.3")


async def test_servfail_on_implicit_mx_addresses_is_temporary() -> None:
    stub = {"servfail": {("plain.example.", "A"), ("plain.example.", "AAAA")}}
    error = await route_error("plain.example", stub=stub)
    assert (error.permanent, error.status) == (False, "4.4.3")


async def test_timeout_is_temporary_4_4_3() -> None:
    started = time.monotonic()
    error = await route_error("example.net", stub={"silent": {"example.net."}}, timeout=0.3)
    assert (error.permanent, error.status) == (False, "4.4.3")
    assert time.monotonic() - started < 3


async def test_unreachable_nameserver_is_temporary() -> None:
    async with DnsStub({}) as dns:
        nameserver = dns.nameserver
    router = Router(RouteSettings(nameservers=[nameserver], timeout=0.3))
    with pytest.raises(RouteError) as caught:
        await router.route("example.net")
    assert (caught.value.permanent, caught.value.status) == (False, "4.4.3")


# --- IPv6 ---------------------------------------------------------------------------------------------


async def test_ipv4_first_by_default_ipv6_first_when_preferred() -> None:
    zone: Zone = {
        ("example.net.", "MX"): ["10 mx.example.net."],
        ("mx.example.net.", "A"): ["192.0.2.1", "192.0.2.2"],
        ("mx.example.net.", "AAAA"): ["2001:db8::1", "2001:DB8:0:0::2"],
    }
    hops, _ = await route("example.net", zone)
    assert hops[0].addresses == ("192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2")
    hops, _ = await route("example.net", zone, prefer_ipv6=True)
    assert hops[0].addresses == ("2001:db8::1", "2001:db8::2", "192.0.2.1", "192.0.2.2")


async def test_ipv6_only_exchange() -> None:
    zone: Zone = {
        ("example.net.", "MX"): ["10 mx.example.net."],
        ("mx.example.net.", "AAAA"): ["2001:db8::1"],
    }
    hops, _ = await route("example.net", zone)
    assert hops == [Hop("mx.example.net", 25, ("2001:db8::1",), 10)]


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
async def test_nameserver_on_ipv6_loopback() -> None:
    async with DnsStub(ZONE, host="::1") as dns:
        assert dns.nameserver.startswith("[::1]:")
        hops = await Router(RouteSettings(nameservers=[dns.nameserver])).route("plain.example")
    assert hops[0].host == "plain.example"


# --- address literals, names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "address"),
    [
        ("[192.0.2.1]", "192.0.2.1"),
        ("[IPv6:2001:DB8::1]", "2001:db8::1"),
        ("[ipv6:::1]", "::1"),
        ("[IPv6:::ffff:192.0.2.1]", "::ffff:c000:201"),
    ],
)
async def test_address_literal_needs_no_dns(literal: str, address: str) -> None:
    hops, queries = await route(literal, port=2525)
    assert hops == [Hop(address, 2525, (address,), 0)]
    assert queries == []


@pytest.mark.parametrize(
    "literal",
    ["[300.1.1.1]", "[192.0.2]", "[2001:db8::1]", "[IPv6:192.0.2.1]", "[IPv6:fe80::1%eth0]", "[]", "[x:y]"],
)
async def test_invalid_address_literal_is_permanent_5_1_2(literal: str) -> None:
    error = await route_error(literal)
    assert (error.permanent, error.status) == (True, "5.1.2")


async def test_idna_domain_is_queried_as_a_labels() -> None:
    hops, queries = await route("Bücher.Example")
    assert queries[0] == ("xn--bcher-kva.example.", "MX")
    assert hops == [Hop("xn--bcher-kva.example", 25, ("192.0.2.77",), 0)]


@pytest.mark.parametrize("domain", ["example.net.", "EXAMPLE.Net", "Example.NET."])
async def test_trailing_dot_and_case_are_normalised(domain: str) -> None:
    hops, queries = await route(domain)
    assert [hop.host for hop in hops] == ["mx1.example.net", "mx2.example.net"]
    assert queries[0] == ("example.net.", "MX")


@pytest.mark.parametrize(
    "domain", ["", ".", "a..example", "example.net..", "exa mple.net", "-x.example", "x" * 64]
)
async def test_invalid_domain_is_permanent_5_1_2_without_dns(domain: str) -> None:
    async with DnsStub(ZONE) as dns:
        with pytest.raises(RouteError) as caught:
            await Router(RouteSettings(nameservers=[dns.nameserver])).route(domain)
        assert dns.queries == []
    assert (caught.value.permanent, caught.value.status) == (True, "5.1.2")


# --- transport map ------------------------------------------------------------------------------------

TRANSPORT = {
    "example.com": "relay.test:2525",
    ".example.com": "[other-relay.test]:2526",
    ".b.example.com": "relay.test",
    "v6.example": "[::1]:2527",
    "v4.example": "127.0.0.1",
}


@pytest.mark.parametrize(
    ("domain", "host", "port"),
    [
        ("example.com", "relay.test", 2525),  # exact
        ("a.example.com", "other-relay.test", 2526),  # parent
        ("x.a.example.com", "other-relay.test", 2526),  # further parent
        ("c.b.example.com", "relay.test", 587),  # nearest parent wins, default port from settings
        ("EXAMPLE.COM.", "relay.test", 2525),  # normalised before matching
    ],
)
async def test_transport_map_host(domain: str, host: str, port: int) -> None:
    hops, queries = await route(domain, transport=TRANSPORT, port=587)
    assert [(hop.host, hop.port, hop.preference) for hop in hops] == [(host, port, 0)]
    assert hops[0].addresses[0].startswith("192.0.2.5")
    assert all(rdtype in ("A", "AAAA") for _, rdtype in queries)  # no MX lookup


async def test_transport_parent_key_does_not_match_the_domain_itself() -> None:
    hops, _ = await route("example.net", transport={".example.net": "relay.test"})
    assert [hop.host for hop in hops] == ["mx1.example.net", "mx2.example.net"]


async def test_transport_ip_hosts_need_no_dns() -> None:
    hops, queries = await route("v6.example", transport=TRANSPORT)
    assert hops == [Hop("::1", 2527, ("::1",), 0)]
    hops, more = await route("v4.example", transport=TRANSPORT)
    assert hops == [Hop("127.0.0.1", 25, ("127.0.0.1",), 0)]
    assert queries == more == []


async def test_transport_star_catches_everything_else_and_exact_wins() -> None:
    transport = {"*": "relay.test:2500", "example.net": "other-relay.test"}
    hops, _ = await route("anything.example", transport=transport)
    assert [(hop.host, hop.port) for hop in hops] == [("relay.test", 2500)]
    assert hops[0].addresses == ("192.0.2.50", "2001:db8::50")
    hops, _ = await route("example.net", transport=transport)
    assert [(hop.host, hop.port) for hop in hops] == [("other-relay.test", 25)]


async def test_transport_star_takes_address_literals() -> None:
    hops, _ = await route("[192.0.2.1]", transport={"*": "relay.test:2500"})
    assert [(hop.host, hop.port) for hop in hops] == [("relay.test", 2500)]


async def test_transport_keys_are_normalised() -> None:
    hops, _ = await route("bücher.example", transport={"BÜCHER.example.": "relay.test"})
    assert [hop.host for hop in hops] == ["relay.test"]


async def test_unresolvable_transport_host_is_temporary() -> None:
    error = await route_error("example.net", transport={"example.net": "gone.test"})
    assert (error.permanent, error.status) == (False, "4.4.4")
    error = await route_error("example.net", transport={"*": "relay.test"}, stub={"servfail": {"relay.test"}})
    assert (error.permanent, error.status) == (False, "4.4.3")


def test_system_resolver_is_not_touched_at_construction() -> None:
    Router(RouteSettings())  # resolv.conf is read on first route(), which these tests never do


def test_route_error_carries_status() -> None:
    error = RouteError("example.net does not accept mail", permanent=True, status="5.1.10")
    assert (str(error), error.permanent, error.status) == ("example.net does not accept mail", True, "5.1.10")


async def test_concurrent_routes_share_one_router() -> None:
    async with DnsStub(ZONE) as dns:
        router = Router(RouteSettings(nameservers=[dns.nameserver]))
        results = await asyncio.gather(
            *(router.route(d) for d in ("example.net", "plain.example", "[192.0.2.1]"))
        )
    assert [hops[0].host for hops in results] == ["mx1.example.net", "plain.example", "192.0.2.1"]
