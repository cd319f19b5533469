"""SPF records (RFC 7208 sections 4.5, 4.6, 5 and 6): picking a domain's record among its TXT
records, and parsing it whole into mechanisms and modifiers, pure. Any syntax error anywhere is a
``SpfSyntaxError`` before a single mechanism is evaluated (RFC 7208 section 4.6)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pochta.mailauth.spf_macro import SpfSyntaxError, check_domain_spec, check_macro_string

__all__ = ["Mechanism", "SpfRecord", "parse_record", "select_record"]

Kind = Literal["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"]
# RFC 7208 section 4.6.2: the qualifier, "+" when none is written.
Qualifier = Literal["+", "-", "~", "?"]
_KINDS: frozenset[str] = frozenset(("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"))
# RFC 7208 section 4.6.4: the terms that cause DNS queries (and count against the limit of 10).
DNS_TERMS: frozenset[str] = frozenset(("include", "a", "mx", "ptr", "exists", "redirect"))
# RFC 7208 section 4.6.1: name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ); a term is a modifier
# when "=" follows the name immediately.
_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9._-]*)=(.*)", re.DOTALL)
_MECHANISM = re.compile(r"([+\-~?]?)([A-Za-z0-9]+)(.*)", re.DOTALL)
_CIDR = re.compile(r"0|[1-9][0-9]*")
# RFC 7208 section 5.6: dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ], at the end.
_DUAL_CIDR = re.compile(r"(.*?)(?:/([0-9]+))?(?://([0-9]+))?", re.DOTALL)


@dataclass(frozen=True)
class Mechanism:
    qualifier: Qualifier
    kind: Kind
    domain_spec: str | None = None  # include/a/mx/ptr/exists: the macro string, None = <domain>
    cidr4: int = 32
    cidr6: int = 128
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None  # ip4/ip6

    def __str__(self) -> str:
        text = self.kind if self.qualifier == "+" else self.qualifier + self.kind
        if self.network is not None:
            return f"{text}:{self.network}"
        return f"{text}:{self.domain_spec}" if self.domain_spec is not None else text


@dataclass(frozen=True)
class SpfRecord:
    mechanisms: tuple[Mechanism, ...]
    redirect: str | None = None  # RFC 7208 section 6.1, a domain-spec
    exp: str | None = None  # RFC 7208 section 6.2, a domain-spec


def _is_spf1(text: str) -> bool:
    # RFC 7208 section 4.5: "v=spf1" (case-insensitive) then a space or the end of the record.
    return text[:6].lower() == "v=spf1" and (len(text) == 6 or text[6] == " ")


def select_record(txts: Sequence[str]) -> str | None:
    """The one SPF record among a domain's TXT records, None if there is none; SpfSyntaxError when
    there are several (RFC 7208 section 4.5: permerror)."""
    found = [text for text in txts if _is_spf1(text)]
    if len(found) > 1:
        raise SpfSyntaxError(f"{len(found)} SPF records")
    return found[0] if found else None


def _cidr(text: str | None, limit: int) -> int | None:
    if text is None:
        return None
    # RFC 7208 section 5.6: a length past 32 (IPv4) or 128 (IPv6), or with leading zeros, is invalid.
    if not _CIDR.fullmatch(text) or int(text) > limit:
        raise SpfSyntaxError(f"bad CIDR length /{text}")
    return int(text)


def _domain_spec(rest: str, required: bool) -> str | None:
    if not rest:
        if required:
            raise SpfSyntaxError("a domain-spec is required")
        return None
    if not rest.startswith(":"):
        raise SpfSyntaxError(f"unexpected {rest!r}")
    spec = rest[1:]
    check_domain_spec(spec)
    return spec


def _network(kind: str, rest: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """RFC 7208 section 5.6: ip4:<ip4-network>[/<len>], ip6:<ip6-network>[/<len>]."""
    if not rest.startswith(":"):
        raise SpfSyntaxError(f"{kind} needs an address")
    address, slash, length = rest[1:].partition("/")
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = (
            ipaddress.IPv4Address(address) if kind == "ip4" else ipaddress.IPv6Address(address)
        )
    except ValueError:
        raise SpfSyntaxError(f"bad {kind} address {address!r}") from None
    bits = ip.max_prefixlen
    prefix = _cidr(length, bits) if slash else bits
    assert prefix is not None
    return ipaddress.ip_network(f"{ip}/{prefix}", strict=False)


def _mechanism(term: str) -> Mechanism:
    match = _MECHANISM.fullmatch(term)
    if match is None or match.group(2).lower() not in _KINDS:
        raise SpfSyntaxError(f"unknown mechanism {term!r}")
    qualifier: Qualifier = match.group(1) or "+"  # type: ignore[assignment]
    kind: Kind = match.group(2).lower()  # type: ignore[assignment]
    rest = match.group(3)
    match kind:
        case "all":
            if rest:
                raise SpfSyntaxError(f"'all' takes no argument: {term!r}")  # RFC 7208 section 5.1
            return Mechanism(qualifier, kind)
        case "include" | "exists":
            return Mechanism(qualifier, kind, _domain_spec(rest, required=True))  # sections 5.2, 5.7
        case "ptr":
            return Mechanism(qualifier, kind, _domain_spec(rest, required=False))  # section 5.5
        case "ip4" | "ip6":
            return Mechanism(qualifier, kind, network=_network(kind, rest))
        case _:  # "a" | "mx": RFC 7208 sections 5.3, 5.4, with a dual CIDR length
            cidr = _DUAL_CIDR.fullmatch(rest)
            assert cidr is not None  # the pattern matches any text
            cidr4 = _cidr(cidr.group(2), 32)
            cidr6 = _cidr(cidr.group(3), 128)
            spec = _domain_spec(cidr.group(1), required=False)
            return Mechanism(
                qualifier, kind, spec, 32 if cidr4 is None else cidr4, 128 if cidr6 is None else cidr6
            )


def parse_record(text: str) -> SpfRecord:
    """The record's terms (``text`` as ``select_record`` returned it); SpfSyntaxError otherwise."""
    if not text.isascii():
        raise SpfSyntaxError("an SPF record is 7-bit ASCII")  # RFC 7208 section 3.1
    mechanisms: list[Mechanism] = []
    modifiers: dict[str, str] = {}
    for term in text[6:].split(" "):  # RFC 7208 section 4.6.1: terms separated by spaces only
        if not term:
            continue
        modifier = _MODIFIER.fullmatch(term)
        if modifier is not None:
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name in ("redirect", "exp"):
                if name in modifiers:  # RFC 7208 section 6: each at most once
                    raise SpfSyntaxError(f"{name}= appears twice")
                check_domain_spec(value)  # sections 6.1, 6.2: "=" domain-spec (an empty one too)
                modifiers[name] = value
            else:
                check_macro_string(value)  # RFC 7208 section 6: unknown modifiers are ignored,
                # but must be valid macro strings (appendix A: unknown-modifier)
            continue
        mechanisms.append(_mechanism(term))
    return SpfRecord(tuple(mechanisms), modifiers.get("redirect"), modifiers.get("exp"))
