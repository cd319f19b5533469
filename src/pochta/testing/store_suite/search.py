"""Search: BODY/TEXT and header searches before and after the background indexer, the indexer's
queue across handles, reconstruct and verify of the index."""

from __future__ import annotations

import asyncio

import pytest

from pochta.store.api import Store
from pochta.testing.store_suite.support import (
    StoreFactory,
    deliver,
    mailbox,
    make_account,
    make_message,
)

__all__ = [
    "test_index_claims_across_handles_are_disjoint",
    "test_index_drops_expunged_messages",
    "test_nul_decoded_from_headers_is_left_out_of_search_and_sort_rows",
    "test_reconstruct_rebuilds_the_index",
    "test_search_header_fields",
    "test_search_is_exact_before_and_after_indexing",
]


async def _catch_up(store: Store) -> int:
    done = 0
    while True:
        result = await store.index_pending(7)  # small batches: several transactions
        done += result.done
        if not result.done and not result.fill:
            return done


async def test_search_is_exact_before_and_after_indexing(store: Store) -> None:
    await store.stop_indexer()
    account = await make_account(store)
    inbox = await mailbox(store, account)
    await deliver(store, make_message("Quarterly report", "Revenue grew in Zürich, Istanbul"), inbox.id)
    await deliver(store, make_message("Lunch", "Shall we meet at noon? QUARTERLY numbers later."), inbox.id)
    assert await store.index_backlog() == 2

    async def check() -> None:
        assert await store.search_text(inbox.id, "revenue grew", "body") == {1}
        assert await store.search_text(inbox.id, "quarterly", "body") == {2}
        assert await store.search_text(inbox.id, "quarterly", "text") == {1, 2}
        assert await store.search_text(inbox.id, "ZÜRICH", "body") == {1}
        assert await store.search_text(inbox.id, "istanbul", "text") == {1}
        assert await store.search_text(inbox.id, "grew in zürich, ist", "body") == {1}  # a long string
        assert await store.search_text(inbox.id, "noon?", "body") == {2}
        assert await store.search_text(inbox.id, "on", "body") == {2}  # shorter than a trigram
        assert await store.search_text(inbox.id, "revenue shrank", "body") == set()  # same trigrams, not all
        assert await store.search_header(inbox.id, "subject", "REPORT") == ({1}, set())

    await check()  # nothing indexed yet: every message checked directly
    assert await _catch_up(store) == 2
    assert await store.index_backlog() == 0
    await check()  # through the index


async def test_nul_decoded_from_headers_is_left_out_of_search_and_sort_rows(store: Store) -> None:
    # An encoded word may decode to NUL (=00): delivery and indexing keep working (PostgreSQL's text
    # refuses NUL), and the message is found and sorted by the rest of its text.
    inbox = await mailbox(store, await make_account(store))
    data = (
        b"From: =?utf-8?q?Eve=00_Null?= <eve@example.net>\r\n"
        b"To: =?utf-8?q?=00?= <team@example.org>\r\n"
        b"Subject: =?utf-8?q?zero=00byte?=\r\n"
        b"Message-ID: <nul@example.net>\r\n"
        b"\r\nbody with a \x00 NUL\r\n"
    )
    await deliver(store, data, inbox.id)
    await deliver(store, make_message("Other", "x"), inbox.id)
    await store.index_pending()
    assert await store.index_backlog() == 0
    assert await store.search_header(inbox.id, "subject", "zerobyte") == ({1}, set())
    assert await store.search_header(inbox.id, "from", "eve null") == ({1}, set())
    assert await store.search_text(inbox.id, "nul", "body") == {1}
    assert await store.sort_order(inbox.id, [1, 2], [("subject", False)]) == [2, 1]
    [row] = await store.sort_keys(inbox.id, [1], ["subject"])
    assert row.keys.subject == "ZEROBYTE"  # casemapped (RFC 5256 §2.1), without the NUL


