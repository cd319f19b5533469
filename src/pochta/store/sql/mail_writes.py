"""The writes of the mail core, once for both engines: deliver and APPEND, flags, COPY and MOVE,
EXPUNGE. Each runs in the caller's write transaction over a Connection and is written against
``MailOps``: the statements an engine runs for it (``sqlite/mail`` on SQLite's driver connection,
``pg/mail`` through psycopg), passed as the engine's module. The rules live here, one owner each:

- Counters (a mailbox's messages/unseen/deleted/size, quota usage, message refcounts) move by deltas
  in the transaction of the change that moves them; ``reconstruct`` re-derives them from scratch.
- The quota is checked inside the write (``MailOps.enforce_quota``): ``deliver`` and
  ``copy_messages`` raise QuotaExceeded before anything of the job is kept.
- Each write bumps a mailbox's HIGHESTMODSEQ once and stamps every membership it touched with the
  new value (RFC 7162 §3.1 allows one value for the messages one command changed).
- Every MODSEQ is drawn from the account's counter (``account_modseq``): the next value is the
  counter plus one, and at least the mailbox's HIGHESTMODSEQ plus one, written to both. A mailbox's
  MODSEQs still only grow (RFC 7162 §3.1.1 allows gaps); the counter is the account's highest
  MODSEQ, the state of JMAP's Email and Mailbox changes (``sql/account_changes``).
- A write first takes the counters of the accounts it touches (``MailOps.lock_accounts``): on
  PostgreSQL their rows are locked in account id order until commit, before any mailbox row, so
  an account's writes commit in MODSEQ order. SQLite has one writer.
- In the same write, ``MailOps.record_emails`` keeps the account's Email records (``account_emails``):
  a message that comes into an account with no membership of it is created (again, after it was
  destroyed); a flag change, or a membership added or removed while others remain, changes it;
  the last membership's removal destroys it. Each at the write's MODSEQ of that account.
- A mailbox's keyword list is bounded (``MailOps.admit_keywords``): a keyword past the limit is
  stored nowhere, the rest of the write goes on.

How an engine makes the UID and MODSEQ allocation safe against concurrent writers is its own: one
writer at a time on SQLite, row locks in a fixed order on PostgreSQL (``pg/mail``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection

from pochta.mail.flags import (
    DELETED_KEY,
    SEEN_KEY,
    apply_stored,
    is_system_flag,
    parse_stored,
    stored_flags,
    stored_text,
)
from pochta.mime import ParsedMessage
from pochta.store.api import FlagOp, NotFound
from pochta.store.model import (
    AccountId,
    BlobRef,
    Change,
    ChangeKind,
    ChangeSet,
    CopyResult,
    MailboxId,
    MessageEntry,
    MessageId,
    ModSeq,
    Placed,
    Target,
    Uid,
    date_from_parts,
    date_parts,
)
from pochta.store.sql.mail_rows import (
    Box,
    BumpedMailbox,
    EntryRow,
    PreparedMessage,
    message_entry,
    normalize_uids,
)
from pochta.store.sqlite.keywords import text_keywords, without_keys

__all__ = [
    "MailOps",
    "MembershipRow",
    "PlacingJobs",
    "StoreBlob",
    "append_named",
    "copy_messages",
    "deliver",
    "expunge",
    "expunge_deleted",
    "remove_memberships",
    "set_flags",
    "transfer",
]

# (mailbox_id, uid, message_id, flags, seen, deleted, modseq, internal_date, internal_tz, save_date)
MembershipRow = tuple[Any, ...]

# The store's step before a row refers to a blob, in the write's transaction: store a new blob's
# bytes, or make sure a known one exists (NotFound) and that no collector, on any node, removes it
# before this reference commits. Each store's own (``_store_blob``): its blob layouts differ.
StoreBlob = Callable[[Connection, BlobRef], None]

_T = TypeVar("_T")


class PlacingJobs(Protocol):
    """What the mixins that place messages with these writes (``sql/import_journal``,
    ``sql/migrate_state``) ask of the store beside their own statements."""

    def _store_blob(self, conn: Connection, blob: BlobRef) -> None: ...

    @property
    def _mail_ops(self) -> MailOps: ...

    async def run_read(self, fn: Callable[[Connection], _T]) -> _T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], _T]) -> _T: ...
    async def _prepare(self, blob: BlobRef, parsed: ParsedMessage) -> PreparedMessage: ...

    @property
    def _max_keywords(self) -> int: ...


class MailOps(Protocol):
    """The statements of the writes, one function each in an engine's module (``sqlite/mail``,
    ``pg/mail``), which is passed where this is asked for."""

    def mailbox_box(self, conn: Connection, mailbox_id: MailboxId) -> Box:
        """What a write reads of a mailbox row; NotFound when there is none."""
        ...

    def box_by_name(self, conn: Connection, account_id: AccountId, name: str) -> MailboxId | None: ...

    def read_entries(
        self, conn: Connection, mailbox_id: MailboxId, uids: Sequence[Uid] | None
    ) -> list[EntryRow]:
        """The rows of these sorted, distinct UIDs that exist (None: all), in UID order."""
        ...

    def deleted_entries(self, conn: Connection, mailbox_id: MailboxId) -> list[EntryRow]:
        """The rows carrying \\Deleted, in UID order."""
        ...

    def bump_mailbox(
        self,
        conn: Connection,
        mailbox_id: MailboxId,
        *,
        uids: int = 0,
        messages: int = 0,
        unseen: int = 0,
        deleted: int = 0,
        size: int = 0,
    ) -> BumpedMailbox:
        """Reserve ``uids`` UIDs (ending just below the returned uidnext), take a new MODSEQ and
        apply the counter deltas, atomically; NotFound when there is no such mailbox."""
        ...

    def lock_accounts(self, conn: Connection, mailbox_ids: Sequence[MailboxId]) -> None:
        """Take the MODSEQ counters of the accounts of these mailboxes for the rest of the write,
        before anything else is read or locked (the module docstring)."""
        ...

    def record_emails(
        self,
        conn: Connection,
        account_id: AccountId,
        modseq: ModSeq,
        added: Iterable[MessageId] = (),
        changed: Iterable[MessageId] = (),
        removed: Iterable[MessageId] = (),
    ) -> None:
        """The account's Email records after its memberships were written: ``added`` (memberships
        inserted), ``changed`` (flags), ``removed`` (memberships deleted)."""
        ...

    def enforce_quota(self, conn: Connection, additional: dict[AccountId, tuple[int, int]]) -> None: ...

    def adjust_quota(self, conn: Connection, account_id: AccountId, size: int, count: int) -> None: ...

    def admit_keywords(
        self, conn: Connection, mailbox_id: MailboxId, found: dict[str, str], limit: int
    ) -> frozenset[str]:
        """Grow the mailbox's keyword list within ``limit``; the keys of those that did not fit."""
        ...

    def retain_messages(self, conn: Connection, counts: Counter[MessageId]) -> None: ...

    def release_messages(self, conn: Connection, counts: Counter[MessageId]) -> None:
        """Drop references; a message nobody holds goes with its derived rows (its blob stays for
        collection)."""
        ...

    def insert_memberships(self, conn: Connection, rows: Sequence[MembershipRow]) -> None: ...

    def delete_memberships(
        self, conn: Connection, mailbox_id: MailboxId, uids: Sequence[Uid], modseq: ModSeq, at: int
    ) -> None:
        """Delete these membership rows and record their expunge (VANISHED, RFC 7162 §3.2.10)."""
        ...

    def update_flags(
        self, conn: Connection, rows: Sequence[tuple[str, bool, bool, int, MailboxId, Uid]]
    ) -> None:
        """(flags, seen, deleted, modseq, mailbox_id, uid) of each membership row to change."""
        ...

    def upsert_message(self, conn: Connection, message: PreparedMessage, references: int) -> MessageId:
        """Single-instance store: the row of a known blob gains references, else a new row with its
        search rows and wire forms."""
        ...


