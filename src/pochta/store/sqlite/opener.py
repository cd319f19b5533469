"""Opening mailbox views for one SQLite store process: the view cache, the stored snapshots kept
near the head, the background prefetch of a mailbox another worker's client opened, and the
announcement of a big mailbox's first use (architecture.md "Mailbox views", "SELECT without a
read"). The reads and writes themselves are in ``sqlite/views``; this is the per-process state
around them, owned by ``SqliteStore`` and reached through its ``open_view*``/``*_snapshots`` methods.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from sqlalchemy import Connection

from pochta.config import StoreSettings
from pochta.store.api import NotFound
from pochta.store.model import AccountId, Change, MailboxId, MailboxView
from pochta.store.sqlite import views
from pochta.store.sqlite.view_stamps import ViewStamps
from pochta.store.sqlite.writer import driver_connection

__all__ = ["ViewOpener"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class RunRead(Protocol):
    def __call__(self, fn: Callable[[Connection], T], /) -> Awaitable[T]: ...


class RunWrite(Protocol):
    def __call__(self, fn: Callable[[Connection, list[Change]], T], /) -> Awaitable[T]: ...


class ViewOpener:
    def __init__(
        self,
        settings: StoreSettings,
        run_read: RunRead,
        run_write: RunWrite,
        stamps: ViewStamps | None,
    ) -> None:
        self._settings = settings
        self._run_read = run_read
        self._run_write = run_write
        self._stamps = stamps
        self._closed = False
        # Sessions opening a mailbox in the same state share its view; a later state is a delta away.
        self._views = views.ViewCache(settings.view_cache_mb * 2**20)
        self._saving: dict[MailboxId, asyncio.Task[None]] = {}  # snapshots being stored
        self._prefetching: dict[MailboxId, asyncio.Task[None]] = {}
        self._again: set[MailboxId] = set()  # to prefetch again once the prefetch under way ends
        # Told the id of a big mailbox the first time this process serves a client its view (not
        # for the housekeeper's rounds or prefetches): the server tells the other workers, which
        # read it too (``prefetch_view``), so that their next SELECT of it needs no read.
        self.view_loaded: Callable[[MailboxId], None] | None = None
        self._announced: set[MailboxId] = set()
        # Told ``(id, messages)`` of each big mailbox whose snapshot the housekeeper's round stored:
        # the server tells the other workers, which warm their caches with it (``warm_view``), so
        # that the first SELECT after a burst of deliveries finds a current view in any worker.
        self.snapshot_stored: Callable[[MailboxId, int], None] | None = None

    async def open_view(self, mailbox_id: MailboxId) -> MailboxView:
        return (await self.open_view_traced(mailbox_id)).view

    async def open_view_traced(self, mailbox_id: MailboxId, *, announce: bool = True) -> views.Opened:
        """``open_view`` saying where the view came from (tests and benches); ``announce``: a client
        uses it (``view_loaded``)."""
        minimum = self._settings.view_snapshot_min_messages
        stamps = self._stamps
        opened = await self._run_read(
            lambda c: views.open_view(driver_connection(c), mailbox_id, self._views, minimum, stamps)
        )
        self._after_open(opened, announce=announce)
        return opened

    def open_in(self, raw: sqlite3.Connection, mailbox_id: MailboxId) -> MailboxView:
        """The mailbox's view in the read transaction of ``raw`` (a reader job's, before its first
        statement), through this process's cache: for a read that needs the current view with other
        rows of the same snapshot (``KeptOrders``). No snapshot is stored from here."""
        minimum = self._settings.view_snapshot_min_messages
        return views.open_view(raw, mailbox_id, self._views, minimum, self._stamps).view

    def prefetch_view(self, mailbox_id: MailboxId) -> None:
        """Read the mailbox's view into this process's cache in the background, unless a current
        one is there already (another worker's client opened it, or changed its row: the next
        SELECT here is answered at once). A view held but no longer provably current is brought
        forward (a delta read); without stamps, any view held counts as there."""
        if self._closed:
            return
        if mailbox_id in self._prefetching:
            self._again.add(mailbox_id)  # the read under way may have begun before the change
            return
        stamps = self._stamps
        if stamps is None:
            held = self._views.get(mailbox_id) is not None
        else:
            held = self._views.current(mailbox_id, stamps.read(mailbox_id)) is not None
        if held:
            return
        task = asyncio.get_running_loop().create_task(self._prefetch(mailbox_id))
        self._prefetching[mailbox_id] = task
        task.add_done_callback(lambda _: self._prefetched(mailbox_id))

    def warm_view(self, mailbox_id: MailboxId, messages: int) -> None:
        """Another worker's housekeeper stored a new snapshot of this mailbox of ``messages``
        messages: read its view in the background (``prefetch_view``: the snapshot and the short
        delta after it, or a delta from an older view held here) when ``store.view_snapshot_warm``
        is on and the view fits in the cache without evicting a view clients use."""
        if self._settings.view_snapshot_warm and self._views.has_room(mailbox_id, messages):
            log.debug("warming the view of mailbox %d from its new snapshot", mailbox_id)
            self.prefetch_view(mailbox_id)

    def _prefetched(self, mailbox_id: MailboxId) -> None:
        self._prefetching.pop(mailbox_id, None)
        if mailbox_id in self._again:
            self._again.discard(mailbox_id)
            self.prefetch_view(mailbox_id)

    def row_changed(self, mailbox_id: MailboxId) -> None:
        """A write changed the mailbox's row and none of its messages (``Store.take_recent``
        raising the \\Recent boundary): every cached view of it is stale by its stamp, though only
        the row differs. When this process holds a big one, bring it forward in the background
        and have the other workers do the same with theirs (``view_loaded``), so that the next
        SELECT of it, in any worker, finds a current view instead of reading one."""
        view = self._views.get(mailbox_id)
        if view is None or len(view) < self._settings.view_snapshot_min_messages:
            return
        self.prefetch_view(mailbox_id)
        if self.view_loaded is not None:
            self.view_loaded(mailbox_id)

    async def _prefetch(self, mailbox_id: MailboxId) -> None:
        try:
            await self.open_view_traced(mailbox_id, announce=False)
        except NotFound:
            pass  # deleted since
        except Exception as exc:  # only a head start: the next SELECT reads it itself
            log.warning("view of mailbox %d not prefetched: %s", mailbox_id, exc)

    def mailbox_hint(self, account_id: AccountId, name: str) -> MailboxId | None:
        """The id the account's mailbox of that name had when this process last opened its view (no
        read: a hint to check, see ``open_named_view``)."""
        return self._views.named(account_id, name)

    def current_view(self, mailbox_id: MailboxId) -> MailboxView | None:
        """The view this process holds of the mailbox when it is provably current (no commit touched
        the mailbox since it was read: ``view_stamps``), else None. No thread hop, no read."""
        stamps = self._stamps
        view = None if stamps is None else self._views.current(mailbox_id, stamps.read(mailbox_id))
        if view is not None:
            self._announce(view)
        return view

    async def open_named_view(
        self, account_id: AccountId, name: str, guess: MailboxId | None = None
    ) -> MailboxView | None:
        """The view of the account's mailbox of that name (None: no such mailbox), the lookup and
        the view in one read. ``guess`` (``mailbox_hint``): the id it probably has."""
        minimum = self._settings.view_snapshot_min_messages
        stamps = self._stamps
        opened = await self._run_read(
            lambda c: views.open_named_view(
                driver_connection(c), account_id, name, guess, self._views, minimum, stamps
            )
        )
        if opened is None:
            return None
        self._after_open(opened)
        view = opened.view
        if stamps is not None and opened.any_stamp is not None and stamps.read_any() == opened.any_stamp:
            # No mailbox changed since before the read began: the view is current, as of the
            # mailbox's stamp now (how a process that did not know the id stamps it).
            mailbox_id = view.mailbox.id
            self._views.confirm(mailbox_id, view, stamps.read(mailbox_id))
        return view

    def _after_open(self, opened: views.Opened, *, announce: bool = True) -> None:
        if opened.store_snapshot:
            self._store_snapshot(opened.view)
        if announce:
            self._announce(opened.view)

    def _announce(self, view: MailboxView) -> None:
        """Call ``view_loaded`` the first time this process serves a client a big mailbox's view."""
        loaded, announced, mailbox_id = self.view_loaded, self._announced, view.mailbox.id
        if loaded is None or mailbox_id in announced:
            return
        if len(view) >= self._settings.view_snapshot_min_messages:
            if len(announced) >= 4096:
                announced.clear()
            announced.add(mailbox_id)
            loaded(mailbox_id)

    def _store_snapshot(self, view: MailboxView) -> None:
        """Store the view's snapshot in the background (the caller does not wait for the writer)."""
        mailbox_id = view.mailbox.id
        if mailbox_id not in self._saving and not self._closed:
            task = asyncio.get_running_loop().create_task(self._save_snapshot(view))
            self._saving[mailbox_id] = task
            task.add_done_callback(lambda _: self._saving.pop(mailbox_id, None))

    async def _save_snapshot(self, view: MailboxView) -> None:
        snapshot = await asyncio.to_thread(views.pack_snapshot, view)
        if snapshot is None:
            return
        try:
            await self._run_write(lambda c, e: views.save_snapshot(driver_connection(c), snapshot))
        except Exception as exc:  # derived data: a failed save costs the next process a full read
            log.warning("view snapshot of mailbox %d not stored: %s", view.mailbox.id, exc)

    async def refresh_snapshots(self, limit: int = 100) -> int:
        """Store a new snapshot of up to ``limit`` big mailboxes whose stored one is missing or
        ``store.view_snapshot_behind`` changes behind (the housekeeper's job, off any session's
        path), so that a process opening one reads it and a short delta. Returns how many."""
        settings = self._settings
        minimum, behind = settings.view_snapshot_min_messages, settings.view_snapshot_behind
        stale = await self._run_read(
            lambda c: views.stale_snapshots(driver_connection(c), minimum, behind, limit)
        )
        stored: list[MailboxView] = []
        for mailbox_id in stale:
            try:
                opened = await self.open_view_traced(mailbox_id, announce=False)  # no client's use
            except NotFound:
                continue  # deleted since
            if not opened.store_snapshot:  # else it is being stored already
                await self._save_snapshot(opened.view)
            stored.append(opened.view)
        await self.wait_snapshots()
        if self.snapshot_stored is not None:
            for view in stored:
                self.snapshot_stored(view.mailbox.id, len(view))
        return len(stale)

    async def wait_snapshots(self) -> None:
        """Wait for the snapshots being stored (tests, benches, close)."""
        while self._saving:
            await asyncio.gather(*list(self._saving.values()), return_exceptions=True)

    async def close(self) -> None:
        """Stop the prefetches and wait for the snapshots being stored."""
        self._closed = True
        for task in list(self._prefetching.values()):
            task.cancel()
        await asyncio.gather(*self._prefetching.values(), return_exceptions=True)
        await self.wait_snapshots()
