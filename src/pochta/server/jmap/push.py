"""What a JMAP push connection watches (RFC 8620 section 7): the account's store changes as the
data types whose state moved, for the event source (``web.jmap_push``) and the WebSocket
(``web.jmap_ws``).

``StateWatch`` follows one account-wide feed subscription (``ChangeFeed.subscribe_account``: every
committed change of the account, from every worker process and node). A change touches data types
(``TYPES_OF``); after the first one the watch waits ``jmap.push_coalesce`` seconds for more (a
delivery into ten mailboxes is ten changes and one StateChange), then reads the account's state
once (``store.account_state``: Email, Mailbox and Thread share the account's MODSEQ counter,
``proto.jmap.mail.states``) and reports the types whose state differs from the one last told. A
feed OVERFLOW (the connection fell behind) counts as a change of every type: the state read after
it is exact whatever was dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pochta.proto.jmap.mail.states import state_string
from pochta.store.api import ChangeSubscription, Store
from pochta.store.model import AccountId, ChangeKind

__all__ = ["PUSHED_TYPES", "TYPES_OF", "StateWatch"]

EMAIL, MAILBOX, THREAD = "Email", "Mailbox", "Thread"
PUSHED_TYPES = frozenset({EMAIL, MAILBOX, THREAD})
# A message appended or expunged changes its Email, its Mailbox's counts and its Thread; flags
# change the Email and the Mailbox's unread counts (RFC 8621 section 2: unreadEmails...);
# a mailbox created, renamed, deleted or (un)subscribed is a Mailbox change. METADATA is not JMAP's.
TYPES_OF: dict[ChangeKind, frozenset[str]] = {
    ChangeKind.APPENDED: PUSHED_TYPES,
    ChangeKind.EXPUNGED: PUSHED_TYPES,
    ChangeKind.FLAGS: frozenset({EMAIL, MAILBOX}),
    ChangeKind.MAILBOX: frozenset({MAILBOX}),
    ChangeKind.METADATA: frozenset(),
    ChangeKind.OVERFLOW: PUSHED_TYPES,
}


class StateWatch:
    """The state changes of one account, as {type name: new state}. Create it on the event loop
    that reads it (the feed subscription is made here: no change committed after it is missed),
    then ``start`` it; ``close`` ends it."""

    def __init__(self, store: Store, account_id: AccountId, *, max_pending: int, coalesce: float) -> None:
        self._store = store
        self._account_id = account_id
        self._coalesce = coalesce
        self._subscription: ChangeSubscription = store.feed().subscribe_account(account_id, max_pending)
        self._told: dict[str, str] = {}
        self._base = ""
        self._coalesce_until = 0.0
        self.ended = False  # the feed ended (the store shuts down)

    async def start(self) -> str:
        """The account's state now: the base every type's change is measured from."""
        self._base = state_string(await self._store.account_state(self._account_id))
        return self._base

    def rebase(self, state: str, types: frozenset[str]) -> None:
        """``types`` are known to the client at ``state`` (a WebSocket's pushState)."""
        for name in types:
            self._told[name] = state

    async def next(self, within: float | None, wanted: Callable[[str], bool]) -> dict[str, str]:
        """The types ``wanted`` whose state moved, with their state; {} after ``within`` seconds
        without such a change, or when the feed ended (``ended``)."""
        loop = asyncio.get_running_loop()
        deadline = None if within is None else loop.time() + within
        types: set[str] = set()
        while True:
            if types:  # a change came: wait the coalescing window for more
                wait: float | None = self._coalesce_until - loop.time()
            else:
                wait = None if deadline is None else deadline - loop.time()
            if wait is not None and wait <= 0:
                if not types:
                    return {}
                break
            try:
                async with asyncio.timeout(wait):
                    change = await anext(self._subscription)
            except TimeoutError:
                if not types:
                    return {}
                break
            except StopAsyncIteration:
                self.ended = True
                if not types:
                    return {}
                break
            touched = {name for name in TYPES_OF.get(change.kind, frozenset()) if wanted(name)}
            if touched and not types:
                self._coalesce_until = loop.time() + self._coalesce
            types |= touched
        state = state_string(await self._store.account_state(self._account_id))
        moved = {name: state for name in sorted(types) if self._told.get(name, self._base) != state}
        self._told.update(moved)
        return moved

    async def close(self) -> None:
        await self._subscription.aclose()
        self.ended = True
