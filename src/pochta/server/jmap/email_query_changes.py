"""Email/queryChanges (RFC 8621 section 4.5, RFC 8620 section 5.6), exact for two shapes of query
(``email_query.changes_shape``): only ``inMailbox``, and no filter, each sorted by receivedAt or not
sorted (the Email's number). Every other query answers ``cannotCalculateChanges``, and Email/query
says ``canCalculateChanges`` false for it.

How: the Emails created, changed (a membership or keywords) or destroyed since the old state come
from the account's change records (``store.email_changes``). An Email that did not change kept
its receivedAt, its number and its mailboxes, so the unchanged Emails keep their relative order: the client's
list with every changed Email removed, and each changed Email still in the results inserted at its
index in the new results (lowest index first), is the new results. ``removed`` therefore lists
every changed Email (RFC 8620 section 5.6 allows ids that were not in the results; the client
ignores them) and ``added`` those of them in the new results with their index.

The new results are read as Email/query reads them (the same order: the indexed page of the
mailbox, or the general query). When the account changed between the change records' read and the
results' read the answer would mix two states: then ``cannotCalculateChanges`` (the client queries
again)."""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap import MAIL_CAPABILITY, MethodError, MethodErrorType
from pochta.proto.jmap.mail.ids import email_id
from pochta.proto.jmap.mail.query import EmailCondition
from pochta.proto.jmap.mail.states import parse_state, state_string
from pochta.proto.jmap.standard import parse_query_changes
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.email_query import COLLAPSE_THREADS, changes_shape, email_query_shape, query_results
from pochta.server.jmap.registry import MethodRegistry
from pochta.store.account_state_model import CannotCalculateChanges
from pochta.store.model import MailboxId, ModSeq

__all__ = ["register_email_query_changes"]

# Change records read at most: more than this many Emails changed since the state is answered
# cannotCalculateChanges (the client queries again, which is cheaper then).
CHANGES_READ = 10_000
_ALL = 2**31 - 1


def _cannot(description: str) -> MethodError:
    return MethodError(MethodErrorType.CANNOT_CALCULATE_CHANGES, description)


async def email_query_changes(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_query_changes(arguments, extra=(COLLAPSE_THREADS,))
    # The filter and sort are checked first: an unsupported one is that error, not the ones below.
    query = email_query_shape(context, args)
    account, tree, sorts, collapse = query.account, query.tree, query.sorts, query.collapse
    shape = changes_shape(tree, sorts, collapse)
    if shape is None:
        raise _cannot("changes are calculated for inMailbox or no filter, sorted by receivedAt or not sorted")
    since = parse_state(args.since_query_state)
    if since is None or since.after is not None:
        raise _cannot("not a query state of this server")
    store = context.store
    if store is None:
        raise MethodError(MethodErrorType.SERVER_UNAVAILABLE)
    account_id = account.account.id
    try:
        changes = await store.email_changes(account_id, ModSeq(since.since), None, CHANGES_READ)
    except CannotCalculateChanges:
        raise _cannot("the state is older than the change records kept") from None
    if changes.has_more:
        raise _cannot(f"more than {CHANGES_READ} Emails changed since the state")
    if shape == "mailbox" and sorts:
        assert isinstance(tree, EmailCondition)
        assert tree.in_mailbox is not None
        page = await store.emails_by_received(
            account_id,
            MailboxId(tree.in_mailbox),
            descending=not sorts[0].is_ascending,
            position=0,
            limit=_ALL,
            count=False,
        )
        state, ordered = page.state, list(page.ids)
    else:
        state, ordered = await query_results(store, account_id, tree, sorts, collapse)
    if state != changes.state:
        raise _cannot("the account changed while the changes were read; query again")
    touched = sorted({*changes.created, *changes.updated, *changes.destroyed})
    index = {message_id: n for n, message_id in enumerate(ordered)}
    added = sorted((index[m], m) for m in touched if m in index)
    if args.max_changes is not None and len(touched) + len(added) > args.max_changes:
        raise MethodError(MethodErrorType.TOO_MANY_CHANGES, "more changes than maxChanges")
    response: dict[str, Any] = {
        "accountId": account.id,
        "oldQueryState": args.since_query_state,
        "newQueryState": state_string(state),
        "removed": [email_id(m) for m in touched],
        "added": [{"id": email_id(m), "index": n} for n, m in added],
    }
    if args.calculate_total:
        response["total"] = len(ordered)
    return response


def register_email_query_changes(registry: MethodRegistry) -> None:
    registry.register("Email/queryChanges", MAIL_CAPABILITY, email_query_changes)
