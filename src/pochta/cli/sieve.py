"""`pochta sieve errors USER`: the scripts of USER that failed at delivery (docs/sieve.md "At
delivery"). Each such message went to INBOX instead; the error is kept here (the newest 100 per
account, pruned by the housekeeper after ``sieve.error_days``) and logged with the account."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from pochta.cli.common import data_option, print_table, with_store
from pochta.config import Settings
from pochta.naming import normalize_address
from pochta.store.api import NotFound, Store


@click.group()
def sieve() -> None:
    """Sieve filtering at delivery (RFC 5228)."""


@sieve.command("errors")
@data_option
@click.argument("user")
@with_store
async def sieve_errors(store: Store, settings: Settings, user: str) -> None:
    """The errors of USER's scripts at delivery, oldest first (the messages went to INBOX)."""
    del settings
    account = await store.get_account(normalize_address(user))
    if account is None:
        raise NotFound(f"no such account: {user}")
    rows = [
        [datetime.fromtimestamp(error.at, UTC).strftime("%Y-%m-%d %H:%M:%S"), error.script, error.error]
        for error in await store.sieve_errors(account.id)
    ]
    print_table(["WHEN (UTC)", "SCRIPT", "ERROR"], rows)


def register_sieve_commands(group: click.Group) -> None:
    group.add_command(sieve)
