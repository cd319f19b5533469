"""Email/query's filter and sort, pure (RFC 8621 sections 4.4.1 and 4.4.2): conditions typed,
unsupportedFilter/unsupportedSort, the depth limit, keywords, and the tree's set algebra."""

from __future__ import annotations

from collections.abc import Set
from datetime import UTC, datetime
from typing import Any

import pytest

from pochta.proto.jmap import MethodError
from pochta.proto.jmap.mail.ids import parse_mailbox_id
from pochta.proto.jmap.mail.query import (
    EmailCondition,
    EmailOperator,
    evaluate_filter,
    imap_flag,
    jmap_keyword,
    parse_email_filter,
    parse_email_sort,
)
from pochta.proto.jmap.standard.filter import parse_filter, parse_sort


def tree(value: Any, depth: int = 10) -> Any:
    return parse_email_filter(parse_filter(value), max_depth=depth, parse_mailbox=parse_mailbox_id)


def error_of(value: Any, depth: int = 10) -> str:
    with pytest.raises(MethodError) as raised:
        tree(value, depth)
    return str(raised.value.type)


def test_condition_typed() -> None:
    found = tree(
        {
            "inMailbox": "F3",
            "inMailboxOtherThan": ["F4", "Zzz"],
            "before": "2026-06-01T00:00:00Z",
            "minSize": 10,
            "hasKeyword": "$Flagged",
            "hasAttachment": True,
            "text": "hello",
            "header": ["X-Tag", "v"],
            "subject": "s",
        }
    )
    assert found == EmailCondition(
        in_mailbox=3,
        in_mailbox_other_than=(4, -1),  # an id of none of ours matches nothing
        before=datetime(2026, 6, 1, tzinfo=UTC),
        min_size=10,
        has_keyword="$flagged",  # keywords compare case-insensitively
        has_attachment=True,
        content=(("text", "hello"), ("subject", "s"), ("header", ("X-Tag", "v"))),
    )
    assert tree(None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"colour": "red"}, "unsupportedFilter"),
        ({"text": 5}, "invalidArguments"),
        ({"minSize": -1}, "invalidArguments"),
        ({"before": "2026-06-01T00:00:00+02:00"}, "invalidArguments"),  # UTCDate: Z only
        ({"hasKeyword": "bad(keyword"}, "invalidArguments"),
        ({"hasKeyword": ""}, "invalidArguments"),
        ({"header": []}, "invalidArguments"),
        ({"header": ["a:b"]}, "invalidArguments"),
        ({"header": ["a", "b", "c"]}, "invalidArguments"),
        ({"inMailbox": 5}, "invalidArguments"),
        ({"inMailboxOtherThan": "F1"}, "invalidArguments"),
        ({"hasAttachment": "yes"}, "invalidArguments"),
        ({"operator": "AND", "conditions": [{"text": "a"}, {"nope": 1}]}, "unsupportedFilter"),
    ],
)
def test_condition_errors(value: Any, expected: str) -> None:
    assert error_of(value) == expected


def test_depth_limit() -> None:
    deep: dict[str, Any] = {"text": "x"}
    for _ in range(3):
        deep = {"operator": "NOT", "conditions": [deep]}
    assert isinstance(tree(deep, 3), EmailOperator)
    assert error_of(deep, 2) == "unsupportedFilter"
    very: dict[str, Any] = {"text": "x"}
    for _ in range(50_000):  # no recursion: a deep filter is an error, never a RecursionError
        very = {"operator": "AND", "conditions": [very]}
    assert error_of(very, 10) == "unsupportedFilter"


def test_sort() -> None:
    sorts = parse_email_sort(
        parse_sort(
            [
                {"property": "receivedAt", "isAscending": False},
                {"property": "subject", "collation": "i;ascii-casemap"},
                {"property": "hasKeyword", "keyword": "$Seen"},
            ]
        )
    )
    assert [(s.property, s.is_ascending, s.collation, s.keyword) for s in sorts] == [
        ("receivedAt", False, "i;unicode-casemap", None),
        ("subject", True, "i;ascii-casemap", None),
        ("hasKeyword", True, "i;unicode-casemap", "$seen"),
    ]
    assert parse_email_sort(None) == ()
    for bad, expected in (
        ({"property": "id"}, "unsupportedSort"),
        ({"property": "size", "collation": "i;octet"}, "unsupportedSort"),
        ({"property": "size", "keyword": "$seen"}, "unsupportedSort"),
        ({"property": "hasKeyword"}, "invalidArguments"),
    ):
        with pytest.raises(MethodError) as raised:
            parse_email_sort(parse_sort([bad]))
        assert raised.value.type == expected


def test_keywords_and_flags() -> None:
    assert jmap_keyword("\\Seen") == "$seen"
    assert jmap_keyword("\\Deleted") is None
    assert jmap_keyword("\\Recent") is None
    assert jmap_keyword("$Label") == "$label"
    assert imap_flag("$flagged") == "\\Flagged"
    assert imap_flag("$label") == "$label"


def test_evaluate_filter_set_algebra() -> None:
    universe = set(range(10))
    evens = {"text": "even"}
    small = {"maxSize": 5}

    def condition(c: EmailCondition) -> Set[int]:
        if c.content:
            return {n for n in universe if n % 2 == 0}
        assert c.max_size is not None
        return {n for n in universe if n < c.max_size}

    def run(value: Any) -> set[int]:
        return evaluate_filter(tree(value), universe, condition)

    assert run(None) == universe
    assert run(evens) == {0, 2, 4, 6, 8}
    assert run({"operator": "AND", "conditions": [evens, small]}) == {0, 2, 4}
    assert run({"operator": "OR", "conditions": [evens, small]}) == {0, 1, 2, 3, 4, 6, 8}
    # RFC 8620 section 5.5: NOT is "none of the conditions".
    assert run({"operator": "NOT", "conditions": [evens, small]}) == {5, 7, 9}
    assert run({"operator": "AND", "conditions": []}) == universe
    assert run({"operator": "OR", "conditions": []}) == set()
    assert run({"operator": "NOT", "conditions": [{"operator": "NOT", "conditions": [evens]}]}) == run(evens)
