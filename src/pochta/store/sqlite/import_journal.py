"""`pochta import`'s placements in the embedded store, with the import journal (``import_journal``,
revision 0033; docs/import-export.md "Resuming").

Imported mail is placed directly, not delivered: no Sieve, no Received header, no quota notice; the
account's quota still applies (the store's own check in the write, as for APPEND). A batch of
messages is one writer job, so one commit (one fsync) for the batch; each message inside it has a
savepoint of its own, so a message refused (over quota, mailbox deleted meanwhile) leaves the others
placed. The journal row and the membership commit together: after a crash either both are there or
neither, which is what lets a rerun place every message exactly once. The same bytes imported twice
(two sources, or two messages of one) are one blob and one message record (single-instance store),
with a membership each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from sqlalchemy import Connection

from pochta.mime import ParsedMessage
from pochta.store.api import NotFound, QuotaExceeded
from pochta.store.import_model import ImportItem
from pochta.store.model import AccountId, BlobRef, Change, Target
from pochta.store.sql import mail_writes
from pochta.store.sql.mail_rows import PreparedMessage
from pochta.store.sqlite import mail
from pochta.store.sqlite.writer import driver_connection

__all__ = ["ImportJournalMethods"]

T = TypeVar("T")

_SQL_JOURNAL = "SELECT item FROM import_journal WHERE account_id = ? AND source = ?"
_SQL_DONE = "SELECT 1 FROM import_journal WHERE account_id = ? AND source = ? AND item = ?"
_SQL_RECORD = "INSERT INTO import_journal (account_id, source, item, mailbox_id, uid) VALUES (?, ?, ?, ?, ?)"


class _Jobs(Protocol):
    def _store_blob(self, conn: Connection, blob: BlobRef) -> None: ...

    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...
    async def _prepare(self, blob: BlobRef, parsed: ParsedMessage) -> PreparedMessage: ...

    @property
    def _max_keywords(self) -> int: ...


class ImportJournalMethods:
    async def import_journal(self: _Jobs, account_id: AccountId, source: str) -> set[str]:
        def read(conn: Connection) -> set[str]:
            rows = driver_connection(conn).execute(_SQL_JOURNAL, (account_id, source)).fetchall()
            return {str(row[0]) for row in rows}

        return await self.run_read(read)

    async def import_place(
        self: _Jobs, account_id: AccountId, source: str, items: Sequence[ImportItem]
    ) -> list[str | None]:
        prepared = await asyncio.gather(*(self._prepare(item.blob, item.parsed) for item in items))
        max_keywords = self._max_keywords
        store_blob = self._store_blob

        def job(conn: Connection, events: list[Change]) -> list[str | None]:
            raw = driver_connection(conn)
            outcome: list[str | None] = []
            for item, message in zip(items, prepared, strict=True):
                if raw.execute(_SQL_DONE, (account_id, source, item.key)).fetchone() is not None:
                    outcome.append(None)  # another import of the same source placed it meanwhile
                    continue
                mark = len(events)
                raw.execute("SAVEPOINT import_message")
                try:
                    target = Target(item.mailbox_id, item.flags, item.internal_date)
                    [placed] = mail_writes.deliver(
                        mail, conn, events, store_blob, message, [target], max_keywords
                    )
                    raw.execute(_SQL_RECORD, (account_id, source, item.key, placed.mailbox_id, placed.uid))
                except (QuotaExceeded, NotFound) as exc:
                    raw.execute("ROLLBACK TO import_message")
                    raw.execute("RELEASE import_message")
                    del events[mark:]  # its change never happened
                    outcome.append("over quota" if isinstance(exc, QuotaExceeded) else f"not stored: {exc}")
                    continue
                raw.execute("RELEASE import_message")
                outcome.append(None)
            return outcome

        return await self.run_write(job)
