"""Mailbox views over SQLite: a full read, a per-process cache refreshed by deltas, stored snapshots.

``open_view`` (in a reader thread, inside one read transaction) returns the view of a mailbox in
that transaction's snapshot, the cheapest way it can:

1. **The process cache** (``ViewCache``): the last view of each mailbox this process built. Its
   ``MailboxInfo`` is compared with the mailbox row read in this transaction: equal (same
   HIGHESTMODSEQ, UIDNEXT, counters, name) means nothing changed, in this process or any other,
   since every change of a membership row bumps HIGHESTMODSEQ in the same transaction. An older
   cached view of the same UIDVALIDITY is brought forward by a **delta** (below) instead of a new
   read. The cache is never trusted without that check, so several processes may share a data
   directory.
2. **The stored snapshot** (table ``mailbox_snapshots``, migration 0008): the packed columns of a big
   mailbox at one HIGHESTMODSEQ, written by the store's writer in the background after a full read.
   A process that has not opened the mailbox yet (a new worker, after a restart) reads one row and
   applies the delta since it, instead of reading every message. The snapshot lives in the same
   database as the data it describes, so a backup, a restore or another process see the two
   together.
3. **The full read** (``read_full``): every membership row, as before (one-row group_concat query).

A delta is what ``changes_since`` reads: membership rows whose MODSEQ is above the base view's (new
messages and changed flags) and ``expunged`` records above it. It is applied to copies of the base
columns (a view is immutable and other sessions hold it). It is refused (and the full read taken)
when it is large compared to the mailbox, or when the result disagrees with the mailbox row's
message count.

Anything that changes a membership row must bump the mailbox's HIGHESTMODSEQ and stamp the row (all
writes in ``sqlite/mail`` do). ``expunged`` records are pruned by housekeeping after
``store.expunge_record_days`` (``sqlite_maintenance.prune_expunged``), which raises the mailbox's
``expunge_horizon``: a view older than the horizon is never brought forward, it is read whole.
``reconstruct``, which may repair a message's size without a new MODSEQ, deletes every stored
snapshot, and a cached view whose counters moved without a new MODSEQ is read again.
"""

from __future__ import annotations

import operator
import sqlite3
import sys
import threading
import weakref
from array import array
from collections import OrderedDict
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any

from pochta.store.api import NotFound
from pochta.store.model import (
    DATE_BIAS,
    DATE_SCALE,
    AccountId,
    BlobRef,
    MailboxId,
    MailboxInfo,
    MailboxView,
    MessageEntry,
    date_from_parts,
    digests_from_hex,
    pack_date,
)
from pochta.store.sqlite.mail import expunge_horizon
from pochta.store.sqlite.view_stamps import ViewStamps

# Layout of a stored snapshot's data: native byte order, five int64 columns, uint32 flag-set
# indexes, 32-byte digests. A snapshot of another layout (a database moved to another machine) is
# ignored, and replaced by the next full read.
SNAPSHOT_LAYOUT = f"{sys.byteorder}-1"
_INT_COLUMNS = 5  # uids, message_ids, modseqs, dates, sizes
_BYTES_PER_MESSAGE = _INT_COLUMNS * 8 + 4 + 32
# A delta of more rows than this share of the mailbox is not worth applying: read it all.
_DELTA_SHARE = 4
_DELTA_FLOOR = 64  # ... but a delta this small is always applied
# A stored snapshot this far behind (rows of delta) is written again.
SNAPSHOT_REFRESH_ROWS = 1000


# The full read
#
# One statement that returns one row: SQLite prints the integer columns of each message as
# fixed-width hex and concatenates each column over the mailbox (group_concat), so Python receives
# four long strings instead of a row of objects per message, and turns them into arrays with C loops
# (bytes.fromhex, array.frombytes). Most of the time is spent in SQLite, which runs without the GIL.
# Anything unexpected (the last column of _SQL_VIEW, the checks after it) takes the plain path, one
# row per message.

