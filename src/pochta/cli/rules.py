"""`pochta filter add|list|del`, `pochta vacation set|off|show`, `pochta forward set|off|show`: an
account's Gmail-style settings for administrators, without writing Sieve (docs/sieve.md "Gmail-style
settings"). They go through ``pochta.mail.mail_rule_service``, which keeps the managed script
"pochta-settings" in step; when the user's own active script does not include it, the command says
so on standard error, with the line to add."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import click

from pochta.cli.common import CommandFailed, data_option, print_table, with_store
from pochta.config import Settings
from pochta.mail.mail_rule_service import MailRuleService, Saved
from pochta.mail.mail_rules import RuleInvalid
from pochta.mail.sieve_scripts import ScriptRefused
from pochta.naming import normalize_address
from pochta.store.api import NotFound, Store
from pochta.store.model import Account

_DATE = click.DateTime(formats=["%Y-%m-%d"])


async def _account(store: Store, user: str) -> Account:
    account = await store.get_account(normalize_address(user))
    if account is None:
        raise NotFound(f"no such account: {user}")
    return account


def _failed(exc: RuleInvalid | ScriptRefused) -> CommandFailed:
    if isinstance(exc, ScriptRefused):
        return CommandFailed(exc.message if exc.code is None else f"{exc.message} ({exc.code})")
    return CommandFailed(str(exc))


def _warn(saved: Saved) -> None:
    if saved.warning:
        click.echo(f"warning: {saved.warning}", err=True)


def _read_text(file: str) -> str:
    """FILE or - (standard input), as UTF-8."""
    try:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        return raw.decode("utf-8")
    except OSError as exc:
        raise CommandFailed(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise CommandFailed(f"{file} is not valid UTF-8 (at octet {exc.start})") from None


def _day(value: datetime | None) -> date | None:
    return None if value is None else value.date()


# --- filters -----------------------------------------------------------------------------------------


@click.group("filter")
def filter_group() -> None:
    """Gmail-style filters of an account: criteria (all must match) and actions."""


@filter_group.command("add")
@data_option
@click.argument("user")
@click.option("--from", "sender", help="The From address contains this.")
@click.option("--to", help="To or Cc contains this address.")
@click.option("--subject", help="The subject contains this.")
@click.option("--has-words", help="The text contains each of these words.")
@click.option("--doesnt-have", help="The text contains none of these words.")
@click.option("--to-folder", help="Move it to this folder (it must exist).")
@click.option("--mark-read", is_flag=True, help="Mark it read (\\Seen).")
@click.option("--star", is_flag=True, help="Star it (\\Flagged).")
@click.option("--forward", help="Forward a copy to this address.")
@click.option("--delete", is_flag=True, help="Move it to Trash.")
@click.option("--skip-inbox", is_flag=True, help="Archive it (not in INBOX).")
@with_store
async def filter_add(
    store: Store,
    settings: Settings,
    user: str,
    sender: str | None,
    to: str | None,
    subject: str | None,
    has_words: str | None,
    doesnt_have: str | None,
    to_folder: str | None,
    mark_read: bool,
    star: bool,
    forward: str | None,
    delete: bool,
    skip_inbox: bool,
) -> None:
    """Add a filter for USER, after the others."""
    account = await _account(store, user)
    data: dict[str, object] = {
        "from": sender,
        "to": to,
        "subject": subject,
        "has_words": has_words,
        "doesnt_have": doesnt_have,
        "to_folder": to_folder,
        "mark_read": mark_read,
        "star": star,
        "forward": forward,
        "delete": delete,
        "skip_inbox": skip_inbox,
    }
    try:
        rule_id, saved = await MailRuleService(store, settings.sieve).add_filter(account, data)
    except (RuleInvalid, ScriptRefused) as exc:
        raise _failed(exc) from None
    click.echo(f"{account.address}: filter {rule_id} added")
    _warn(saved)


@filter_group.command("list")
@data_option
@click.argument("user")
@with_store
async def filter_list(store: Store, settings: Settings, user: str) -> None:
    """USER's filters in the order they run: id and what each does."""
    account = await _account(store, user)
    rules = await MailRuleService(store, settings.sieve).rules(account)
    print_table(["ID", "FILTER"], [[str(rule_id), rule.summary()] for rule_id, rule in rules.filters])


@filter_group.command("del")
@data_option
@click.argument("user")
@click.argument("rule_id", metavar="ID", type=int)
@with_store
async def filter_del(store: Store, settings: Settings, user: str, rule_id: int) -> None:
    """Delete USER's filter ID (as `pochta filter list` shows it)."""
    account = await _account(store, user)
    try:
        saved = await MailRuleService(store, settings.sieve).delete_filter(account, rule_id)
    except (RuleInvalid, ScriptRefused) as exc:
        raise _failed(exc) from None
    click.echo(f"{account.address}: filter {rule_id} deleted")
    _warn(saved)


# --- vacation ----------------------------------------------------------------------------------------


@click.group("vacation")
def vacation_group() -> None:
    """The vacation reply of an account (RFC 5230)."""


