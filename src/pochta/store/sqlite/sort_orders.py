"""Kept sort orders: for a big mailbox, its UIDs already ordered by one SORT key, kept per process and
brought forward to the mailbox's current view, so that a SORT is a filter of a kept order instead of
a sort of every message's key in SQLite (docs/imap.md "SORT and THREAD").

An order belongs to one mailbox and one key (an ``sqlite_sortkeys.ORDER_KEYS`` name); it holds two
parallel columns in the order: the keys and the UIDs (ties by UID, as ``ordered_uids`` orders them),
and the view UIDs column it was last brought to. It is brought forward inside the read transaction
of the SORT, to the view that transaction opened (``ViewCache``: the same state every session sees):

- the same UIDs column (the view did not change, or only flags did): nothing to do;
- messages appended (the old UIDs are a prefix of the new): their keys read (``read_keys``: derived
  for those the indexer has not reached yet) and each inserted by bisection after its equal keys
  (a new UID is above every kept one, so ties stay in UID order);
- anything else (expunges, a delta of both): the gone UIDs filtered out, the new ones inserted.

A message's keys never change while its UID does not (they come from its stored parse record; keys
of another ``SORT_KEYS_VERSION`` mean another process build), so no other change matters. A new
UIDVALIDITY starts the order again. Orders are held by the budget ``store.sort_cache_mb`` (least
recently used dropped first) and only for mailboxes of at least ``store.sort_cache_min_messages``:
smaller ones are ordered by SQLite as before.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pochta.store.model import MailboxId, MailboxView, SortRow, Uid
from pochta.store.sqlite import sortkeys

__all__ = ["KeptOrders", "order_bytes"]

# Keys whose values are integers (held in an array('q'), 8 bytes each) and what each is.
_INT_KEYS = frozenset({"arrival", "date", "size"})
# The ``read_keys`` fields each key needs (the internal date always comes).
_FIELDS = {
    "subject": {"subject"}, "from_": {"from_"}, "to": {"to"}, "cc": {"cc"},
    "display_from": {"display_from"}, "display_to": {"display_to"},
    "date": {"sent"}, "size": {"size"}, "arrival": set(),
}  # fmt: skip
# More new messages than this (or than a quarter of the order) at once: the order is built again
# rather than each inserted (an insertion moves the columns' tail).
_INSERT_MAX = 1000


def _value(name: str, row: SortRow) -> int | str:
    """The key a SORT compares, as ``sqlite_sortkeys.ORDER_KEYS`` computes it in SQL."""
    if name == "arrival":
        return row.internal_date
    if name == "date":
        # RFC 5256 §2.2: without a usable Date: field, the internal date is the sent date.
        sent = row.keys.sent
        return row.internal_date if sent is None else sent
    if name == "size":
        return row.size
    value: str = getattr(row.keys, name)
    return value


@dataclass
class _Order:
    uidvalidity: int
    synced: array[int]  # the view's UIDs column this order was brought to
    keys: list[str] | array[int]
    uids: array[int]
    size: int  # order_bytes


def order_bytes(keys: list[str] | array[int], uids: array[int]) -> int:
    """About what an order takes in memory: its two columns (an array item or a list's pointer: 8
    octets) and its distinct strings."""
    size = 8 * len(uids) + 8 * len(keys)
    if isinstance(keys, list):
        size += sum(map(sys.getsizeof, set(keys)))
    return size


class KeptOrders:
    """The kept orders of this process (see the module docstring); thread-safe: SORTs of the same
    mailbox on two reader threads take turns."""

    def __init__(self, budget_mb: int, min_messages: int) -> None:
        self.budget = budget_mb * 2**20
        self.min_messages = min_messages
        self._orders: OrderedDict[tuple[MailboxId, str], _Order] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()
        # Told (mailbox, key) when a client's SORT built an order (``SqliteStore.sort_order``, on the
        # event loop): the server tells the other workers, which build theirs (``warm_order``).
        self.built: Callable[[MailboxId, str], None] | None = None

    def held_bytes(self) -> int:
        with self._lock:
            return self._held

    def keeps(self, view: MailboxView, order: Sequence[tuple[str, bool]]) -> bool:
        """Whether this SORT is answered from a kept order (one key, a big enough mailbox)."""
        return self.budget > 0 and len(order) == 1 and len(view) >= self.min_messages

    def ordered(
        self,
        raw: sqlite3.Connection,
        view: MailboxView,
        uids: Sequence[Uid],
        name: str,
        descending: bool,
    ) -> tuple[list[Uid], sortkeys.Derived, bool]:
        """``uids`` (those in ``view``) ordered by the key ``name``, ties by UID (``descending``
        reverses the key only), the keys derived on the way for the store to keep, and whether
        the order was built (not brought forward). ``view`` is the mailbox's view in ``raw``'s
        read transaction."""
        key = (view.mailbox.id, name)
        with self._lock:
            kept = self._orders.pop(key, None)
            if kept is not None:
                self._held -= kept.size
        derived: sortkeys.Derived | None = None
        if kept is not None and kept.uidvalidity == view.mailbox.uidvalidity:
            derived = [] if kept.synced is view.uids else self._forward(raw, view, name, kept)
        built = derived is None
        if kept is None or derived is None:
            kept, derived = self._build(raw, view, name)
        with self._lock:
            if kept.size <= self.budget:
                self._orders[key] = kept
                self._held += kept.size
                while self._held > self.budget:
                    _, dropped = self._orders.popitem(last=False)
                    self._held -= dropped.size
        return _filtered(kept, view, uids, descending), derived, built

    def _build(
        self, raw: sqlite3.Connection, view: MailboxView, name: str
    ) -> tuple[_Order, sortkeys.Derived]:
        rows, derived = sortkeys.read_keys(raw, view.mailbox.id, view.uids, _FIELDS[name])
        values = [_value(name, row) for row in rows]
        # A stable sort of rows read in UID order: ties keep UID order.
        order = sorted(range(len(rows)), key=values.__getitem__)
        uids = array("q", [rows[i].uid for i in order])
        if name in _INT_KEYS:
            keys: list[str] | array[int] = array("q", [values[i] for i in order])  # type: ignore[misc]
        else:
            shared: dict[int | str, int | str] = {}  # one string per distinct key
            keys = [shared.setdefault(values[i], values[i]) for i in order]  # type: ignore[misc]
        kept = _Order(view.mailbox.uidvalidity, view.uids, keys, uids, order_bytes(keys, uids))
        return kept, derived

    def _forward(
        self, raw: sqlite3.Connection, view: MailboxView, name: str, kept: _Order
    ) -> sortkeys.Derived | None:
        """Brings ``kept`` to ``view`` in place; None: too many new messages, build it again."""
        old, new = kept.synced, view.uids
        if len(new) - len(old) > min(_INSERT_MAX, len(old) // 4):
            return None
        if len(new) >= len(old) and new[: len(old)] == old:
            added: Sequence[Uid] = new[len(old) :]
        else:
            now = set(new)
            gone = set(old) - now
            if gone:
                keep = [i for i, uid in enumerate(kept.uids) if uid not in gone]
                kept.uids = array("q", [kept.uids[i] for i in keep])
                if isinstance(kept.keys, array):
                    kept.keys = array("q", [kept.keys[i] for i in keep])
                else:
                    kept.keys = [kept.keys[i] for i in keep]
            before = set(old)
            added = [uid for uid in new if uid not in before]
            if len(added) > min(_INSERT_MAX, len(old) // 4):
                return None
        derived: sortkeys.Derived = []
        if added:
            rows, derived = sortkeys.read_keys(raw, view.mailbox.id, added, _FIELDS[name])
            # Ascending UIDs, each above every kept one: inserted after its equal keys.
            for row in rows:
                value = _value(name, row)
                if isinstance(kept.keys, array):
                    assert isinstance(value, int)
                    at = bisect_right(kept.keys, value)
                    kept.keys.insert(at, value)
                else:
                    assert isinstance(value, str)
                    at = bisect_right(kept.keys, value)
                    kept.keys.insert(at, value)
                kept.uids.insert(at, row.uid)
        kept.synced = new
        if added or len(new) != len(old):
            kept.size = order_bytes(kept.keys, kept.uids)
        return derived


def _filtered(kept: _Order, view: MailboxView, uids: Sequence[Uid], descending: bool) -> list[Uid]:
    if len(uids) == len(view) and array("q", uids) == view.uids:
        ordered = kept.uids.tolist()  # the whole mailbox (SORT ... ALL)
    else:
        wanted = set(uids)
        ordered = [uid for uid in kept.uids if uid in wanted]
    # RFC 5256 §3: REVERSE reverses the key only; equal keys stay in mailbox (ascending UID) order.
    if not descending or len(ordered) < 2:
        return ordered
    keys: Sequence[int | str] = kept.keys
    if len(ordered) != len(kept.uids):
        at = {uid: i for i, uid in enumerate(kept.uids)}
        keys = [keys[at[uid]] for uid in ordered]
    out: list[Uid] = []
    end = len(ordered)
    while end > 0:
        start = end - 1
        value = keys[start]
        while start > 0 and keys[start - 1] == value:
            start -= 1
        out.extend(ordered[start:end])
        end = start
    return out
