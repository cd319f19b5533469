"""Email/import (RFC 8621 section 4.8): its arguments, each EmailImport checked on its own (a bad
one is that creation's SetError, the others go on), pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pochta.proto.jmap.arguments import ArgumentReader, invalid_arguments
from pochta.proto.jmap.dates import parse_utc_date
from pochta.proto.jmap.errors import MethodError, MethodErrorType, SetError, SetErrorType
from pochta.proto.jmap.ids import is_id
from pochta.proto.jmap.mail.email_meta import flag_of_keyword
from pochta.proto.jmap.mail.ids import BlobName, parse_blob_id

__all__ = ["EmailImport", "ImportArgs", "is_keyword", "parse_email_import"]

# RFC 8621 section 4.1.1: a keyword is 1 to 255 of these (IMAP's atom characters but "]").
_KEYWORD_BANNED = frozenset('(){]%*"\\')


@dataclass(frozen=True)
class EmailImport:
    blob: BlobName | None  # None: blob_id is a "#creationId" (RFC 8620 section 5.3), resolved by the caller
    blob_id: str
    mailbox_ids: tuple[str, ...]  # Mailbox ids or #creation references, in the order given
    flags: frozenset[str]  # the keywords as IMAP flags
    received_at: datetime | None  # None: now


@dataclass(frozen=True)
class ImportArgs:
    account_id: str
    if_in_state: str | None
    emails: Mapping[str, EmailImport | SetError]  # creation id -> what to import, or why not


def is_keyword(text: str) -> bool:
    return 0 < len(text) <= 255 and all(0x21 <= ord(c) <= 0x7E and c not in _KEYWORD_BANNED for c in text)


def _invalid(description: str, *properties: str) -> SetError:
    return SetError(SetErrorType.INVALID_PROPERTIES, description, properties)


def _one(record: Mapping[str, Any]) -> EmailImport | SetError:
    unknown = sorted(set(record) - {"blobId", "mailboxIds", "keywords", "receivedAt"})
    if unknown:
        return _invalid("unknown properties", *unknown)
    blob_id = record.get("blobId")
    name = parse_blob_id(blob_id) if isinstance(blob_id, str) else None
    if not isinstance(blob_id, str) or (name is None and not blob_id.startswith("#")):
        return _invalid("blobId must be a blob id", "blobId")
    mailboxes = record.get("mailboxIds")
    if (
        not isinstance(mailboxes, dict)
        or not mailboxes
        or not all(value is True and (is_id(key) or key.startswith("#")) for key, value in mailboxes.items())
    ):
        # RFC 8621 section 4.1.1: an Email is in at least one Mailbox.
        return _invalid("mailboxIds must map one or more Mailbox ids to true", "mailboxIds")
    keywords = record.get("keywords", {})
    if not isinstance(keywords, dict) or not all(
        isinstance(key, str) and is_keyword(key) and value is True for key, value in keywords.items()
    ):
        return _invalid("keywords must map keywords to true", "keywords")
    received = record.get("receivedAt")
    received_at = None
    if received is not None:
        try:
            received_at = parse_utc_date(received) if isinstance(received, str) else None
        except ValueError:
            received_at = None
        if received_at is None:
            return _invalid("receivedAt must be a UTCDate", "receivedAt")
    flags = frozenset(flag_of_keyword(keyword) for keyword in keywords)
    return EmailImport(name, blob_id, tuple(mailboxes), flags, received_at)


def parse_email_import(arguments: Mapping[str, Any], *, max_objects: int) -> ImportArgs:
    reader = ArgumentReader(arguments)
    account_id = reader.id("accountId")
    if_in_state = reader.optional_string("ifInState")
    emails = reader.object_map("emails")
    reader.rest()
    if emails is None:
        raise invalid_arguments("emails must be a map of creation ids to EmailImport objects")
    if len(emails) > max_objects:
        # As a /set's bound: maxObjectsInSet (RFC 8620 section 5.3).
        raise MethodError(MethodErrorType.REQUEST_TOO_LARGE, f"more than {max_objects} Emails")
    return ImportArgs(account_id, if_in_state, {key: _one(value) for key, value in emails.items()})
