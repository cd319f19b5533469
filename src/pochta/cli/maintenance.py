"""`pochta reconstruct` and `pochta verify`: re-derive caches, and check the store for damage."""

from __future__ import annotations

import sys

import click

from pochta.cli.common import data_option, with_store
from pochta.config import Settings
from pochta.store.api import Store
from pochta.store.model import VerifyReport


def _list(title: str, items: list[str], limit: int = 50) -> None:
    if not items:
        return
    click.echo(f"{title}: {len(items)}")
    for item in items[:limit]:
        click.echo(f"  {item}")
    if len(items) > limit:
        click.echo(f"  ... and {len(items) - limit} more")


@click.command()
@data_option
@click.option("--dry-run", is_flag=True, help="Report what would change; change nothing.")
@with_store
async def reconstruct(store: Store, settings: Settings, dry_run: bool) -> None:
    """Re-derive every cache, the full-text index, counters and quota usage from blobs and membership."""
    report = await store.reconstruct(dry_run=dry_run)
    verb = "would change" if dry_run else "changed"
    click.echo(f"messages re-parsed: {report.messages_reparsed}")
    click.echo(f"caches {verb}: {report.caches_changed}")
    click.echo(
        f"mailboxes recounted: {report.mailboxes_recounted} (counters {verb}: {report.counters_changed})"
    )
    click.echo(f"quota usage {verb}: {report.quota_changed}")
    if not dry_run:
        click.echo(f"search index rebuilt: {report.search_queued} messages queued for the indexer")
    _list("missing blobs", report.missing_blobs)
    _list("unreferenced blobs", report.unreferenced_blobs)
    if report.missing_blobs:
        sys.exit(1)


@click.command()
@data_option
@with_store
async def verify(store: Store, settings: Settings) -> None:
    """Check every blob against its hash and the database's integrity; exit 1 on damage."""
    report = await store.verify()
    print_verify_report(report)
    if report.damaged:
        sys.exit(1)


def print_verify_report(report: VerifyReport) -> None:
    _list("missing blobs", report.missing_blobs)
    _list("corrupt blobs (hash mismatch)", report.corrupt_blobs)
    _list("unreferenced blobs", report.unreferenced_blobs)
    _list("database integrity errors", report.integrity_errors)
    _list(
        "messages without search text (pochta reconstruct rebuilds it)",
        [str(i) for i in report.search_missing],
    )
    click.echo(f"search backlog: {report.search_backlog} messages waiting for the indexer")
    if report.damaged:
        click.echo("verify: DAMAGE FOUND", err=True)
        return
    click.echo(
        "verify: ok"
        + (" (unreferenced blobs are collected after the grace period)" if report.unreferenced_blobs else "")
    )


def register_maintenance_commands(group: click.Group) -> None:
    group.add_command(reconstruct)
    group.add_command(verify)
