"""What every ``*/changes`` of JMAP Mail shares (RFC 8620 section 5.2): the store of the call, the
state it starts from (``proto/jmap/mail/states``), how many ids one answer may hold, the
newState of a page, and the page of Email records Email/changes and Thread/changes both read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pochta.proto.jmap import MethodError, MethodErrorType
from pochta.proto.jmap.mail.states import intermediate_state, parse_state, state_string
from pochta.proto.jmap.standard import ChangesArgs, parse_changes
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.principal import JmapAccount
from pochta.store.account_state_model import CannotCalculateChanges, ChangesPosition, EmailChanges
from pochta.store.api import Store
from pochta.store.model import ModSeq

__all__ = [
    "ChangesWindow",
    "EmailChangesPage",
    "changes_window",
    "email_changes_page",
    "new_state",
    "store_of",
]


def store_of(context: CallContext) -> Store:
    if context.store is None:  # a process without a store (the dispatcher's unit tests)
        raise MethodError(MethodErrorType.SERVER_UNAVAILABLE, "no mail store in this process")
    return context.store


@dataclass(frozen=True)
class ChangesWindow:
    since: ModSeq
    after: ChangesPosition | None  # where the previous page stopped (an intermediate state)
    limit: int


def changes_window(context: CallContext, args: ChangesArgs) -> ChangesWindow:
    start = parse_state(args.since_state)
    if start is None:
        # RFC 8620 section 5.2: a state the server cannot read is cannotCalculateChanges.
        raise MethodError(MethodErrorType.CANNOT_CALCULATE_CHANGES, "not a state of this server")
    after = None if start.after is None else ChangesPosition(ModSeq(start.after[0]), start.after[1])
    ceiling = context.settings.jmap.max_changes
    # RFC 8620 section 5.2 maxChanges: the server may return fewer, never more.
    limit = ceiling if args.max_changes is None else min(args.max_changes, ceiling)
    return ChangesWindow(ModSeq(start.since), after, limit)


def new_state(window: ChangesWindow, state: ModSeq, position: ChangesPosition | None) -> str:
    """The newState of a page: the account's counter on the last page, else where this page
    stopped (intermediate, with ``since``: ``sql/account_changes`` tells why both are needed)."""
    if position is None:
        return state_string(state)
    return intermediate_state(window.since, position.modseq, position.item)


@dataclass(frozen=True)
class EmailChangesPage:
    """A page of the account's Email records since a state, which Email/changes reports and
    Thread/changes judges threads by (one page of Email changes at most changes as many threads)."""

    account: JmapAccount
    since_state: str
    window: ChangesWindow
    changes: EmailChanges

    def response(self, created: list[str], updated: list[str], destroyed: list[str]) -> dict[str, Any]:
        """RFC 8620 section 5.2's response for this page, with the ids of the type reported."""
        return {
            "accountId": self.account.id,
            "oldState": self.since_state,
            "newState": new_state(self.window, self.changes.state, self.changes.position),
            "hasMoreChanges": self.changes.has_more,
            "created": created,
            "updated": updated,
            "destroyed": destroyed,
        }


async def email_changes_page(context: CallContext, arguments: dict[str, Any]) -> EmailChangesPage:
    args = parse_changes(arguments)
    account = context.account(args.account_id)
    window = changes_window(context, args)
    store = store_of(context)
    try:
        changes = await store.email_changes(account.account.id, window.since, window.after, window.limit)
    except CannotCalculateChanges:
        raise MethodError(
            MethodErrorType.CANNOT_CALCULATE_CHANGES, "the changes since this state are no longer kept"
        ) from None
    return EmailChangesPage(account, args.since_state, window, changes)
