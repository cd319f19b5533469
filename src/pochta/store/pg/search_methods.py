"""``PgStore``'s search side: text and header search (``pg/search``), SORT keys and orders
(``pg/sortkeys``), threads and object data (``pg/threads``) and the background indexer, each method
one job or a few, as ``SqliteStore``'s methods of the same names.

The indexer's batch is a few jobs where SQLite's is one write: a read (is there work; the SORT
keys of the queued messages, derived from their parse records), the claim at READ COMMITTED
(``pg/search.claim``: disjoint across nodes), one SERIALIZABLE write that keeps the keys and
threads new membership rows, and the merge of the trigram indexes' pending lists
(``pg/search.merge_pending``) when it took new messages. Should a job after the claim fail, nothing
is lost: keys missing are derived by the next SORT that needs them, rows not threaded by the next
batch, pending lists merged by the next merge (or autovacuum).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Literal

from sqlalchemy import Connection

from pochta.config import Settings
from pochta.store.model import IndexResult, MailboxId, ObjectRow, SortRow, Uid
from pochta.store.pg import search, sortkeys, threads
from pochta.store.pg.jobs import PgJobs
from pochta.store.schema import INDEX_ADD
from pochta.store.sql.mail_rows import normalize_uids
from pochta.store.sqlite.search import rows_of_blob

__all__ = ["SearchMethods"]

log = logging.getLogger(__name__)


class SearchMethods(PgJobs):
    """Mixed into ``PgStore``, which provides what is declared here."""

    settings: Settings
    _closed: bool
    _merge_refused = False  # merging GIN's pending lists failed once (``pg/search.merge_pending``)

    # Search

    async def search_text(
        self, mailbox_id: MailboxId, query: str, field: Literal["body", "text"]
    ) -> set[Uid]:
        mime, opener = self.settings.mime, self.open_blob
        return await self.run_read(lambda c: search.search_text(c, opener, mime, mailbox_id, query, field))

    async def search_header(self, mailbox_id: MailboxId, name: str, query: str) -> tuple[set[Uid], set[Uid]]:
        return await self.run_read(lambda c: search.search_header(c, mailbox_id, name, query))

    # SORT and THREAD keys

    async def sort_keys(
        self, mailbox_id: MailboxId, uids: Iterable[Uid], fields: Iterable[str]
    ) -> list[SortRow]:
        uid_list, wanted = normalize_uids(uids), frozenset(fields)
        rows, derived = await self.run_read(lambda c: sortkeys.read_keys(c, mailbox_id, uid_list, wanted))
        if derived:  # kept: the next SORT reads them (never part of a delivery's write)
            await self.run_write(lambda c, e: sortkeys.store_keys(c, derived))
        return rows

    async def sort_order(
        self, mailbox_id: MailboxId, uids: Iterable[Uid], order: Sequence[tuple[str, bool]]
    ) -> list[Uid]:
        uid_list, keys = normalize_uids(uids), list(order)

        def read(c: Connection) -> tuple[list[Uid], sortkeys.Derived]:
            missing = sortkeys.without_keys(c, mailbox_id, uid_list)
            if missing:
                return [], sortkeys.derive(c, missing)
            return sortkeys.ordered_uids(c, mailbox_id, uid_list, keys), []

        ordered, derived = await self.run_read(read)
        if derived:  # kept first, then ordered by PostgreSQL with every key in place
            await self.run_write(lambda c, e: sortkeys.store_keys(c, derived))
            ordered = await self.run_read(lambda c: sortkeys.ordered_uids(c, mailbox_id, uid_list, keys))
        return ordered

    # Threads and object data

    async def thread_now(self, mailbox_id: MailboxId) -> int:
        """Thread the mailbox's messages the indexer has not reached, in batches of
        ``search.index_batch`` (one write each); returns how many rows were threaded."""
        limit, total, more = self.settings.search.index_batch, 0, True
        while more:
            done, more = await self.run_write(lambda c, e: threads.thread_pending(c, limit, mailbox_id))
            total += done
        return total

    async def message_objects(
        self, mailbox_id: MailboxId, uids: Iterable[Uid] | None, *, preview: bool = False
    ) -> list[ObjectRow]:
        uid_list = None if uids is None else normalize_uids(uids)
        return await self.run_read(lambda c: threads.read_objects(c, mailbox_id, uid_list, preview))

    # The indexer

    async def index_pending(self, limit: int | None = None) -> IndexResult:
        """One batch (the module docstring): up to ``limit`` queued messages (default
        ``search.index_batch``) taken, their SORT keys kept, up to ``limit`` new membership rows
        threaded, and messages stored before the index existed re-parsed. Safe on several nodes."""
        limit = self.settings.search.index_batch if limit is None else limit

        def look(conn: Connection) -> tuple[bool, bool, sortkeys.Derived]:
            backlog = search.has_backlog(conn)
            derived = sortkeys.derive_queued(conn, INDEX_ADD, limit) if backlog else []
            return backlog, threads.has_pending(conn), derived

        backlog, unthreaded, derived = await self.run_read(look)
        if not (backlog or unthreaded):
            return IndexResult()
        result = IndexResult()
        if backlog:
            result = await self.run_write_committed(lambda c, e: search.claim(c, limit))
        known = {message_id for message_id, _ in derived}
        late = [message_id for message_id in result.added_ids if message_id not in known]
        taken = set(result.added_ids)
        kept = [(message_id, keys) for message_id, keys in derived if message_id in taken]

        def keep_and_thread(conn: Connection) -> tuple[int, bool]:
            # The keys of what this batch took (derived before, but for messages queued after the
            # look); THREADID off the delivery path: the new messages of any mailbox.
            if result.added_ids:
                sortkeys.store_keys(conn, kept + (sortkeys.derive(conn, late) if late else []))
            return threads.thread_pending(conn, limit) if unthreaded else (0, False)

        if result.added_ids or unthreaded:
            result.threaded, more = await self.run_write(lambda c, e: keep_and_thread(c), background=True)
            result.more = result.more or more
        if result.added and not self._merge_refused:
            try:
                await self.run_write_committed(lambda c, e: search.merge_pending(c))
            except Exception:
                # Not the indexes' owner: autovacuum and the deliveries merge instead (slower searches).
                log.warning("search indexer: cannot merge the trigram indexes' pending lists", exc_info=True)
                self._merge_refused = True
        if result.fill:
            opener, mime = self.open_blob, self.settings.mime
            items = await asyncio.to_thread(
                lambda: [(mid, rows_of_blob(opener, mime, sha)) for mid, sha in result.fill]
            )
            result.filled = await self.run_write_committed(lambda c, e: search.fill_messages(c, items))
        return result

    async def index_backlog(self) -> int:
        """Messages waiting for the indexer (added, removed, or stored before SQLite's revision 0007)."""
        return await self.run_read(search.backlog)
