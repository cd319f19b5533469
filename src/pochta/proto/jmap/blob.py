"""JMAP Blob Management (RFC 9404): the ``urn:ietf:params:jmap:blob`` capability's Blob/upload,
Blob/get and Blob/lookup, their arguments, the octets a Blob/upload's data sources make, and the
objects Blob/get answers, pure (the handlers, ``server/jmap/blob_methods``, read and write blobs).

RFC 9404 is not in /work/shared/rfc; its sections are cited in prose."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pochta.proto.jmap.arguments import ArgumentReader, invalid_arguments
from pochta.proto.jmap.errors import MethodError, MethodErrorType, SetError, SetErrorType

__all__ = [
    "BLOB_CAPABILITY",
    "DEFAULT_GET_PROPERTIES",
    "DIGESTS",
    "BlobGetArgs",
    "BlobLookupArgs",
    "BlobRange",
    "BlobUploadArgs",
    "InlineData",
    "UploadSpec",
    "blob_capability",
    "blob_item",
    "parse_blob_get",
    "parse_blob_lookup",
    "parse_blob_upload",
]

BLOB_CAPABILITY = "urn:ietf:params:jmap:blob"

# RFC 9404 section 4.2: "digest:<algorithm>" with the names of the HTTP Digest Algorithm Values
# registry; the value is the digest of the selected range, base64-encoded.
DIGESTS: Mapping[str, Callable[[bytes], Any]] = {"sha": hashlib.sha1, "sha-256": hashlib.sha256}
_DATA_PROPERTIES = frozenset({"data", "data:asText", "data:asBase64"})
_PROPERTIES = _DATA_PROPERTIES | {"size"} | {f"digest:{name}" for name in DIGESTS}
# RFC 9404 section 4.2: without properties, Blob/get returns data and size.
DEFAULT_GET_PROPERTIES = ("data", "size")


def blob_capability(
    *, max_size_blob_set: int, max_data_sources: int, type_names: Sequence[str]
) -> dict[str, Any]:
    """RFC 9404 section 3.1: the account's capability object."""
    return {
        "maxSizeBlobSet": max_size_blob_set,
        "maxDataSources": max_data_sources,
        "supportedTypeNames": list(type_names),
        "supportedDigestAlgorithms": list(DIGESTS),
    }


# -- Blob/upload -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InlineData:
    """Octets given in the request (``data:asText`` or ``data:asBase64``)."""

    data: bytes


@dataclass(frozen=True)
class BlobRange:
    """Octets of a blob the account holds: ``blob_id`` (possibly a "#creationId"), from
    ``offset`` for ``length`` octets (None: to the end)."""

    blob_id: str
    offset: int
    length: int | None

    def cut(self, data: bytes) -> bytes | None:
        """The range of ``data``, or None when it cannot be fully satisfied (RFC 9404 section
        4.1: a range that begins or extends past the end of the blob makes the creation fail)."""
        end = len(data) if self.length is None else self.offset + self.length
        if self.offset > len(data) or end > len(data):
            return None
        return data[self.offset : end]


DataSource = InlineData | BlobRange


@dataclass(frozen=True)
class UploadSpec:
    """One creation of Blob/upload: its data sources in order and the type hint."""

    sources: tuple[DataSource, ...]
    type: str | None


@dataclass(frozen=True)
class BlobUploadArgs:
    account_id: str
    create: Mapping[str, UploadSpec | SetError]  # a creation that cannot be parsed is its SetError


def _invalid(description: str, *properties: str) -> SetError:
    return SetError(SetErrorType.INVALID_PROPERTIES, description, properties or ("data",))


def _source(value: Any) -> DataSource | SetError:
    """RFC 9404 section 4.1 DataSourceObject: exactly one of data:asText, data:asBase64, or a
    blobId with optional offset and length. Invalid base64 or a range of the wrong type is an
    error, never guessed at."""
    if not isinstance(value, dict):
        return _invalid("a data source must be an object")
    given = set(value)
    if given == {"data:asText"}:
        text = value["data:asText"]
        if not isinstance(text, str):
            return _invalid("data:asText must be a String")
        # JSON strings are Unicode; a lone surrogate (\ud800) has no UTF-8 form.
        try:
            return InlineData(text.encode("utf-8"))
        except UnicodeEncodeError:
            return _invalid("data:asText is not valid Unicode")
    if given == {"data:asBase64"}:
        encoded = value["data:asBase64"]
        if not isinstance(encoded, str):
            return _invalid("data:asBase64 must be a String")
        try:
            return InlineData(base64.b64decode(encoded.encode("ascii"), validate=True))
        except (binascii.Error, UnicodeEncodeError):
            return _invalid("data:asBase64 is not valid base64")
    if "blobId" in given and given <= {"blobId", "offset", "length"}:
        blob_id, offset, length = value["blobId"], value.get("offset"), value.get("length")
        if not isinstance(blob_id, str) or not blob_id:
            return _invalid("blobId must be an Id")
        for name, number in (("offset", offset), ("length", length)):
            if number is not None and (not isinstance(number, int) or isinstance(number, bool) or number < 0):
                return _invalid(f"{name} must be an UnsignedInt")
        return BlobRange(blob_id, offset or 0, length)
    return _invalid("a data source is one of data:asText, data:asBase64 or blobId")


