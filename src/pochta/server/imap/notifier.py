"""What a NOTIFY session watches (RFC 5465 §6) and the change feed task that collects its news.

``Watch`` is a NOTIFY SET evaluated for the session: the message events of the selected mailbox
(SELECTED or SELECTED-DELAYED, with MessageNew's fetch attributes), and the other filters with their
events, mailbox names already decoded and canonical. ``events_for`` gives the events of a mailbox by
name: the union of every filter that matches it (§6: "multiple event-groups can apply to the same
mailbox"). INBOXES is PERSONAL (§6.3 allows it: delivery may file into any mailbox, by sieve or
subaddress); every mailbox of the account is in the personal namespace.

``Notifier`` follows one account-wide feed subscription (``ChangeFeed.subscribe_account``; changes of
other worker processes arrive on it too, relayed by ``server.peers``) and only records: which mailboxes
had which kinds of message changes (a set per mailbox, so a burst of deliveries is one STATUS), and
whether any mailbox was created, renamed, deleted or (un)subscribed. ``ready`` is set when there is
news; ``server.imap.notify`` tells the client. More than ``imap.notify_max_pending`` changes untold, or
an OVERFLOW from the feed, is ``overflowed`` (§5.8).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from pochta.proto.imap.fetch import FetchAtt
from pochta.store.api import ChangeSubscription
from pochta.store.model import HIERARCHY_SEPARATOR, ChangeKind, MailboxId, MailboxInfo

__all__ = ["SUPPORTED_EVENTS", "Filter", "Notifier", "Watch"]

# RFC 5465 §3.1: BADEVENT "MUST list names of all events supported by the server".
SUPPORTED_EVENTS = ("MessageNew", "MessageExpunge", "FlagChange", "MailboxName", "SubscriptionChange")


@dataclass(frozen=True)
class Filter:
    kind: str  # "PERSONAL", "INBOXES", "SUBSCRIBED", "SUBTREE", "MAILBOXES"
    names: frozenset[str]  # canonical names (SUBTREE, MAILBOXES)
    events: frozenset[str]

    def matches(self, name: str, subscribed: bool) -> bool:
        if self.kind in ("PERSONAL", "INBOXES"):  # RFC 5465 §6.2, §6.3
            return True
        if self.kind == "SUBSCRIBED":  # §6.4
            return subscribed
        if self.kind == "MAILBOXES":  # §6.6: no wildcard expansion
            return name in self.names
        # §6.5 SUBTREE: the mailbox and every mailbox below it.
        return name in self.names or any(name.startswith(n + HIERARCHY_SEPARATOR) for n in self.names)


@dataclass(frozen=True)
class Watch:
    selected_events: frozenset[str] = frozenset()  # SELECTED / SELECTED-DELAYED (§6.1)
    delayed: bool = False  # SELECTED-DELAYED: expunges wait for a command that allows them
    fetch_atts: tuple[FetchAtt, ...] = ()  # MessageNew's (§5.2)
    filters: tuple[Filter, ...] = ()

    def events_for(self, name: str, subscribed: bool) -> frozenset[str]:
        found: set[str] = set()
        for f in self.filters:
            if f.matches(name, subscribed):
                found |= f.events
        return frozenset(found)

    @property
    def wants_names(self) -> bool:
        """Whether any filter asks for MailboxName or SubscriptionChange."""
        return any(f.events & {"MailboxName", "SubscriptionChange"} for f in self.filters)


@dataclass
class Notifier:
    """The news of one NOTIFY session, collected from its feed subscription (see the module doc)."""

    watch: Watch
    subscription: ChangeSubscription
    max_pending: int
    known: dict[MailboxId, MailboxInfo]  # the account's mailboxes as last told (or at NOTIFY SET)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    _kinds: dict[MailboxId, set[ChangeKind]] = field(default_factory=dict)
    _names: bool = False
    _untold: int = 0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        async for change in self.subscription:
            if change.kind is ChangeKind.OVERFLOW:
                self.overflowed = True  # changes were dropped: RFC 5465 §5.8
            elif change.kind is ChangeKind.MAILBOX:
                self._names = True
            else:
                self._kinds.setdefault(change.mailbox_id, set()).add(change.kind)
            self._untold += 1
            if self._untold > self.max_pending:
                self.overflowed = True
            self.ready.set()

    def take(self) -> tuple[dict[MailboxId, set[ChangeKind]], bool]:
        """The news since the last call: message change kinds by mailbox, and whether mailboxes
        may have been created, renamed, deleted or (un)subscribed."""
        kinds, names = self._kinds, self._names
        self._kinds, self._names, self._untold = {}, False, 0
        self.ready.clear()
        return kinds, names

    def by_name(self) -> dict[str, MailboxInfo]:
        return {info.name: info for info in self.known.values()}

    def remember(self, mailboxes: Iterable[MailboxInfo]) -> None:
        self.known = {info.id: info for info in mailboxes}

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.subscription.aclose()
