"""`pochta acl list|set|delete`: the access control lists of RFC 4314 (docs/imap.md "ACL").

A mailbox is named by its owner and its name in the owner's account (``INBOX``, ``Projects/2026``);
a public mailbox (docs/imap.md "Shared mailboxes") by its domain and ``Shared/NAME``.
Identifiers are ``anyone`` or an account address, ``-`` before either for a negative entry. Rights
are the letters ``lrswipkxtea`` (``c`` and ``d`` stand for ``kx`` and ``et``), with ``+``/``-`` to
add or remove as IMAP SETACL does; the owner holds every right, always (a public mailbox has no
owner: only its entries). The same rules and the same store as IMAP SETACL/GETACL
(``pochta.mail.acl``, ``pochta.mail.access``).
"""

from __future__ import annotations

import click

from pochta.cli.common import CommandFailed, data_option, print_table, with_store
from pochta.cli.shared import public_local_name, shared_owner
from pochta.config import Settings
from pochta.mail import acl as rights_model
from pochta.mail.access import is_public_name, public_name
from pochta.mail.errors import OpsError
from pochta.mail.ops import MailOps
from pochta.naming import normalize_address, normalize_domain
from pochta.store.api import NotFound, Store
from pochta.store.model import Account, MailboxInfo


async def _owner(store: Store, user: str, name: str | None) -> tuple[Account, str | None]:
    """The account USER names, and MAILBOX's name there: for ``Shared/NAME`` (or no MAILBOX and a
    USER without "@"), USER is a domain and the account its hidden owner of public mailboxes."""
    public = name is not None and is_public_name(name)
    if public or "@" not in user:
        if name is not None and not public:
            raise click.BadParameter("a domain's mailboxes are its public ones, Shared/NAME")
        owner = await shared_owner(store, user)
        if owner is None:
            raise NotFound(f"no public mailbox {name or 'Shared/*'!r} in {normalize_domain(user)}")
        return owner, None if name is None else public_local_name(name)
    account = await store.get_account(normalize_address(user))
    if account is None or not account.is_user:
        raise NotFound(f"no such account: {user}")
    return account, name


async def _mailbox(
    store: Store, settings: Settings, user: str, name: str
) -> tuple[Account, MailboxInfo, MailOps]:
    account, local = await _owner(store, user, name)
    ops = MailOps.from_settings(store, settings)
    try:
        return account, await ops.lookup(account.id, local or ""), ops
    except OpsError:
        raise NotFound(f"no mailbox {name!r} in {_shown_owner(account)}") from None


def _shown_owner(account: Account) -> str:
    return account.address if account.is_user else account.domain_name


def _shown(account: Account, info: MailboxInfo) -> str:
    return info.name if account.is_user else public_name(info.name)


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
    """The ACL of one mailbox of USER, or of each of USER's mailboxes that has entries (USER is a
    domain for its public mailboxes, MAILBOX then Shared/NAME)."""
    account, _ = await _owner(store, user, mailbox)
    ops = MailOps.from_settings(store, settings)
    if mailbox is not None:
        boxes = [(await _mailbox(store, settings, user, mailbox))[1]]
    else:
        boxes = [info for info in await store.mailboxes(account.id) if await store.mailbox_acl(info.id)]
    owner = account.address if account.is_user else None  # a public mailbox: no owner's entry
    rows = [
        [_shown(account, info), who, rights]
        for info in boxes
        for who, rights in await ops.access.entries(info.id, owner)
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
    """Grant IDENTIFIER the RIGHTS on USER's MAILBOX (+RIGHTS adds, -RIGHTS removes, as SETACL); for
    a public mailbox USER is its domain and MAILBOX Shared/NAME."""
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
    click.echo(f"{_shown_owner(account)} {_shown(account, info)}: {key} {shown}")


@acl.command("delete")
@data_option
@click.argument("user")
@click.argument("mailbox")
@click.argument("identifier")
@with_store
async def acl_delete(store: Store, settings: Settings, user: str, mailbox: str, identifier: str) -> None:
    """Remove IDENTIFIER's entry from the ACL of USER's MAILBOX (DOMAIN and Shared/NAME for a
    public mailbox)."""
    key = _identifier(identifier)
    account, info, ops = await _mailbox(store, settings, user, mailbox)
    try:
        await ops.access.delete(info.id, account.address, key)
    except OpsError as exc:
        raise CommandFailed(exc.message) from None
    click.echo(f"{_shown_owner(account)} {_shown(account, info)}: {key} removed")


def register_acl_commands(group: click.Group) -> None:
    group.add_command(acl)