def _upload(value: Any, max_sources: int) -> UploadSpec | SetError:
    if not isinstance(value, dict):
        return _invalid("an upload must be an object")
    unknown = set(value) - {"data", "type"}
    if unknown:
        return _invalid("unknown properties", *sorted(unknown))
    kind = value.get("type")
    if kind is not None and not isinstance(kind, str):
        return _invalid("type must be a String", "type")
    sources = value.get("data")
    if not isinstance(sources, list) or not sources:
        return _invalid("data must be a non-empty array of data sources")
    if len(sources) > max_sources:
        return SetError(
            SetErrorType.TOO_LARGE, f"more than {max_sources} data sources (maxDataSources)", ("data",)
        )
    parsed: list[DataSource] = []
    for source in sources:
        found = _source(source)
        if isinstance(found, SetError):
            return found
        parsed.append(found)
    return UploadSpec(tuple(parsed), kind)


def parse_blob_upload(arguments: Mapping[str, Any], *, max_objects: int, max_sources: int) -> BlobUploadArgs:
    reader = ArgumentReader(arguments)
    account_id = reader.id("accountId")
    create = reader.object_map("create") or {}
    reader.rest()
    if len(create) > max_objects:
        # As a /set's bound (RFC 8620 section 5.3): maxObjectsInSet.
        raise MethodError(MethodErrorType.REQUEST_TOO_LARGE, f"more than {max_objects} creations")
    return BlobUploadArgs(account_id, {cid: _upload(value, max_sources) for cid, value in create.items()})


# -- Blob/get ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobGetArgs:
    account_id: str
    ids: tuple[str, ...]
    properties: tuple[str, ...]
    offset: int
    length: int | None


def parse_blob_get(arguments: Mapping[str, Any], *, max_objects: int) -> BlobGetArgs:
    reader = ArgumentReader(arguments, ("offset", "length"))
    account_id = reader.id("accountId")
    ids = reader.ids("ids", references=True)
    properties = reader.strings("properties")
    rest = reader.rest()
    if ids is None:
        # RFC 8620 section 5.1 allows null for all; an account's blobs are not listed.
        raise MethodError(MethodErrorType.REQUEST_TOO_LARGE, "ids null: ask for the blobs by id")
    if len(ids) > max_objects:
        raise MethodError(MethodErrorType.REQUEST_TOO_LARGE, f"more than {max_objects} ids (maxObjectsInGet)")
    chosen = DEFAULT_GET_PROPERTIES if properties is None else properties
    unknown = [name for name in chosen if name not in _PROPERTIES]
    if unknown:
        raise invalid_arguments(f"unknown properties: {', '.join(unknown)}")
    offset, length = rest.get("offset"), rest.get("length")
    for name, number in (("offset", offset), ("length", length)):
        if number is not None and (not isinstance(number, int) or isinstance(number, bool) or number < 0):
            raise invalid_arguments(f"{name} must be an UnsignedInt")
    return BlobGetArgs(account_id, ids, tuple(dict.fromkeys(chosen)), offset or 0, length)


def blob_item(
    blob_id: str, data: bytes, properties: Sequence[str], offset: int, length: int | None
) -> dict[str, Any]:
    """RFC 9404 section 4.2: the Blob/get object of a blob whose octets are ``data``. The data
    and digest properties are of the range ``offset``/``length``; size is the whole blob's. A range
    past the end gives what there is (maybe nothing) with ``isTruncated``; octets that are not
    UTF-8 give ``data:asText`` null with ``isEncodingProblem`` (``data`` then falls back to
    base64)."""
    end = len(data) if length is None else offset + length
    selected = data[offset:end]
    item: dict[str, Any] = {"id": blob_id}
    if end > len(data) or offset > len(data):
        item["isTruncated"] = True
    text: str | None = None
    wants_text = "data" in properties or "data:asText" in properties
    if wants_text:
        try:
            text = selected.decode("utf-8")
        except UnicodeDecodeError:
            item["isEncodingProblem"] = True
    for name in properties:
        if name == "size":
            item["size"] = len(data)
        elif name == "data:asText":
            item["data:asText"] = text
        elif name == "data:asBase64" or (name == "data" and text is None):
            item["data:asBase64"] = base64.b64encode(selected).decode("ascii")
        elif name == "data":
            item["data:asText"] = text
        elif name.startswith("digest:"):
            digest = DIGESTS[name.removeprefix("digest:")](selected).digest()
            item[name] = base64.b64encode(digest).decode("ascii")
    return item


# -- Blob/lookup -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobLookupArgs:
    account_id: str
    type_names: tuple[str, ...]
    ids: tuple[str, ...]


def parse_blob_lookup(
    arguments: Mapping[str, Any], *, max_objects: int, known: Mapping[str, str], using: frozenset[str]
) -> BlobLookupArgs:
    """``known``: the type names the server looks up, each with the capability defining it. RFC
    9404 section 4.3: a type name not known, or whose capability the request does not use, is
    ``unknownDataType``."""
    reader = ArgumentReader(arguments)
    account_id = reader.id("accountId")
    type_names = reader.strings("typeNames")
    ids = reader.ids("ids", references=True)
    reader.rest()
    if type_names is None or ids is None:
        raise invalid_arguments("typeNames and ids are required")
    if len(ids) > max_objects:
        raise MethodError(MethodErrorType.REQUEST_TOO_LARGE, f"more than {max_objects} ids (maxObjectsInGet)")
    unknown = [name for name in type_names if known.get(name) not in using]
    if unknown:
        raise MethodError(MethodErrorType.UNKNOWN_DATA_TYPE, f"cannot look up {', '.join(unknown)}")
    return BlobLookupArgs(account_id, tuple(dict.fromkeys(type_names)), ids)
