"""FetchAccount/get, /set and the vendor method FetchAccount/run of ``urn:pochta:params:jmap:settings``
(docs/jmap.md "Settings"): the user's external POP3 and IMAP accounts the fetcher collects mail from,
made through ``pochta.fetch.accounts.add_external_account`` as ``pochta fetch add`` makes them (its
checks, the password encrypted with the server secret by ``pochta.fetch.secrets``: never shown
again, no property reads it back) and run now by the same ``Fetcher`` as ``pochta fetch run``."""

from __future__ import annotations

from typing import Any

from pochta.bootstrap import ensure_server_secret
from pochta.fetch import Fetcher
from pochta.fetch.accounts import AccountRequest, InvalidRequest, add_external_account
from pochta.fetch.imap_keys import ImapOptions
from pochta.proto.jmap import MethodError, MethodErrorType, SetError, SetErrorType, SetFailure
from pochta.proto.jmap.settings import (
    FETCH_PROPERTIES,
    SETTINGS_CAPABILITY,
    fetch_id,
    fetch_number_of,
    settings_state,
)
from pochta.proto.jmap.standard import SetOutcome, parse_get, parse_set, require_state
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry
from pochta.server.jmap.settings_rules import shown
from pochta.store.api import NotFound
from pochta.store.fetch_model import FetchAccount
from pochta.store.model import Account

__all__ = ["register_settings_fetch"]

_CREATE = {
    "protocol",
    "host",
    "port",
    "tls",
    "login",
    "password",
    "keep",
    "folder",
    "remoteFolders",
    "mirrorFlags",
}


def _object(account: FetchAccount) -> dict[str, Any]:
    options = ImapOptions.from_json(account.options) if account.protocol == "imap" else None
    return {
        "id": fetch_id(account.id),
        "protocol": account.protocol,
        "host": account.host,
        "port": account.port,
        "tls": account.tls,
        "login": account.login,
        "keep": account.keep,
        "folder": account.folder,
        "remoteFolders": None if options is None else list(options.folders),
        "mirrorFlags": False if options is None else options.mirror_flags,
        "lastRun": account.last_run,
        "lastResult": account.last_result or None,
        "lastError": account.last_error or None,
        "lastFetched": account.last_fetched,
        "totalFetched": account.total_fetched,
        "nextRun": account.next_run,
    }


def _state(accounts: list[FetchAccount]) -> str:
    # The definitions, not the run counters: a run is no change of the settings.
    return settings_state(
        [[a.id, a.protocol, a.host, a.port, a.tls, a.login, a.keep, a.folder, a.options] for a in accounts]
    )


def _invalid(reason: str, *properties: str) -> SetFailure:
    return SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, reason, properties))


