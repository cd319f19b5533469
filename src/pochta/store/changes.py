"""The in-process change feed: committed changes, pushed to the subscribers of each mailbox.

The writer thread calls ``ChangeFeed.publish`` after each commit; every subscription belongs to one
event loop and receives its changes through ``loop.call_soon_threadsafe``, so queues are only ever
touched on their own loop. A subscription buffers at most ``max_pending`` changes: one that falls
further behind (an IDLE session whose client stopped reading) has its buffer replaced by a single
``ChangeKind.OVERFLOW`` marker, and resyncs with ``changes_since`` - memory stays bounded whatever
the client does.

Subscriptions are held weakly by the feed: an abandoned iterator costs nothing once collected. Close
one explicitly with ``aclose()`` (or ``async with``) to stop delivery at once.

``subscribe_account`` gives the changes of every mailbox of one account (IMAP NOTIFY, RFC 5465: the
session watches mailboxes other than the selected one); a commit costs one dict lookup more only while
such a subscription exists. A change for ``EVERY_ACCOUNT`` (the server's /shared/ METADATA entries)
goes to every account's subscription.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from types import TracebackType

from pochta.store.model import EVERY_ACCOUNT, AccountId, Change, ChangeKind, MailboxId, ModSeq

DEFAULT_MAX_PENDING = 10_000


class Subscription:
    """An async iterator of the changes committed to one mailbox after it was created."""

    def __init__(
        self,
        feed: LocalChangeFeed,
        mailbox_id: MailboxId,
        loop: asyncio.AbstractEventLoop,
        max_pending: int,
        account_id: AccountId | None = None,
    ) -> None:
        self.mailbox_id = mailbox_id  # MailboxId(0) for an account's subscription
        self.account_id = account_id  # set: every mailbox of this account (``subscribe_account``)
        self._feed = feed
        self._loop = loop
        self._max = max_pending
        self._pending: deque[Change] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._overflowed = False  # an OVERFLOW marker is queued and not yet read
        self._closed = False

    # Consumer side (on the subscription's loop)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Change:
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        change = self._pending.popleft()
        if change.kind is ChangeKind.OVERFLOW:
            self._overflowed = False
        return change

    def pending(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        """Stop delivery; iteration ends after the changes already buffered."""
        if self._closed:
            return
        self._closed = True
        self._feed._remove(self)
        self._wake()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # Producer side

    def _deliver(self, changes: Sequence[Change]) -> None:
        """Runs on the subscription's loop (scheduled by publish)."""
        if self._closed:
            return
        for change in changes:
            if self._overflowed:
                continue  # the resync the marker asks for covers this change too
            if len(self._pending) >= self._max:
                self._pending.clear()
                self._pending.append(
                    Change(ChangeKind.OVERFLOW, change.account_id, self.mailbox_id, change.modseq)
                )
                self._overflowed = True
            else:
                self._pending.append(change)
        self._wake()

    def _force_overflow(self, marker: Change) -> None:
        if self._closed or self._overflowed:
            return
        self._pending.clear()
        self._pending.append(marker)
        self._overflowed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def _deliver_all(deliveries: list[tuple[Subscription, tuple[Change, ...]]]) -> None:
    """On a subscriptions' loop: hand each its changes (``LocalChangeFeed.publish_local``)."""
    for subscription, changes in deliveries:
        subscription._deliver(changes)


