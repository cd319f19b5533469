"""`pochta store migrate --to URL`: copy this installation's database into another one and verify it.

The copy reads one snapshot of the data directory's SQLite database (the server may keep running;
what it commits after the snapshot is not in the copy, so stop it for the final copy) and writes
the target in one transaction, verified table by table before it commits (``pochta.store.db_copy``).
Blobs are not copied: they stay in the data directory's ``blobs/``, which the new database refers
to. The target is a new SQLite file for now (another disk, a compacted copy); PostgreSQL as a
target is refused until its store is complete (issue 16).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from pochta.cli.common import CommandFailed, data_option, load_or_exit
from pochta.store import db_copy

__all__ = ["register_store_commands"]


@click.group("store")
def store_group() -> None:
    """The store's database: copy it to another database."""


@contextmanager
def _rows_bar(total: int) -> Iterator[Callable[[str, int], None] | None]:
    """A rich progress bar over ``total`` rows on a terminal (stderr), nothing otherwise."""
    if not sys.stderr.isatty() or total <= 0:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("rows", total=total)
        yield lambda table, rows: bar.update(task, advance=rows, description=table)


def target_path(url: str) -> Path:
    """The database file of a ``sqlite:///PATH`` URL; a precise refusal for anything else."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise click.BadParameter(
            f"expected a URL such as sqlite:////srv/pochta.db, got {url!r}", param_hint="--to"
        )
    if scheme.startswith("postgresql"):
        raise CommandFailed(
            "the PostgreSQL store is not complete yet (issue 16): a copy to PostgreSQL is refused "
            "until pochta can serve mail from it"
        )
    if scheme != "sqlite" or not rest.startswith("/") or rest == "/":
        raise click.BadParameter(f"unsupported store URL {url!r} (sqlite:///PATH)", param_hint="--to")
    return Path(rest[1:])


@store_group.command("migrate")
@data_option
@click.option("--to", "url", required=True, help="The database to copy into: sqlite:///PATH (a new file).")
def migrate_store(data_dir: Path, url: str) -> None:
    """Copy the store's database (accounts, mail, flags, UIDs, MODSEQs, queue, Sieve, settings) into
    an empty database and verify it, table by table."""
    from pochta.store.sqlite.engine import make_engine, migrate
    from pochta.store.sqlite.store import DB_FILE_NAME

    settings = load_or_exit(data_dir)
    source_path = data_dir / DB_FILE_NAME
    if not source_path.exists():
        raise CommandFailed(f"no store in {data_dir} (no {DB_FILE_NAME})")
    path = target_path(url)
    if path.resolve() == source_path.resolve():
        raise CommandFailed("the target is the store's own database")
    if path.exists() and path.stat().st_size > 0:
        raise CommandFailed(f"{path} exists: a copy goes into a new database")
    path.parent.mkdir(parents=True, exist_ok=True)
    timeout = settings.store.busy_timeout
    source_engine = make_engine(source_path, timeout, writer=False, pool_size=1)
    target_engine = make_engine(path, timeout, writer=True)
    started = time.monotonic()
    try:
        with target_engine.connect() as target:
            migrate(target)  # the schema at this version's head, with the engine's own objects
        report, queued = _copy(source_engine, target_engine)
    except BaseException:
        # The file is this command's own (it did not exist, or was empty): nothing of it is kept.
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        raise
    finally:
        source_engine.dispose()
        target_engine.dispose()
    seconds = time.monotonic() - started
    click.echo(f"copied {report.rows} rows of {report.tables} tables in {seconds:.1f} s; verified")
    click.echo(f"search index: {queued} messages queued for the indexer of the new database")
    # A SQLite store is always its data directory's pochta.db (backup, restore and the blob reader
    # know it by that name): the copy is served from there.
    click.echo(
        f"to serve it: stop the server, remove {source_path.name}-wal and -shm, put {path} in place "
        f"of {source_path}, start the server"
    )


def _copy(source_engine: Engine, target_engine: Engine) -> tuple[db_copy.CopyReport, int]:
    """One snapshot of the source into one transaction of the target, verified before it commits."""
    with source_engine.connect() as source, source.begin(), target_engine.connect() as target:
        transaction = target.begin()
        totals = db_copy.count_rows(source)
        try:
            with _rows_bar(sum(totals.values())) as progress:
                report = db_copy.copy_database(source, target, progress)
        except db_copy.CopyRefused as exc:
            raise CommandFailed(str(exc)) from None
        except DBAPIError as exc:  # the target refused a row: nothing is kept
            raise CommandFailed(f"the copy failed: {exc.orig}") from None
        queued = db_copy.after_copy(target)  # the target's own FTS index, from the copied texts
        bad = [check for check in db_copy.verify(source, target) if not check.same]
        if bad:
            transaction.rollback()
            for check in bad:
                click.echo(
                    f"  {check.name}: {check.source_rows} rows, {check.target_rows} copied, differ", err=True
                )
            raise CommandFailed("verification failed: nothing was kept")
        transaction.commit()
    return report, queued


def register_store_commands(group: click.Group) -> None:
    group.add_command(store_group)
