"""SieveScript/get, /changes, /set, /query and /validate (RFC 9661 section 2). The scripts are the
account's stored Sieve scripts, the ones ManageSieve and ``pochta sieve`` manage, through
``pochta.mail.sieve_scripts.SieveScripts`` (the one owner of their rules: names, compiling,
quota, the active script, the managed script ``pochta-settings``). A script made here is listed
by ManageSieve and the other way round; its content is a blob the account holds
(``server.jmap.blobs``), downloadable by its blobId.

The managed script holds the account's Gmail-style settings, the VacationResponse among them
(``server.jmap.vacation_response``): as over ManageSieve it may be read and made active, never
written, renamed or destroyed (forbidden): RFC 9661 has a server that keeps its VacationResponse
in a Sieve script protect that script so, and its rules change through VacationResponse/set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pochta.config import Settings
from pochta.mail.sieve_scripts import MANAGED_SCRIPT, ScriptRefused, SieveScripts, check_name, decode_source
from pochta.proto.jmap import MethodError, MethodErrorType, SetError, SetErrorType, SetFailure, apply_patch
from pochta.proto.jmap.arguments import ArgumentReader
from pochta.proto.jmap.mail.ids import parse_blob_id
from pochta.proto.jmap.sieve import (
    SCRIPT_PROPERTIES,
    SIEVE_CAPABILITY,
    ScriptRecord,
    check_script_filter,
    check_script_sort,
    parse_script_id,
    query_scripts,
    script_object,
    scripts_state,
    sieve_account_capability,
)
from pochta.proto.jmap.standard import (
    SetOutcome,
    parse_changes,
    parse_get,
    parse_query,
    parse_set,
    query_window,
    require_state,
)
from pochta.server.jmap.blobs import held_blob, read_held
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.principal import JmapAccount
from pochta.server.jmap.registry import MethodRegistry
from pochta.sieve import SUPPORTED_EXTENSIONS
from pochta.store.model import AccountId

__all__ = ["register_sieve_script", "sieve_capability"]

_ACTIVATE = "onSuccessActivateScript"
_DEACTIVATE = "onSuccessDeactivateScript"


def _implementation() -> str:
    try:
        return f"pochta {version('pochta')}"
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "pochta"


def sieve_capability(settings: Settings) -> dict[str, Any]:
    """The account capability object, from the ``[sieve]`` settings ManageSieve announces too."""
    sieve = settings.sieve
    return sieve_account_capability(
        implementation=_implementation(),
        max_name_length=sieve.max_name_length,
        max_script_size=sieve.max_script_size,
        max_scripts=sieve.max_scripts,
        max_redirects=sieve.run_limits().max_redirects,
        extensions=SUPPORTED_EXTENSIONS,
    )


@dataclass(frozen=True)
class _Stored:
    record: ScriptRecord
    source: str


async def _records(scripts: SieveScripts, account_id: AccountId) -> list[_Stored]:
    found: list[_Stored] = []
    for info in await scripts.list(account_id):
        script = await scripts.store.sieve_script(account_id, info.name)
        if script is None:  # deleted between the two reads
            continue
        data = script.source.encode("utf-8")
        record = ScriptRecord(info.id, info.name, info.active, hashlib.sha256(data).hexdigest(), len(data))
        found.append(_Stored(record, script.source))
    return found


def _scripts(context: CallContext) -> SieveScripts:
    return SieveScripts(store_of(context), context.settings.sieve)


async def _state(scripts: SieveScripts, account: JmapAccount) -> str:
    return scripts_state(stored.record for stored in await _records(scripts, account.account.id))


async def sieve_script_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_get(arguments, max_objects=context.settings.jmap.max_objects_in_get)
    account = context.account(args.account_id)
    properties = SCRIPT_PROPERTIES if args.properties is None else args.properties
    unknown = sorted(set(properties) - set(SCRIPT_PROPERTIES))
    if unknown:
        raise MethodError(
            MethodErrorType.INVALID_ARGUMENTS, f"unknown SieveScript properties: {', '.join(unknown)}"
        )
    stored = await _records(_scripts(context), account.account.id)
    by_id = {item.record.id: item.record for item in stored}
    asked = list(by_id) if args.ids is None else list(dict.fromkeys(args.ids))
    listed: list[dict[str, Any]] = []
    not_found: list[str] = []
    for given in asked:
        resolved = context.resolve_id(given)
        record = None if resolved is None else by_id.get(resolved)
        if record is None:
            not_found.append(given)
            continue
        whole = script_object(record)
        listed.append({name: value for name, value in whole.items() if name in properties or name == "id"})
    return {
        "accountId": account.id,
        "state": scripts_state(item.record for item in stored),
        "list": listed,
        "notFound": not_found,
    }


async def sieve_script_changes(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """The state is a digest, not a log: the same state has no changes, any other cannot be
    calculated (RFC 8620 section 5.2 cannotCalculateChanges: the client reloads the scripts)."""
    args = parse_changes(arguments)
    account = context.account(args.account_id)
    state = await _state(_scripts(context), account)
    if args.since_state != state:
        raise MethodError(MethodErrorType.CANNOT_CALCULATE_CHANGES, "fetch the SieveScripts again")
    return {
        "accountId": account.id,
        "oldState": state,
        "newState": state,
        "hasMoreChanges": False,
        "created": [],
        "updated": [],
        "destroyed": [],
    }


async def sieve_script_query(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_query(arguments)
    account = context.account(args.account_id)
    check_script_filter(args.filter)
    check_script_sort(args.sort)
    stored = await _records(_scripts(context), account.account.id)
    records = [item.record for item in stored]
    results = query_scripts(records, args.filter, args.sort)
    window = query_window(args, results, max_limit=context.settings.jmap.max_objects_in_get)
    response: dict[str, Any] = {
        "accountId": account.id,
        "queryState": scripts_state(records),
        "canCalculateChanges": False,  # no SieveScript/queryChanges: the state is a digest
        "position": window.position,
        "ids": list(window.ids),
    }
    if args.calculate_total:
        response["total"] = len(results)
    if window.limit is not None:
        response["limit"] = window.limit
    return response


def _failure(kind: SetErrorType, description: str, properties: tuple[str, ...] = ()) -> SetFailure:
    return SetFailure(SetError(kind, description, properties))


def _refused(exc: ScriptRefused, property_: str) -> SetFailure:
    """ManageSieve's refusal (RFC 5804 section 1.3 codes) as the SetError RFC 9661 names."""
    if exc.code == "QUOTA/MAXSIZE":
        return _failure(
            SetErrorType.OVER_QUOTA if property_ != "blobId" else SetErrorType.TOO_LARGE, exc.message
        )
    if exc.code == "QUOTA/MAXSCRIPTS":
        return _failure(SetErrorType.OVER_QUOTA, exc.message)
    if exc.code == "ALREADYEXISTS":
        return _failure(SetErrorType.ALREADY_EXISTS, exc.message)
    if exc.code == "NONEXISTENT":
        return _failure(SetErrorType.NOT_FOUND, exc.message)
    if exc.code == "ACTIVE":
        return _failure(SetErrorType.SIEVE_IS_ACTIVE, exc.message)
    return _failure(SetErrorType.INVALID_PROPERTIES, exc.message, (property_,))


