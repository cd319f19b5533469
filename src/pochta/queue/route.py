"""Next-hop resolution for the outbound queue: address literal, transport map, MX, implicit MX.

`Router.route(domain)` returns the hosts to try, best first, each with its addresses in the order to try
them (RFC 5321 §5.1). Every failure is a `RouteError` carrying the enhanced status code (RFC 3463) and
whether it is permanent (bounce now) or temporary (retry later), which is all the queue needs to decide.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import idna

from pochta.resolver import DnsResolver

BAD_DOMAIN = "5.1.2"  # RFC 3463 §3.2 X.1.2: bad destination system address
NULL_MX = "5.1.10"  # RFC 7505 §4.1: recipient address has null MX (reply code 556)
DNS_FAILURE = "4.4.3"  # RFC 3463 §3.5 X.4.3: directory server failure
NO_ROUTE = "4.4.4"  # RFC 3463 §3.5 X.4.4: unable to route
LOOP = "5.4.6"  # RFC 3463 §3.5 X.4.6: routing loop detected


@dataclass(frozen=True)
class Hop:
    """One host to connect to: its name (or IP text for literals), port and addresses in try order."""

    host: str
    port: int
    addresses: tuple[str, ...]
    preference: int


class RouteError(Exception):
    """Routing failed; `str(exc)` is the human text for the DSN and the queue listing."""

    def __init__(self, message: str, *, permanent: bool, status: str) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status


@dataclass(frozen=True)
class RouteSettings:
    # domain -> "host:port" | "[host]:port" | "host"; keys "example.com", ".example.com" (subdomains), "*"
    transport: Mapping[str, str] = field(default_factory=dict)
    nameservers: Sequence[str] = ()  # "127.0.0.1", "127.0.0.1:5353", "[::1]:5353"; empty: /etc/resolv.conf
    timeout: float = 10.0  # dnspython lifetime of each query
    port: int = 25
    prefer_ipv6: bool = False
    local_names: Collection[str] = ()  # names/addresses this server is known by (MX loop check)


def _a_label(name: str) -> str:
    """Lower-case, strip one trailing dot, IDNA (UTS 46) to A-labels; raises ValueError."""
    name = name[:-1] if name.endswith(".") else name
    encoded = idna.encode(name, uts46=True).decode("ascii").lower()
    if encoded.endswith("."):  # "a.." or a mapped trailing full stop: an empty label
        raise ValueError(f"{name!r}: empty label")
    return encoded


def _ip(text: str) -> str | None:
    """The canonical text of `text` if it is an IP address (no IPv6 zone), else None."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return None
    return str(address)


