"""EmailSubmission/query and /queryChanges (RFC 8621 sections 7.3 and 7.4): the filter and sort
(``proto/jmap/submission/query``) over the account's EmailSubmission records, read whole (an
account keeps few: one per message sent, until the client destroys them).
EmailSubmission/queryChanges answers cannotCalculateChanges (RFC 8620 section 5.6 allows it), and
/query says so with ``canCalculateChanges`` false."""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap import MethodError, MethodErrorType
from pochta.proto.jmap.session import SUBMISSION_CAPABILITY
from pochta.proto.jmap.standard import parse_query, parse_query_changes, query_window
from pochta.proto.jmap.submission.query import check_filter, filter_submissions, sort_submissions
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.email_submission import submission_objects
from pochta.server.jmap.records import record_state
from pochta.server.jmap.registry import MethodRegistry

__all__ = ["register_email_submission_query"]


async def email_submission_query(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_query(arguments)
    account = context.account(args.account_id)
    check_filter(args.filter, context.settings.jmap.max_filter_depth)
    state, objects = await submission_objects(context, account)
    items = list(objects.values())
    order = sort_submissions(args.sort, items, filter_submissions(args.filter, items))
    ids = [items[i]["id"] for i in order]
    window = query_window(args, ids, max_limit=context.settings.jmap.max_query_limit)
    response: dict[str, Any] = {
        "accountId": account.id,
        "queryState": record_state(state),
        "canCalculateChanges": False,
        "position": window.position,
        "ids": list(window.ids),
    }
    if args.calculate_total:
        response["total"] = len(ids)
    if window.limit is not None:
        response["limit"] = window.limit
    return response


async def email_submission_query_changes(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_query_changes(arguments)
    context.account(args.account_id)
    check_filter(args.filter, context.settings.jmap.max_filter_depth)
    sort_submissions(args.sort, [], [])  # unsupportedSort before anything else
    # RFC 8620 section 5.6: the server MAY answer cannotCalculateChanges; querying again is cheap.
    raise MethodError(MethodErrorType.CANNOT_CALCULATE_CHANGES, "query EmailSubmission/query again")


def register_email_submission_query(registry: MethodRegistry) -> None:
    registry.register("EmailSubmission/query", SUBMISSION_CAPABILITY, email_submission_query)
    registry.register("EmailSubmission/queryChanges", SUBMISSION_CAPABILITY, email_submission_query_changes)
