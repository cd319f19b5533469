"""What every method of the admin capability shares: who may call them, the standard /get and
/set over a type's objects (built from ``pochta.admin``'s data), and how the admin layer's errors
read as SetErrors.

A type is an ``AdminType``: how to list its objects (id -> JMAP object), and its create, update
and destroy, each raising ``SetFailure`` (or ``AdminError``, mapped here) for one record. Admin
objects have no change records: a type's state is a digest of all its objects
(``proto.jmap.admin.list_state``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar

from pochta.admin.errors import AdminError, AdminErrorKind
from pochta.proto.jmap import (
    MethodError,
    MethodErrorType,
    SetError,
    SetErrorType,
    SetFailure,
    apply_patch,
)
from pochta.proto.jmap.admin import list_state
from pochta.proto.jmap.standard import (
    Filter,
    FilterOperator,
    parse_get,
    parse_query,
    parse_set,
    query_window,
    require_state,
)
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.principal import JmapAccount
from pochta.store.api import Store

__all__ = [
    "AdminType",
    "admin_account",
    "admin_failure",
    "admin_get",
    "admin_query",
    "admin_set",
    "admin_store",
    "failure",
    "read_only",
    "require_admin",
]

Objects = dict[str, dict[str, Any]]
T = TypeVar("T")


def require_admin(context: CallContext) -> None:
    """Refuses a principal without the admin role, before its arguments are even read. RFC 8620
    section 3.6.2: "forbidden" is a call whose "method and arguments are valid, but executing the
    method would violate ... [a] permissions policy": the method exists (unknownMethod would say the
    server does not know it), only this principal may not use it; checked first, the answer is the
    same whatever the arguments, so it tells nothing of the server's domains or accounts."""
    if not context.principal.account.admin:
        raise MethodError(MethodErrorType.FORBIDDEN, "only an account with the admin role may call this")


def admin_account(context: CallContext, account_id: str) -> JmapAccount:
    """The account named by ``account_id`` (the administrator's own: the one whose capabilities
    list the admin capability)."""
    require_admin(context)
    return context.account(account_id)


def admin_store(context: CallContext) -> Store:
    if context.store is None:
        raise MethodError(MethodErrorType.SERVER_UNAVAILABLE, "no store")
    return context.store


def failure(kind: SetErrorType, description: str, properties: tuple[str, ...] = ()) -> SetFailure:
    return SetFailure(SetError(kind, description, properties))


_KINDS = {
    AdminErrorKind.NOT_FOUND: SetErrorType.NOT_FOUND,
    AdminErrorKind.ALREADY_EXISTS: SetErrorType.ALREADY_EXISTS,
    AdminErrorKind.INVALID: SetErrorType.INVALID_PROPERTIES,
    # A domain that still has accounts ...: RFC 8620 section 5.3 has no closer type.
    AdminErrorKind.CONFLICT: SetErrorType.FORBIDDEN,
    AdminErrorKind.UNAVAILABLE: SetErrorType.FORBIDDEN,
}


def admin_failure(error: AdminError, properties: tuple[str, ...] = ()) -> SetFailure:
    kind = _KINDS[error.kind]
    return failure(kind, error.message, properties if kind is SetErrorType.INVALID_PROPERTIES else ())


def read_only(changed: Collection[str], writable: Collection[str]) -> None:
    """RFC 8620 section 5.3: a property the server sets, given by the client, is invalid."""
    bad = tuple(sorted(set(changed) - set(writable)))
    if bad:
        raise failure(SetErrorType.INVALID_PROPERTIES, "these properties cannot be set", bad)


