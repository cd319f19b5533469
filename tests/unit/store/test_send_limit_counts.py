"""Sending limits in the store: the charge in the queue's write transaction (revision 0030)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pochta.config import Settings
from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient
from pochta.store.send_limit_model import (
    SendCharge,
    SendLimitOverride,
    SendLimitReached,
    SendLimits,
    window_start,
)
from pochta.store.sqlite.store import SqliteStore, open_sqlite_store

HOUR = 1_800_000_000 - 1_800_000_000 % 3600  # the start of a clock hour


async def _send(store: SqliteStore, charge: SendCharge, recipients: int = 1) -> bool:
    """Queue one message under ``charge``: True if it was queued."""
    blob = await store.new_blob(b"Subject: x\r\n\r\nbody\r\n")
    rcpts = tuple(NewQueueRecipient(f"r{n}@example.net") for n in range(recipients))
    entry = NewQueueEntry(blob, "a@example.org", rcpts, "submission", datetime.now(UTC), charge=charge)
    try:
        await store.enqueue(entry)
    except SendLimitReached:
        return False
    return True


def _charge(now: int, recipients: int = 1, **defaults: int) -> SendCharge:
    return SendCharge("a@example.org", "example.org", recipients, now, SendLimits(**defaults))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    handle = await open_sqlite_store(tmp_path / "data", Settings())
    yield handle
    await handle.close()


def test_windows_start_on_the_clock_hour_and_the_utc_day() -> None:
    assert window_start("hour", HOUR + 3599) == HOUR
    assert window_start("hour", HOUR + 3600) == HOUR + 3600
    assert window_start("day", 86400 * 3 + 5) == 86400 * 3


async def test_the_hour_limit_refuses_and_counts_nothing_more(store: SqliteStore) -> None:
    for _ in range(2):
        assert await _send(store, _charge(HOUR + 10, messages_per_hour=2))
    with pytest.raises(SendLimitReached) as refused:
        await store.enqueue(
            NewQueueEntry(
                await store.new_blob(b"x\r\n"),
                "a@example.org",
                (NewQueueRecipient("b@example.net"),),
                "submission",
                datetime.now(UTC),
                charge=_charge(HOUR + 20, messages_per_hour=2),
            )
        )
    hit = refused.value
    assert (hit.scope, hit.kind, hit.period, hit.limit, hit.start) == ("account", "messages", "hour", 2, HOUR)
    assert len(await store.queue_entries()) == 2  # the refused one was not queued
    counts = {c.period: c for c in await store.send_counts("account", "a@example.org", HOUR + 30)}
    assert (counts["hour"].messages, counts["day"].messages) == (2, 2)
    # The next hour starts afresh; the day keeps counting.
    assert await _send(store, _charge(HOUR + 3600, messages_per_hour=2))
    counts = {c.period: c for c in await store.send_counts("account", "a@example.org", HOUR + 3600)}
    assert (counts["hour"].messages, counts["day"].messages) == (1, 3)


async def test_recipients_count_per_message(store: SqliteStore) -> None:
    assert await _send(store, _charge(HOUR, 3, recipients_per_day=4), recipients=3)
    assert not await _send(store, _charge(HOUR, 2, recipients_per_day=4), recipients=2)
    assert await _send(store, _charge(HOUR, 1, recipients_per_day=4), recipients=1)
    hit = await store.send_limit_check(_charge(HOUR, 1, recipients_per_day=4))
    assert hit is not None
    assert (hit.kind, hit.period, hit.limit) == ("recipients", "day", 4)


async def test_overrides_win_over_defaults_and_domains_count_all_accounts(store: SqliteStore) -> None:
    await store.set_send_limit_override(SendLimitOverride("account", "a@example.org", messages_per_hour=1))
    assert await _send(store, _charge(HOUR, messages_per_hour=50))
    assert not await _send(store, _charge(HOUR, messages_per_hour=50))
    await store.set_send_limit_override(SendLimitOverride("account", "a@example.org", messages_per_hour=0))
    assert await _send(store, _charge(HOUR, messages_per_hour=1))  # 0: unlimited
    await store.set_send_limit_override(SendLimitOverride("domain", "example.org", messages_per_day=3))
    other = SendCharge("b@example.org", "example.org", 1, HOUR, SendLimits())
    assert await _send(store, other)  # the domain's third message of the day
    hit = await store.send_limit_check(other)
    assert hit is not None
    assert (hit.scope, hit.name, hit.period) == ("domain", "example.org", "day")


async def test_concurrent_submissions_at_the_edge_pass_exactly_the_limit(tmp_path: Path) -> None:
    # Two stores on one data directory, as two worker processes have: each its own writer thread,
    # taking turns at the database. Twenty submissions race for a limit of 7.
    first = await open_sqlite_store(tmp_path / "data", Settings())
    second = await open_sqlite_store(tmp_path / "data", Settings())
    try:
        charge = _charge(HOUR, messages_per_hour=7)
        results = await asyncio.gather(*(_send(s, charge) for s in [first, second] * 10))
        assert sum(results) == 7
        assert len(await first.queue_entries()) == 7
        [hour, _day] = await second.send_counts("account", "a@example.org", HOUR)
        assert hour.messages == 7
    finally:
        await first.close()
        await second.close()


async def test_counts_of_ended_windows_are_pruned(store: SqliteStore) -> None:
    assert await _send(store, _charge(HOUR - 86400))  # yesterday: its hour and day rows
    assert await _send(store, SendCharge("b@example.org", "example.org", 1, HOUR, SendLimits()))
    # The domain's charge today dropped its own rows of yesterday; the pruner takes a@'s two (its
    # hour and day of yesterday), and leaves today's of b@ and the domain.
    assert await store.prune_send_counts(HOUR + 10) == 2
    [hour, day] = await store.send_counts("account", "b@example.org", HOUR + 10)
    assert (hour.messages, day.messages) == (1, 1)
    [hour, day] = await store.send_counts("domain", "example.org", HOUR + 10)
    assert (hour.messages, day.messages) == (1, 1)


async def test_a_units_limits_come_between_the_config_and_the_accounts_own(store: SqliteStore) -> None:
    # docs/units.md: the nearest unit's send.* value replaces the config default; the account's own
    # override (``send_limits``) still wins over both.
    await store.add_domain("example.org")
    await store.add_account("a@example.org", "x", None)
    await store.add_unit("staff")
    await store.add_unit("sales", parent="staff")
    await store.set_unit_settings("staff", {"send.messages_per_hour": 1})
    await store.set_account_unit("a@example.org", "sales")
    assert await _send(store, _charge(HOUR + 1, messages_per_hour=5))
    assert not await _send(store, _charge(HOUR + 2, messages_per_hour=5))  # staff's 1, not the config's 5
    hit = await store.send_limit_check(_charge(HOUR + 3, messages_per_hour=5))
    assert hit is not None
    assert (hit.scope, hit.limit) == ("account", 1)
    await store.set_send_limit_override(SendLimitOverride("account", "a@example.org", messages_per_hour=3))
    assert await _send(store, _charge(HOUR + 4, messages_per_hour=5))  # its own 3
    await store.set_send_limit_override(SendLimitOverride("account", "a@example.org"))
    await store.set_unit_settings("staff", {"send.messages_per_hour": None})
    for second in (5, 6, 7):  # the config's 5 again: the 3rd, 4th and 5th message of the hour go
        assert await _send(store, _charge(HOUR + second, messages_per_hour=5))
    assert not await _send(store, _charge(HOUR + 8, messages_per_hour=5))
    with pytest.raises(ValueError, match="a unit's setting"):
        await store.set_account_settings("a@example.org", {"send.messages_per_hour": 1})
