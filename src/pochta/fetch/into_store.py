"""Placing imported messages: each into its mailbox with its flags and internal date, and its key into
the import journal, in the same store transaction (docs/import-export.md "Resuming").

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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pochta.config import Settings
from pochta.mime import parse_message
from pochta.mime.imapform import wire_forms
from pochta.store import sqlite_mail as mail
from pochta.store import sqlite_search as search
from pochta.store.api import NotFound, QuotaExceeded
from pochta.store.model import AccountId, BlobRef, Change, MailboxId, Target
from pochta.store.sqlite import SqliteStore
from pochta.store.writer import driver_connection

__all__ = ["Placement", "journal_items", "place_batch", "prepare"]

_SQL_JOURNAL = "SELECT item FROM import_journal WHERE account_id = ? AND source = ?"
_SQL_DONE = "SELECT 1 FROM import_journal WHERE account_id = ? AND source = ? AND item = ?"
_SQL_RECORD = "INSERT INTO import_journal (account_id, source, item, mailbox_id, uid) VALUES (?, ?, ?, ?, ?)"


@dataclass(frozen=True)
class Placement:
    item: str  # the message's key within the source
    mailbox_id: MailboxId
    prepared: mail.PreparedMessage
    flags: frozenset[str]
    internal_date: datetime | None


def prepare(data: bytes, blob: BlobRef, settings: Settings) -> mail.PreparedMessage:
    """What delivery computes once per message (DESIGN "work is done once"): the parse cache, the
    search rows and the IMAP wire forms. CPU work: called off the event loop."""
    parsed = parse_message(data, settings.mime)
    return mail.PreparedMessage(
        blob, parsed.to_json(with_text=False), search.search_rows(parsed), wire_forms(parsed.root)
    )


async def prepare_message(store: SqliteStore, data: bytes, settings: Settings) -> mail.PreparedMessage:
    """The blob (a small one stored with its placement, a large one written and fsync'ed now) and
    the prepared message."""
    blob = await store.new_blob(data)
    return await asyncio.to_thread(prepare, data, blob, settings)


async def journal_items(store: SqliteStore, account_id: AccountId, source: str) -> set[str]:
    """The keys of the messages of ``source`` already placed for the account."""

    def read(conn: Connection) -> set[str]:
        rows = driver_connection(conn).execute(_SQL_JOURNAL, (account_id, source)).fetchall()
        return {str(row[0]) for row in rows}

    return await store.run_read(read)


async def place_batch(
    store: SqliteStore, account_id: AccountId, source: str, batch: Sequence[Placement], max_keywords: int
) -> list[str | None]:
    """Place the batch in one write; per message None (placed, or placed by an earlier run: the
    journal has it) or the reason it was refused."""

    def job(conn: Connection, events: list[Change]) -> list[str | None]:
        raw = driver_connection(conn)
        outcome: list[str | None] = []
        for placement in batch:
            if raw.execute(_SQL_DONE, (account_id, source, placement.item)).fetchone() is not None:
                outcome.append(None)  # another import of the same source placed it meanwhile
                continue
            mark = len(events)
            raw.execute("SAVEPOINT import_message")
            try:
                target = Target(placement.mailbox_id, placement.flags, placement.internal_date)
                [placed] = mail.deliver(conn, events, store.blobs, placement.prepared, [target], max_keywords)
                raw.execute(_SQL_RECORD, (account_id, source, placement.item, placed.mailbox_id, placed.uid))
            except (QuotaExceeded, NotFound) as exc:
                raw.execute("ROLLBACK TO import_message")
                raw.execute("RELEASE import_message")
                del events[mark:]  # its change never happened
                outcome.append("over quota" if isinstance(exc, QuotaExceeded) else f"not stored: {exc}")
                continue
            raw.execute("RELEASE import_message")
            outcome.append(None)
        return outcome

    return await store.run_write(job)
