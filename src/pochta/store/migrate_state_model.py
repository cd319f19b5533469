"""What `pochta migrate` remembers of a remote IMAP server (revision 0032, docs/migrate.md)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from pochta.mime import ParsedMessage
from pochta.store.model import AccountId, BlobRef, MailboxId

__all__ = ["MigrateFolder", "MigrateItem", "MigratedMessage", "Placement"]


@dataclass(frozen=True)
class MigrateFolder:
    """One remote folder of one source, for one account."""

    id: int
    account_id: AccountId
    source: str  # imap://login@host:port
    remote_name: str
    uidvalidity: int
    mailbox_id: MailboxId
    highestmodseq: int | None  # flags were read up to this MODSEQ (None: not yet, or no CONDSTORE)
    restarted: bool = False  # its UIDVALIDITY changed at this run: every message is looked at again


@dataclass(frozen=True)
class MigratedMessage:
    remote_uid: int
    local_uid: int
    flags: frozenset[str]  # the remote flags last copied


class Placement(enum.StrEnum):
    COPIED = "copied"  # placed in the local mailbox now
    ALREADY = "already"  # this remote UID was copied before (a concurrent or killed run)
    MATCHED = "matched"  # same bytes copied under an older UIDVALIDITY: the record moved, no copy


@dataclass(frozen=True)
class MigrateItem:
    """One remote message to place: its UID, bytes (stored or a ``NewBlob``), parse and flags."""

    remote_uid: int
    blob: BlobRef
    parsed: ParsedMessage
    flags: frozenset[str]
    internal_date: datetime | None
