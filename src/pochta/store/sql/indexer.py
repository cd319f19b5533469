"""The background indexer, the same on both engines: what a batch is belongs to each engine's
``index_pending``; when the next one runs (``run_indexer``) and the task that runs it
(``IndexerMethods``, mixed into both stores) are decided here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pochta.config import SearchSettings, Settings
from pochta.store.model import IndexResult

__all__ = ["IndexerMethods", "run_indexer"]

log = logging.getLogger(__name__)


async def run_indexer(
    index_pending: Callable[[], Awaitable[IndexResult]],
    wake: asyncio.Event,
    settings: SearchSettings,
    closed: Callable[[], bool],
) -> None:
    """Index until cancelled: batches back to back while each is cut by its limits (a backlog),
    ``settings.index_pause`` seconds after one that took all there was (deliveries still arriving:
    the next batch is bigger and rounds are fewer), then a look every ``settings.index_interval``
    seconds once nothing was found, or at once when ``wake`` is set. An error is logged and retried
    after the interval; once the store is ``closed`` the loop ends."""
    while True:
        wake.clear()  # a wake-up during the batch below ends the wait after it
        try:
            result = await index_pending()
            busy = result.done > 0 or bool(result.fill) or result.threaded > 0
            more = result.more or bool(result.fill)
        except asyncio.CancelledError:
            raise
        except Exception:
            if closed():
                return
            log.exception("search indexer: a batch failed")
            busy = more = False
        if more:
            continue
        with contextlib.suppress(TimeoutError):
            # not wait_for: test_quality
            async with asyncio.timeout(settings.index_pause if busy else settings.index_interval):
                await wake.wait()


class IndexerMethods:
    """The store's background indexer task: mixed into ``SqliteStore`` and ``PgStore``, which
    provide ``index_pending``, ``settings`` and ``_closed``."""

    settings: Settings
    _closed: bool
    # Created on first use: a mixin has no __init__.
    _indexer: asyncio.Task[None] | None = None
    _indexer_event: asyncio.Event | None = None

    if TYPE_CHECKING:  # the store's own batch; declared for the type checker only

        async def index_pending(self, limit: int | None = None) -> IndexResult: ...

    def _indexer_wake(self) -> asyncio.Event:
        if self._indexer_event is None:
            self._indexer_event = asyncio.Event()
        return self._indexer_event

    async def run_indexer(self) -> None:
        """Index until cancelled (``run_indexer`` above: when batches run)."""

        def closed() -> bool:
            return self._closed

        await run_indexer(self.index_pending, self._indexer_wake(), self.settings.search, closed)

    def start_indexer(self) -> None:
        """Run ``run_indexer`` as a task of the running loop until the store closes."""
        if self._indexer is None:
            self._indexer = asyncio.get_running_loop().create_task(self.run_indexer(), name="pochta-indexer")

    async def stop_indexer(self) -> None:
        """Stop the background indexer of this store (``index_pending`` still works)."""
        task, self._indexer = self._indexer, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake_indexer(self) -> None:
        """Look at the queue now rather than at the next interval (tests, the CLI)."""
        self._indexer_wake().set()
