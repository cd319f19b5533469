"""DkimKey/get, DkimKey/set and DkimKey/activate of the admin capability, over
``pochta.admin.dkim`` (``pochta dkim list|rotate|activate|retire``).

A DkimKey: ``id`` ("K" + its record's DNS name in base64url), ``domain``, ``selector``,
``algorithm`` (ed25519 or rsa), ``state`` (pending, active, retiring), ``createdAt``,
``activatedAt`` (UTCDate or null), ``dnsName`` and ``txtRecord`` (the record to publish). The
private key is never shown. All server-set.

- create ``{"domain": NAME}``: the domain's next keys (``pochta dkim rotate``): one pending key of
  each kind in ``[dkim] algorithms``, replacing keys still pending. One creation makes them all:
  ``created`` is the first, with ``rotation``, the ids of every key made (to publish each).
- destroy: retire a key that no longer signs; an active key is forbidden.
- ``DkimKey/activate`` (vendor method, ``pochta dkim activate``): ``accountId``, ``domain``,
  ``checkDns`` (default true: each pending key's record must be found in DNS first, through
  ``[queue] dns_nameservers`` or resolv.conf) -> ``activated`` and ``missing`` (ids); nothing
  changes while a record is missing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pochta.admin import dkim
from pochta.admin.errors import AdminError
from pochta.proto.jmap import MethodError, MethodErrorType, SetErrorType
from pochta.proto.jmap.admin import ADMIN_CAPABILITY, dkim_key_id
from pochta.proto.jmap.arguments import ArgumentReader
from pochta.proto.jmap.dates import format_utc_date
from pochta.queue import dkim_keys
from pochta.resolver import DnsResolver, LookupFailed
from pochta.server.jmap.admin_common import (
    AdminType,
    admin_account,
    admin_failure,
    admin_get,
    admin_set,
    admin_store,
    failure,
    read_only,
    require_admin,
)
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry
from pochta.store.dkim_model import DkimKey

__all__ = ["register_admin_dkim"]


def _date(epoch: int | None) -> str | None:
    return None if epoch is None else format_utc_date(datetime.fromtimestamp(epoch, UTC))


def _object(key: DkimKey) -> dict[str, Any]:
    return {
        "id": dkim_key_id(key.domain, key.selector),
        "domain": key.domain,
        "selector": key.selector,
        "algorithm": key.algorithm,
        "state": key.state.value,
        "createdAt": _date(key.created),
        "activatedAt": _date(key.activated),
        "dnsName": dkim_keys.dns_name(key),
        "txtRecord": dkim_keys.txt_record(key),
    }


async def _objects(context: CallContext) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in map(_object, await dkim.list_keys(admin_store(context)))}


async def _create(context: CallContext, record: dict[str, Any]) -> dict[str, Any]:
    read_only(record, ("domain",))
    domain = record.get("domain")
    if not isinstance(domain, str):
        raise failure(SetErrorType.INVALID_PROPERTIES, "domain is required, a String", ("domain",))
    try:
        keys = await dkim.rotate(admin_store(context), context.settings, domain)
    except AdminError as error:
        raise admin_failure(error, ("domain",)) from None
    if not keys:
        raise failure(SetErrorType.FORBIDDEN, "[dkim] algorithms names no kind of key")
    first = _object(keys[0])
    return {**first, "rotation": [dkim_key_id(k.domain, k.selector) for k in keys]}


async def _destroy(context: CallContext, current: dict[str, Any]) -> None:
    await dkim.retire(admin_store(context), current["domain"], current["selector"])


DKIM_KEY = AdminType("DkimKey", _objects, create=_create, destroy=_destroy)


async def dkim_key_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_get(context, arguments, DKIM_KEY)


async def dkim_key_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_set(context, arguments, DKIM_KEY)


async def dkim_key_activate(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    require_admin(context)
    reader = ArgumentReader(arguments, ("domain", "checkDns"))
    account = admin_account(context, reader.id("accountId"))
    extra = reader.rest()
    domain, check = extra.get("domain"), extra.get("checkDns", True)
    if not isinstance(domain, str) or not isinstance(check, bool):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, "domain is a String, checkDns a Boolean")
    lookup = dkim_keys.txt_lookup(DnsResolver.from_settings(context.settings, cache=False)) if check else None
    try:
        activated, missing = await dkim.activate(admin_store(context), domain, lookup)
    except AdminError as error:
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, error.message) from None
    except LookupFailed as error:
        raise MethodError(MethodErrorType.SERVER_UNAVAILABLE, f"DNS lookup failed: {error}") from None
    return {
        "accountId": account.id,
        "activated": [dkim_key_id(k.domain, k.selector) for k in activated],
        "missing": [dkim_key_id(k.domain, k.selector) for k in missing],
    }


def register_admin_dkim(registry: MethodRegistry) -> None:
    registry.register("DkimKey/get", ADMIN_CAPABILITY, dkim_key_get)
    registry.register("DkimKey/set", ADMIN_CAPABILITY, dkim_key_set)
    registry.register("DkimKey/activate", ADMIN_CAPABILITY, dkim_key_activate)
