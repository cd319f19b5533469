"""SPF (RFC 7208) at the MX: the thin async driver of the pure ``spf_eval.check_host`` on the one
mail authentication resolver (its cache, and the message's ``Lookups`` count).

Both identities are checked (RFC 7208 section 2.3 and 2.4): HELO, and MAIL FROM; for a null
MAIL FROM the MAIL FROM identity is postmaster@<HELO> and its result is HELO's. An evaluation that
takes longer than ``timeout`` seconds is a temperror (RFC 7208 section 4.6.4: at least 20 s SHOULD
be allowed). SPF's result alone refuses nothing: DMARC decides (docs/deliverability.md).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass
from typing import Literal

from pochta.mailauth.spf_eval import Answered, SpfOutcome, SpfRequest, SpfVerdict, check_host
from pochta.resolver import DnsResolver, Lookups

__all__ = ["SpfCheck", "SpfResult", "check_spf", "evaluate"]


@dataclass(frozen=True)
class SpfResult:
    identity: Literal["helo", "mailfrom"]
    result: SpfVerdict
    domain: str  # the domain checked ("" when there was none to check)
    sender: str  # the identity as reported: smtp.mailfrom=<sender> or smtp.helo=<domain>
    reason: str = ""
    explanation: str | None = None


@dataclass(frozen=True)
class SpfCheck:
    """Both identities' results; ``helo`` is None when the client gave no HELO."""

    helo: SpfResult | None
    mailfrom: SpfResult


async def evaluate(
    request: SpfRequest, resolver: DnsResolver, lookups: Lookups | None = None, time_limit: float = 20.0
) -> SpfOutcome:
    """Run ``check_host`` for ``request``, answering its questions through ``resolver``."""
    evaluation = check_host(request)

    async def drive() -> SpfOutcome:
        try:
            query = next(evaluation)
            while True:
                answer = await resolver.query(query.name, query.rrtype, lookups)
                query = evaluation.send(Answered(answer.status, answer.records))
        except StopIteration as done:
            outcome: SpfOutcome = done.value
            return outcome

    try:
        async with asyncio.timeout(time_limit):
            return await drive()
    except TimeoutError:
        evaluation.close()
        return SpfOutcome("temperror", request.domain, f"SPF evaluation took over {time_limit:g} s")


def _sender(mail_from: str, helo: str) -> tuple[str, str]:
    """(sender, domain) of the MAIL FROM identity: RFC 7208 section 2.4 (null reverse-path:
    postmaster@HELO) and section 4.3 (no local-part: postmaster)."""
    if not mail_from:
        return f"postmaster@{helo}", helo
    local, _, domain = mail_from.rpartition("@")
    return f"{local or 'postmaster'}@{domain}", domain


async def check_spf(
    resolver: DnsResolver,
    peer_ip: str,
    mail_from: str,
    helo: str | None,
    *,
    receiver: str = "unknown",
    lookups: Lookups | None = None,
    void_limit: int = 2,
    time_limit: float = 20.0,
) -> SpfCheck:
    """SPF for the HELO and MAIL FROM identities of a client at ``peer_ip``."""
    try:
        ip = ipaddress.ip_address(peer_ip.split("%", 1)[0])
    except ValueError:
        none = SpfResult("mailfrom", "none", "", mail_from, "no client IP address")
        return SpfCheck(None, none)
    helo_name = (helo or "").rstrip(".")
    now = int(time.time())

    async def run(domain: str, sender: str) -> SpfOutcome:
        # Each identity is its own check_host(): its own limits (RFC 7208 section 4.6.4 counts per
        # evaluation); the DNS answers are shared through the resolver's cache.
        request = SpfRequest(ip, domain, sender, helo_name or "unknown", receiver, now, void_limit)
        return await evaluate(request, resolver, lookups, time_limit)

    helo_result = None
    if helo_name:
        outcome = await run(helo_name, f"postmaster@{helo_name}")
        helo_result = SpfResult(
            "helo", outcome.result, helo_name, helo_name, outcome.reason, outcome.explanation
        )
    sender, domain = _sender(mail_from, helo_name)
    if not mail_from:
        if helo_result is None:
            return SpfCheck(None, SpfResult("mailfrom", "none", "", sender, "null sender and no HELO"))
        mailfrom = SpfResult(
            "mailfrom", helo_result.result, domain, sender, helo_result.reason, helo_result.explanation
        )
        return SpfCheck(helo_result, mailfrom)
    outcome = await run(domain, sender)
    return SpfCheck(
        helo_result,
        SpfResult("mailfrom", outcome.result, domain, sender, outcome.reason, outcome.explanation),
    )
