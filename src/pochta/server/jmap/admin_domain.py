"""Domain/get and Domain/set of the admin capability, over ``pochta.admin.domains``.

A Domain: ``id`` ("D" + its store id), ``name`` (IDNA A-labels, lower case; set at creation
only), ``accounts`` (its user accounts, server-set), ``protocols`` ({"imap", "pop3",
"submission"} -> on/off for every account of the domain), and, in the created response only,
``dkimRecords`` (the DNS names of its first DKIM keys, to publish). Destroy refuses a domain
that still has accounts or aliases (forbidden, as ``pochta domain del``)."""

from __future__ import annotations

from typing import Any

from pochta.admin import domains
from pochta.admin.errors import AdminError
from pochta.proto.jmap import SetErrorType
from pochta.proto.jmap.admin import ADMIN_CAPABILITY, domain_id
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
from pochta.store.model import SWITCHABLE_PROTOCOLS, ProtocolSwitches

__all__ = ["register_admin_domain"]


def switches_object(switches: ProtocolSwitches) -> dict[str, bool]:
    return {p: switches.allows(p) for p in SWITCHABLE_PROTOCOLS}


def protocol_changes(value: Any) -> dict[str, bool | None]:
    """A ``protocols`` value as the admin layer takes it; invalidProperties when it is not an
    object of known switches to Booleans."""
    if not isinstance(value, dict) or not all(
        p in SWITCHABLE_PROTOCOLS and isinstance(v, bool) for p, v in value.items()
    ):
        raise failure(
            SetErrorType.INVALID_PROPERTIES,
            f"protocols is an object of {', '.join(SWITCHABLE_PROTOCOLS)} to Booleans",
            ("protocols",),
        )
    return dict(value)


def _object(view: domains.DomainView) -> dict[str, Any]:
    return {
        "id": domain_id(view.domain.id),
        "name": view.name,
        "accounts": view.accounts,
        "protocols": switches_object(view.domain.protocols),
    }


async def _objects(context: CallContext) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in map(_object, await domains.list_domains(admin_store(context)))}


async def _create(context: CallContext, record: dict[str, Any]) -> dict[str, Any]:
    read_only(record, ("name", "protocols"))
    name = record.get("name")
    if not isinstance(name, str):
        raise failure(SetErrorType.INVALID_PROPERTIES, "name is required, a String", ("name",))
    changes = protocol_changes(record["protocols"]) if "protocols" in record else {}
    store = admin_store(context)
    try:
        added = await domains.add_domain(store, context.settings, name)
    except AdminError as error:
        raise admin_failure(error, ("name",)) from None
    switches = added.domain.protocols
    if changes:
        switches = (await domains.set_domain_protocols(store, added.domain.name, changes)).protocols
    # RFC 8620 section 5.3: the id and every property the server set or changed.
    return {
        "id": domain_id(added.domain.id),
        "name": added.domain.name,
        "accounts": 0,
        "protocols": switches_object(switches),
        "dkimRecords": list(added.dkim_records),
    }


async def _update(context: CallContext, current: dict[str, Any], changes: dict[str, Any]) -> None:
    read_only(changes, ("protocols",))
    if "protocols" in changes:
        await domains.set_domain_protocols(
            admin_store(context), current["name"], protocol_changes(changes["protocols"])
        )


async def _destroy(context: CallContext, current: dict[str, Any]) -> None:
    await domains.delete_domain(admin_store(context), current["name"])


DOMAIN = AdminType("Domain", _objects, _create, _update, _destroy)


async def domain_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_get(context, arguments, DOMAIN)


async def domain_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_set(context, arguments, DOMAIN)


def register_admin_domain(registry: MethodRegistry) -> None:
    registry.register("Domain/get", ADMIN_CAPABILITY, domain_get)
    registry.register("Domain/set", ADMIN_CAPABILITY, domain_set)
