"""ProtocolAccess/get, /set of ``urn:pochta:params:jmap:settings`` (docs/jmap.md "Settings"): the
account's own IMAP and POP3 switches and POP3's download mode, kept where ``pochta user set`` keeps
them (the settings store's ``imap.enabled``, ``pop3.enabled``, ``pop3.mode``) and read by the
authenticator at every login, so a switch made here refuses the next login at once.

What a user may do with their own switches: turn a protocol off, always (less access is never a
risk); turn it on only where the administrator allows it, that is where the domain's switch and the
account's unit chain (without the account's own value) leave it on. Turning it on removes the
account's own value, so the account follows its unit again: a user can never switch on what the
administrator switched off at the unit or the domain. ``imapAllowed`` and ``pop3Allowed`` (read
only) tell the settings page which switches it may offer."""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap import MethodError, MethodErrorType, SetError, SetErrorType, SetFailure, apply_patch
from pochta.proto.jmap.settings import PROTOCOL_PROPERTIES, SETTINGS_CAPABILITY, SINGLETON, settings_state
from pochta.proto.jmap.standard import SetOutcome, parse_get, parse_set, require_state
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry
from pochta.server.jmap.settings_rules import shown
from pochta.store.account_settings import IMAP_ENABLED, POP3_ENABLED, POP3_MODE, SettingKey
from pochta.store.api import StoreError
from pochta.store.model import Account

__all__ = ["register_settings_access"]

_SWITCHES: dict[str, SettingKey[bool]] = {"imap": IMAP_ENABLED, "pop3": POP3_ENABLED}
_MODES = ("all", "since-enabled")


async def _allowed(context: CallContext, account: Account, protocol: str) -> bool:
    """Does the administrator let the account use ``protocol``: the domain's switch and the unit
    chain's value (the account's own value is the user's, here)."""
    inherited = True
    for _, values in account.settings.chain:
        if _SWITCHES[protocol].name in values:
            inherited = bool(values[_SWITCHES[protocol].name])
            break
    domain = await store_of(context).get_domain(account.address.rpartition("@")[2])
    return inherited and (domain is None or domain.protocols.allows(protocol))


async def _access(context: CallContext, account: Account) -> dict[str, Any]:
    allowed = {protocol: await _allowed(context, account, protocol) for protocol in _SWITCHES}
    return {
        "id": SINGLETON,
        "imap": allowed["imap"] and account.settings.allows("imap"),
        "pop3": allowed["pop3"] and account.settings.allows("pop3"),
        "pop3Mode": account.settings.get(POP3_MODE, context.settings.pop3.mode),
        "imapAllowed": allowed["imap"],
        "pop3Allowed": allowed["pop3"],
    }


async def _fresh(context: CallContext, address: str) -> Account:
    account = await store_of(context).get_account(address)
    if account is None:
        raise MethodError(MethodErrorType.ACCOUNT_NOT_FOUND, "the account is gone")
    return account


async def access_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_get(arguments, max_objects=context.settings.jmap.max_objects_in_get)
    account = context.account(args.account_id)
    whole = await _access(context, await _fresh(context, account.account.address))
    asked = [SINGLETON] if args.ids is None else list(dict.fromkeys(args.ids))
    return {
        "accountId": account.id,
        "state": settings_state(whole),
        "list": [shown(whole, args, PROTOCOL_PROPERTIES)] if SINGLETON in asked else [],
        "notFound": [given for given in asked if given != SINGLETON],
    }


def _invalid(reason: str, *properties: str) -> SetFailure:
    return SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, reason, properties))


async def _values(
    context: CallContext, account: Account, was: dict[str, Any], wish: dict[str, Any]
) -> dict[str, object | None]:
    """The settings store's values that make ``wish`` of ``was``; SetFailure when not allowed."""
    for name in ("id", "imapAllowed", "pop3Allowed"):
        if wish.get(name) != was[name]:
            raise _invalid(f"{name} is the server's", name)
    unknown = sorted(set(wish) - set(PROTOCOL_PROPERTIES))
    if unknown:
        raise _invalid(f"unknown properties: {', '.join(unknown)}", *unknown)
    values: dict[str, object | None] = {}
    for protocol, key in _SWITCHES.items():
        on = wish.get(protocol)
        if not isinstance(on, bool):
            raise _invalid(f"{protocol} is true or false", protocol)
        if on == was[protocol]:
            continue
        if on and not was[f"{protocol}Allowed"]:
            raise SetFailure(
                SetError(
                    SetErrorType.FORBIDDEN, f"the administrator has switched {protocol} off for this account"
                )
            )
        # On: the account follows its unit again (which allows it); off: the account's own "off".
        values[key.name] = None if on else False
    mode = wish.get("pop3Mode")
    if mode not in _MODES:
        raise _invalid(f"pop3Mode is one of {', '.join(_MODES)}", "pop3Mode")
    if mode != was["pop3Mode"]:
        values[POP3_MODE.name] = mode
    return values


async def access_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_set(arguments, max_objects=context.settings.jmap.max_objects_in_set)
    jmap_account = context.writable_account(args.account_id)
    account = await _fresh(context, jmap_account.account.address)
    current = await _access(context, account)
    old_state = settings_state(current)
    require_state(args.if_in_state, old_state)
    singleton = SetError(SetErrorType.SINGLETON, "ProtocolAccess is a singleton: update it").to_json()
    updated: dict[str, Any] = {}
    not_updated: dict[str, Any] = {}
    for given, patch in args.update.items():
        try:
            if given != SINGLETON:
                raise SetFailure(SetError(SetErrorType.NOT_FOUND, "the only ProtocolAccess is singleton"))
            values = await _values(context, account, current, apply_patch(current, patch))
            if values:
                try:
                    account = await store_of(context).set_account_settings(account.address, values)
                except (StoreError, ValueError) as exc:
                    raise _invalid(str(exc)) from None
                current = await _access(context, account)
            updated[SINGLETON] = None
        except SetFailure as failure:
            not_updated[given] = failure.error.to_json()
    if updated:
        context.changed(jmap_account.id, "ProtocolAccess")
    return SetOutcome(
        updated=updated,
        not_created={creation_id: singleton for creation_id in args.create},
        not_updated=not_updated,
        not_destroyed={given: singleton for given in args.destroy},
    ).response(jmap_account.id, old_state, settings_state(current))


def register_settings_access(registry: MethodRegistry) -> None:
    registry.register("ProtocolAccess/get", SETTINGS_CAPABILITY, access_get)
    registry.register("ProtocolAccess/set", SETTINGS_CAPABILITY, access_set)
