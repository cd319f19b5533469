"""EmailSubmission/query's filter and sort (RFC 8621 section 7.3), pure."""

from __future__ import annotations

from typing import Any

import pytest

from pochta.proto.jmap import MethodError
from pochta.proto.jmap.standard.filter import parse_filter, parse_sort
from pochta.proto.jmap.submission.query import check_filter, filter_submissions, sort_submissions


def item(number: int, email: str, thread: str, sent: str, identity: str = "I1") -> dict[str, Any]:
    return {
        "id": f"S{number}",
        "identityId": identity,
        "emailId": email,
        "threadId": thread,
        "sendAt": sent,
        "undoStatus": "final",
    }


ITEMS = [
    item(1, "M100", "T5", "2026-12-01T10:00:00Z"),
    item(2, "M20", "T5", "2026-12-03T10:00:00Z", "I2"),
    item(3, "M3", "T9", "2026-12-02T10:00:00Z"),
]


def ids(order: list[int]) -> list[str]:
    return [ITEMS[i]["id"] for i in order]


def matching(value: Any) -> list[str]:
    tree = parse_filter(value)
    check_filter(tree, 4)
    return ids(filter_submissions(tree, ITEMS))


def test_conditions_and_operators() -> None:
    assert matching(None) == ["S1", "S2", "S3"]
    assert matching({"threadIds": ["T5"]}) == ["S1", "S2"]
    assert matching({"threadIds": ["T5"], "identityIds": ["I2"]}) == ["S2"]
    assert matching({"before": "2026-12-02T10:00:00Z"}) == ["S1"]
    assert matching({"after": "2026-12-02T10:00:00Z"}) == ["S2", "S3"]  # the same or after
    assert matching({"undoStatus": "pending"}) == []
    assert matching({"operator": "NOT", "conditions": [{"emailIds": ["M3"]}]}) == ["S1", "S2"]
    assert matching({"operator": "OR", "conditions": [{"emailIds": ["M3"]}, {"identityIds": ["I2"]}]}) == [
        "S2",
        "S3",
    ]


@pytest.mark.parametrize(
    "value",
    [
        {"subject": "x"},
        {"emailIds": "M1"},
        {"before": "yesterday"},
        {"undoStatus": 1},
        {
            "operator": "AND",
            "conditions": [{"operator": "AND", "conditions": [{"operator": "AND", "conditions": []}]}],
        },
    ],
)
def test_bad_filters_are_unsupported(value: Any) -> None:
    with pytest.raises(MethodError) as caught:
        check_filter(parse_filter(value), 2)
    assert caught.value.type == "unsupportedFilter"


def test_sorts() -> None:
    everything = [0, 1, 2]
    assert ids(sort_submissions(parse_sort([{"property": "emailId"}]), ITEMS, everything)) == [
        "S3",
        "S2",
        "S1",
    ]
    newest = parse_sort([{"property": "sentAt", "isAscending": False}])
    assert ids(sort_submissions(newest, ITEMS, everything)) == ["S2", "S3", "S1"]
    by_thread = parse_sort([{"property": "threadId"}, {"property": "sendAt", "isAscending": False}])
    assert ids(sort_submissions(by_thread, ITEMS, everything)) == ["S2", "S1", "S3"]
    assert ids(sort_submissions(None, ITEMS, [2, 0])) == ["S1", "S3"]
    for bad in ([{"property": "subject"}], [{"property": "emailId", "collation": "i;ascii-casemap"}]):
        with pytest.raises(MethodError) as caught:
            sort_submissions(parse_sort(bad), ITEMS, everything)
        assert caught.value.type == "unsupportedSort"
