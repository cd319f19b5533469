"""Directory administration: `pochta domain|user|alias|app-password ...`."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import click

from pochta.admin import accounts as admin_accounts
from pochta.admin import aliases as admin_aliases
from pochta.admin import app_passwords as admin_app_passwords
from pochta.admin import domains as admin_domains
from pochta.bootstrap import ensure_server_secret
from pochta.cli.common import (
    CommandFailed,
    data_option,
    format_size,
    parse_size,
    print_table,
    read_secret_stdin,
    with_store,
    with_store_and_data_dir,
)
from pochta.cli.quota import parse_count
from pochta.cli.send_limits import (
    apply_send_limits,
    limits_text,
    send_limit_options,
    send_limit_rows,
)
from pochta.cli.unit import effective_rows, parse_assignments, quota_text
from pochta.config import Settings
from pochta.delivery.send_limits import account_send_limits
from pochta.naming import normalize_address
from pochta.store.account_settings import (
    POP3_APOP_SECRET,
    POP3_DELETE_ACTION,
    POP3_LOGIN_DELAY,
    POP3_MODE,
    SettingKey,
    shown_value,
)
from pochta.store.api import UNSET, Store
from pochta.store.model import (
    SWITCHABLE_PROTOCOLS,
    Account,
    ProtocolSwitches,
)
from pochta.store.send_limit_model import SendLimits

T = TypeVar("T")


def _switches_text(switches: ProtocolSwitches) -> str:
    return ",".join(p for p in SWITCHABLE_PROTOCOLS if switches.allows(p)) or "-"


def _account_protocols(account: Account) -> str:
    """The protocols the account may use by its effective switches (its own, else its unit's)."""
    return ",".join(p for p in SWITCHABLE_PROTOCOLS if account.settings.allows(p)) or "-"


def _own_or_inherited(account: Account, key: SettingKey[T]) -> str:
    """A setting as `user set` reports it: the account's value, a unit's (named), or "default"."""
    found = account.settings.find(key)
    if found is None:
        return "default"
    text = shown_value(key.name, found.value)
    return text if found.source == "account" else f"{text} (unit {found.source})"


def _protocol_options(func: click.decorators.FC) -> click.decorators.FC:
    """--imap/--no-imap, --pop3/--no-pop3, --submission/--no-submission (unset: unchanged)."""
    for protocol in reversed(SWITCHABLE_PROTOCOLS):
        func = click.option(
            f"--{protocol}/--no-{protocol}", default=None, help=f"Allow or forbid {protocol}."
        )(func)
    return func


# ---------------------------------------------------------------- domains
@click.group()
def domain() -> None:
    """Mail domains this server accepts mail for."""


@domain.command("add")
@data_option
@click.argument("name")
@with_store
async def domain_add(store: Store, settings: Settings, name: str) -> None:
    """Add a local domain, with its DKIM keys (`pochta dkim list NAME --records` prints their DNS
    records)."""
    added = await admin_domains.add_domain(store, settings, name)
    click.echo(f"added domain {added.domain.name}")
    click.echo("publish its DKIM keys: " + ", ".join(added.dkim_records))


@domain.command("list")
@data_option
@with_store
async def domain_list(store: Store, settings: Settings) -> None:
    """List domains with their protocol switches and account counts."""
    rows = [
        [item.name, str(item.accounts), _switches_text(item.domain.protocols)]
        for item in await admin_domains.list_domains(store)
    ]
    print_table(["DOMAIN", "ACCOUNTS", "PROTOCOLS"], rows)


@domain.command("del")
@data_option
@click.argument("name")
@with_store
async def domain_del(store: Store, settings: Settings, name: str) -> None:
    """Delete a domain that has no accounts or aliases left."""
    click.echo(f"deleted domain {await admin_domains.delete_domain(store, name)}")


@domain.command("set")
@data_option
@click.argument("name")
@_protocol_options
@send_limit_options
@with_store
async def domain_set(
    store: Store,
    settings: Settings,
    name: str,
    imap: bool | None,
    pop3: bool | None,
    submission: bool | None,
    send_limit: tuple[str, ...],
    send_rcpt_limit: tuple[str, ...],
) -> None:
    """Switch protocols on or off for every account of a domain; set the domain's sending limits
    (all its accounts together)."""
    updated = await admin_domains.set_domain_protocols(
        store, name, {"imap": imap, "pop3": pop3, "submission": submission}
    )
    click.echo(f"{updated.name}: {_switches_text(updated.protocols)}")
    limits = await apply_send_limits(store, "domain", updated.name, send_limit, send_rcpt_limit)
    if limits is not None:
        click.echo(f"{updated.name}: sending limits {limits_text(limits.over(SendLimits()))}")


# ---------------------------------------------------------------- users
@click.group()
def user() -> None:
    """Accounts: add, list, passwd, set, del."""


@user.command("add")
@data_option
@click.argument("address")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--quota", "quota", default="none", show_default=True, help="Storage quota: 500M, 2G, none.")
@with_store
async def user_add(store: Store, settings: Settings, address: str, password_stdin: bool, quota: str) -> None:
    """Add an account; without --password-stdin a password is generated and printed once."""
    normalized = normalize_address(address)  # a bad address fails before the password is read
    quota_bytes = parse_size(quota)
    password = read_secret_stdin("password") if password_stdin else None
    added = await admin_accounts.add_account(store, normalized, password, quota_bytes)
    click.echo(f"added {added.account.address}")
    if added.generated is not None:
        click.echo(f"password: {added.generated}")


@user.command("list")
@data_option
@click.option("--domain", "domain_name", help="Only this domain.")
@with_store
async def user_list(store: Store, settings: Settings, domain_name: str | None) -> None:
    """List accounts with their quota (storage and messages), usage and protocol switches."""
    rows = []
    # A domain's hidden owner of public mailboxes is not listed: ``pochta shared list``.
    for view in await admin_accounts.list_accounts(store, domain_name):
        account, limits, used = view.account, view.limits, view.used
        # The effective limits: the account's own, else its unit's (`pochta user show` says which).
        rows.append(
            [
                account.address + (" (admin)" if account.admin else ""),
                format_size(limits.bytes),
                str(used.bytes),
                "unlimited" if limits.messages is None else str(limits.messages),
                str(used.messages),
                _account_protocols(account),
                account.settings.unit,
                "yes" if account.enabled else "no",
            ]
        )
    print_table(["ADDRESS", "QUOTA", "USED", "MESSAGES", "STORED", "PROTOCOLS", "UNIT", "ENABLED"], rows)


@user.command("passwd")
@data_option
@click.argument("address")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@with_store
async def user_passwd(store: Store, settings: Settings, address: str, password_stdin: bool) -> None:
    """Set a new password (generated and printed unless --password-stdin)."""
    normalized = normalize_address(address)  # a bad address fails before the password is read
    password = read_secret_stdin("password") if password_stdin else None
    changed = await admin_accounts.set_password(store, normalized, password)
    click.echo(f"password changed for {changed.account.address}")
    if changed.generated is not None:
        click.echo(f"password: {changed.generated}")


@user.command("set")
@data_option
@click.argument("address")
@click.option("--quota", help="Storage quota: 500M, 2G, none.")
@click.option("--messages", help="Message quota: a number, or none.")
@click.option(
    "--admin/--no-admin",
    default=None,
    help="Administrator: may set quotas over IMAP (SETQUOTA) and read any quota root.",
)
@_protocol_options
@click.option("--enable/--disable", "enabled", default=None, help="Allow or refuse all logins.")
@click.option("--apop-secret-stdin", is_flag=True, help="Read a POP3 APOP shared secret from standard input.")
@click.option("--no-apop", is_flag=True, help="Remove the APOP secret.")
@click.option(
    "--pop-mode",
    type=click.Choice(["all", "since-enabled", "default"]),
    help="POP3 serves all mail, or only mail since POP3 was enabled; 'default' follows [pop3] mode.",
)
@click.option(
    "--pop-delete-action",
    type=click.Choice(["delete", "seen", "archive", "trash", "default"]),
    help="What POP3 DELE + QUIT does: delete, mark seen and keep, move to Archive or Trash; "
    "'default' follows [pop3] delete_action.",
)
@click.option(
    "--pop-login-delay",
    metavar="SECONDS|default",
    help="Least seconds between POP3 logins (RFC 2449 LOGIN-DELAY), 0 for none; 'default' follows "
    "[pop3] login_delay.",
)
@click.option("--unit", "unit", help="Move the account into this organisational unit (docs/units.md).")
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set one of the account's own settings (`pochta unit keys` lists them; VALUE 'default' removes it).",
)
@click.option(
    "--unset", "unsets", multiple=True, metavar="KEY", help="Remove one of the account's own settings."
)
@send_limit_options
@with_store
async def user_set(
    store: Store,
    settings: Settings,
    address: str,
    quota: str | None,
    messages: str | None,
    admin: bool | None,
    imap: bool | None,
    pop3: bool | None,
    submission: bool | None,
    enabled: bool | None,
    apop_secret_stdin: bool,
    no_apop: bool,
    pop_mode: str | None,
    pop_delete_action: str | None,
    pop_login_delay: str | None,
    unit: str | None,
    assignments: tuple[str, ...],
    unsets: tuple[str, ...],
    send_limit: tuple[str, ...],
    send_rcpt_limit: tuple[str, ...],
) -> None:
    """Change an account's quota, admin flag, protocol switches, state, APOP secret, POP3 policy,
    unit, other settings or sending limits."""
    await admin_accounts.get_account(store, address)  # "no such account" before reading stdin
    if apop_secret_stdin and no_apop:
        raise CommandFailed("--apop-secret-stdin and --no-apop exclude each other")
    # The POP3 options are spellings of settings keys (docs/units.md): all of them go to the
    # settings store together, after --set and --unset.
    values = parse_assignments(assignments, unsets, unit=False)
    if apop_secret_stdin:
        values[POP3_APOP_SECRET.name] = read_secret_stdin("APOP secret")
    elif no_apop:
        values[POP3_APOP_SECRET.name] = None
    for name, choice in ((POP3_MODE.name, pop_mode), (POP3_DELETE_ACTION.name, pop_delete_action)):
        if choice is not None:
            values[name] = None if choice == "default" else choice
    if pop_login_delay == "default":
        values[POP3_LOGIN_DELAY.name] = None
    elif pop_login_delay is not None:
        if not pop_login_delay.isdigit():
            raise CommandFailed("--pop-login-delay takes a number of seconds or 'default'")
        values[POP3_LOGIN_DELAY.name] = int(pop_login_delay)
    changes = admin_accounts.AccountChanges(
        quota_bytes=UNSET if quota is None else parse_size(quota),
        quota_messages=UNSET if messages is None else parse_count(messages),
        admin=UNSET if admin is None else admin,
        enabled=UNSET if enabled is None else enabled,
        unit=unit,
        protocols={"imap": imap, "pop3": pop3, "submission": submission},
        settings=values,
    )
    updated = await admin_accounts.update_account(store, address, changes)
    click.echo(
        f"{updated.address}: quota {quota_text(updated)}, "
        f"{'admin, ' if updated.admin else ''}"
        f"unit {updated.settings.unit}, "
        f"protocols {_account_protocols(updated)}, {'enabled' if updated.enabled else 'disabled'}, "
        f"apop {'set' if updated.settings.optional(POP3_APOP_SECRET) else 'off'}, "
        f"pop3 mode {_own_or_inherited(updated, POP3_MODE)}, "
        f"delete action {_own_or_inherited(updated, POP3_DELETE_ACTION)}, "
        f"login delay {_own_or_inherited(updated, POP3_LOGIN_DELAY)}"
    )
    address_key = updated.address.lower()
    limits = await apply_send_limits(store, "account", address_key, send_limit, send_rcpt_limit)
    if limits is not None:
        click.echo(
            f"{updated.address}: sending limits {limits_text(limits.over(account_send_limits(settings)))}"
        )


