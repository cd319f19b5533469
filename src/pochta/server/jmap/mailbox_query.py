"""Mailbox/query and Mailbox/queryChanges (RFC 8621 sections 2.3 and 2.4). The query runs over
every Mailbox of the account (a few hundred at most), in ``proto/jmap/mail/mailbox_query``.

Mailbox/queryChanges always answers cannotCalculateChanges, which RFC 8620 section 5.6 allows
("the server MAY return this error"): the client queries again, which for Mailboxes is as cheap as
a list of changes would be; Mailbox/query says so with ``canCalculateChanges`` false."""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap import MAIL_CAPABILITY, MethodError, MethodErrorType
from pochta.proto.jmap.mail.mailbox_query import check_filter, check_sort, query_mailboxes
from pochta.proto.jmap.mail.states import state_string
from pochta.proto.jmap.standard import parse_query, parse_query_changes, query_response, query_window
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.mailbox_get import mailbox_records, store_of
from pochta.server.jmap.registry import MethodRegistry

__all__ = ["register_mailbox_query"]

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
    return query_response(account.id, state_string(state), False, window, total)


async def mailbox_query_changes(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_query_changes(arguments, extra=_TREE_ARGUMENTS)
    context.account(args.account_id)
    check_filter(args.filter)
    check_sort(args.sort)
    # RFC 8620 section 5.6: the server MAY answer cannotCalculateChanges; the module tells why.
    raise MethodError(MethodErrorType.CANNOT_CALCULATE_CHANGES, "query Mailbox/query again")


def register_mailbox_query(registry: MethodRegistry) -> None:
    registry.register("Mailbox/query", MAIL_CAPABILITY, mailbox_query)
    registry.register("Mailbox/queryChanges", MAIL_CAPABILITY, mailbox_query_changes)
