"""Blob/copy's arguments and response (RFC 8620 section 6.3)."""

from __future__ import annotations

from typing import Any

import pytest

from pochta.proto.jmap import MethodError, SetError, SetErrorType
from pochta.proto.jmap.blob_copy import BlobCopyArgs, blob_copy_response, parse_blob_copy


def test_arguments_are_read() -> None:
    args = parse_blob_copy({"fromAccountId": "A1", "accountId": "A2", "blobIds": ["Gx", "Gy"]}, max_objects=5)
    assert args == BlobCopyArgs("A1", "A2", ("Gx", "Gy"))


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"accountId": "A2", "blobIds": []}, "invalidArguments"),
        ({"fromAccountId": "A1", "accountId": "A2"}, "invalidArguments"),
        ({"fromAccountId": "A1", "accountId": "A2", "blobIds": [1]}, "invalidArguments"),
        ({"fromAccountId": "A1", "accountId": "A2", "blobIds": [], "more": 1}, "invalidArguments"),
        ({"fromAccountId": "A1", "accountId": "A2", "blobIds": ["a", "b", "c"]}, "requestTooLarge"),
    ],
)
def test_bad_arguments_are_method_errors(arguments: dict[str, Any], error: str) -> None:
    with pytest.raises(MethodError) as raised:
        parse_blob_copy(arguments, max_objects=2)
    assert str(raised.value.type) == error


def test_empty_maps_are_null() -> None:
    args = BlobCopyArgs("A1", "A1", ("Ga", "Gb"))
    assert blob_copy_response(args, {}, {}) == {
        "fromAccountId": "A1",
        "accountId": "A1",
        "copied": None,
        "notCopied": None,
    }
    answer = blob_copy_response(args, {"Ga": "Ga"}, {"Gb": SetError(SetErrorType.NOT_FOUND)})
    assert (answer["copied"], answer["notCopied"]) == ({"Ga": "Ga"}, {"Gb": {"type": "notFound"}})
