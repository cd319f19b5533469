"""DnsRecord/get of the admin capability: the records a local domain needs, with how DNS answers
for each now (``pochta dns DOMAIN`` and ``pochta dns check DOMAIN``, over ``pochta.admin.dns``).

Arguments besides /get's: ``domain`` (required), ``addresses`` (the mail host's public IPs, for
its A/AAAA records; default none), ``check`` (default true: each record is looked up through the
configured resolver, ``[queue] dns_nameservers`` or resolv.conf; false: the list only).

A DnsRecord: ``id`` ("R" + a digest of name, type and value: the same record keeps its id),
``name`` (absolute, with the trailing dot), ``type``, ``value`` (zone file rdata), ``why``,
``zoneLine``, ``verdict`` (ok, differs, wrong, missing; null unchecked) and ``found`` (what DNS
answered). A failed lookup is the call's serverUnavailable."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from pochta.admin.errors import AdminError, AdminErrorKind
from pochta.proto.jmap import MethodError, MethodErrorType
from pochta.proto.jmap.admin import ADMIN_CAPABILITY, list_state
from pochta.proto.jmap.arguments import invalid_arguments
from pochta.proto.jmap.standard import parse_get
from pochta.server.jmap.admin_common import admin_account, admin_store, require_admin
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry

if TYPE_CHECKING:
    from pochta.dns_records import Finding, Record

__all__ = ["register_admin_dns"]


def _object(record: Record, finding: Finding | None) -> dict[str, Any]:
    digest = hashlib.sha256(f"{record.name} {record.type} {record.value}".encode()).hexdigest()[:20]
    return {
        "id": "R" + digest,
        "name": record.name,
        "type": record.type,
        "value": record.value,
        "why": record.why,
        "zoneLine": record.zone_line(),
        "verdict": None if finding is None else finding.verdict.value,
        "found": None if finding is None else list(finding.found),
    }


async def dns_record_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    require_admin(context)
    args = parse_get(
        arguments,
        max_objects=context.settings.jmap.max_objects_in_get,
        extra=("domain", "addresses", "check"),
    )
    account = admin_account(context, args.account_id)
    domain, addresses = args.extra.get("domain"), args.extra.get("addresses", [])
    check = args.extra.get("check", True)
    if not isinstance(domain, str):
        raise invalid_arguments("domain is required, a String")
    if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
        raise invalid_arguments("addresses is a list of IP addresses")
    if not isinstance(check, bool):
        raise invalid_arguments("check is a Boolean")
    # Imported here: the records' module reads the web's routes (autoconfig ...), whose JMAP
    # endpoint imports this dispatcher.
    from pochta.admin import dns

    store = admin_store(context)
    try:
        if check:
            findings = await dns.check_records(store, context.settings, domain, addresses)
            objects = [_object(f.record, f) for f in findings]
        else:
            objects = [
                _object(r, None) for r in await dns.domain_records(store, context.settings, domain, addresses)
            ]
    except AdminError as error:
        kind = (
            MethodErrorType.SERVER_UNAVAILABLE
            if error.kind is AdminErrorKind.UNAVAILABLE
            else MethodErrorType.INVALID_ARGUMENTS
        )
        raise MethodError(kind, error.message) from None
    by_id = {o["id"]: o for o in objects}
    asked = list(by_id) if args.ids is None else list(dict.fromkeys(args.ids))
    found = [by_id[i] for i in asked if i in by_id]
    if args.properties is not None:
        found = [{k: v for k, v in o.items() if k in args.properties or k == "id"} for o in found]
    return {
        "accountId": account.id,
        "state": list_state(objects),
        "list": found,
        "notFound": [i for i in asked if i not in by_id],
    }


def register_admin_dns(registry: MethodRegistry) -> None:
    registry.register("DnsRecord/get", ADMIN_CAPABILITY, dns_record_get)
