"""Mailbox/query and Mailbox/queryChanges (RFC 8621 sections 2.3 and 2.4). The query runs over
every Mailbox of the account (a few hundred at most), in ``proto/jmap/mail/mailbox_query``.

Mailbox/queryChanges is exact when neither ``sortAsTree`` nor ``filterAsTree`` is asked, as for
Email/queryChanges (``email_query_changes``): every filter condition and sort property is of the
Mailbox itself (its name, parent, role, subscription), so a Mailbox that did not change since the
old state kept its place relative to the others, and the Mailboxes the account's change records
name (created, updated, destroyed) are all ``removed``, those of them in the new results ``added``
at their index. In a tree, a Mailbox's place or inclusion follows its ancestors', which may change
without it: then cannotCalculateChanges (RFC 8620 section 5.6 allows it; the client queries
again), and Mailbox/query says ``canCalculateChanges`` false for such a query."""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap import MAIL_CAPABILITY, MethodError, MethodErrorType
from pochta.proto.jmap.mail.ids import mailbox_id
from pochta.proto.jmap.mail.mailbox_query import check_filter, check_sort, query_mailboxes
from pochta.proto.jmap.mail.states import parse_state, state_string
from pochta.proto.jmap.standard import parse_query, parse_query_changes, query_response, query_window
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.mailbox_get import mailbox_records, store_of, threaded_counts
from pochta.server.jmap.registry import MethodRegistry
from pochta.store.account_state_model import CannotCalculateChanges
from pochta.store.model import ModSeq

__all__ = ["register_mailbox_query"]


def _cannot(description: str) -> MethodError:
    # RFC 8620 section 5.6: the server MAY answer cannotCalculateChanges; the description says why.
    return MethodError(MethodErrorType.CANNOT_CALCULATE_CHANGES, description)


# The most Mailbox changes one queryChanges reads; more is cannotCalculateChanges.
_CHANGES_READ = 10_000
# RFC 8621 section 2.3: Mailbox/query's own arguments.
_TREE_ARGUMENTS = ("sortAsTree", "filterAsTree")


async def mailbox_query(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_query(arguments, extra=_TREE_ARGUMENTS)
    tree = {name: args.extra.get(name, False) for name in _TREE_ARGUMENTS}
    if not all(isinstance(value, bool) for value in tree.values()):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, "sortAsTree and filterAsTree are Booleans")
    account = context.account(args.account_id)
    check_filter(args.filter)
    check_sort(args.sort)
    store = store_of(context)
    state = await store.account_state(account.account.id)
    records = await mailbox_records(store, account)
    ids = query_mailboxes(
        records,
        args.filter,
        args.sort,
        sort_as_tree=tree["sortAsTree"],
        filter_as_tree=tree["filterAsTree"],
    )
    window = query_window(args, ids, max_limit=context.settings.jmap.max_objects_in_get)
    total = len(ids) if args.calculate_total else None
    return query_response(account.id, state_string(state), not any(tree.values()), window, total)


async def mailbox_query_changes(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_query_changes(arguments, extra=_TREE_ARGUMENTS)
    tree = {name: args.extra.get(name, False) for name in _TREE_ARGUMENTS}
    if not all(isinstance(value, bool) for value in tree.values()):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, "sortAsTree and filterAsTree are Booleans")
    account = context.account(args.account_id)
    check_filter(args.filter)
    check_sort(args.sort)
    if any(tree.values()):
        raise _cannot("a tree's order follows the ancestors: query Mailbox/query again")
    since = parse_state(args.since_query_state)
    if since is None or since.after is not None:
        raise _cannot("not a query state of this server")
    store = store_of(context)
    account_number = account.account.id
    await threaded_counts(store, account_number)  # threads joined since count as changes
    try:
        changes = await store.mailbox_changes(account_number, ModSeq(since.since), None, _CHANGES_READ)
    except CannotCalculateChanges as exc:
        raise _cannot(str(exc)) from None
    if changes.has_more:
        raise _cannot(f"more than {_CHANGES_READ} Mailboxes changed since the state")
    records = await mailbox_records(store, account)
    if await store.account_state(account_number) != changes.state:
        raise _cannot("the account changed while the changes were read; query again")
    ids = query_mailboxes(records, args.filter, args.sort, sort_as_tree=False, filter_as_tree=False)
    touched = sorted({*changes.created, *changes.updated, *changes.destroyed})
    index = {text_id: n for n, text_id in enumerate(ids)}
    removed = [mailbox_id(m) for m in touched]
    added = sorted((index[i], i) for i in removed if i in index)
    if args.max_changes is not None and len(removed) + len(added) > args.max_changes:
        raise MethodError(MethodErrorType.TOO_MANY_CHANGES, "more changes than maxChanges")
    response: dict[str, Any] = {
        "accountId": account.id,
        "oldQueryState": args.since_query_state,
        "newQueryState": state_string(changes.state),
        "removed": removed,
        "added": [{"id": text_id, "index": n} for n, text_id in added],
    }
    if args.calculate_total:
        response["total"] = len(ids)
    return response


def register_mailbox_query(registry: MethodRegistry) -> None:
    registry.register("Mailbox/query", MAIL_CAPABILITY, mailbox_query)
    registry.register("Mailbox/queryChanges", MAIL_CAPABILITY, mailbox_query_changes)
