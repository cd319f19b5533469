"""QueueMessage/get, /query, /set (destroy only) and QueueMessage/retry of the admin capability,
over ``pochta.admin.queue``: the outbound queue as ``pochta queue`` shows it.

A QueueMessage: ``id`` ("Q" + the queue id the SMTP reply gave: "queued as ..."), ``origin``,
``sender`` ("" for the null sender), ``arrivedAt``, ``nextAttemptAt`` (UTCDate), ``size``,
``deliveringBy`` (the worker holding its lease, or null), ``recipients`` (each: ``address``,
``status`` pending/delivered/failed, ``attempts``, ``lastAttemptAt``, ``lastReply``,
``remoteMta``). All server-set: /set creates and updates nothing (forbidden); its destroy removes
the message without delivering it and without telling the sender (``pochta queue delete``).

``QueueMessage/retry`` (a vendor method, as ``pochta queue retry``): arguments ``accountId`` and
``ids`` (null: every queued message); answers ``accountId``, ``retried`` (ids made due now) and
``notFound``. A running server's worker takes them within ``[queue] poll_interval``."""

from __future__ import annotations

from typing import Any

from pochta.admin import queue
from pochta.admin.errors import AdminError
from pochta.proto.jmap import MethodError, MethodErrorType
from pochta.proto.jmap.admin import ADMIN_CAPABILITY, parse_queue_message_id, queue_message_id
from pochta.proto.jmap.arguments import ArgumentReader
from pochta.proto.jmap.dates import format_utc_date
from pochta.server.jmap.admin_common import (
    AdminType,
    admin_account,
    admin_get,
    admin_query,
    admin_set,
    admin_store,
    require_admin,
)
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry
from pochta.store.queue_model import QueueEntry

__all__ = ["register_admin_queue"]


def _object(entry: QueueEntry) -> dict[str, Any]:
    return {
        "id": queue_message_id(entry.id),
        "origin": entry.origin,
        "sender": entry.sender,
        "arrivedAt": format_utc_date(entry.arrival),
        "nextAttemptAt": format_utc_date(entry.next_attempt),
        "size": entry.blob.size,
        "deliveringBy": entry.lease_owner,
        "recipients": [
            {
                "address": r.address,
                "status": r.status,
                "attempts": r.attempts,
                "lastAttemptAt": None if r.last_attempt is None else format_utc_date(r.last_attempt),
                "lastReply": r.last_reply,
                "remoteMta": r.remote_mta,
            }
            for r in entry.recipients
        ],
    }


async def _objects(context: CallContext) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in map(_object, await queue.list_entries(admin_store(context)))}


async def _destroy(context: CallContext, current: dict[str, Any]) -> None:
    entry_id = parse_queue_message_id(current["id"])
    assert entry_id is not None  # the id of a listed message
    await queue.delete_entry(admin_store(context), entry_id)


QUEUE_MESSAGE = AdminType("QueueMessage", _objects, destroy=_destroy)


def _has_recipient(item: dict[str, Any], value: Any) -> bool:
    if not isinstance(value, str):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, "recipient is a String")
    return any(value.lower() in r["address"].lower() for r in item["recipients"])


def _sender(item: dict[str, Any], value: Any) -> bool:
    if not isinstance(value, str):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, "sender is a String")
    return value.lower() in item["sender"].lower()


async def queue_message_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_get(context, arguments, QUEUE_MESSAGE)


async def queue_message_query(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_query(
        context,
        arguments,
        QUEUE_MESSAGE,
        conditions={"sender": _sender, "recipient": _has_recipient},
        sortable=("arrivedAt", "nextAttemptAt", "size"),
    )


async def queue_message_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_set(context, arguments, QUEUE_MESSAGE)


async def queue_message_retry(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    require_admin(context)
    reader = ArgumentReader(arguments, ())
    account = admin_account(context, reader.id("accountId"))
    ids = reader.ids("ids")
    reader.rest()
    store = admin_store(context)
    retried: list[str] = []
    not_found: list[str] = []
    if ids is None:
        await queue.retry(store, None)
        retried = [queue_message_id(entry.id) for entry in await queue.list_entries(store)]
    for given in dict.fromkeys(ids or ()):
        entry_id = parse_queue_message_id(given)
        if entry_id is None:
            not_found.append(given)
            continue
        try:
            await queue.retry(store, entry_id)
            retried.append(given)
        except AdminError:
            not_found.append(given)
    return {"accountId": account.id, "retried": retried, "notFound": not_found}


def register_admin_queue(registry: MethodRegistry) -> None:
    registry.register("QueueMessage/get", ADMIN_CAPABILITY, queue_message_get)
    registry.register("QueueMessage/query", ADMIN_CAPABILITY, queue_message_query)
    registry.register("QueueMessage/set", ADMIN_CAPABILITY, queue_message_set)
    registry.register("QueueMessage/retry", ADMIN_CAPABILITY, queue_message_retry)
