"""The SPF ``check_host()`` function (RFC 7208 sections 4 to 6), pure and sans-IO.

``check_host`` is a generator: it yields each DNS question (``Query``) and is sent its answer
(``Answered``); it returns the ``SpfOutcome``. The caller (``spf.check_spf``, or a test with a
zone in a dict) does the asking. Nothing here waits, reads a socket or knows a resolver.

    evaluation = check_host(SpfRequest(...))
    query = next(evaluation)
    while True:
        try:
            query = evaluation.send(answer_for(query))
        except StopIteration as done:
            outcome = done.value
            break

Limits (RFC 7208 section 4.6.4): at most 10 terms that query DNS (include, a, mx, ptr, exists,
redirect) in the whole evaluation, at most ``void_limit`` (2) of their lookups answered with no
records, at most 10 MX names per mx (more is a permerror) and 10 PTR names per ptr or %{p}
(the others are ignored). Exceeding one is a permerror.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Literal

from pochta.mailauth.spf_macro import (
    MacroValues,
    SpfSyntaxError,
    check_macro_string,
    expand,
    target_name,
    uses_p,
    valid_domain,
)
from pochta.mailauth.spf_record import DNS_TERMS, Mechanism, parse_record, select_record

__all__ = ["Answered", "Query", "SpfOutcome", "SpfRequest", "SpfVerdict", "check_host"]

SpfVerdict = Literal["none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"]
RrType = Literal["TXT", "A", "AAAA", "MX", "PTR"]
IP = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAX_DNS_TERMS = 10  # RFC 7208 section 4.6.4: MUST limit the DNS-querying terms to 10
_MAX_MX_NAMES = 10  # RFC 7208 section 4.6.4: an mx looking up more than 10 names: permerror
_MAX_PTR_NAMES = 10  # RFC 7208 section 4.6.4: PTR names past the first 10 are ignored
_QUALIFIED: dict[str, SpfVerdict] = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


@dataclass(frozen=True)
class Query:
    name: str  # without the trailing dot
    rrtype: RrType


@dataclass(frozen=True)
class Answered:
    """The answer to a Query: ``found`` with records in zone-file text (TXT: the strings joined;
    MX: "10 mx.example."; PTR: "host.example."), ``none`` (NXDOMAIN or no records of the type) or
    ``temperror`` (timeout, SERVFAIL)."""

    status: Literal["found", "none", "temperror"]
    records: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpfRequest:
    ip: IP
    domain: str  # the domain checked: MAIL FROM's, or HELO's
    sender: str  # local-part@domain; postmaster@helo for a null MAIL FROM (RFC 7208 section 2.4)
    helo: str
    receiver: str = "unknown"
    timestamp: int = 0
    void_limit: int = 2  # RFC 7208 section 4.6.4: SHOULD limit void lookups to two


@dataclass(frozen=True)
class SpfOutcome:
    result: SpfVerdict
    domain: str
    reason: str = ""  # what decided it: the mechanism matched, or the error
    explanation: str | None = None  # RFC 7208 section 6.2: exp= text, for a fail only


class _Abort(Exception):
    """Ends the whole evaluation with a temperror or permerror (from any depth of include)."""

    def __init__(self, result: SpfVerdict, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


@dataclass
class _Budget:
    terms: int = 0
    voids: int = 0
    void_limit: int = 2
    validated: dict[str, str] = field(default_factory=dict)  # %{p} per domain, looked up once

    def term(self, name: str) -> None:
        self.terms += 1
        if self.terms > _MAX_DNS_TERMS:
            raise _Abort("permerror", f"more than {_MAX_DNS_TERMS} DNS-querying terms ({name})")

    def void(self, query: Query) -> None:
        self.voids += 1
        if self.voids > self.void_limit:
            raise _Abort("permerror", f"more than {self.void_limit} void lookups ({query.name})")


def check_host(request: SpfRequest) -> Generator[Query, Answered, SpfOutcome]:
    """The result of RFC 7208 ``check_host(ip, domain, sender)`` for ``request``."""
    ip = request.ip
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # RFC 7208 section 5: an IPv4-mapped address is checked as IPv4
    values = MacroValues(
        request.sender, request.domain, ip, request.helo, request.receiver, request.timestamp
    )
    budget = _Budget(void_limit=request.void_limit)
    explanation: list[str] = []
    try:
        result, reason = yield from _check(values, budget, explanation, want_exp=True)
    except _Abort as abort:
        return SpfOutcome(abort.result, request.domain, abort.reason)
    return SpfOutcome(result, request.domain, reason, explanation[0] if explanation else None)


def _check(
    values: MacroValues, budget: _Budget, explanation: list[str], *, want_exp: bool
) -> Generator[Query, Answered, tuple[SpfVerdict, str]]:
    """check_host() on ``values.domain``: (result, reason). Errors raise _Abort."""
    domain = values.domain
    # RFC 7208 section 4.3: a malformed or single-label domain is "none" without a lookup.
    if not valid_domain(domain):
        return "none", f"{domain!r} is not a valid domain"
    answer = yield Query(domain.rstrip("."), "TXT")
    if answer.status == "temperror":
        raise _Abort("temperror", f"DNS error looking up the SPF record of {domain}")  # section 4.4
    try:
        text = select_record(answer.records)
        if text is None:
            return "none", f"no SPF record at {domain}"  # RFC 7208 section 4.5
        record = parse_record(text)
    except SpfSyntaxError as exc:
        raise _Abort("permerror", f"{domain}: {exc}") from None
    for mechanism in record.mechanisms:
        if mechanism.kind in DNS_TERMS:
            budget.term(str(mechanism))
        if (yield from _matches(mechanism, values, budget)):
            result = _QUALIFIED[mechanism.qualifier]
            if result == "fail" and want_exp and record.exp is not None:
                text_found = yield from _explain(record.exp, values, budget)
                if text_found is not None:
                    explanation.append(text_found)
            return result, f"{domain}: {mechanism}"
    # RFC 7208 section 6.1: redirect is used only when no mechanism matched and there is no "all".
    if record.redirect is not None and not any(m.kind == "all" for m in record.mechanisms):
        budget.term("redirect")
        target = yield from _target(record.redirect, values, budget)
        if target is None or not valid_domain(target):
            raise _Abort("permerror", f"{domain}: redirect to an invalid domain")  # section 6.1
        # The target's own exp= applies, not ours (RFC 7208 section 6.2).
        result, reason = yield from _check(
            replace(values, domain=target), budget, explanation, want_exp=want_exp
        )
        if result == "none":
            raise _Abort("permerror", f"{domain}: redirect to {target}, which has no SPF record")
        return result, reason
    return "neutral", f"{domain}: no mechanism matched"  # RFC 7208 section 4.7: the default


def _target(spec: str | None, values: MacroValues, budget: _Budget) -> Generator[Query, Answered, str | None]:
    """A mechanism's target name: its domain-spec expanded, or <domain> when it has none."""
    if spec is None:
        return values.domain.rstrip(".")
    if uses_p(spec):
        values = replace(values, validated=(yield from _validated_name(values, budget)))
    return target_name(expand(spec, values))


