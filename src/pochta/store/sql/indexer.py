"""The background indexer's loop, the same on both engines (``SqliteStore.run_indexer`` and
``pg/search_methods``): what a batch is belongs to each engine's ``index_pending``; when the next
one runs is decided here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from pochta.config import SearchSettings
from pochta.store.model import IndexResult

__all__ = ["run_indexer"]

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
