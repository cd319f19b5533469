"""Email/import's arguments (RFC 8621 section 4.8): each EmailImport checked on its own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pochta.proto.jmap import MethodError, SetError
from pochta.proto.jmap.mail.email_import import EmailImport, is_keyword, parse_email_import

BLOB = "G" + "a" * 64


def _one(record: dict[str, Any]) -> EmailImport | SetError:
    return parse_email_import({"accountId": "A1", "emails": {"k": record}}, max_objects=10).emails["k"]


def test_a_good_import_is_read_with_keywords_as_flags() -> None:
    wish = _one(
        {
            "blobId": BLOB,
            "mailboxIds": {"F1": True, "#new": True},
            "keywords": {"$seen": True, "$Flagged": True, "work": True},
            "receivedAt": "2026-12-01T09:30:00Z",
        }
    )
    assert isinstance(wish, EmailImport)
    assert wish.blob is not None
    assert (wish.blob.sha256, wish.blob.part, wish.blob_id) == ("a" * 64, "", BLOB)
    assert wish.mailbox_ids == ("F1", "#new")
    assert wish.flags == frozenset({"\\Seen", "\\Flagged", "work"})
    assert wish.received_at == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    plain = _one({"blobId": BLOB, "mailboxIds": {"F1": True}})
    assert isinstance(plain, EmailImport)
    assert (plain.flags, plain.received_at) == (frozenset(), None)
    # A blob made earlier in the request (Blob/upload): resolved by the handler.
    referenced = _one({"blobId": "#made", "mailboxIds": {"F1": True}})
    assert isinstance(referenced, EmailImport)
    assert (referenced.blob, referenced.blob_id) == (None, "#made")


@pytest.mark.parametrize(
    ("record", "property_"),
    [
        ({"mailboxIds": {"F1": True}}, "blobId"),
        ({"blobId": "nope", "mailboxIds": {"F1": True}}, "blobId"),
        ({"blobId": BLOB}, "mailboxIds"),
        ({"blobId": BLOB, "mailboxIds": {}}, "mailboxIds"),
        ({"blobId": BLOB, "mailboxIds": {"F1": False}}, "mailboxIds"),
        ({"blobId": BLOB, "mailboxIds": {"F1": True}, "keywords": {"a b": True}}, "keywords"),
        ({"blobId": BLOB, "mailboxIds": {"F1": True}, "keywords": {"x": False}}, "keywords"),
        (
            {"blobId": BLOB, "mailboxIds": {"F1": True}, "receivedAt": "2026-12-01T09:30:00+01:00"},
            "receivedAt",
        ),
        ({"blobId": BLOB, "mailboxIds": {"F1": True}, "receivedAt": 5}, "receivedAt"),
        ({"blobId": BLOB, "mailboxIds": {"F1": True}, "subject": "x"}, "subject"),
    ],
)
def test_a_bad_import_is_invalid_properties(record: dict[str, Any], property_: str) -> None:
    error = _one(record)
    assert isinstance(error, SetError)
    assert error.to_json()["type"] == "invalidProperties"
    assert list(error.properties) == [property_]


def test_method_level_errors() -> None:
    with pytest.raises(MethodError):
        parse_email_import({"accountId": "A1"}, max_objects=10)
    with pytest.raises(MethodError) as raised:
        parse_email_import({"accountId": "A1", "emails": {"a": {}, "b": {}}}, max_objects=1)
    assert str(raised.value.type) == "requestTooLarge"


def test_keywords() -> None:
    assert is_keyword("$seen")
    assert not is_keyword("")
    assert not is_keyword("x" * 256)
    assert not is_keyword("a]")
    assert not is_keyword("é")