# Delivery and APPEND


def deliver(
    ops: MailOps,
    conn: Connection,
    events: list[Change],
    store_blob: StoreBlob,
    message: PreparedMessage,
    targets: Sequence[Target],
    max_keywords: int,
) -> list[Placed]:
    """One message into these mailboxes (UIDs in target order per mailbox), all or nothing."""
    if not targets:
        return []
    ops.lock_accounts(conn, [target.mailbox_id for target in targets])
    store_blob(conn, message.blob)
    message_id = ops.upsert_message(conn, message, len(targets))
    size = message.blob.size
    by_box: dict[MailboxId, list[int]] = {}
    for index, target in enumerate(targets):
        by_box.setdefault(target.mailbox_id, []).append(index)
    flags = [stored_flags(target.flags) for target in targets]
    for mid, indexes in by_box.items():
        # Most deliveries store no keyword: then nothing more is read or written.
        if any(not is_system_flag(key) for i in indexes for key in flags[i]):
            found = text_keywords(" ".join(flags[i].values()) for i in indexes)
            refused = ops.admit_keywords(conn, mid, found, max_keywords)
            for i in indexes:
                flags[i] = {key: flag for key, flag in flags[i].items() if key not in refused}
    placed: list[Placed | None] = [None] * len(targets)
    rows: list[MembershipRow] = []
    saved = int(time.time())  # RFC 8514 §3: the save date, whatever internal date APPEND gave
    quota: dict[AccountId, list[int]] = {}
    last_modseq: dict[AccountId, ModSeq] = {}
    for mid, indexes in by_box.items():
        box = ops.bump_mailbox(
            conn,
            mid,
            uids=len(indexes),
            messages=len(indexes),
            unseen=sum(1 for i in indexes if SEEN_KEY not in flags[i]),
            deleted=sum(1 for i in indexes if DELETED_KEY in flags[i]),
            size=len(indexes) * size,
        )
        first_uid = box.uidnext - len(indexes)
        for uid, i in enumerate(indexes, start=first_uid):
            epoch, tz = date_parts(targets[i].internal_date)
            wanted = flags[i]
            rows.append(
                (mid, uid, message_id, stored_text(wanted), SEEN_KEY in wanted, DELETED_KEY in wanted,
                 box.highestmodseq, epoch, tz, saved)
            )  # fmt: skip
            entry = MessageEntry(
                uid, message_id, frozenset(wanted.values()), box.highestmodseq, size,
                date_from_parts(epoch, tz), message.blob,
            )  # fmt: skip
            placed[i] = Placed(mid, box.uidvalidity, uid, message_id, entry)
        last_modseq[box.account_id] = box.highestmodseq  # each bump's is above the one before
        used = quota.setdefault(box.account_id, [0, 0])
        used[0] += len(indexes) * size
        used[1] += len(indexes)
        new_uids = tuple(range(first_uid, first_uid + len(indexes)))
        events.append(Change(ChangeKind.APPENDED, box.account_id, mid, box.highestmodseq, new_uids))
    # Before anything is inserted; the mailbox bumps above roll back with the job.
    ops.enforce_quota(conn, {account: (used[0], used[1]) for account, used in quota.items()})
    ops.insert_memberships(conn, rows)
    for account, (octets, count) in sorted(quota.items()):
        ops.adjust_quota(conn, account, octets, count)
    for account, modseq in sorted(last_modseq.items()):
        ops.record_emails(conn, account, modseq, added=[message_id])
    return [p for p in placed if p is not None]