def _reverse_name(ip: IP) -> str:
    return ip.reverse_pointer


def _address_type(ip: IP) -> RrType:
    return "A" if isinstance(ip, ipaddress.IPv4Address) else "AAAA"


def _in(ip: IP, records: tuple[str, ...], cidr4: int, cidr6: int) -> bool:
    prefix = cidr4 if isinstance(ip, ipaddress.IPv4Address) else cidr6
    for record in records:
        try:
            network = ipaddress.ip_network(f"{record}/{prefix}", strict=False)
        except ValueError:
            continue
        if ip in network:
            return True
    return False


def _lookup(
    query: Query, budget: _Budget, *, counts_void: bool = True
) -> Generator[Query, Answered, Answered]:
    """Ask; a temporary error ends the check (RFC 7208 section 5: temperror), and a void answer
    counts against the void lookup limit."""
    answer = yield query
    if answer.status == "temperror":
        raise _Abort("temperror", f"DNS error looking up {query.rrtype} {query.name}")
    if counts_void and (answer.status == "none" or not answer.records):
        budget.void(query)
    return answer


def _matches(mechanism: Mechanism, values: MacroValues, budget: _Budget) -> Generator[Query, Answered, bool]:
    ip = values.ip
    kind = mechanism.kind
    if kind == "all":
        return True  # RFC 7208 section 5.1
    if kind in ("ip4", "ip6"):
        # RFC 7208 section 5.6: ip4 matches IPv4 clients only, ip6 IPv6 ones.
        return (
            mechanism.network is not None
            and ip.version == mechanism.network.version
            and ip in mechanism.network
        )
    target = yield from _target(mechanism.domain_spec, values, budget)
    if target is None or not valid_domain(target, multi_label=False):
        # An expanded name DNS cannot carry (empty or long label): treated as not existing, as
        # RFC 7208 section 4.3 does for <domain>; the test suite allows this or permerror.
        if kind == "include":
            raise _Abort("permerror", f"include of an invalid domain {target!r}")
        return False
    match kind:
        case "include":
            # RFC 7208 section 5.2: pass matches; fail, softfail, neutral do not; temperror and
            # permerror end the check (they raise through here); none is a permerror. The
            # included record's exp= is not used.
            inner, _ = yield from _check(replace(values, domain=target), budget, [], want_exp=False)
            if inner == "none":
                raise _Abort("permerror", f"include:{target} has no SPF record")
            return inner == "pass"
        case "a":
            # RFC 7208 section 5.3: A records for an IPv4 client, AAAA for IPv6, within the CIDR.
            answer = yield from _lookup(Query(target, _address_type(ip)), budget)
            return _in(ip, answer.records, mechanism.cidr4, mechanism.cidr6)
        case "mx":
            return (yield from _mx(target, mechanism, ip, budget))
        case "ptr":
            return (yield from _ptr(target, values, budget))
        case _:  # "exists": RFC 7208 section 5.7, an A lookup whatever the client's address family
            answer = yield from _lookup(Query(target, "A"), budget)
            return answer.status == "found" and bool(answer.records)


