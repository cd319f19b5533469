"""`pochta import USER PATH` and `pochta export USER PATH --format maildir|mbox` (docs/import-export.md).

Both work while the server runs (the store is shared across processes; sessions see imported mail
at their next command). On a terminal a progress bar (rich) shows the octets done; a summary
follows: folders, messages, octets, what was skipped and why, time and messages per second.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from pochta.cli.common import CommandFailed, data_option, with_store
from pochta.config import Settings
from pochta.naming import normalize_address
from pochta.store.api import NotFound, Store
from pochta.store.model import Account


@contextmanager
def _progress(total: int, what: str) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar over ``total`` octets on a terminal (stderr), nothing otherwise."""
    if not sys.stderr.isatty() or total <= 0:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn(what), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda octets: bar.advance(task, octets)


async def _account(store: Store, user: str) -> Account:
    account = await store.get_account(normalize_address(user))
    if account is None:
        raise NotFound(f"no such account: {user}")
    return account


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.0f} msgs/s" if seconds > 0 else "-"


@click.command("import")
@data_option
@click.argument("user")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--folder", help="Import into this mailbox (subfolders below it) instead of INBOX.")
@click.option(
    "--mbox-quoting",
    type=click.Choice(["rd", "o"]),
    default="rd",
    show_default=True,
    help="How mbox files quote From lines: mboxrd (>From and >>From) or mboxo (>From only).",
)
@with_store
async def import_command(
    store: Store, settings: Settings, user: str, path: Path, folder: str | None, mbox_quoting: str
) -> None:
    """Import a Maildir, an mbox file, a directory of mbox or .eml files, or one .eml file into USER.

    Flags, keywords and internal dates are kept; folders are created. Run it again after an
    interruption: it finishes the job, placing no message twice.
    """
    import asyncio

    from pochta.fetch.importer import import_path, scan
    from pochta.mail.errors import InvalidMailboxName

    account = await _account(store, user)
    units = await asyncio.to_thread(lambda: scan(path.resolve()))
    try:
        with _progress(sum(unit.size for unit in units), "import") as progress:
            report = await import_path(
                store,
                settings,
                account,
                path,
                folder=folder,
                quoting=mbox_quoting,
                progress=progress,
                units=units,
            )
    except InvalidMailboxName as exc:
        raise CommandFailed(f"--folder: {exc}") from None
    skipped = sum(report.skipped.values())
    click.echo(
        f"imported {report.placed} messages ({report.octets} octets) into {len(report.folders)} folders "
        f"of {account.address} in {report.seconds:.1f} s ({_rate(report.placed, report.seconds)})"
    )
    if report.created:
        click.echo(f"created folders: {', '.join(report.created)}")
    if report.already:
        click.echo(f"already imported by an earlier run: {report.already}")
    if skipped:
        click.echo(f"skipped: {skipped}")
        for reason, count in report.skipped.most_common():
            click.echo(f"  {count}  {reason}")
        for item in report.examples:
            click.echo(f"  e.g. {item.key}: {item.reason}")


@click.command("export")
@data_option
@click.argument("user")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["maildir", "mbox"]), required=True, help="Maildir++ or mboxrd."
)
@click.option("--folder", help="Export this mailbox alone (with mbox, PATH is its file).")
@with_store
async def export_command(
    store: Store, settings: Settings, user: str, path: Path, fmt: str, folder: str | None
) -> None:
    """Export USER's mailboxes (or one) with flags, keywords and internal dates into PATH."""
    from pochta.fetch.export import export_account, target_problem
    from pochta.mail.names import canonical_name

    account = await _account(store, user)
    name = canonical_name(folder) if folder is not None else None
    problem = target_problem(path, single_mbox=fmt == "mbox" and name is not None)
    if problem is not None:
        raise CommandFailed(problem)
    boxes = await store.mailboxes(account.id)
    total = sum(box.size for box in boxes if name is None or box.name == name)
    with _progress(total, "export") as progress:
        report = await export_account(store, account, path, fmt, folder=name, progress=progress)
    rate = _rate(report.messages, report.seconds)
    click.echo(
        f"exported {report.messages} messages ({report.octets} octets) from {len(report.folders)} folders "
        f"of {account.address} to {path} ({fmt}) in {report.seconds:.1f} s ({rate})"
    )


def register_import_export_commands(main: click.Group) -> None:
    main.add_command(import_command)
    main.add_command(export_command)
