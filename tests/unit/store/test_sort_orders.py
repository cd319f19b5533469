"""Kept sort orders (store/sqlite/sort_orders.py): a SORT by one key of a big mailbox is a filter of an order
kept per process and brought forward to the mailbox's view. Its answers must be SQLite's
(``sqlite_sortkeys.ordered_uids``) after every kind of change: deliveries (keys kept by the indexer
or derived on the way), expunges, flag changes, messages arriving in bulk, a new UIDVALIDITY."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pochta.config import Settings
from pochta.store.model import MailboxInfo
from pochta.store.sqlite.sortkeys import ORDER_KEYS
from pochta.store.sqlite.store import SqliteStore, open_sqlite_store
from pochta.testing.store_suite.support import deliver, mailbox, make_account

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SUBJECTS = ["Lunch", "Re: lunch", "agenda", "Ärger", "", "[fwd: Lunch]", "zebra", "ÉTÉ"]
PEOPLE = ["Zoe <zoe@example.net>", "adam@example.net", "=?utf-8?q?=C3=89mile?= <e@example.net>", "bea@x.org"]


def _message(rng: random.Random, n: int) -> bytes:
    lines = [
        f"From: {rng.choice(PEOPLE)}",
        f"To: {rng.choice(PEOPLE)}",
        f"Subject: {rng.choice(SUBJECTS)}",
        f"Message-ID: <{n}@x>",
    ]
    if rng.random() < 0.8:  # else the internal date is the sent date (RFC 5256 §2.2)
        lines.append(f"Date: Mon, 0{rng.randint(1, 4)} Nov 2026 {rng.randint(10, 12)}:00:00 +0000")
    if rng.random() < 0.3:
        lines.append(f"Cc: {rng.choice(PEOPLE)}")
    return ("\r\n".join(lines) + "\r\n\r\n" + "x" * rng.randint(1, 5) + "\r\n").encode()


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStore]]:
    """One store with kept orders for any mailbox of 2 messages or more, one ordering in SQLite."""
    kept = await open_sqlite_store(
        tmp_path / "data", Settings.model_validate({"store": {"sort_cache_min_messages": 2}})
    )
    plain = await open_sqlite_store(
        tmp_path / "data", Settings.model_validate({"store": {"sort_cache_mb": 0}})
    )
    try:
        yield kept, plain
    finally:
        await kept.close()
        await plain.close()


async def _fill(store: SqliteStore, rng: random.Random, inbox: MailboxInfo, count: int, first: int) -> None:
    for n in range(first, first + count):
        when = T0 + timedelta(minutes=rng.randint(0, 3000))
        await deliver(store, _message(rng, n), inbox.id, when=when)


async def _check(kept: SqliteStore, plain: SqliteStore, inbox: MailboxInfo, rng: random.Random) -> int:
    """Every key, both directions, over the whole mailbox and a random half: the same as SQLite's."""
    uids = list((await plain.open_view(inbox.id)).uids)
    half = sorted(rng.sample(uids, len(uids) // 2))
    checked = 0
    for name in ORDER_KEYS:
        for descending in (False, True):
            for searched in (uids, half):
                expected = await plain.sort_order(inbox.id, searched, [(name, descending)])
                assert await kept.sort_order(inbox.id, searched, [(name, descending)]) == expected, name
                checked += 1
    assert kept._kept_orders.held_bytes() > 0  # answered from kept orders
    assert plain._kept_orders.held_bytes() == 0
    return checked


async def test_kept_orders_follow_every_change(stores: tuple[SqliteStore, SqliteStore]) -> None:
    kept, plain = stores
    rng = random.Random(5)
    inbox = await mailbox(kept, await make_account(kept))
    await _fill(kept, rng, inbox, 40, 0)
    assert await _check(kept, plain, inbox, rng) == 36
    # deliveries: without keys yet (derived by the SORT), then with the indexer's
    await kept.stop_indexer()
    await _fill(plain, rng, inbox, 3, 100)
    await _check(kept, plain, inbox, rng)
    await kept.index_pending()
    await _fill(kept, rng, inbox, 2, 200)
    await kept.index_pending()
    await _check(kept, plain, inbox, rng)
    # flags change, nothing else does
    uids = list((await kept.open_view(inbox.id)).uids)
    await plain.set_flags(inbox.id, uids[::2], "add", ["\\Seen", "$x"])
    await _check(kept, plain, inbox, rng)
    # expunges (by the other store), then expunges and deliveries between two SORTs
    await plain.expunge(inbox.id, uids[1:12:3])
    await _check(kept, plain, inbox, rng)
    await kept.expunge(inbox.id, uids[20:24])
    await _fill(plain, rng, inbox, 4, 300)
    await _check(kept, plain, inbox, rng)
    # more new messages than a quarter of the box: the order is built again
    await _fill(kept, rng, inbox, 20, 400)
    await _check(kept, plain, inbox, rng)


async def test_a_new_uidvalidity_starts_the_order_again(stores: tuple[SqliteStore, SqliteStore]) -> None:
    kept, plain = stores
    rng = random.Random(7)
    account = await make_account(kept)
    box = await kept.create_mailbox(account.id, "Box")
    await _fill(kept, rng, box, 10, 0)
    await _check(kept, plain, box, rng)
    await kept.delete_mailbox(account.id, "Box")
    again = await kept.create_mailbox(account.id, "Box")
    await _fill(plain, rng, again, 10, 50)
    await _check(kept, plain, again, rng)


async def test_small_mailboxes_and_several_keys_are_ordered_by_sqlite(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    kept, plain = stores
    rng = random.Random(9)
    inbox = await mailbox(kept, await make_account(kept))
    await _fill(kept, rng, inbox, 1, 0)
    uids = list((await kept.open_view(inbox.id)).uids)
    assert await kept.sort_order(inbox.id, uids, [("subject", False)]) == uids
    await _fill(kept, rng, inbox, 5, 1)
    uids = list((await kept.open_view(inbox.id)).uids)
    two = [("subject", True), ("date", False)]
    assert await kept.sort_order(inbox.id, uids, two) == await plain.sort_order(inbox.id, uids, two)
    assert kept._kept_orders.held_bytes() == 0