_VIEW_INTS = 5  # per message: uid, message_id, modseq, packed internal date, size
_DATE_LIMIT = 1 << 50  # epoch seconds that still pack into 64 bits with their zone
_SQL_VIEW = (
    "SELECT count(*), "
    "group_concat(printf('%016x%016x%016x%016x%016x', m.uid, m.message_id, m.modseq, "
    "m.internal_date * :scale + m.internal_tz + :bias, g.size), ''), "
    "group_concat(g.sha256, ''), "
    "group_concat(m.flags, char(10)), "  # flags never hold white space (mail.flags.stored_flags)
    # 1 if any row would not survive this path: a zone or date that does not pack, an odd blob name.
    "max(NOT (m.internal_tz > -:bias AND m.internal_tz < :bias AND m.internal_date > -:date_limit "
    "AND m.internal_date < :date_limit AND length(g.sha256) = 64)) "
    "FROM membership AS m JOIN messages AS g ON g.id = m.message_id WHERE m.mailbox_id = :mailbox"
)
_SQL_VIEW_ROWS = (
    "SELECT m.uid, m.message_id, m.flags, m.modseq, m.internal_date, m.internal_tz, g.sha256, g.size "
    "FROM membership AS m JOIN messages AS g ON g.id = m.message_id WHERE m.mailbox_id = ? "
    "ORDER BY m.uid"
)
# The index named: without statistics SQLite would walk the mailbox's whole primary-key range (its
# ORDER BY) for the few rows changed since the base (sqlite_mail's changes_since does the same).
_SQL_DELTA_ROWS = (
    "SELECT m.uid, m.message_id, m.flags, m.modseq, m.internal_date, m.internal_tz, g.sha256, g.size "
    "FROM membership AS m INDEXED BY ix_membership_mailbox_id_modseq "
    "JOIN messages AS g ON g.id = m.message_id WHERE m.mailbox_id = ? AND m.modseq > ? ORDER BY m.uid"
)
_SQL_DELTA_GONE = "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ?"
_SQL_MAILBOX = (
    "SELECT id, account_id, name, uidvalidity, uidnext, highestmodseq, special_use, subscribed, "
    "messages, unseen, deleted, size, first_recent_uid, recent, keywords FROM mailboxes WHERE id = ?"
)
_SQL_MAILBOX_BY_NAME = (
    "SELECT id, account_id, name, uidvalidity, uidnext, highestmodseq, special_use, subscribed, "
    "messages, unseen, deleted, size, first_recent_uid, recent, keywords FROM mailboxes "
    "WHERE account_id = ? AND name = ?"
)
_SQL_SNAPSHOT = (
    "SELECT rowid, uidvalidity, highestmodseq, messages, layout, flag_texts, length(data) "
    "FROM mailbox_snapshots WHERE mailbox_id = ?"
)
# Written only over an older snapshot, and only while the mailbox is the one it was taken of.
_SQL_SAVE_SNAPSHOT = (
    "INSERT INTO mailbox_snapshots (mailbox_id, uidvalidity, highestmodseq, messages, layout, "
    "flag_texts, data) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 "
    "WHERE EXISTS (SELECT 1 FROM mailboxes WHERE id = ?1 AND uidvalidity = ?2) "
    "ON CONFLICT (mailbox_id) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
    "highestmodseq = excluded.highestmodseq, messages = excluded.messages, layout = excluded.layout, "
    "flag_texts = excluded.flag_texts, data = excluded.data "
    "WHERE excluded.highestmodseq > mailbox_snapshots.highestmodseq "
    "OR excluded.uidvalidity != mailbox_snapshots.uidvalidity"
)


# The flag sets of every view in this process, by their stored text: a mailbox holds a handful of
# combinations, and a view brought forward by deltas kept one frozenset per appended message
# without it (15,782 of them in a worker after a 20,000-message fill: every one a container the
# cyclic collector walks at each full collection; bench/README.md, "LMTP and the first SELECT,
# eighth session"). Emptied when it grows past _FLAG_SETS_MAX (some client storing endless keyword
# combinations): a set made afresh is equal to the one it replaces, only not shared.
_FLAG_SETS: dict[str, frozenset[str]] = {}
_FLAG_SETS_MAX = 4096


