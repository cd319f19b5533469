"""`pochta import`'s placements in the store, with the import journal (``import_journal``,
revision 0033; docs/import-export.md "Resuming"), on both engines.

Imported mail is placed directly, not delivered: no Sieve, no Received header, no quota notice; the
account's quota still applies (the store's own check in the write, as for APPEND). A batch of
messages is one write job, so one commit (one fsync) for the batch; each message inside it has a
savepoint of its own, so a message refused (over quota, mailbox deleted meanwhile) leaves the others
placed. The journal row and the membership commit together: after a crash either both are there or
neither, which is what lets a rerun place every message exactly once. The same bytes imported twice
(two sources, or two messages of one) are one blob and one message record (single-instance store),
with a membership each. The placement itself is the engine's ``deliver`` (``_mail_ops`` through
``sql/mail_writes``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import Connection, insert, select

from pochta.store.api import NotFound, QuotaExceeded
from pochta.store.import_model import ImportItem
from pochta.store.model import AccountId, Change, Target
from pochta.store.schema import import_journal
from pochta.store.sql import mail_writes
from pochta.store.sql.mail_writes import PlacingJobs

__all__ = ["ImportJournalMethods"]

T = TypeVar("T")
_j = import_journal.c


_Jobs = PlacingJobs


class ImportJournalMethods:
    async def import_journal(self: _Jobs, account_id: AccountId, source: str) -> set[str]:
        def read(conn: Connection) -> set[str]:
            rows = conn.execute(select(_j.item).where(_j.account_id == account_id, _j.source == source))
            return {str(item) for item in rows.scalars()}

        return await self.run_read(read)

    async def import_place(
        self: _Jobs, account_id: AccountId, source: str, items: Sequence[ImportItem]
    ) -> list[str | None]:
        prepared = await asyncio.gather(*(self._prepare(item.blob, item.parsed) for item in items))
        max_keywords = self._max_keywords
        store_blob = self._store_blob
        ops = self._mail_ops
        done = select(_j.item).where(_j.account_id == account_id, _j.source == source)

        def job(conn: Connection, events: list[Change]) -> list[str | None]:
            outcome: list[str | None] = []
            for item, message in zip(items, prepared, strict=True):
                if conn.execute(done.where(_j.item == item.key)).first() is not None:
                    outcome.append(None)  # another import of the same source placed it meanwhile
                    continue
                mark = len(events)
                # Both engines speak these three statements alike (SQL's own savepoints); a refused
                # message is rolled back to its savepoint, which on PostgreSQL also clears the
                # aborted state an error inside the database would leave.
                conn.exec_driver_sql("SAVEPOINT import_message")
                try:
                    target = Target(item.mailbox_id, item.flags, item.internal_date)
                    [placed] = mail_writes.deliver(
                        ops, conn, events, store_blob, message, [target], max_keywords
                    )
                    conn.execute(
                        insert(import_journal).values(
                            account_id=account_id,
                            source=source,
                            item=item.key,
                            mailbox_id=placed.mailbox_id,
                            uid=placed.uid,
                        )
                    )
                except (QuotaExceeded, NotFound) as exc:
                    conn.exec_driver_sql("ROLLBACK TO SAVEPOINT import_message")
                    conn.exec_driver_sql("RELEASE SAVEPOINT import_message")
                    del events[mark:]  # its change never happened
                    outcome.append("over quota" if isinstance(exc, QuotaExceeded) else f"not stored: {exc}")
                    continue
                conn.exec_driver_sql("RELEASE SAVEPOINT import_message")
                outcome.append(None)
            return outcome

        return await self.run_write(job)
