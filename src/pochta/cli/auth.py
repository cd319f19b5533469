"""`pochta auth unblock ADDRESS|IP`: lift a login lockout in the running server.

The login rate limiter lives in the server's memory; the command records the unblock in the store
(``Directory.add_login_unblock``), and the server applies it at the next attempt that it would
delay or refuse (``pochta.auth.authenticator``). Every server process reading the store applies it.
"""

from __future__ import annotations

import click

from pochta.auth.ratelimit import unblock_target
from pochta.cli.common import data_option, with_store
from pochta.config import Settings
from pochta.store.api import Store


@click.group("auth")
def auth() -> None:
    """Login security: failed logins, delays and lockouts."""


def _target(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return unblock_target(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@auth.command("unblock")
@data_option
@click.argument("target", metavar="ADDRESS|IP", callback=_target)
@with_store
async def auth_unblock(store: Store, settings: Settings, target: str) -> None:
    """Forget the failed logins of an IP address or network (IPv6 per /64), lifting its lockout and
    delays, or those of an account address (the account's counter and every address's record of
    failing for it). A running server applies it at once; later failures count again."""
    login = settings.login
    await store.add_login_unblock(target, keep_seconds=max(login.failure_window, login.lockout_seconds))
    click.echo(f"unblocked {target}")


def register_auth_commands(group: click.Group) -> None:
    group.add_command(auth)