def flag_set(text: str) -> frozenset[str]:
    """The flags of a stored space-separated text, shared with every equal text seen before."""
    found = _FLAG_SETS.get(text)
    if found is None:
        if len(_FLAG_SETS) >= _FLAG_SETS_MAX:
            _FLAG_SETS.clear()
        found = _FLAG_SETS[text] = frozenset(text.split())
    return found


def read_mailbox(raw: sqlite3.Connection, mailbox_id: MailboxId) -> MailboxInfo:
    row = raw.execute(_SQL_MAILBOX, (mailbox_id,)).fetchone()
    if row is None:
        raise NotFound(f"no mailbox with id {mailbox_id}")
    return _mailbox_info(row)


def _mailbox_info(row: tuple[Any, ...]) -> MailboxInfo:
    mid, account, name, validity, uidnext, modseq, special, subscribed, *counters = row
    count, unseen, deleted, size, first_recent, recent, keywords = counters
    return MailboxInfo(
        mid, account, name, validity, uidnext, modseq, special, bool(subscribed),
        count, unseen, deleted, size, first_recent, recent, tuple(keywords.split()),
    )  # fmt: skip


def view_from_columns(raw: sqlite3.Connection, info: MailboxInfo) -> MailboxView | None:
    """The view from the one-row query, or None when the data needs the plain path."""
    params = {"mailbox": info.id, "scale": DATE_SCALE, "bias": DATE_BIAS, "date_limit": _DATE_LIMIT}
    try:
        count, packed, names, flags_joined, odd = raw.execute(_SQL_VIEW, params).fetchone()
    except sqlite3.DataError:
        # A string longer than SQLite's limit (1 GB by default: some 12 million messages).
        return None
    if not count:
        return MailboxView.from_entries(info, ())
    if odd or not isinstance(packed, str) or not isinstance(names, str) or not isinstance(flags_joined, str):
        return None
    ints = array("q")
    ints.frombytes(bytes.fromhex(packed))
    if sys.byteorder == "little":
        ints.byteswap()  # printf wrote them big-endian
    flag_texts = flags_joined.split("\n")
    if len(ints) != _VIEW_INTS * count or len(flag_texts) != count or len(names) != 64 * count:
        return None
    uids = ints[0::_VIEW_INTS]
    # SQLite does not promise group_concat's order; the primary key scan gives UID order, checked here.
    if not all(map(operator.lt, uids, islice(uids, 1, None))):
        return None
    digests = digests_from_hex(names, count)
    if digests is None:
        return None
    interned = {text: flag_set(text) for text in set(flag_texts)}
    return MailboxView(
        info,
        uids=uids,
        message_ids=ints[1::_VIEW_INTS],
        flags=tuple(map(interned.__getitem__, flag_texts)),
        modseqs=ints[2::_VIEW_INTS],
        dates=ints[3::_VIEW_INTS],
        sizes=ints[4::_VIEW_INTS],
        digests=digests,
    )


def view_from_rows(raw: sqlite3.Connection, info: MailboxInfo) -> MailboxView:
    return MailboxView.from_entries(info, map(_entry, raw.execute(_SQL_VIEW_ROWS, (info.id,))))


def _entry(row: tuple[Any, ...]) -> MessageEntry:
    uid, message_id, flags, modseq, epoch, tz, sha256, size = row
    return MessageEntry(
        uid=uid,
        message_id=message_id,
        flags=frozenset(flags.split()),
        modseq=modseq,
        size=size,
        internal_date=date_from_parts(epoch, tz),
        blob=BlobRef(sha256, size),
    )


def read_full(raw: sqlite3.Connection, info: MailboxInfo) -> MailboxView:
    view = view_from_columns(raw, info)
    return view if view is not None else view_from_rows(raw, info)


# Deltas