@user.command("show")
@data_option
@click.argument("address")
@with_store
async def user_show(store: Store, settings: Settings, address: str) -> None:
    """An account's effective settings (and where each comes from: the account, a unit, the
    default), its sending limits and what it (and its domain) sent this hour and today."""
    account = (await admin_accounts.get_account(store, address)).account
    click.echo(
        f"{account.address}: {'enabled' if account.enabled else 'disabled'}, unit {account.settings.unit}, "
        f"protocols {_account_protocols(account)}, quota {quota_text(account)}"
    )
    print_table(["setting", "value", "from"], effective_rows(account, settings))
    rows = await send_limit_rows(store, settings, "account", account.address.lower())
    rows += await send_limit_rows(store, settings, "domain", account.address.rpartition("@")[2].lower())
    print_table(["sending", "window", "messages", "recipients", "limits"], rows)


@user.command("del")
@data_option
@click.argument("address")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_store
async def user_del(store: Store, settings: Settings, address: str, yes: bool) -> None:
    """Delete an account and all its mail."""
    normalized = normalize_address(address)
    if not yes and not click.confirm(f"delete {normalized} and all its mail?", default=False):
        raise CommandFailed("not deleted")
    click.echo(f"deleted {await admin_accounts.delete_account(store, normalized)}")


