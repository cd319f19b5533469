"""Object data of messages: THREADID assignment (RFC 8474 §5.2) off the delivery path, the save date
of every write that adds a message to a mailbox (RFC 8514 §3), and the stored preview (RFC 8970)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from pochta.store.api import Store
from pochta.store.model import MailboxId, ObjectRow
from pochta.testing.store_suite.support import deliver, mailbox, make_account

__all__ = [
    "test_save_date_of_every_write",
    "test_thread_now_threads_what_the_indexer_has_not",
    "test_threads_follow_references_per_account",
]


def mail(mid: str, *, refs: str = "", irt: str = "", body: str = "Hello") -> bytes:
    head = f"From: a@example.net\r\nTo: alice@example.org\r\nSubject: s\r\nMessage-ID: {mid}\r\n"
    if refs:
        head += f"References: {refs}\r\n"
    if irt:
        head += f"In-Reply-To: {irt}\r\n"
    return (head + f"Content-Type: text/plain\r\n\r\n{body}\r\n").encode()


async def _threads(store: Store, mailbox_id: MailboxId) -> dict[int, int | None]:
    return {row.uid: row.thread_id for row in await store.message_objects(mailbox_id, None)}


async def _index_all(store: Store) -> int:
    threaded = 0
    while (result := await store.index_pending(3)).threaded or result.done or result.fill:
        threaded += result.threaded
    return threaded


async def test_threads_follow_references_per_account(store: Store) -> None:
    await store.stop_indexer()
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    inbox, archive = await mailbox(store, alice), await mailbox(store, alice, "Archive")
    bob_inbox = await mailbox(store, bob)
    await deliver(store, mail("<a@x>"), inbox.id)  # uid 1: starts a thread
    await deliver(store, mail("<b@x>", refs="<a@x>"), inbox.id, bob_inbox.id)  # 2: joins 1's
    await deliver(store, mail("<c@x>"), inbox.id)  # 3: its own
    await deliver(store, mail("<d@x>", irt="<e@x>"), inbox.id)  # 4: a reply before its original
    await deliver(store, mail("<e@x>"), inbox.id)  # 5: joins 4's (4 refers to it)
    await deliver(store, mail("<f@x>", refs="<zz@x> <b@x>"), inbox.id)  # 6: via 2, to 1's thread
    await deliver(store, mail("no id at all"), inbox.id)  # 7: no usable id: its own
    # Nothing is threaded by the delivery write.
    assert set((await _threads(store, inbox.id)).values()) == {None}
    assert await _index_all(store) == 8  # seven rows in INBOX, one in Bob's
    threads = await _threads(store, inbox.id)
    assert None not in threads.values()
    assert threads[1] == threads[2] == threads[6]
    assert threads[4] == threads[5]
    assert len({threads[1], threads[3], threads[4], threads[7]}) == 4
    # Per account: Bob's copy of message 2 is not in Alice's thread (he has no message 1).
    [bob_row] = await store.message_objects(bob_inbox.id, None)
    [alice_row] = await store.message_objects(inbox.id, [2])
    assert bob_row.message_id == alice_row.message_id  # the same content: one EMAILID
    assert bob_row.thread_id is not None
    # A copy keeps its thread; a message linking two threads joins the oldest; none ever changes.
    await store.transfer(inbox.id, [3], archive.id, move=False)
    await deliver(store, mail("<g@x>", refs="<c@x> <a@x>"), archive.id)
    await _index_all(store)
    copied = await _threads(store, archive.id)
    assert copied[1] == threads[3]
    assert copied[2] == min(threads[1], threads[3])  # type: ignore[type-var]
    assert await _threads(store, inbox.id) == threads
    # Bob's reply to his own message joins his thread.
    await deliver(store, mail("<h@x>", irt="<b@x>"), bob_inbox.id)
    await _index_all(store)
    assert len(set((await _threads(store, bob_inbox.id)).values())) == 1


async def test_thread_now_threads_what_the_indexer_has_not(store: Store) -> None:
    await store.stop_indexer()
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(7):
        await deliver(store, mail(f"<{n}@x>", refs=f"<{n - 1}@x>" if n else ""), inbox.id)
    assert await store.thread_now(inbox.id) == 7
    assert len(set((await _threads(store, inbox.id)).values())) == 1
    assert await store.thread_now(inbox.id) == 0  # nothing left


async def test_save_date_of_every_write(store: Store) -> None:
    account = await make_account(store)
    inbox, archive = await mailbox(store, account), await mailbox(store, account, "Archive")
    old = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    start = int(time.time())
    await deliver(store, mail("<1@x>", body="First words of the body."), inbox.id, when=old)
    await store.transfer(inbox.id, [1], archive.id, move=False)
    await store.transfer(inbox.id, [1], archive.id, move=True)
    end = int(time.time())
    [copied, moved] = await store.message_objects(archive.id, None, preview=True)
    # RFC 8514 §3: the save date is when the row was written, whatever the internal date says.
    for row in (copied, moved):
        assert isinstance(row, ObjectRow)
        assert start <= row.save_date <= end
        assert row.preview == "First words of the body."  # kept by the delivery's parse
    assert copied.message_id == moved.message_id
    [plain] = await store.message_objects(archive.id, [2])
    assert plain.preview is None  # not asked for
    assert await store.message_objects(archive.id, [99]) == []
