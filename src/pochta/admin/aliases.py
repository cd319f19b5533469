"""Aliases (``@domain``: a catch-all): list, add targets (refusing a local target nothing
receives, unless forced), delete some targets or the whole alias."""

from __future__ import annotations

from collections.abc import Sequence

from pochta.admin.errors import AdminError, AdminErrorKind, store_errors
from pochta.config import Settings
from pochta.naming import normalize_address, normalize_domain
from pochta.store.api import Store
from pochta.store.model import Alias

__all__ = ["add_alias", "delete_alias", "get_alias", "list_aliases", "normalize_source"]


def normalize_source(source: str) -> str:
    with store_errors():
        return normalize_address(source, allow_catch_all=True)


async def list_aliases(store: Store, domain: str | None = None) -> list[Alias]:
    with store_errors():
        return await store.list_aliases(normalize_domain(domain) if domain else None)


async def get_alias(store: Store, source: str) -> Alias:
    normalized = normalize_source(source)
    with store_errors():
        found = await store.get_alias(normalized)
    if found is None:
        raise AdminError(AdminErrorKind.NOT_FOUND, f"no such alias: {normalized}")
    return found


async def _refuse_unknown_local_targets(store: Store, settings: Settings, targets: list[str]) -> None:
    """Delivery's own resolver decides: a local target it cannot resolve would bounce every message."""
    from pochta.delivery import Resolver
    from pochta.mime.address import SmtpPath

    resolver = Resolver(store, settings.smtp, settings.hostname)
    unknown = []
    for target in targets:
        local, _, domain = target.rpartition("@")
        if (await resolver.resolve(SmtpPath(local, domain))).kind == "unknown":
            unknown.append(target)
    if unknown:
        raise AdminError(
            AdminErrorKind.INVALID,
            f"{', '.join(unknown)}: no account, alias or catch-all receives mail for "
            f"{'this address' if len(unknown) == 1 else 'these addresses'} here, so mail to the alias "
            "would bounce; add the account first, or use --force to add the alias anyway",
        )


async def add_alias(
    store: Store, settings: Settings, source: str, targets: Sequence[str], *, force: bool = False
) -> Alias:
    """Adds an alias (or more targets to an existing one). A target in one of this server's
    domains must receive mail (an enabled account, an alias or a catch-all), else nothing is
    changed, unless ``force``. Targets in other domains are forwarded."""
    normalized = normalize_source(source)
    if not targets:
        raise AdminError(AdminErrorKind.INVALID, "an alias needs at least one target")
    with store_errors():
        addresses = [normalize_address(t) for t in targets]
    if not force:
        await _refuse_unknown_local_targets(store, settings, addresses)
    with store_errors():
        return await store.add_alias(normalized, addresses)


async def delete_alias(store: Store, source: str, targets: Sequence[str] | None = None) -> str:
    """Deletes the alias, or only ``targets`` of it; the source, normalised."""
    normalized = normalize_source(source)
    with store_errors():
        await store.delete_alias(normalized, [normalize_address(t) for t in targets] if targets else None)
    return normalized
