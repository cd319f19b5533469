"""`pochta fetch add|list|del|run|status`: a user's external accounts, whose mail the server fetches
(docs/fetch.md). Passwords are read from standard input and never printed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import click

from pochta.bootstrap import ensure_server_secret
from pochta.cli.common import (
    CommandFailed,
    data_option,
    load_or_exit,
    print_table,
    read_secret_stdin,
    run_async,
)
from pochta.config import Settings
from pochta.fetch.accounts import AccountRequest, InvalidRequest, add_external_account
from pochta.fetch.fetcher import describe
from pochta.fetch.imap_keys import ImapOptions
from pochta.log import configure_logging
from pochta.mail.errors import OpsError
from pochta.mail.ops import MailOps
from pochta.naming import normalize_address
from pochta.store.api import NotFound, Store
from pochta.store.fetch_model import FetchAccount
from pochta.store.model import Account

__all__ = ["register_fetch_commands"]


@click.group()
def fetch() -> None:
    """External POP3 and IMAP accounts whose mail the server fetches for a user."""


async def _account(store: Store, address: str) -> Account:
    account = await store.get_account(normalize_address(address))
    if account is None:
        raise CommandFailed(f"no such user: {address}")
    return account


def _when(epoch: int | None) -> str:
    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _mode(account: FetchAccount) -> str:
    mode = "keep" if account.keep else "delete"
    if account.protocol == "imap" and ImapOptions.from_json(account.options).mirror_flags:
        mode += ", mirror flags"
    return mode


def _remote_folders(account: FetchAccount) -> str:
    if account.protocol != "imap":
        return "-"
    return ",".join(ImapOptions.from_json(account.options).folders)


def _with_store(data_dir: Path, body: object) -> None:
    """Run ``body(store, settings)`` on the data directory's store."""
    settings = load_or_exit(data_dir)

    async def run() -> None:
        from pochta.store.factory import open_store

        store = await open_store(data_dir, settings)
        try:
            await body(store, settings)  # type: ignore[operator]
        finally:
            await store.close()

    run_async(run())


@fetch.command("add")
@data_option
@click.argument("address")
@click.option(
    "--pop3",
    "pop3",
    metavar="HOST[:PORT]",
    help="The POP3 server (port: 995, or 110 with --tls starttls|none).",
)
@click.option(
    "--imap",
    "imap",
    metavar="HOST[:PORT]",
    help="The IMAP server (port: 993, or 143 with --tls starttls|none).",
)
@click.option("--login", required=True, help="The user name on the external server.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the external account's password from standard input."
)
@click.option(
    "--tls",
    type=click.Choice(["implicit", "starttls", "none"]),
    default="implicit",
    show_default=True,
    help="Implicit TLS, STLS (never falls back to plain text), or none (loopback only, else "
    "--insecure-plain).",
)
@click.option(
    "--keep/--delete",
    default=True,
    show_default=True,
    help="Leave a copy on the server, or delete it once stored here.",
)
@click.option("--folder", help="File fetched mail into this folder (created if missing) instead of INBOX.")
@click.option(
    "--archive",
    is_flag=True,
    help="Skip the INBOX: file fetched mail into the user's \\Archive mailbox (made as Archive if missing).",
)
@click.option("--insecure-plain", is_flag=True, help="Allow --tls none to a host that is not this machine.")
@click.option(
    "--imap-folders",
    metavar="A,B",
    help="IMAP: the remote folders to fetch, comma-separated (default INBOX), all into --folder or INBOX.",
)
@click.option(
    "--mirror-flags", is_flag=True, help="IMAP: give the local copy the remote's flags and keywords."
)
def fetch_add(
    data_dir: Path,
    address: str,
    pop3: str | None,
    imap: str | None,
    login: str,
    password_stdin: bool,
    tls: Literal["implicit", "starttls", "none"],
    keep: bool,
    folder: str | None,
    archive: bool,
    insecure_plain: bool,
    imap_folders: str | None,
    mirror_flags: bool,
) -> None:
    """Add an external account of ADDRESS; the server fetches it every fetch.poll_interval."""
    if (pop3 is None) == (imap is None):
        raise click.UsageError("give the server with --pop3 HOST[:PORT] or --imap HOST[:PORT]")
    protocol: Literal["pop3", "imap"] = "pop3" if pop3 is not None else "imap"
    server = pop3 or imap
    assert server is not None
    if protocol == "pop3" and (imap_folders is not None or mirror_flags):
        raise click.UsageError("--imap-folders and --mirror-flags are for --imap accounts")
    if not password_stdin:
        raise click.UsageError("give the password on standard input with --password-stdin")
    if archive and folder:
        raise click.UsageError("--archive files into the Archive mailbox: give --folder or --archive")
    password = read_secret_stdin("password")

    async def body(store: Store, settings: Settings) -> None:
        account = await _account(store, address)
        filed = folder
        if archive:
            # Gmail's "Archive incoming messages (Skip the Inbox)": the RFC 6154 \Archive mailbox.
            found = [m.name for m in await store.mailboxes(account.id) if m.special_use == "\\Archive"]
            filed = found[0] if found else None
            if filed is None and await store.get_mailbox(account.id, "Archive") is not None:
                filed = "Archive"
            if filed is None:
                ops = MailOps.from_settings(store, settings)
                try:
                    filed = (await ops.create(account.id, "Archive", "\\Archive")).name
                except OpsError as exc:
                    raise CommandFailed(f"the Archive mailbox: {exc}") from None
        elif folder:
            ops = MailOps.from_settings(store, settings)
            try:
                filed = ops.canonical_name(folder)
                if await store.get_mailbox(account.id, filed) is None:
                    await ops.create(account.id, folder)
            except OpsError as exc:
                raise CommandFailed(f"folder {folder!r}: {exc}") from None
        request = AccountRequest(
            protocol, server, login, password, tls, keep, filed, insecure_plain, imap_folders, mirror_flags
        )
        try:
            added = await add_external_account(store, account, request, ensure_server_secret(data_dir))
        except InvalidRequest as exc:
            raise CommandFailed(str(exc)) from None
        click.echo(
            f"added external account {added.id} of {account.address}: {describe(added)} "
            f"(tls {added.tls}, {_mode(added)}) into {added.folder or 'INBOX'}"
            + (f" from {_remote_folders(added)}" if added.protocol == "imap" else "")
        )

    _with_store(data_dir, body)


