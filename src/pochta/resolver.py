"""The one DNS resolver of the server: every lookup (the queue's MX and address records, TLSA for
DANE, MTA-STS and TLS-RPT records, SPF, DKIM, DMARC, ARC, DNS blocklists, DMARC report
authorisation, ``pochta dns check``) goes through ``DnsResolver``: async lookups over dnspython with the
configured nameservers (``queue.dns_nameservers``, ``queue.dns_timeout``), a bounded cache that honours
each answer's TTL (``mailauth.dns_cache_size``), and a per-message count of lookups (``Lookups``) that
SPF's limit (RFC 7208 section 4.6.4) reads.

Answers are three-way: records, none (NXDOMAIN or no records of the type, told apart by
``nxdomain``: cached for ``dns_negative_ttl`` seconds, as RFC 2308 section 5 allows a resolver to), or
a temporary failure (timeout, SERVFAIL: never cached, the next question asks again).

A lookup may ask for the resolver's DNSSEC verdict (``authenticated=True``, for DANE): the query then
carries DO and AD (RFC 4035 section 3.2.1, RFC 6840 section 5.7) and the answer's ``secure`` is the AD bit
of the reply, which only a validating resolver sets (``queue.dns_dnssec`` says whether ours is one).
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdatatype
import dns.resolver

if TYPE_CHECKING:
    from pochta.config import Settings

__all__ = [
    "Answer",
    "DnsResolver",
    "LookupFailed",
    "Lookups",
    "RecordLookup",
    "parse_nameserver",
    "record_lookup",
]

Status = Literal["found", "none", "temperror"]


@dataclass(frozen=True)
class Answer:
    status: Status
    records: tuple[str, ...] = ()  # TXT: each record's strings joined (RFC 6376 §3.6.2.2)
    reason: str = ""
    nxdomain: bool = False  # "none" because the name does not exist (not only no records of the type)
    secure: bool = False  # the AD bit, asked for with authenticated=True


@dataclass
class Lookups:
    """The DNS questions asked for one message (cached answers count too: the limit is on the work
    a message may cause, not on our cache's luck)."""

    count: int = 0
    names: list[tuple[str, str]] = field(default_factory=list)


class LookupFailed(Exception):
    """A DNS lookup failed (timeout, SERVFAIL, no resolver): neither an answer nor "no such record"."""


def parse_nameserver(value: str) -> tuple[str, int]:
    """Parse ``ip``, ``ip:port``, ``[ipv6]`` or ``[ipv6]:port`` into (ip, port); raises ValueError."""
    text = value.strip()
    port_text = ""
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError(f"nameserver {value!r}: expected ip, ip:port or [ipv6]:port")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host = text  # an IPv4 address, or a bare IPv6 address (colons but no port)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"nameserver {value!r}: must be an IP address, not a name") from None
    if port_text == "" and text.endswith(":"):
        raise ValueError(f"nameserver {value!r}: empty port")
    if port_text and not (port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536):
        raise ValueError(f"nameserver {value!r}: port must be a number from 1 to 65535")
    return str(address), int(port_text) if port_text else 53


class DnsResolver:
    def __init__(
        self,
        nameservers: Sequence[str] = (),
        timeout: float = 10.0,
        *,
        cache_size: int = 10000,
        negative_ttl: float = 300.0,
    ) -> None:
        # A bad nameserver raises ValueError here, so a bad config fails at startup; resolv.conf is
        # read at the first lookup (a bare container without one still starts: lookups then fail).
        self._servers = [parse_nameserver(entry) for entry in nameservers]
        self.timeout = timeout
        self.cache_size = cache_size
        self.negative_ttl = negative_ttl
        self._resolvers: dict[bool, dns.asyncresolver.Resolver] = {}
        self._cache: OrderedDict[tuple[str, str, bool], tuple[float, Answer]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings, *, cache: bool = True) -> DnsResolver:
        """The resolver the settings describe; ``cache=False`` for commands that watch DNS change
        (``pochta dns check``, ``pochta dkim rotate --wait``): each question then asks anew."""
        return cls(
            settings.queue.dns_nameservers,
            settings.queue.dns_timeout,
            cache_size=settings.mailauth.dns_cache_size if cache else 0,
            negative_ttl=settings.mailauth.dns_negative_ttl,
        )

    def configure(self, settings: Settings) -> None:
        """The settings of a reload: other nameservers or timeout start afresh (cache included);
        a new cache size or negative TTL applies from now on."""
        servers = [parse_nameserver(entry) for entry in settings.queue.dns_nameservers]
        if servers != self._servers or settings.queue.dns_timeout != self.timeout:
            self._servers = servers
            self.timeout = settings.queue.dns_timeout
            self._resolvers.clear()
            self._cache.clear()
        self.cache_size = settings.mailauth.dns_cache_size
        self.negative_ttl = settings.mailauth.dns_negative_ttl

    def _resolver(self, authenticated: bool) -> dns.asyncresolver.Resolver:
        resolver = self._resolvers.get(authenticated)
        if resolver is not None:
            return resolver
        if self._servers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver(ip, port) for ip, port in self._servers]
        else:
            resolver = dns.asyncresolver.Resolver()  # /etc/resolv.conf; NoResolverConfiguration if none
        resolver.lifetime = self.timeout
        resolver.timeout = self.timeout
        if authenticated:
            resolver.use_edns(0, dns.flags.DO, 1232)  # RFC 4035 section 3.2.1: DO asks for DNSSEC data
            resolver.flags = dns.flags.RD | dns.flags.AD  # RFC 6840 section 5.7: AD set asks for the AD bit
        self._resolvers[authenticated] = resolver
        return resolver

    def _cached(self, key: tuple[str, str, bool]) -> Answer | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        expires, answer = entry
        if expires <= time.monotonic():
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return answer

    def _remember(self, key: tuple[str, str, bool], answer: Answer, ttl: float) -> None:
        if self.cache_size <= 0 or ttl <= 0:
            return
        self._cache[key] = (time.monotonic() + ttl, answer)
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:  # bounded: the least recently used goes
            self._cache.popitem(last=False)

    async def txt(self, name: str, lookups: Lookups | None = None) -> Answer:
        """The TXT records of ``name`` (absolute or not)."""
        return await self.query(name, "TXT", lookups)

    async def query(
        self, name: str, rdtype: str, lookups: Lookups | None = None, *, authenticated: bool = False
    ) -> Answer:
        """The records of ``name`` of type ``rdtype`` (TXT, A, AAAA, MX, PTR, TLSA ...), each as text:
        a TXT record's strings joined, an address, "10 mx.example." for MX, "host.example." for PTR,
        zone-file text for the rest. CNAMEs are followed (the answer is the target's records)."""
        question = (name.lower().rstrip(".") + ".", rdtype.upper())
        if lookups is not None:
            lookups.count += 1
            lookups.names.append(question)
        key = (*question, authenticated)
        cached = self._cached(key)
        if cached is not None:
            return cached
        try:
            qname = dns.name.from_text(question[0])
        except dns.exception.DNSException:  # no name DNS can carry (SPF macros can make them)
            return Answer("none", reason="not a valid domain name", nxdomain=True)
        try:
            result = await self._resolver(authenticated).resolve(qname, question[1], search=False)
        except dns.resolver.NXDOMAIN:
            answer = Answer("none", reason="no such domain", nxdomain=True)
            self._remember(key, answer, self.negative_ttl)
            return answer
        except dns.resolver.NoAnswer:
            answer = Answer("none", reason="no such record")
            self._remember(key, answer, self.negative_ttl)
            return answer
        except dns.exception.Timeout:
            return Answer("temperror", reason=f"DNS lookup of {question[0]} {question[1]} timed out")
        except (dns.exception.DNSException, OSError) as exc:  # SERVFAIL, no nameservers, network
            return Answer("temperror", reason=f"DNS lookup of {question[0]} {question[1]} failed: {exc}")
        records = tuple(_text(rdata) for rdata in result)
        secure = bool(result.response.flags & dns.flags.AD)
        answer = Answer("found", records, secure=secure)
        ttl = result.rrset.ttl if result.rrset is not None else 0
        self._remember(key, answer, ttl)
        return answer


RecordLookup = Callable[[str, str], Awaitable[list[str]]]


def record_lookup(resolver: DnsResolver) -> RecordLookup:
    """``resolver`` as a plain function of (name, type): the records' text, an empty list when the
    name or the type does not exist, LookupFailed when the lookup fails."""

    async def lookup(name: str, rdtype: str) -> list[str]:
        answer = await resolver.query(name, rdtype)
        if answer.status == "temperror":
            raise LookupFailed(answer.reason)
        return list(answer.records)

    return lookup


def _text(rdata: dns.rdata.Rdata) -> str:
    if rdata.rdtype == dns.rdatatype.TXT:
        strings: list[bytes] = rdata.strings  # type: ignore[attr-defined]
        return b"".join(strings).decode("ascii", "replace")
    return rdata.to_text()
