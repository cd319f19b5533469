"""The filter and sort of /query and /queryChanges (RFC 8620 section 5.5): a FilterOperator tree
over a type's FilterConditions, and Comparators."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from typing import Any, Literal

from pochta.proto.jmap.arguments import invalid_arguments

__all__ = [
    "Comparator",
    "Filter",
    "FilterCondition",
    "FilterOperator",
    "evaluate_tree",
    "parse_filter",
    "parse_sort",
]

Operator = Literal["AND", "OR", "NOT"]


@dataclass(frozen=True)
class FilterCondition:
    """A type's own condition (its properties are the type's to check: unsupportedFilter)."""

    properties: Mapping[str, Any]


@dataclass(frozen=True)
class FilterOperator:
    operator: Operator
    conditions: tuple[Filter, ...]


Filter = FilterOperator | FilterCondition


@dataclass(frozen=True)
class Comparator:
    property: str
    is_ascending: bool = True  # RFC 8620 section 5.5: default true
    collation: str | None = None  # None: the server's default
    extra: Mapping[str, Any] = field(default_factory=dict)  # a type's own (RFC 8621 "keyword" ...)


def _operator(value: dict[str, Any]) -> tuple[Operator, list[Any]]:
    operator, conditions = value.get("operator"), value.get("conditions")
    if operator not in ("AND", "OR", "NOT"):
        raise invalid_arguments(f"filter operator must be AND, OR or NOT, not {operator!r}")
    if not isinstance(conditions, list) or set(value) != {"operator", "conditions"}:
        raise invalid_arguments("a FilterOperator has an operator and an array of conditions, only")
    return operator, conditions


def parse_filter(value: Any) -> Filter | None:
    """The filter tree; built iteratively (the client sets the depth). An object with an
    ``operator`` property is a FilterOperator (RFC 8620 section 5.5), any other a condition."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_arguments("filter must be an object or null")
    # Post-order: each operator is built once its conditions are.
    built: dict[int, Filter] = {}
    stack: list[tuple[dict[str, Any], bool]] = [(value, False)]
    while stack:
        node, expanded = stack.pop()
        if "operator" not in node:
            built[id(node)] = FilterCondition(dict(node))
            continue
        operator, conditions = _operator(node)
        if expanded:
            built[id(node)] = FilterOperator(operator, tuple(built[id(c)] for c in conditions))
            continue
        stack.append((node, True))
        for condition in conditions:
            if not isinstance(condition, dict):
                raise invalid_arguments("a filter condition must be an object")
            stack.append((condition, False))
    return built[id(value)]


def parse_sort(value: Any) -> tuple[Comparator, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid_arguments("sort must be an array of Comparators or null")
    comparators = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("property"), str):
            raise invalid_arguments("a Comparator is an object with a property")
        ascending = item.get("isAscending", True)
        collation = item.get("collation")
        if not isinstance(ascending, bool) or (collation is not None and not isinstance(collation, str)):
            raise invalid_arguments("isAscending must be a Boolean and collation a String")
        extra = {k: v for k, v in item.items() if k not in ("property", "isAscending", "collation")}
        comparators.append(Comparator(item["property"], ascending, collation, extra))
    return tuple(comparators)


def evaluate_tree(
    tree: Any, universe: Set[int], condition: Callable[[Any], Set[int]], is_condition: Callable[[Any], bool]
) -> set[int]:
    """The items of ``universe`` a filter tree matches (RFC 8620 section 5.5), without recursion:
    a node for which ``is_condition`` holds is answered by ``condition`` (a subset of
    ``universe``); any other has ``operator`` (AND, OR, NOT: "none of") and ``conditions``. A type's
    tree (the standard one here, Email's own) is evaluated by this one rule."""
    done: dict[int, Set[int]] = {}
    stack: list[tuple[Any, bool]] = [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        if is_condition(node):
            done[id(node)] = condition(node)
            continue
        if not expanded:
            stack.append((node, True))
            stack.extend((child, False) for child in node.conditions)
            continue
        parts = [done[id(child)] for child in node.conditions]
        if node.operator == "AND":
            result = set(universe)
            for part in parts:
                result &= part
        else:
            result = set().union(*parts)
            if node.operator == "NOT":
                result = set(universe) - result
        done[id(node)] = result
    return set(done[id(tree)])
