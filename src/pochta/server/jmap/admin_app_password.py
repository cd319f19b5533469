"""AppPassword/get and AppPassword/set of the admin capability, over ``pochta.admin.app_passwords``
(``pochta app-password add|list|revoke``).

An AppPassword: ``id`` ("P" + its store id), ``address`` (the account's; set at creation),
``name`` (set at creation), ``createdAt``, ``lastUsedAt`` (UTCDate or null), ``needsReissue``
(made before app passwords were found by a keyed digest: it no longer logs in). Create takes
``address`` and ``name``; ``created`` has the ``password``, shown that once and never again.
Destroy revokes it. No update."""

from __future__ import annotations

from typing import Any

from pochta.admin import accounts, app_passwords
from pochta.admin.errors import AdminError
from pochta.bootstrap import ensure_server_secret
from pochta.proto.jmap import MethodError, MethodErrorType, SetErrorType
from pochta.proto.jmap.admin import ADMIN_CAPABILITY, app_password_id
from pochta.proto.jmap.dates import format_utc_date
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
from pochta.store.model import AppPassword

__all__ = ["register_admin_app_password"]


def _object(address: str, item: AppPassword) -> dict[str, Any]:
    return {
        "id": app_password_id(item.id),
        "address": address,
        "name": item.name,
        "createdAt": format_utc_date(item.created),
        "lastUsedAt": None if item.last_used is None else format_utc_date(item.last_used),
        "needsReissue": item.lookup is None,
    }


async def _objects(context: CallContext) -> dict[str, dict[str, Any]]:
    store = admin_store(context)
    objects = {}
    for view in await accounts.list_accounts(store):
        for item in await app_passwords.list_app_passwords(store, view.address):
            objects[app_password_id(item.id)] = _object(view.address, item)
    return objects


async def _create(context: CallContext, record: dict[str, Any]) -> dict[str, Any]:
    read_only(record, ("address", "name"))
    address, name = record.get("address"), record.get("name")
    if not isinstance(address, str) or not isinstance(name, str) or not name:
        raise failure(
            SetErrorType.INVALID_PROPERTIES, "address and name are required Strings", ("address", "name")
        )
    if context.data_dir is None:
        raise MethodError(MethodErrorType.SERVER_UNAVAILABLE, "no data directory")
    try:
        made = await app_passwords.add_app_password(
            admin_store(context), ensure_server_secret(context.data_dir), address, name
        )
    except AdminError as error:
        raise admin_failure(error, ("address", "name")) from None
    shown = _object(made.address, made.app_password)
    return {**{k: v for k, v in shown.items() if k not in record or k == "id"}, "password": made.password}


async def _destroy(context: CallContext, current: dict[str, Any]) -> None:
    await app_passwords.revoke_app_password(admin_store(context), current["address"], current["name"])


APP_PASSWORD = AdminType("AppPassword", _objects, create=_create, destroy=_destroy)


async def app_password_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_get(context, arguments, APP_PASSWORD)


async def app_password_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_set(context, arguments, APP_PASSWORD)


def register_admin_app_password(registry: MethodRegistry) -> None:
    registry.register("AppPassword/get", ADMIN_CAPABILITY, app_password_get)
    registry.register("AppPassword/set", ADMIN_CAPABILITY, app_password_set)
