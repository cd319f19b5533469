"""RFC 9404 (JMAP Blob Management), the pure part: Blob/upload's creations and data sources,
Blob/get's arguments and objects (ranges, text or base64, digests, truncation, encoding problems),
Blob/lookup's arguments and unknownDataType, and the account capability object."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from pochta.proto.jmap import MethodError, SetError
from pochta.proto.jmap.blob import (
    DIGESTS,
    BlobRange,
    InlineData,
    UploadSpec,
    blob_capability,
    blob_item,
    parse_blob_get,
    parse_blob_lookup,
    parse_blob_upload,
)

ACCOUNT = "A1"
FOX = b"The quick brown fox jumped over the lazy dog."


def upload(create: dict[str, Any], max_sources: int = 64) -> dict[str, UploadSpec | SetError]:
    args = parse_blob_upload(
        {"accountId": ACCOUNT, "create": create}, max_objects=10, max_sources=max_sources
    )
    assert args.account_id == ACCOUNT
    return dict(args.create)


def test_upload_sources_in_order() -> None:
    made = upload(
        {
            "b": {
                "data": [
                    {"data:asText": "How"},
                    {"blobId": "#b4", "offset": 3, "length": 7},
                    {"data:asBase64": base64.b64encode(b" was that?").decode()},
                    {"blobId": "Gabc"},
                ],
                "type": "text/plain",
            }
        }
    )["b"]
    assert made == UploadSpec(
        (
            InlineData(b"How"),
            BlobRange("#b4", 3, 7),
            InlineData(b" was that?"),
            BlobRange("Gabc", 0, None),
        ),
        "text/plain",
    )


def test_a_range_is_cut_or_refused() -> None:
    assert BlobRange("G", 4, 5).cut(FOX) == b"quick"
    assert BlobRange("G", 41, None).cut(FOX) == b"dog."
    assert BlobRange("G", len(FOX), 0).cut(FOX) == b""
    # RFC 9404 section 4.1: a range that begins or extends past the end is not satisfied.
    assert BlobRange("G", 41, 10).cut(FOX) is None
    assert BlobRange("G", len(FOX) + 1, None).cut(FOX) is None


@pytest.mark.parametrize(
    ("create", "error"),
    [
        ({"data": []}, "invalidProperties"),
        ({}, "invalidProperties"),
        ({"data": "text"}, "invalidProperties"),
        ({"data": [{"data:asBase64": "not base64!"}]}, "invalidProperties"),
        ({"data": [{"data:asText": 5}]}, "invalidProperties"),
        ({"data": [{"data:asText": "a", "data:asBase64": "YQ=="}]}, "invalidProperties"),
        ({"data": [{"blobId": "G1", "offset": -1}]}, "invalidProperties"),
        ({"data": [{"blobId": "G1", "length": True}]}, "invalidProperties"),
        ({"data": [{"blobId": ""}]}, "invalidProperties"),
        ({"data": [{"data:asHex": "61"}]}, "invalidProperties"),  # a draft's source, not the RFC's
        ({"data": [{"data:asText": "a"}], "type": 7}, "invalidProperties"),
        ({"data": [{"data:asText": "a"}], "color": "red"}, "invalidProperties"),
        ({"data": [{"data:asText": "\ud800"}]}, "invalidProperties"),  # a lone surrogate
        ({"data": [{"data:asText": "a"}] * 3}, "tooLarge"),  # more than maxDataSources (2 here)
    ],
)
def test_a_bad_creation_is_its_set_error(create: dict[str, Any], error: str) -> None:
    made = upload({"c": create}, max_sources=2)["c"]
    assert isinstance(made, SetError)
    assert made.to_json()["type"] == error


def test_too_many_creations_is_request_too_large() -> None:
    with pytest.raises(MethodError) as raised:
        parse_blob_upload(
            {"accountId": ACCOUNT, "create": {str(n): {"data": []} for n in range(3)}},
            max_objects=2,
            max_sources=1,
        )
    assert raised.value.to_json()["type"] == "requestTooLarge"


def test_get_arguments() -> None:
    args = parse_blob_get({"accountId": ACCOUNT, "ids": ["G1", "#made"]}, max_objects=5)
    assert (args.ids, args.properties, args.offset, args.length) == (
        ("G1", "#made"),
        ("data", "size"),
        0,
        None,
    )
    args = parse_blob_get(
        {
            "accountId": ACCOUNT,
            "ids": ["G1"],
            "properties": ["digest:sha-256", "size"],
            "offset": 4,
            "length": 9,
        },
        max_objects=5,
    )
    assert (args.properties, args.offset, args.length) == (("digest:sha-256", "size"), 4, 9)
    for bad in (
        {"ids": None},
        {"ids": ["G1"], "properties": ["data:asHex"]},
        {"ids": ["G1"], "properties": ["digest:md5"]},
        {"ids": ["G1"], "offset": -3},
        {"ids": ["G1"], "length": "9"},
        {"ids": ["G1"] * 6},
    ):
        with pytest.raises(MethodError):
            parse_blob_get({"accountId": ACCOUNT, **bad}, max_objects=5)


def test_get_item_as_the_rfc_example() -> None:
    # RFC 9404 section 4.2's example: offset 4, length 9 of the fox sentence.
    item = blob_item("G6e", FOX, ("data:asText", "data:asBase64", "size"), 4, 9)
    assert item == {
        "id": "G6e",
        "data:asText": "quick bro",
        "data:asBase64": base64.b64encode(b"quick bro").decode(),
        "size": len(FOX),
    }


def test_get_item_data_falls_back_to_base64_and_says_why() -> None:
    binary = bytes([0xFF, 0xFE, 0x41])
    assert blob_item("G", binary, ("data", "size"), 0, None) == {
        "id": "G",
        "isEncodingProblem": True,
        "data:asBase64": base64.b64encode(binary).decode(),
        "size": 3,
    }
    # Asked as text alone: null, with the problem said.
    assert blob_item("G", binary, ("data:asText",), 0, None) == {
        "id": "G",
        "isEncodingProblem": True,
        "data:asText": None,
    }
    # A range that cuts a UTF-8 sequence in two is an encoding problem too.
    assert blob_item("G", "é".encode(), ("data",), 0, 1)["isEncodingProblem"] is True
    assert blob_item("G", FOX, ("data",), 0, 3) == {"id": "G", "data:asText": "The"}


def test_get_item_past_the_end_is_truncated() -> None:
    assert blob_item("G", FOX, ("data",), 41, 100) == {"id": "G", "isTruncated": True, "data:asText": "dog."}
    assert blob_item("G", FOX, ("data", "size"), 100, None) == {
        "id": "G",
        "isTruncated": True,
        "data:asText": "",
        "size": len(FOX),
    }


def test_get_item_digests_are_of_the_range() -> None:
    item = blob_item("G", FOX, ("digest:sha", "digest:sha-256"), 4, 5)
    assert item["digest:sha"] == base64.b64encode(hashlib.sha1(b"quick").digest()).decode()
    assert item["digest:sha-256"] == base64.b64encode(hashlib.sha256(b"quick").digest()).decode()
    assert set(DIGESTS) == {"sha", "sha-256"}


def test_lookup_arguments_and_unknown_data_types() -> None:
    known = {"Email": "urn:ietf:params:jmap:mail", "Mailbox": "urn:ietf:params:jmap:mail"}
    using = frozenset({"urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"})
    args = parse_blob_lookup(
        {"accountId": ACCOUNT, "typeNames": ["Email", "Mailbox", "Email"], "ids": ["G1"]},
        max_objects=5,
        known=known,
        using=using,
    )
    assert (args.type_names, args.ids) == (("Email", "Mailbox"), ("G1",))
    for type_names, used in ((["Calendar"], using), (["Email"], frozenset({"urn:ietf:params:jmap:core"}))):
        with pytest.raises(MethodError) as raised:
            parse_blob_lookup(
                {"accountId": ACCOUNT, "typeNames": type_names, "ids": ["G1"]},
                max_objects=5,
                known=known,
                using=used,
            )
        assert raised.value.to_json()["type"] == "unknownDataType"
    with pytest.raises(MethodError) as missing:
        parse_blob_lookup({"accountId": ACCOUNT, "ids": ["G1"]}, max_objects=5, known=known, using=using)
    assert missing.value.to_json()["type"] == "invalidArguments"


def test_capability_object() -> None:
    assert blob_capability(max_size_blob_set=100, max_data_sources=64, type_names=["Email", "Thread"]) == {
        "maxSizeBlobSet": 100,
        "maxDataSources": 64,
        "supportedTypeNames": ["Email", "Thread"],
        "supportedDigestAlgorithms": ["sha", "sha-256"],
    }
