"""`pochta migrate USER imap://LOGIN@HOST[:PORT]`: copy an account from another IMAP server
(docs/migrate.md). Run it again to copy what changed since; it works while the server runs."""

from __future__ import annotations

import sys
from urllib.parse import unquote, urlsplit

import click

from pochta.cli.common import CommandFailed, data_option, read_secret_stdin, with_store
from pochta.config import Settings
from pochta.fetch.imap_remote import AuthFailed, RemoteError, RemoteServer, TlsMode
from pochta.fetch.migrate import migrate_account
from pochta.naming import normalize_address
from pochta.store.api import NotFound, QuotaExceeded, Store

__all__ = ["register_migrate_commands"]

_DEFAULT_PORTS = {TlsMode.IMPLICIT: 993, TlsMode.STARTTLS: 143, TlsMode.NONE: 143}


def parse_source(url: str, tls: TlsMode) -> tuple[str, str, int]:
    """(login, host, port) of imap://LOGIN@HOST[:PORT] (the login percent-encoded: alice%40example.org)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "imap" or not parts.hostname or parts.username is None:
        raise click.BadParameter("expected imap://LOGIN@HOST[:PORT]", param_hint="SOURCE")
    if parts.password is not None:
        raise click.BadParameter(
            "give the password on standard input (--password-stdin)", param_hint="SOURCE"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise click.BadParameter("expected imap://LOGIN@HOST[:PORT], nothing after it", param_hint="SOURCE")
    try:
        port = parts.port or _DEFAULT_PORTS[tls]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SOURCE") from None
    return unquote(parts.username), parts.hostname, port


def _folder_map(values: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        remote, sep, local = value.partition("=")
        if not sep or not remote or not local:
            raise click.BadParameter(f"{value!r} is not REMOTE=LOCAL", param_hint="--folder-map")
        found[remote] = local
    return found


@click.command("migrate")
@data_option
@click.argument("user")
@click.argument("source", metavar="imap://LOGIN@HOST[:PORT]")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the remote password from stdin.")
@click.option(
    "--tls",
    type=click.Choice([mode.value for mode in TlsMode]),
    default=TlsMode.IMPLICIT.value,
    show_default=True,
    help="Implicit TLS (port 993), STARTTLS (143), or none: plain text, only when you mean it.",
)
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), help="Trust only this CA (PEM).")
@click.option(
    "--folder-map",
    multiple=True,
    metavar="REMOTE=LOCAL",
    help="Copy the remote folder REMOTE into our mailbox LOCAL (repeatable).",
)
@click.option(
    "--timeout",
    "read_timeout",
    type=click.FloatRange(1, 3600),
    default=60,
    show_default=True,
    help="Seconds per read.",
)
@click.option(
    "--max-message-size",
    type=click.IntRange(1024),
    default=64 * 1024 * 1024,
    show_default=True,
    help="Octets; larger remote messages are skipped and reported.",
)
@click.option("--quiet", is_flag=True, help="Print the summary only.")
@with_store
async def migrate(
    store: Store,
    settings: Settings,
    user: str,
    source: str,
    password_stdin: bool,
    tls: str,
    ca_file: str | None,
    folder_map: tuple[str, ...],
    read_timeout: float,
    max_message_size: int,
    quiet: bool,
) -> None:
    """Copy every folder, message, flag and subscription of an IMAP account into USER."""
    mode = TlsMode(tls)
    login, host, port = parse_source(source, mode)
    mapping = _folder_map(folder_map)
    account = await store.get_account(normalize_address(user))
    if account is None:
        raise NotFound(f"no such account: {user}")
    password = read_secret_stdin("password")
    server = RemoteServer(host, port, mode, ca_file, timeout=read_timeout, max_literal=max_message_size)

    def say(line: str) -> None:
        if not quiet:
            click.echo(line)
            sys.stdout.flush()

    try:
        summary = await migrate_account(
            store, settings, account, server, login, password, folder_map=mapping, say=say
        )
    except AuthFailed as exc:
        raise CommandFailed(f"{host} refused the login: {exc}") from None
    except RemoteError as exc:
        raise CommandFailed(str(exc)) from None
    except QuotaExceeded as exc:
        raise CommandFailed(f"{user} is over quota ({exc}); run again once there is room") from None
    for line in summary.lines():
        click.echo(line)


def register_migrate_commands(main: click.Group) -> None:
    main.add_command(migrate)
