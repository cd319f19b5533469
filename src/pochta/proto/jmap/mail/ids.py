"""The ids of JMAP Mail's objects as pochta spells them (RFC 8620 section 1.2: 1 to 255 of
``A-Za-z0-9_-``).

Mailbox, Email and Thread ids ARE the IMAP OBJECTIDs (RFC 8474; ``proto.imap.objectid``), so an
Email seen over JMAP is the same EMAILID over IMAP: ``F`` + mailboxes.id, ``M`` + messages.id,
``T`` + the thread's id.

Blob ids name content, as the store does (blobs are kept by SHA-256): ``G`` + the 64 hex digits
of the blob's SHA-256 for a whole message or an uploaded blob, and ``G<sha256>-<part>`` for one
part of a message, the part being its IMAP section number with ``-`` for ``.`` (``G...-1-2`` is
part 1.2). The same bytes have the same id whatever Email or upload they came with; access is
decided at download by whether the account holds such a message or upload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pochta.proto.imap.objectid import EMAIL, MAILBOX, THREAD, objectid, parse_objectid

__all__ = [
    "BlobName",
    "blob_id",
    "email_id",
    "mailbox_id",
    "parse_blob_id",
    "parse_email_id",
    "parse_mailbox_id",
    "parse_thread_id",
    "thread_id",
]

_BLOB = re.compile(r"G([0-9a-f]{64})((?:-[1-9][0-9]{0,5})*)")


def mailbox_id(number: int) -> str:
    return objectid(MAILBOX, number)


def email_id(number: int) -> str:
    return objectid(EMAIL, number)


def thread_id(number: int) -> str:
    return objectid(THREAD, number)


def parse_mailbox_id(text: str) -> int | None:
    """The mailboxes.id a Mailbox id names, None when it cannot be one of ours (then it names
    nothing: ``notFound``)."""
    return parse_objectid(MAILBOX, text)


def parse_email_id(text: str) -> int | None:
    return parse_objectid(EMAIL, text)


def parse_thread_id(text: str) -> int | None:
    return parse_objectid(THREAD, text)


@dataclass(frozen=True)
class BlobName:
    """A parsed blob id: the blob's SHA-256 (hex) and the part's section ("" for the whole blob,
    else e.g. "1.2")."""

    sha256: str
    part: str = ""


def blob_id(sha256: str, part: str = "") -> str:
    """The blob id of a whole blob (``part`` "") or of one part of a message blob."""
    return "G" + sha256 + ("-" + part.replace(".", "-") if part else "")


def parse_blob_id(text: str) -> BlobName | None:
    found = _BLOB.fullmatch(text)
    if found is None:
        return None
    return BlobName(found.group(1), found.group(2)[1:].replace("-", "."))
