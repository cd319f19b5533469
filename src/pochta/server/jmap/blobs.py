"""Which blobs an account holds (RFC 8620 section 6) and their octets: the octets of a message it
holds, a leaf part of one (decoded from its transfer encoding, RFC 8621 section 4.1.4 blobId), a
blob it uploaded within ``jmap.upload_lifetime`` (section 6.1: an upload is its uploader's alone),
or the content of one of its Sieve scripts (RFC 9661 section 2: a SieveScript's blobId; the store
keeps scripts as text, not as blobs, so their octets are ``inline``).
One owner of the rule for the download, Blob/copy, Email/import, Email/parse, Email/set create and
SieveScript/set."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

from pochta.config import Settings
from pochta.mime import ParsedMessage
from pochta.mime.model import Part
from pochta.proto.jmap.mail import blob_part, decoded_content
from pochta.proto.jmap.mail.ids import BlobName
from pochta.proto.jmap.sieve import SIEVE_MEDIA_TYPE
from pochta.store.api import Store
from pochta.store.model import AccountId, BlobRef
from pochta.store.upload_model import Upload

__all__ = ["HeldBlob", "add_upload", "held_blob", "read_held", "uploaded_blob", "whole_blob"]

MESSAGE_TYPE = "message/rfc822"


@dataclass(frozen=True)
class HeldBlob:
    """A blob the account holds: ``stored`` octets, or the leaf ``part`` of a stored message."""

    stored: BlobRef
    media_type: str  # the upload's type as given, the part's, or message/rfc822 for a message
    part: Part | None = None
    inline: bytes | None = None  # a Sieve script's content: octets the blob store does not hold


async def uploaded_blob(
    store: Store, settings: Settings, account_id: AccountId, sha256: str
) -> BlobRef | None:
    """The blob, if the account uploaded it within ``jmap.upload_lifetime``."""
    held = await _upload(store, settings, account_id, sha256)
    return None if held is None else held.stored


async def _upload(store: Store, settings: Settings, account_id: AccountId, sha256: str) -> HeldBlob | None:
    since = int(time.time()) - settings.jmap.upload_lifetime
    found = await store.upload_of(account_id, sha256, since)
    return None if found is None else HeldBlob(BlobRef(found.sha256, found.size), found.type)


async def whole_blob(store: Store, settings: Settings, account_id: AccountId, sha256: str) -> BlobRef | None:
    """A whole blob of the blob store the account holds: a message's octets, or an upload."""
    held = await held_blob(store, settings, account_id, BlobName(sha256, ""))
    return None if held is None or held.inline is not None else held.stored


async def held_blob(
    store: Store, settings: Settings, account_id: AccountId, name: BlobName
) -> HeldBlob | None:
    """The blob ``name`` if the account holds it, else None (parts of uploads are not blobs of
    their own: Email/parse names them, the account holds them once imported)."""
    record = await store.email_record_of_blob(account_id, name.sha256)
    if not name.part:
        if record is not None:
            return HeldBlob(record.blob, MESSAGE_TYPE)
        upload = await _upload(store, settings, account_id, name.sha256)
        return upload if upload is not None else await _script_blob(store, account_id, name.sha256)
    if record is None:
        return None
    part = blob_part(ParsedMessage.from_json(record.parsed_json).root, name.part)
    return None if part is None else HeldBlob(record.blob, part.media_type, part)


async def _script_blob(store: Store, account_id: AccountId, sha256: str) -> HeldBlob | None:
    """The content of the account's script whose SHA-256 is ``sha256`` (at most ``max_scripts``
    reads, only for a name no message or upload has)."""
    for info in await store.sieve_scripts(account_id):
        script = await store.sieve_script(account_id, info.name)
        if script is None:
            continue
        data = script.source.encode("utf-8")
        if hashlib.sha256(data).hexdigest() == sha256:
            return HeldBlob(BlobRef(sha256, len(data)), SIEVE_MEDIA_TYPE, inline=data)
    return None


async def read_held(store: Store, held: HeldBlob) -> bytes:
    """The octets ``held`` names, a part decoded, read on a worker thread."""
    if held.inline is not None:
        return held.inline
    data = await asyncio.to_thread(store.read_blob, held.stored)
    if held.part is None:
        return data
    return await asyncio.to_thread(decoded_content, data, held.part)


async def add_upload(store: Store, account_id: AccountId, blob: BlobRef, media_type: str) -> None:
    """The stored ``blob`` is the account's upload from now on (for ``jmap.upload_lifetime``):
    the upload route, Blob/upload and Blob/copy record theirs alike."""
    await store.add_upload(Upload(account_id, blob.sha256, media_type, blob.size, int(time.time())))
