"""The one DNS resolver of mail authentication: async lookups over dnspython with the configured
nameservers (``queue.dns_nameservers``, ``queue.dns_timeout``: the same servers the queue uses), a
bounded cache that honours each answer's TTL, and a per-message count of lookups (``Lookups``) that
SPF's limit (RFC 7208 section 4.6.4) will read.

Answers are three-way: records, none (NXDOMAIN or no records of the type: cached for
``dns_negative_ttl`` seconds, as RFC 2308 section 5 allows a resolver to), or a temporary failure
(timeout, SERVFAIL: never cached, the next message asks again).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdatatype
import dns.resolver

from pochta.queue.route import parse_nameserver

__all__ = ["Answer", "AuthResolver", "Lookups"]

Status = Literal["found", "none", "temperror"]


@dataclass(frozen=True)
class Answer:
    status: Status
    records: tuple[str, ...] = ()  # TXT: each record's strings joined (RFC 6376 §3.6.2.2)
    reason: str = ""


@dataclass
class Lookups:
    """The DNS questions asked for one message (cached answers count too: the limit is on the work
    a message may cause, not on our cache's luck)."""

    count: int = 0
    names: list[tuple[str, str]] = field(default_factory=list)


class AuthResolver:
    def __init__(
        self,
        nameservers: Sequence[str] = (),
        timeout: float = 10.0,
        *,
        cache_size: int = 10000,
        negative_ttl: float = 300.0,
    ) -> None:
        if nameservers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            servers: list[str | dns.nameserver.Nameserver] = []
            for entry in nameservers:
                ip, port = parse_nameserver(entry)
                servers.append(dns.nameserver.Do53Nameserver(ip, port))
            resolver.nameservers = servers
        else:
            try:
                resolver = dns.asyncresolver.Resolver()  # /etc/resolv.conf
            except dns.resolver.NoResolverConfiguration:
                # No resolv.conf (a bare container): every lookup is a temperror, and the server
                # still starts (this resolver is built with each Delivery).
                resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.lifetime = timeout
        resolver.timeout = timeout
        self._resolver = resolver
        self.cache_size = cache_size
        self.negative_ttl = negative_ttl
        self._cache: OrderedDict[tuple[str, str], tuple[float, Answer]] = OrderedDict()

    def _cached(self, key: tuple[str, str]) -> Answer | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        expires, answer = entry
        if expires <= time.monotonic():
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return answer

    def _remember(self, key: tuple[str, str], answer: Answer, ttl: float) -> None:
        if self.cache_size <= 0 or ttl <= 0:
            return
        self._cache[key] = (time.monotonic() + ttl, answer)
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:  # bounded: the least recently used goes
            self._cache.popitem(last=False)

    async def txt(self, name: str, lookups: Lookups | None = None) -> Answer:
        """The TXT records of ``name`` (absolute or not)."""
        return await self.query(name, "TXT", lookups)

    async def query(self, name: str, rdtype: str, lookups: Lookups | None = None) -> Answer:
        """The records of ``name`` of type ``rdtype`` (TXT, A, AAAA, MX, PTR), each as text: a TXT
        record's strings joined, an address, "10 mx.example." for MX, "host.example." for PTR."""
        key = (name.lower().rstrip(".") + ".", rdtype.upper())
        if lookups is not None:
            lookups.count += 1
            lookups.names.append(key)
        cached = self._cached(key)
        if cached is not None:
            return cached
        try:
            qname = dns.name.from_text(key[0])
        except dns.exception.DNSException:  # no name DNS can carry (SPF macros can make them)
            return Answer("none", reason="not a valid domain name")
        try:
            result = await self._resolver.resolve(qname, key[1], search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            answer = Answer("none", reason="no such record")
            self._remember(key, answer, self.negative_ttl)
            return answer
        except dns.resolver.LifetimeTimeout:
            return Answer("temperror", reason="DNS timeout")
        except dns.exception.DNSException as exc:  # SERVFAIL, no nameservers, bad packets
            return Answer("temperror", reason=f"DNS error: {type(exc).__name__}")
        records = tuple(_text(rdata) for rdata in result)
        answer = Answer("found", records)
        ttl = result.rrset.ttl if result.rrset is not None else 0
        self._remember(key, answer, ttl)
        return answer


def _text(rdata: dns.rdata.Rdata) -> str:
    if rdata.rdtype == dns.rdatatype.TXT:
        strings: list[bytes] = rdata.strings  # type: ignore[attr-defined]
        return b"".join(strings).decode("ascii", "replace")
    return rdata.to_text()
