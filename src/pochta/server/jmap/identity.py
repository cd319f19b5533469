"""Identity/get, Identity/changes, Identity/set (RFC 8621 section 6), under
``urn:ietf:params:jmap:submission``.

An account's Identities are its own address (always there, ``mayDelete`` false, made the first
time the account's Identities are read) and those the user creates. An Identity's ``email`` must
be an address the account may send as under the rule SMTP submission applies to the envelope
sender (``SenderPolicy.may_use``: the account's address or an alias reaching it), else
``forbiddenFrom``. Kept as JMAP records (revision 0041, ``server/jmap/records``); the webmail's
signature lives in ``textSignature``/``htmlSignature``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pochta.proto.jmap import MethodError, MethodErrorType, SetError, SetErrorType, SetFailure
from pochta.proto.jmap.session import SUBMISSION_CAPABILITY
from pochta.proto.jmap.standard import SetOutcome, parse_changes, parse_get, parse_set, wanted_properties
from pochta.proto.jmap.submission.identity import (
    IDENTITY_PROPERTIES,
    IdentityDoc,
    create_identity,
    identity_id,
    identity_object,
    parse_identity_id,
    update_identity,
)
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.principal import JmapAccount
from pochta.server.jmap.records import dump, load, parse_record_state, record_changes, record_state
from pochta.server.jmap.registry import MethodRegistry
from pochta.server.smtp.policy import SenderPolicy
from pochta.store.api import Store
from pochta.store.jmap_record_model import JmapRecordWrite

__all__ = ["IDENTITY", "AccountIdentities", "account_identities", "register_identity"]

IDENTITY = "Identity"  # the records' type


@dataclass(frozen=True)
class AccountIdentities:
    state: int
    identities: dict[int, IdentityDoc]  # record id -> document, oldest first


async def account_identities(store: Store, account: JmapAccount) -> AccountIdentities:
    """The account's Identities; its own address's is made when missing (its first read)."""
    found = await store.jmap_records(account.account.id, IDENTITY)
    docs = {record.id: IdentityDoc.from_json(load(record)) for record in found.records}
    if not any(doc.primary for doc in docs.values()):
        own = IdentityDoc(email=account.account.address, primary=True)
        await store.write_jmap_records(
            account.account.id, IDENTITY, JmapRecordWrite(creates=((dump(own.to_json()), None),))
        )
        found = await store.jmap_records(account.account.id, IDENTITY)
        docs = {record.id: IdentityDoc.from_json(load(record)) for record in found.records}
    out: dict[int, IdentityDoc] = {}
    primary_seen = False
    for number, doc in docs.items():
        if doc.primary:
            if primary_seen:  # two first reads at once each made one: the older is the one shown
                continue
            primary_seen = True
            # The account's own address, whatever it was when the record was made.
            doc = IdentityDoc(**{**doc.__dict__, "email": account.account.address})
        out[number] = doc
    return AccountIdentities(found.state, out)


async def identity_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_get(arguments, max_objects=context.settings.jmap.max_objects_in_get)
    account = context.account(args.account_id)
    wanted = wanted_properties(args, IDENTITY_PROPERTIES)
    held = await account_identities(store_of(context), account)
    asked = [identity_id(number) for number in held.identities] if args.ids is None else args.ids
    listed, not_found = [], []
    for given in dict.fromkeys(asked):
        resolved = context.resolve_id(given) if given.startswith("#") else given
        number = None if resolved is None else parse_identity_id(resolved)
        doc = None if number is None else held.identities.get(number)
        if number is None or doc is None:
            not_found.append(given)
            continue
        shown = identity_object(number, doc)
        listed.append({key: shown[key] for key in wanted})
    return {"accountId": account.id, "state": record_state(held.state), "list": listed, "notFound": not_found}


async def identity_changes(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    account = context.account(parse_changes(arguments).account_id)  # invalidArguments first
    await account_identities(store_of(context), account)  # the own address's exists from the start
    return await record_changes(context, arguments, IDENTITY, identity_id)


def _failure(kind: SetErrorType, description: str, *properties: str) -> SetFailure:
    return SetFailure(SetError(kind, description, properties))


async def identity_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_set(arguments, max_objects=context.settings.jmap.max_objects_in_set)
    account = context.writable_account(args.account_id)
    store = store_of(context)
    held = await account_identities(store, account)
    old_state = record_state(held.state)
    if args.if_in_state is not None and parse_record_state(args.if_in_state) != held.state:
        raise MethodError(MethodErrorType.STATE_MISMATCH, f"the state is {old_state}")
    policy = SenderPolicy(store)
    not_created: dict[str, Any] = {}
    not_updated: dict[str, Any] = {}
    not_destroyed: dict[str, Any] = {}
    creates: list[tuple[str, IdentityDoc]] = []
    for creation_id, record in args.create.items():
        try:
            doc = create_identity(record)
            # RFC 8621 section 6.3: forbiddenFrom when the user may not send from the address;
            # the rule is SMTP submission's (one owner: SenderPolicy).
            if not await policy.may_use(account.account, doc.email, context.settings.smtp):
                raise _failure(
                    SetErrorType.FORBIDDEN_FROM, f"{account.account.address} may not send as {doc.email}"
                )
            creates.append((creation_id, doc))
        except SetFailure as failure:
            not_created[creation_id] = failure.error.to_json()
    destroying = {
        number
        for given in args.destroy
        if (resolved := context.resolve_id(given)) is not None
        and (number := parse_identity_id(resolved)) is not None
    }
    updates: dict[int, tuple[str, IdentityDoc]] = {}
    for given, patch in args.update.items():
        resolved = context.resolve_id(given)
        number = None if resolved is None else parse_identity_id(resolved)
        current = None if number is None else held.identities.get(number)
        try:
            if number is None or current is None:
                raise _failure(SetErrorType.NOT_FOUND, "no such Identity")
            if number in destroying:
                raise _failure(SetErrorType.WILL_DESTROY, "the Identity is destroyed in this call")
            updates[number] = (given, update_identity(number, current, patch))
        except SetFailure as failure:
            not_updated[given] = failure.error.to_json()
    destroys: list[int] = []
    for given in dict.fromkeys(args.destroy):
        resolved = context.resolve_id(given)
        number = None if resolved is None else parse_identity_id(resolved)
        current = None if number is None else held.identities.get(number)
        if number is None or current is None:
            not_destroyed[given] = _failure(SetErrorType.NOT_FOUND, "no such Identity").error.to_json()
        elif current.primary:
            # RFC 8621 section 6: mayDelete false is refused with "forbidden".
            not_destroyed[given] = _failure(
                SetErrorType.FORBIDDEN, "the account's own address"
            ).error.to_json()
        else:
            destroys.append(number)
    result = await store.write_jmap_records(
        account.account.id,
        IDENTITY,
        JmapRecordWrite(
            creates=tuple((dump(doc.to_json()), None) for _, doc in creates),
            updates=tuple((number, dump(doc.to_json())) for number, (_, doc) in updates.items()),
            destroys=tuple(destroys),
            if_state=held.state,
        ),
    )
    if result.state_mismatch:  # another request wrote in between
        raise MethodError(MethodErrorType.STATE_MISMATCH, "the Identities changed meanwhile; try again")
    created: dict[str, Any] = {}
    for (creation_id, _), number in zip(creates, result.created, strict=True):
        created[creation_id] = {"id": identity_id(number), "mayDelete": True}
        context.created(creation_id, identity_id(number))
    updated = {identity_id(n): None for n in updates if n not in result.missing}
    destroyed = [identity_id(n) for n in destroys if n not in result.missing]
    if created or updated or destroyed:
        context.changed(account.id, IDENTITY)
    return SetOutcome(created, updated, destroyed, not_created, not_updated, not_destroyed).response(
        account.id, old_state, record_state(result.new_state)
    )


def register_identity(registry: MethodRegistry) -> None:
    registry.register("Identity/get", SUBMISSION_CAPABILITY, identity_get)
    registry.register("Identity/changes", SUBMISSION_CAPABILITY, identity_changes)
    registry.register("Identity/set", SUBMISSION_CAPABILITY, identity_set)
