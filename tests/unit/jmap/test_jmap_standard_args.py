"""The standard methods' arguments (RFC 8620 sections 5.1 to 5.6) and their rules."""

from __future__ import annotations

from typing import Any

import pytest

from pochta.proto.jmap import MethodError, MethodErrorType
from pochta.proto.jmap.standard import (
    Comparator,
    FilterCondition,
    FilterOperator,
    parse_changes,
    parse_copy,
    parse_get,
    parse_query,
    parse_query_changes,
    parse_set,
    query_window,
)


def error_of(parse: Any, arguments: dict[str, Any], **options: Any) -> MethodErrorType:
    with pytest.raises(MethodError) as caught:
        parse(arguments, **options)
    return caught.value.type


INVALID = MethodErrorType.INVALID_ARGUMENTS
TOO_LARGE = MethodErrorType.REQUEST_TOO_LARGE


def test_get() -> None:
    args = parse_get({"accountId": "A1"}, max_objects=3)
    assert (args.account_id, args.ids, args.properties, dict(args.extra)) == ("A1", None, None, {})
    args = parse_get(
        {"accountId": "A1", "ids": ["M1", "#k1"], "properties": ["id"], "bodyProperties": ["partId"]},
        max_objects=3,
        extra=("bodyProperties",),
    )
    assert (args.ids, args.properties, dict(args.extra)) == (
        ("M1", "#k1"),
        ("id",),
        {"bodyProperties": ["partId"]},
    )


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, INVALID),  # accountId is required
        ({"accountId": "bad id"}, INVALID),
        ({"accountId": "A1", "ids": "M1"}, INVALID),
        ({"accountId": "A1", "ids": ["M1", 2]}, INVALID),
        ({"accountId": "A1", "properties": [1]}, INVALID),
        ({"accountId": "A1", "bodyProperties": []}, INVALID),  # unknown to plain /get
        ({"accountId": "A1", "ids": ["M1", "M2", "M3", "M4"]}, TOO_LARGE),  # maxObjectsInGet
    ],
)
def test_get_errors(arguments: dict[str, Any], expected: MethodErrorType) -> None:
    assert error_of(parse_get, arguments, max_objects=3) is expected


def test_changes() -> None:
    args = parse_changes({"accountId": "A1", "sinceState": "s1"})
    assert (args.since_state, args.max_changes) == ("s1", None)
    assert parse_changes({"accountId": "A1", "sinceState": "s1", "maxChanges": 50}).max_changes == 50
    for bad in ({"accountId": "A1"}, {"accountId": "A1", "sinceState": 5}):
        assert error_of(parse_changes, bad) is INVALID
    # RFC 8620 section 5.2: maxChanges must be positive.
    for count in (0, -1, 1.5, "5"):
        assert error_of(parse_changes, {"accountId": "A1", "sinceState": "s", "maxChanges": count}) is INVALID


def test_set() -> None:
    args = parse_set(
        {
            "accountId": "A1",
            "ifInState": "s9",
            "create": {"k1": {"name": "x"}},
            "update": {"F1": {"name": "y"}, "#k1": {"role": None}},
            "destroy": ["F2", "#k2"],
        },
        max_objects=5,
    )
    assert args.if_in_state == "s9"
    assert dict(args.create) == {"k1": {"name": "x"}}
    assert set(args.update) == {"F1", "#k1"}
    assert args.destroy == ("F2", "#k2")
    empty = parse_set({"accountId": "A1", "create": None}, max_objects=5)
    assert (dict(empty.create), dict(empty.update), empty.destroy) == ({}, {}, ())


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"accountId": "A1", "create": {"#k1": {}}}, INVALID),  # a creation id is an Id
        ({"accountId": "A1", "create": {"k1": "x"}}, INVALID),
        ({"accountId": "A1", "update": {"F1": []}}, INVALID),
        ({"accountId": "A1", "destroy": "F1"}, INVALID),
        ({"accountId": "A1", "ifInState": 3}, INVALID),
        ({"accountId": "A1", "extra": 3}, INVALID),
        (
            {"accountId": "A1", "create": {"a": {}, "b": {}}, "update": {"F1": {}}, "destroy": ["F2"]},
            TOO_LARGE,
        ),
    ],
)
def test_set_errors(arguments: dict[str, Any], expected: MethodErrorType) -> None:
    assert error_of(parse_set, arguments, max_objects=3) is expected


def test_copy() -> None:
    args = parse_copy(
        {"fromAccountId": "A1", "accountId": "A2", "create": {"k1": {"id": "M5", "keywords": {}}}},
        max_objects=2,
    )
    assert (args.from_account_id, args.account_id, args.on_success_destroy_original) == ("A1", "A2", False)
    assert dict(args.create) == {"k1": {"id": "M5", "keywords": {}}}
    assert args.destroy_from_if_in_state is None


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"fromAccountId": "A1", "accountId": "A2"}, INVALID),  # create is required
        ({"fromAccountId": "A1", "accountId": "A2", "create": {"k1": {}}}, INVALID),  # no id to copy
        ({"fromAccountId": "A1", "accountId": "A1", "create": {}}, INVALID),  # the same account
        ({"fromAccountId": "A1", "accountId": "A2", "create": {}, "onSuccessDestroyOriginal": 1}, INVALID),
        ({"accountId": "A2", "create": {}}, INVALID),
        (
            {
                "fromAccountId": "A1",
                "accountId": "A2",
                "create": {f"k{i}": {"id": f"M{i}"} for i in range(3)},
            },
            TOO_LARGE,
        ),
    ],
)
def test_copy_errors(arguments: dict[str, Any], expected: MethodErrorType) -> None:
    assert error_of(parse_copy, arguments, max_objects=2) is expected


