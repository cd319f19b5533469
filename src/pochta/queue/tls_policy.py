"""Which TLS each MX host of a recipient domain must prove: DANE (RFC 7672) where the resolver vouches
for TLSA records, else the domain's MTA-STS policy (RFC 8461), else none (opportunistic TLS).

``TransportSecurity.plan(domain, hops)`` returns the hops that may be tried, the requirement of each
(``client.TlsRequirement``) and what TLS-RPT should count; the MTA-STS policy is cached in the store
(revision 0028) and refreshed when its TXT id changes or it expires (RFC 8461 section 5.1).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pochta.config import QueueSettings
from pochta.log import get_logger
from pochta.proto.smtp import Reply
from pochta.queue.client import TlsOutcome, TlsRequirement, verifying_context
from pochta.queue.dane import usable_records
from pochta.queue.mta_sts import Policy, PolicyError, parse_policy, parse_txt
from pochta.queue.sts_fetch import FetchError, fetch_policy
from pochta.resolver import DnsResolver, LookupFailed, RecordLookup, record_lookup
from pochta.store.api_features import TransportSecurityStore
from pochta.store.transport_model import CachedPolicy, TlsResult


@dataclass(frozen=True)
class ReportPolicy:
    """The policy a host was tried under, as TLS-RPT names it (RFC 8460 section 4.4)."""

    domain: str  # the policy domain: the recipient domain (RFC 8460 section 4.4)
    policy_type: str  # "sts" | "tlsa"
    policy: str  # policy-string lines joined by LF

    def result(self, outcome: TlsOutcome) -> TlsResult:
        return TlsResult(
            self.domain,
            self.policy_type,
            self.policy,
            outcome.host,
            outcome.result_type,
            outcome.address if outcome.result_type else "",
            outcome.detail if outcome.result_type else "",
            outcome.sending_ip if outcome.result_type else "",
        )


def tls_required_no(head: bytes) -> bool:
    """Whether the message's header has "TLS-Required: No" (RFC 8689 section 3)."""
    header = head.split(b"\r\n\r\n", 1)[0]
    for line in header.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() == b"tls-required":
            return value.strip().lower() == b"no"
    return False


# RFC 8460 section 4.3.2.1: the ways an MTA-STS policy cannot be had
_FETCH_FAILURES = frozenset({"sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid"})


@dataclass
class Plan:
    requirements: dict[str, TlsRequirement] = field(default_factory=dict)
    reporting: dict[str, ReportPolicy] = field(default_factory=dict)  # by host
    refusals: dict[str, Reply] = field(default_factory=dict)  # hosts left out, and why
    results: list[TlsResult] = field(default_factory=list)  # counted before any session (fetch errors)

    @property
    def policy_unavailable(self) -> bool:
        """A policy exists but could not be had now (its fetch failed, with none cached)."""
        return any(r.result_type in _FETCH_FAILURES for r in self.results) and not self.requirements


