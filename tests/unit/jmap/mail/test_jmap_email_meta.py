"""The pure parts of Email/get's metadata, Email/get's arguments and Thread/changes (RFC 8621
sections 3, 4.1.1, 4.2): keywords from IMAP flags, the metadata object, a Thread's order, which
threads changed since a state."""

from __future__ import annotations

import pytest

from pochta.proto.jmap import MethodError
from pochta.proto.jmap.mail.email_meta import flag_of_keyword, keywords_of, metadata_of, thread_order
from pochta.proto.jmap.mail.get_args import parse_email_get
from pochta.proto.jmap.mail.thread_changes import EmailSpan, ThreadChanges, thread_changes

SHA = "ab" * 32


def test_keywords_from_flags() -> None:
    flags = ["\\Seen", "\\Flagged", "\\Answered", "\\Draft", "\\Deleted", "\\Recent", "$Work", "NonJunk"]
    # RFC 8621 section 4.1.1: system flags as their keywords, others lower-cased, \Deleted and
    # \Recent not shown.
    assert keywords_of(flags) == {
        "$answered": True,
        "$draft": True,
        "$flagged": True,
        "$seen": True,
        "$work": True,
        "nonjunk": True,
    }
    assert keywords_of([]) == {}
    assert [flag_of_keyword(k) for k in ("$seen", "$Flagged", "$answered", "$draft", "$Work")] == [
        "\\Seen",
        "\\Flagged",
        "\\Answered",
        "\\Draft",
        "$work",
    ]


def test_metadata_object() -> None:
    meta = metadata_of(
        message_id=12,
        sha256=SHA,
        thread=7,
        mailbox_ids=[5, 3],
        flags=["\\Seen"],
        size=1234,
        received_at=1_780_000_000,
    )
    assert meta == {
        "id": "M12",
        "blobId": "G" + SHA,
        "threadId": "T7",
        "mailboxIds": {"F3": True, "F5": True},
        "keywords": {"$seen": True},
        "size": 1234,
        "receivedAt": "2026-05-28T20:26:40Z",
    }
    assert (
        metadata_of(message_id=1, sha256=SHA, thread=None, mailbox_ids=[], flags=[], size=0, received_at=0)[
            "threadId"
        ]
        is None
    )


def test_thread_order_is_received_at_then_id() -> None:
    assert thread_order([(300, 1), (100, 9), (100, 4)]) == ["M4", "M9", "M1"]


def test_email_get_arguments() -> None:
    args, request = parse_email_get(
        {
            "accountId": "A1",
            "ids": ["M1", "#new"],
            "properties": ["id", "subject", "subject"],
            "bodyProperties": ["partId", "type"],
            "fetchTextBodyValues": True,
            "fetchHTMLBodyValues": None,
            "maxBodyValueBytes": 10,
        },
        max_objects=5,
    )
    assert args.ids == ("M1", "#new")
    assert request.properties == ("id", "subject")
    only = parse_email_get({"accountId": "A1", "ids": [], "properties": ["size"]}, max_objects=5)[1]
    assert only.properties == ("id", "size")  # RFC 8620 section 5.1: the id always comes
    assert request.body_properties == ("partId", "type")
    assert (request.fetch_text_body_values, request.fetch_html_body_values) == (True, False)
    assert request.max_body_value_bytes == 10
    defaults = parse_email_get({"accountId": "A1", "ids": []}, max_objects=5)[1]
    assert "bodyValues" in defaults.properties
    assert not defaults.fetch_all_body_values


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"ids": ["M1"] * 6}, "requestTooLarge"),
        ({"ids": [], "properties": ["nope"]}, "invalidArguments"),
        ({"ids": [], "properties": ["header:From:asDate"]}, "invalidArguments"),
        ({"ids": [], "bodyProperties": ["nope"]}, "invalidArguments"),
        ({"ids": [], "fetchAllBodyValues": "yes"}, "invalidArguments"),
        ({"ids": [], "maxBodyValueBytes": -1}, "invalidArguments"),
        ({"ids": [], "sort": []}, "invalidArguments"),
    ],
)
def test_email_get_argument_errors(arguments: dict[str, object], error: str) -> None:
    with pytest.raises(MethodError) as caught:
        parse_email_get({"accountId": "A1", **arguments}, max_objects=5)
    assert caught.value.type == error


def test_thread_changes() -> None:
    since = 10
    threads = {
        1: [EmailSpan(5, None), EmailSpan(12, None)],  # held then and now: a new Email joined
        2: [EmailSpan(11, None)],  # new
        3: [EmailSpan(4, 15)],  # its only Email went
        4: [EmailSpan(11, 14)],  # came and went since: in no list
        5: [EmailSpan(3, 8), EmailSpan(12, None)],  # empty at the state, held now: created
        6: [EmailSpan(2, None), EmailSpan(6, 13)],  # one of two went: updated
    }
    assert thread_changes(since, threads) == ThreadChanges((2, 5), (1, 6), (3,))
