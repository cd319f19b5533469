"""The account's MODSEQ counter and JMAP's change records (``AccountStateStore``): one counter
per account from which every mailbox MODSEQ is drawn, Email and Mailbox changes since a state, page
by page, the Emails' rows, the threads of changed Emails."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pochta.mime import ParsedMessage
from pochta.store.account_state_model import (
    CannotCalculateChanges,
    ChangesPosition,
    EmailChanges,
    MailboxCounts,
)
from pochta.store.api import NotFound, Store
from pochta.store.model import AccountId, MessageId, ModSeq
from pochta.testing.store_suite.support import deliver, mailbox, make_account, make_message, refreshed

__all__ = [
    "test_account_emails_carry_mailboxes_keywords_and_the_earliest_date",
    "test_account_modseqs_increase_across_mailboxes",
    "test_email_changes_follow_each_mail_write",
    "test_email_changes_leave_out_what_came_and_went_since",
    "test_email_changes_page_inside_one_writes_group",
    "test_email_records_are_the_accounts_own",
    "test_emails_by_received_pages_a_mailbox",
    "test_mailbox_changes_follow_the_tree_and_the_counts",
    "test_mailbox_counts_count_emails_and_threads",
    "test_mailbox_sort_order_is_a_mailbox_change",
    "test_pruned_records_cannot_answer_older_states",
    "test_reconstruct_repairs_the_account_state",
    "test_threads_of_changed_emails",
]

EVERYTHING = -60.0  # prune_expunged's age: every record is older than a minute in the future


async def _changes(store: Store, account: AccountId, since: ModSeq, limit: int = 1000) -> EmailChanges:
    return await store.email_changes(account, since, None, limit)


def _sets(changes: EmailChanges) -> tuple[set[int], set[int], set[int]]:
    return set(changes.created), set(changes.updated), set(changes.destroyed)


async def test_account_modseqs_increase_across_mailboxes(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    other = await store.create_mailbox(account.id, "Other")
    seen: list[int] = []
    for n in range(3):
        for box in (inbox, other):
            [placed] = await deliver(store, make_message(f"m{n}{box.name}"), box.id)
            assert placed.entry is not None
            seen.append(placed.entry.modseq)
    assert seen == sorted(set(seen))  # one counter: every write above the one before, whatever mailbox
    inbox, other = await refreshed(store, inbox), await refreshed(store, other)
    state = await store.account_state(account.id)
    assert state == max(inbox.highestmodseq, other.highestmodseq) == seen[-1]
    # Per mailbox, CONDSTORE's rules hold: the mailbox's changes since a MODSEQ are its own.
    changes = await store.changes_since(inbox.id, seen[0])
    assert [entry.modseq for entry in changes.changed] == [seen[2], seen[4]]
    await store.set_flags(other.id, [1], "add", ["\\Flagged"])
    assert (await refreshed(store, other)).highestmodseq == await store.account_state(account.id) > state
    # Another account has a counter of its own.
    bob = await make_account(store, "bob@example.org")
    assert await store.account_state(bob.id) == 1  # its mailboxes' MODSEQ, none taken yet


async def test_email_changes_follow_each_mail_write(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    archive = await store.create_mailbox(account.id, "Kept")
    bob = await make_account(store, "bob@example.org")
    # Bob holds "one" throughout: its message row (and id) outlives Alice's copies.
    await deliver(store, make_message("one"), (await mailbox(store, bob)).id)
    start = await store.account_state(account.id)
    [one] = await deliver(store, make_message("one"), inbox.id)
    [two] = await deliver(store, make_message("two"), inbox.id)
    delivered = await _changes(store, account.id, start)
    assert (delivered.created, delivered.updated, delivered.destroyed) == (
        (one.message_id, two.message_id), (), ()
    )  # fmt: skip
    assert delivered.state == await store.account_state(account.id)
    assert not delivered.has_more
    assert await _changes(store, account.id, delivered.state) == EmailChanges((), (), (), delivered.state)

    state = delivered.state
    await store.set_flags(inbox.id, [one.uid], "add", ["\\Seen"])
    assert _sets(await _changes(store, account.id, state)) == (set(), {one.message_id}, set())

    state = await store.account_state(account.id)
    copied = await store.transfer(inbox.id, [one.uid, two.uid], archive.id, move=False)
    assert _sets(await _changes(store, account.id, state)) == (set(), {one.message_id, two.message_id}, set())

    # Expunging one of two copies changes the Email; expunging the last destroys it.
    state = await store.account_state(account.id)
    await store.expunge(inbox.id, [one.uid])
    assert _sets(await _changes(store, account.id, state)) == (set(), {one.message_id}, set())
    state = await store.account_state(account.id)
    await store.expunge(archive.id, [copied.destination_uids[0]])
    assert _sets(await _changes(store, account.id, state)) == (set(), set(), {one.message_id})

    # A MOVE keeps the Email (updated: its mailboxes changed); two copies in one mailbox: one id.
    state = await store.account_state(account.id)
    await store.transfer(archive.id, [copied.destination_uids[1]], inbox.id, move=True)
    assert _sets(await _changes(store, account.id, state)) == (set(), {two.message_id}, set())
    [held] = await store.account_emails_in(account.id, [two.message_id])
    assert held.mailbox_ids == (inbox.id,)

    # Delivered again after it was destroyed: created again, since the state of its destruction.
    state = await store.account_state(account.id)
    [again] = await deliver(store, make_message("one"), archive.id)
    assert again.message_id == one.message_id  # one message row per blob, kept by Bob's copy
    assert _sets(await _changes(store, account.id, state)) == ({one.message_id}, set(), set())
    # From the first state, both are created (one was destroyed in between, and is back).
    assert _sets(await _changes(store, account.id, start)) == ({one.message_id, two.message_id}, set(), set())

    # A mailbox deleted with its messages destroys the Emails it held last.
    state = await store.account_state(account.id)
    await store.delete_mailbox(account.id, "Kept")
    assert _sets(await _changes(store, account.id, state)) == (set(), set(), {one.message_id})


async def test_email_changes_leave_out_what_came_and_went_since(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    [old] = await deliver(store, make_message("old"), inbox.id)
    state = await store.account_state(account.id)
    [brief] = await deliver(store, make_message("brief"), inbox.id)
    await store.set_flags(inbox.id, [brief.uid], "add", ["\\Seen"])
    await store.expunge(inbox.id, [brief.uid, old.uid])
    changes = await _changes(store, account.id, state)
    # RFC 8620 §5.2: created and destroyed since the state: in no list; destroyed: the old one.
    assert (changes.created, changes.updated, changes.destroyed) == ((), (), (old.message_id,))
    # A state from the future, or a page size of nothing, is refused.
    with pytest.raises(CannotCalculateChanges):
        await _changes(store, account.id, ModSeq(changes.state + 1))
    with pytest.raises(ValueError, match="at least one"):
        await _changes(store, account.id, state, limit=0)


async def test_email_changes_page_inside_one_writes_group(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    other = await store.create_mailbox(account.id, "Other")
    placed = [(await deliver(store, make_message(f"p{n}"), inbox.id))[0] for n in range(5)]
    ids = [p.message_id for p in placed]
    state = await store.account_state(account.id)
    # One COPY: five records at one MODSEQ, then a sixth message delivered after.
    await store.transfer(inbox.id, [p.uid for p in placed], other.id, move=False)
    [sixth] = await deliver(store, make_message("sixth"), other.id)
    pages: list[EmailChanges] = []
    after: ChangesPosition | None = None
    while True:
        page = await store.email_changes(account.id, state, after, 2)
        pages.append(page)
        assert len(page.created) + len(page.updated) + len(page.destroyed) <= 2
        if not page.has_more:
            break
        after = page.position
        if len(pages) == 2:
            # Between pages: an Email of the first page changes again, one not reported yet goes,
            # and a new one comes. Nothing is lost, nothing said twice in contradiction.
            await store.set_flags(inbox.id, [placed[0].uid], "add", ["\\Flagged"])
            await store.expunge(inbox.id, [placed[4].uid])
            await store.expunge(other.id, [5])  # placed[4]'s copy: its last membership
            [late] = await deliver(store, make_message("late"), inbox.id)
    assert [len(p.created) + len(p.updated) + len(p.destroyed) for p in pages[:2]] == [2, 2]
    assert pages[-1].state == await store.account_state(account.id)
    updated = {m for p in pages for m in p.updated}
    created = {m for p in pages for m in p.created}
    destroyed = {m for p in pages for m in p.destroyed}
    assert updated == set(ids[:4])  # the five copied (placed[4] went), placed[0] twice
    assert created == {sixth.message_id, late.message_id}
    assert destroyed == {ids[4]}
    # A position from another walk, or outside the state's range, is refused.
    with pytest.raises(CannotCalculateChanges):
        await store.email_changes(account.id, state, ChangesPosition(ModSeq(state - 1), 0), 2)


async def test_pruned_records_cannot_answer_older_states(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    start = await store.account_state(account.id)
    [gone] = await deliver(store, make_message("gone"), inbox.id)
    [kept] = await deliver(store, make_message("kept"), inbox.id)
    await store.expunge(inbox.id, [gone.uid])
    after_expunge = await store.account_state(account.id)
    assert _sets(await _changes(store, account.id, start)) == ({kept.message_id}, set(), set())
    assert await store.prune_expunged(EVERYTHING) == 1
    with pytest.raises(CannotCalculateChanges):
        await _changes(store, account.id, start)
    with pytest.raises(CannotCalculateChanges):
        await store.mailbox_changes(account.id, start, None, 100)
    # From the pruned state on, changes are told as before.
    await store.set_flags(inbox.id, [kept.uid], "add", ["\\Seen"])
    assert _sets(await _changes(store, account.id, after_expunge)) == (set(), {kept.message_id}, set())


async def test_mailbox_changes_follow_the_tree_and_the_counts(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    start = await store.account_state(account.id)
    made = await store.create_mailbox(account.id, "Projects")
    child = await store.create_mailbox(account.id, "Projects/Old")
    changes = await store.mailbox_changes(account.id, start, None, 100)
    assert (set(changes.created), changes.updated, changes.destroyed) == ({made.id, child.id}, (), ())
    assert changes.state == await store.account_state(account.id)

    state = changes.state
    await deliver(store, make_message("counted"), inbox.id)
    changes = await store.mailbox_changes(account.id, state, None, 100)
    assert (changes.created, changes.updated, changes.destroyed) == ((), (inbox.id,), ())
    assert changes.counts_only == {inbox.id}

    # The same message in two mailboxes, read in one: the Email is read only when both copies are
    # ($seen is every copy's), so the other mailbox's unread count moves too, its MODSEQ does not.
    [copy_a] = await deliver(store, make_message("twice"), inbox.id)
    [copy_b] = await deliver(store, make_message("twice"), made.id)
    await store.set_flags(inbox.id, [copy_a.uid], "add", ["\\Seen"])
    state = await store.account_state(account.id)
    await store.set_flags(made.id, [copy_b.uid], "add", ["\\Seen"])  # now the Email is read
    assert (await refreshed(store, inbox)).highestmodseq <= state
    changes = await store.mailbox_changes(account.id, state, None, 100)
    assert set(changes.updated) == {made.id, inbox.id}
    assert changes.counts_only == {made.id, inbox.id}

    state = changes.state
    await store.rename_mailbox(account.id, "Projects", "Work")
    await store.set_subscribed(account.id, "INBOX", not inbox.subscribed)
    changes = await store.mailbox_changes(account.id, state, None, 100)
    assert set(changes.updated) == {made.id, child.id, inbox.id}
    assert not changes.counts_only

    state = await store.account_state(account.id)
    await store.delete_mailbox(account.id, "Work/Old")
    brief = await store.create_mailbox(account.id, "Brief")
    await store.delete_mailbox(account.id, "Brief")
    changes = await store.mailbox_changes(account.id, state, None, 100)
    # The one made and deleted since the state is in no list.
    assert (changes.created, changes.updated, changes.destroyed) == ((), (), (child.id,))
    assert brief.id not in changes.destroyed

    # Paging: one at a time, each reported once, in the order of their changes.
    pages = []
    after: ChangesPosition | None = None
    while True:
        page = await store.mailbox_changes(account.id, start, after, 1)
        pages.append(page)
        if not page.has_more:
            break
        after = page.position
    ids = [m for p in pages for m in (*p.created, *p.updated, *p.destroyed)]
    assert len(ids) == len(set(ids))
    assert [m for p in pages for m in p.created] == [made.id]
    assert [m for p in pages for m in p.updated] == [inbox.id]
    # A mailbox made and deleted since ``start`` may come as destroyed on a later page (a page
    # before might have reported it created): a client ignores an unknown id it is told is gone.
    assert {m for p in pages for m in p.destroyed} <= {child.id, brief.id}


async def test_mailbox_sort_order_is_a_mailbox_change(store: Store) -> None:
    # Revision 0042: JMAP's Mailbox sortOrder, stored; a change of it is a Mailbox update.
    account = await make_account(store)
    inbox = await mailbox(store, account)
    other = await make_account(store, "bob@example.org")
    made = await store.create_mailbox(account.id, "Projects")
    assert await store.mailbox_sort_orders(account.id) == {}
    state = await store.account_state(account.id)
    await store.set_mailbox_sort_order(account.id, made.id, 10)
    await store.set_mailbox_sort_order(account.id, inbox.id, 0)  # unchanged: no update
    assert await store.mailbox_sort_orders(account.id) == {made.id: 10}
    changes = await store.mailbox_changes(account.id, state, None, 100)
    assert (changes.created, changes.updated, changes.destroyed) == ((), (made.id,), ())
    assert not changes.counts_only
    await store.set_mailbox_sort_order(account.id, made.id, 0)
    assert await store.mailbox_sort_orders(account.id) == {}
    with pytest.raises(NotFound):
        await store.set_mailbox_sort_order(other.id, made.id, 1)  # another account's mailbox
    # It survives a rename.
    await store.set_mailbox_sort_order(account.id, made.id, 2**32 - 1)
    await store.rename_mailbox(account.id, "Projects", "Work")
    assert await store.mailbox_sort_orders(account.id) == {made.id: 2**32 - 1}


async def test_account_emails_carry_mailboxes_keywords_and_the_earliest_date(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    other = await store.create_mailbox(account.id, "Other")
    early = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    [first] = await deliver(store, make_message("kw"), inbox.id, flags=["\\Seen", "$Work"])
    [second] = await deliver(store, make_message("kw"), other.id, flags=["\\Flagged"], when=early)
    assert first.message_id == second.message_id
    [email] = await store.account_emails_in(account.id, [MessageId(first.message_id), MessageId(10**9)])
    assert email.mailbox_ids == tuple(sorted((inbox.id, other.id)))
    # Keywords: the union of the copies' flags, except \Seen, which needs every copy seen.
    assert email.flags == {"$Work", "\\Flagged"}
    assert (email.received_at, email.received_tz) == (int(early.timestamp()), 0)
    assert first.entry is not None
    assert email.size == first.entry.size
    await store.set_flags(other.id, [second.uid], "add", ["\\Seen"])
    [email] = await store.account_emails_in(account.id, [first.message_id])
    assert email.flags == {"$Work", "\\Flagged", "\\Seen"}
    bob = await make_account(store, "bob@example.org")
    assert await store.account_emails_in(bob.id, [first.message_id]) == []


async def test_email_records_are_the_accounts_own(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    data = make_message("record")
    [placed] = await deliver(store, data, inbox.id)
    [record] = await store.email_records(account.id, [placed.message_id, MessageId(10**9)])
    assert record.message_id == placed.message_id
    assert record.blob.size == len(data)
    assert ParsedMessage.from_json(record.parsed_json).subject == "record"
    assert await store.email_record_of_blob(account.id, record.blob.sha256) == record
    assert await store.email_record_of_blob(account.id, "0" * 64) is None
    # Another account sees neither, until it holds the message too.
    bob = await make_account(store, "bob@example.org")
    assert await store.email_records(bob.id, [placed.message_id]) == []
    assert await store.email_record_of_blob(bob.id, record.blob.sha256) is None
    await store.expunge(inbox.id, [placed.uid])
    assert await store.email_records(account.id, [placed.message_id]) == []
    assert await store.email_record_of_blob(account.id, record.blob.sha256) is None


async def test_emails_by_received_pages_a_mailbox(store: Store) -> None:
    # JMAP Email/query's common query: a mailbox's Emails by internal date (ties by message id),
    # one page, the account's state from the same read, the count when asked.
    account = await make_account(store)
    inbox = await mailbox(store, account)
    day = datetime(2026, 3, 1, tzinfo=UTC)
    placed = []
    for n, hour in enumerate((5, 1, 3, 3, 9)):
        [one] = await deliver(store, make_message(f"page {n}"), inbox.id, when=day.replace(hour=hour))
        placed.append(one)
    # The same message again in the same mailbox (a second UID): one Email, at its first place.
    [again] = await deliver(store, make_message("page 1"), inbox.id, when=day.replace(hour=10))
    assert again.message_id == placed[1].message_id
    ids = [p.message_id for p in placed]
    tied = sorted((ids[2], ids[3]))
    newest = [ids[1], ids[4], ids[0], *tied]  # ids[1]'s second copy is the newest
    oldest = [ids[1], *tied, ids[0], ids[4]]
    page = await store.emails_by_received(
        account.id, inbox.id, descending=True, position=0, limit=10, count=True
    )
    assert (list(page.ids), page.total, page.state) == (newest, 5, await store.account_state(account.id))
    page = await store.emails_by_received(
        account.id, inbox.id, descending=False, position=1, limit=2, count=False
    )
    assert (list(page.ids), page.total) == (oldest[1:3], None)
    page = await store.emails_by_received(
        account.id, inbox.id, descending=True, position=4, limit=2, count=False
    )
    assert list(page.ids) == newest[4:]
    # Another account's mailbox holds nothing for this one.
    bob = await make_account(store, "bob@example.org")
    page = await store.emails_by_received(bob.id, inbox.id, descending=True, position=0, limit=5, count=True)
    assert (page.ids, page.total) == ((), 0)


async def test_threads_of_changed_emails(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    [root] = await deliver(store, make_message("thread root", n=1), inbox.id)
    await store.thread_now(inbox.id)
    [email] = await store.account_emails_in(account.id, [root.message_id])
    assert email.thread_id is not None
    [record] = await store.email_threads(account.id, [root.message_id])
    assert (record.thread_id, record.destroyed) == (email.thread_id, None)
    await store.expunge(inbox.id, [root.uid])
    # Gone from the account (and the store): the record keeps its thread for Thread/changes.
    [record] = await store.email_threads(account.id, [root.message_id])
    assert record.thread_id == email.thread_id
    assert record.destroyed is not None
    [member] = await store.thread_emails(account.id, [email.thread_id])
    assert member == record


async def test_reconstruct_repairs_the_account_state(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    [placed] = await deliver(store, make_message("repaired"), inbox.id)
    report = await store.reconstruct(dry_run=True)
    assert report.counters_changed == 0  # what the writes kept is what reconstruct derives
    state = await store.account_state(account.id)
    assert _sets(await _changes(store, account.id, ModSeq(0))) == ({placed.message_id}, set(), set())
    assert state >= (await refreshed(store, inbox)).highestmodseq


def _reply(subject: str, n: int, to: int) -> bytes:
    """A message of the thread of ``make_message(subject, n=to)``."""
    return make_message(subject, n=n).replace(
        b"MIME-Version:", f"In-Reply-To: <{to}.{subject}@example.net>\r\nMIME-Version:".encode(), 1
    )


async def test_mailbox_counts_count_emails_and_threads(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    trash = await mailbox(store, account, "Trash")  # a new account's, of special use \\Trash
    assert trash.special_use == "\\Trash"
    empty = await store.create_mailbox(account.id, "Empty")
    # Thread "a": a read root in INBOX, an unread reply in INBOX and (copied) in Trash.
    [root] = await deliver(store, make_message("a", n=1), inbox.id, flags=["\\Seen"])
    [reply] = await deliver(store, _reply("a", 2, 1), inbox.id)
    await store.transfer(inbox.id, [reply.uid], trash.id, move=False)
    # Thread "b": an unread message only in Trash; "c": a draft in INBOX (not unread).
    await deliver(store, make_message("b", n=3), trash.id)
    await deliver(store, make_message("c", n=4), inbox.id, flags=["\\Draft"])
    # The same message twice in INBOX is one Email; read in one copy only, it is unread.
    twice, _ = await deliver(store, make_message("d", n=5), inbox.id, inbox.id)
    await store.set_flags(inbox.id, [twice.uid], "add", ["\\Seen"])
    # Not threaded yet: each message a thread of its own, and said so.
    early = await store.mailbox_counts(account.id)
    assert early[inbox.id].unthreaded == early[inbox.id].total_threads == 4
    await store.thread_now(inbox.id)
    await store.thread_now(trash.id)
    counts = await store.mailbox_counts(account.id)
    assert empty.id not in counts
    # INBOX: root, reply, c, d; unread: reply, d; threads a, c, d; unread threads: a (the reply), d.
    assert counts[inbox.id] == MailboxCounts(4, 2, 3, 2)
    # Trash: reply and b, both unread; threads a and b, both with an unread Email in the trash.
    assert counts[trash.id] == MailboxCounts(2, 2, 2, 2)
    # Read everywhere, the reply no longer makes thread "a" unread anywhere.
    for box in (inbox, trash):
        view = await store.open_view(box.id)
        await store.set_flags(box.id, list(view.uids), "add", ["\\Seen"])
    counts = await store.mailbox_counts(account.id)
    assert counts[inbox.id] == MailboxCounts(4, 0, 3, 0)
    assert counts[trash.id] == MailboxCounts(2, 0, 2, 0)
    # A thread whose only unread Email is in the trash is not unread in INBOX; it is in the trash.
    before = await store.account_state(account.id)
    [late] = await deliver(store, _reply("a", 6, 1), trash.id)
    await store.thread_now(trash.id)
    # INBOX's thread counts may change with a thread-mate elsewhere: its counts come as changed.
    changes = await store.mailbox_changes(account.id, before, None, 100)
    assert set(changes.updated) == {inbox.id, trash.id}
    assert inbox.id in changes.counts_only
    counts = await store.mailbox_counts(account.id)
    assert counts[inbox.id] == MailboxCounts(4, 0, 3, 0)
    assert counts[trash.id] == MailboxCounts(3, 1, 2, 1, 0)
    assert late.message_id not in {root.message_id, reply.message_id}
