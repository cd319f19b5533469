"""Sending limits as the store keeps them (``send_limits`` and ``send_counts``, revision 0030); the
rules (which limit applies, the replies, the postmaster notice) are ``pochta.delivery.send_limits``'s.

A limit counts in fixed windows: the clock hour and the UTC day (``window_start``). The check and the
count happen in the write transaction that queues the message (``NewQueueEntry.charge``), so workers
of one server, which take turns at writing, never both slip past a limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pochta.store.account_settings import SEND_LIMIT_KEYS, AccountSettings

__all__ = [
    "PERIODS",
    "Period",
    "Scope",
    "SendCharge",
    "SendCount",
    "SendLimitOverride",
    "SendLimitReached",
    "SendLimits",
    "inherited_send_limits",
    "window_start",
]

Scope = Literal["account", "domain"]
Period = Literal["hour", "day"]
Kind = Literal["messages", "recipients"]
PERIODS: dict[Period, int] = {"hour": 3600, "day": 86400}


def window_start(period: Period, now: int) -> int:
    """Epoch seconds at which the window of ``period`` holding ``now`` began."""
    length = PERIODS[period]
    return now - now % length


@dataclass(frozen=True)
class SendLimits:
    """Limits of one account or domain; 0 is unlimited."""

    messages_per_hour: int = 0
    messages_per_day: int = 0
    recipients_per_hour: int = 0
    recipients_per_day: int = 0

    def limit(self, kind: Kind, period: Period) -> int:
        value: int = getattr(self, f"{kind}_per_{period}")
        return value


def inherited_send_limits(settings: AccountSettings, defaults: SendLimits) -> SendLimits:
    """An account's limits before its own override: for each, the nearest of its units that sets it
    (``send.*``, docs/units.md), else ``defaults`` (the config's)."""
    return SendLimits(
        *(settings.get(key, getattr(defaults, key.name.removeprefix("send."))) for key in SEND_LIMIT_KEYS)
    )


@dataclass(frozen=True)
class SendLimitOverride:
    """One row of ``send_limits``: a value of ``None`` takes the default (the config's for an account,
    unlimited for a domain)."""

    scope: Scope
    name: str  # the account's address, lower-case, or the domain
    messages_per_hour: int | None = None
    messages_per_day: int | None = None
    recipients_per_hour: int | None = None
    recipients_per_day: int | None = None

    def over(self, defaults: SendLimits) -> SendLimits:
        return SendLimits(
            *(
                default if mine is None else mine
                for mine, default in (
                    (self.messages_per_hour, defaults.messages_per_hour),
                    (self.messages_per_day, defaults.messages_per_day),
                    (self.recipients_per_hour, defaults.recipients_per_hour),
                    (self.recipients_per_day, defaults.recipients_per_day),
                )
            )
        )


@dataclass(frozen=True)
class SendCount:
    """What one account or domain sent in the current window of ``period``."""

    scope: Scope
    name: str
    period: Period
    start: int  # window_start
    messages: int = 0
    recipients: int = 0
    notified: bool = False  # the postmaster was told about this window


@dataclass(frozen=True)
class SendCharge:
    """A message to count against its account and domain: ``recipients`` queued copies.
    ``account_defaults``: the config's limits of an account (a domain has none by default)."""

    account: str  # lower-case address
    domain: str
    recipients: int
    now: int  # epoch seconds
    account_defaults: SendLimits


class SendLimitReached(Exception):
    """A charge that would pass a limit: nothing was counted, nothing queued."""

    def __init__(self, scope: Scope, name: str, kind: Kind, period: Period, limit: int, start: int) -> None:
        super().__init__(f"{scope} {name}: {limit} {kind} per {period}")
        self.scope = scope
        self.name = name
        self.kind: Kind = kind
        self.period: Period = period
        self.limit = limit
        self.start = start
