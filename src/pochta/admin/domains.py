"""Mail domains: list, add (with its first DKIM keys), switch protocols, delete."""

from __future__ import annotations

from dataclasses import dataclass

from pochta.admin.errors import AdminError, AdminErrorKind, store_errors
from pochta.config import Settings
from pochta.naming import normalize_domain
from pochta.queue import dkim_keys
from pochta.store.api import Store
from pochta.store.model import SWITCHABLE_PROTOCOLS, Domain, ProtocolSwitches

__all__ = [
    "DomainAdded",
    "DomainView",
    "add_domain",
    "delete_domain",
    "get_domain",
    "list_domains",
    "set_domain_protocols",
    "switched",
]


@dataclass(frozen=True)
class DomainView:
    domain: Domain
    accounts: int  # user accounts (not a domain's hidden owner of public mailboxes)

    @property
    def name(self) -> str:
        return self.domain.name


@dataclass(frozen=True)
class DomainAdded:
    domain: Domain
    dkim_records: tuple[str, ...]  # the DNS names of its first DKIM keys, to publish


def switched(current: ProtocolSwitches, changes: dict[str, bool | None]) -> ProtocolSwitches:
    """``current`` with the protocols of ``changes`` (name -> on/off; None: unchanged) switched."""
    unknown = set(changes) - set(SWITCHABLE_PROTOCOLS)
    if unknown:
        raise AdminError(AdminErrorKind.INVALID, f"no such protocol switch: {', '.join(sorted(unknown))}")

    def value(protocol: str, now: bool) -> bool:
        wanted = changes.get(protocol)
        return now if wanted is None else wanted

    return ProtocolSwitches(
        imap=value("imap", current.imap),
        pop3=value("pop3", current.pop3),
        submission=value("submission", current.submission),
    )


async def _view(store: Store, domain: Domain) -> DomainView:
    accounts = [a for a in await store.list_accounts(domain.name) if a.is_user]
    return DomainView(domain, len(accounts))


async def list_domains(store: Store) -> list[DomainView]:
    return [await _view(store, item) for item in await store.list_domains()]


async def get_domain(store: Store, name: str) -> DomainView:
    with store_errors():
        found = await store.get_domain(normalize_domain(name))
    if found is None:
        raise AdminError(AdminErrorKind.NOT_FOUND, f"no such domain: {name}")
    return await _view(store, found)


async def add_domain(store: Store, settings: Settings, name: str) -> DomainAdded:
    """A new local domain with its DKIM keys (``pochta dkim list NAME --records`` prints them)."""
    with store_errors():
        created = await store.add_domain(normalize_domain(name))
        keys = await dkim_keys.first_keys(store, created.name, settings.dkim)
    return DomainAdded(created, tuple(dkim_keys.dns_name(key) for key in keys))


async def delete_domain(store: Store, name: str) -> str:
    """Deletes a domain that has no accounts or aliases left (the store refuses otherwise)."""
    with store_errors():
        normalized = normalize_domain(name)
        await store.delete_domain(normalized)
    return normalized


async def set_domain_protocols(store: Store, name: str, changes: dict[str, bool | None]) -> Domain:
    """Switches protocols on or off for every account of the domain."""
    current = (await get_domain(store, name)).domain
    with store_errors():
        return await store.set_domain_protocols(current.name, switched(current.protocols, changes))