def changed_properties(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The top-level properties a patch changed, with their new values."""
    return {k: after.get(k) for k in set(before) | set(after) if before.get(k) != after.get(k)}


Create = Callable[[CallContext, dict[str, Any]], Awaitable[dict[str, Any]]]
Update = Callable[[CallContext, dict[str, Any], dict[str, Any]], Awaitable[None]]
Destroy = Callable[[CallContext, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class AdminType:
    name: str
    objects: Callable[[CallContext], Awaitable[Objects]]
    create: Create | None = None  # None: the type cannot be created (forbidden)
    update: Update | None = None  # takes the current object and the changed properties
    destroy: Destroy | None = None


async def admin_get(context: CallContext, arguments: dict[str, Any], kind: AdminType) -> dict[str, Any]:
    """RFC 8620 section 5.1 over all objects of ``kind``."""
    require_admin(context)
    args = parse_get(arguments, max_objects=context.settings.jmap.max_objects_in_get)
    account = admin_account(context, args.account_id)
    objects = await kind.objects(context)
    wanted = (
        list(objects)
        if args.ids is None
        else [i for given in args.ids if (i := context.resolve_id(given) or given) is not None]
    )
    found: list[dict[str, Any]] = []
    not_found: list[str] = []
    for object_id in dict.fromkeys(wanted):
        item = objects.get(object_id)
        if item is None:
            not_found.append(object_id)
            continue
        # RFC 8620 section 5.1: the id is always returned.
        found.append(
            item
            if args.properties is None
            else {k: v for k, v in item.items() if k in args.properties or k == "id"}
        )
    return {
        "accountId": account.id,
        "state": list_state(objects.values()),
        "list": found,
        "notFound": not_found,
    }


async def admin_set(context: CallContext, arguments: dict[str, Any], kind: AdminType) -> dict[str, Any]:
    """RFC 8620 section 5.3 over ``kind``: creates, then updates, then destroys, each record on
    its own (a failure is that record's SetError, the others go on)."""
    require_admin(context)
    args = parse_set(arguments, max_objects=context.settings.jmap.max_objects_in_set)
    account = admin_account(context, args.account_id)
    objects = await kind.objects(context)
    old_state = list_state(objects.values())
    require_state(args.if_in_state, old_state)
    created: dict[str, Any] = {}
    not_created: dict[str, Any] = {}
    for creation_id, record in args.create.items():
        try:
            if kind.create is None:
                raise failure(SetErrorType.FORBIDDEN, f"a {kind.name} cannot be created")
            created[creation_id] = await _guarded(kind.create(context, record))
            context.created(creation_id, created[creation_id]["id"])
        except SetFailure as error:
            not_created[creation_id] = error.error.to_json()
    if created:
        objects = await kind.objects(context)
    destroying = {context.resolve_id(given) or given for given in args.destroy}
    updated: dict[str, Any] = {}
    not_updated: dict[str, Any] = {}
    for given, patch in args.update.items():
        object_id = context.resolve_id(given) or given
        try:
            current = objects.get(object_id)
            if current is None:
                raise failure(SetErrorType.NOT_FOUND, f"no such {kind.name}")
            if object_id in destroying:
                raise failure(SetErrorType.WILL_DESTROY, f"the {kind.name} is destroyed in this call")
            if kind.update is None:
                raise failure(SetErrorType.FORBIDDEN, f"a {kind.name} cannot be updated")
            changes = changed_properties(current, apply_patch(current, patch))
            await _guarded(kind.update(context, current, changes))
            updated[object_id] = None
        except SetFailure as error:
            not_updated[object_id] = error.error.to_json()
    if updated:
        objects = await kind.objects(context)
    destroyed: list[str] = []
    not_destroyed: dict[str, Any] = {}
    for object_id in dict.fromkeys(destroying):
        try:
            current = objects.get(object_id)
            if current is None:
                raise failure(SetErrorType.NOT_FOUND, f"no such {kind.name}")
            if kind.destroy is None:
                raise failure(SetErrorType.FORBIDDEN, f"a {kind.name} cannot be destroyed")
            await _guarded(kind.destroy(context, current))
            destroyed.append(object_id)
        except SetFailure as error:
            not_destroyed[object_id] = error.error.to_json()
    new_state = list_state((await kind.objects(context)).values())
    return {
        "accountId": account.id,
        "oldState": old_state,
        "newState": new_state,
        "created": created or None,
        "updated": updated or None,
        "destroyed": destroyed or None,
        "notCreated": not_created or None,
        "notUpdated": not_updated or None,
        "notDestroyed": not_destroyed or None,
    }


async def _guarded(work: Awaitable[T]) -> T:
    try:
        return await work
    except AdminError as error:
        raise admin_failure(error) from None


# A FilterCondition property -> whether an object matches the condition's value.
Condition = Callable[[dict[str, Any], Any], bool]


def _matches(item: dict[str, Any], given: Filter, conditions: dict[str, Condition]) -> bool:
    if isinstance(given, FilterOperator):
        results = [_matches(item, sub, conditions) for sub in given.conditions]
        if given.operator == "AND":
            return all(results)
        if given.operator == "OR":
            return any(results)
        return not any(results)  # RFC 8620 section 5.5: NOT is none of its conditions
    unknown = set(given.properties) - set(conditions)
    if unknown:
        raise MethodError(MethodErrorType.UNSUPPORTED_FILTER, f"no filter on {', '.join(sorted(unknown))}")
    return all(conditions[name](item, value) for name, value in given.properties.items())


async def admin_query(
    context: CallContext,
    arguments: dict[str, Any],
    kind: AdminType,
    *,
    conditions: dict[str, Condition],
    sortable: Collection[str],
) -> dict[str, Any]:
    """RFC 8620 section 5.5 over all objects of ``kind``: ``conditions`` are the FilterCondition
    properties it knows, ``sortable`` the properties it sorts by (their values compared as they
    are, nulls first). Without a sort the order is the listing's."""
    require_admin(context)
    args = parse_query(arguments)
    account = admin_account(context, args.account_id)
    objects = await kind.objects(context)
    items = list(objects.values())
    if args.filter is not None:
        items = [item for item in items if _matches(item, args.filter, conditions)]
    for comparator in reversed(args.sort or ()):
        if comparator.property not in sortable or comparator.collation is not None:
            raise MethodError(MethodErrorType.UNSUPPORTED_SORT, f"cannot sort by {comparator.property}")
        name = comparator.property
        items.sort(
            key=lambda o: (o.get(name) is not None, o.get(name) or 0), reverse=not comparator.is_ascending
        )
    window = query_window(args, [item["id"] for item in items])
    response: dict[str, Any] = {
        "accountId": account.id,
        "queryState": list_state(objects.values()),
        "canCalculateChanges": False,  # no /queryChanges: the state is a digest (list_state)
        "position": window.position,
        "ids": list(window.ids),
    }
    if args.calculate_total:
        response["total"] = len(items)
    if window.limit is not None:
        response["limit"] = window.limit
    return response
