"""`pochta shared create|list|delete`: the public mailboxes of a domain, the IMAP "Shared" namespace
(docs/imap.md "Shared mailboxes").

A public mailbox belongs to no user: it is a mailbox of the domain's hidden owner account (added by
the first ``create``, ``model.SHARED_KIND``), which never logs in and receives no mail by its own
address. Users of the domain see ``Shared/NAME`` once granted rights with ``pochta acl set DOMAIN
Shared/NAME ...``; a new public mailbox has no ACL entry, so nobody sees it until then.
"""

from __future__ import annotations

import click

from pochta.cli.common import CommandFailed, data_option, parse_size, print_table, with_store
from pochta.cli.quota import parse_count, quota_rows
from pochta.config import Settings
from pochta.mail.access import public_name
from pochta.mail.errors import OpsError
from pochta.mail.names import INBOX, SEPARATOR
from pochta.mail.ops import MailOps
from pochta.mail.quota import PUBLIC_ROOT
from pochta.naming import normalize_domain
from pochta.store.api import UNSET, NotFound, Store
from pochta.store.model import Account, shared_owner_address


def public_local_name(name: str) -> str:
    """``Shared/NAME`` or ``NAME`` as the name in the hidden owner's account."""
    return name.removeprefix(public_name(""))


async def shared_owner(store: Store, domain: str) -> Account | None:
    """The domain's hidden owner of public mailboxes, if it has one (NotFound: no such domain)."""
    name = normalize_domain(domain)
    if await store.get_domain(name) is None:
        raise NotFound(f"no domain {name}")
    owner = await store.get_account(shared_owner_address(name))
    return owner if owner is not None and not owner.is_user else None


@click.group()
def shared() -> None:
    """Public mailboxes of a domain, seen by its users as Shared/NAME (IMAP, RFC 2342 §2)."""


@shared.command("create")
@data_option
@click.argument("domain")
@click.argument("name")
@with_store
async def shared_create(store: Store, settings: Settings, domain: str, name: str) -> None:
    """Create the public mailbox NAME (or Shared/NAME) of DOMAIN, with no ACL entry yet."""
    ops = MailOps.from_settings(store, settings)
    local = public_local_name(name)
    if local.split(SEPARATOR, 1)[0].upper() == INBOX:
        # A public mailbox is no one's INBOX (delivery by address never files there either).
        raise CommandFailed("INBOX is no name for a public mailbox")
    owner = await shared_owner(store, domain) or await store.add_shared_owner(normalize_domain(domain))
    try:
        info = await ops.create(owner.id, local)
    except OpsError as exc:
        raise CommandFailed(exc.message) from None
    click.echo(f"created {public_name(info.name)} in {owner.domain_name}")


@shared.command("list")
@data_option
@click.argument("domain", required=False)
@with_store
async def shared_list(store: Store, settings: Settings, domain: str | None) -> None:
    """The public mailboxes of DOMAIN (or of every domain), with their messages and ACL entries."""
    names = [normalize_domain(domain)] if domain else [d.name for d in await store.list_domains()]
    rows = []
    for name in names:
        owner = await shared_owner(store, name)
        if owner is None:
            continue
        for info in await store.mailboxes(owner.id):
            entries = await store.mailbox_acl(info.id)
            text = " ".join(f"{who}={rights}" for who, rights in sorted(entries.items())) or "(none)"
            rows.append([name, public_name(info.name), str(info.messages), text])
    print_table(["DOMAIN", "MAILBOX", "MESSAGES", "ACL"], rows)


@shared.command("delete")
@data_option
@click.argument("domain")
@click.argument("name")
@with_store
async def shared_delete(store: Store, settings: Settings, domain: str, name: str) -> None:
    """Delete the public mailbox NAME (or Shared/NAME) of DOMAIN and its messages."""
    owner = await shared_owner(store, domain)
    local = public_local_name(name)
    if owner is None:
        raise NotFound(f"no public mailbox {public_name(local)} in {normalize_domain(domain)}")
    ops = MailOps.from_settings(store, settings)
    try:
        await ops.delete(owner.id, local)
    except OpsError as exc:
        raise CommandFailed(f"{public_name(local)}: {exc.message}") from None
    click.echo(f"deleted {public_name(local)} in {owner.domain_name}")


@shared.command("quota")
@data_option
@click.argument("domain")
@click.option("--storage", help="Storage limit of the public mailboxes: 500M, 2G, none.")
@click.option("--messages", help="Message limit of the public mailboxes: a number, or none.")
@with_store
async def shared_quota(
    store: Store, settings: Settings, domain: str, storage: str | None, messages: str | None
) -> None:
    """The quota root of DOMAIN's public mailboxes (IMAP's "Shared"): set the limits given, then
    show limits and usage (with the domain's root, which counts them too)."""
    owner = await shared_owner(store, domain)
    if owner is None:
        raise NotFound(f"no public mailbox in {normalize_domain(domain)}")
    if storage is not None or messages is not None:
        await store.update_account(
            owner.address,
            quota_bytes=UNSET if storage is None else parse_size(storage),
            quota_messages=UNSET if messages is None else parse_count(messages),
        )
    found = await store.account_quota(owner.id)
    if found is None:
        raise NotFound(f"no public mailbox in {normalize_domain(domain)}")
    rows = quota_rows(PUBLIC_ROOT, found.account_limits, found.account_used)
    rows += quota_rows(found.domain, found.domain_limits, found.domain_used)
    print_table(["ROOT", "RESOURCE", "USED", "LIMIT"], rows)


def register_shared_commands(group: click.Group) -> None:
    group.add_command(shared)
