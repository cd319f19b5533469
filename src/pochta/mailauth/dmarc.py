"""DMARC (RFC 7489) evaluation of a received message: the RFC5322.From domain, policy discovery
(``_dmarc.<domain>``, then ``_dmarc.<organizational domain>``), and identifier alignment of the SPF
and DKIM results already found. What is done about the result is ``dmarc_policy``'s.

The From domain (RFC 7489 section 6.6.1): a message with no From field, with several From fields,
or with no valid address in it is a ``permerror`` (RFC 5322 section 3.6 wants exactly one; such a
message gets no DMARC verdict, and no policy is applied to it). One From field with mailboxes of
several domains is evaluated for each domain; the result reported is the failing one with the
strictest policy (section 6.6.1), else the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pochta.mailauth.dkim_verify import DkimResult
from pochta.mailauth.dmarc_record import (
    DmarcRecord,
    DmarcSyntaxError,
    Policy,
    organizational_domain,
    parse_dmarc,
    select_dmarc,
)
from pochta.mailauth.spf import SpfCheck
from pochta.mime.address import mailboxes, normalise_domain, parse_address_list
from pochta.mime.encoded_words import decode_encoded_words
from pochta.resolver import DnsResolver, Lookups

__all__ = ["DmarcResult", "DmarcVerdict", "aligned", "check_dmarc", "from_domains"]

DmarcVerdict = Literal["none", "pass", "fail", "temperror", "permerror"]
_STRICTNESS: dict[Policy, int] = {"none": 0, "quarantine": 1, "reject": 2}


@dataclass(frozen=True)
class DmarcResult:
    result: DmarcVerdict
    from_domain: str  # header.from ("" when there is none to report)
    policy_domain: str = ""  # where the record was found: the From domain or its organizational one
    record: DmarcRecord | None = None
    policy: Policy = "none"  # what the domain asks for this message: p=, or sp= for a subdomain
    dkim_domain: str = ""  # the d= of an aligned passing signature, "" when none
    spf_aligned: bool = False
    reason: str = ""


def _header_fields(message: bytes) -> list[tuple[str, str]]:
    end = message.find(b"\r\n\r\n")
    block = message if end < 0 else message[: end + 2]
    fields: list[list[str]] = []
    for line in block.decode("utf-8", "replace").split("\r\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1][1] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            fields.append([name.strip().lower(), value.strip()])
    return [(name, value) for name, value in fields]


def from_domains(message: bytes) -> list[str] | str:
    """The distinct domains of the From field's mailboxes (lower case, in order), or why there
    is no usable From domain (RFC 7489 section 6.6.1)."""
    values = [value for name, value in _header_fields(message) if name == "from"]
    if not values:
        return "no From field"
    if len(values) > 1:
        return "several From fields"
    found = mailboxes(parse_address_list(decode_encoded_words(values[0])))
    # An internationalized domain is looked up (and reported) as its A-label form.
    domains = list(
        dict.fromkeys((normalise_domain(m.domain) or m.domain.lower()).rstrip(".") for m in found if m.domain)
    )
    domains = [d for d in domains if not d.startswith("[")]  # an address literal has no policy
    return domains or "no domain in the From field"


def _in_relation(identifier: str, author: str, mode: Literal["r", "s"]) -> bool:
    """RFC 7489 section 3.1: strict means the same name; relaxed, the same organizational domain."""
    identifier = identifier.lower().rstrip(".")
    if mode == "s":
        return identifier == author
    return organizational_domain(identifier) == organizational_domain(author)


def aligned(
    author: str, record: DmarcRecord, spf: SpfCheck | None, dkim: Sequence[DkimResult]
) -> tuple[str, bool]:
    """(d= of an aligned passing DKIM signature or "", whether SPF passed for an aligned MAIL FROM
    domain): RFC 7489 sections 3.1.1 and 3.1.2. For a null MAIL FROM the SPF identity is HELO's
    (section 3.1.2 via RFC 7208 section 2.4), as ``SpfCheck.mailfrom`` already holds it."""
    dkim_domain = next(
        (
            r.domain
            for r in dkim
            if r.result == "pass" and r.domain and _in_relation(r.domain, author, record.adkim)
        ),
        "",
    )
    spf_ok = (
        spf is not None
        and spf.mailfrom.result == "pass"
        and bool(spf.mailfrom.domain)
        and _in_relation(spf.mailfrom.domain, author, record.aspf)
    )
    return dkim_domain, spf_ok


async def _discover(
    author: str, resolver: DnsResolver, lookups: Lookups | None
) -> tuple[DmarcRecord | None, str, str]:
    """(record, the domain it was found at, error) by RFC 7489 section 6.6.3: the author domain,
    then the organizational domain. error is "temperror" text when DNS failed."""
    organizational = organizational_domain(author)
    for domain in dict.fromkeys((author, organizational)):
        answer = await resolver.txt(f"_dmarc.{domain}", lookups)
        if answer.status == "temperror":
            return None, domain, f"DNS error looking up _dmarc.{domain}"
        text = select_dmarc(answer.records) if answer.status == "found" else None
        if text is None:
            continue
        try:
            return parse_dmarc(text), domain, ""
        except DmarcSyntaxError:
            continue  # section 6.6.3: an unusable record is as none
    return None, "", ""


async def _check_one(
    author: str,
    resolver: DnsResolver,
    spf: SpfCheck | None,
    dkim: Sequence[DkimResult],
    lookups: Lookups | None,
) -> DmarcResult:
    record, found_at, error = await _discover(author, resolver, lookups)
    if error:
        return DmarcResult("temperror", author, found_at, reason=error)
    if record is None:
        return DmarcResult("none", author, reason="no DMARC record")
    # RFC 7489 section 6.3: sp= applies to subdomains of the domain the record was found at.
    policy = record.p if found_at == author else record.sp
    dkim_domain, spf_ok = aligned(author, record, spf, dkim)
    result: DmarcVerdict = "pass" if dkim_domain or spf_ok else "fail"
    reason = "" if result == "pass" else "neither SPF nor DKIM passed aligned with the From domain"
    return DmarcResult(result, author, found_at, record, policy, dkim_domain, spf_ok, reason)


async def check_dmarc(
    message: bytes,
    resolver: DnsResolver,
    spf: SpfCheck | None,
    dkim: Sequence[DkimResult],
    lookups: Lookups | None = None,
) -> DmarcResult:
    domains = from_domains(message)
    if isinstance(domains, str):
        return DmarcResult("permerror", "", reason=domains)
    results = [await _check_one(domain, resolver, spf, dkim, lookups) for domain in domains[:10]]
    failed = [r for r in results if r.result == "fail"]
    if failed:
        return max(failed, key=lambda r: _STRICTNESS[r.policy])
    return results[0]