async def test_search_header_fields(store: Store) -> None:
    account = await make_account(store)
    inbox, archive = await mailbox(store, account), await mailbox(store, account, "Archive")
    encoded = (
        b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.net>\r\n"
        b"To: Team <team@example.org>, boss@example.org\r\n"
        b"Cc: audit@example.org\r\n"
        b"Subject: =?utf-8?b?VGhlIE1FRVRJTkcgbm90ZXM=?=\r\n"
        b"List-Id: Dev list <dev.example.org>\r\n"
        b"\r\nbody\r\n"
    )
    await deliver(store, encoded, inbox.id, archive.id)
    await deliver(store, make_message("Other", "x"), inbox.id)
    await deliver(store, b"Subject:\r\n\r\nno from, empty subject\r\n", inbox.id)
    assert await store.search_header(inbox.id, "subject", "meeting") == ({1}, set())  # decoded, any case
    assert await store.search_header(inbox.id, "SUBJECT", "the meeting notes") == ({1}, set())
    assert await store.search_header(inbox.id, "from", "jürgen") == ({1}, set())
    assert await store.search_header(inbox.id, "from", "JM@EXAMPLE") == ({1}, set())
    assert await store.search_header(inbox.id, "to", "boss@") == ({1}, set())
    assert await store.search_header(inbox.id, "cc", "audit") == ({1}, set())
    assert await store.search_header(inbox.id, "list-id", "dev.example") == ({1}, set())
    assert await store.search_header(inbox.id, "bcc", "") == (set(), set())
    # "" matches the messages that have the field, even empty.
    assert await store.search_header(inbox.id, "subject", "") == ({1, 2, 3}, set())
    assert await store.search_header(inbox.id, "from", "") == ({1, 2}, set())
    assert await store.search_header(archive.id, "subject", "meeting") == ({1}, set())  # per mailbox
    assert await store.search_header(inbox.id, "subject", "sender") == (set(), set())  # not in From
    with pytest.raises(ValueError, match="not kept"):
        await store.search_header(inbox.id, "x-spam", "yes")  # not kept: the caller reads records


async def test_index_drops_expunged_messages(store: Store) -> None:
    await store.stop_indexer()
    account = await make_account(store)
    inbox = await mailbox(store, account)
    data = make_message("gone", "a vanishing platypus")
    await deliver(store, data, inbox.id)
    await deliver(store, make_message("kept", "a staying platypus"), inbox.id)
    await _catch_up(store)
    await store.expunge(inbox.id, [1])
    assert await store.search_text(inbox.id, "platypus", "body") == {2}
    assert await store.index_backlog() == 1  # its index entry is still to remove
    result = await store.index_pending()
    assert result.dropped == 1
    assert await store.search_text(inbox.id, "vanishing", "body") == set()
    # Delivered again (a new message row): found, before and after indexing.
    await deliver(store, data, inbox.id)
    assert await store.search_text(inbox.id, "vanishing", "body") == {3}
    await _catch_up(store)
    assert await store.search_text(inbox.id, "vanishing", "body") == {3}
    # Delivered and expunged before the indexer saw it: nothing is left to do.
    await deliver(store, make_message("brief", "ephemeral"), inbox.id)
    await store.expunge(inbox.id, [4])
    assert await store.index_backlog() == 0
    assert await store.search_text(inbox.id, "ephemeral", "text") == set()


async def test_index_claims_across_handles_are_disjoint(store_factory: StoreFactory) -> None:
    # Two handles on one store are two writers, as two processes: each batch claims its rows inside
    # its write transaction, so every message is indexed exactly once.
    first, second = await store_factory(), await store_factory()
    try:
        for handle in (first, second):
            await handle.stop_indexer()
        account = await make_account(first)
        inbox = await mailbox(first, account)
        words = [f"zebra{n:03d}word" for n in range(60)]
        placed = await asyncio.gather(
            *(deliver(first, make_message(w, f"text {w}", n), inbox.id) for n, w in enumerate(words))
        )
        assert await first.index_backlog() == 60
        done = await asyncio.gather(_catch_up(first), _catch_up(second))
        assert sum(done) == 60
        assert await second.index_backlog() == 0
        assert await second.search_text(inbox.id, "zebra", "body") == set(range(1, 61))
        assert await first.search_text(inbox.id, "zebra042word", "text") == {placed[42][0].uid}
    finally:
        await first.close()
        await second.close()


async def test_reconstruct_rebuilds_the_index(store: Store) -> None:
    await store.stop_indexer()
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(5):
        await deliver(store, make_message(f"message {n}", f"body of lemur{n}"), inbox.id)
    await _catch_up(store)
    report = await store.verify()
    assert (report.search_backlog, report.search_missing, report.damaged) == (0, [], False)
    dry = await store.reconstruct(dry_run=True)
    assert dry.search_queued == 0
    assert await store.index_backlog() == 0
    rebuilt = await store.reconstruct()
    assert rebuilt.search_queued == 5
    verified = await store.verify()
    assert (verified.search_backlog, verified.damaged) == (5, False)  # a backlog is not damage
    assert await store.search_text(inbox.id, "lemur3", "body") == {4}  # exact meanwhile
    assert await _catch_up(store) == 5
    assert await store.search_text(inbox.id, "lemur3", "body") == {4}
    assert await store.search_header(inbox.id, "subject", "message 3") == ({4}, set())