@fetch.command("list")
@data_option
@click.argument("address")
def fetch_list(data_dir: Path, address: str) -> None:
    """The external accounts of ADDRESS (passwords are never shown)."""

    async def body(store: Store, settings: Settings) -> None:
        account = await _account(store, address)
        rows = [
            [str(a.id), describe(a), a.tls, _mode(a), _remote_folders(a), a.folder or "INBOX"]
            for a in await store.fetch_accounts(account.id)
        ]
        print_table(["ID", "SOURCE", "TLS", "MODE", "REMOTE FOLDERS", "FOLDER"], rows)

    _with_store(data_dir, body)


@fetch.command("del")
@data_option
@click.argument("address")
@click.argument("fetch_id", type=int)
def fetch_del(data_dir: Path, address: str, fetch_id: int) -> None:
    """Remove external account FETCH_ID of ADDRESS (mail already fetched stays)."""

    async def body(store: Store, settings: Settings) -> None:
        account = await _account(store, address)
        try:
            await store.delete_fetch_account(account.id, fetch_id)
        except NotFound as exc:
            raise CommandFailed(str(exc)) from None
        click.echo(f"removed external account {fetch_id} of {account.address}")

    _with_store(data_dir, body)


@fetch.command("status")
@data_option
@click.argument("address")
def fetch_status(data_dir: Path, address: str) -> None:
    """Last run, its result and counts, and the next run of each external account of ADDRESS."""

    async def body(store: Store, settings: Settings) -> None:
        account = await _account(store, address)
        rows = [
            [
                str(a.id),
                describe(a),
                _when(a.last_run),
                a.last_result or "-",
                f"{a.last_fetched}/{a.total_fetched}",
                str(a.last_left),
                _when(a.next_run) if settings.fetch.enabled else "(fetch.enabled is off)",
                a.last_error or "",
            ]
            for a in await store.fetch_accounts(account.id)
        ]
        print_table(
            [
                "ID",
                "SOURCE",
                "LAST RUN (UTC)",
                "RESULT",
                "FETCHED (LAST/ALL)",
                "LEFT",
                "NEXT RUN (UTC)",
                "ERROR",
            ],
            rows,
        )

    _with_store(data_dir, body)


@fetch.command("run")
@data_option
@click.argument("address")
@click.argument("fetch_id", type=int, required=False)
def fetch_run(data_dir: Path, address: str, fetch_id: int | None) -> None:
    """Fetch now, from this process (also while the server runs: one run of an account at a time)."""
    settings = load_or_exit(data_dir)
    configure_logging(settings.log)  # the fetcher's log lines on stderr, not mixed into the report

    async def body(store: Store, settings: Settings) -> None:
        from pochta.delivery import Delivery
        from pochta.fetch import Fetcher

        account = await _account(store, address)
        targets = await store.fetch_accounts(account.id)
        if fetch_id is not None:
            targets = [a for a in targets if a.id == fetch_id]
            if not targets:
                raise CommandFailed(f"no external account {fetch_id} for {account.address}")
        if not targets:
            raise CommandFailed(f"{account.address} has no external accounts")
        fetcher = Fetcher(Delivery(store, settings, data_dir), data_dir, ensure_server_secret(data_dir))
        failed = False
        for target in targets:
            report = await fetcher.run(target)
            click.echo(report.summary())
            for reason in report.left:
                click.echo(f"  left on the remote: {reason}")
            failed = failed or report.error is not None or report.busy
        if failed:
            raise CommandFailed("not every external account was fetched")

    _with_store(data_dir, body)


def register_fetch_commands(main: click.Group) -> None:
    main.add_command(fetch)