def _delta_limit(count: int) -> int:
    return max(_DELTA_FLOOR, count // _DELTA_SHARE)


def apply_delta(
    raw: sqlite3.Connection, base: MailboxView, info: MailboxInfo
) -> tuple[MailboxView, int] | None:
    """``base`` brought forward to ``info`` (the same mailbox, later) with the changes since its
    HIGHESTMODSEQ, and the number of rows that delta had; None when the delta is too large or does
    not add up (then read it all)."""
    since = base.mailbox.highestmodseq
    if since == info.highestmodseq:
        # No message changed (a rename, a subscription): the same columns, new info. Counters that
        # moved without a new MODSEQ are reconstruct's repairs (a message's size among them): read
        # it all again.
        then = base.mailbox
        same = (then.messages, then.unseen, then.deleted, then.size) == (
            info.messages,
            info.unseen,
            info.deleted,
            info.size,
        )
        return (_with_columns(info, base), 0) if same else None
    if since < expunge_horizon(raw, info.id):
        return None  # expunge records after ``since`` were pruned: the delta cannot list them
    limit = _delta_limit(max(len(base), info.messages))
    rows = raw.execute(_SQL_DELTA_ROWS + " LIMIT ?", (info.id, since, limit + 1)).fetchall()
    gone = raw.execute(_SQL_DELTA_GONE + " LIMIT ?", (info.id, since, limit + 1)).fetchall()
    if len(rows) + len(gone) > limit:
        return None
    uids = base.uids
    last = uids[-1] if len(uids) else 0
    changed: dict[int, tuple[Any, ...]] = {}
    appended: list[tuple[Any, ...]] = []
    for row in rows:
        uid = row[0]
        if uid > last:
            appended.append(row)  # UIDs only grow: every new message is above the base's last
            continue
        position = base.position(uid)
        if position is None:
            return None  # a message below the base's last UID that the base lacks: not a delta
        changed[position] = row
    dropped = sorted({p for p in (base.position(uid) for (uid,) in gone if uid <= last) if p is not None})
    digests = base.packed_digests
    if digests is None:
        return None
    message_ids, modseqs, dates, sizes = base.message_ids, base.modseqs, base.packed_dates, base.sizes
    flags: list[frozenset[str]] | tuple[frozenset[str], ...] = base.flags
    if changed:
        modseqs, sizes, flags = array("q", modseqs), array("q", sizes), list(flags)
        for position, row in changed.items():
            flags[position] = flag_set(row[2])
            modseqs[position] = row[3]
            sizes[position] = row[7]
    if dropped:
        keep = _runs(dropped, len(uids))
        uids, message_ids, modseqs, dates, sizes = (
            _take(column, keep) for column in (uids, message_ids, modseqs, dates, sizes)
        )
        flags = [f for start, stop in keep for f in flags[start:stop]]
        digests = b"".join(digests[32 * start : 32 * stop] for start, stop in keep)
    if appended:
        uids, message_ids, modseqs, dates, sizes = (
            array("q", column) for column in (uids, message_ids, modseqs, dates, sizes)
        )
        flags = list(flags)
        added: list[bytes] = []
        for uid, message_id, text, modseq, epoch, tz, sha256, size in appended:
            if not (-DATE_BIAS < tz < DATE_BIAS) or len(sha256) != 64:
                return None
            digest = digests_from_hex(sha256, 1)
            if digest is None:
                return None
            uids.append(uid)
            message_ids.append(message_id)
            modseqs.append(modseq)
            dates.append(pack_date(epoch, tz))
            sizes.append(size)
            flags.append(flag_set(text))
            added.append(digest)
        digests += b"".join(added)
    if len(uids) != info.messages:
        return None
    return MailboxView(
        info,
        uids=uids,
        message_ids=message_ids,
        flags=tuple(flags),
        modseqs=modseqs,
        dates=dates,
        sizes=sizes,
        digests=digests,
    ), len(rows) + len(gone)


def _runs(dropped: list[int], count: int) -> list[tuple[int, int]]:
    """The runs ``[start, stop)`` of positions below ``count`` not in ``dropped`` (ascending)."""
    runs = []
    start = 0
    for position in dropped:
        if position > start:
            runs.append((start, position))
        start = position + 1
    if start < count:
        runs.append((start, count))
    return runs


def _take(column: array[int], runs: list[tuple[int, int]]) -> array[int]:
    out = array("q")
    for start, stop in runs:
        out.extend(column[start:stop])
    return out


def _with_columns(info: MailboxInfo, base: MailboxView) -> MailboxView:
    digests = base.packed_digests
    return MailboxView(
        info,
        uids=base.uids,
        message_ids=base.message_ids,
        flags=base.flags,
        modseqs=base.modseqs,
        dates=base.packed_dates,
        sizes=base.sizes,
        digests=digests if digests is not None else tuple(e.blob.sha256 for e in base),
    )


# Stored snapshots


@dataclass(frozen=True)
class Snapshot:
    """A view packed for the ``mailbox_snapshots`` table."""

    mailbox_id: MailboxId
    uidvalidity: int
    highestmodseq: int
    messages: int
    flag_texts: str
    data: bytes


def pack_snapshot(view: MailboxView) -> Snapshot | None:
    """The view's columns as one row (None for a view whose blob names are not all SHA-256s)."""
    digests = view.packed_digests
    if digests is None:
        return None
    table: dict[frozenset[str], int] = {}
    indexes = array("I", [table.setdefault(f, len(table)) for f in view.flags])
    texts = "\n".join(" ".join(sorted(f)) for f in table)
    parts = [c.tobytes() for c in (view.uids, view.message_ids, view.modseqs, view.packed_dates, view.sizes)]
    data = b"".join([*parts, indexes.tobytes(), digests])
    info = view.mailbox
    return Snapshot(info.id, info.uidvalidity, info.highestmodseq, len(view), texts, data)


# How far behind a snapshot is: the rows of its delta (memberships changed and expunge records
# since it). Not the MODSEQ distance: MODSEQs are drawn from the account's counter (revision 0038),
# so a mailbox's distance counts the writes to the account's other mailboxes too; the distance is
# only the first, cheap filter (at least one MODSEQ per row).
_SQL_STALE_SNAPSHOTS = (
    "SELECT m.id FROM mailboxes AS m LEFT JOIN mailbox_snapshots AS s ON s.mailbox_id = m.id "
    "WHERE m.messages >= ?1 AND (s.mailbox_id IS NULL OR s.uidvalidity != m.uidvalidity "
    "OR s.layout != ?2 OR (m.highestmodseq - s.highestmodseq >= ?3 AND "
    "(SELECT count(*) FROM membership AS r INDEXED BY ix_membership_mailbox_id_modseq "
    "WHERE r.mailbox_id = m.id AND r.modseq > s.highestmodseq) + "
    "(SELECT count(*) FROM expunged AS x INDEXED BY ix_expunged_mailbox_id_modseq "
    "WHERE x.mailbox_id = m.id AND x.modseq > s.highestmodseq) >= ?3)) "
    "ORDER BY m.highestmodseq - coalesce(s.highestmodseq, 0) DESC LIMIT ?4"
)
_SQL_COUNT_DELTA = (
    "SELECT count(*) FROM (SELECT 1 FROM membership INDEXED BY ix_membership_mailbox_id_modseq "
    "WHERE mailbox_id = ?1 AND modseq > ?2 LIMIT ?3) UNION ALL "
    "SELECT count(*) FROM (SELECT 1 FROM expunged INDEXED BY ix_expunged_mailbox_id_modseq "
    "WHERE mailbox_id = ?1 AND modseq > ?2 LIMIT ?3)"
)


def delta_rows(raw: sqlite3.Connection, mailbox_id: MailboxId, since: int, cap: int) -> int:
    """The rows of the mailbox's delta since the MODSEQ ``since``, counted up to ``cap`` per table."""
    return sum(n for (n,) in raw.execute(_SQL_COUNT_DELTA, (mailbox_id, since, cap)))


def stale_snapshots(raw: sqlite3.Connection, min_messages: int, behind: int, limit: int) -> list[MailboxId]:
    """Mailboxes of ``min_messages`` or more whose stored snapshot is missing, of another
    UIDVALIDITY or layout, or ``behind`` changed rows or more behind (the furthest behind first)."""
    params = (min_messages, SNAPSHOT_LAYOUT, behind, limit)
    return [MailboxId(mailbox_id) for (mailbox_id,) in raw.execute(_SQL_STALE_SNAPSHOTS, params)]


def save_snapshot(raw: sqlite3.Connection, snapshot: Snapshot) -> None:
    """Store it (inside a writer job), unless a newer one is there or the mailbox went."""
    raw.execute(
        _SQL_SAVE_SNAPSHOT,
        (
            snapshot.mailbox_id,
            snapshot.uidvalidity,
            snapshot.highestmodseq,
            snapshot.messages,
            SNAPSHOT_LAYOUT,
            snapshot.flag_texts,
            snapshot.data,
        ),
    )


def load_snapshot(raw: sqlite3.Connection, info: MailboxInfo, after: int = -1) -> MailboxView | None:
    """The stored snapshot as a view (with the MailboxInfo of its time, but for the counters), or
    None when there is none that can lead to ``info`` or it is not newer than the MODSEQ ``after``
    (a view the caller holds already)."""
    row = raw.execute(_SQL_SNAPSHOT, (info.id,)).fetchone()
    if row is None:
        return None
    rowid, validity, modseq, count, layout, texts, length = row
    if validity != info.uidvalidity or modseq > info.highestmodseq or layout != SNAPSHOT_LAYOUT:
        return None
    if modseq <= after:
        return None
    if length != count * _BYTES_PER_MESSAGE:
        return None
    # The data through a blob handle (in this read transaction): SQLite copies its overflow pages
    # straight into one buffer, 5-20 times faster than returning the column (measured cold, 1.5 MB).
    with raw.blobopen("mailbox_snapshots", "data", rowid, readonly=True) as blob:
        data = blob.read()
    if len(data) != length:
        return None
    view = memoryview(data)
    columns = []
    offset = 0
    for _ in range(_INT_COLUMNS):
        column = array("q")
        column.frombytes(view[offset : offset + 8 * count])
        columns.append(column)
        offset += 8 * count
    table = [flag_set(text) for text in texts.split("\n")] if count else []
    flags = _flag_column(table, data[offset : offset + 4 * count])
    offset += 4 * count
    if flags is None:
        return None
    uids, message_ids, modseqs, dates, sizes = columns
    # The snapshot keeps the message count of its time; the other counters are taken from now
    # (reconstruct, which may repair them without a new MODSEQ, drops every stored snapshot).
    then = replace(info, uidvalidity=validity, highestmodseq=modseq, messages=count)
    return MailboxView(
        then,
        uids=uids,
        message_ids=message_ids,
        flags=flags,
        modseqs=modseqs,
        dates=dates,
        sizes=sizes,
        digests=data[offset:],
    )


def _flag_column(table: list[frozenset[str]], packed: bytes) -> tuple[frozenset[str], ...] | None:
    """The flag set of each message from its index into ``table`` (``packed``: native uint32s);
    None when an index is past the table (a damaged snapshot). C loops only."""
    count = len(packed) // 4
    if not count:
        return ()
    if len(table) == 1:
        # One flag set for all (a new or an all-read mailbox): every index must be 0.
        return (table[0],) * count if packed.count(0) == len(packed) else None
    indexes = array("I")
    indexes.frombytes(packed)
    try:
        if count == 1:
            return (table[indexes[0]],)
        # itemgetter picks them in one C loop (map over __getitem__ calls a method per message).
        picked: tuple[frozenset[str], ...] = operator.itemgetter(*indexes)(table)
    except IndexError:
        return None
    return picked


# The process cache


def view_bytes(view: MailboxView) -> int:
    """About what a view's columns take in memory (for the cache's budget)."""
    return messages_bytes(len(view))


def messages_bytes(messages: int) -> int:
    """About what the columns of a view of ``messages`` messages take in memory."""
    return 200 + messages * (_INT_COLUMNS * 8 + 8 + 32)


class ViewCache:
    """The latest view of each mailbox this process built: the ``budget`` most recently used ones
    (in bytes of columns) held strongly, any other still held by a session held weakly. Threads
    opening the same mailbox take turns (one lock per stripe of mailbox ids), so that one of them
    builds the view and the others reuse it.

    With each view goes the mailbox's ``view_stamps`` stamp read before the read transaction that
    built or last checked it: while the stamp has not moved, the view is current without a read
    (``current``). And the name of each cached view's mailbox leads to its id (``named``): a hint,
    which SELECT checks."""

    STRIPES = 64
    MAX_NAMES = 4096

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._recent: OrderedDict[MailboxId, MailboxView] = OrderedDict()
        self._held = 0
        self._weak: weakref.WeakValueDictionary[MailboxId, MailboxView] = weakref.WeakValueDictionary()
        self._stamps: dict[MailboxId, tuple[int, weakref.ref[MailboxView]]] = {}
        self._names: dict[tuple[AccountId, str], MailboxId] = {}
        self._lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(self.STRIPES)]

    def building(self, mailbox_id: MailboxId) -> threading.Lock:
        """Hold this while looking up, building and storing the view of ``mailbox_id``."""
        return self._stripes[mailbox_id % self.STRIPES]

    def get(self, mailbox_id: MailboxId) -> MailboxView | None:
        with self._lock:
            view = self._recent.get(mailbox_id)
            if view is not None:
                self._recent.move_to_end(mailbox_id)
                return view
            return self._weak.get(mailbox_id)

    def current(self, mailbox_id: MailboxId, stamp: int) -> MailboxView | None:
        """The cached view if it was built or checked under this very stamp (and is still held)."""
        with self._lock:
            entry = self._stamps.get(mailbox_id)
            if entry is None or entry[0] != stamp:
                return None
            view = entry[1]()
            if view is not None and mailbox_id in self._recent:
                self._recent.move_to_end(mailbox_id)
            return view

    def named(self, account_id: AccountId, name: str) -> MailboxId | None:
        """The id of the mailbox of that name when a view of it was cached (it may since have been
        renamed or deleted: check)."""
        with self._lock:
            return self._names.get((account_id, name))

    def put(self, mailbox_id: MailboxId, view: MailboxView, stamp: int | None = None) -> None:
        with self._lock:
            self._weak[mailbox_id] = view
            self._stamp(mailbox_id, view, stamp)
            old = self._recent.pop(mailbox_id, None)
            if old is not None:
                self._held -= view_bytes(old)
            size = view_bytes(view)
            if size > self.budget:
                return
            self._recent[mailbox_id] = view
            self._held += size
            while self._held > self.budget:
                _, evicted = self._recent.popitem(last=False)
                self._held -= view_bytes(evicted)

    def has_room(self, mailbox_id: MailboxId, messages: int) -> bool:
        """Whether a view of ``messages`` messages fits in the budget without evicting another (or
        an older view of that mailbox is held: it would be replaced)."""
        with self._lock:
            if mailbox_id in self._recent or mailbox_id in self._weak:
                return True
            return self._held + messages_bytes(messages) <= self.budget

    def confirm(self, mailbox_id: MailboxId, view: MailboxView, stamp: int | None) -> None:
        """``view`` (the cached one) was found current in a read that began under ``stamp``."""
        with self._lock:
            self._stamp(mailbox_id, view, stamp)

    def _stamp(self, mailbox_id: MailboxId, view: MailboxView, stamp: int | None) -> None:
        names = self._names
        if len(names) >= self.MAX_NAMES:
            names.clear()
        info = view.mailbox
        names[(info.account_id, info.name)] = mailbox_id
        if stamp is None:
            self._stamps.pop(mailbox_id, None)
            return
        stamps = self._stamps

        def gone(ref: weakref.ref[MailboxView]) -> None:
            # Runs where the view is collected (any thread, maybe holding the lock): no lock here,
            # and only the entry of that very view goes.
            entry = stamps.get(mailbox_id)
            if entry is not None and entry[1] is ref:
                stamps.pop(mailbox_id, None)

        stamps[mailbox_id] = (stamp, weakref.ref(view, gone))

    def discard(self, mailbox_id: MailboxId) -> None:
        with self._lock:
            old = self._recent.pop(mailbox_id, None)
            if old is not None:
                self._held -= view_bytes(old)
            self._weak.pop(mailbox_id, None)
            self._stamps.pop(mailbox_id, None)


