"""`pochta store migrate --to URL`: copy this installation's database into another one and verify it.

The copy reads one snapshot of the data directory's SQLite database (the server may keep running;
what it commits after the snapshot is not in the copy, so stop it for the final copy) and writes
the target in one transaction, verified table by table before it commits (``pochta.store.db_copy``).
Blobs are not copied: they stay in the data directory's ``blobs/``, which the new database refers
to. The target is a new SQLite file (another disk, a compacted copy) or an empty PostgreSQL
database (docs/scaling.md "Moving from SQLite"), whose schema the command builds at this version's
head when the database has none.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from pochta.cli.common import CommandFailed, data_option, load_or_exit
from pochta.config import CONFIG_FILE_NAME
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


@dataclass(frozen=True)
class Target:
    """Where the copy goes: a new SQLite file (``path``) or a PostgreSQL database (``url``, in
    SQLAlchemy's psycopg 3 form)."""

    path: Path | None = None
    url: str | None = None


def parse_target(url: str) -> Target:
    """The ``--to`` URL: ``sqlite:///PATH`` or ``postgresql://...``; a precise refusal otherwise."""
    from pochta.config_store_url import parse_store_url

    scheme, sep, rest = url.partition("://")
    if not sep:
        raise click.BadParameter(
            f"expected a URL such as sqlite:////srv/pochta.db or postgresql://USER@HOST/DATABASE, "
            f"got {url!r}",
            param_hint="--to",
        )
    if scheme.startswith("postgres"):
        try:
            parsed = parse_store_url(url)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--to") from None
        return Target(url=parsed.postgresql_url)
    if scheme != "sqlite" or not rest.startswith("/") or rest == "/":
        raise click.BadParameter(
            f"unsupported store URL {url!r} (sqlite:///PATH or postgresql://USER@HOST/DATABASE)",
            param_hint="--to",
        )
    return Target(path=Path(rest[1:]))


@store_group.command("migrate")
@data_option
@click.option(
    "--to",
    "url",
    required=True,
    help="The database to copy into: sqlite:///PATH (a new file) or postgresql://USER@HOST/DATABASE "
    "(an empty database).",
)
def migrate_store(data_dir: Path, url: str) -> None:
    """Copy the store's database (accounts, mail, flags, UIDs, MODSEQs, queue, Sieve, settings) into
    an empty database and verify it, table by table."""
    from pochta.store.sqlite.engine import make_engine
    from pochta.store.sqlite.store import DB_FILE_NAME

    settings = load_or_exit(data_dir)
    source_path = data_dir / DB_FILE_NAME
    if not source_path.exists():
        raise CommandFailed(f"no store in {data_dir} (no {DB_FILE_NAME})")
    target = parse_target(url)
    source_engine = make_engine(source_path, settings.store.busy_timeout, writer=False, pool_size=1)
    started = time.monotonic()
    try:
        if target.url is not None:
            report, queued = _to_postgresql(source_engine, target.url)
        else:
            assert target.path is not None
            report, queued = _to_sqlite(source_engine, source_path, target.path, settings.store.busy_timeout)
    finally:
        source_engine.dispose()
    seconds = time.monotonic() - started
    click.echo(f"copied {report.rows} rows of {report.tables} tables in {seconds:.1f} s; verified")
    if target.url is not None:
        click.echo(
            f"to serve it: stop the server, set [store] url to {url} in {data_dir / CONFIG_FILE_NAME}, "
            f"keep "
            f"{data_dir / 'blobs'} (the new database refers to its files), start the server"
        )
        return
    click.echo(f"search index: {queued} messages queued for the indexer of the new database")
    # A SQLite store is always its data directory's pochta.db (backup, restore and the blob reader
    # know it by that name): the copy is served from there.
    click.echo(
        f"to serve it: stop the server, remove {source_path.name}-wal and -shm, put {target.path} in "
        f"place of {source_path}, start the server"
    )


def _to_sqlite(
    source_engine: Engine, source_path: Path, path: Path, timeout: float
) -> tuple[db_copy.CopyReport, int]:
    from pochta.store.sqlite.engine import make_engine, migrate

    if path.resolve() == source_path.resolve():
        raise CommandFailed("the target is the store's own database")
    if path.exists() and path.stat().st_size > 0:
        raise CommandFailed(f"{path} exists: a copy goes into a new database")
    path.parent.mkdir(parents=True, exist_ok=True)
    target_engine = make_engine(path, timeout, writer=True)
    try:
        with target_engine.connect() as conn:
            migrate(conn)  # the schema at this version's head, with the engine's own objects
        return _copy(source_engine, target_engine)
    except BaseException:
        # The file is this command's own (it did not exist, or was empty): nothing of it is kept.
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        raise
    finally:
        target_engine.dispose()


def _to_postgresql(source_engine: Engine, url: str) -> tuple[db_copy.CopyReport, int]:
    try:
        import psycopg  # noqa: F401  (the driver: an extra, docs/scaling.md)
    except ImportError:
        raise CommandFailed(
            "the PostgreSQL driver is not installed: pip install 'pochta[postgresql]'"
        ) from None
    from sqlalchemy import create_engine

    from pochta.store.pg.schema import SchemaError, create_schema

    target_engine = create_engine(url)
    try:
        try:
            with target_engine.begin() as conn:
                # The schema at this version's head on an empty database (an existing one at the
                # head is kept; the copy then refuses it if it holds an installation).
                create_schema(conn)
        except (SchemaError, DBAPIError) as exc:
            raise CommandFailed(f"the target database: {getattr(exc, 'orig', None) or exc}") from None
        return _copy(source_engine, target_engine)
    finally:
        target_engine.dispose()


def _copy(source_engine: Engine, target_engine: Engine) -> tuple[db_copy.CopyReport, int]:
    """One snapshot of the source into one transaction of the target, verified before it commits.
    The small blobs SQLite keeps in its database (``inline_blobs``) are rows like any other: the
    PostgreSQL store reads them there too (``pg/blobs``); the larger ones stay files in the data
    directory's ``blobs/``."""
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