class LocalChangeFeed:
    """Implements ``pochta.store.api.ChangeFeed`` for one process."""

    def __init__(self, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._max_pending = max_pending
        # Called with every batch published here (from the writer thread): how other processes on
        # the same data directory hear of our commits (``pochta.server.peers``).
        self.relay: Callable[[Sequence[Change]], None] | None = None
        self._lock = threading.Lock()  # subscribe/close run on loops, publish on the writer thread
        self._subscribers: defaultdict[MailboxId, weakref.WeakSet[Subscription]] = defaultdict(
            weakref.WeakSet
        )
        self._accounts: defaultdict[AccountId, weakref.WeakSet[Subscription]] = defaultdict(weakref.WeakSet)

    def subscribe(self, mailbox_id: MailboxId) -> Subscription:
        """Must be called on the event loop that will iterate the subscription."""
        subscription = Subscription(self, mailbox_id, asyncio.get_running_loop(), self._max_pending)
        with self._lock:
            self._subscribers[mailbox_id].add(subscription)
        return subscription

    def subscribe_account(self, account_id: AccountId, max_pending: int | None = None) -> Subscription:
        """The changes of every mailbox of ``account_id`` (created, renamed and deleted ones too);
        on the loop that will iterate it. ``max_pending``: its own bound (default the feed's)."""
        bound = self._max_pending if max_pending is None else max_pending
        loop = asyncio.get_running_loop()
        subscription = Subscription(self, MailboxId(0), loop, bound, account_id=account_id)
        with self._lock:
            self._accounts[account_id].add(subscription)
        return subscription

    def subscriber_count(self, mailbox_id: MailboxId) -> int:
        with self._lock:
            found = self._subscribers.get(mailbox_id)
            return len(found) if found is not None else 0

    def publish(self, changes: Sequence[Change]) -> None:
        """Hand committed changes to their mailboxes' subscribers, and to the relay; callable from
        any thread."""
        self.publish_local(changes)
        if self.relay is not None and changes:
            self.relay(changes)

    def publish_local(self, changes: Sequence[Change]) -> None:
        """Hand changes to this process's subscribers only (what another process relayed)."""
        by_mailbox: defaultdict[MailboxId, list[Change]] = defaultdict(list)
        for change in changes:
            by_mailbox[change.mailbox_id].append(change)
        # One wake-up per event loop (a write to its self-pipe), however many of its sessions watch.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Subscription, tuple[Change, ...]]]] = {}
        with self._lock:
            for mailbox_id, batch in by_mailbox.items():
                group = self._subscribers.get(mailbox_id)
                if group is None:
                    continue
                changes_of = tuple(batch)
                for subscription in list(group):
                    by_loop.setdefault(subscription._loop, []).append((subscription, changes_of))
            if self._accounts:
                by_account: defaultdict[AccountId, list[Change]] = defaultdict(list)
                for change in changes:
                    if change.account_id == EVERY_ACCOUNT:  # in commit order among the others
                        for account_id in self._accounts:
                            by_account[account_id].append(change)
                    else:
                        by_account[change.account_id].append(change)
                for account_id, batch in by_account.items():
                    watchers = self._accounts.get(account_id)
                    if watchers is None:
                        continue
                    changes_of = tuple(batch)
                    for subscription in list(watchers):
                        by_loop.setdefault(subscription._loop, []).append((subscription, changes_of))
        for loop, deliveries in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver_all, deliveries)
            except RuntimeError:
                # Its loop is closed: nobody will ever read these.
                for subscription, _ in deliveries:
                    self._remove(subscription)

    def resync_all(self) -> None:
        """Changes may have been missed (a relay queue overflowed): every subscription gets an
        OVERFLOW marker, which makes its reader catch up from the store."""
        with self._lock:
            subscriptions = [s for group in self._subscribers.values() for s in list(group)]
            subscriptions += [s for group in self._accounts.values() for s in list(group)]
        for subscription in subscriptions:
            marker = Change(ChangeKind.OVERFLOW, AccountId(0), subscription.mailbox_id, ModSeq(0))
            try:
                subscription._loop.call_soon_threadsafe(subscription._force_overflow, marker)
            except RuntimeError:
                self._remove(subscription)

    def close(self) -> None:
        """End every subscription (store shutdown): iterators finish after what they buffered."""
        with self._lock:
            subscriptions = [s for group in self._subscribers.values() for s in list(group)]
            subscriptions += [s for group in self._accounts.values() for s in list(group)]
        for subscription in subscriptions:
            try:
                subscription._loop.call_soon_threadsafe(subscription.close)
            except RuntimeError:
                self._remove(subscription)

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            account_id = subscription.account_id
            if account_id is not None:
                watchers = self._accounts.get(account_id)
                if watchers is not None:
                    watchers.discard(subscription)
                    if not watchers:
                        del self._accounts[account_id]
                return
            group = self._subscribers.get(subscription.mailbox_id)
            if group is not None:
                group.discard(subscription)
                if not group:
                    del self._subscribers[subscription.mailbox_id]
