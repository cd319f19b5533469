"""`pochta dkim list|rotate|activate|retire`: each domain's DKIM keys (docs/deliverability.md
"DKIM"). The rules of keys and rotation are ``pochta.queue.dkim_keys``'s."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import click

from pochta.admin import dkim as admin_dkim
from pochta.cli.common import CommandFailed, data_option, print_table, with_store
from pochta.config import Settings
from pochta.queue import dkim_keys
from pochta.resolver import DnsResolver, LookupFailed
from pochta.store.api import Store
from pochta.store.dkim_model import DkimKey, KeyState

_POLL = 10.0  # seconds between DNS checks of `--wait`


def _day(epoch: int | None) -> str:
    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


def _echo_records(keys: list[DkimKey]) -> None:
    for key in keys:
        click.echo(dkim_keys.zone_lines(key))


@click.group()
def dkim() -> None:
    """DKIM signing keys of the local domains (RFC 6376, RFC 8463)."""


@dkim.command("list")
@data_option
@click.argument("domain", required=False)
@click.option("--records", is_flag=True, help="Print the DNS records (zone file syntax) instead.")
@with_store
async def dkim_list(store: Store, settings: Settings, domain: str | None, records: bool) -> None:
    """The keys of DOMAIN (or of every domain): selector, kind, state, dates."""
    keys = await admin_dkim.list_keys(store, domain)
    if records:
        _echo_records(keys)
        return
    rows = [
        [k.domain, k.selector, k.algorithm, k.state.value, _day(k.created), _day(k.activated)] for k in keys
    ]
    print_table(["DOMAIN", "SELECTOR", "KIND", "STATE", "CREATED", "SIGNING SINCE"], rows)


async def _activate(store: Store, settings: Settings, domain: str, wait: bool, check: bool) -> None:
    # Uncached: with --wait the record is looked for again until it appears.
    lookup = dkim_keys.txt_lookup(DnsResolver.from_settings(settings, cache=False)) if check else None
    deadline = time.monotonic() + (settings.dkim.dns_wait if wait else 0.0)
    while True:
        try:
            activated, missing = await admin_dkim.activate(store, domain, lookup)
        except LookupFailed as exc:
            if time.monotonic() >= deadline:
                raise CommandFailed(f"DNS lookup failed: {exc}; nothing changed") from None
            await asyncio.sleep(min(_POLL, max(deadline - time.monotonic(), 0.1)))
            continue
        if activated:
            for key in activated:
                click.echo(f"{key.selector} ({key.algorithm}) signs mail of {domain} now")
            retiring = [k for k in await store.dkim_keys(domain) if k.state is KeyState.RETIRING]
            if retiring:
                click.echo(
                    "keep the records of the keys it replaced published for a few days, then "
                    f"`pochta dkim retire {domain} SELECTOR`: " + ", ".join(k.selector for k in retiring)
                )
            return
        if time.monotonic() >= deadline:
            names = ", ".join(dkim_keys.dns_name(key) for key in missing)
            raise CommandFailed(f"not published yet (or not matching): {names}; nothing changed")
        await asyncio.sleep(min(_POLL, max(deadline - time.monotonic(), 0.1)))


@dkim.command("rotate")
@data_option
@click.argument("domain")
@click.option(
    "--wait", is_flag=True, help="Wait (dkim.dns_wait) for the records, then sign with the new keys."
)
@with_store
async def dkim_rotate(store: Store, settings: Settings, domain: str, wait: bool) -> None:
    """Make new keys for DOMAIN. They sign only once their DNS records are published: publish the
    records printed, then `pochta dkim activate DOMAIN` (or give --wait)."""
    name = await admin_dkim.local_domain(store, domain)
    keys = await admin_dkim.rotate(store, settings, name)
    click.echo(f"new keys for {name}; publish these records:")
    _echo_records(keys)
    if wait:
        await _activate(store, settings, name, wait=True, check=True)
    else:
        click.echo(f"then: pochta dkim activate {name}")


@dkim.command("activate")
@data_option
@click.argument("domain")
@click.option("--wait", is_flag=True, help="Poll DNS for the records (up to dkim.dns_wait seconds).")
@click.option("--no-check", is_flag=True, help="Do not look the records up in DNS first.")
@with_store
async def dkim_activate(store: Store, settings: Settings, domain: str, wait: bool, no_check: bool) -> None:
    """Sign with DOMAIN's pending keys (once DNS publishes them); the keys they replace retire."""
    await _activate(
        store, settings, await admin_dkim.local_domain(store, domain), wait=wait, check=not no_check
    )


@dkim.command("retire")
@data_option
@click.argument("domain")
@click.argument("selector")
@with_store
async def dkim_retire(store: Store, settings: Settings, domain: str, selector: str) -> None:
    """Forget a key that no longer signs (remove its DNS record too)."""
    found = await admin_dkim.retire(store, domain, selector)
    click.echo(f"retired {selector} of {found.domain}; remove {dkim_keys.dns_name(found)} from DNS")


def register_dkim_commands(group: click.Group) -> None:
    group.add_command(dkim)
