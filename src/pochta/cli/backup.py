"""`pochta backup DIR` and `pochta restore DIR`: nothing needed but pochta (store/sqlite/backup.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from pochta.cli.common import CommandFailed, data_option, load_or_exit, run_async
from pochta.cli.maintenance import print_verify_report
from pochta.config import CONFIG_FILE_NAME, Settings
from pochta.server.pidfile import AlreadyRunning, PidFile, server_state
from pochta.store.factory import sqlite_database
from pochta.store.sqlite.backup import BackupError, BackupReport
from pochta.store.sqlite.backup import backup as make_backup
from pochta.store.sqlite.backup import restore as restore_backup


def _sqlite_only(data_dir: Path, settings: Settings, command: str) -> None:
    """``backup`` and ``restore`` copy SQLite's database file; a PostgreSQL database is backed up
    by PostgreSQL's own tools, and the blob files beside it by the system's."""
    if sqlite_database(data_dir, settings) is None:
        raise CommandFailed(
            f"pochta {command} copies the SQLite database of the data directory, but [store] url "
            "names a PostgreSQL database: back the database up with PostgreSQL's tools (pg_dump, or "
            "pg_basebackup with WAL archiving) and the data directory's blobs/ and config files "
            "with the system's (docs/scaling.md)"
        )


def _print_damage(report: BackupReport, what: str) -> None:
    for title, names in (("missing blobs", report.missing_blobs), ("corrupt blobs", report.corrupt_blobs)):
        if names:
            click.echo(f"{title} in the {what}: {len(names)}", err=True)
            for name in names[:50]:
                click.echo(f"  {name}", err=True)


@click.command()
@data_option
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
def backup(data_dir: Path, destination: Path) -> None:
    """Copy the store, its blobs, the config and the TLS files into DESTINATION (new or empty).

    Safe while the server runs: the database is copied with SQLite's online backup API (one
    consistent snapshot), then every blob that snapshot refers to. Exit 1 if a blob is missing or
    corrupt in the data directory (the backup is written all the same, and says which).
    """
    settings = load_or_exit(data_dir)
    _sqlite_only(data_dir, settings, "backup")
    try:
        report = make_backup(data_dir, settings, destination, busy_timeout=settings.store.busy_timeout)
    except BackupError as exc:
        raise CommandFailed(str(exc)) from None
    click.echo(
        f"backup of {data_dir} in {destination}: {report.blobs} blobs "
        f"({report.blob_bytes} bytes), {', '.join(report.files)}"
    )
    for path in report.outside:
        click.echo(f"not copied (outside the data directory, back it up with the system): {path}")
    if report.damaged:
        _print_damage(report, "data directory")
        raise CommandFailed("the backup is incomplete; run `pochta verify` on the data directory")


@contextlib.contextmanager
def _server_lock(data_dir: Path) -> Iterator[PidFile]:
    try:
        lock = PidFile.acquire(data_dir)
    except AlreadyRunning as exc:
        raise BackupError(f"{exc}; stop it before restoring") from None
    try:
        yield lock
    finally:
        lock.release()


@click.command()
@data_option
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--replace",
    is_flag=True,
    help="Restore over an existing data directory, which is moved aside (DATA.before-restore-TIME).",
)
def restore(data_dir: Path, source: Path, replace: bool) -> None:
    """Restore the backup in SOURCE into the data directory, then verify it.

    Refuses while `pochta serve` runs on the data directory. The data directory must be new or
    empty, unless --replace.
    """
    if (data_dir / CONFIG_FILE_NAME).exists():  # restoring over a data directory of PostgreSQL's
        _sqlite_only(data_dir, load_or_exit(data_dir), "restore")
    state = server_state(data_dir)
    if state.running:
        raise CommandFailed(f"pochta serve runs on {data_dir} (pid {state.pid}); stop it before restoring")
    try:
        report = restore_backup(source, data_dir, replace=replace, holding_lock=_server_lock)
    except BackupError as exc:
        raise CommandFailed(str(exc)) from None
    if report.moved_aside is not None:
        click.echo(f"moved the previous {data_dir} to {report.moved_aside}")
    click.echo(f"restored {source} into {data_dir}: {report.blobs} blobs, {', '.join(report.files)}")
    if report.damaged:
        _print_damage(report, "backup")

    async def verify() -> bool:
        from pochta.store.factory import open_store

        store = await open_store(data_dir, load_or_exit(data_dir))
        try:
            result = await store.verify()
        finally:
            await store.close()
        print_verify_report(result)
        return not result.damaged

    if not run_async(verify()) or report.damaged:
        raise CommandFailed(f"{data_dir} is damaged (see above); restore blobs from an older backup")


def register_backup_commands(group: click.Group) -> None:
    group.add_command(backup)
    group.add_command(restore)
