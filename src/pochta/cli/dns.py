"""`pochta dns DOMAIN` prints the records to publish for a domain; `pochta dns check DOMAIN` asks
DNS and says what is missing or wrong (docs/dns.md). The list is ``pochta.dns_records``'s."""

from __future__ import annotations

import click

from pochta.admin import dns as admin_dns
from pochta.cli.common import CommandFailed, data_option, print_table, with_store
from pochta.config import Settings
from pochta.dns_records import Verdict
from pochta.store.api import Store

_ADDRESS = click.option(
    "--address",
    "addresses",
    multiple=True,
    metavar="IP",
    help="The mail host's public IP (A/AAAA); repeatable.",
)


class _DomainFirst(click.Group):
    """`pochta dns DOMAIN` is `pochta dns show DOMAIN`: a first argument that names no subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["show", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DomainFirst)
def dns() -> None:
    """DNS records of a local domain: `pochta dns DOMAIN` prints them, `pochta dns check DOMAIN`
    compares them with what DNS answers."""


@dns.command("show")
@data_option
@click.argument("domain")
@_ADDRESS
@with_store
async def dns_show(store: Store, settings: Settings, domain: str, addresses: tuple[str, ...]) -> None:
    """The records to publish for DOMAIN, in zone file syntax."""
    if settings.hostname == "localhost":
        click.echo("; hostname is 'localhost': set `hostname` in the config to the server's public name")
    for record in await admin_dns.domain_records(store, settings, domain, addresses):
        click.echo(record.zone_line())


@dns.command("check")
@data_option
@click.argument("domain")
@_ADDRESS
@with_store
async def dns_check(store: Store, settings: Settings, domain: str, addresses: tuple[str, ...]) -> None:
    """Look each record up (through queue.dns_nameservers, or resolv.conf) and say how it stands;
    exit 1 when one is missing or wrong."""
    findings = await admin_dns.check_records(store, settings, domain, addresses)
    rows = [
        [
            f.record.name,
            f.record.type,
            f.verdict.value,
            "; ".join(f.found) if f.verdict is not Verdict.OK else "",
        ]
        for f in findings
    ]
    print_table(["NAME", "TYPE", "STATUS", "FOUND INSTEAD"], rows)
    bad = [f for f in findings if f.verdict in (Verdict.MISSING, Verdict.WRONG)]
    if bad:
        raise CommandFailed(
            f"{len(bad)} of {len(findings)} records missing or wrong: `pochta dns {domain}` prints them"
        )


def register_dns_commands(group: click.Group) -> None:
    group.add_command(dns)
