"""Sending limits of authenticated submission (docs/antispam.md "Sending limits").

An account may submit so many messages and recipients per clock hour and per UTC day (the
``[limits] send_*`` defaults, or its own override), and so may all the accounts of a domain together
(an override only). The store counts them in the transaction that queues the message
(``NewQueueEntry.charge``): exact across the workers and restarts. MAIL is refused at once when the
account is already at a limit; a message that would pass one at end of DATA is refused then, and
nothing of it is queued.

A hit is logged, counted (``pochta_send_limit_hits_total``) and told to the postmaster once per account
(or domain) and window: an account that suddenly sends a lot usually has a stolen password.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pochta.config import Settings
from pochta.log import get_logger
from pochta.proto.smtp.replies import Reply
from pochta.store.api import Store
from pochta.store.send_limit_model import Period, SendCharge, SendLimitReached, SendLimits

__all__ = [
    "SendLimitPolicy",
    "account_send_limits",
    "notice_message",
    "notice_recipient",
    "parse_send_limit",
    "send_limit_reply",
]

log = get_logger(component="send-limits")

_PERIOD_WORDS: dict[str, Period] = {"hour": "hour", "h": "hour", "day": "day", "d": "day"}


def account_send_limits(settings: Settings) -> SendLimits:
    """An account's sending limits from the config (``[limits] send_*``; a domain has none by default)."""
    limits = settings.limits
    return SendLimits(
        limits.send_messages_per_hour,
        limits.send_messages_per_day,
        limits.send_recipients_per_hour,
        limits.send_recipients_per_day,
    )


def parse_send_limit(text: str) -> tuple[int, Period]:
    """``"100/hour"`` -> (100, "hour"); ``"0/day"`` is unlimited. ValueError says what is wrong."""
    count, slash, period = text.strip().partition("/")
    if not slash or period.strip().lower() not in _PERIOD_WORDS:
        raise ValueError(f"{text!r}: expected N/hour or N/day")
    if not count.strip().isdigit():
        raise ValueError(f"{text!r}: the count must be a whole number")
    return int(count), _PERIOD_WORDS[period.strip().lower()]


def send_limit_reply(hit: SendLimitReached) -> Reply:
    what = f"{hit.limit} {hit.kind} per {hit.period}"
    if hit.period == "hour":
        # RFC 3463 section 3.8, X.7.1: not authorized now; a 4xx reply, as the client may retry next hour.
        return Reply(451, (f"Sending limit of {what} reached; try again later",), "4.7.1")
    # RFC 3463 section 3.5, X.4.5 (mail system congestion), as large providers answer a daily quota: 5xx,
    # since retrying within the day cannot succeed.
    return Reply(550, (f"Daily sending limit of {what} reached",), "5.4.5")


class SendLimitPolicy:
    """One per server; ``enqueue`` puts the postmaster's notice in the outbound queue."""

    def __init__(
        self,
        store: Store,
        defaults: SendLimits,
        enqueue_notice: Callable[[bytes, str], Awaitable[None]],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.defaults = defaults
        self.enqueue_notice = enqueue_notice
        self.clock = clock

    def charge(self, account: str, recipients: int) -> SendCharge:
        address = account.lower()
        return SendCharge(
            account=address,
            domain=address.rpartition("@")[2],
            recipients=recipients,
            now=int(self.clock()),
            account_defaults=self.defaults,
        )

    async def at_mail(self, account: str, recipients: int = 1) -> SendLimitReached | None:
        """The limit a new message of ``account`` with ``recipients`` remote recipients (one at
        least, at MAIL) would pass now."""
        return await self.store.send_limit_check(self.charge(account, recipients))

    async def record(self, hit: SendLimitReached, account: str, postmaster: str, hostname: str) -> None:
        """Log the hit and tell the postmaster, once per window."""
        log.warning(
            "sending limit reached",
            scope=hit.scope,
            name=hit.name,
            limit=hit.limit,
            kind=hit.kind,
            window=hit.period,
            account=account,
        )
        if not await self.store.send_limit_notified(hit):
            return
        await self.enqueue_notice(notice_message(hit, account, postmaster, hostname), postmaster)


def notice_message(hit: SendLimitReached, account: str, postmaster: str, hostname: str) -> bytes:
    who = f"The account {hit.name}" if hit.scope == "account" else f"The accounts of {hit.name}"
    since = datetime.fromtimestamp(hit.start, UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (
        f"{who} reached the sending limit of {hit.limit} {hit.kind} per {hit.period}\r\n"
        f"(the window began {since}); the submission by {account} was refused,\r\n"
        "and so will be the others until the window ends. This notice is sent once per window.\r\n"
        "\r\n"
        "A sudden burst of mail is often the sign of a stolen password: check the account's\r\n"
        "recent logins, and change its password or disable it (pochta user set).\r\n"
        "Limits: pochta user show / pochta user set --send-limit N/hour.\r\n"
    )
    fields = [
        f"From: Mail Delivery System <MAILER-DAEMON@{hostname}>",
        f"To: <{postmaster}>",
        f"Subject: Sending limit reached: {hit.name} ({hit.limit} {hit.kind} per {hit.period})",
        f"Date: {email.utils.format_datetime(datetime.now(UTC))}",
        f"Message-ID: {email.utils.make_msgid(domain=hostname)}",
        "Auto-Submitted: auto-generated",  # RFC 3834 section 5: no auto-replies to it
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(fields) + "\r\n\r\n" + body).encode()


def notice_recipient(configured: str, primary_domain: str | None, hostname: str) -> str:
    """smtp.postmaster when set, else postmaster@ the primary domain (else the host name)."""
    return configured or f"postmaster@{primary_domain or hostname}"