class _ScriptSet:
    """One SieveScript/set call over the account's scripts, re-read after each write."""

    def __init__(self, context: CallContext, account: JmapAccount, stored: list[_Stored]) -> None:
        self.context = context
        self.account = account
        self.scripts = _scripts(context)
        self.stored = {item.record.id: item for item in stored}

    @property
    def account_id(self) -> AccountId:
        return self.account.account.id

    async def reload(self) -> None:
        self.stored = {item.record.id: item for item in await _records(self.scripts, self.account_id)}

    def find(self, given: str) -> _Stored:
        resolved = self.context.resolve_id(given)
        found = None if resolved is None or parse_script_id(resolved) is None else self.stored.get(resolved)
        if found is None:
            raise _failure(SetErrorType.NOT_FOUND, "no such SieveScript")
        return found

    def by_name(self, name: str) -> _Stored | None:
        return next((item for item in self.stored.values() if item.record.name == name), None)

    async def content(self, value: Any) -> str:
        """The script's text from the blob ``value`` names; compiled (invalidSieve, RFC 9661
        section 2.3: with our parser's error, line and column)."""
        name = parse_blob_id(value) if isinstance(value, str) else None
        held = None
        if name is not None and not name.part:
            held = await held_blob(store_of(self.context), self.context.settings, self.account_id, name)
        if held is None:
            raise _failure(SetErrorType.BLOB_NOT_FOUND, "no such blob", ("blobId",))
        data = await read_held(store_of(self.context), held)
        if len(data) > self.context.settings.sieve.max_script_size:
            raise _failure(
                SetErrorType.TOO_LARGE,
                f"a script has at most {self.context.settings.sieve.max_script_size} octets",
            )
        try:
            source = decode_source(data)
            self.scripts.check(source)
        except ScriptRefused as exc:
            if exc.code:
                raise _refused(exc, "blobId") from None
            raise _failure(SetErrorType.INVALID_SIEVE, exc.message) from None
        return source

    def _free_name(self) -> str:
        taken = {item.record.name for item in self.stored.values()}
        number = 1
        while f"script-{number}" in taken:
            number += 1
        return f"script-{number}"

    async def create(self, record: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(record) - {"name", "blobId", "isActive"})
        if unknown or record.get("isActive", False) is not False or "id" in record:
            # RFC 8620 section 5.3: server-set properties may only be given as their value.
            raise _failure(
                SetErrorType.INVALID_PROPERTIES,
                "unknown or server-set properties",
                tuple(unknown or ["isActive"]),
            )
        name = record.get("name")
        if name is None:
            name = self._free_name()  # RFC 9661 section 2: a null name is the server's to choose
        if not isinstance(name, str):
            raise _failure(SetErrorType.INVALID_PROPERTIES, "name must be a String or null", ("name",))
        if "blobId" not in record:
            raise _failure(SetErrorType.INVALID_PROPERTIES, "blobId is required", ("blobId",))
        source = await self.content(record["blobId"])
        try:
            name = self._check_name(name)
            if self.by_name(name) is not None:
                raise _failure(SetErrorType.ALREADY_EXISTS, "a SieveScript has that name")
            await self.scripts.have_space(self.account_id, name, len(source.encode("utf-8")))
            await self.scripts.put(self.account_id, name, source)
        except ScriptRefused as exc:
            raise _refused(exc, "name") from None
        await self.reload()
        made = self.by_name(name)
        assert made is not None
        shown = script_object(made.record)
        return {key: value for key, value in shown.items() if key not in record or key == "name"}

    def _check_name(self, name: str) -> str:
        checked = check_name(name, self.context.settings.sieve)
        if checked == MANAGED_SCRIPT:
            raise _failure(
                SetErrorType.FORBIDDEN,
                f"{MANAGED_SCRIPT!r} holds the account's settings (filters, vacation, forwarding)",
            )
        return checked

    async def update(self, given: str, patch: dict[str, Any], destroying: set[str]) -> str:
        found = self.find(given)
        if found.record.id in destroying:
            raise _failure(SetErrorType.WILL_DESTROY, "the SieveScript is destroyed in this call")
        current = script_object(found.record)
        wished = apply_patch(current, patch)
        unknown = sorted(set(wished) - set(SCRIPT_PROPERTIES))
        if unknown:
            raise _failure(SetErrorType.INVALID_PROPERTIES, "unknown properties", tuple(unknown))
        if wished.get("id") != current["id"] or wished.get("isActive") != current["isActive"]:
            # RFC 9661 section 2: isActive is server-set (onSuccessActivateScript changes it).
            raise _failure(SetErrorType.INVALID_PROPERTIES, "id and isActive are server-set", ("isActive",))
        new_name = wished.get("name")
        changes_content = wished.get("blobId") != current["blobId"]
        renames = new_name is not None and new_name != found.record.name
        if not (changes_content or renames):
            return found.record.id
        if found.record.name == MANAGED_SCRIPT:
            # As ManageSieve: the managed script is written only through the settings it holds.
            raise _failure(
                SetErrorType.FORBIDDEN,
                f"{MANAGED_SCRIPT!r} is generated from the account's settings and cannot be changed here",
            )
        if new_name is not None and not isinstance(new_name, str):
            raise _failure(SetErrorType.INVALID_PROPERTIES, "name must be a String", ("name",))
        source = await self.content(wished.get("blobId")) if changes_content else None
        name = found.record.name
        try:
            if renames:
                assert isinstance(new_name, str)
                name = self._check_name(new_name)
                await self.scripts.rename(self.account_id, found.record.name, name)
            if source is not None:
                await self.scripts.have_space(self.account_id, name, len(source.encode("utf-8")))
                await self.scripts.put(self.account_id, name, source)
        except ScriptRefused as exc:
            raise _refused(exc, "name" if renames else "blobId") from None
        await self.reload()
        return found.record.id

    async def destroy(self, found: _Stored) -> None:
        if found.record.name == MANAGED_SCRIPT:
            raise _failure(
                SetErrorType.FORBIDDEN,
                f"{MANAGED_SCRIPT!r} goes with the account's settings (filters, vacation, forwarding)",
            )
        if found.record.is_active:
            raise _failure(SetErrorType.SIEVE_IS_ACTIVE, "the active SieveScript cannot be destroyed")
        try:
            await self.scripts.delete(self.account_id, found.record.name)
        except ScriptRefused as exc:
            raise _refused(exc, "name") from None
        self.stored.pop(found.record.id, None)


