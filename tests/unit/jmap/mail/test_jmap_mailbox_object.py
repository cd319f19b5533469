"""The Mailbox object, its query and its /set rules (RFC 8621 section 2), pure."""

from __future__ import annotations

from typing import Any

import pytest

from pochta.proto.jmap import MethodError, SetFailure
from pochta.proto.jmap.mail.mailbox import (
    DEFAULT_PROPERTIES,
    MailboxRecord,
    leaf_name,
    mailbox_object,
    my_rights,
    parent_name,
    role_of,
    special_use_of,
)
from pochta.proto.jmap.mail.mailbox_query import check_filter, check_sort, query_mailboxes
from pochta.proto.jmap.mail.mailbox_set import MailboxWish, create_wish, update_wish
from pochta.proto.jmap.standard.filter import parse_filter, parse_sort

ALL = frozenset("lrswipkxtea")


def record(number: int, name: str, parent: int | None = None, **kwargs: Any) -> MailboxRecord:
    defaults: dict[str, Any] = {"special_use": None, "subscribed": False, "rights": ALL, "may_submit": True}
    defaults.update(kwargs)
    return MailboxRecord(f"F{number}", name, None if parent is None else f"F{parent}", **defaults)


def test_names_and_roles() -> None:
    assert (leaf_name("a/b/c"), parent_name("a/b/c")) == ("c", "a/b")
    assert (leaf_name("INBOX"), parent_name("INBOX")) == ("INBOX", None)
    assert role_of("INBOX", None) == "inbox"
    assert role_of("Gesendet", "\\Sent") == "sent"
    assert role_of("Wichtig", "\\Important") == "important"
    assert role_of("Plain", None) is None
    assert special_use_of("trash") == "\\Trash"
    assert special_use_of("inbox") is None


def test_my_rights_need_every_imap_right_of_the_mapping() -> None:
    assert all(my_rights(ALL, may_submit=True).values())
    rights = my_rights(frozenset("lrt"), may_submit=False)
    assert rights["mayReadItems"] is True
    assert rights["mayRemoveItems"] is False  # "t" and "e" both
    assert rights["mayRename"] is rights["mayDelete"] is rights["maySubmit"] is False
    assert my_rights(frozenset("r"), may_submit=False)["mayReadItems"] is False  # "l" and "r"


def test_mailbox_object() -> None:
    box = record(3, "Work/Reports", 2, special_use="\\Archive", subscribed=True, total_emails=4)
    shown = mailbox_object(box)
    assert list(shown) == list(DEFAULT_PROPERTIES)
    assert shown["name"] == "Reports"
    assert shown["parentId"] == "F2"
    assert shown["role"] == "archive"
    assert (shown["totalEmails"], shown["sortOrder"], shown["isSubscribed"]) == (4, 0, True)
    assert mailbox_object(box, ["name", "name"]) == {"id": "F3", "name": "Reports"}


RECORDS = [
    record(1, "INBOX", subscribed=True),
    record(2, "Work"),
    record(3, "Work/beta", 2, subscribed=True),
    record(4, "Work/Alpha", 2),
    record(5, "Trash", special_use="\\Trash", subscribed=True),
    record(6, "Work/Alpha/deep", 4, subscribed=True),
]


def query(filter_: Any = None, sort: Any = None, **kwargs: bool) -> list[str]:
    parsed_filter, parsed_sort = parse_filter(filter_), parse_sort(sort)
    check_filter(parsed_filter)
    check_sort(parsed_sort)
    return query_mailboxes(RECORDS, parsed_filter, parsed_sort, **kwargs)


def test_query_filters() -> None:
    assert query({"parentId": "F2"}, [{"property": "name"}]) == ["F4", "F3"]
    assert query({"parentId": None}, [{"property": "name"}]) == ["F1", "F5", "F2"]
    assert query({"role": "trash"}) == ["F5"]
    assert query({"hasAnyRole": False, "isSubscribed": True}) == ["F3", "F6"]
    assert query({"name": "ALP"}) == ["F4"]
    assert query({"operator": "NOT", "conditions": [{"parentId": None}, {"parentId": "F2"}]}) == ["F6"]
    assert query({"operator": "OR", "conditions": [{"role": "inbox"}, {"role": "trash"}]}) == ["F1", "F5"]


