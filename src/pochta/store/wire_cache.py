"""Each process's cache of kept IMAP wire forms (``message_wire``), by message id (issue 10).

A message's ENVELOPE, BODY and BODYSTRUCTURE octets never change while its id lives, and ids are
never handed out twice (``messages.id`` is AUTOINCREMENT), so a form read once can answer every later
FETCH of it without the hop to a reader thread and back: a FETCH whose forms are all here costs no
database read at all (Dovecot answers from its mmap'ed cache file the same way).

The one writer of different octets for a live id is ``pochta reconstruct`` (``replace_forms``), in
any process: it moves ``directory_version``, and every use of the cache names the version it read
before reading the database. A cache holding another version is emptied first; a fill tagged with an
older version than the cache holds is dropped (its read may predate the rewrite). A message expunged
everywhere may still be answered from here until its entry ages out: RFC 2180 section 4.1.1 lets a
session see the data of a message expunged by another one.

Held within a budget of octets (``store.wire_cache_mb``), least recently used first out. An entry
counts its value, its key and the ordered dictionary's own per-entry memory (``_FIXED_COST``),
so the budget is what the process holds, not the octets alone.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

__all__ = ["WireCache"]

# Per form name and session kind, a small code: the key of an entry is ``message_id * 8 + code``
# (one int: cheaper to hash and hold than a tuple).
_FORMS = ("ENVELOPE", "BODY", "BODYSTRUCTURE")
_CODES = {(name, utf8): 2 * i + utf8 for i, name in enumerate(_FORMS) for utf8 in (0, 1)}
# An entry's memory beyond its form's octets: the bytes object's header (``sys.getsizeof(b"")``,
# 33), its int key (32 octets below 2**60: ids times 8 stay below), and the OrderedDict's own: the
# hash table slot (hash, key, value pointers and an index, ~40 octets at the table's usual fill) and
# the doubly linked node of its order (~56).
_FIXED_COST = sys.getsizeof(b"") + sys.getsizeof(2**59) + 100


class WireCache:
    """Forms by (message id, form name, UTF-8 or not), within ``budget`` octets (0: holds nothing).
    Thread-safe: the event loop looks up and fills, ``clear`` may come from anywhere."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0  # octets held: each form's length plus ``_FIXED_COST``
        self.version: int | None = None  # the directory_version the entries were read at
        self._entries: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self._entries.clear()
        self.used = 0

    def lookup(
        self, version: int, message_ids: Sequence[int], names: Sequence[str], utf8: bool
    ) -> tuple[list[tuple[Any, ...]], list[int]]:
        """``(rows, lacking)``: a row ``(message_id, form, ...)`` (forms in the order of ``names``) for
        each distinct id whose every form is here, and the distinct ids that are not (to be read)."""
        codes = [_CODES[name, utf8] for name in names]
        rows: list[tuple[Any, ...]] = []
        lacking: list[int] = []
        with self._lock:
            if version != self.version:
                self._clear()  # read at another version: reconstruct may have rewritten some
                self.version = version
            entries = self._entries
            get = entries.get
            touch = entries.move_to_end
            unique = dict.fromkeys(message_ids)  # an id twice is one row, as the store answers
            if len(codes) == 1:  # the common FETCH (ENVELOPE alone, or with flags): no inner loop
                code = codes[0]
                for message_id in unique:
                    key = message_id * 8 + code
                    form = get(key)
                    if form is None:
                        lacking.append(message_id)
                    else:
                        touch(key)
                        rows.append((message_id, form))
                return rows, lacking
            for message_id in unique:
                row: list[Any] = [message_id]
                for code in codes:
                    form = get(message_id * 8 + code)
                    if form is None:
                        lacking.append(message_id)
                        break
                    row.append(form)
                else:
                    for code in codes:
                        touch(message_id * 8 + code)
                    rows.append(tuple(row))
        return rows, lacking

    def fill(self, version: int, rows: Sequence[Sequence[Any]], names: Sequence[str], utf8: bool) -> None:
        """Keep the forms of ``rows`` (as ``lookup`` returns them), read at ``version`` or later."""
        if self.budget <= 0:
            return
        codes = [_CODES[name, utf8] for name in names]
        with self._lock:
            if version != self.version:
                if self.version is not None and version < self.version:
                    return  # read before a rewrite the cache already knows of: maybe stale
                self._clear()
                self.version = version
            entries = self._entries
            used = self.used
            get = entries.get
            for row in rows:
                base = row[0] * 8
                for i, code in enumerate(codes, 1):
                    form = row[i]
                    if form is None:
                        continue  # nothing kept to answer with: read again next time
                    key = base + code
                    old = get(key)
                    if old is not None:  # two reads of the same forms at once: the same octets
                        used -= len(old) + _FIXED_COST
                    entries[key] = form
                    used += len(form) + _FIXED_COST
            while used > self.budget and entries:
                _, value = entries.popitem(last=False)
                used -= len(value) + _FIXED_COST
            self.used = used
