"""/query arguments (RFC 8620 section 5.5), and the window of results they ask for."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pochta.proto.jmap.arguments import ArgumentReader
from pochta.proto.jmap.errors import MethodError, MethodErrorType
from pochta.proto.jmap.standard.filter import Comparator, Filter, parse_filter, parse_sort

__all__ = ["QueryArgs", "QueryWindow", "parse_query", "query_response", "query_window"]


@dataclass(frozen=True)
class QueryArgs:
    account_id: str
    filter: Filter | None
    sort: tuple[Comparator, ...] | None
    position: int  # may be negative: from the end (section 5.5)
    anchor: str | None  # when set, position is ignored
    anchor_offset: int
    limit: int | None
    calculate_total: bool
    extra: Mapping[str, Any] = field(default_factory=dict)


def parse_query(arguments: Mapping[str, Any], *, extra: Collection[str] = ()) -> QueryArgs:
    reader = ArgumentReader(arguments, extra)
    account_id = reader.id("accountId")
    filter_ = parse_filter(reader.raw("filter"))
    sort = parse_sort(reader.raw("sort"))
    position = reader.integer("position", 0)
    anchor = reader.optional_id("anchor")
    anchor_offset = reader.integer("anchorOffset", 0)
    # RFC 8620 section 5.5: a negative limit is invalidArguments (UnsignedInt).
    limit = reader.optional_unsigned("limit")
    calculate_total = reader.boolean("calculateTotal", False)
    rest = reader.rest()
    return QueryArgs(account_id, filter_, sort, position, anchor, anchor_offset, limit, calculate_total, rest)


@dataclass(frozen=True)
class QueryWindow:
    position: int  # the index of the first id returned
    ids: Sequence[str]
    limit: int | None  # the limit applied, when the server lowered the client's (to be returned)


def query_window(args: QueryArgs, results: Sequence[str], *, max_limit: int | None = None) -> QueryWindow:
    """The slice of ``results`` (all the ids the query matches, in order) that ``args`` ask for."""
    if args.anchor is not None:
        # RFC 8620 section 5.5: with an anchor, position is ignored; the window starts
        # anchorOffset from the anchor's index, clamped to 0; an anchor not in the results is
        # anchorNotFound.
        try:
            start = results.index(args.anchor)
        except ValueError:
            raise MethodError(MethodErrorType.ANCHOR_NOT_FOUND, "the anchor is not in the results") from None
        start = max(start + args.anchor_offset, 0)
    elif args.position < 0:
        # RFC 8620 section 5.5: a negative position counts from the end, clamped to 0.
        start = max(len(results) + args.position, 0)
    else:
        start = args.position
    limit = args.limit
    clamped = None
    if max_limit is not None and (limit is None or limit > max_limit):
        # RFC 8620 section 5.5: a limit over the server's maximum is clamped and returned.
        limit = clamped = max_limit
    end = len(results) if limit is None else start + limit
    return QueryWindow(start, results[start:end], clamped)


def query_response(
    account_id: str, query_state: str, can_calculate_changes: bool, window: QueryWindow, total: int | None
) -> dict[str, Any]:
    """RFC 8620 section 5.5's response: ``total`` only when calculateTotal asked for it (None
    otherwise), ``limit`` only when the server lowered the client's."""
    response: dict[str, Any] = {
        "accountId": account_id,
        "queryState": query_state,
        "canCalculateChanges": can_calculate_changes,
        "position": window.position,
        "ids": list(window.ids),
    }
    if total is not None:
        response["total"] = total
    if window.limit is not None:
        response["limit"] = window.limit
    return response