def _mx(target: str, mechanism: Mechanism, ip: IP, budget: _Budget) -> Generator[Query, Answered, bool]:
    """RFC 7208 section 5.4: the addresses of the MX hosts of ``target`` (no implicit MX)."""
    answer = yield from _lookup(Query(target, "MX"), budget)
    names = []
    for record in answer.records:
        exchange = record.split()[-1].rstrip(".") if record.split() else ""
        if exchange:  # a null MX ("0 .", RFC 7505) names no host
            names.append(exchange)
    if len(names) > _MAX_MX_NAMES:  # RFC 7208 section 4.6.4: MUST produce a permerror
        raise _Abort("permerror", f"{target} has more than {_MAX_MX_NAMES} MX records")
    for name in names:
        if not valid_domain(name, multi_label=False):
            continue
        hosts = yield from _lookup(Query(name, _address_type(ip)), budget, counts_void=False)
        if _in(ip, hosts.records, mechanism.cidr4, mechanism.cidr6):
            return True
    return False


def _validated(ip: IP, budget: _Budget) -> Generator[Query, Answered, list[str]]:
    """RFC 7208 section 5.5: the names of ip's PTR records (the first 10) whose own addresses
    include ip. DNS errors here make a name invalid, never the check."""
    answer = yield Query(_reverse_name(ip), "PTR")
    if answer.status != "found":
        if answer.status == "none":
            budget.void(Query(_reverse_name(ip), "PTR"))
        return []
    out = []
    for record in answer.records[:_MAX_PTR_NAMES]:
        name = record.rstrip(".")
        if not valid_domain(name, multi_label=False):
            continue
        hosts = yield Query(name, _address_type(ip))
        if hosts.status == "found" and ip in {_parse_ip(r) for r in hosts.records}:
            out.append(name)
    return out


def _parse_ip(text: str) -> IP | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _ptr(target: str, values: MacroValues, budget: _Budget) -> Generator[Query, Answered, bool]:
    """RFC 7208 section 5.5: a validated name equal to ``target`` or a subdomain of it."""
    suffix = target.lower().rstrip(".")
    for name in (yield from _validated(values.ip, budget)):
        lowered = name.lower()
        if lowered == suffix or lowered.endswith("." + suffix):
            return True
    return False


def _validated_name(values: MacroValues, budget: _Budget) -> Generator[Query, Answered, str]:
    """%{p} (RFC 7208 section 7.3): a validated name, the domain itself or one of its subdomains
    preferred; "unknown" when none validates. Looked up once per check."""
    key = values.domain.lower()
    if key in budget.validated:
        return budget.validated[key]
    names = yield from _validated(values.ip, replace(budget, void_limit=1 << 30))
    domain = values.domain.lower().rstrip(".")
    ranked = sorted(
        names, key=lambda n: 0 if n.lower() == domain else 1 if n.lower().endswith("." + domain) else 2
    )
    budget.validated[key] = ranked[0] if ranked else "unknown"
    return budget.validated[key]


def _explain(spec: str, values: MacroValues, budget: _Budget) -> Generator[Query, Answered, str | None]:
    """RFC 7208 section 6.2: the exp= text, or None when it cannot be had (no record, several, a
    DNS error, a syntax error, non-ASCII): then it is as if there were no exp=. Its lookup does not
    count against the limits."""
    try:
        target = yield from _target(spec, values, _Budget(void_limit=1 << 30))
    except _Abort:
        return None
    if target is None or not valid_domain(target, multi_label=False):
        return None
    answer = yield Query(target, "TXT")
    if answer.status != "found" or len(answer.records) != 1:
        return None
    text = answer.records[0]
    if not text.isascii():
        return None
    try:
        check_macro_string(text, exp=True)
    except SpfSyntaxError:
        return None
    if uses_p(text):
        values = replace(values, validated=(yield from _validated_name(values, budget)))
    return expand(text, values, exp=True)