def append_named(
    ops: MailOps,
    conn: Connection,
    events: list[Change],
    store_blob: StoreBlob,
    message: PreparedMessage,
    account_id: AccountId,
    name: str,
    target: Target,
    max_keywords: int,
) -> Placed | None:
    """``deliver`` to the account's mailbox of that (canonical) name, looked up in the write
    transaction (``target`` gives flags and date; its mailbox id is not used): None when there is
    no such mailbox, nothing stored."""
    found = ops.box_by_name(conn, account_id, name)
    if found is None:
        return None
    [placed] = deliver(
        ops, conn, events, store_blob, message, [replace(target, mailbox_id=found)], max_keywords
    )
    return placed


# Flags


def set_flags(
    ops: MailOps,
    conn: Connection,
    events: list[Change],
    mailbox_id: MailboxId,
    uids: Iterable[Uid],
    op: FlagOp,
    flags: Iterable[str],
    unchanged_since: ModSeq | None,
    max_keywords: int,
) -> ChangeSet:
    """One MODSEQ for the messages whose flags change; none for a write that changes nothing."""
    if op not in ("add", "remove", "replace"):
        raise ValueError(f"unknown flag operation {op!r}")
    ops.lock_accounts(conn, [mailbox_id])
    box = ops.mailbox_box(conn, mailbox_id)
    wanted = stored_flags(flags)
    changes: list[tuple[EntryRow, dict[str, str]]] = []
    failed: list[Uid] = []
    for row in ops.read_entries(conn, mailbox_id, normalize_uids(uids)):
        # RFC 7162 §3.1.3: UNCHANGEDSINCE fails messages changed after the given mod-sequence.
        if unchanged_since is not None and row.modseq > unchanged_since:
            failed.append(row.uid)
            continue
        current = parse_stored(row.flags)
        new = apply_stored(current, op, wanted)
        if new.keys() == current.keys():
            continue  # flags compare case-insensitively: nothing to store, no new MODSEQ
        changes.append((row, new))
    if changes and op != "remove":  # removing flags never brings a keyword
        refused = ops.admit_keywords(conn, mailbox_id, text_keywords(wanted.values()), max_keywords)
        if refused:  # past the keyword limit: stored without those
            changes = _without_refused(changes, refused)
    if not changes:
        return ChangeSet(mailbox_id, box.highestmodseq, (), (), tuple(failed))
    unseen = sum(int(bool(row.seen)) - int(SEEN_KEY in new) for row, new in changes)
    deleted = sum(int(DELETED_KEY in new) - int(bool(row.deleted)) for row, new in changes)
    modseq = int(ops.bump_mailbox(conn, mailbox_id, unseen=unseen, deleted=deleted).highestmodseq)
    ops.update_flags(
        conn,
        [
            (stored_text(new), SEEN_KEY in new, DELETED_KEY in new, modseq, mailbox_id, row.uid)
            for row, new in changes
        ],
    )
    ops.record_emails(conn, box.account_id, modseq, changed=[row.message_id for row, _ in changes])
    changed = tuple(message_entry(row, new, modseq) for row, new in changes)
    events.append(Change(ChangeKind.FLAGS, box.account_id, mailbox_id, modseq, tuple(e.uid for e in changed)))
    return ChangeSet(mailbox_id, modseq, changed, (), tuple(failed))


