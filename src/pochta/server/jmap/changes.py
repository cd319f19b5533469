"""What every ``*/changes`` of JMAP Mail shares (RFC 8620 section 5.2): the store of the call, the
state it starts from (``proto/jmap/mail/states``), how many ids one answer may hold, and the
newState of a page."""

from __future__ import annotations

from dataclasses import dataclass

from pochta.proto.jmap import MethodError, MethodErrorType
from pochta.proto.jmap.mail.states import intermediate_state, parse_state, state_string
from pochta.proto.jmap.standard import ChangesArgs
from pochta.server.jmap.context import CallContext
from pochta.store.account_state_model import ChangesPosition
from pochta.store.api import Store
from pochta.store.model import ModSeq

__all__ = ["ChangesWindow", "changes_window", "new_state", "store_of"]


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
