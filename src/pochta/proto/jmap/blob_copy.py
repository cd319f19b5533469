"""Blob/copy (RFC 8620 section 6.3): its arguments and its response, pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pochta.proto.jmap.arguments import ArgumentReader, invalid_arguments
from pochta.proto.jmap.errors import MethodError, MethodErrorType, SetError

__all__ = ["BlobCopyArgs", "blob_copy_response", "parse_blob_copy"]


@dataclass(frozen=True)
class BlobCopyArgs:
    from_account_id: str
    account_id: str
    blob_ids: tuple[str, ...]


def parse_blob_copy(arguments: Mapping[str, Any], *, max_objects: int) -> BlobCopyArgs:
    reader = ArgumentReader(arguments)
    from_account_id = reader.id("fromAccountId")
    account_id = reader.id("accountId")
    blob_ids = reader.ids("blobIds")
    reader.rest()
    if blob_ids is None:
        raise invalid_arguments("blobIds must be an array of Ids")
    if len(blob_ids) > max_objects:
        # As /copy's bound (RFC 8620 section 5.4): maxObjectsInSet.
        raise MethodError(
            MethodErrorType.REQUEST_TOO_LARGE, f"more than {max_objects} blobs (maxObjectsInSet)"
        )
    return BlobCopyArgs(from_account_id, account_id, blob_ids)


def blob_copy_response(
    args: BlobCopyArgs, copied: Mapping[str, str], not_copied: Mapping[str, SetError]
) -> dict[str, Any]:
    # RFC 8620 section 6.3: copied and notCopied are null when empty.
    return {
        "fromAccountId": args.from_account_id,
        "accountId": args.account_id,
        "copied": dict(copied) or None,
        "notCopied": {blob: error.to_json() for blob, error in not_copied.items()} or None,
    }
