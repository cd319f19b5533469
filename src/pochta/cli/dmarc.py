"""`pochta dmarc report [--send] [--xml]`: the DMARC aggregate reports of the results recorded so far
(docs/deliverability.md "DMARC aggregate reports"). Without ``--send`` nothing changes; with it, the
reports go into the outbound queue and the rows reported are deleted, as the daily job does."""

from __future__ import annotations

from pathlib import Path

import click

from pochta.cli.common import data_option, print_table, with_store_and_data_dir
from pochta.config import Settings
from pochta.store.api import Store


@click.group()
def dmarc() -> None:
    """DMARC (RFC 7489) of received mail: aggregate reports."""


@dmarc.command("report")
@data_option
@click.option("--send", is_flag=True, help="Queue the reports now and forget the rows reported.")
@click.option("--xml", "show_xml", is_flag=True, help="Print each report's XML document too.")
@with_store_and_data_dir
async def dmarc_report(store: Store, settings: Settings, data_dir: Path, send: bool, show_xml: bool) -> None:
    """The report of each domain with recorded results: messages, destinations, skipped ones."""
    from pochta.delivery import Delivery
    from pochta.delivery.dmarc_reports import send_reports

    outcomes = await send_reports(Delivery(store, settings, data_dir), send=send)
    if not outcomes:
        click.echo("no DMARC results recorded")
        return
    rows = []
    for outcome in outcomes:
        skipped = "; ".join(f"{address}: {why}" for address, why in outcome.skipped) or "-"
        to = ", ".join(outcome.sent_to if send else outcome.destinations) or "-"
        rows.append([outcome.policy_domain, str(outcome.records), to, skipped])
    print_table(["DOMAIN", "MESSAGES", "QUEUED TO" if send else "WOULD GO TO", "SKIPPED"], rows)
    if show_xml:
        for outcome in outcomes:
            click.echo(f"\n{outcome.filename}\n{outcome.xml.decode('utf-8')}")


def register_dmarc_commands(group: click.Group) -> None:
    group.add_command(dmarc)
