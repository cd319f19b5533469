"""What `pochta import` hands the store for one message (docs/import-export.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pochta.mime import ParsedMessage
from pochta.store.model import BlobRef, MailboxId

__all__ = ["ImportItem"]


@dataclass(frozen=True)
class ImportItem:
    """One message of a source: its key there (the journal's ``item``), the mailbox it goes into, its
    bytes (stored or a ``NewBlob``) and parse, its flags and internal date."""

    key: str
    mailbox_id: MailboxId
    blob: BlobRef
    parsed: ParsedMessage
    flags: frozenset[str]
    internal_date: datetime | None
