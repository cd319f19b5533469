"""The fetch scheduler (pochta.fetch.schedule): due accounts run, at most fetch.max_parallel at a
time, each once while it runs; a run that raises is put back later instead of looping."""

from __future__ import annotations

import asyncio
import time

from pochta.config import Settings
from pochta.fetch import FetchReport
from pochta.fetch.schedule import run_fetch_scheduler
from pochta.store.fetch_model import FetchAccount
from pochta.store.model import AccountId


class Store:
    def __init__(self, count: int) -> None:
        self.next_run = {n: 0 for n in range(1, count + 1)}
        self.scheduled: dict[int, int] = {}

    async def due_fetch_accounts(self, now: int, limit: int) -> list[FetchAccount]:
        due = sorted(n for n, at in self.next_run.items() if at <= now)[:limit]
        return [FetchAccount(AccountId(1), "pop3", "h", 995, "implicit", "l", "s", id=n) for n in due]

    async def schedule_fetch(self, fetch_id: int, next_run: int) -> None:
        self.scheduled[fetch_id] = next_run
        self.next_run[fetch_id] = next_run


class Fetcher:
    """Runs take 300 ms (three looks of the scheduler); the runs of account 3 raise (a bug, or the
    store failing)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.running = 0
        self.most = 0
        self.runs: list[int] = []

    async def run(self, account: FetchAccount) -> FetchReport:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0.3)
            self.runs.append(account.id)
            if account.id == 3:
                raise RuntimeError("boom")
            self.store.next_run[account.id] = int(time.time()) + 3600  # as Fetcher._record does
            return FetchReport(account.id, "pop3://l@h:995")
        finally:
            self.running -= 1


async def test_parallel_limit_and_a_failing_run() -> None:
    settings = Settings.model_validate({"fetch": {"max_parallel": 2, "check_interval": 0.1}})
    store = Store(5)
    fetcher = Fetcher(store, settings)
    task = asyncio.create_task(run_fetch_scheduler(fetcher))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(10):
            while len(set(fetcher.runs)) < 5:  # noqa: ASYNC110 - the fake's own record
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert fetcher.most == 2
    assert sorted(fetcher.runs) == [1, 2, 3, 4, 5]  # each once: account 3 was put back, not retried at once
    assert store.scheduled[3] >= time.time() + settings.fetch.backoff_initial - 5
