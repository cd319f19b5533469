"""Which blobs an account holds (RFC 8620 section 6): the octets of a message it holds, a part of
one, or a blob it uploaded within ``jmap.upload_lifetime`` (section 6.1: an upload is its
uploader's alone). One owner of the rule for the download, Blob/copy and what uses uploads."""

from __future__ import annotations

import time

from pochta.config import Settings
from pochta.proto.jmap.mail.ids import BlobName
from pochta.store.api import Store
from pochta.store.model import AccountId, BlobRef

__all__ = ["holds_blob", "uploaded_blob", "whole_blob"]


async def uploaded_blob(
    store: Store, settings: Settings, account_id: AccountId, sha256: str
) -> BlobRef | None:
    """The blob, if the account uploaded it within ``jmap.upload_lifetime``."""
    since = int(time.time()) - settings.jmap.upload_lifetime
    found = await store.upload_of(account_id, sha256, since)
    return None if found is None else BlobRef(found.sha256, found.size)


async def whole_blob(store: Store, settings: Settings, account_id: AccountId, sha256: str) -> BlobRef | None:
    """A whole blob the account holds: a message's octets, or an upload."""
    record = await store.email_record_of_blob(account_id, sha256)
    if record is not None:
        return record.blob
    return await uploaded_blob(store, settings, account_id, sha256)


async def holds_blob(store: Store, settings: Settings, account_id: AccountId, name: BlobName) -> bool:
    """Whether the account may read the blob ``name``: a whole blob it holds, or a part of a
    message it holds (parts of uploads are not blobs of their own yet: Email/parse will say)."""
    if not name.part:
        return await whole_blob(store, settings, account_id, name.sha256) is not None
    return await store.email_record_of_blob(account_id, name.sha256) is not None