def _switches(extra: dict[str, Any]) -> tuple[str | None, bool]:
    activate = extra.get(_ACTIVATE)
    deactivate = extra.get(_DEACTIVATE)
    if activate is not None and not isinstance(activate, str):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, f"{_ACTIVATE} must be an Id or null")
    if deactivate is not None and not isinstance(deactivate, bool):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, f"{_DEACTIVATE} must be a Boolean or null")
    if activate is not None and deactivate:
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, f"{_ACTIVATE} and {_DEACTIVATE} together")
    return activate, bool(deactivate)


async def sieve_script_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    limit = context.settings.jmap.max_objects_in_set
    args = parse_set(arguments, max_objects=limit, extra=(_ACTIVATE, _DEACTIVATE))
    activate, deactivate = _switches(dict(args.extra))
    account = context.writable_account(args.account_id)
    calls = _ScriptSet(context, account, await _records(_scripts(context), account.account.id))
    old_state = scripts_state(item.record for item in calls.stored.values())
    require_state(args.if_in_state, old_state)
    was_active = {item.record.id for item in calls.stored.values() if item.record.is_active}
    created: dict[str, Any] = {}
    not_created: dict[str, Any] = {}
    for creation_id, record in args.create.items():
        try:
            created[creation_id] = await calls.create(record)
            context.created(creation_id, created[creation_id]["id"])
        except SetFailure as failure:
            not_created[creation_id] = failure.error.to_json()
    updated: dict[str, Any] = {}
    not_updated: dict[str, Any] = {}
    destroying = {resolved for given in args.destroy if (resolved := context.resolve_id(given)) is not None}
    for given, patch in args.update.items():
        try:
            updated[await calls.update(given, patch, destroying)] = None
        except SetFailure as failure:
            not_updated[given] = failure.error.to_json()
    destroyed: list[str] = []
    not_destroyed: dict[str, Any] = {}
    for given in dict.fromkeys(args.destroy):
        try:
            found = calls.find(given)
            await calls.destroy(found)
            destroyed.append(found.record.id)
        except SetFailure as failure:
            not_destroyed[given] = failure.error.to_json()
    failed = not_created or not_updated or not_destroyed
    if not failed and (activate is not None or deactivate):
        # RFC 9661 section 2.3: once every create, update and destroy succeeded, the named
        # script becomes the active one (the active one, if any, stops being it), or none is.
        target = None
        if activate is not None:
            try:
                target = calls.find(activate).record.name
            except SetFailure:
                raise MethodError(
                    MethodErrorType.INVALID_ARGUMENTS, f"{_ACTIVATE} names no SieveScript"
                ) from None
        try:
            await calls.scripts.activate(account.account.id, target)
        except ScriptRefused as exc:
            raise MethodError(MethodErrorType.INVALID_ARGUMENTS, exc.message) from None
        await calls.reload()
    now_active = {item.record.id for item in calls.stored.values() if item.record.is_active}
    for switched in (was_active ^ now_active) - set(destroyed):
        # RFC 9661 section 2.3: a script whose isActive changed is listed as updated, with it.
        if switched in calls.stored and switched not in {c["id"] for c in created.values()}:
            updated[switched] = {"isActive": switched in now_active}
    for shown in created.values():
        if shown["id"] in now_active:
            shown["isActive"] = True
    if created or updated or destroyed:
        context.changed(account.id, "SieveScript")
    return SetOutcome(created, updated, destroyed, not_created, not_updated, not_destroyed).response(
        account.id, old_state, scripts_state(item.record for item in calls.stored.values())
    )


