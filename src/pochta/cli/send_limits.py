"""The sending-limit options of `pochta user set` and `pochta domain set` (``--send-limit N/hour``,
``--send-rcpt-limit N/day``, ``none`` to clear), and the rows `pochta user show` prints
(docs/antispam.md "Sending limits")."""

from __future__ import annotations

import time

import click

from pochta.config import Settings
from pochta.delivery.send_limits import account_send_limits, parse_send_limit
from pochta.store.account_settings import SEND_LIMIT_KEYS
from pochta.store.api import Store
from pochta.store.send_limit_model import Scope, SendLimitOverride, SendLimits, inherited_send_limits

__all__ = ["apply_send_limits", "limits_text", "send_limit_options", "send_limit_rows"]


def send_limit_options(func: click.decorators.FC) -> click.decorators.FC:
    func = click.option(
        "--send-rcpt-limit",
        "send_rcpt_limit",
        multiple=True,
        metavar="N/hour|N/day|none",
        help="Recipients it may send to per hour or day (repeatable); 0 is unlimited; none: the default.",
    )(func)
    return click.option(
        "--send-limit",
        "send_limit",
        multiple=True,
        metavar="N/hour|N/day|none",
        help="Messages it may send per hour or day (repeatable); 0 is unlimited; none: the default.",
    )(func)


def _edited(override: SendLimitOverride, kind: str, values: tuple[str, ...]) -> SendLimitOverride:
    fields: dict[str, int | None] = {
        name: getattr(override, name)
        for name in ("messages_per_hour", "messages_per_day", "recipients_per_hour", "recipients_per_day")
    }
    for value in values:
        if value.strip().lower() == "none":
            fields[f"{kind}_per_hour"] = fields[f"{kind}_per_day"] = None
            continue
        try:
            count, period = parse_send_limit(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        fields[f"{kind}_per_{period}"] = count
    return SendLimitOverride(override.scope, override.name, **fields)


async def apply_send_limits(
    store: Store, scope: Scope, name: str, messages: tuple[str, ...], recipients: tuple[str, ...]
) -> SendLimitOverride | None:
    """The override after the options (None when no option was given)."""
    if not messages and not recipients:
        return None
    current = await store.send_limit_override(scope, name) or SendLimitOverride(scope, name)
    updated = _edited(_edited(current, "messages", messages), "recipients", recipients)
    await store.set_send_limit_override(updated)
    return updated


def _limit(value: int) -> str:
    return "unlimited" if value == 0 else str(value)


def limits_text(limits: SendLimits) -> str:
    return (
        f"{_limit(limits.messages_per_hour)} messages/hour, {_limit(limits.messages_per_day)} messages/day, "
        f"{_limit(limits.recipients_per_hour)} recipients/hour, "
        f"{_limit(limits.recipients_per_day)} recipients/day"
    )


async def send_limit_rows(store: Store, settings: Settings, scope: Scope, name: str) -> list[list[str]]:
    """One row per window: limit (messages, recipients) and what was sent in the current one."""
    override = await store.send_limit_override(scope, name)
    defaults = account_send_limits(settings) if scope == "account" else SendLimits()
    source = "default"
    if scope == "account" and (account := await store.get_account(name)) is not None:
        defaults = inherited_send_limits(account.settings, defaults)
        units = {found.source for key in SEND_LIMIT_KEYS if (found := account.settings.find(key)) is not None}
        source = "unit " + ", ".join(sorted(units)) if units else source
    limits = override.over(defaults) if override else defaults
    rows = []
    for count in await store.send_counts(scope, name, int(time.time())):
        rows.append(
            [
                f"{scope} {name}",
                count.period,
                f"{count.messages}/{_limit(limits.limit('messages', count.period))}",
                f"{count.recipients}/{_limit(limits.limit('recipients', count.period))}",
                "own" if override else source,
            ]
        )
    return rows
