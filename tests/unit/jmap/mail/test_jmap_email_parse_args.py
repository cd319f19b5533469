"""Email/parse's arguments (RFC 8621 section 4.9)."""

from __future__ import annotations

import pytest

from pochta.proto.jmap import MethodError
from pochta.proto.jmap.mail.parse_args import parse_email_parse, parsed_metadata
from pochta.proto.jmap.mail.properties import PARSE_DEFAULT


def test_defaults_are_email_parses() -> None:
    args = parse_email_parse({"accountId": "A1", "blobIds": ["Ga", "Gb", "Ga"]}, max_objects=5)
    assert args.blob_ids == ("Ga", "Gb")  # each blob parsed once
    assert args.request.properties == tuple(PARSE_DEFAULT)
    assert args.request.fetch_text_body_values is False


def test_body_arguments_and_null_defaults() -> None:
    args = parse_email_parse(
        {
            "accountId": "A1",
            "blobIds": [],
            "properties": ["subject"],
            "fetchAllBodyValues": True,
            "maxBodyValueBytes": None,
        },
        max_objects=5,
    )
    assert args.request.properties == ("subject",)
    assert args.request.fetch_all_body_values is True
    assert args.request.max_body_value_bytes == 0


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"accountId": "A1"}, "invalidArguments"),
        ({"accountId": "A1", "blobIds": [], "properties": ["nope"]}, "invalidArguments"),
        ({"accountId": "A1", "blobIds": [], "ids": []}, "invalidArguments"),
        ({"accountId": "A1", "blobIds": ["a", "b", "c"]}, "requestTooLarge"),
    ],
)
def test_bad_arguments(arguments: dict[str, object], error: str) -> None:
    with pytest.raises(MethodError) as raised:
        parse_email_parse(arguments, max_objects=2)
    assert str(raised.value.type) == error


def test_a_parsed_email_is_in_no_account() -> None:
    metadata = parsed_metadata("Gx", 10)
    assert metadata["blobId"] == "Gx"
    assert metadata["size"] == 10
    assert all(metadata[name] is None for name in ("id", "threadId", "mailboxIds", "keywords", "receivedAt"))