async def sieve_script_validate(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """RFC 9661 section 2.6: whether the blob is a script we would take; ``error`` the
    invalidSieve SetError with our parser's errors (each with its line and column), or null."""
    reader = ArgumentReader(arguments, ())
    account_id = reader.id("accountId")
    blob = reader.id("blobId")
    reader.rest()
    account = context.account(account_id)
    calls = _ScriptSet(context, account, [])
    try:
        await calls.content(blob)
        error = None
    except SetFailure as failure:
        if failure.error.type is SetErrorType.BLOB_NOT_FOUND:
            raise MethodError(
                MethodErrorType.INVALID_ARGUMENTS, "blobId names no blob of the account"
            ) from None
        error = failure.error.to_json()
    return {"accountId": account.id, "error": error}


def register_sieve_script(registry: MethodRegistry) -> None:
    registry.register("SieveScript/get", SIEVE_CAPABILITY, sieve_script_get)
    registry.register("SieveScript/changes", SIEVE_CAPABILITY, sieve_script_changes)
    registry.register("SieveScript/set", SIEVE_CAPABILITY, sieve_script_set)
    registry.register("SieveScript/query", SIEVE_CAPABILITY, sieve_script_query)
    registry.register("SieveScript/validate", SIEVE_CAPABILITY, sieve_script_validate)
