"""Email/changes (RFC 8621 section 4.3, the standard /changes of RFC 8620 section 5.2) over the
store's Email records (``store.email_changes``: a flag change, a copy or a move is an update, the
removal of an Email's last copy a destroy)."""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap import MethodError, MethodErrorType
from pochta.proto.jmap.mail.ids import email_id
from pochta.proto.jmap.standard import parse_changes
from pochta.server.jmap.changes import changes_window, new_state, store_of
from pochta.server.jmap.context import CallContext
from pochta.store.account_state_model import CannotCalculateChanges

__all__ = ["email_changes"]


async def email_changes(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
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
    return {
        "accountId": account.id,
        "oldState": args.since_state,
        "newState": new_state(window, changes.state, changes.position),
        "hasMoreChanges": changes.has_more,
        "created": [email_id(n) for n in changes.created],
        "updated": [email_id(n) for n in changes.updated],
        "destroyed": [email_id(n) for n in changes.destroyed],
    }
