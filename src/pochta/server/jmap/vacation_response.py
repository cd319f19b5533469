"""VacationResponse/get and /set (RFC 8621 section 8). The singleton is the account's vacation rule
of its Gmail-style settings (``pochta.mail.mail_rules.Vacation``), read and written only through
``MailRuleService`` (the one owner of those rules and of the managed Sieve script they become): a
reply set here is what ``pochta vacation show`` shows, what ManageSieve's GETSCRIPT of
``pochta-settings`` reads, and what the next delivery answers with.

What JMAP's object says and the rule keeps:
- isEnabled false keeps the rest of the reply (the rule, turned off); off with every other
  property null is no rule at all;
- fromDate and toDate are moments (UTC); a reply the CLI set with whole days (``--from-date``,
  ``--until``, the server's dates) shows them as 00:00 UTC of the first day and of the day after
  the last, and keeps them as days until an update changes that property;
- ``--contacts-only`` and ``--days`` of the CLI stay as they were through every update here.

The state is a digest of the rule as stored: it changes exactly when the rule does, over JMAP,
the CLI or anything else.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pochta.mail.mail_rule_service import MailRuleService
from pochta.mail.mail_rules import RuleInvalid, Vacation, dump
from pochta.mail.sieve_scripts import ScriptRefused
from pochta.proto.jmap import MethodError, MethodErrorType, SetError, SetErrorType, SetFailure, apply_patch
from pochta.proto.jmap.standard import parse_get, parse_set, require_state
from pochta.proto.jmap.vacation import (
    PROPERTIES,
    SINGLETON,
    VACATION_CAPABILITY,
    VacationWish,
    vacation_object,
    vacation_state,
    wish_of,
)
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.principal import JmapAccount
from pochta.server.jmap.registry import MethodRegistry

__all__ = ["register_vacation_response"]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _wish(vacation: Vacation | None) -> VacationWish:
    if vacation is None:
        return VacationWish()
    starts = vacation.starts or (None if vacation.from_date is None else _midnight(vacation.from_date))
    ends = vacation.ends or (
        None if vacation.until is None else _midnight(vacation.until + timedelta(days=1))
    )
    return VacationWish(
        is_enabled=vacation.enabled,
        from_date=starts,
        to_date=ends,
        subject=vacation.subject,
        text_body=vacation.message,
        html_body=vacation.html,
    )


def _rule_data(current: Vacation | None, was: VacationWish, wish: VacationWish) -> dict[str, object]:
    """The rule after the update: the properties the update changed, the rest as kept."""
    data: dict[str, object] = {} if current is None else current.model_dump(exclude_none=True)
    data.update(enabled=wish.is_enabled, subject=wish.subject, message=wish.text_body, html=wish.html_body)
    if wish.from_date != was.from_date:
        data.update(starts=wish.from_date, from_date=None)
    if wish.to_date != was.to_date:
        data.update(ends=wish.to_date, until=None)
    return data


# The rule's fields as the VacationResponse properties they come from.
_PROPERTY_OF = {
    "subject": "subject",
    "message": "textBody",
    "html": "htmlBody",
    "starts": "fromDate",
    "ends": "toDate",
}


def _invalid(reason: str) -> SetFailure:
    """The rule's refusal ("field: why") as invalidProperties naming the JMAP property."""
    field, _, _ = reason.partition(":")
    named = _PROPERTY_OF.get(field.strip())
    return SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, reason, () if named is None else (named,)))


async def _current(context: CallContext, account: JmapAccount) -> tuple[MailRuleService, Vacation | None]:
    service = MailRuleService(store_of(context), context.settings.sieve)
    return service, (await service.rules(account.account)).vacation


def _state(vacation: Vacation | None) -> str:
    return vacation_state(None if vacation is None else dump(vacation))


async def vacation_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_get(arguments, max_objects=context.settings.jmap.max_objects_in_get)
    account = context.account(args.account_id)
    properties = PROPERTIES if args.properties is None else args.properties
    unknown = sorted(set(properties) - set(PROPERTIES))
    if unknown:
        raise MethodError(
            MethodErrorType.INVALID_ARGUMENTS, f"unknown VacationResponse properties: {', '.join(unknown)}"
        )
    _, vacation = await _current(context, account)
    whole = vacation_object(_wish(vacation))
    # RFC 8620 section 5.1: the id is always returned, whatever properties were asked.
    shown = {name: value for name, value in whole.items() if name in properties or name == "id"}
    asked = [SINGLETON] if args.ids is None else list(dict.fromkeys(args.ids))
    return {
        "accountId": account.id,
        "state": _state(vacation),
        "list": [shown] if SINGLETON in asked else [],
        "notFound": [given for given in asked if given != SINGLETON],
    }


async def vacation_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_set(arguments, max_objects=context.settings.jmap.max_objects_in_set)
    account = context.writable_account(args.account_id)
    service, vacation = await _current(context, account)
    old_state = _state(vacation)
    require_state(args.if_in_state, old_state)
    # RFC 8621 section 8.2: the singleton can be neither created nor destroyed.
    singleton = SetError(SetErrorType.SINGLETON, "VacationResponse is a singleton: update it").to_json()
    not_created = {creation_id: singleton for creation_id in args.create}
    not_destroyed = {given: singleton for given in args.destroy}
    updated: dict[str, Any] = {}
    not_updated: dict[str, Any] = {}
    for given, patch in args.update.items():
        try:
            if given != SINGLETON:
                raise SetFailure(SetError(SetErrorType.NOT_FOUND, "the only VacationResponse is singleton"))
            was = _wish(vacation)
            wish = wish_of(apply_patch(vacation_object(was), patch))
            try:
                if wish.is_default:
                    saved = await service.set_vacation(account.account, None)
                else:
                    saved = await service.set_vacation(account.account, _rule_data(vacation, was, wish))
            except RuleInvalid as exc:
                raise _invalid(str(exc)) from None
            except ScriptRefused as exc:
                kind = SetErrorType.OVER_QUOTA if exc.code else SetErrorType.INVALID_PROPERTIES
                raise SetFailure(SetError(kind, exc.message)) from None
            vacation = saved.rules.vacation
            updated[SINGLETON] = None
        except SetFailure as failure:
            not_updated[given] = failure.error.to_json()
    if updated:
        context.changed(account.id, "VacationResponse")
    return {
        "accountId": account.id,
        "oldState": old_state,
        "newState": _state(vacation),
        "created": None,
        "updated": updated or None,
        "destroyed": None,
        "notCreated": not_created or None,
        "notUpdated": not_updated or None,
        "notDestroyed": not_destroyed or None,
    }


def register_vacation_response(registry: MethodRegistry) -> None:
    registry.register("VacationResponse/get", VACATION_CAPABILITY, vacation_get)
    registry.register("VacationResponse/set", VACATION_CAPABILITY, vacation_set)