@dataclass(frozen=True)
class Opened:
    """What ``open_view`` found: the view, and whether a snapshot of it should be stored."""

    view: MailboxView
    store_snapshot: bool
    source: str  # "cache", "delta", "snapshot" or "full": for tests and benches
    any_stamp: int | None = None  # ``ViewStamps.read_any`` before the read (open_named_view)


def open_view(
    raw: sqlite3.Connection,
    mailbox_id: MailboxId,
    cache: ViewCache | None,
    snapshot_min: int,
    stamps: ViewStamps | None = None,
) -> Opened:
    """The mailbox's view in this read transaction (see the module docstring). ``snapshot_min``:
    mailboxes of fewer messages are neither stored nor looked up as snapshots. Call before the
    transaction's first statement when ``stamps`` is given (its stamp is read first)."""
    stamp = stamps.read(mailbox_id) if stamps is not None else None
    return _open_info(raw, read_mailbox(raw, mailbox_id), cache, snapshot_min, stamp)


def open_named_view(
    raw: sqlite3.Connection,
    account_id: AccountId,
    name: str,
    guess: MailboxId | None,
    cache: ViewCache | None,
    snapshot_min: int,
    stamps: ViewStamps | None = None,
) -> Opened | None:
    """The view of the account's mailbox of that name (None: no such mailbox), looked up in the same
    read transaction. ``guess``: the id it probably has, whose stamp is read before the
    transaction's first statement (so that the view is stamped when the guess was right); the
    stamp of all mailboxes is read then too (``Opened.any_stamp``, for when it was wrong)."""
    stamp = stamps.read(guess) if stamps is not None and guess is not None else None
    any_stamp = stamps.read_any() if stamps is not None else None
    row = raw.execute(_SQL_MAILBOX_BY_NAME, (account_id, name)).fetchone()
    if row is None:
        return None
    info = _mailbox_info(row)
    opened = _open_info(raw, info, cache, snapshot_min, stamp if info.id == guess else None)
    return replace(opened, any_stamp=any_stamp)