def _without_refused(
    changes: list[tuple[EntryRow, dict[str, str]]], refused: frozenset[str]
) -> list[tuple[EntryRow, dict[str, str]]]:
    """The flag changes with the refused keywords left off, and without those left changing nothing."""
    kept = []
    for row, new in changes:
        trimmed = {key: flag for key, flag in new.items() if key not in refused}
        if trimmed.keys() != parse_stored(row.flags).keys():
            kept.append((row, trimmed))
    return kept


# COPY, MOVE, EXPUNGE


def transfer(
    ops: MailOps,
    conn: Connection,
    events: list[Change],
    account_id: AccountId,
    source_id: MailboxId,
    uids: Iterable[Uid],
    destination_name: str,
    move: bool,
    max_keywords: int,
) -> CopyResult | None:
    """COPY or MOVE from the account's mailbox ``source_id`` (NotFound when it is not one) to its
    mailbox of that (canonical) name, the lookups in the write transaction: None when there is no
    such destination, nothing copied."""
    ops.lock_accounts(conn, [source_id])  # the destination is the same account's
    source = ops.mailbox_box(conn, source_id)
    if source.account_id != account_id:
        raise NotFound(f"no mailbox with id {source_id} in account {account_id}")
    found = ops.box_by_name(conn, account_id, destination_name)
    if found is None:
        return None
    return copy_messages(ops, conn, events, source_id, uids, found, move, max_keywords, source)


def copy_messages(
    ops: MailOps,
    conn: Connection,
    events: list[Change],
    source_id: MailboxId,
    uids: Iterable[Uid],
    destination_id: MailboxId,
    move: bool,
    max_keywords: int,
    source: Box | None = None,
) -> CopyResult:
    """COPY, or MOVE as copy plus expunge in one transaction."""
    # Both accounts' counters, in id order (a COPY between shared mailboxes of two accounts).
    ops.lock_accounts(conn, [source_id, destination_id])
    if source is None:
        source = ops.mailbox_box(conn, source_id)  # NotFound for a missing source
    rows = ops.read_entries(conn, source_id, normalize_uids(uids))
    if not rows:
        return CopyResult(destination_id, ops.mailbox_box(conn, destination_id).uidvalidity, (), ())
    size = sum(row.size for row in rows)
    target = ops.mailbox_box(conn, destination_id)
    found = text_keywords({row.flags for row in rows})
    refused = ops.admit_keywords(conn, destination_id, found, max_keywords)
    if refused:  # the target's keyword list is full: copied without those
        rows = [row._replace(flags=without_keys(row.flags, refused)) for row in rows]
    if not (move and target.account_id == source.account_id):
        # Each copy counts against the quota (the blob is shared, the usage is not); a MOVE within
        # one account leaves its usage as it was.
        ops.enforce_quota(conn, {target.account_id: (size, len(rows))})
    # RFC 4315 §4.3: the destination UIDs are allocated in source UID order.
    box = ops.bump_mailbox(
        conn,
        destination_id,
        uids=len(rows),
        messages=len(rows),
        unseen=sum(1 for row in rows if not row.seen),
        deleted=sum(1 for row in rows if row.deleted),
        size=size,
    )
    first = int(box.uidnext) - len(rows)
    new_uids = tuple(range(first, first + len(rows)))
    modseq = box.highestmodseq
    saved = int(time.time())  # RFC 8514 §3: a copy (or a move) is saved now, not when its source was
    ops.insert_memberships(
        conn,
        [
            (destination_id, uid, row.message_id, row.flags, bool(row.seen), bool(row.deleted), modseq,
             row.internal_date, row.internal_tz, saved)
            for uid, row in zip(new_uids, rows, strict=True)
        ],
    )  # fmt: skip
    # References are added before the move's expunge releases them, so no message hits zero between.
    ops.retain_messages(conn, Counter(row.message_id for row in rows))
    ops.adjust_quota(conn, box.account_id, size, len(rows))
    ops.record_emails(conn, box.account_id, modseq, added=[row.message_id for row in rows])
    events.append(Change(ChangeKind.APPENDED, box.account_id, destination_id, modseq, new_uids))
    entries = tuple(
        message_entry(row, modseq=modseq, uid=uid) for uid, row in zip(new_uids, rows, strict=True)
    )
    added = ChangeSet(destination_id, modseq, entries)
    source_uids = tuple(row.uid for row in rows)
    removed = None
    if move:
        # RFC 6851 §3.3: MOVE is atomic; this runs in the same transaction as the copy.
        removed = ChangeSet(
            source_id, remove_memberships(ops, conn, events, source_id, rows), (), source_uids
        )
    return CopyResult(destination_id, box.uidvalidity, source_uids, new_uids, added, removed)


