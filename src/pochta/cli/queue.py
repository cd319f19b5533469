"""`pochta queue list|show|retry|delete|flush`: the outbound queue, for the administrator.

The commands work on the store directly, whether or not a server runs: ``retry`` makes messages due
now (a running server's worker takes them within ``[queue] poll_interval``), ``flush`` also delivers
them from this process (leases keep a running server from delivering the same message at once).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from pochta.admin import queue as admin_queue
from pochta.admin.errors import AdminError
from pochta.cli.common import (
    data_option,
    format_size,
    load_or_exit,
    print_table,
    run_async,
    with_store,
)
from pochta.config import Settings
from pochta.log import configure_logging
from pochta.plural import plural
from pochta.store.api import Store
from pochta.store.queue_model import QueueEntry, QueueId


def _queue_id(ctx: click.Context, param: click.Parameter, value: str | None) -> QueueId | None:
    """A message id as the SMTP reply gave it ("queued as 2ECA6CC79A4D3C47"), in any case."""
    del ctx, param
    if value is None:
        return None
    try:
        return admin_queue.queue_id(value)
    except AdminError as exc:
        raise click.BadParameter(exc.message) from None


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _sender(entry: QueueEntry) -> str:
    return entry.sender or "<>"


@click.group()
def queue() -> None:
    """The outbound queue: mail waiting to be delivered to other servers."""


@queue.command("list")
@data_option
@with_store
async def queue_list(store: Store, settings: Settings) -> None:
    """One line per queued message: id, arrival, size, sender, pending recipients, next attempt."""
    rows = []
    for entry in await admin_queue.list_entries(store):
        pending = entry.pending
        last = next((r.last_reply for r in pending if r.last_reply), "")
        rows.append(
            [
                entry.id,
                _when(entry.arrival),
                format_size(entry.blob.size),
                _sender(entry),
                f"{len(pending)}/{len(entry.recipients)}",
                _when(entry.next_attempt),
                (last or "")[:60],
            ]
        )
    print_table(["ID", "ARRIVED (UTC)", "SIZE", "SENDER", "PENDING", "NEXT ATTEMPT", "LAST REPLY"], rows)


@queue.command("show")
@data_option
@click.argument("queue_id", callback=_queue_id)
@with_store
async def queue_show(store: Store, settings: Settings, queue_id: QueueId) -> None:
    """Everything about one queued message and each of its recipients."""
    entry = await admin_queue.get_entry(store, queue_id)
    click.echo(f"id: {entry.id}")
    click.echo(f"origin: {entry.origin}")
    click.echo(f"sender: {_sender(entry)}")
    click.echo(f"arrived: {_when(entry.arrival)}")
    click.echo(f"size: {entry.blob.size} ({entry.blob.sha256})")
    click.echo(f"next attempt: {_when(entry.next_attempt)}")
    if entry.envid or entry.ret:
        click.echo(f"dsn: envid={entry.envid or '-'} ret={entry.ret or '-'}")
    if entry.lease_owner:
        click.echo(f"being delivered by: {entry.lease_owner} (until {_when(entry.lease_until)})")
    for r in entry.recipients:
        click.echo(f"recipient {r.address}: {r.status}, {plural(r.attempts, 'attempt')}")
        click.echo(f"  next attempt: {_when(r.next_attempt) if r.status == 'pending' else '-'}")
        click.echo(f"  last attempt: {_when(r.last_attempt)} via {r.remote_mta or '-'}")
        click.echo(f"  last reply: {r.last_reply or '-'}")
        if r.notify or r.orcpt:
            click.echo(
                f"  notify: {','.join(r.notify) or '-'} orcpt: {';'.join(r.orcpt) if r.orcpt else '-'}"
            )


@queue.command("retry")
@data_option
@click.argument("queue_id", required=False, callback=_queue_id)
@with_store
async def queue_retry(store: Store, settings: Settings, queue_id: QueueId | None) -> None:
    """Make one message (or, without an id, every message) due now."""
    touched = await admin_queue.retry(store, queue_id)
    click.echo(f"{plural(touched, 'message')} due now")


@queue.command("delete")
@data_option
@click.argument("queue_id", callback=_queue_id)
@with_store
async def queue_delete(store: Store, settings: Settings, queue_id: QueueId) -> None:
    """Remove a queued message without delivering it and without telling the sender."""
    await admin_queue.delete_entry(store, queue_id)
    click.echo(f"deleted queued message {queue_id}")


@queue.command("flush")
@data_option
@click.option(
    "--timeout", type=float, default=600.0, show_default=True, help="Give up after this many seconds."
)
def queue_flush(data_dir: Path, timeout: float) -> None:
    """Make every message due now and deliver them from this process; report what is left."""
    settings = load_or_exit(data_dir)
    # The worker logs each attempt; unconfigured, structlog would print its default format to stdout,
    # mixed into this command's report. Configured: the [log] format, on stderr, as the server does.
    configure_logging(settings.log)

    async def body() -> None:
        from pochta.delivery import Delivery
        from pochta.queue.worker import QueueWorker
        from pochta.store.factory import open_store

        store = await open_store(data_dir, settings)
        try:
            await admin_queue.retry(store, None)
            worker = QueueWorker(store, settings, Delivery(store, settings, data_dir))
            attempts = await worker.run_until_idle(deadline=timeout)
            left = await store.queue_entries()
            click.echo(f"{plural(attempts, 'attempt')}; {plural(len(left), 'message')} still queued")
        finally:
            await store.close()

    run_async(body())


def register_queue_commands(main: click.Group) -> None:
    main.add_command(queue)
