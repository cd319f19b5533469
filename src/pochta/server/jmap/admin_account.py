"""Account/get, Account/set and Account/query of the admin capability, over
``pochta.admin.accounts``.

An Account: ``id`` (its JMAP account id, "A" + store id), ``address`` (set at creation only),
``quotaBytes`` and ``quotaMessages`` (the account's own limits, null: none of its own),
``usedBytes`` and ``usedMessages`` (server-set), ``unit`` (its organisational unit), ``protocols``
({"imap", "pop3", "submission"} -> on/off, effective: the account's own switch, else its unit's; a
change sets the account's own), ``isAdmin``, ``isDisabled``. Account/query lists them page by page
(a server has many). ``password`` is write-only: given at creation or in an update it sets the
password; a creation without one gets a generated password in its created response, shown that
once; /get never returns it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pochta.admin import accounts
from pochta.admin.errors import AdminError
from pochta.proto.jmap import MethodError, MethodErrorType, SetErrorType, account_id, is_unsigned_int
from pochta.proto.jmap.admin import ADMIN_CAPABILITY
from pochta.server.jmap.admin_common import (
    AdminType,
    admin_failure,
    admin_get,
    admin_query,
    admin_set,
    admin_store,
    failure,
    read_only,
)
from pochta.server.jmap.admin_domain import protocol_changes
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry
from pochta.store.api import UNSET

__all__ = ["register_admin_account"]

_WRITABLE = ("quotaBytes", "quotaMessages", "unit", "protocols", "isAdmin", "isDisabled", "password")


def _object(view: accounts.AccountView) -> dict[str, Any]:
    account = view.account
    return {
        "id": account_id(account.id),
        "address": account.address,
        "quotaBytes": account.quota_bytes,
        "quotaMessages": account.quota_messages,
        "usedBytes": view.used.bytes,
        "usedMessages": view.used.messages,
        "unit": account.settings.unit,
        "protocols": view.protocols,
        "isAdmin": account.admin,
        "isDisabled": not account.enabled,
    }


async def _objects(context: CallContext) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in map(_object, await accounts.list_accounts(admin_store(context)))}


def _limit(record: dict[str, Any], name: str) -> Any:
    if name not in record:
        return UNSET
    value = record[name]
    if value is not None and not is_unsigned_int(value):
        raise failure(SetErrorType.INVALID_PROPERTIES, f"{name} is an UnsignedInt or null", (name,))
    return value


def _flag(record: dict[str, Any], name: str) -> bool | None:
    value = record.get(name)
    if name in record and not isinstance(value, bool):
        raise failure(SetErrorType.INVALID_PROPERTIES, f"{name} is a Boolean", (name,))
    return value


def _password(record: dict[str, Any]) -> str | None:
    value = record.get("password")
    if "password" in record and not (isinstance(value, str) and value):
        raise failure(SetErrorType.INVALID_PROPERTIES, "password is a non-empty String", ("password",))
    return value


def _changes(record: dict[str, Any], current_protocols: dict[str, bool]) -> accounts.AccountChanges:
    unit = record.get("unit")
    if "unit" in record and not isinstance(unit, str):
        raise failure(SetErrorType.INVALID_PROPERTIES, "unit is a String", ("unit",))
    wanted = protocol_changes(record["protocols"]) if "protocols" in record else {}
    admin, disabled = _flag(record, "isAdmin"), _flag(record, "isDisabled")
    return accounts.AccountChanges(
        quota_bytes=_limit(record, "quotaBytes"),
        quota_messages=_limit(record, "quotaMessages"),
        admin=UNSET if admin is None else admin,
        enabled=UNSET if disabled is None else not disabled,
        unit=unit,
        # Only the switches that change become the account's own (the others may follow its unit).
        protocols={p: v for p, v in wanted.items() if current_protocols.get(p) != v},
    )


async def _create(context: CallContext, record: dict[str, Any]) -> dict[str, Any]:
    read_only(record, ("address", *_WRITABLE))
    address = record.get("address")
    if not isinstance(address, str):
        raise failure(SetErrorType.INVALID_PROPERTIES, "address is required, a String", ("address",))
    password = _password(record)
    changes = _changes(record, {})
    store = admin_store(context)
    try:
        added = await accounts.add_account(store, address, password)
        await accounts.update_account(store, added.account.address, changes)
        view = await accounts.get_account(store, added.account.address)
    except AdminError as error:
        raise admin_failure(error, ("address",)) from None
    shown = {k: v for k, v in _object(view).items() if k not in record or k == "id"}
    if added.generated is not None:
        shown["password"] = added.generated  # the only time it is shown
    return shown


async def _update(context: CallContext, current: dict[str, Any], changes: dict[str, Any]) -> None:
    read_only(changes, _WRITABLE)
    store = admin_store(context)
    if "password" in changes:
        await accounts.set_password(store, current["address"], _password(changes))
    await accounts.update_account(store, current["address"], _changes(changes, current["protocols"]))


async def _destroy(context: CallContext, current: dict[str, Any]) -> None:
    if current["id"] == context.principal.own_id:
        raise failure(SetErrorType.FORBIDDEN, "an administrator cannot destroy its own account")
    await accounts.delete_account(admin_store(context), current["address"])


ACCOUNT = AdminType("Account", _objects, _create, _update, _destroy)


def _text(name: str) -> Callable[[dict[str, Any], Any], bool]:
    def matches(item: dict[str, Any], value: Any) -> bool:
        if not isinstance(value, str):
            raise MethodError(MethodErrorType.INVALID_ARGUMENTS, f"{name} is a String")
        return value.lower() in str(item[name] or "").lower()

    return matches


def _equal(name: str, kind: type) -> Callable[[dict[str, Any], Any], bool]:
    def matches(item: dict[str, Any], value: Any) -> bool:
        if not isinstance(value, kind):
            raise MethodError(MethodErrorType.INVALID_ARGUMENTS, f"{name} is a {kind.__name__}")
        return bool(item[name] == value)

    return matches


def _in_domain(item: dict[str, Any], value: Any) -> bool:
    if not isinstance(value, str):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, "domain is a String")
    return str(item["address"]).rpartition("@")[2].lower() == value.lower()


async def account_query(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """Filters: ``address`` (substring, any case), ``domain``, ``unit``, ``isAdmin``,
    ``isDisabled``; sorts: ``address``, ``usedBytes``, ``usedMessages``."""
    return await admin_query(
        context,
        arguments,
        ACCOUNT,
        conditions={
            "address": _text("address"),
            "domain": _in_domain,
            "unit": _equal("unit", str),
            "isAdmin": _equal("isAdmin", bool),
            "isDisabled": _equal("isDisabled", bool),
        },
        sortable=("address", "usedBytes", "usedMessages"),
    )


async def account_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_get(context, arguments, ACCOUNT)


async def account_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_set(context, arguments, ACCOUNT)


def register_admin_account(registry: MethodRegistry) -> None:
    registry.register("Account/get", ADMIN_CAPABILITY, account_get)
    registry.register("Account/set", ADMIN_CAPABILITY, account_set)
    registry.register("Account/query", ADMIN_CAPABILITY, account_query)