# ---------------------------------------------------------------- aliases
@click.group()
def alias() -> None:
    """Aliases: ALIAS -> TARGET...; a catch-all is @domain."""


@alias.command("add")
@data_option
@click.argument("source")
@click.argument("targets", nargs=-1, required=True)
@click.option(
    "--force",
    is_flag=True,
    help="Accept a target in one of our domains that nothing receives (yet): no account, alias or catch-all.",
)
@with_store
async def alias_add(
    store: Store, settings: Settings, source: str, targets: tuple[str, ...], force: bool
) -> None:
    """Add an alias (or more targets to an existing one).

    A target in one of this server's domains must receive mail (an enabled account, an alias or a
    catch-all), else nothing is changed, unless --force. Targets in other domains are forwarded.
    """
    created = await admin_aliases.add_alias(store, settings, source, targets, force=force)
    click.echo(f"{created.source} -> {', '.join(created.targets)}")


@alias.command("list")
@data_option
@click.option("--domain", "domain_name", help="Only this domain.")
@with_store
async def alias_list(store: Store, settings: Settings, domain_name: str | None) -> None:
    """List aliases."""
    aliases = await admin_aliases.list_aliases(store, domain_name)
    print_table(["ALIAS", "TARGETS"], [[a.source, ", ".join(a.targets)] for a in aliases])


