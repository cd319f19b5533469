"""Email/parse arguments (RFC 8621 section 4.9), pure: the account, the blob ids, and the shape of
each Email (Email/get's properties and body arguments, with Email/parse's default properties)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pochta.proto.jmap.arguments import ArgumentReader, invalid_arguments
from pochta.proto.jmap.errors import MethodError, MethodErrorType
from pochta.proto.jmap.mail.email_get import EmailRequest, email_request
from pochta.proto.jmap.mail.errors import InvalidArguments
from pochta.proto.jmap.mail.get_args import EMAIL_GET_EXTRA
from pochta.proto.jmap.mail.properties import PARSE_DEFAULT

__all__ = ["ParseArgs", "parse_email_parse", "parsed_metadata"]


@dataclass(frozen=True)
class ParseArgs:
    account_id: str
    blob_ids: tuple[str, ...]
    request: EmailRequest


def _or(value: object, default: object) -> object:
    return default if value is None else value  # RFC 8620 section 3.5: null takes the default


def parse_email_parse(arguments: Mapping[str, Any], *, max_objects: int) -> ParseArgs:
    reader = ArgumentReader(arguments, EMAIL_GET_EXTRA)
    account_id = reader.id("accountId")
    blob_ids = reader.ids("blobIds")
    properties = reader.strings("properties")
    extra = reader.rest()
    if blob_ids is None:
        raise invalid_arguments("blobIds must be an array of Ids")
    if len(blob_ids) > max_objects:
        # As Email/get's bound (maxObjectsInGet, RFC 8620 section 5.1).
        raise MethodError(MethodErrorType.REQUEST_TOO_LARGE, f"more than {max_objects} blobs")
    try:
        request = email_request(
            None if properties is None else list(properties),
            extra.get("bodyProperties"),
            fetch_text_body_values=_or(extra.get("fetchTextBodyValues"), False),
            fetch_html_body_values=_or(extra.get("fetchHTMLBodyValues"), False),
            fetch_all_body_values=_or(extra.get("fetchAllBodyValues"), False),
            max_body_value_bytes=_or(extra.get("maxBodyValueBytes"), 0),
            default=PARSE_DEFAULT,
        )
    except InvalidArguments as error:
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, error.description) from None
    return ParseArgs(account_id, tuple(dict.fromkeys(blob_ids)), request)


def parsed_metadata(blob_id: str, size: int) -> dict[str, Any]:
    """The metadata of a parsed Email (RFC 8621 section 4.9): it is in no account, so id,
    mailboxIds, keywords, receivedAt and threadId are null; blobId and size are the blob's."""
    return {
        "id": None,
        "blobId": blob_id,
        "threadId": None,
        "mailboxIds": None,
        "keywords": None,
        "size": size,
        "receivedAt": None,
    }
