"""Unit/get and Unit/set of the admin capability, over ``pochta.admin.units`` (docs/units.md).

A Unit: ``id`` ("U" + its store id), ``name`` (set at creation), ``parent`` (the name of the
unit it is nested under; null for the root), ``accounts`` (how many belong to it directly;
server-set), ``settings`` (its own settings, key -> value in the text ``pochta unit set KEY=VALUE``
takes: "off", "900" ...; a null value in an update removes it, the unit follows its parent
again). Destroying the root, or a unit with accounts or units in it, is forbidden."""

from __future__ import annotations

from typing import Any

from pochta.admin import units
from pochta.admin.errors import AdminError
from pochta.proto.jmap import SetErrorType
from pochta.proto.jmap.admin import ADMIN_CAPABILITY, unit_id
from pochta.server.jmap.admin_common import (
    AdminType,
    admin_failure,
    admin_get,
    admin_set,
    admin_store,
    failure,
    read_only,
)
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry
from pochta.store.account_settings import format_value, parse_value
from pochta.store.model import Unit

__all__ = ["register_admin_unit"]


def _object(unit: Unit) -> dict[str, Any]:
    return {
        "id": unit_id(unit.id),
        "name": unit.name,
        "parent": unit.parent,
        "accounts": unit.accounts,
        "settings": {name: format_value(name, value) for name, value in sorted(unit.settings.items())},
    }


async def _objects(context: CallContext) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in map(_object, await units.list_units(admin_store(context)))}


def _settings(value: Any, current: dict[str, Any]) -> dict[str, object | None]:
    """The changed settings, typed; invalidProperties names a bad key or value."""
    if not isinstance(value, dict) or not all(v is None or isinstance(v, str) for v in value.values()):
        raise failure(SetErrorType.INVALID_PROPERTIES, "settings is an object of Strings", ("settings",))
    changed: dict[str, object | None] = {}
    try:
        for name, text in value.items():
            if current.get(name) != text:
                changed[name] = None if text is None else parse_value(name, text, unit=True)
        for name in set(current) - set(value):
            changed[name] = None
    except ValueError as error:
        raise failure(SetErrorType.INVALID_PROPERTIES, str(error), ("settings",)) from None
    return changed


def _parent(record: dict[str, Any]) -> str | None:
    parent = record.get("parent")
    if parent is not None and not isinstance(parent, str):
        raise failure(SetErrorType.INVALID_PROPERTIES, "parent is a unit's name", ("parent",))
    return parent


async def _create(context: CallContext, record: dict[str, Any]) -> dict[str, Any]:
    read_only(record, ("name", "parent", "settings"))
    name = record.get("name")
    if not isinstance(name, str):
        raise failure(SetErrorType.INVALID_PROPERTIES, "name is required, a String", ("name",))
    settings = _settings(record["settings"], {}) if "settings" in record else {}
    store = admin_store(context)
    try:
        created = await units.add_unit(store, name, _parent(record))
        if settings:
            created = await units.update_unit(store, created.name, settings=settings)
    except AdminError as error:
        raise admin_failure(error, ("name", "parent")) from None
    return {k: v for k, v in _object(created).items() if k not in record or k == "id"}


async def _update(context: CallContext, current: dict[str, Any], changes: dict[str, Any]) -> None:
    read_only(changes, ("parent", "settings"))
    settings = _settings(changes["settings"], current["settings"]) if "settings" in changes else {}
    parent = _parent(changes) if "parent" in changes else None
    if "parent" in changes and parent is None:
        raise failure(SetErrorType.INVALID_PROPERTIES, "a unit stays under a parent", ("parent",))
    if settings or parent is not None:
        try:
            await units.update_unit(admin_store(context), current["name"], parent=parent, settings=settings)
        except AdminError as error:
            raise admin_failure(error, ("parent", "settings")) from None


async def _destroy(context: CallContext, current: dict[str, Any]) -> None:
    await units.delete_unit(admin_store(context), current["name"])


UNIT = AdminType("Unit", _objects, _create, _update, _destroy)


async def unit_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_get(context, arguments, UNIT)


async def unit_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_set(context, arguments, UNIT)


def register_admin_unit(registry: MethodRegistry) -> None:
    registry.register("Unit/get", ADMIN_CAPABILITY, unit_get)
    registry.register("Unit/set", ADMIN_CAPABILITY, unit_set)
