"""`pochta status`: the server's version, whether it runs and since when, its workers, the
outbound queue's size, and (with ``--metrics``) the counters ``/metrics`` shows. The rules are
``pochta.admin.status``'s (shared with the JMAP ServerStatus/get)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from pochta.admin import status as admin_status
from pochta.cli.common import data_option, print_table, with_store_and_data_dir
from pochta.config import Settings
from pochta.store.api import Store


@click.command("status")
@data_option
@click.option("--metrics", "show_metrics", is_flag=True, help="Also print every counter, as /metrics has it.")
@with_store_and_data_dir
async def status(store: Store, settings: Settings, data_dir: Path, show_metrics: bool) -> None:
    """Is the server running, since when, with how many workers; how much mail is queued."""
    found = await admin_status.server_status(store, data_dir)
    click.echo(f"version: {found.version}")
    if found.running:
        since = (
            "?"
            if found.started is None
            else datetime.fromtimestamp(found.started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        )
        click.echo(f"running: yes (pid {found.pid or '?'}, since {since})")
    else:
        click.echo("running: no")
    click.echo(
        "workers: " + ("unknown ([metrics] listen is off)" if found.workers is None else str(found.workers))
    )
    click.echo(f"queue: {found.queue_messages} messages, {found.queue_recipients_pending} recipients pending")
    if show_metrics:
        rows = [
            [sample.name, ",".join(f"{k}={v}" for k, v in sample.labels), f"{sample.value:g}"]
            for sample in found.metrics
        ]
        print_table(["METRIC", "LABELS", "VALUE"], rows)


def register_status_commands(group: click.Group) -> None:
    group.add_command(status)
