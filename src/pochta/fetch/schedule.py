"""The fetch scheduler: in exactly one process of a server (the housekeeper, ``server.lease``), it
looks for external accounts whose next run is due every ``fetch.check_interval`` seconds and runs
them, at most ``fetch.max_parallel`` at a time. When to run an account next is the fetcher's rule
(poll interval after a success, jittered exponential backoff after errors: ``Fetcher._record``).

A run that ``pochta fetch run`` holds at the same moment is skipped (the account's lock), and taken
again at its next due time."""

from __future__ import annotations

import asyncio
import time

from pochta.fetch.fetcher import Fetcher
from pochta.log import get_logger
from pochta.store.fetch_model import FetchAccount

__all__ = ["run_fetch_scheduler"]


async def run_fetch_scheduler(fetcher: Fetcher) -> None:
    """Until cancelled (the runs in progress are cancelled with it: a run killed at any point loses
    nothing, docs/fetch.md)."""
    log = get_logger(task="fetch-scheduler")
    running: dict[int, asyncio.Task[None]] = {}

    async def one(account: FetchAccount) -> None:
        try:
            report = await fetcher.run(account)
            if report.busy:
                # Another process runs it now (``pochta fetch run``): look again after one poll.
                await fetcher.store.schedule_fetch(
                    account.id, int(time.time() + fetcher.settings.fetch.poll_interval)
                )
        except Exception as exc:  # a bug or the store failing: logged, the account tried again later
            log.error("fetch run failed", fetch_id=account.id, error=repr(exc))
            later = int(time.time() + fetcher.settings.fetch.backoff_initial)
            try:
                await fetcher.store.schedule_fetch(account.id, later)
            except Exception as again:  # the store is failing: the next look finds it due again
                log.error("rescheduling a fetch failed", fetch_id=account.id, error=repr(again))
        finally:
            running.pop(account.id, None)

    try:
        while True:
            settings = fetcher.settings.fetch
            free = settings.max_parallel - len(running)
            if free > 0:
                try:
                    due = await fetcher.store.due_fetch_accounts(int(time.time()), free + len(running))
                except Exception as exc:  # the store is busy or failing: try again at the next look
                    log.error("reading due fetch accounts failed", error=repr(exc))
                    due = []
                for account in due:
                    if account.id in running or len(running) >= settings.max_parallel:
                        continue
                    running[account.id] = asyncio.create_task(one(account))
            await asyncio.sleep(settings.check_interval)
    finally:
        tasks = list(running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
