"""Mailbox change stamps shared by the processes of one data directory (``DATA/run/view-stamps``).

A small file mapped into every process that opens the store: one 64-bit counter per slot
(``mailbox id % SLOTS``), one for the whole database, and one that every bump moves
(``read_any``: for a process that does not know a mailbox's id before its read). The store's
writer records, with temporary triggers on its connection, every row of ``mailboxes`` a
transaction inserts, updates or deletes (every change of a mailbox's messages bumps its
HIGHESTMODSEQ in that row, a rename changes its name, ``reconstruct`` its counters), and after the
commit, still holding the write turn (``writer.WriteTurn``), adds one to the counters of those
mailboxes; an update of a message's size (a repair) adds one to the database counter. A change
made to the database file by anything else (a hand edit with the sqlite3 shell) is not seen by a
cached view until the next change of that mailbox through pochta.

What this proves: a process reads a mailbox's stamp (``read``) *before* the read transaction in
which it builds or checks that mailbox's view. If the stamp is still the same later, no commit that
touches the mailbox finished its bump in between, and every commit acknowledged to anyone has
finished its bump (the bump comes before the writer resolves its callers and publishes the change
feed). So the view is still the mailbox as any client was told it: SELECT may answer from it with
no database read (``sqlite_views.ViewCache.current``). Counters only grow (they are incremented
under the write turn, one process at a time), so equal means unchanged; two mailboxes sharing a
slot only make each other's views look changed more often.

The file is created on first use and never truncated or removed while a server may run: every
process must map the same file, or a bump would go unseen. A writer without a turn (a store opened
without ``run/writer.lock``) would lose increments; the store always opens both together.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

__all__ = ["STAMPS_FILE", "ViewStamps"]

STAMPS_FILE = Path("run") / "view-stamps"
SLOTS = 4096
_DATABASE = 0  # the counter of the whole database
_ANY = 1  # counts every bump of any mailbox: unchanged means no mailbox changed at all
_FIRST = 2  # the mailbox slots follow
_SIZE = 8 * (_FIRST + SLOTS)
_FUNCTION = "pochta_mailbox_touched"
WHOLE_DATABASE = -1  # what the triggers record for a change that may touch any mailbox's view
_TRIGGERS = (
    f"CREATE TEMP TRIGGER IF NOT EXISTS pochta_mailbox_insert AFTER INSERT ON main.mailboxes "
    f"BEGIN SELECT {_FUNCTION}(NEW.id); END",
    f"CREATE TEMP TRIGGER IF NOT EXISTS pochta_mailbox_update AFTER UPDATE ON main.mailboxes "
    f"BEGIN SELECT {_FUNCTION}(OLD.id); SELECT {_FUNCTION}(NEW.id) WHERE NEW.id != OLD.id; END",
    f"CREATE TEMP TRIGGER IF NOT EXISTS pochta_mailbox_delete AFTER DELETE ON main.mailboxes "
    f"BEGIN SELECT {_FUNCTION}(OLD.id); END",
    # A message's size repaired without a new MODSEQ (reconstruct): any view may hold it.
    f"CREATE TEMP TRIGGER IF NOT EXISTS pochta_message_size AFTER UPDATE OF size ON main.messages "
    f"WHEN NEW.size != OLD.size BEGIN SELECT {_FUNCTION}({WHOLE_DATABASE}); END",
)


class ViewStamps:
    """The mapped counters (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # as writer.WriteTurn
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(fd).st_size < _SIZE:
                os.ftruncate(fd, _SIZE)  # zeros; never shrinks what another process maps
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)
        self._slots = memoryview(self._map).cast("Q")

    def read(self, mailbox_id: int) -> int:
        """The mailbox's stamp: changes when a commit touching it (or the database) is bumped."""
        slots = self._slots
        return slots[_DATABASE] + slots[_FIRST + mailbox_id % SLOTS]

    def read_any(self) -> int:
        """A stamp of every mailbox at once: it moves whenever any mailbox's stamp moves."""
        slots = self._slots
        return slots[_DATABASE] + slots[_ANY]

    def bump(self, touched: Iterable[int]) -> None:
        """Count one change for each touched mailbox (``WHOLE_DATABASE``: all). Call after the
        commit, holding the write turn."""
        slots = self._slots
        for index in {_DATABASE if m == WHOLE_DATABASE else _FIRST + m % SLOTS for m in touched}:
            slots[index] += 1
        slots[_ANY] += 1

    def watch(self, raw: sqlite3.Connection, touched: set[int]) -> None:
        """Make ``raw`` (a writer connection) add the ids of the mailboxes its statements change to
        ``touched`` (temporary triggers: they exist for this connection only)."""
        raw.create_function(_FUNCTION, 1, touched.add)
        for statement in _TRIGGERS:
            raw.execute(statement)

    def close(self) -> None:
        self._slots.release()
        self._map.close()
