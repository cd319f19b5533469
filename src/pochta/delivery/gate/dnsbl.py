"""DNS blocklists and allowlists (RFC 5782) on the client address, and DBL-style domain lists.

A client address is looked up as its reversed octets (IPv4, RFC 5782 section 2.1) or its 32
reversed nibbles (IPv6, RFC 5782 section 2.4) under each zone, for an A record; a domain as
``<domain>.<zone>`` (RFC 5782 section 2.3). Answers are addresses in 127.0.0.0/8 (RFC 5782 section
2.1); anything else is no listing. Spamhaus-style error answers (127.255.255.0/24: "query refused",
"typo in the zone") and DNSWL's 127.0.0.255 are logged and never a hit: a list that refuses to
answer must not block mail. Timeouts and SERVFAIL are no hit either (logged by the caller).

Questions go through the mail authentication resolver (its bounded TTL cache, its nameservers).
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Literal

from pochta.config_gate import DnsblSettings, DnsblZone
from pochta.resolver import DnsResolver

__all__ = ["ClientListing", "Hit", "domain_query", "interpret", "ip_query", "lookup_client", "lookup_domain"]

_ERRORS = ipaddress.IPv4Network("127.255.255.0/24")
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


@dataclass(frozen=True)
class Hit:
    zone: str
    code: str  # the answer, "127.0.0.2"
    action: Literal["reject", "log"]


@dataclass(frozen=True)
class ClientListing:
    """What the lists say of a client: allowlisted (by which zone), or its blocklist hits, and the
    lists that could not be asked (temperror: never a hit)."""

    allowed_by: str | None = None
    hits: tuple[Hit, ...] = ()
    failed: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # "zone: 127.255.255.254" answers that are no listing

    @property
    def refusal(self) -> Hit | None:
        if self.allowed_by is not None:
            return None
        return next((hit for hit in self.hits if hit.action == "reject"), None)


def ip_query(ip: str, zone: str) -> str | None:
    """The name to ask for ``ip`` under ``zone``; None for a peer that is no IP address."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        # RFC 5782 section 2.1: the octets in reverse order, "2.0.0.127.zone"
        return ".".join(reversed(str(address).split("."))) + f".{zone}"
    # RFC 5782 section 2.4: the 32 nibbles of the address in reverse order
    nibbles = address.exploded.replace(":", "")
    return ".".join(reversed(nibbles)) + f".{zone}"


def domain_query(domain: str, zone: str) -> str | None:
    """``<domain>.<zone>`` (RFC 5782 section 2.3), None for what is no domain (an address literal)."""
    name = domain.strip().strip(".").lower()
    if not name or name.startswith("[") or "." not in name or len(name) + len(zone) > 252:
        return None
    try:
        ipaddress.ip_address(name)
        return None  # a bare address is no domain
    except ValueError:
        pass
    return f"{name}.{zone}"


def interpret(zone: DnsblZone, records: tuple[str, ...]) -> tuple[Hit | None, tuple[str, ...]]:
    """The hit an answer means under ``zone``'s codes, and the error answers it held."""
    errors = []
    for record in records:
        try:
            code = ipaddress.IPv4Address(record)
        except ValueError:
            continue
        if code in _ERRORS:
            errors.append(f"{zone.zone}: {code}")
            continue
        if code not in _LOOPBACK:
            continue  # RFC 5782 section 2.1: listings are in 127.0.0.0/8
        if not zone.codes:
            return Hit(zone.zone, str(code), zone.action), tuple(errors)
        action = zone.codes.get(str(code))
        if action is not None:
            return Hit(zone.zone, str(code), action), tuple(errors)
    return None, tuple(errors)


async def _ask(resolver: DnsResolver, name: str | None) -> tuple[str, tuple[str, ...]]:
    if name is None:
        return "none", ()
    answer = await resolver.query(name, "A")
    return answer.status, answer.records


async def lookup_client(settings: DnsblSettings, resolver: DnsResolver, ip: str) -> ClientListing:
    """Every allowlist and blocklist asked together; an allowlisting wins over any hit."""
    allow = settings.allow_zones
    blocks = settings.blocklists()
    answers = await asyncio.gather(
        *(_ask(resolver, ip_query(ip, zone)) for zone in allow),
        *(_ask(resolver, ip_query(ip, zone.zone)) for zone in blocks),
    )
    failed: list[str] = []
    errors: list[str] = []
    allowed_by = None
    for zone, (status, records) in zip(allow, answers[: len(allow)], strict=True):
        if status == "temperror":
            failed.append(zone)
        # DNSWL answers 127.0.0.255 to a querier it refuses: no listing.
        listed = [r for r in records if r.startswith("127.") and not r.endswith(".255")]
        if status == "found" and listed and allowed_by is None:
            allowed_by = zone
    hits: list[Hit] = []
    for block, (status, records) in zip(blocks, answers[len(allow) :], strict=True):
        if status == "temperror":
            failed.append(block.zone)
            continue
        hit, bad = interpret(block, records)
        errors.extend(bad)
        if hit is not None:
            hits.append(hit)
    return ClientListing(allowed_by, tuple(hits), tuple(failed), tuple(errors))


async def lookup_domain(
    settings: DnsblSettings, resolver: DnsResolver, domain: str
) -> tuple[Hit | None, tuple[str, ...]]:
    """The first refusing hit of ``domain`` on the domain lists (else the first hit), and the lists
    that failed to answer."""
    zones = settings.domain_lists()
    answers = await asyncio.gather(*(_ask(resolver, domain_query(domain, zone.zone)) for zone in zones))
    found: list[Hit] = []
    failed: list[str] = []
    for zone, (status, records) in zip(zones, answers, strict=True):
        if status == "temperror":
            failed.append(zone.zone)
            continue
        hit, _ = interpret(zone, records)
        if hit is not None:
            found.append(hit)
    found.sort(key=lambda hit: hit.action != "reject")
    return (found[0] if found else None), tuple(failed)
