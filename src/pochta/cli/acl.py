"""`pochta acl list|set|delete`: the access control lists of RFC 4314 (docs/imap.md "ACL").

A mailbox is named by its owner and its name in the owner's account (``INBOX``, ``Projects/2026``).
Identifiers are ``anyone`` or an account address, ``-`` before either for a negative entry. Rights
are the letters ``lrswipkxtea`` (``c`` and ``d`` stand for ``kx`` and ``et``), with ``+``/``-`` to
add or remove as IMAP SETACL does; the owner holds every right, always. The same rules and the same
store as IMAP SETACL/GETACL (``pochta.mail.acl``, ``pochta.mail.access``).
"""

from __future__ import annotations

import click

from pochta.cli.common import CommandFailed, data_option, print_table, with_store
from pochta.config import Settings
from pochta.mail import acl as rights_model
from pochta.mail.errors import OpsError
from pochta.mail.ops import MailOps
from pochta.naming import normalize_address
from pochta.store.api import NotFound, Store
from pochta.store.model import Account, MailboxInfo


async def _mailbox(
    store: Store, settings: Settings, user: str, name: str
) -> tuple[Account, MailboxInfo, MailOps]:
    account = await store.get_account(normalize_address(user))
    if account is None:
        raise NotFound(f"no such account: {user}")
    ops = MailOps.from_settings(store, settings)
    try:
        return account, await ops.lookup(account.id, name), ops
    except OpsError:
        raise NotFound(f"no mailbox {name!r} in {account.address}") from None


def _identifier(text: str) -> str:
    try:
        return rights_model.identifier_key(text)
    except rights_model.RightsError as exc:
        raise click.BadParameter(str(exc), param_hint="IDENTIFIER") from None


@click.group()
def acl() -> None:
    """Access control lists: who may see and change a user's mailboxes (IMAP ACL, RFC 4314)."""


@acl.command("list")
@data_option
@click.argument("user")
@click.argument("mailbox", required=False)
@with_store
async def acl_list(store: Store, settings: Settings, user: str, mailbox: str | None) -> None:
    """The ACL of one mailbox of USER, or of each of USER's mailboxes that has entries."""
    account = await store.get_account(normalize_address(user))
    if account is None:
        raise NotFound(f"no such account: {user}")
    ops = MailOps.from_settings(store, settings)
    if mailbox is not None:
        boxes = [(await _mailbox(store, settings, user, mailbox))[1]]
    else:
        boxes = [info for info in await store.mailboxes(account.id) if await store.mailbox_acl(info.id)]
    rows = [
        [info.name, who, rights]
        for info in boxes
        for who, rights in await ops.access.entries(info.id, account.address)
    ]
    print_table(["MAILBOX", "IDENTIFIER", "RIGHTS"], rows)


@acl.command("set", context_settings={"ignore_unknown_options": True})  # RIGHTS may be "-lr"
@data_option
@click.argument("user")
@click.argument("mailbox")
@click.argument("identifier")
@click.argument("rights")
@with_store
async def acl_set(
    store: Store, settings: Settings, user: str, mailbox: str, identifier: str, rights: str
) -> None:
    """Grant IDENTIFIER the RIGHTS on USER's MAILBOX (+RIGHTS adds, -RIGHTS removes, as SETACL)."""
    key = _identifier(identifier)
    try:
        op, change = rights_model.parse_change(rights)
    except rights_model.RightsError as exc:
        raise click.BadParameter(str(exc), param_hint="RIGHTS") from None
    account, info, ops = await _mailbox(store, settings, user, mailbox)
    try:
        after = await ops.access.change(info.id, account.address, key, op, change)
    except OpsError as exc:
        raise CommandFailed(exc.message) from None
    shown = rights_model.format_rights(after, legacy=True) or "(no rights: entry removed)"
    click.echo(f"{account.address} {info.name}: {key} {shown}")


@acl.command("delete")
@data_option
@click.argument("user")
@click.argument("mailbox")
@click.argument("identifier")
@with_store
async def acl_delete(store: Store, settings: Settings, user: str, mailbox: str, identifier: str) -> None:
    """Remove IDENTIFIER's entry from the ACL of USER's MAILBOX."""
    key = _identifier(identifier)
    account, info, ops = await _mailbox(store, settings, user, mailbox)
    try:
        await ops.access.delete(info.id, account.address, key)
    except OpsError as exc:
        raise CommandFailed(exc.message) from None
    click.echo(f"{account.address} {info.name}: {key} removed")


def register_acl_commands(group: click.Group) -> None:
    group.add_command(acl)
