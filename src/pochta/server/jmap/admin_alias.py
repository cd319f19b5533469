"""Alias/get and Alias/set of the admin capability, over ``pochta.admin.aliases``.

An Alias: ``id`` ("L" + its source address in base64url: ``proto.jmap.admin.alias_id``),
``source`` ("local@domain", or "@domain" for a catch-all; set at creation only), ``targets``
(addresses). A create with ``force: true`` accepts a local target nothing receives yet (as
``pochta alias add --force``); without it such a target is invalidProperties. An update of
``targets`` replaces the list: the targets left out are removed, the new ones added (checked the
same way)."""

from __future__ import annotations

from typing import Any

from pochta.admin import aliases
from pochta.admin.errors import AdminError
from pochta.proto.jmap import SetErrorType
from pochta.proto.jmap.admin import ADMIN_CAPABILITY, alias_id
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
from pochta.store.model import Alias

__all__ = ["register_admin_alias"]


def _object(alias: Alias) -> dict[str, Any]:
    return {"id": alias_id(alias.source), "source": alias.source, "targets": list(alias.targets)}


async def _objects(context: CallContext) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in map(_object, await aliases.list_aliases(admin_store(context)))}


def _targets(record: dict[str, Any]) -> list[str]:
    value = record.get("targets")
    if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
        raise failure(
            SetErrorType.INVALID_PROPERTIES, "targets is a non-empty list of addresses", ("targets",)
        )
    return value


async def _create(context: CallContext, record: dict[str, Any]) -> dict[str, Any]:
    read_only(record, ("source", "targets", "force"))
    source = record.get("source")
    if not isinstance(source, str):
        raise failure(SetErrorType.INVALID_PROPERTIES, "source is required, a String", ("source",))
    force = record.get("force", False)
    if not isinstance(force, bool):
        raise failure(SetErrorType.INVALID_PROPERTIES, "force is a Boolean", ("force",))
    targets = _targets(record)
    try:
        created = await aliases.add_alias(
            admin_store(context), context.settings, source, targets, force=force
        )
    except AdminError as error:
        raise admin_failure(error, ("source", "targets")) from None
    # The targets as stored: an existing alias's are kept, these added (RFC 8620 section 5.3: what
    # the server changed is returned).
    return {"id": alias_id(created.source), "source": created.source, "targets": list(created.targets)}


async def _update(context: CallContext, current: dict[str, Any], changes: dict[str, Any]) -> None:
    read_only(changes, ("targets",))
    if "targets" not in changes:
        return
    store = admin_store(context)
    wanted = _targets(changes)
    try:
        added = [t for t in wanted if t not in current["targets"]]
        if added:
            await aliases.add_alias(store, context.settings, current["source"], added)
        removed = [t for t in current["targets"] if t not in wanted]
        if removed:
            await aliases.delete_alias(store, current["source"], removed)
    except AdminError as error:
        raise admin_failure(error, ("targets",)) from None


async def _destroy(context: CallContext, current: dict[str, Any]) -> None:
    await aliases.delete_alias(admin_store(context), current["source"])


ALIAS = AdminType("Alias", _objects, _create, _update, _destroy)


async def alias_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_get(context, arguments, ALIAS)


async def alias_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_set(context, arguments, ALIAS)


def register_admin_alias(registry: MethodRegistry) -> None:
    registry.register("Alias/get", ADMIN_CAPABILITY, alias_get)
    registry.register("Alias/set", ADMIN_CAPABILITY, alias_set)