class TransportSecurity:
    """One per queue worker; looks up DNS through the server's resolver (``queue.dns_nameservers``)."""

    def __init__(
        self,
        store: TransportSecurityStore,
        settings: QueueSettings,
        *,
        resolver: DnsResolver | None = None,
        lookup: RecordLookup | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.resolver = resolver or DnsResolver(settings.dns_nameservers, settings.dns_timeout)
        self.lookup = lookup or record_lookup(self.resolver)
        self.clock = clock
        self.log = get_logger(task="tls-policy")
        self._https: ssl.SSLContext | None = None

    @property
    def dane_enabled(self) -> bool:
        # RFC 7672 section 2.1: TLSA records count only when DNSSEC-validated; pochta trusts the AD bit
        # of resolvers the administrator declared validating (queue.dns_dnssec), and nothing else.
        return self.settings.dane == "auto" and self.settings.dns_dnssec

    async def plan(self, domain: str, hosts: Sequence[str], *, ignore_policies: bool = False) -> Plan:
        """The requirements for delivering to ``domain`` through ``hosts`` (its MX hosts)."""
        plan = Plan()
        if ignore_policies:  # RFC 8689 section 4.2.2: the sender asked that recipient policies be ignored
            return plan
        dane_hosts: set[str] = set()
        if self.dane_enabled and await self._authenticated(domain, "MX"):
            for host in hosts:
                await self._dane(domain, host, plan)
            dane_hosts = set(plan.requirements) | set(plan.refusals)
        if self.settings.mta_sts and not dane_hosts >= set(hosts):
            policy = await self._mta_sts(domain, plan)
            if policy is not None:
                self._apply(domain, policy, [h for h in hosts if h not in dane_hosts], plan)
        return plan

    # --- DANE ------------------------------------------------------------------------------------

    async def _dane(self, domain: str, host: str, plan: Plan) -> None:
        name = f"_25._tcp.{host}"
        try:
            records, secure = await self._secure_records(name, "TLSA")
        except LookupFailed as exc:
            # RFC 7672 section 2.2: a failed TLSA lookup (not "no such record") makes the host unusable.
            plan.refusals[host] = Reply(451, (f"DANE: TLSA lookup of {name} failed: {exc}",), "4.7.5")
            plan.results.append(TlsResult(domain, "tlsa", "", host, "tlsa-invalid", "", str(exc)[:300]))
            return
        if not secure or not records:  # RFC 7672 section 2.2: only an authenticated TLSA RRset counts
            return
        # RFC 7672 section 2.2: secure TLSA records that are all unusable still mean "TLS required"
        # (mandatory unauthenticated TLS); usable ones are what the certificate is matched against.
        plan.requirements[host] = TlsRequirement("dane", True, usable_records(records))
        plan.reporting[host] = ReportPolicy(domain, "tlsa", "\n".join(records))

    async def _authenticated(self, name: str, rdtype: str) -> bool:
        try:
            _, secure = await self._secure_records(name, rdtype)
        except LookupFailed:
            return False
        return secure

    async def _secure_records(self, name: str, rdtype: str) -> tuple[list[str], bool]:
        """Records of ``name`` and whether the (validating) resolver set the AD bit on the answer."""
        answer = await self.resolver.query(name, rdtype, authenticated=True)
        if answer.status == "temperror":
            raise LookupFailed(answer.reason)
        # No records: nothing to authenticate; "not secure" makes no use of them either way.
        return list(answer.records), answer.status == "found" and answer.secure

    # --- MTA-STS ---------------------------------------------------------------------------------

    async def _mta_sts(self, domain: str, plan: Plan) -> Policy | None:
        """The domain's policy: the cached one while valid and its id current, else fetched anew."""
        now = int(self.clock())
        cached = await self.store.mta_sts_policy(domain)
        try:
            policy_id = parse_txt(await self.lookup(f"_mta-sts.{domain}", "TXT"))
        except LookupFailed:
            policy_id = None  # RFC 8461 section 5.1: a cached, unexpired policy still applies
        valid = cached if cached is not None and cached.expires > now else None
        if valid is not None and policy_id in (None, valid.policy_id):
            return parse_policy(valid.policy)
        if policy_id is None:
            return None  # RFC 8461 section 3.1: no usable TXT record and no policy cached: no MTA-STS
        try:
            text = await self._fetch(domain)
            policy = parse_policy(text)
        except (FetchError, PolicyError) as exc:
            # RFC 8461 section 5.1: when the new policy cannot be had, keep using the cached one;
            # without one, deliver as if the domain had no policy. Either way TLS-RPT hears of it.
            self.log.warning("mta-sts policy fetch failed", domain=domain, error=str(exc))
            kind = exc.result_type if isinstance(exc, FetchError) else "sts-policy-invalid"
            plan.results.append(TlsResult(domain, "sts", "", "", kind, "", str(exc)[:300]))
            return parse_policy(valid.policy) if valid is not None else None
        await self.store.put_mta_sts_policy(
            CachedPolicy(domain, policy_id, policy.text(), now, now + policy.max_age)
        )
        return policy

    async def _fetch(self, domain: str) -> str:
        host = f"mta-sts.{domain}"
        try:
            addresses = [*await self.lookup(host, "A"), *await self.lookup(host, "AAAA")]
        except LookupFailed as exc:
            raise FetchError(f"cannot resolve {host}: {exc}") from None
        if self._https is None:
            self._https = verifying_context(self.settings.tls_ca_file)
        return await fetch_policy(
            domain,
            addresses,
            port=self.settings.mta_sts_port,
            context=self._https,
            seconds=self.settings.mta_sts_timeout,
            limit=self.settings.mta_sts_max_size,
        )

    def _apply(self, domain: str, policy: Policy, hosts: Sequence[str], plan: Plan) -> None:
        if policy.mode == "none":
            return
        report = ReportPolicy(domain, "sts", policy.text().replace("\r\n", "\n").rstrip("\n"))
        enforce = policy.mode == "enforce"
        for host in hosts:
            if enforce and not policy.allows(host):
                # RFC 8461 section 4.1: under "enforce", an MX host the policy does not list is skipped.
                reason = f"MTA-STS: {host} is not an MX host the policy of {domain} allows"
                plan.refusals[host] = Reply(451, (reason,), "4.7.5")
                continue
            plan.requirements[host] = TlsRequirement("sts", enforce)
            plan.reporting[host] = report
