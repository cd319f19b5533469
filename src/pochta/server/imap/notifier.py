"""What a NOTIFY session watches (RFC 5465 §6) and the change feed task that collects its news.

``Watch`` is a NOTIFY SET evaluated for the session: the message events of the selected mailbox
(SELECTED or SELECTED-DELAYED, with MessageNew's fetch attributes), and the other filters with their
events, mailbox names already decoded and canonical. ``events_for`` gives the events of a mailbox by
name: the union of every filter that matches it (§6: "multiple event-groups can apply to the same
mailbox"). INBOXES is PERSONAL (§6.3 allows it: delivery may file into any mailbox, by sieve or
subaddress); every mailbox of the account is in the personal namespace.

``Notifier`` follows one account-wide feed subscription (``ChangeFeed.subscribe_account``; changes of
other worker processes arrive on it too, relayed by ``server.peers``) and only records: which mailboxes
had which kinds of message changes (a set per mailbox, so a burst of deliveries is one STATUS), which
METADATA entries changed (names per mailbox, 0 for the server, RFC 5465 §5.6, §5.7), and whether any
mailbox was created, renamed, deleted or (un)subscribed. ``ready`` is set when there is news;
``server.imap.notify`` tells the client. More than ``imap.notify_max_pending`` changes (each entry
name counts as one) untold, or an OVERFLOW from the feed, is ``overflowed`` (§5.8).

Mailboxes of other users and public ones (``mail.access``) are watched when a ``mailboxes`` or
``subtree`` filter names them (RFC 5465 §6.5, §6.6; PERSONAL, INBOXES and SUBSCRIBED are the user's
own): their message events only, from one more feed subscription per owner (``follow_owner``), the
rights read again before each is told (``server.imap.notify``, §5.9).

The session's own changes are not told (RFC 5465 §5: "The server SHOULD omit notifying the client if
the event is caused by this client"): after its own APPEND, COPY, MOVE or SETMETADATA the session
names what it wrote (``own_messages``, ``own_metadata``); what of it the feed brought already is
dropped, what is still on its way is dropped when it comes (the write's echo always comes through
this process's feed: the session's own commits are published here).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from pochta.proto.imap.fetch import FetchAtt
from pochta.store.api import ChangeSubscription
from pochta.store.model import HIERARCHY_SEPARATOR, AccountId, Change, ChangeKind, MailboxId, MailboxInfo, Uid

__all__ = ["SERVER", "SUPPORTED_EVENTS", "Filter", "Foreign", "News", "Notifier", "Watch"]

# RFC 5465 §3.1: BADEVENT "MUST list names of all events supported by the server".
SUPPORTED_EVENTS = (
    "MessageNew",
    "MessageExpunge",
    "FlagChange",
    "MailboxName",
    "SubscriptionChange",
    "MailboxMetadataChange",  # RFC 5465 §5.6: required with METADATA
    "ServerMetadataChange",  # §5.7: required with METADATA-SERVER
)
SERVER: MailboxId = 0  # the mailbox id of the server's METADATA entries (store.sqlite_metadata)
_MESSAGE_KINDS = frozenset({ChangeKind.APPENDED, ChangeKind.EXPUNGED, ChangeKind.FLAGS})
_PRIVATE = "/private/"


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
class Foreign:
    """A mailbox of another user or a public one that a ``mailboxes`` or ``subtree`` filter names
    (RFC 5465 §6.5, §6.6): its name as the user writes it, its owner, and its message events."""

    shown: str
    owner_id: AccountId
    events: frozenset[str]


@dataclass(frozen=True)
class Watch:
    selected_events: frozenset[str] = frozenset()  # SELECTED / SELECTED-DELAYED (§6.1)
    delayed: bool = False  # SELECTED-DELAYED: expunges wait for a command that allows them
    fetch_atts: tuple[FetchAtt, ...] = ()  # MessageNew's (§5.2)
    filters: tuple[Filter, ...] = ()

    def named_events(self, name: str) -> frozenset[str]:
        """The events of the ``mailboxes`` and ``subtree`` filters that name ``name``: the only ones
        that reach a mailbox outside the personal namespace (§6.2, §6.3 are the personal one)."""
        found: set[str] = set()
        for f in self.filters:
            if f.kind in ("MAILBOXES", "SUBTREE") and f.matches(name, False):
                found |= f.events
        return frozenset(found)

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

    @property
    def wants_server_metadata(self) -> bool:
        """Whether any group asks for ServerMetadataChange (RFC 5465 §5.7: of the server, whatever
        the group's mailboxes)."""
        return any("ServerMetadataChange" in f.events for f in self.filters)


@dataclass
class News:
    """What ``Notifier.take`` hands over: message change kinds by mailbox, whether mailboxes may have
    been created, renamed, deleted or (un)subscribed, and METADATA entry names by mailbox (``SERVER``:
    the server's)."""

    kinds: dict[MailboxId, set[ChangeKind]]
    names: bool
    metadata: dict[MailboxId, set[str]]


@dataclass
class Notifier:
    """The news of one NOTIFY session, collected from its feed subscription (see the module doc)."""

    watch: Watch
    subscription: ChangeSubscription
    max_pending: int
    known: dict[MailboxId, MailboxInfo]  # the account's mailboxes as last told (or at NOTIFY SET)
    account_id: AccountId
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    _kinds: dict[MailboxId, set[ChangeKind]] = field(default_factory=dict)
    _appended: dict[MailboxId, list[tuple[Uid, ...]]] = field(default_factory=dict)  # UIDs by change
    _metadata: dict[MailboxId, set[str]] = field(default_factory=dict)
    _own_new: dict[MailboxId, set[Uid]] = field(default_factory=dict)  # own writes still to come
    _own_metadata: dict[MailboxId, set[str]] = field(default_factory=dict)
    # UIDs this session added to the selected mailbox: its EXISTS, no MessageNew FETCH (§5.2).
    own_selected: dict[MailboxId, set[Uid]] = field(default_factory=dict)
    # Other users' and public mailboxes watched for message events, by id, with the subscriptions
    # to their owners' changes (one per owner) and each one's status as last told.
    foreign: dict[MailboxId, Foreign] = field(default_factory=dict)
    foreign_told: dict[MailboxId, MailboxInfo] = field(default_factory=dict)
    # (UIDVALIDITY, HIGHESTMODSEQ) of each mailbox's last STATUS sent: a wake-up for a change that
    # STATUS already counted (a burst of deliveries) tells nothing new, and is not told twice.
    status_told: dict[MailboxId, tuple[int, int]] = field(default_factory=dict)
    _names: bool = False
    _untold: int = 0
    _task: asyncio.Task[None] | None = None
    _foreign_follow: list[tuple[ChangeSubscription, asyncio.Task[None]]] = field(default_factory=list)

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    def follow_owner(self, subscription: ChangeSubscription) -> None:
        """Follow another account's changes for the ``foreign`` mailboxes it owns: their message
        events only (its mailbox list and METADATA are its owner's to be told)."""
        task = asyncio.create_task(self._follow_foreign(subscription))
        self._foreign_follow.append((subscription, task))

    async def _follow_foreign(self, subscription: ChangeSubscription) -> None:
        async for change in subscription:
            if change.kind is ChangeKind.OVERFLOW:
                self.overflowed = True
            elif change.mailbox_id not in self.foreign or change.kind not in _MESSAGE_KINDS:
                continue
            elif change.kind is ChangeKind.APPENDED:
                if not self._appended_change(change):
                    continue
            else:
                self._kinds.setdefault(change.mailbox_id, set()).add(change.kind)
            self._untold += 1
            if self._untold > self.max_pending:
                self.overflowed = True
            self.ready.set()

    async def _follow(self) -> None:
        async for change in self.subscription:
            if change.kind is ChangeKind.OVERFLOW:
                self.overflowed = True  # changes were dropped: RFC 5465 §5.8
            elif change.kind is ChangeKind.MAILBOX:
                self._names = True
            elif change.kind is ChangeKind.METADATA:
                if not self._metadata_change(change):
                    continue
            elif change.kind is ChangeKind.APPENDED:
                if not self._appended_change(change):
                    continue
            else:
                self._kinds.setdefault(change.mailbox_id, set()).add(change.kind)
            self._untold += 1
            if self._untold > self.max_pending:
                self.overflowed = True
            self.ready.set()

    def _appended_change(self, change: Change) -> bool:
        """Record new messages, unless they are the echo of this session's own write."""
        own = self._own_new.get(change.mailbox_id)
        if own and change.uids and own.issuperset(change.uids):
            own.difference_update(change.uids)
            return False
        self._appended.setdefault(change.mailbox_id, []).append(change.uids)
        return True

    def _metadata_change(self, change: Change) -> bool:
        """Record the entry names of a METADATA change that this user may read and did not write."""
        # The feed gives /private/ names only to their user's subscription; checked again here, so
        # that nothing could ever tell another user's private entry names.
        names = {
            n for n in change.entries if not n.startswith(_PRIVATE) or change.account_id == self.account_id
        }
        own = self._own_metadata.get(change.mailbox_id)
        if own:
            mine = names & own
            own -= mine
            names -= mine
        if not names:
            return False
        found = self._metadata.setdefault(change.mailbox_id, set())
        found |= names
        self._untold += len(names) - 1  # every name counts (the caller adds one)
        return True

    def own_messages(self, mailbox_id: MailboxId, uids: Iterable[Uid]) -> None:
        """This session added ``uids`` to the mailbox (APPEND, COPY, MOVE): not to be told (§5)."""
        own = set(uids)
        pending = self._appended.get(mailbox_id)
        if pending:
            kept = []
            for added in pending:
                if added and own.issuperset(added):
                    own.difference_update(added)
                else:
                    kept.append(added)
            self._appended[mailbox_id] = kept
        if own:
            self._own_new.setdefault(mailbox_id, set()).update(own)

    def own_metadata(self, mailbox_id: MailboxId, names: Iterable[str]) -> None:
        """This session set or removed the entries ``names`` of the mailbox (``SERVER``: of the
        server), which the feed brings to this subscription: not to be told (§5)."""
        own = set(names)
        pending = self._metadata.get(mailbox_id)
        if pending:
            arrived = pending & own
            pending -= arrived
            own -= arrived
        if own:
            self._own_metadata.setdefault(mailbox_id, set()).update(own)

    def take(self) -> News:
        """The news since the last call (see ``News``)."""
        kinds = self._kinds
        for mailbox_id, added in self._appended.items():
            if added:
                kinds.setdefault(mailbox_id, set()).add(ChangeKind.APPENDED)
        news = News(kinds, self._names, {k: v for k, v in self._metadata.items() if v})
        self._kinds, self._appended, self._metadata, self._names, self._untold = {}, {}, {}, False, 0
        self.ready.clear()
        return news

    def by_name(self) -> dict[str, MailboxInfo]:
        return {info.name: info for info in self.known.values()}

    def remember(self, mailboxes: Iterable[MailboxInfo]) -> None:
        self.known = {info.id: info for info in mailboxes}

    async def close(self) -> None:
        task, self._task = self._task, None
        following, self._foreign_follow = self._foreign_follow, []
        tasks = [task] if task is not None else []
        tasks += [t for _, t in following]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.subscription.aclose()
        for subscription, _ in following:
            await subscription.aclose()
