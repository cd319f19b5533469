"""Conformance tests for messages: delivery, views, flags, copy and move, expunge, search, blobs,
the change feed, and a second handle on the same store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pochta.config import Settings
from pochta.mime import ParsedMessage, parse_message
from pochta.store.api import NotFound, Store
from pochta.store.model import (
    BlobRef,
    ChangeKind,
    MailboxInfo,
    MailboxName,
    Target,
)
from pochta.testing.store_suite.support import (
    MIME,
    StoreBackdoor,
    StoreFactory,
    deliver,
    mailbox,
    make_account,
    make_message,
    next_change,
    put,
    refreshed,
)


async def test_deliver_single_instance(store: Store, backdoor: StoreBackdoor) -> None:
    alice = await make_account(store, "alice@example.org")
    bob = await make_account(store, "bob@example.org")
    inbox_a, inbox_b = await mailbox(store, alice), await mailbox(store, bob)
    archive_a = await mailbox(store, alice, "Archive")
    data = make_message("single instance")
    blob, parsed = await put(store, data)
    placed = await store.deliver(
        blob, parsed, [Target(inbox_a.id), Target(inbox_b.id, frozenset({"\\Seen"})), Target(archive_a.id)]
    )
    assert [(p.mailbox_id, p.uid) for p in placed] == [(inbox_a.id, 1), (inbox_b.id, 1), (archive_a.id, 1)]
    assert [p.uidvalidity for p in placed] == [
        inbox_a.uidvalidity,
        inbox_b.uidvalidity,
        archive_a.uidvalidity,
    ]
    assert len({p.message_id for p in placed}) == 1
    assert backdoor.blob_files(store) == {blob.sha256}
    # The same bytes again: same message, same blob, next UIDs.
    again = await deliver(store, data, inbox_a.id, inbox_a.id)
    assert [p.uid for p in again] == [2, 3]
    assert {p.message_id for p in again} == {placed[0].message_id}
    assert backdoor.blob_files(store) == {blob.sha256}
    info = await refreshed(store, inbox_a)
    assert (info.messages, info.unseen, info.uidnext, info.size) == (3, 3, 4, 3 * blob.size)
    info_b = await refreshed(store, inbox_b)
    assert (info_b.messages, info_b.unseen) == (1, 0)
    assert info.highestmodseq > inbox_a.highestmodseq
    # A different message gets a different record.
    other = await deliver(store, make_message("other"), inbox_a.id)
    assert other[0].message_id != placed[0].message_id
    assert other[0].uid == 4
    assert len(backdoor.blob_files(store)) == 2


async def test_deliver_is_all_or_nothing(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    blob, parsed = await put(store, make_message())
    with pytest.raises(NotFound):
        await store.deliver(blob, parsed, [Target(inbox.id), Target(inbox.id + 1000)])
    after = await refreshed(store, inbox)
    assert (after.messages, after.uidnext, after.highestmodseq) == (0, 1, inbox.highestmodseq)
    assert await store.quota_usage(account.id) == 0
    assert await store.deliver(blob, parsed, []) == []
    # A blob that was never stored cannot be referenced.
    with pytest.raises(NotFound):
        await store.deliver(BlobRef("0" * 64, 10), parsed, [Target(inbox.id)])


async def test_concurrent_deliveries_get_distinct_uids(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    results = await asyncio.gather(*(deliver(store, make_message(n=n), inbox.id) for n in range(16)))
    uids = sorted(placed[0].uid for placed in results)
    assert uids == list(range(1, 17))
    info = await refreshed(store, inbox)
    assert (info.messages, info.uidnext) == (16, 17)


async def test_open_view_snapshot(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-7)))
    first = await deliver(store, make_message("one"), inbox.id, flags={"\\Seen", "$Label"}, when=when)
    second = await deliver(store, make_message("two"), inbox.id)
    view = await store.open_view(inbox.id)
    assert view.mailbox == await refreshed(store, inbox)
    assert [entry.uid for entry in view.messages] == [first[0].uid, second[0].uid]
    entry = view.messages[0]
    assert entry.flags == frozenset({"\\Seen", "$Label"})
    assert entry.internal_date == when
    assert entry.internal_date.utcoffset() == timedelta(hours=-7)  # the zone given is kept
    assert entry.size == len(make_message("one"))
    assert entry.blob.size == entry.size
    assert entry.modseq <= view.mailbox.highestmodseq
    with pytest.raises(NotFound):
        await store.open_view(inbox.id + 1000)


async def test_open_view_columns_and_lookup(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    empty = await store.open_view(inbox.id)
    assert (len(empty), list(empty), empty.position(1), empty.flag_sets()) == (0, [], None, [])
    for n in range(6):
        await deliver(store, make_message(n=n), inbox.id, flags={"\\Seen"} if n % 2 else ())
    await store.expunge(inbox.id, [2, 3])
    view = await store.open_view(inbox.id)
    entries = list(view)
    assert [e.uid for e in entries] == list(view.uids) == [1, 4, 5, 6]
    assert list(view.modseqs) == [e.modseq for e in entries]
    assert list(view.sizes) == [e.size for e in entries]
    assert list(view.message_ids) == [e.message_id for e in entries]
    assert view.flags == tuple(e.flags for e in entries)
    assert view.flag_sets() == [frozenset(), frozenset({"\\Seen"})]
    assert [view.blob(i) for i in range(4)] == [e.blob for e in entries]
    assert [view.internal_date(i) for i in range(4)] == [e.internal_date for e in entries]
    assert view[1] == view.entry(1) == entries[1]
    assert view[-1] == entries[-1]
    assert view[1:3] == tuple(entries[1:3])
    assert [view.position(uid) for uid in (1, 2, 3, 4, 6, 7)] == [0, None, None, 1, 3, None]
    assert view.positions(2, 5) == range(1, 3)  # UIDs 4 and 5
    assert view == await store.open_view(inbox.id)


async def test_flag_operations_and_modseq(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(3):
        await deliver(store, make_message(n=n), inbox.id)
    start = (await refreshed(store, inbox)).highestmodseq

    added = await store.set_flags(inbox.id, [1, 2, 99], "add", ["\\SEEN", "$Work"])
    assert [e.uid for e in added.changed] == [1, 2]  # 99 does not exist
    assert all(e.flags == frozenset({"\\Seen", "$Work"}) for e in added.changed)  # system flag canonical
    assert added.highestmodseq > start
    assert all(e.modseq == added.highestmodseq for e in added.changed)
    info = await refreshed(store, inbox)
    assert (info.unseen, info.highestmodseq) == (1, added.highestmodseq)

    # Adding what is there changes nothing, and costs no MODSEQ.
    noop = await store.set_flags(inbox.id, [1, 2], "add", ["\\seen", "$work"])
    assert noop.changed == ()
    assert noop.highestmodseq == added.highestmodseq
    view = await store.open_view(inbox.id)
    assert view.messages[0].flags == frozenset({"\\Seen", "$Work"})  # keyword case as first stored

    removed = await store.set_flags(inbox.id, [1, 2, 3], "remove", ["\\Seen"])
    assert [e.uid for e in removed.changed] == [1, 2]
    assert removed.highestmodseq > added.highestmodseq
    assert (await refreshed(store, inbox)).unseen == 3

    replaced = await store.set_flags(inbox.id, [1, 2, 3], "replace", ["\\Deleted", "$Work"])
    assert [e.uid for e in replaced.changed] == [1, 2, 3]
    assert replaced.changed[0].flags == frozenset({"\\Deleted", "$Work"})
    assert replaced.highestmodseq > removed.highestmodseq
    info = await refreshed(store, inbox)
    assert (info.deleted, info.unseen) == (3, 3)

    cleared = await store.set_flags(inbox.id, [2], "replace", [])
    assert cleared.changed[0].flags == frozenset()
    assert (await refreshed(store, inbox)).deleted == 2
    modseqs = {e.uid: e.modseq for e in (await store.open_view(inbox.id)).messages}
    assert modseqs == {1: replaced.highestmodseq, 2: cleared.highestmodseq, 3: replaced.highestmodseq}
    assert (await store.set_flags(inbox.id, [], "add", ["\\Seen"])).changed == ()


async def test_unchanged_since(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(3):
        await deliver(store, make_message(n=n), inbox.id)
    base = (await refreshed(store, inbox)).highestmodseq
    touched = await store.set_flags(inbox.id, [2], "add", ["\\Flagged"])
    # RFC 7162 §3.1.3: UID 2 changed after `base`, so it fails; 1 and 3 are stored.
    result = await store.set_flags(inbox.id, [1, 2, 3], "add", ["\\Seen"], unchanged_since=base)
    assert result.failed_unchanged_since == (2,)
    assert [e.uid for e in result.changed] == [1, 3]
    view = {e.uid: e for e in (await store.open_view(inbox.id)).messages}
    assert "\\Seen" not in view[2].flags
    assert view[2].modseq == touched.highestmodseq
    ok = await store.set_flags(inbox.id, [2], "add", ["\\Seen"], unchanged_since=touched.highestmodseq)
    assert ok.failed_unchanged_since == ()
    assert [e.uid for e in ok.changed] == [2]


async def test_copy_preserves_flags_and_dates(store: Store) -> None:
    account = await make_account(store)
    inbox, archive = await mailbox(store, account), await mailbox(store, account, "Archive")
    when = datetime(2025, 12, 31, 23, 59, 0, tzinfo=UTC)
    await deliver(store, make_message(n=1), inbox.id, flags={"\\Seen"}, when=when)
    await deliver(store, make_message(n=2), inbox.id, flags={"\\Flagged", "$x"})
    await deliver(store, make_message(n=3), inbox.id)
    await deliver(store, make_message(n=4), archive.id)  # the destination has UID 1 already
    before = await store.open_view(inbox.id)
    result = await store.transfer(inbox.id, [3, 1, 42], archive.id, move=False)
    # RFC 4315 COPYUID: pairs in source UID order, destination UIDs ascending.
    assert result.destination_id == archive.id
    assert result.uidvalidity == archive.uidvalidity
    assert result.source_uids == (1, 3)
    assert result.destination_uids == (2, 3)
    copies = {e.uid: e for e in (await store.open_view(archive.id)).messages}
    originals = {e.uid: e for e in before.messages}
    for source_uid, destination_uid in zip(result.source_uids, result.destination_uids, strict=True):
        assert copies[destination_uid].flags == originals[source_uid].flags
        assert copies[destination_uid].internal_date == originals[source_uid].internal_date
        assert copies[destination_uid].message_id == originals[source_uid].message_id
    assert copies[2].internal_date == when
    assert await store.open_view(inbox.id) == before  # the source is untouched
    info = await refreshed(store, archive)
    assert (info.messages, info.unseen, info.uidnext) == (3, 2, 4)
    nothing = await store.transfer(inbox.id, [77], archive.id, move=False)
    assert nothing.source_uids == ()
    assert nothing.destination_uids == ()


async def test_move_is_copy_plus_expunge(store: Store) -> None:
    account = await make_account(store)
    inbox, trash = await mailbox(store, account), await mailbox(store, account, "Trash")
    for n in range(4):
        await deliver(store, make_message(n=n), inbox.id, flags={"\\Seen"} if n % 2 else ())
    used = await store.quota_usage(account.id)
    before = await refreshed(store, inbox)
    result = await store.transfer(inbox.id, [2, 3], trash.id, move=True)
    assert result.source_uids == (2, 3)
    assert result.destination_uids == (1, 2)
    assert [e.uid for e in (await store.open_view(inbox.id)).messages] == [1, 4]
    assert [e.uid for e in (await store.open_view(trash.id)).messages] == [1, 2]
    after = await refreshed(store, inbox)
    assert (after.messages, after.unseen) == (2, 1)
    assert after.highestmodseq > before.highestmodseq
    changes = await store.changes_since(inbox.id, before.highestmodseq)
    assert changes.expunged == (2, 3)
    assert await store.quota_usage(account.id) == used  # moved within the account
    # Moving back gives new UIDs: UIDs are never reused.
    back = await store.transfer(trash.id, [1, 2], inbox.id, move=True)
    assert back.destination_uids == (5, 6)


async def test_keyword_list_keeps_every_keyword_stored(store: Store) -> None:
    # RFC 9051 §7.3.5 FLAGS: ``MailboxInfo.keywords`` lists every keyword ever stored in the mailbox,
    # as first spelt; every write path storing flags adds to it, and expunging takes nothing away.
    account = await make_account(store)
    inbox, archive, trash = [await mailbox(store, account, name) for name in ("INBOX", "Archive", "Trash")]

    async def listed(box: MailboxInfo) -> list[str]:
        return sorted((await refreshed(store, box)).keywords)

    await deliver(store, make_message(n=1), inbox.id, flags={"\\Seen"})
    assert await listed(inbox) == []  # system flags are not listed
    await deliver(store, make_message(n=2), inbox.id, flags={"$Delivered", "\\Seen"})
    assert await listed(inbox) == ["$Delivered"]
    await store.set_flags(inbox.id, [1], "add", ["$Stored", "\\Flagged"])
    await store.set_flags(inbox.id, [1], "replace", ["$Replaced", "$DELIVERED"])
    await store.set_flags(inbox.id, [1], "remove", ["$Replaced", "$Stored"])
    assert await listed(inbox) == ["$Delivered", "$Replaced", "$Stored"]  # one spelling of each
    blob, parsed = await put(store, make_message(n=3))
    await store.append(account.id, "INBOX", blob, parsed, frozenset({"$Appended"}))
    await store.transfer(inbox.id, [2], archive.id, move=False)
    await store.transfer(inbox.id, [1], trash.id, move=True)
    assert await listed(archive) == ["$Delivered"]
    assert await listed(trash) == ["$DELIVERED"]  # copied as the message had it: ops spells keywords
    await store.expunge(inbox.id, [2, 3])
    view = await store.open_view(inbox.id)
    assert (len(view), sorted(view.mailbox.keywords)) == (
        0,
        ["$Appended", "$Delivered", "$Replaced", "$Stored"],
    )
    assert await listed(trash) == ["$DELIVERED"]


async def test_keyword_list_is_bounded_by_every_write(store_factory: StoreFactory) -> None:
    # limits.max_keywords_per_mailbox holds in the store itself: delivery (Sieve's imap4flags), STORE,
    # COPY and MOVE store the keywords that fit and leave the others off the message, never the
    # message itself; the keywords a mailbox already lists always fit.
    store = await store_factory(Settings.model_validate({"limits": {"max_keywords_per_mailbox": 2}}))
    try:
        account = await make_account(store)
        inbox, archive = await mailbox(store, account), await mailbox(store, account, "Archive")

        async def flags(box: MailboxInfo) -> list[list[str]]:
            return [sorted(entry.flags) for entry in (await store.open_view(box.id)).messages]

        await deliver(store, make_message(n=1), inbox.id, flags={"$A", "\\Seen"})
        await deliver(store, make_message(n=2), inbox.id, flags={"$B", "$C", "\\Flagged"})
        listed = sorted((await refreshed(store, inbox)).keywords)
        assert (len(listed), listed[0]) == (2, "$A")  # one of $B and $C fitted
        assert [flag for entry in await flags(inbox) for flag in entry if flag.startswith("$")] == listed
        assert (await flags(inbox))[1][-1] == "\\Flagged"  # system flags are never refused
        changed = await store.set_flags(inbox.id, [1], "add", ["$New", "$a", "\\Answered"])
        assert sorted(changed.changed[0].flags) == ["$A", "\\Answered", "\\Seen"]
        assert (await store.set_flags(inbox.id, [1], "add", ["$New"])).changed == ()  # nothing to store
        await deliver(store, make_message(n=3), archive.id, flags={"$X", "$Y"})
        # Archive is full: $A and $B/$C stay behind
        await store.transfer(inbox.id, [1, 2], archive.id, move=False)
        assert sorted((await refreshed(store, archive)).keywords) == ["$X", "$Y"]
        assert await flags(archive) == [["$X", "$Y"], ["\\Answered", "\\Seen"], ["\\Flagged"]]
        await store.transfer(archive.id, [1], inbox.id, move=True)
        assert sorted((await refreshed(store, inbox)).keywords) == listed
        assert (await flags(inbox))[-1] == []  # moved without $X and $Y, and kept
        assert (await store.reconstruct()).counters_changed == 0  # every kept keyword is listed
    finally:
        await store.close()


async def test_expunge_records_and_uids_never_reused(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(3):
        await deliver(store, make_message(n=n), inbox.id, flags={"\\Deleted"} if n < 2 else ())
    mark = (await refreshed(store, inbox)).highestmodseq
    result = await store.expunge(inbox.id, [1, 2, 50])
    assert result.expunged == (1, 2)
    assert result.highestmodseq > mark
    info = await refreshed(store, inbox)
    assert (info.messages, info.deleted, info.unseen, info.uidnext) == (1, 0, 1, 4)
    assert (await store.expunge(inbox.id, [1])).expunged == ()  # already gone
    changes = await store.changes_since(inbox.id, mark)
    assert changes.expunged == (1, 2)
    assert changes.highestmodseq == result.highestmodseq
    await store.expunge(inbox.id, [3])
    placed = await deliver(store, make_message(n=9), inbox.id)
    assert placed[0].uid == 4
    all_changes = await store.changes_since(inbox.id, 0)
    assert all_changes.expunged == (1, 2, 3)
    assert [e.uid for e in all_changes.changed] == [4]


async def test_expunge_deleted_chooses_in_the_write(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(1, 5):
        await deliver(store, make_message(n=n), inbox.id, flags={"\\Deleted"} if n != 2 else ())
    await store.set_flags(inbox.id, [4], "remove", ["\\Deleted"])  # unflagged again: it stays
    await store.set_flags(inbox.id, [2], "add", ["\\Deleted"])  # flagged later: it goes
    mark = (await refreshed(store, inbox)).highestmodseq
    only = await store.expunge(inbox.id, [3, 4, 99], only_deleted=True)  # UID EXPUNGE: among these only
    assert only.expunged == (3,)
    assert only.highestmodseq == mark + 1
    rest = await store.expunge(inbox.id, None, only_deleted=True)
    assert rest.expunged == (1, 2)
    assert rest.highestmodseq == mark + 2
    none = await store.expunge(inbox.id, None, only_deleted=True)  # nothing flagged: no write, no new MODSEQ
    assert (none.expunged, none.highestmodseq) == ((), rest.highestmodseq)
    info = await refreshed(store, inbox)
    assert (info.messages, info.deleted, info.highestmodseq) == (1, 0, rest.highestmodseq)
    assert (await store.changes_since(inbox.id, mark)).expunged == (1, 2, 3)
    with pytest.raises(NotFound):
        await store.expunge(inbox.id + 1000, None, only_deleted=True)


async def test_expunge_of_every_message(store: Store) -> None:
    # uids None without only_deleted: the mailbox is emptied, flags regardless (what an "empty
    # folder" of a client asks), with one MODSEQ and expunge records for every UID.
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(1, 4):
        await deliver(store, make_message(n=n), inbox.id, flags={"\\Flagged"} if n == 2 else ())
    await store.expunge(inbox.id, [1])
    mark = (await refreshed(store, inbox)).highestmodseq
    emptied = await store.expunge(inbox.id, None)
    assert (emptied.expunged, emptied.highestmodseq) == ((2, 3), mark + 1)
    info = await refreshed(store, inbox)
    assert (info.messages, info.size, info.highestmodseq) == (0, 0, mark + 1)
    assert (await store.changes_since(inbox.id, mark)).expunged == (2, 3)
    again = await store.expunge(inbox.id, None)  # nothing left: no write
    assert (again.expunged, again.highestmodseq) == ((), mark + 1)


async def test_write_results_carry_the_new_entries(store: Store) -> None:
    # APPEND, COPY and MOVE return what the mailboxes now list, so that a session need not read it back.
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    inbox, archive = await mailbox(store, alice), await mailbox(store, alice, "Archive")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    placed = await deliver(store, make_message(n=1), inbox.id, flags={"\\Seen", "$x"}, when=when)
    await deliver(store, make_message(n=2), inbox.id)
    view = await store.open_view(inbox.id)
    assert placed[0].entry == view.messages[0]
    archive_mark = (await refreshed(store, archive)).highestmodseq
    copied = await store.transfer(inbox.id, [2, 1, 7], MailboxName(alice.id, "Archive"), move=False)
    assert copied is not None
    assert (copied.source_uids, copied.destination_uids, copied.removed) == ((1, 2), (1, 2), None)
    assert copied.added == await store.changes_since(archive.id, archive_mark)
    # No such destination: nothing copied; a source of another account is NotFound.
    assert await store.transfer(inbox.id, [1], MailboxName(alice.id, "Nowhere"), move=False) is None
    with pytest.raises(NotFound):
        await store.transfer(inbox.id, [1], MailboxName(bob.id, "INBOX"), move=False)
    assert await store.open_view(inbox.id) == view
    inbox_mark = (await refreshed(store, inbox)).highestmodseq
    moved = await store.transfer(inbox.id, [1], MailboxName(alice.id, "Archive"), move=True)
    assert moved is not None
    assert moved.added is not None
    assert moved.removed is not None
    assert moved.removed == await store.changes_since(inbox.id, inbox_mark)
    assert moved.removed.expunged == (1,)
    [entry] = moved.added.changed
    assert (entry.uid, entry.flags, entry.internal_date) == (3, frozenset({"\\Seen", "$x"}), when)
    assert entry == (await store.open_view(archive.id)).messages[-1]
    # APPEND: the mailbox looked up by name in the write; None (nothing stored) when there is none.
    blob, parsed = await put(store, make_message(n=3))
    assert await store.append(alice.id, "Nowhere", blob, parsed) is None
    appended = await store.append(alice.id, "Archive", blob, parsed, frozenset({"\\Flagged"}), when)
    assert appended is not None
    assert (appended.mailbox_id, appended.uid, appended.uidvalidity) == (archive.id, 4, archive.uidvalidity)
    assert appended.entry == (await store.open_view(archive.id)).messages[-1]
    assert (await refreshed(store, archive)).messages == 4


async def test_changes_since_reports_flags_and_expunges(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(4):
        await deliver(store, make_message(n=n), inbox.id)
    mark = (await refreshed(store, inbox)).highestmodseq
    assert (await store.changes_since(inbox.id, mark)).changed == ()
    await store.set_flags(inbox.id, [2], "add", ["\\Answered"])
    await store.expunge(inbox.id, [3])
    appended = await deliver(store, make_message(n=10), inbox.id)
    changes = await store.changes_since(inbox.id, mark)
    assert [e.uid for e in changes.changed] == [2, appended[0].uid]
    assert changes.changed[0].flags == frozenset({"\\Answered"})
    assert changes.expunged == (3,)
    assert changes.highestmodseq == (await refreshed(store, inbox)).highestmodseq
    assert all(e.modseq > mark for e in changes.changed)


async def test_cached_parse_results(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    data = make_message("cached", "cached body")
    placed = await deliver(store, data, inbox.id)
    rows = await store.cached(inbox.id, [placed[0].uid, 404])
    assert [row.uid for row in rows] == [placed[0].uid]
    assert rows[0].message_id == placed[0].message_id
    assert rows[0].blob.size == len(data)
    assert rows[0].parsed_json == parse_message(data, MIME).to_json(with_text=False)
    assert ParsedMessage.from_json(rows[0].parsed_json).size == len(data)


async def test_write_errors_on_missing_mailbox(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    missing = inbox.id + 1000
    with pytest.raises(NotFound):
        await store.set_flags(missing, [1], "add", ["\\Seen"])
    with pytest.raises(NotFound):
        await store.expunge(missing, [1])
    with pytest.raises(NotFound):
        await store.transfer(inbox.id, [1], missing, move=False)
    with pytest.raises(NotFound):
        await store.transfer(missing, [1], inbox.id, move=True)
    with pytest.raises(NotFound):
        await store.changes_since(missing, 0)


async def test_invalid_arguments(store: Store) -> None:
    # Programming errors, not protocol errors: pochta.mail.ops validates what clients send.
    account = await make_account(store)
    inbox = await mailbox(store, account)
    await deliver(store, make_message(), inbox.id)
    with pytest.raises(ValueError, match="operation"):
        await store.set_flags(inbox.id, [1], "toggle", ["\\Seen"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flag"):
        await store.set_flags(inbox.id, [1], "add", ["two words"])
    with pytest.raises(ValueError, match="field"):
        await store.search_text(inbox.id, "x", "subject")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flag"):
        await deliver(store, make_message(n=2), inbox.id, flags=[""])
    assert (await refreshed(store, inbox)).messages == 1


async def test_quota_usage_counts_every_membership(store: Store) -> None:
    account = await make_account(store, quota=10_000)
    other = await make_account(store, "bob@example.org")
    inbox, archive = await mailbox(store, account), await mailbox(store, account, "Archive")
    data = make_message("quota")
    size = len(data)
    assert await store.quota_usage(account.id) == 0
    await deliver(store, data, inbox.id, archive.id, (await mailbox(store, other)).id)
    # One blob, but IMAP QUOTA counts the message once per mailbox holding it.
    assert await store.quota_usage(account.id) == 2 * size
    assert await store.quota_usage(other.id) == size
    await store.transfer(inbox.id, [1], inbox.id, move=False)
    assert await store.quota_usage(account.id) == 3 * size
    await store.expunge(inbox.id, [1])
    assert await store.quota_usage(account.id) == 2 * size
    await store.delete_mailbox(account.id, "Archive")
    assert await store.quota_usage(account.id) == size
    assert await store.quota_usage(other.id) == size


async def test_search_text(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    await deliver(store, make_message("Quarterly report", "Revenue grew in Zürich and Berlin"), inbox.id)
    await deliver(store, make_message("Lunch", "Shall we meet at noon? Quarterly numbers later."), inbox.id)
    await deliver(store, make_message("Other", "nothing to see"), inbox.id)
    other_box = await mailbox(store, account, "Archive")
    await deliver(store, make_message("Quarterly report", "Revenue grew elsewhere"), other_box.id)
    assert await store.search_text(inbox.id, "revenue", "body") == {1}
    assert await store.search_text(inbox.id, "REVENUE GREW", "body") == {1}  # phrase, any case
    assert await store.search_text(inbox.id, "quarterly", "body") == {2}  # body only
    assert await store.search_text(inbox.id, "quarterly", "text") == {1, 2}  # headers too
    assert await store.search_text(inbox.id, "venu", "body") == {1}  # RFC 9051: substring
    assert await store.search_text(inbox.id, "zürich", "body") == {1}
    assert await store.search_text(inbox.id, "no", "body") == {2, 3}  # too short for an index
    assert await store.search_text(inbox.id, "absent words", "text") == set()
    assert await store.search_text(other_box.id, "revenue", "body") == {1}  # per mailbox


HOSTILE_QUERIES = [
    '"',
    '""',
    '"unbalanced',
    "*",
    "re*",
    "NEAR(",
    "NEAR(a b",
    "AND",
    "a AND",
    "OR NOT",
    "body:",
    "body : x",
    "{body}",
    "(",
    ")",
    "^",
    "-",
    "+",
    "%",
    "_",
    "\\",
    "'",
    "';--",
    "\x00",
    "a\x00b",
    "   ",
    "",
]


async def test_search_text_hostile_input(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    await deliver(
        store, make_message("Subject AND more", 'Say "NEAR(" here, 50% off_ (a*b) c:\\path'), inbox.id
    )
    await deliver(store, make_message("plain", "plain text"), inbox.id)
    for query in HOSTILE_QUERIES:
        for field in ("body", "text"):
            found = await store.search_text(inbox.id, query, field)
            assert found <= {1, 2}, (query, field)
    # Special characters are matched literally, not as syntax.
    assert await store.search_text(inbox.id, "", "body") == {1, 2}  # every string contains ""
    assert await store.search_text(inbox.id, '"NEAR("', "body") == {1}
    assert await store.search_text(inbox.id, "50% off_", "body") == {1}
    assert await store.search_text(inbox.id, "%", "body") == {1}
    assert await store.search_text(inbox.id, "_", "body") == {1}
    assert await store.search_text(inbox.id, "(a*b)", "body") == {1}
    assert await store.search_text(inbox.id, "c:\\path", "body") == {1}
    assert await store.search_text(inbox.id, "AND", "body") == set()
    assert await store.search_text(inbox.id, "AND", "text") == {1}
    assert await store.search_text(inbox.id, "*", "body") == {1}


# Blobs


async def test_open_blob_and_put_blob_file(store: Store, tmp_path: Path) -> None:
    data = make_message("blob") * 100
    blob = await store.put_blob(data)
    with store.open_blob(blob) as f:
        assert f.read() == data
    assert await store.put_blob(data) == blob  # idempotent
    spool = tmp_path / "spool-1"
    spool.write_bytes(data + b"more")
    adopted = await store.put_blob_file(str(spool))
    assert adopted.size == len(data) + 4
    with store.open_blob(adopted) as f:
        assert f.read() == data + b"more"
    with pytest.raises(NotFound):
        store.open_blob(BlobRef("f" * 64, 1))


async def test_read_blob_whole_and_missing(store: Store) -> None:
    data = make_message("read") * 50
    blob = await store.put_blob(data)
    assert store.read_blob(blob) == data
    # At most the recorded size: a ref that records fewer octets gets only those.
    assert store.read_blob(BlobRef(blob.sha256, 10)) == data[:10]
    with pytest.raises(NotFound):
        store.read_blob(BlobRef("e" * 64, 1))
    with pytest.raises(ValueError, match="not a blob name"):
        store.read_blob(BlobRef("../" + "e" * 61, 1))


# Change feed


async def test_feed_after_commit_to_right_subscriber_only(store: Store) -> None:
    account = await make_account(store)
    inbox, archive = await mailbox(store, account), await mailbox(store, account, "Archive")
    inbox_changes = store.feed().subscribe(inbox.id)
    archive_changes = store.feed().subscribe(archive.id)
    try:
        await deliver(store, make_message(n=1), archive.id)  # not for the INBOX subscriber
        placed = await deliver(store, make_message(n=2), inbox.id)
        change = await next_change(inbox_changes)
        assert change.kind is ChangeKind.APPENDED
        assert (change.account_id, change.mailbox_id, change.uids) == (account.id, inbox.id, (placed[0].uid,))
        # Published only after commit: what it announces is already readable.
        view = await store.open_view(inbox.id)
        assert view.mailbox.highestmodseq >= change.modseq
        assert placed[0].uid in [e.uid for e in view.messages]
        archived = await next_change(archive_changes)
        assert (archived.kind, archived.mailbox_id) == (ChangeKind.APPENDED, archive.id)

        flags = await store.set_flags(inbox.id, [placed[0].uid], "add", ["\\Seen"])
        change = await next_change(inbox_changes)
        assert (change.kind, change.modseq, change.uids) == (ChangeKind.FLAGS, flags.highestmodseq, (1,))
        gone = await store.expunge(inbox.id, [placed[0].uid])
        change = await next_change(inbox_changes)
        assert (change.kind, change.modseq, change.uids) == (ChangeKind.EXPUNGED, gone.highestmodseq, (1,))
        # A failed write publishes nothing.
        with pytest.raises(NotFound):
            await store.deliver(*(await put(store, make_message(n=3))), [Target(inbox.id), Target(-1)])
        moved = await deliver(store, make_message(n=4), archive.id)
        await store.transfer(archive.id, [moved[0].uid], inbox.id, move=True)
        change = await next_change(inbox_changes)
        assert change.kind is ChangeKind.APPENDED  # the failed delivery left no event before this
        assert [c.kind for c in [await next_change(archive_changes) for _ in range(2)]] == [
            ChangeKind.APPENDED,
            ChangeKind.EXPUNGED,
        ]
    finally:
        await inbox_changes.aclose()
        await archive_changes.aclose()


async def test_feed_mailbox_events_and_close(store: Store) -> None:
    account = await make_account(store)
    work = await store.create_mailbox(account.id, "Work")
    changes = store.feed().subscribe(work.id)
    await store.rename_mailbox(account.id, "Work", "Job")
    change = await next_change(changes)
    assert (change.kind, change.mailbox_id) == (ChangeKind.MAILBOX, work.id)
    await store.delete_mailbox(account.id, "Job")
    change = await next_change(changes)
    assert (change.kind, change.mailbox_id) == (ChangeKind.MAILBOX, work.id)
    await changes.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(changes)


# Several handles (processes share the database; here, two handles in one process)


async def test_second_handle_sees_writes(store: Store, store_factory: StoreFactory) -> None:
    other = await store_factory()
    try:
        account = await make_account(other)
        found = await store.get_account("alice@example.org")
        assert found == account
        await store.update_account("alice@example.org", enabled=False)
        again = await other.get_account("alice@example.org")
        assert again is not None
        assert not again.enabled
        inbox = await mailbox(store, account)
        await deliver(other, make_message(), inbox.id)
        assert (await refreshed(store, inbox)).messages == 1
    finally:
        await other.close()
