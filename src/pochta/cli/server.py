"""`pochta init`, `pochta serve` and `pochta config check|reference`."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click

from pochta.bootstrap import InitError, initialise
from pochta.cli.common import CommandFailed, data_option, load_or_exit, parse_listen
from pochta.config import CONFIG_FILE_NAME, LISTENER_KINDS, ConfigError, Settings, resolve_path
from pochta.naming import InvalidName

FIRST_RUN_DOMAIN = "localhost"
FIRST_RUN_ACCOUNT = "postmaster@localhost"


def _initialise_or_exit(
    data_dir: Path,
    *,
    domain: str,
    hostname: str | None = None,
    listen: dict[str, str] | None = None,
    account: str | None = None,
) -> None:
    try:
        result = initialise(data_dir, domain=domain, hostname=hostname, listen=listen, account=account)
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
def init(
    data_dir: Path, domain: str, hostname: str | None, listen: tuple[str, ...], account: str | None
) -> None:
    """Create a data directory: config, self-signed certificate, store and first domain."""
    _initialise_or_exit(
        data_dir, domain=domain, hostname=hostname, listen=parse_listen(listen), account=account
    )


@click.command()
@data_option
def serve(data_dir: Path) -> None:
    """Run the server in the foreground until SIGTERM or SIGINT.

    On a first run (no data directory yet) it creates one with the domain `localhost` and the
    account postmaster@localhost, and prints that account's password.
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
    for key, value in (("tls.certificate", settings.tls.certificate), ("tls.key", settings.tls.key)):
        if not resolve_path(data_dir, value).is_file():
            click.echo(f"pochta: {data_dir / CONFIG_FILE_NAME}: {key}: no such file: {value}", err=True)
            sys.exit(2)

    from pochta.server.listeners import StartupError
    from pochta.server.main import serve_forever

    # Until the event loop installs its own handlers, SIGTERM and SIGINT interrupt startup cleanly
    # (KeyboardInterrupt below): nothing is accepting yet, so there is nothing to drain.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        asyncio.run(serve_forever(data_dir, settings))
    except KeyboardInterrupt:
        click.echo("pochta: interrupted during startup", err=True)
    except StartupError as exc:
        raise CommandFailed(f"cannot start: {exc}") from None


@click.group()
def config() -> None:
    """Check the configuration, or print its reference."""


@config.command("check")
@data_option
def config_check(data_dir: Path) -> None:
    """Validate DATA/pochta.toml; exit code 2 names the file, key and problem."""
    settings = load_or_exit(data_dir)
    click.echo(f"{data_dir / CONFIG_FILE_NAME}: ok ({len(settings.enabled_listeners())} listeners)")


@config.command("reference")
def config_reference() -> None:
    """Print the configuration reference (Markdown) generated from the settings model."""
    from pochta.config_reference import render_reference

    click.echo(render_reference(Settings), nl=False)


def register_server_commands(group: click.Group) -> None:
    group.add_command(init)
    group.add_command(serve)
    group.add_command(config)
