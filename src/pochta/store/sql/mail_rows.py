"""The rows of the mail core that both engines' writes and reads pass around (``sqlite/mail``,
``pg/mail``, ``store/sql/mail_writes``): UID sets, a membership row joined with its message, what a
write reads of a mailbox row and what bumping it returns, and a message prepared for delivery."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import NamedTuple

from pochta.mime.imapform import WireForms
from pochta.store.model import (
    AccountId,
    BlobRef,
    MessageEntry,
    MessageId,
    ModSeq,
    Uid,
    date_from_parts,
)
from pochta.store.sqlite.search import SearchRows

__all__ = [
    "PARSE_VERSION",
    "Box",
    "BumpedMailbox",
    "EntryRow",
    "PreparedMessage",
    "message_entry",
    "normalize_uids",
    "uid_ranges",
]

# Version of the parse cache layout written at delivery; reconstruct rewrites caches regardless.
PARSE_VERSION = 1

# UID sets


def normalize_uids(uids: Iterable[Uid]) -> list[Uid]:
    """Sorted, distinct, positive. A list that is so already (a search's result: SORT over 20,000
    UIDs) is checked in one pass and copied, instead of going through a set and a sort."""
    if isinstance(uids, list) and uids and uids[0] > 0 and all(map(operator.lt, uids, islice(uids, 1, None))):
        return list(uids)
    return sorted({int(uid) for uid in uids if uid > 0})


def uid_ranges(uids: Sequence[Uid]) -> list[tuple[Uid, Uid]]:
    """Sorted, distinct UIDs as inclusive ranges: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    ranges: list[tuple[Uid, Uid]] = []
    for uid in uids:
        if ranges and ranges[-1][1] + 1 == uid:
            ranges[-1] = (ranges[-1][0], uid)
        else:
            ranges.append((uid, uid))
    return ranges


# Rows


class EntryRow(NamedTuple):
    """One membership row joined with its message, as the write jobs and ``changes_since`` read it."""

    uid: Uid
    message_id: MessageId
    flags: str
    seen: int
    deleted: int
    modseq: ModSeq
    internal_date: int
    internal_tz: int
    sha256: str
    size: int


def message_entry(
    row: EntryRow,
    flags: dict[str, str] | None = None,
    modseq: ModSeq | None = None,
    uid: Uid | None = None,
) -> MessageEntry:
    return MessageEntry(
        uid=row.uid if uid is None else uid,
        message_id=row.message_id,
        flags=frozenset(row.flags.split()) if flags is None else frozenset(flags.values()),
        modseq=row.modseq if modseq is None else modseq,
        size=row.size,
        internal_date=date_from_parts(row.internal_date, row.internal_tz),
        blob=BlobRef(row.sha256, row.size),
    )


class Box(NamedTuple):
    """What the write jobs read of a mailbox row before they change it."""

    account_id: AccountId
    highestmodseq: ModSeq
    uidvalidity: int
    deleted: int


class BumpedMailbox(NamedTuple):
    uidnext: Uid
    highestmodseq: ModSeq
    uidvalidity: int
    account_id: AccountId


@dataclass(frozen=True)
class PreparedMessage:
    """What deliver stores about a message, computed off the writer thread."""

    blob: BlobRef
    parsed_json: bytes
    search: SearchRows
    wire: WireForms  # ENVELOPE, BODY, BODYSTRUCTURE as sent (sqlite_wire)
