"""`pochta init`, `pochta serve` and `pochta config check|reference`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import sys
from pathlib import Path

import click

from pochta.bootstrap import InitError, initialise
from pochta.cli.common import CommandFailed, data_option, load_or_exit, parse_listen
from pochta.config import CONFIG_FILE_NAME, LISTENER_KINDS, ConfigError, Settings
from pochta.naming import InvalidName
from pochta.plural import plural
from pochta.server.pidfile import PID_FILE_NAME, server_state
from pochta.server.preflight import Problem, check_settings
from pochta.store.api import StoreError

FIRST_RUN_DOMAIN = "localhost"
FIRST_RUN_ACCOUNT = "postmaster@localhost"


def _initialise_or_exit(
    data_dir: Path,
    *,
    domain: str,
    hostname: str | None = None,
    listen: dict[str, str] | None = None,
    account: str | None = None,
    store_url: str = "",
) -> None:
    try:
        result = initialise(
            data_dir, domain=domain, hostname=hostname, listen=listen, account=account, store_url=store_url
        )
    except ConfigError as exc:
        click.echo(f"pochta: configuration error:\n{exc}", err=True)
        sys.exit(2)
    except InvalidName as exc:
        click.echo(f"pochta: {exc}", err=True)
        sys.exit(2)
    except InitError as exc:
        raise CommandFailed(str(exc)) from None
    click.echo(f"created {result.data_dir} (config {result.data_dir / CONFIG_FILE_NAME})")
    if result.account is not None:
        click.echo(f"account:  {result.account}")
        click.echo(f"password: {result.password}")
        click.echo("(the password is shown once; change it with `pochta user passwd`)")


@click.command()
@data_option
@click.option("--domain", required=True, help="First mail domain, for example example.org.")
@click.option("--hostname", help="This server's host name (default: the domain).")
@click.option(
    "--listen",
    multiple=True,
    metavar="NAME=HOST:PORT|NAME=off",
    help="Listener address or 'off'; repeatable. Names: " + ", ".join(LISTENER_KINDS) + ".",
)
@click.option("--account", help="Also create this account and print its generated password.")
@click.option(
    "--store-url",
    default="",
    metavar="URL",
    help="[store] url: the store's database, e.g. postgresql://USER@HOST/DATABASE (default: SQLite "
    "in the data directory).",
)
def init(
    data_dir: Path,
    domain: str,
    hostname: str | None,
    listen: tuple[str, ...],
    account: str | None,
    store_url: str,
) -> None:
    """Create a data directory: config, self-signed certificate, store and first domain."""
    _initialise_or_exit(
        data_dir,
        domain=domain,
        hostname=hostname,
        listen=parse_listen(listen),
        account=account,
        store_url=store_url,
    )


@click.command()
@data_option
@click.option(
    "--workers",
    type=click.IntRange(0, 256),
    default=None,
    help="Worker processes (default: server.workers; 0: one per CPU core; 1: a single process).",
)
def serve(data_dir: Path, workers: int | None) -> None:
    """Run the server in the foreground until SIGTERM or SIGINT.

    On a first run (no data directory yet) it creates one with the domain `localhost` and the
    account postmaster@localhost, and prints that account's password. With several workers, a
    supervisor process starts them and replaces any that dies.
    """
    if not (data_dir / CONFIG_FILE_NAME).exists():
        if data_dir.exists() and any(data_dir.iterdir()):
            click.echo(
                f"pochta: {data_dir} has no {CONFIG_FILE_NAME}; is it a pochta data directory?", err=True
            )
            sys.exit(2)
        click.echo(f"first run: creating {data_dir}")
        _initialise_or_exit(data_dir, domain=FIRST_RUN_DOMAIN, account=FIRST_RUN_ACCOUNT)
    settings = load_or_exit(data_dir)
    # The checks `pochta config check` runs, but for binding: that is the start itself.
    exit_on_problems(data_dir, check_settings(data_dir, settings, bind=False))

    from pochta.server.listeners import StartupError, interrupt_startup_on_sigterm
    from pochta.server.main import serve_forever
    from pochta.server.supervisor import supervise

    count = worker_count(settings.server.workers if workers is None else workers)
    raise_open_files_limit()
    # Until the event loop installs its own handlers, SIGTERM and SIGINT interrupt startup cleanly
    # (KeyboardInterrupt below): nothing is accepting yet, so there is nothing to drain.
    interrupt_startup_on_sigterm()
    try:
        if count == 1:
            asyncio.run(serve_forever(data_dir, settings))
        else:
            asyncio.run(supervise(data_dir, settings, count))
    except KeyboardInterrupt:
        click.echo("pochta: interrupted during startup", err=True)
    except (StartupError, StoreError) as exc:  # StoreError: the database cannot be opened
        raise CommandFailed(f"cannot start: {exc}") from None


def raise_open_files_limit() -> None:
    """Every connection is a descriptor: take the hard limit the system allows (workers inherit it),
    rather than a soft default of 1,024 that ends a busy server at ``accept`` with EMFILE."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def worker_count(configured: int) -> int:
    """``server.workers`` / ``--workers``: 0 means one per CPU core this process may run on."""
    if configured > 0:
        return configured
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@click.group()
def config() -> None:
    """Check the configuration, or print its reference."""