def test_query_defaults() -> None:
    args = parse_query({"accountId": "A1"})
    assert (args.filter, args.sort, args.position, args.anchor, args.anchor_offset) == (
        None,
        None,
        0,
        None,
        0,
    )
    assert (args.limit, args.calculate_total) == (None, False)


def test_query_filter_and_sort() -> None:
    args = parse_query(
        {
            "accountId": "A1",
            "filter": {
                "operator": "AND",
                "conditions": [
                    {"inMailbox": "F1"},
                    {"operator": "NOT", "conditions": [{"hasKeyword": "$seen"}]},
                ],
            },
            "sort": [
                {"property": "receivedAt", "isAscending": False},
                {"property": "subject", "collation": "i;x"},
            ],
            "position": -5,
            "limit": 10,
            "calculateTotal": True,
        }
    )
    assert args.filter == FilterOperator(
        "AND",
        (
            FilterCondition({"inMailbox": "F1"}),
            FilterOperator("NOT", (FilterCondition({"hasKeyword": "$seen"}),)),
        ),
    )
    assert args.sort == (Comparator("receivedAt", False), Comparator("subject", True, "i;x"))
    assert (args.position, args.limit, args.calculate_total) == (-5, 10, True)


def test_a_deep_filter_needs_no_recursion() -> None:
    deep: dict[str, Any] = {"inMailbox": "F1"}
    for _ in range(5000):
        deep = {"operator": "NOT", "conditions": [deep]}
    args = parse_query({"accountId": "A1", "filter": deep})
    assert isinstance(args.filter, FilterOperator)


@pytest.mark.parametrize(
    "arguments",
    [
        {"accountId": "A1", "limit": -1},  # RFC 8620 section 5.5: a negative limit is invalid
        {"accountId": "A1", "position": 1.5},
        {"accountId": "A1", "anchor": 5},
        {"accountId": "A1", "anchorOffset": "1"},
        {"accountId": "A1", "calculateTotal": "yes"},
        {"accountId": "A1", "filter": []},
        {"accountId": "A1", "filter": {"operator": "XOR", "conditions": []}},
        {"accountId": "A1", "filter": {"operator": "AND"}},
        {"accountId": "A1", "filter": {"operator": "AND", "conditions": [1]}},
        {"accountId": "A1", "sort": {"property": "x"}},
        {"accountId": "A1", "sort": [{"isAscending": True}]},
        {"accountId": "A1", "sort": [{"property": "x", "isAscending": "no"}]},
        {"accountId": "A1", "collapseThreads": True},  # Email/query's, not a standard argument
    ],
)
def test_query_errors(arguments: dict[str, Any]) -> None:
    assert error_of(parse_query, arguments) is INVALID


IDS = [f"M{i}" for i in range(10)]


def window(max_limit: int | None = None, **arguments: Any) -> tuple[int, list[str], int | None]:
    found = query_window(parse_query({"accountId": "A1", **arguments}), IDS, max_limit=max_limit)
    return found.position, list(found.ids), found.limit


def test_query_window() -> None:
    assert window() == (0, IDS, None)
    assert window(position=3, limit=2) == (3, ["M3", "M4"], None)
    assert window(position=20) == (20, [], None)  # past the end: empty, no error
    assert window(position=-3) == (7, ["M7", "M8", "M9"], None)  # from the end
    assert window(position=-30, limit=1) == (0, ["M0"], None)  # clamped to 0
    assert window(anchor="M5", position=9) == (5, IDS[5:], None)  # with an anchor position is ignored
    assert window(anchor="M5", anchorOffset=-2, limit=2) == (3, ["M3", "M4"], None)
    assert window(anchor="M1", anchorOffset=-5) == (0, IDS, None)
    assert window(max_limit=4) == (0, IDS[:4], 4)  # the server's maximum, told back
    assert window(max_limit=4, limit=3) == (0, IDS[:3], None)
    with pytest.raises(MethodError) as caught:
        window(anchor="M99")
    assert caught.value.type is MethodErrorType.ANCHOR_NOT_FOUND


def test_query_changes() -> None:
    args = parse_query_changes({"accountId": "A1", "sinceQueryState": "q1", "maxChanges": 5, "upToId": "M3"})
    assert (args.since_query_state, args.max_changes, args.up_to_id, args.calculate_total) == (
        "q1",
        5,
        "M3",
        False,
    )
    for bad in (
        {"accountId": "A1"},
        {"accountId": "A1", "sinceQueryState": "q", "maxChanges": -1},
        {"accountId": "A1", "sinceQueryState": "q", "upToId": ""},
        {"accountId": "A1", "sinceQueryState": "q", "position": 0},
    ):
        assert error_of(parse_query_changes, bad) is INVALID
