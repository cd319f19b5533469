"""`pochta sieve put|get|list|activate|deactivate|check|delete|rename`: an account's Sieve scripts
for administrators (docs/managesieve.md), through the same service as ManageSieve
(``pochta.mail.sieve_scripts``: the name rules, the compile check, the quota); and `pochta sieve
errors USER`: the scripts of USER that failed at delivery (docs/sieve.md "At delivery"). Each such
message went to INBOX instead; the error is kept (the newest 100 per account, pruned by the
housekeeper after ``sieve.error_days``) and logged with the account."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from pochta.cli.common import CommandFailed, data_option, print_table, with_store
from pochta.config import Settings
from pochta.mail.sieve_scripts import ScriptRefused, SieveScripts, decode_source
from pochta.naming import normalize_address
from pochta.store.api import NotFound, Store
from pochta.store.model import Account


async def _account(store: Store, user: str) -> Account:
    account = await store.get_account(normalize_address(user))
    if account is None:
        raise NotFound(f"no such account: {user}")
    return account


def _refused(exc: ScriptRefused) -> CommandFailed:
    return CommandFailed(exc.message if exc.code is None else f"{exc.message} ({exc.code})")


def _read_source(file: str) -> str:
    """FILE or - (standard input), as UTF-8."""
    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise CommandFailed(f"cannot read {file}: {exc.strerror}") from None
    return decode_source(data)


@click.group()
def sieve() -> None:
    """Sieve scripts of an account (the ones ManageSieve manages; docs/managesieve.md), and their
    errors at delivery."""


@sieve.command("list")
@data_option
@click.argument("user")
@with_store
async def sieve_list(store: Store, settings: Settings, user: str) -> None:
    """USER's scripts: name, size, whether active, last change."""
    account = await _account(store, user)
    rows = [
        [
            info.name,
            str(info.size),
            "yes" if info.active else "",
            datetime.fromtimestamp(info.updated, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        ]
        for info in await SieveScripts(store, settings.sieve).list(account.id)
    ]
    print_table(["NAME", "SIZE", "ACTIVE", "UPDATED (UTC)"], rows)


@sieve.command("put")
@data_option
@click.argument("user")
@click.argument("name")
@click.argument("file", default="-")
@click.option("--activate", is_flag=True, help="Make it the active script too.")
@with_store
async def sieve_put(
    store: Store, settings: Settings, user: str, name: str, file: str, activate: bool
) -> None:
    """Store FILE (- for standard input) as USER's script NAME, after checking that it compiles."""
    account = await _account(store, user)
    scripts = SieveScripts(store, settings.sieve)
    try:
        await scripts.put(account.id, name, _read_source(file))
        if activate:
            await scripts.activate(account.id, name)
    except ScriptRefused as exc:
        raise _refused(exc) from None
    click.echo(f"{account.address}: script {name!r} stored" + (" and active" if activate else ""))


@sieve.command("get")
@data_option
@click.argument("user")
@click.argument("name", required=False)
@with_store
async def sieve_get(store: Store, settings: Settings, user: str, name: str | None) -> None:
    """Print USER's script NAME (default: the active one)."""
    account = await _account(store, user)
    scripts = SieveScripts(store, settings.sieve)
    try:
        script = await scripts.get(account.id, name) if name else await scripts.active(account.id)
    except ScriptRefused as exc:
        raise _refused(exc) from None
    if script is None:
        raise CommandFailed(f"{account.address} has no active script")
    click.echo(script.source, nl=False)


@sieve.command("check")
@data_option
@click.argument("user")
@click.argument("file", default="-")
@with_store
async def sieve_check(store: Store, settings: Settings, user: str, file: str) -> None:
    """Check that FILE (- for standard input) compiles, as ManageSieve CHECKSCRIPT; stores nothing."""
    await _account(store, user)
    try:
        SieveScripts(store, settings.sieve).check(_read_source(file))
    except ScriptRefused as exc:
        raise _refused(exc) from None
    click.echo("script is valid")


@sieve.command("activate")
@data_option
@click.argument("user")
@click.argument("name")
@with_store
async def sieve_activate(store: Store, settings: Settings, user: str, name: str) -> None:
    """Make NAME USER's active script (the one delivery runs)."""
    account = await _account(store, user)
    try:
        await SieveScripts(store, settings.sieve).activate(account.id, name)
    except ScriptRefused as exc:
        raise _refused(exc) from None
    click.echo(f"{account.address}: script {name!r} is active")


@sieve.command("deactivate")
@data_option
@click.argument("user")
@with_store
async def sieve_deactivate(store: Store, settings: Settings, user: str) -> None:
    """Leave USER with no active script (mail goes to INBOX)."""
    account = await _account(store, user)
    await SieveScripts(store, settings.sieve).activate(account.id, None)
    click.echo(f"{account.address}: no script is active")


@sieve.command("delete")
@data_option
@click.argument("user")
@click.argument("name")
@with_store
async def sieve_delete(store: Store, settings: Settings, user: str, name: str) -> None:
    """Delete USER's script NAME (not the active one: deactivate it first)."""
    account = await _account(store, user)
    try:
        await SieveScripts(store, settings.sieve).delete(account.id, name)
    except ScriptRefused as exc:
        raise _refused(exc) from None
    click.echo(f"{account.address}: script {name!r} deleted")


@sieve.command("rename")
@data_option
@click.argument("user")
@click.argument("name")
@click.argument("new_name")
@with_store
async def sieve_rename(store: Store, settings: Settings, user: str, name: str, new_name: str) -> None:
    """Rename USER's script NAME to NEW_NAME (an active script stays active)."""
    account = await _account(store, user)
    try:
        await SieveScripts(store, settings.sieve).rename(account.id, name, new_name)
    except ScriptRefused as exc:
        raise _refused(exc) from None
    click.echo(f"{account.address}: script {name!r} renamed to {new_name!r}")


@sieve.command("errors")
@data_option
@click.argument("user")
@with_store
async def sieve_errors(store: Store, settings: Settings, user: str) -> None:
    """The errors of USER's scripts, oldest first: at delivery (the messages went to INBOX) and on
    IMAP events (script imap:NAME; the messages were left as they were)."""
    del settings
    account = await _account(store, user)
    rows = [
        [datetime.fromtimestamp(error.at, UTC).strftime("%Y-%m-%d %H:%M:%S"), error.script, error.error]
        for error in await store.sieve_errors(account.id)
    ]
    print_table(["WHEN (UTC)", "SCRIPT", "ERROR"], rows)


def register_sieve_commands(group: click.Group) -> None:
    group.add_command(sieve)
