"""The DNS records a local domain needs (docs/dns.md), and how DNS answers for them now. The
records and the verdicts are ``pochta.dns_records``'s; this adds which domain may be named and the
lookup through the configured resolver."""

from __future__ import annotations

from collections.abc import Sequence

from pochta.admin.dkim import local_domain
from pochta.admin.errors import AdminError, AdminErrorKind
from pochta.config import Settings
from pochta.dns_records import Finding, Record, TxtLookup, check, records
from pochta.resolver import DnsResolver, LookupFailed, record_lookup
from pochta.store.api import Store

__all__ = ["check_records", "domain_records"]


async def domain_records(
    store: Store, settings: Settings, domain: str, addresses: Sequence[str] = ()
) -> list[Record]:
    """The records to publish for ``domain`` (``addresses``: the mail host's public IPs)."""
    name = await local_domain(store, domain)
    return records(name, settings, await store.dkim_keys(name), addresses)


async def check_records(
    store: Store,
    settings: Settings,
    domain: str,
    addresses: Sequence[str] = (),
    lookup: TxtLookup | None = None,
) -> list[Finding]:
    """Each record with what DNS answers for it, asked through ``lookup`` (None: the configured
    resolver, ``[queue] dns_nameservers`` or resolv.conf, uncached so a fix shows at once)."""
    wanted = await domain_records(store, settings, domain, addresses)
    asker = lookup or record_lookup(DnsResolver.from_settings(settings, cache=False))
    try:
        return await check(wanted, asker)
    except LookupFailed as error:
        raise AdminError(AdminErrorKind.UNAVAILABLE, f"DNS lookup failed: {error}") from None
