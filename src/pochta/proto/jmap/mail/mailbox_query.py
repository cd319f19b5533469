"""Mailbox/query's filter and sort (RFC 8621 section 2.3), pure: which Mailboxes match, in what
order, with ``sortAsTree`` and ``filterAsTree``. The filter tree is walked without recursion (the
client sets its depth), each node answering the set of ids it matches."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pochta.proto.jmap.errors import MethodError, MethodErrorType
from pochta.proto.jmap.ids import is_id
from pochta.proto.jmap.mail.mailbox import MailboxRecord, leaf_name
from pochta.proto.jmap.standard.filter import Comparator, Filter, FilterCondition, FilterOperator

__all__ = ["check_filter", "check_sort", "query_mailboxes"]


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_id_or_null(value: Any) -> bool:
    return value is None or is_id(value)


def _is_string_or_null(value: Any) -> bool:
    return value is None or isinstance(value, str)


# RFC 8621 section 2.3: the FilterCondition's properties, with the type of each.
_CONDITIONS: Mapping[str, Callable[[Any], bool]] = {
    "parentId": _is_id_or_null,
    "name": lambda value: isinstance(value, str),
    "role": _is_string_or_null,
    "hasAnyRole": _is_bool,
    "isSubscribed": _is_bool,
}
_SORTS = frozenset({"sortOrder", "name"})


def _conditions(filter_: Filter) -> list[FilterCondition]:
    found, stack = [], [filter_]
    while stack:
        node = stack.pop()
        if isinstance(node, FilterCondition):
            found.append(node)
        else:
            stack.extend(node.conditions)
    return found


def check_filter(filter_: Filter | None) -> None:
    """unsupportedFilter (RFC 8620 section 5.5) for a condition this type does not have."""
    if filter_ is None:
        return
    for condition in _conditions(filter_):
        for name, value in condition.properties.items():
            check = _CONDITIONS.get(name)
            if check is None:
                raise MethodError(MethodErrorType.UNSUPPORTED_FILTER, f"no Mailbox filter {name!r}")
            if not check(value):
                raise MethodError(MethodErrorType.UNSUPPORTED_FILTER, f"filter {name!r} has a wrong type")


def check_sort(sort: Sequence[Comparator] | None) -> None:
    for comparator in sort or ():
        if comparator.property not in _SORTS:
            raise MethodError(MethodErrorType.UNSUPPORTED_SORT, f"no Mailbox sort {comparator.property!r}")
        # The Session lists no collationAlgorithms (RFC 8620 section 2): names compare case-folded.
        if comparator.collation is not None or comparator.extra:
            raise MethodError(MethodErrorType.UNSUPPORTED_SORT, "no collation or other comparator property")


def _matches(record: MailboxRecord, condition: FilterCondition) -> bool:
    for name, value in condition.properties.items():
        if name == "parentId" and record.parent_id != value:
            return False
        if name == "name" and str(value).casefold() not in leaf_name(record.name).casefold():
            return False
        if name == "role" and record.role != value:
            return False
        if name == "hasAnyRole" and (record.role is not None) != value:
            return False
        if name == "isSubscribed" and record.subscribed != value:
            return False
    return True


def _matching(records: Sequence[MailboxRecord], filter_: Filter) -> set[str]:
    everyone = {record.id for record in records}
    matched: dict[int, set[str]] = {}
    stack: list[tuple[Filter, bool]] = [(filter_, False)]
    while stack:
        node, expanded = stack.pop()
        if isinstance(node, FilterCondition):
            matched[id(node)] = {record.id for record in records if _matches(record, node)}
        elif not expanded:
            stack.append((node, True))
            stack.extend((child, False) for child in node.conditions)
        else:
            matched[id(node)] = _combine(node, [matched[id(child)] for child in node.conditions], everyone)
    return matched[id(filter_)]


def _combine(node: FilterOperator, parts: list[set[str]], everyone: set[str]) -> set[str]:
    # RFC 8620 section 5.5: AND all match, OR at least one, NOT none.
    if node.operator == "AND":
        return set.intersection(everyone, *parts)
    union = set().union(*parts)
    return union if node.operator == "OR" else everyone - union


def _key(sort: Sequence[Comparator]) -> Callable[[MailboxRecord], Any]:
    """The sort key: the comparators in order (sortOrder as a number, name case-folded); RFC 8621
    section 2.3 falls back to the name (then the id, for a stable order)."""
    comparators = [c for c in sort if c.property in _SORTS]

    def key(record: MailboxRecord) -> Any:
        name = leaf_name(record.name)
        folded = _Folded(name.casefold(), name)
        keys: list[Any] = []
        for comparator in comparators:
            if comparator.property == "sortOrder":
                keys.append(record.sort_order if comparator.is_ascending else -record.sort_order)
            else:
                keys.append(folded if comparator.is_ascending else _Reversed(folded))
        return (*keys, folded, record.id)

    return key


class _Folded:
    """A name compared case-folded, then as written."""

    def __init__(self, folded: str, name: str) -> None:
        self.value = (folded, name)

    def __lt__(self, other: _Folded) -> bool:
        return self.value < other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Folded) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


class _Reversed:
    def __init__(self, inner: _Folded) -> None:
        self.inner = inner

    def __lt__(self, other: _Reversed) -> bool:
        return other.inner < self.inner

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.inner == other.inner

    def __hash__(self) -> int:
        return hash(self.inner)


def query_mailboxes(
    records: Sequence[MailboxRecord],
    filter_: Filter | None,
    sort: Sequence[Comparator] | None,
    *,
    sort_as_tree: bool = False,
    filter_as_tree: bool = False,
) -> list[str]:
    """The ids of the Mailboxes that match, in order (filter and sort checked already)."""
    by_id = {record.id: record for record in records}
    wanted = set(by_id) if filter_ is None else _matching(records, filter_)
    if filter_as_tree:
        # RFC 8621 section 2.3: only Mailboxes whose every ancestor matches too.
        wanted = {mid for mid in wanted if _ancestors_in(by_id, mid, wanted)}
    key = _key(sort or ())
    chosen = sorted((by_id[mid] for mid in wanted), key=key)
    if not sort_as_tree:
        return [record.id for record in chosen]
    # RFC 8621 section 2.3 sortAsTree: an ancestor before its descendants, siblings by the sort,
    # a Mailbox whose parent is not in the results placed as a root: a depth-first walk.
    children: dict[str | None, list[MailboxRecord]] = {}
    for record in chosen:
        parent = record.parent_id if record.parent_id in wanted else None
        children.setdefault(parent, []).append(record)
    ordered: list[str] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        record = stack.pop()
        ordered.append(record.id)
        stack.extend(reversed(children.get(record.id, [])))
    return ordered


def _ancestors_in(by_id: Mapping[str, MailboxRecord], mailbox_id: str, wanted: set[str]) -> bool:
    parent = by_id[mailbox_id].parent_id
    seen: set[str] = set()
    while parent is not None and parent in by_id and parent not in seen:
        if parent not in wanted:
            return False
        seen.add(parent)
        parent = by_id[parent].parent_id
    return True
