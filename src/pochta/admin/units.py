"""Organisational units (docs/units.md): list, add, change settings or parent, delete. The keys,
their types and which a unit may hold are the settings store's (``store.account_settings``)."""

from __future__ import annotations

from collections.abc import Mapping

from pochta.admin.errors import AdminError, AdminErrorKind, store_errors
from pochta.store.api import Store
from pochta.store.model import Unit

__all__ = ["add_unit", "delete_unit", "get_unit", "list_units", "update_unit"]


async def list_units(store: Store) -> list[Unit]:
    """Every unit, the root first and each unit's children after it, siblings by name."""
    return await store.list_units()


async def get_unit(store: Store, name: str) -> Unit:
    found = await store.get_unit(name)
    if found is None:
        raise AdminError(AdminErrorKind.NOT_FOUND, f"no unit {name}")
    return found


async def add_unit(store: Store, name: str, parent: str | None = None) -> Unit:
    with store_errors():
        try:
            return await store.add_unit(name, parent)
        except ValueError as error:
            raise AdminError(AdminErrorKind.INVALID, str(error)) from None


async def update_unit(
    store: Store, name: str, *, parent: str | None = None, settings: Mapping[str, object | None] | None = None
) -> Unit:
    """Moves the unit under ``parent`` and sets (None: removes) its own ``settings``."""
    if not settings and parent is None:
        raise AdminError(AdminErrorKind.INVALID, "nothing to set: give KEY=VALUE, --unset KEY or --parent")
    current = await get_unit(store, name)
    with store_errors():
        if parent is not None:
            current = await store.set_unit_parent(name, parent)
        if settings:
            try:
                current = await store.set_unit_settings(name, settings)
            except ValueError as error:
                raise AdminError(AdminErrorKind.INVALID, str(error)) from None
    return current


async def delete_unit(store: Store, name: str) -> None:
    """Deletes a unit with no accounts and no units under it (the root stays)."""
    with store_errors():
        await store.delete_unit(name)
