"""MailFilter/get, /set and Forwarding/get, /set of ``urn:pochta:params:jmap:settings`` (docs/jmap.md
"Settings"): the account's Gmail-style filters and its forwarding address, read and written only
through ``MailRuleService`` (the one owner of those rules and of the managed Sieve script they
become), so that a filter made here is what ``pochta filter list`` shows and what the next
delivery runs.

A filter is never changed in place: the rule's id is its row, and ``MailRuleService`` adds and
removes rules, so MailFilter/set refuses an update (a client destroys and creates in one call)."""

from __future__ import annotations

from typing import Any

from pochta.mail.mail_rule_service import MailRuleService
from pochta.mail.mail_rules import AccountRules, RuleInvalid
from pochta.mail.sieve_scripts import ScriptRefused
from pochta.proto.jmap import SetError, SetErrorType, SetFailure, apply_patch
from pochta.proto.jmap.settings import (
    FILTER_PROPERTIES,
    FORWARDING_PROPERTIES,
    SETTINGS_CAPABILITY,
    SINGLETON,
    filter_data,
    filter_id,
    filter_object,
    rule_id_of,
    settings_state,
)
from pochta.proto.jmap.standard import (
    GetArgs,
    SetOutcome,
    parse_get,
    parse_set,
    require_state,
    wanted_properties,
)
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry

__all__ = ["register_settings_rules", "shown"]


def _service(context: CallContext) -> MailRuleService:
    return MailRuleService(store_of(context), context.settings.sieve)


def _refusal(exc: RuleInvalid | ScriptRefused) -> SetFailure:
    if isinstance(exc, ScriptRefused):
        kind = SetErrorType.OVER_QUOTA if exc.code else SetErrorType.INVALID_PROPERTIES
        return SetFailure(SetError(kind, exc.message))
    return SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, str(exc)))


def shown(whole: dict[str, Any], args: GetArgs, known: tuple[str, ...]) -> dict[str, Any]:
    """The properties asked of one object (``wanted_properties``: the id always, unknown refused)."""
    return {name: whole[name] for name in wanted_properties(args, known)}


def _filters_state(rules: AccountRules) -> str:
    return settings_state([[rule_id, rule.model_dump(by_alias=True)] for rule_id, rule in rules.filters])


def _filter_objects(rules: AccountRules) -> dict[str, dict[str, Any]]:
    return {
        filter_id(rule_id): filter_object(rule_id, rule.model_dump(by_alias=True))
        for rule_id, rule in rules.filters
    }


async def filter_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_get(arguments, max_objects=context.settings.jmap.max_objects_in_get)
    account = context.account(args.account_id)
    rules = await _service(context).rules(account.account)
    objects = _filter_objects(rules)
    asked = list(objects) if args.ids is None else [context.resolve_id(given) or given for given in args.ids]
    asked = list(dict.fromkeys(asked))
    return {
        "accountId": account.id,
        "state": _filters_state(rules),
        "list": [shown(objects[given], args, FILTER_PROPERTIES) for given in asked if given in objects],
        "notFound": [given for given in asked if given not in objects],
    }


async def filter_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_set(arguments, max_objects=context.settings.jmap.max_objects_in_set)
    account = context.writable_account(args.account_id)
    service = _service(context)
    rules = await service.rules(account.account)
    old_state = _filters_state(rules)
    require_state(args.if_in_state, old_state)
    created: dict[str, Any] = {}
    not_created: dict[str, Any] = {}
    for creation_id, record in args.create.items():
        try:
            try:
                rule_id, saved = await service.add_filter(account.account, filter_data(record))
            except (RuleInvalid, ScriptRefused) as exc:
                raise _refusal(exc) from None
            rules = saved.rules
            created[creation_id] = {"id": filter_id(rule_id)}
            context.created(creation_id, filter_id(rule_id))
        except SetFailure as failure:
            not_created[creation_id] = failure.error.to_json()
    not_updated = {
        given: SetError(
            SetErrorType.FORBIDDEN, "a filter is not changed in place: destroy it and create the new one"
        ).to_json()
        for given in args.update
    }
    destroyed: list[str] = []
    not_destroyed: dict[str, Any] = {}
    for given in args.destroy:
        real = context.resolve_id(given) or given
        number = rule_id_of(real)
        try:
            if number is None or number not in {found for found, _ in rules.filters}:
                raise SetFailure(SetError(SetErrorType.NOT_FOUND, f"no MailFilter {real}"))
            try:
                rules = (await service.delete_filter(account.account, number)).rules
            except (RuleInvalid, ScriptRefused) as exc:
                raise _refusal(exc) from None
            destroyed.append(real)
        except SetFailure as failure:
            not_destroyed[given] = failure.error.to_json()
    if created or destroyed:
        context.changed(account.id, "MailFilter")
    return SetOutcome(
        created=created,
        destroyed=destroyed,
        not_created=not_created,
        not_updated=not_updated,
        not_destroyed=not_destroyed,
    ).response(account.id, old_state, _filters_state(rules))


