"""Organisational units: `pochta unit add|set|list|del` (docs/units.md), and the settings
arguments and effective-value table `pochta user set|show` share."""

from __future__ import annotations

from collections.abc import Iterable

import click

from pochta.admin import units as admin_units
from pochta.cli.common import CommandFailed, data_option, print_table, with_store
from pochta.config import Settings
from pochta.store.account_settings import (
    KEYS,
    POP3_DELETE_ACTION,
    POP3_LOGIN_DELAY,
    POP3_MODE,
    QUOTA_BYTES,
    QUOTA_MESSAGES,
    ROOT_UNIT,
    SettingKey,
    known_key,
    parse_value,
    shown_value,
)
from pochta.store.api import Store
from pochta.store.model import Account, Unit


def parse_assignments(
    assignments: Iterable[str], unsets: Iterable[str], *, unit: bool
) -> dict[str, object | None]:
    """``key=value`` and ``key`` (to unset) arguments, checked against the known keys; a value
    "default" unsets too. CommandFailed says what is wrong, before anything is written."""
    values: dict[str, object | None] = {}
    try:
        for item in assignments:
            name, sep, text = item.partition("=")
            if not sep:
                raise CommandFailed(f"expected KEY=VALUE, got {item!r} (to remove a value: --unset KEY)")
            name = name.strip()
            values[name] = None if text == "default" else parse_value(name, text.strip(), unit=unit)
        for name in unsets:
            known_key(name, unit=unit)
            values[name] = None
    except ValueError as exc:
        raise CommandFailed(str(exc)) from None
    return values


def config_default(key: SettingKey[object], settings: Settings) -> object | None:
    """The server's own value of a key when neither the account nor a unit sets it."""
    if key.name == POP3_MODE.name:
        return settings.pop3.mode
    if key.name == POP3_DELETE_ACTION.name:
        return settings.pop3.delete_action
    if key.name == POP3_LOGIN_DELAY.name:
        return settings.pop3.login_delay
    if key.name.startswith("send."):  # send.messages_per_hour -> [limits] send_messages_per_hour
        value: object = getattr(settings.limits, "send_" + key.name.removeprefix("send."))
        return value
    return key.default


def own_quota(account: Account, key: SettingKey[object]) -> int | None:
    """The account's own limit of a quota key (its ``accounts`` column, `pochta user set --quota` or
    SETQUOTA): None when it has none and follows its units."""
    if key.name == QUOTA_BYTES.name:
        return account.quota_bytes
    if key.name == QUOTA_MESSAGES.name:
        return account.quota_messages
    return None


def quota_text(account: Account) -> str:
    """The effective storage and message quota and where each comes from: "2G (own), messages
    10000 (unit staff)"; a resource nobody limits is "unlimited" (docs/units.md)."""
    parts = []
    for key in (QUOTA_BYTES, QUOTA_MESSAGES):
        own = own_quota(account, key)  # type: ignore[arg-type]
        found = account.settings.find(key)
        if own is not None:
            text = f"{shown_value(key.name, own)} (own)"
        elif found is not None:
            text = f"{shown_value(key.name, found.value)} (unit {found.source})"
        else:
            text = "unlimited"
        parts.append(text if key is QUOTA_BYTES else f"messages {text}")
    return ", ".join(parts)


def effective_rows(account: Account, settings: Settings) -> list[list[str]]:
    """(key, effective value, where it comes from) for every known key."""
    rows = []
    for name, key in sorted(KEYS.items()):
        own = own_quota(account, key)
        if own is not None:  # the account's own quota is a column, and wins over its units'
            rows.append([name, shown_value(name, own), "account"])
            continue
        found = account.settings.find(key)
        if found is not None:
            source = "account" if found.source == "account" else f"unit {found.source}"
            rows.append([name, shown_value(name, found.value), source])
            continue
        default = config_default(key, settings)
        rows.append([name, "none" if default is None else shown_value(name, default), "default"])
    return rows


def _settings_text(unit: Unit) -> str:
    return ", ".join(f"{name}={shown_value(name, value)}" for name, value in sorted(unit.settings.items()))


@click.group()
def unit() -> None:
    """Organisational units: accounts belong to one; settings set on a unit apply to every account
    below it that does not set its own (docs/units.md)."""


@unit.command("add")
@data_option
@click.argument("name")
@click.option("--parent", help=f"The unit to nest it under (default: {ROOT_UNIT}).")
@with_store
async def unit_add(store: Store, settings: Settings, name: str, parent: str | None) -> None:
    """Add a unit."""
    created = await admin_units.add_unit(store, name, parent)
    click.echo(f"added unit {created.name} under {created.parent}")


@unit.command("set")
@data_option
@click.argument("name")
@click.argument("assignments", nargs=-1, metavar="KEY=VALUE...")
@click.option("--unset", "unsets", multiple=True, metavar="KEY", help="Remove the unit's own value.")
@click.option("--parent", help="Move the unit under this one.")
@with_store
async def unit_set(
    store: Store,
    settings: Settings,
    name: str,
    assignments: tuple[str, ...],
    unsets: tuple[str, ...],
    parent: str | None,
) -> None:
    """Set a unit's settings (e.g. pop3.enabled=off, pop3.login_delay=900), remove them (--unset
    KEY, or KEY=default), or move it (--parent)."""
    values = parse_assignments(assignments, unsets, unit=True)
    current = await admin_units.update_unit(store, name, parent=parent, settings=values)
    click.echo(f"{current.name}: {_settings_text(current) or 'no settings of its own'}")


@unit.command("list")
@data_option
@with_store
async def unit_list(store: Store, settings: Settings) -> None:
    """The units as a tree, with their accounts and their own settings."""
    units = await admin_units.list_units(store)
    depth: dict[str, int] = {}
    rows = []
    for item in units:
        depth[item.name] = 0 if item.parent is None else depth.get(item.parent, 0) + 1
        rows.append(["  " * depth[item.name] + item.name, str(item.accounts), _settings_text(item) or "-"])
    print_table(["UNIT", "ACCOUNTS", "SETTINGS"], rows)


@unit.command("del")
@data_option
@click.argument("name")
@with_store
async def unit_del(store: Store, settings: Settings, name: str) -> None:
    """Delete a unit with no accounts and no units under it."""
    await admin_units.delete_unit(store, name)
    click.echo(f"deleted unit {name}")


@unit.command("keys")
def unit_keys() -> None:
    """The settings keys, and whether a unit may set them."""
    print_table(
        ["KEY", "UNIT", "MEANING"],
        [[name, "yes" if key.unit else "no", key.description] for name, key in sorted(KEYS.items())],
    )


def register_unit_commands(group: click.Group) -> None:
    group.add_command(unit)