@vacation_group.command("set")
@data_option
@click.argument("user")
@click.option("--subject", help="The reply's subject (default: \"Auto: \" and the message's).")
@click.option("--message-file", required=True, help="The reply's text, UTF-8 (- for standard input).")
@click.option("--from-date", type=_DATE, help="First day to reply (YYYY-MM-DD, the server's date).")
@click.option("--until", type=_DATE, help="Last day to reply (YYYY-MM-DD, the server's date).")
@click.option("--contacts-only", is_flag=True, help="Reply only to senders in the address book.")
@click.option("--days", type=click.IntRange(min=1), help="Days between two replies to one sender.")
@with_store
async def vacation_set(
    store: Store,
    settings: Settings,
    user: str,
    subject: str | None,
    message_file: str,
    from_date: datetime | None,
    until: datetime | None,
    contacts_only: bool,
    days: int | None,
) -> None:
    """Turn on (or replace) USER's vacation reply."""
    account = await _account(store, user)
    message = _read_text(message_file)
    data: dict[str, object] = {
        "subject": subject,
        "message": message,
        "from_date": _day(from_date),
        "until": _day(until),
        "contacts_only": contacts_only,
        "days": days,
    }
    try:
        saved = await MailRuleService(store, settings.sieve).set_vacation(account, data)
    except (RuleInvalid, ScriptRefused) as exc:
        raise _failed(exc) from None
    click.echo(f"{account.address}: vacation reply on")
    _warn(saved)


@vacation_group.command("off")
@data_option
@click.argument("user")
@with_store
async def vacation_off(store: Store, settings: Settings, user: str) -> None:
    """Turn off USER's vacation reply."""
    account = await _account(store, user)
    try:
        await MailRuleService(store, settings.sieve).set_vacation(account, None)
    except (RuleInvalid, ScriptRefused) as exc:
        raise _failed(exc) from None
    click.echo(f"{account.address}: vacation reply off")


@vacation_group.command("show")
@data_option
@click.argument("user")
@with_store
async def vacation_show(store: Store, settings: Settings, user: str) -> None:
    """USER's vacation reply, if on."""
    account = await _account(store, user)
    vacation = (await MailRuleService(store, settings.sieve).rules(account)).vacation
    if vacation is None:
        click.echo(f"{account.address}: vacation reply off")
        return
    rows = [
        ["state", "on" if vacation.enabled else "off (kept)"],
        ["subject", vacation.subject or "(Auto: and the message's subject)"],
        ["from date", vacation.from_date.isoformat() if vacation.from_date else "-"],
        ["until", vacation.until.isoformat() if vacation.until else "-"],
        ["starts (UTC)", vacation.starts.isoformat() if vacation.starts else "-"],
        ["ends (UTC)", vacation.ends.isoformat() if vacation.ends else "-"],
        ["contacts only", "yes" if vacation.contacts_only else "no"],
        [
            "days",
            str(vacation.days) if vacation.days else f"default ({settings.sieve.vacation_default_period}s)",
        ],
        ["html", "yes" if vacation.html is not None else "no"],
    ]
    print_table(["SETTING", "VALUE"], rows)
    click.echo("")
    click.echo(vacation.text().rstrip("\n"))
    if vacation.html is not None:
        click.echo("")
        click.echo(vacation.html.rstrip("\n"))


# --- forwarding --------------------------------------------------------------------------------------


@click.group("forward")
def forward_group() -> None:
    """Forwarding of every message an account receives."""


@forward_group.command("set")
@data_option
@click.argument("user")
@click.argument("address")
@click.option("--keep", "mode", flag_value="keep", default=True, help="Keep a copy in INBOX (default).")
@click.option("--archive", "mode", flag_value="archive", help="Keep a copy in the archive.")
@click.option("--delete", "mode", flag_value="delete", help="Keep no copy.")
@with_store
async def forward_set(store: Store, settings: Settings, user: str, address: str, mode: str) -> None:
    """Forward everything USER receives to ADDRESS."""
    account = await _account(store, user)
    try:
        saved = await MailRuleService(store, settings.sieve).set_forward(
            account, {"address": address, "mode": mode}
        )
    except (RuleInvalid, ScriptRefused) as exc:
        raise _failed(exc) from None
    click.echo(f"{account.address}: forwarding to {address} ({mode})")
    _warn(saved)


@forward_group.command("off")
@data_option
@click.argument("user")
@with_store
async def forward_off(store: Store, settings: Settings, user: str) -> None:
    """Stop forwarding USER's mail."""
    account = await _account(store, user)
    try:
        await MailRuleService(store, settings.sieve).set_forward(account, None)
    except (RuleInvalid, ScriptRefused) as exc:
        raise _failed(exc) from None
    click.echo(f"{account.address}: forwarding off")


@forward_group.command("show")
@data_option
@click.argument("user")
@with_store
async def forward_show(store: Store, settings: Settings, user: str) -> None:
    """Where USER's mail is forwarded, if it is."""
    account = await _account(store, user)
    forward = (await MailRuleService(store, settings.sieve).rules(account)).forward
    if forward is None:
        click.echo(f"{account.address}: forwarding off")
    else:
        click.echo(f"{account.address}: forwarding to {forward.address} ({forward.mode})")


def register_rule_commands(group: click.Group) -> None:
    group.add_command(filter_group)
    group.add_command(vacation_group)
    group.add_command(forward_group)