def _open_info(
    raw: sqlite3.Connection, info: MailboxInfo, cache: ViewCache | None, snapshot_min: int, stamp: int | None
) -> Opened:
    if cache is None:
        return Opened(read_full(raw, info), False, "full")
    mailbox_id = info.id
    with cache.building(mailbox_id):
        cached = cache.get(mailbox_id)
        opened = _open(raw, info, cached, snapshot_min)
        if opened.source == "cache":
            cache.confirm(mailbox_id, opened.view, stamp)
        else:
            cache.put(mailbox_id, opened.view, stamp)
        return opened


def _open(
    raw: sqlite3.Connection, info: MailboxInfo, cached: MailboxView | None, snapshot_min: int
) -> Opened:
    big = info.messages >= snapshot_min
    base = None  # the cached view a delta can bring forward
    if cached is not None and cached.mailbox.uidvalidity == info.uidvalidity:
        if cached.mailbox == info:
            return Opened(cached, False, "cache")
        if cached.mailbox.highestmodseq <= info.highestmodseq:
            base = cached
    # A cached view far behind (a worker's view of a mailbox that took a burst of deliveries since):
    # a newer stored snapshot and the short delta after it cost less than the long delta, which
    # applies its rows one by one in Python.
    # Far: the MODSEQ distance first (cheap; it counts the writes to the account's other mailboxes
    # too since revision 0038), then the rows of the delta themselves, counted up to the bound.
    far = (
        base is not None
        and big
        and info.highestmodseq - base.mailbox.highestmodseq > SNAPSHOT_REFRESH_ROWS
        and delta_rows(raw, info.id, base.mailbox.highestmodseq, SNAPSHOT_REFRESH_ROWS + 1)
        > SNAPSHOT_REFRESH_ROWS
    )
    if base is not None and not far:
        delta = apply_delta(raw, base, info)
        if delta is not None:
            return Opened(delta[0], False, "delta")
    if big:
        stored = load_snapshot(raw, info, after=base.mailbox.highestmodseq if base is not None else -1)
        if stored is not None:
            delta = apply_delta(raw, stored, info)
            if delta is not None:
                # A snapshot far behind is written again, so that the next process pays less.
                return Opened(delta[0], delta[1] >= SNAPSHOT_REFRESH_ROWS, "snapshot")
    if far:
        assert base is not None
        delta = apply_delta(raw, base, info)
        if delta is not None:
            return Opened(delta[0], False, "delta")
    return Opened(read_full(raw, info), big, "full")