def _port(text: str, value: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise ValueError(f"transport {value!r}: port must be a number from 1 to 65535")
    return int(text)


def parse_transport(value: str, default_port: int = 25) -> tuple[str, int]:
    """Parse a transport value `host`, `host:port`, `[host]:port` or `[ipv6]:port` into (host, port).

    The host comes back normalised (lower-case A-labels, canonical IP text); raises ValueError."""
    text = value.strip()
    port_text: str | None = None
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError(f"transport {value!r}: expected [host] or [host]:port")
        port_text = rest[1:] if rest else None
    elif text.count(":") > 1:
        raise ValueError(f"transport {value!r}: write an IPv6 address in brackets, e.g. [::1]:25")
    else:
        host, colon, after = text.partition(":")
        port_text = after if colon else None
    port = default_port if port_text is None else _port(port_text, value)
    if ip := _ip(host):
        return ip, port
    if not host or ":" in host:
        raise ValueError(f"transport {value!r}: missing or invalid host")
    try:
        return _a_label(host), port
    except ValueError as exc:  # idna.IDNAError is a ValueError
        raise ValueError(f"transport {value!r}: invalid host name: {exc}") from None


def _transport_key(key: str) -> str:
    try:
        if key.startswith("."):  # ".example.com": subdomains of example.com
            return "." + _a_label(key[1:])
        return key if key == "*" else _a_label(key)
    except ValueError as exc:
        raise ValueError(f"transport key {key!r}: invalid domain: {exc}") from None


def _literal(domain: str) -> str:
    """The address of an address literal `[192.0.2.1]` or `[IPv6:2001:db8::1]`."""
    inner = domain[1:-1]
    ipv6 = inner[:5].lower() == "ipv6:"  # RFC 5321 §4.1.3: IPv6-address-literal is tagged "IPv6:"
    address = _ip(inner[5:] if ipv6 else inner)
    # RFC 5321 §4.1.3: an untagged literal is IPv4; General-address-literal tags are not routable.
    if address is None or (":" in address) != ipv6:
        raise RouteError(f"{domain}: invalid address literal", permanent=True, status=BAD_DOMAIN)
    return address


class _NoSuchDomain(Exception):
    """NXDOMAIN, kept apart from temporary failures (RFC 5321 §5.1 treats it as an error)."""


def _temporary(message: str) -> RouteError:
    return RouteError(message, permanent=False, status=DNS_FAILURE)


class Router:
    """Resolves a recipient domain to the hops to try; one per queue, reused for every message."""

    def __init__(
        self,
        settings: RouteSettings,
        *,
        rng: random.Random | None = None,
        resolver: DnsResolver | None = None,
    ) -> None:
        # Bad transport or nameserver values raise ValueError here, so a bad config fails at startup.
        self._settings = settings
        self._rng = rng or random.Random()
        self._transport = {
            _transport_key(k): parse_transport(v, settings.port) for k, v in settings.transport.items()
        }
        self._local = {_ip(n) or _a_label(n) for n in settings.local_names}
        # The server's one resolver (its cache) when given; a bad nameserver raises ValueError here.
        self._resolver = resolver or DnsResolver(settings.nameservers, settings.timeout)

    async def route(self, domain: str) -> list[Hop]:
        """The hops for `domain` (a domain or an address literal), best first; never empty.

        Raises RouteError only: permanent 5.1.2 (bad or non-existent domain), 5.1.10 (null MX), 5.4.6
        (MX loop); temporary 4.4.3 (DNS failure or timeout), 4.4.4 (no exchange has an address)."""
        try:
            return await self._route(domain)
        except RouteError:
            raise
        except Exception as exc:  # safety net: an unforeseen failure defers the mail, never kills a worker
            raise _temporary(f"{domain}: routing failed: {exc!r}") from exc

    async def _route(self, domain: str) -> list[Hop]:
        if domain.startswith("[") and domain.endswith("]"):
            address = _literal(domain)
            # A "*" transport (smarthost) takes all mail, literals too: a site that must relay through a
            # smarthost usually cannot reach port 25 elsewhere. No other transport key matches a literal.
            if "*" in self._transport:
                return await self._via_transport(*self._transport["*"])
            return [Hop(address, self._settings.port, (address,), 0)]
        try:
            name = _a_label(domain)
        except ValueError as exc:
            raise RouteError(
                f"{domain}: invalid domain name: {exc}", permanent=True, status=BAD_DOMAIN
            ) from None
        transport = self._find_transport(name)
        if transport is not None:
            return await self._via_transport(*transport)
        return await self._via_mx(name)

    def uses_mx(self, domain: str) -> bool:
        """Whether mail to ``domain`` goes to its MX hosts (not an address literal nor a transport):
        recipient-domain TLS policies (MTA-STS, DANE) apply only then."""
        if domain.startswith("["):
            return False
        try:
            return self._find_transport(_a_label(domain)) is None
        except ValueError:
            return False

    def _find_transport(self, name: str) -> tuple[str, int] | None:
        if name in self._transport:
            return self._transport[name]
        labels = name.split(".")
        for i in range(1, len(labels)):  # ".example.com" matches subdomains only, nearest parent first
            key = "." + ".".join(labels[i:])
            if key in self._transport:
                return self._transport[key]
        return self._transport.get("*")

    async def _via_transport(self, host: str, port: int) -> list[Hop]:
        if _ip(host) is not None:
            return [Hop(host, port, (host,), 0)]
        addresses, error = await self._addresses(host)
        if addresses:
            return [Hop(host, port, addresses, 0)]
        # A configured relay that does not resolve is an operator error, not the recipient's: defer (4.x)
        # so that fixing the config or DNS delivers the queue instead of bouncing it.
        raise error or RouteError(f"transport host {host} has no address", permanent=False, status=NO_ROUTE)

    async def _via_mx(self, name: str) -> list[Hop]:
        try:
            records = await self._query(name, "MX")
        except _NoSuchDomain:  # RFC 5321 §5.1: a non-existent domain MUST be reported as an error
            raise RouteError(f"{name}: no such domain", permanent=True, status=BAD_DOMAIN) from None
        if not records:  # RFC 5321 §5.1: no MX -> implicit MX, preference 0, pointing to the domain
            addresses, error = await self._addresses(name)
            if addresses:
                return [Hop(name, self._settings.port, addresses, 0)]
            if error is not None:
                raise error
            raise RouteError(f"{name}: no MX and no address record", permanent=True, status=BAD_DOMAIN)
        best: dict[str, int] = {}
        for record in records:  # "10 mx.example." (dnspython follows CNAMEs to the MX records)
            preference, _, exchange = record.partition(" ")
            if exchange == ".":  # RFC 7505 §3: exchange "." names no mail exchanger
                continue
            host = exchange.rstrip(".").lower()
            best[host] = min(best.get(host, 65536), int(preference))
        if not best:  # RFC 7505 §3: a lone MX "." (null MX): the domain accepts no mail; §4.1: 556 5.1.10
            raise RouteError(f"{name} does not accept mail (null MX)", permanent=True, status=NULL_MX)
        # (A "." among real exchanges breaks RFC 7505 §3 "MUST NOT advertise any other MX"; it is skipped.)
        ordered = self._without_self(name, self._order(best))
        results = await asyncio.gather(*(self._exchange(host) for _, host in ordered))
        port = self._settings.port
        hops = [
            Hop(host, port, found, pref)
            for (pref, host), (found, _) in zip(ordered, results, strict=True)
            if found
        ]
        if hops:  # RFC 5321 §5.1: an exchange without addresses is skipped; the others are tried in order
            return hops
        # RFC 5321 §5.1: MX present but none usable MUST be reported as an error. Both cases are
        # temporary: a failing DNS server (4.4.3, also when only some exchanges failed that way, since a
        # retry may find them) or exchanges without addresses (4.4.4), which is usually a DNS mistake
        # being fixed; the queue's maximum lifetime bounds the retries and bounces in the end.
        errors = [error for _, error in results if error is not None]
        if errors:
            raise _temporary(f"{name}: no MX host could be resolved: {errors[0]}")
        raise RouteError(f"{name}: no MX host has an address", permanent=False, status=NO_ROUTE)

    def _order(self, best: Mapping[str, int]) -> list[tuple[int, str]]:
        """Sort by preference; shuffle equal preferences (RFC 5321 §5.1: MUST randomize)."""
        groups: dict[int, list[str]] = {}
        for host, preference in sorted(best.items()):  # sorted first: same seed, same order
            groups.setdefault(preference, []).append(host)
        ordered: list[tuple[int, str]] = []
        for preference in sorted(groups):
            hosts = groups[preference]
            self._rng.shuffle(hosts)
            ordered.extend((preference, host) for host in hosts)
        return ordered

    def _without_self(self, name: str, ordered: list[tuple[int, str]]) -> list[tuple[int, str]]:
        # RFC 5321 §5.1: if we are one of the MX hosts, discard that preference level and all higher
        # ones; if nothing is left, the message MUST be returned as undeliverable.
        mine = [pref for pref, host in ordered if host in self._local or _ip(host) in self._local]
        if not mine:
            return ordered
        kept = [(pref, host) for pref, host in ordered if pref < min(mine)]
        if not kept:
            raise RouteError(f"{name}: mail loops back to myself (MX)", permanent=True, status=LOOP)
        return kept

    async def _exchange(self, host: str) -> tuple[tuple[str, ...], RouteError | None]:
        # RFC 5321 §5.1: the MX data MUST be a domain name, but some zones publish "MX 10 192.0.2.1.";
        # like most MTAs we accept such an exchange as that address rather than look it up as a name.
        if (ip := _ip(host)) is not None:
            return (ip,), None
        return await self._addresses(host)

    async def _addresses(self, host: str) -> tuple[tuple[str, ...], RouteError | None]:
        """A and AAAA of `host`, IPv4 first unless prefer_ipv6; the temporary error if none found."""
        results = await asyncio.gather(
            self._query(host, "A"), self._query(host, "AAAA"), return_exceptions=True
        )
        found: dict[str, list[str]] = {}
        error: RouteError | None = None
        for rdtype, result in zip(("A", "AAAA"), results, strict=True):
            if isinstance(result, RouteError):
                error = result
            elif isinstance(result, _NoSuchDomain):
                continue
            elif isinstance(result, BaseException):
                raise result
            else:  # RFC 5321 §5.1: addresses of a multihomed host are tried in the order presented
                found[rdtype] = result
        order = ("AAAA", "A") if self._settings.prefer_ipv6 else ("A", "AAAA")
        addresses = tuple(dict.fromkeys(address for rdtype in order for address in found.get(rdtype, [])))
        return addresses, None if addresses else error

    async def _query(self, name: str, rdtype: str) -> list[str]:
        """Records of `name`; [] for no records; _NoSuchDomain for NXDOMAIN; RouteError 4.4.3 otherwise."""
        answer = await self._resolver.query(name, rdtype)
        if answer.status == "temperror":
            raise _temporary(answer.reason)
        if answer.nxdomain:
            raise _NoSuchDomain(name)
        return list(answer.records)