def test_query_sorts_and_trees() -> None:
    # Names compare case-folded: Work, Trash, INBOX, deep, beta, Alpha.
    assert query(sort=[{"property": "name", "isAscending": False}]) == ["F2", "F5", "F1", "F6", "F3", "F4"]
    assert query(sort=[{"property": "sortOrder"}, {"property": "name"}], sort_as_tree=True) == [
        "F1", "F5", "F2", "F4", "F6", "F3",
    ]  # fmt: skip
    # sortOrder first (a number), then the name: Trash 1, Work/beta 1 before INBOX 5.
    ordered = [record(1, "INBOX", sort_order=5), record(2, "Work"), record(5, "Trash", sort_order=1)]
    ordered += [record(3, "Work/beta", 2, sort_order=1), record(4, "Work/Alpha", 2, sort_order=2)]
    sort = parse_sort([{"property": "sortOrder"}, {"property": "name"}])
    assert query_mailboxes(ordered, None, sort) == ["F2", "F3", "F5", "F4", "F1"]
    assert query_mailboxes(ordered, None, sort, sort_as_tree=True) == ["F2", "F3", "F4", "F5", "F1"]
    descending = parse_sort([{"property": "sortOrder", "isAscending": False}])
    assert query_mailboxes(ordered, None, descending) == ["F1", "F4", "F3", "F5", "F2"]
    shown = mailbox_object(ordered[0], ["sortOrder"])
    assert shown == {"id": "F1", "sortOrder": 5}
    # filterAsTree: "deep" and "beta" match, but a parent of each does not.
    assert query({"isSubscribed": True}) == ["F3", "F6", "F1", "F5"]
    assert set(query({"isSubscribed": True}, filter_as_tree=True)) == {"F1", "F5"}


@pytest.mark.parametrize(
    ("filter_", "sort", "error"),
    [
        ({"colour": "red"}, None, "unsupportedFilter"),
        ({"isSubscribed": "yes"}, None, "unsupportedFilter"),
        ({"operator": "AND", "conditions": [{"parentId": 5}]}, None, "unsupportedFilter"),
        (None, [{"property": "totalEmails"}], "unsupportedSort"),
        (None, [{"property": "name", "collation": "i;ascii-casemap"}], "unsupportedSort"),
    ],
)
def test_query_errors(filter_: Any, sort: Any, error: str) -> None:
    with pytest.raises(MethodError) as raised:
        query(filter_, sort)
    assert str(raised.value.type) == error


def test_create_wish() -> None:
    assert create_wish(
        {"name": "A\u0301", "parentId": "#p", "role": "junk", "isSubscribed": True}
    ) == MailboxWish("\u00c1", "#p", "junk", True)
    assert create_wish({"name": "x", "sortOrder": 0}).subscribed is False
    assert create_wish({"name": "x", "sortOrder": 7}).sort_order == 7
    assert create_wish({"name": "x"}).sort_order == 0


@pytest.mark.parametrize(
    ("record_", "bad"),
    [
        ({}, ["name"]),
        ({"name": ""}, ["name"]),
        ({"name": "a/b"}, ["name"]),
        ({"name": "a\x07"}, ["name"]),
        ({"name": "x", "parentId": 7}, ["parentId"]),
        ({"name": "x", "sortOrder": -1}, ["sortOrder"]),
        ({"name": "x", "sortOrder": "3"}, ["sortOrder"]),
        ({"name": "x", "sortOrder": 1.5}, ["sortOrder"]),
        ({"name": "x", "sortOrder": True}, ["sortOrder"]),
        ({"name": "x", "role": "inbox"}, ["role"]),
        ({"name": "x", "role": "flagged"}, ["role"]),
        ({"name": "x", "isSubscribed": 1}, ["isSubscribed"]),
        ({"name": "x", "id": "F1", "myRights": {}}, ["id", "myRights"]),
        ({"name": "x", "colour": "red"}, ["colour"]),
    ],
)
def test_create_wish_refuses(record_: dict[str, Any], bad: list[str]) -> None:
    with pytest.raises(SetFailure) as raised:
        create_wish(record_)
    assert raised.value.error.to_json()["type"] == "invalidProperties"
    assert list(raised.value.error.properties) == bad


def test_update_wish() -> None:
    current = mailbox_object(record(4, "Work/Alpha", 2, special_use="\\Archive"))
    moved = update_wish(current, {**current, "name": "Beta", "parentId": None})
    assert moved == MailboxWish("Beta", None, "archive", False)
    for patched, bad in (
        ({**current, "role": "trash"}, ["role"]),
        ({**current, "totalEmails": 9}, ["totalEmails"]),
        ({**current, "myRights": {}}, ["myRights"]),
    ):
        with pytest.raises(SetFailure) as raised:
            update_wish(current, patched)
        assert list(raised.value.error.properties) == bad
