"""DKIM keys of the local domains (docs/deliverability.md "DKIM"): list, rotate (new pending
keys), activate (once DNS publishes them), retire (a key that no longer signs). The rules of
keys and rotation are ``pochta.queue.dkim_keys``'s; this adds which domain and key may be named."""

from __future__ import annotations

from pochta.admin.errors import AdminError, AdminErrorKind, store_errors
from pochta.config import Settings
from pochta.naming import normalize_domain
from pochta.queue import dkim_keys
from pochta.queue.dkim_keys import Lookup
from pochta.store.api import Store
from pochta.store.dkim_model import DkimKey, KeyState

__all__ = ["activate", "list_keys", "local_domain", "retire", "rotate"]


async def local_domain(store: Store, name: str) -> str:
    """``name`` normalised, if it is one of this server's domains."""
    with store_errors():
        domain = normalize_domain(name)
    if await store.get_domain(domain) is None:
        raise AdminError(AdminErrorKind.NOT_FOUND, f"no such domain: {domain}")
    return domain


async def list_keys(store: Store, domain: str | None = None) -> list[DkimKey]:
    """The keys of ``domain`` (None: of every domain)."""
    return await store.dkim_keys(await local_domain(store, domain) if domain else None)


async def rotate(store: Store, settings: Settings, domain: str) -> list[DkimKey]:
    """New pending keys (one of each configured kind), to publish, then activate."""
    return await dkim_keys.rotate(store, await local_domain(store, domain), settings.dkim)


async def activate(store: Store, domain: str, lookup: Lookup | None) -> tuple[list[DkimKey], list[DkimKey]]:
    """(activated, missing): the pending keys sign once ``lookup`` finds each record (None: without
    looking); nothing changes while one is missing. No pending key at all is an error."""
    name = await local_domain(store, domain)
    activated, missing = await dkim_keys.activate(store, name, lookup)
    if not activated and not missing:
        raise AdminError(
            AdminErrorKind.INVALID, f"{name} has no pending key: `pochta dkim rotate {name}` makes them"
        )
    return activated, missing


async def retire(store: Store, domain: str, selector: str) -> DkimKey:
    """Forgets a key that no longer signs (an active one stays: rotate and activate first)."""
    name = await local_domain(store, domain)
    found = {key.selector: key for key in await store.dkim_keys(name)}.get(selector)
    if found is None:
        raise AdminError(AdminErrorKind.NOT_FOUND, f"no key {selector} of {name}")
    if found.state is KeyState.ACTIVE:
        raise AdminError(
            AdminErrorKind.CONFLICT, f"{selector} signs mail of {name}: rotate and activate new keys first"
        )
    await store.delete_dkim_key(name, selector)
    return found
