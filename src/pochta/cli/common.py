"""Shared pieces of the `pochta` command: the --data option, config loading, store access, errors.

Every command takes ``--data DIR`` (env ``POCHTA_DATA``, default ``./pochta-data``). Administration
commands open the same store the server uses (``[store] url``: SQLite in the data directory or a
PostgreSQL database); both engines let them run while the server runs, and the server reads
directory data at each login, so changes take effect without a restart.

Exit codes: 0 success, 1 the operation failed (a message says why), 2 usage or configuration error.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from pochta import sizes
from pochta.admin.errors import AdminError
from pochta.config import (
    CONFIG_FILE_NAME,
    DEFAULT_DATA_DIR,
    LISTENER_KINDS,
    NOT_YET_AVAILABLE,
    ConfigError,
    Settings,
    load_settings,
)
from pochta.naming import InvalidName
from pochta.store.api import StoreError

P = ParamSpec("P")
T = TypeVar("T")


class CommandFailed(click.ClickException):
    """An operation failed for a reason the operator can act on (exit code 1)."""

    exit_code = 1


def data_option(func: Callable[P, T]) -> Callable[P, T]:
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_DATA_DIR,
        envvar="POCHTA_DATA",
        show_default=True,
        show_envvar=True,
        help="Data directory (config, store, certificates).",
    )(func)


def load_or_exit(data_dir: Path) -> Settings:
    """Settings of a data directory; exit code 2 with file, key and problem when they are bad."""
    try:
        settings = load_settings(data_dir / CONFIG_FILE_NAME)
    except ConfigError as exc:
        click.echo(f"pochta: configuration error:\n{exc}", err=True)
        sys.exit(2)
    from pochta.store.factory import unsupported

    refused = unsupported(data_dir, settings)  # [store] url: a store this installation cannot open
    if refused is not None:
        where = data_dir / CONFIG_FILE_NAME
        click.echo(f"pochta: configuration error:\n{where}: [store] url: {refused}", err=True)
        sys.exit(2)
    return settings


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run one admin coroutine, turning store and name errors into clean exit-1 messages."""
    try:
        return asyncio.run(coro)
    except (StoreError, InvalidName, AdminError) as exc:
        raise CommandFailed(str(exc)) from None


def with_store(
    func: Callable[..., Awaitable[T]],
) -> Callable[..., T]:
    """Decorate `async def cmd(store, settings, **options)` into a click callback taking `data_dir`."""
    return _store_command(func, pass_data_dir=False)


def with_store_and_data_dir(
    func: Callable[..., Awaitable[T]],
) -> Callable[..., T]:
    """As ``with_store``, for `async def cmd(store, settings, data_dir, **options)`: commands that
    need more of the data directory than the store (its server-secret, say)."""
    return _store_command(func, pass_data_dir=True)


def _store_command(func: Callable[..., Awaitable[T]], *, pass_data_dir: bool) -> Callable[..., T]:
    @functools.wraps(func)
    def wrapper(data_dir: Path, **kwargs: Any) -> T:
        settings = load_or_exit(data_dir)
        if pass_data_dir:
            kwargs["data_dir"] = data_dir

        async def body() -> T:
            from pochta.store.factory import open_store

            # Short commands leave indexing to the server (docs/architecture.md "Search index").
            store = await open_store(data_dir, settings)
            try:
                return await func(store, settings, **kwargs)
            finally:
                await store.close()

        return run_async(body())

    return wrapper


def parse_listen(values: tuple[str, ...]) -> dict[str, str]:
    listen: dict[str, str] = {}
    for item in values:
        name, sep, address = item.partition("=")
        if not sep:
            raise click.BadParameter(
                f"expected NAME=HOST:PORT or NAME=off, got {item!r}", param_hint="--listen"
            )
        if name in NOT_YET_AVAILABLE and address != "off":
            raise click.BadParameter(
                f"{name}: {NOT_YET_AVAILABLE[name]} is not available yet", param_hint="--listen"
            )
        if name not in LISTENER_KINDS and name not in NOT_YET_AVAILABLE:
            raise click.BadParameter(
                f"unknown listener {name!r}; known: {', '.join(LISTENER_KINDS)}", param_hint="--listen"
            )
        listen[name] = address
    return listen


def parse_size(text: str) -> int | None:
    """`500M`, `2G`, `1048576` or `none`/`unlimited` (None) -> bytes (``pochta.sizes``)."""
    try:
        return sizes.parse_size(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


format_size = sizes.format_size


def read_secret_stdin(what: str) -> str:
    """One line from stdin (a pipe or a terminal); trailing newline removed, empty refused."""
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise CommandFailed(f"no {what} on standard input")
    return line


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    for row in [headers, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