def remove_memberships(
    ops: MailOps, conn: Connection, events: list[Change], mailbox_id: MailboxId, rows: Sequence[EntryRow]
) -> ModSeq:
    """Expunge these membership rows: records for VANISHED, counters, quota, refcounts, one MODSEQ."""
    size = sum(row.size for row in rows)
    box = ops.bump_mailbox(
        conn,
        mailbox_id,
        messages=-len(rows),
        unseen=-sum(1 for row in rows if not row.seen),
        deleted=-sum(1 for row in rows if row.deleted),
        size=-size,
    )
    modseq = ModSeq(int(box.highestmodseq))
    uids = [row.uid for row in rows]
    ops.delete_memberships(conn, mailbox_id, uids, modseq, int(time.time()))
    ops.adjust_quota(conn, box.account_id, -size, -len(rows))
    # Before the release, which takes the thread rows of a message nobody holds any more.
    ops.record_emails(conn, box.account_id, modseq, removed=[row.message_id for row in rows])
    ops.release_messages(conn, Counter(row.message_id for row in rows))
    events.append(Change(ChangeKind.EXPUNGED, box.account_id, mailbox_id, modseq, tuple(uids)))
    return modseq


def expunge(
    ops: MailOps, conn: Connection, events: list[Change], mailbox_id: MailboxId, uids: Iterable[Uid] | None
) -> ChangeSet:
    """Expunge exactly these UIDs (those that exist; None: every message of the mailbox)."""
    ops.lock_accounts(conn, [mailbox_id])
    box = ops.mailbox_box(conn, mailbox_id)
    rows = ops.read_entries(conn, mailbox_id, None if uids is None else normalize_uids(uids))
    if not rows:
        return ChangeSet(mailbox_id, box.highestmodseq)
    modseq = remove_memberships(ops, conn, events, mailbox_id, rows)
    return ChangeSet(mailbox_id, modseq, (), tuple(row.uid for row in rows))


def expunge_deleted(
    ops: MailOps, conn: Connection, events: list[Change], mailbox_id: MailboxId, uids: Iterable[Uid] | None
) -> ChangeSet:
    """Expunge the messages carrying \\Deleted (only those among ``uids`` unless None), chosen in
    the write transaction itself: no read before the write, and no message flagged or unflagged
    between the choice and the expunge. Nothing to do (the mailbox's counter says no \\Deleted
    message): no write at all."""
    ops.lock_accounts(conn, [mailbox_id])
    box = ops.mailbox_box(conn, mailbox_id)
    if not box.deleted:
        return ChangeSet(mailbox_id, box.highestmodseq)
    rows = ops.deleted_entries(conn, mailbox_id)
    if uids is not None:
        wanted = set(uids)
        rows = [row for row in rows if row.uid in wanted]
    if not rows:
        return ChangeSet(mailbox_id, box.highestmodseq)
    modseq = remove_memberships(ops, conn, events, mailbox_id, rows)
    return ChangeSet(mailbox_id, modseq, (), tuple(row.uid for row in rows))