def _forwarding(rules: AccountRules) -> dict[str, Any]:
    forward = rules.forward
    return {
        "id": SINGLETON,
        "address": None if forward is None else forward.address,
        "mode": "keep" if forward is None else forward.mode,
    }


async def forwarding_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_get(arguments, max_objects=context.settings.jmap.max_objects_in_get)
    account = context.account(args.account_id)
    rules = await _service(context).rules(account.account)
    whole = _forwarding(rules)
    asked = [SINGLETON] if args.ids is None else list(dict.fromkeys(args.ids))
    return {
        "accountId": account.id,
        "state": settings_state(whole),
        "list": [shown(whole, args, FORWARDING_PROPERTIES)] if SINGLETON in asked else [],
        "notFound": [given for given in asked if given != SINGLETON],
    }


async def forwarding_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """Forwarding: ``address`` null is no forwarding; ``mode`` keep (the copy stays in INBOX),
    archive or delete, as ``mail_rules.Forward`` allows."""
    args = parse_set(arguments, max_objects=context.settings.jmap.max_objects_in_set)
    account = context.writable_account(args.account_id)
    service = _service(context)
    rules = await service.rules(account.account)
    old_state = settings_state(_forwarding(rules))
    require_state(args.if_in_state, old_state)
    singleton = SetError(SetErrorType.SINGLETON, "Forwarding is a singleton: update it").to_json()
    updated: dict[str, Any] = {}
    not_updated: dict[str, Any] = {}
    for given, patch in args.update.items():
        try:
            if given != SINGLETON:
                raise SetFailure(SetError(SetErrorType.NOT_FOUND, "the only Forwarding is singleton"))
            wish = apply_patch(_forwarding(rules), patch)
            unknown = sorted(set(wish) - set(FORWARDING_PROPERTIES))
            if unknown or wish.get("id") != SINGLETON:
                raise SetFailure(
                    SetError(
                        SetErrorType.INVALID_PROPERTIES,
                        "unknown or server-set properties",
                        tuple(unknown or ["id"]),
                    )
                )
            # A null removes the property (RFC 8620 section 5.3): no address, the default mode.
            address, mode = wish.get("address"), wish.get("mode") or "keep"
            data = None if address is None else {"address": address, "mode": mode}
            try:
                rules = (await service.set_forward(account.account, data)).rules
            except (RuleInvalid, ScriptRefused) as exc:
                raise _refusal(exc) from None
            updated[SINGLETON] = None
        except SetFailure as failure:
            not_updated[given] = failure.error.to_json()
    if updated:
        context.changed(account.id, "Forwarding")
    return SetOutcome(
        updated=updated,
        not_created={creation_id: singleton for creation_id in args.create},
        not_updated=not_updated,
        not_destroyed={given: singleton for given in args.destroy},
    ).response(account.id, old_state, settings_state(_forwarding(rules)))


def register_settings_rules(registry: MethodRegistry) -> None:
    registry.register("MailFilter/get", SETTINGS_CAPABILITY, filter_get)
    registry.register("MailFilter/set", SETTINGS_CAPABILITY, filter_set)
    registry.register("Forwarding/get", SETTINGS_CAPABILITY, forwarding_get)
    registry.register("Forwarding/set", SETTINGS_CAPABILITY, forwarding_set)
