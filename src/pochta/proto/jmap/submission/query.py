"""EmailSubmission/query's filter and sort (RFC 8621 section 7.3) over the account's
EmailSubmission objects, evaluated without recursion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pochta.proto.jmap.dates import parse_utc_date
from pochta.proto.jmap.errors import MethodError, MethodErrorType
from pochta.proto.jmap.standard.filter import (
    Comparator,
    Filter,
    FilterCondition,
    evaluate_tree,
)

__all__ = ["check_filter", "filter_submissions", "sort_submissions"]

_LISTS = {"identityIds": "identityId", "emailIds": "emailId", "threadIds": "threadId"}
_CONDITIONS = {*_LISTS, "undoStatus", "before", "after"}
# RFC 8621 section 7.3 names the sort property "sentAt"; the object's property is "sendAt":
# both are taken.
_SORTS = {"emailId": "emailId", "threadId": "threadId", "sentAt": "sendAt", "sendAt": "sendAt"}


def _unsupported(description: str) -> MethodError:
    return MethodError(MethodErrorType.UNSUPPORTED_FILTER, description)


def _date(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise _unsupported(f"{name} must be a UTCDate")
    try:
        return parse_utc_date(value)
    except ValueError:
        raise _unsupported(f"{name} must be a UTCDate") from None


def _check_condition(properties: Mapping[str, Any]) -> None:
    unknown = set(properties) - _CONDITIONS
    if unknown:
        raise _unsupported(f"unknown filter properties {sorted(unknown)}")
    for name in _LISTS:
        value = properties.get(name)
        if name in properties and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise _unsupported(f"{name} must be an array of Ids")
    if "undoStatus" in properties and not isinstance(properties["undoStatus"], str):
        raise _unsupported("undoStatus must be a String")
    for name in ("before", "after"):
        if name in properties:
            _date(properties[name], name)


def check_filter(tree: Filter | None, max_depth: int) -> None:
    """unsupportedFilter for an unknown or malformed condition, or operators nested deeper than
    ``max_depth``."""
    stack: list[tuple[Filter, int]] = [] if tree is None else [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, FilterCondition):
            _check_condition(node.properties)
            continue
        if depth >= max_depth:
            raise _unsupported(f"the filter nests operators deeper than {max_depth}")
        stack.extend((child, depth + 1) for child in node.conditions)


def _matches(properties: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    for name, key in _LISTS.items():
        if name in properties and item[key] not in properties[name]:
            return False
    if "undoStatus" in properties and item["undoStatus"] != properties["undoStatus"]:
        return False
    sent = parse_utc_date(item["sendAt"])
    if "before" in properties and not sent < _date(properties["before"], "before"):
        return False
    return not ("after" in properties and not sent >= _date(properties["after"], "after"))


def filter_submissions(tree: Filter | None, items: Sequence[Mapping[str, Any]]) -> list[int]:
    """The indexes of ``items`` (EmailSubmission objects) the checked filter matches."""
    universe = set(range(len(items)))
    if tree is None:
        return sorted(universe)

    def matching(node: FilterCondition) -> set[int]:
        return {i for i in universe if _matches(node.properties, items[i])}

    return sorted(evaluate_tree(tree, universe, matching, lambda node: isinstance(node, FilterCondition)))


def sort_submissions(
    sort: Sequence[Comparator] | None, items: Sequence[Mapping[str, Any]], order: Sequence[int]
) -> list[int]:
    """``order`` (indexes of ``items``) sorted by the comparators (unsupportedSort for another
    property, a collation or arguments); ties by creation (the index order)."""
    keys = []
    for comparator in sort or ():
        if comparator.property not in _SORTS or comparator.extra or comparator.collation is not None:
            raise MethodError(MethodErrorType.UNSUPPORTED_SORT, f"cannot sort by {comparator.property!r}")
        keys.append((_SORTS[comparator.property], comparator.is_ascending))
    result = sorted(order)
    for key, ascending in reversed(keys):  # stable sorts, last key first
        result.sort(key=lambda i: _sort_key(items[i][key], key), reverse=not ascending)
    return result


def _sort_key(value: str, key: str) -> tuple[int, str]:
    # Ids of one type sort by their number (M12 before M100); dates as written (UTC, same form).
    digits = value[1:]
    if key != "sendAt" and digits.isdigit():
        return (len(digits), digits)
    return (0, value)