@alias.command("del")
@data_option
@click.argument("source")
@click.argument("targets", nargs=-1)
@with_store
async def alias_del(store: Store, settings: Settings, source: str, targets: tuple[str, ...]) -> None:
    """Delete an alias, or only the given targets of it."""
    normalized = await admin_aliases.delete_alias(store, source, targets or None)
    click.echo(f"deleted {normalized}" + (f" -> {', '.join(targets)}" if targets else ""))


# ---------------------------------------------------------------- app passwords
@click.group("app-password")
def app_password() -> None:
    """Per-device passwords, usable wherever the account password is."""


@app_password.command("add")
@data_option
@click.argument("address")
@click.argument("name")
@with_store_and_data_dir
async def app_password_add(store: Store, settings: Settings, data_dir: Path, address: str, name: str) -> None:
    """Create an app password and print it (shown once)."""
    # The digest a login finds it by is keyed with the server's secret (docs/authentication.md).
    created = await admin_app_passwords.add_app_password(store, ensure_server_secret(data_dir), address, name)
    click.echo(f"app password {created.app_password.name!r} for {created.address}")
    click.echo(f"password: {created.password}")


@app_password.command("list")
@data_option
@click.argument("address")
@with_store
async def app_password_list(store: Store, settings: Settings, address: str) -> None:
    """List an account's app passwords. "re-issue" marks one made before app passwords were found by
    a keyed digest: it no longer logs in (docs/authentication.md)."""
    items = await admin_app_passwords.list_app_passwords(store, address)
    print_table(
        ["NAME", "CREATED", "LAST USED", "STATE"],
        [
            [
                i.name,
                i.created.isoformat(timespec="seconds"),
                i.last_used.isoformat(timespec="seconds") if i.last_used else "never",
                "ok" if i.lookup is not None else "re-issue",
            ]
            for i in items
        ],
    )


@app_password.command("revoke")
@data_option
@click.argument("address")
@click.argument("name")
@with_store
async def app_password_revoke(store: Store, settings: Settings, address: str, name: str) -> None:
    """Revoke an app password."""
    normalized = await admin_app_passwords.revoke_app_password(store, address, name)
    click.echo(f"revoked {name!r} for {normalized}")


def register_admin_commands(group: click.Group) -> None:
    for command in (domain, user, alias, app_password):
        group.add_command(command)
