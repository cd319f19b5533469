"""`pochta quota show|set USER|DOMAIN`: the quota roots of RFC 9208 (docs/imap.md "QUOTA").

An account's root limits its own mailboxes; a domain's root limits the sum over its accounts. Each
has a storage limit (octets: 500M, 2G) and a message limit, ``none`` for unlimited. The same limits
are what IMAP GETQUOTA shows and SETQUOTA (administrators) changes; ``pochta user set --quota`` /
``--messages`` set an account's too.
"""

from __future__ import annotations

import click

from pochta.cli.common import CommandFailed, data_option, format_size, parse_size, print_table, with_store
from pochta.config import Settings
from pochta.naming import normalize_address, normalize_domain
from pochta.store.api import UNSET, NotFound, Store, _Unset
from pochta.store.model import QuotaLimits, QuotaUsage


def parse_count(text: str) -> int | None:
    """A message limit: a whole number, or `none`/`unlimited` (None)."""
    value = text.strip().lower()
    if value in ("none", "unlimited"):
        return None
    if not value.isdigit():
        raise click.BadParameter(f"expected a number of messages or 'none', got {text!r}")
    return int(value)


def _count(value: int | None) -> str:
    return "unlimited" if value is None else str(value)


def quota_rows(root: str, limits: QuotaLimits, used: QuotaUsage) -> list[list[str]]:
    return [
        [root, "storage", format_size(used.bytes) if used.bytes else "0", format_size(limits.bytes)],
        [root, "messages", str(used.messages), _count(limits.messages)],
    ]


@click.group()
def quota() -> None:
    """Quota roots: an account's or a domain's storage and message limits, and their usage."""


@quota.command("show")
@data_option
@click.argument("target", metavar="USER|DOMAIN")
@with_store
async def quota_show(store: Store, settings: Settings, target: str) -> None:
    """Limits and usage of an account (with its domain's) or of a domain."""
    if "@" in target:
        account = await store.get_account(normalize_address(target))
        found = None if account is None else await store.account_quota(account.id)
        if account is None or found is None:
            raise NotFound(f"no such account: {target}")
        rows = quota_rows(account.address, found.account_limits, found.account_used)
        rows += quota_rows(found.domain, found.domain_limits, found.domain_used)
    else:
        name = normalize_domain(target)
        domain = await store.domain_quota(name)
        if domain is None:
            raise NotFound(f"no such domain: {target}")
        rows = quota_rows(name, *domain)
    print_table(["ROOT", "RESOURCE", "USED", "LIMIT"], rows)


@quota.command("set")
@data_option
@click.argument("target", metavar="USER|DOMAIN")
@click.option("--storage", help="Storage limit: 500M, 2G, none.")
@click.option("--messages", help="Message limit: a number, or none.")
@with_store
async def quota_set(
    store: Store, settings: Settings, target: str, storage: str | None, messages: str | None
) -> None:
    """Set an account's or a domain's limits (those not given stay as they are)."""
    if storage is None and messages is None:
        raise CommandFailed("give --storage, --messages or both")
    octets: int | _Unset | None = UNSET if storage is None else parse_size(storage)
    count: int | _Unset | None = UNSET if messages is None else parse_count(messages)
    if "@" in target:
        account = await store.update_account(
            normalize_address(target), quota_bytes=octets, quota_messages=count
        )
        click.echo(
            f"{account.address}: storage {format_size(account.quota_bytes)}, "
            f"messages {_count(account.quota_messages)}"
        )
    else:
        domain = await store.set_domain_quota(
            normalize_domain(target), quota_bytes=octets, quota_messages=count
        )
        click.echo(
            f"{domain.name}: storage {format_size(domain.quota_bytes)}, "
            f"messages {_count(domain.quota_messages)}"
        )


def register_quota_commands(group: click.Group) -> None:
    group.add_command(quota)