def _request(record: dict[str, Any]) -> AccountRequest:
    unknown = sorted(set(record) - _CREATE)
    if unknown:
        raise _invalid(f"unknown or server-set properties: {', '.join(unknown)}", *unknown)
    protocol = record.get("protocol")
    if protocol not in ("pop3", "imap"):
        raise _invalid("protocol is pop3 or imap", "protocol")
    tls = record.get("tls", "implicit")
    if tls not in ("implicit", "starttls", "none"):
        raise _invalid("tls is implicit, starttls or none", "tls")
    strings = {name: record.get(name) for name in ("host", "login", "password")}
    for name, value in strings.items():
        if not isinstance(value, str) or not value:
            raise _invalid(f"{name} is a non-empty string", name)
    port = record.get("port")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536):
        raise _invalid("port is a number from 1 to 65535", "port")
    folders = record.get("remoteFolders")
    if folders is not None and (
        not isinstance(folders, list) or not all(isinstance(f, str) and f for f in folders)
    ):
        raise _invalid("remoteFolders is a list of folder names", "remoteFolders")
    if folders is not None and any("," in f for f in folders):
        raise _invalid("a remote folder name with a comma cannot be fetched", "remoteFolders")
    folder = record.get("folder")
    if folder is not None and not isinstance(folder, str):
        raise _invalid("folder is a folder name or null", "folder")
    keep, mirror = record.get("keep", True), record.get("mirrorFlags", False)
    if not isinstance(keep, bool) or not isinstance(mirror, bool):
        raise _invalid("keep and mirrorFlags are true or false", "keep", "mirrorFlags")
    host = str(strings["host"])
    server = host if port is None else (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return AccountRequest(
        protocol,
        server,
        str(strings["login"]),
        str(strings["password"]),
        tls,
        keep,
        folder,
        False,  # --insecure-plain is the administrator's, never a user's
        None if folders is None else ",".join(folders),
        mirror,
    )


async def _create(context: CallContext, account: Account, record: dict[str, Any]) -> FetchAccount:
    request = _request(record)
    store = store_of(context)
    if request.folder is not None and await store.get_mailbox(account.id, request.folder) is None:
        # As a filter's folder: a typo is refused now, not found at the first run.
        raise _invalid(f"{account.address} has no folder {request.folder!r} (create it first)", "folder")
    data_dir = context.data_dir  # the server secret's directory
    if data_dir is None:
        raise MethodError(MethodErrorType.SERVER_UNAVAILABLE, "no data directory in this process")
    try:
        return await add_external_account(store, account, request, ensure_server_secret(data_dir))
    except InvalidRequest as exc:
        raise _invalid(str(exc)) from None


async def fetch_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_get(arguments, max_objects=context.settings.jmap.max_objects_in_get)
    account = context.account(args.account_id)
    accounts = list(await store_of(context).fetch_accounts(account.account.id))
    objects = {fetch_id(a.id): _object(a) for a in accounts}
    asked = list(objects) if args.ids is None else [context.resolve_id(given) or given for given in args.ids]
    asked = list(dict.fromkeys(asked))
    return {
        "accountId": account.id,
        "state": _state(accounts),
        "list": [shown(objects[given], args, FETCH_PROPERTIES) for given in asked if given in objects],
        "notFound": [given for given in asked if given not in objects],
    }


async def fetch_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_set(arguments, max_objects=context.settings.jmap.max_objects_in_set)
    account = context.writable_account(args.account_id)
    store = store_of(context)
    old_state = _state(list(await store.fetch_accounts(account.account.id)))
    require_state(args.if_in_state, old_state)
    created: dict[str, Any] = {}
    not_created: dict[str, Any] = {}
    for creation_id, record in args.create.items():
        try:
            added = await _create(context, account.account, record)
            created[creation_id] = _object(added)
            context.created(creation_id, fetch_id(added.id))
        except SetFailure as failure:
            not_created[creation_id] = failure.error.to_json()
    not_updated = {
        given: SetError(
            SetErrorType.FORBIDDEN, "an external account is not changed: remove it and add it again"
        ).to_json()
        for given in args.update
    }
    destroyed: list[str] = []
    not_destroyed: dict[str, Any] = {}
    for given in args.destroy:
        real = context.resolve_id(given) or given
        number = fetch_number_of(real)
        try:
            if number is None:
                raise NotFound(real)
            await store.delete_fetch_account(account.account.id, number)
            destroyed.append(real)
        except NotFound:
            not_destroyed[given] = SetError(SetErrorType.NOT_FOUND, f"no FetchAccount {real}").to_json()
    if created or destroyed:
        context.changed(account.id, "FetchAccount")
    return SetOutcome(
        created=created,
        destroyed=destroyed,
        not_created=not_created,
        not_updated=not_updated,
        not_destroyed=not_destroyed,
    ).response(account.id, old_state, _state(list(await store.fetch_accounts(account.account.id))))


async def fetch_run(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """FetchAccount/run {accountId, ids}: fetch now, as ``pochta fetch run`` (one run of an
    account at a time: a run under way answers busy). Each account's report: ``fetched``,
    ``known``, ``result``, ``error``, ``busy``, ``summary``."""
    args = parse_get(arguments, max_objects=context.settings.jmap.max_objects_in_set)
    account = context.writable_account(args.account_id)
    delivery = context.delivery
    if delivery is None:
        raise MethodError(MethodErrorType.SERVER_UNAVAILABLE, "no delivery in this process")
    accounts = {fetch_id(a.id): a for a in await store_of(context).fetch_accounts(account.account.id)}
    asked = list(accounts) if args.ids is None else [context.resolve_id(given) or given for given in args.ids]
    fetcher = Fetcher(delivery, delivery.data_dir, ensure_server_secret(delivery.data_dir))
    ran: dict[str, Any] = {}
    for given in dict.fromkeys(asked):
        if given in accounts:
            report = await fetcher.run(accounts[given])
            ran[given] = {
                "fetched": report.fetched,
                "known": report.known,  # fetched before (a run of the scheduler, say)
                "result": report.result,
                "error": None if report.error is None else report.error.message,
                "busy": report.busy,
                "summary": report.summary(),
            }
    return {
        "accountId": account.id,
        "ran": ran,
        "notFound": [given for given in asked if given not in accounts],
    }


def register_settings_fetch(registry: MethodRegistry) -> None:
    registry.register("FetchAccount/get", SETTINGS_CAPABILITY, fetch_get)
    registry.register("FetchAccount/set", SETTINGS_CAPABILITY, fetch_set)
    registry.register("FetchAccount/run", SETTINGS_CAPABILITY, fetch_run)
