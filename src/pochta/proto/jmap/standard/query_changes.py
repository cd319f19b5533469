"""/queryChanges arguments (RFC 8620 section 5.6)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pochta.proto.jmap.arguments import ArgumentReader
from pochta.proto.jmap.standard.filter import Comparator, Filter, parse_filter, parse_sort

__all__ = ["QueryChangesArgs", "parse_query_changes"]


@dataclass(frozen=True)
class QueryChangesArgs:
    account_id: str
    filter: Filter | None
    sort: tuple[Comparator, ...] | None
    since_query_state: str
    max_changes: int | None
    up_to_id: str | None
    calculate_total: bool
    extra: Mapping[str, Any] = field(default_factory=dict)


def parse_query_changes(arguments: Mapping[str, Any], *, extra: Collection[str] = ()) -> QueryChangesArgs:
    reader = ArgumentReader(arguments, extra)
    account_id = reader.id("accountId")
    filter_ = parse_filter(reader.raw("filter"))
    sort = parse_sort(reader.raw("sort"))
    since_query_state = reader.string("sinceQueryState")
    max_changes = reader.optional_unsigned("maxChanges")
    up_to_id = reader.optional_id("upToId")
    calculate_total = reader.boolean("calculateTotal", False)
    rest = reader.rest()
    return QueryChangesArgs(
        account_id, filter_, sort, since_query_state, max_changes, up_to_id, calculate_total, rest
    )