def exit_on_problems(data_dir: Path, problems: list[Problem]) -> None:
    if problems:
        path = data_dir / CONFIG_FILE_NAME
        lines = "\n".join(f"{path}: {problem}" for problem in problems)
        click.echo(f"pochta: configuration error:\n{lines}", err=True)
        sys.exit(2)


@config.command("check")
@data_option
@click.option(
    "--no-bind",
    is_flag=True,
    help="Do not try to bind the listener addresses (skipped anyway while pochta serve runs here).",
)
def config_check(data_dir: Path, no_bind: bool) -> None:
    """Run every check `pochta serve` runs before it starts; exit code 2 names file, key and problem.

    Beyond the values themselves: certificate and key files, two listeners on one address, and
    (unless --no-bind, or while the server runs on this data directory and holds its addresses)
    whether each address can be bound now.
    """
    settings = load_or_exit(data_dir)
    state = server_state(data_dir)
    bind = not no_bind and not state.running
    exit_on_problems(data_dir, check_settings(data_dir, settings, bind=bind))
    if state.running:
        note = f"; pochta serve runs here (pid {state.pid}), its addresses were not bound"
    else:
        note = "" if bind else "; addresses not bound (--no-bind)"
    click.echo(
        f"{data_dir / CONFIG_FILE_NAME}: ok ({plural(len(settings.enabled_listeners()), 'listener')}{note})"
    )


@config.command("reload")
@data_option
def config_reload(data_dir: Path) -> None:
    """Check DATA/pochta.toml, then make the running server reload it (SIGHUP).

    The server checks the file again, keeps its running configuration if the file is bad, and logs
    each changed key: applied to new sessions at once, or needing a restart (listener addresses,
    TLS handshake timeout, store, queue, metrics endpoint, hostname).
    """
    settings = load_or_exit(data_dir)
    exit_on_problems(data_dir, check_settings(data_dir, settings, bind=False))
    state = server_state(data_dir)
    if state.stale:
        raise CommandFailed(
            f"no server runs on {data_dir}: {data_dir / PID_FILE_NAME} is stale (pid {state.pid} "
            "is not a running pochta serve); the file is read at the next start"
        )
    if not state.running:
        raise CommandFailed(f"no server runs on {data_dir}; the file is read at the next start")
    if state.pid is None:
        raise CommandFailed("the server is starting and has not written its pid yet; try again")
    os.kill(state.pid, signal.SIGHUP)
    click.echo(
        f"asked pochta serve (pid {state.pid}) to reload {data_dir / CONFIG_FILE_NAME}; "
        "its log says what changed and what needs a restart"
    )


@config.command("reference")
def config_reference() -> None:
    """Print the configuration reference (Markdown) generated from the settings model."""
    from pochta.config_reference import render_reference

    click.echo(render_reference(Settings), nl=False)


def register_server_commands(group: click.Group) -> None:
    group.add_command(init)
    group.add_command(serve)
    group.add_command(config)
