"""SelectedMailbox: the session's message numbering and the untagged updates it owes the client."""

from __future__ import annotations

import gc
import random
import tracemalloc
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pochta.proto.imap.responses import Exists, Expunge, Fetch, Recent, Response, serialise
from pochta.proto.imap.selected import InvalidSequenceNumber, SelectedMailbox
from pochta.proto.imap.sequence import SequenceSet
from pochta.store.model import BlobRef, ChangeSet, MailboxInfo, MailboxView, MessageEntry, pack_date

MAILBOX_ID = 7
SEEN = frozenset({"\\Seen"})
DELETED = frozenset({"\\Deleted"})
NONE: frozenset[str] = frozenset()
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def info(highestmodseq: int = 100, uidnext: int = 1) -> MailboxInfo:
    return MailboxInfo(
        id=MAILBOX_ID,
        account_id=1,
        name="INBOX",
        uidvalidity=42,
        uidnext=uidnext,
        highestmodseq=highestmodseq,
        special_use=None,
        subscribed=True,
        messages=0,
        unseen=0,
        deleted=0,
        size=0,
    )


def entry(uid: int, flags: frozenset[str] = NONE, modseq: int = 1) -> MessageEntry:
    return MessageEntry(
        uid=uid,
        message_id=uid,
        flags=flags,
        modseq=modseq,
        size=10,
        internal_date=WHEN,
        blob=BlobRef(f"{uid:064x}", 10),
    )


def view(uids: Iterable[int], flags: frozenset[str] = NONE, highestmodseq: int = 100) -> MailboxView:
    return MailboxView.from_entries(info(highestmodseq), [entry(u, flags) for u in uids])


def session(
    uids: Iterable[int], *, rev1: bool = False, recent: int | None = None, flags: frozenset[str] = NONE
) -> SelectedMailbox[MessageEntry]:
    return SelectedMailbox(view(uids, flags), read_only=False, rev1=rev1, recent_from=recent)


def changes(modseq: int, changed: Sequence[MessageEntry] = (), expunged: Sequence[int] = ()) -> ChangeSet:
    return ChangeSet(MAILBOX_ID, modseq, tuple(changed), tuple(sorted(expunged)))


def wire(responses: Iterable[Response]) -> list[bytes]:
    return [serialise(r) for r in responses]


# --- numbering and lookups --------------------------------------------------------------------------


def test_construction_from_view() -> None:
    v = MailboxView.from_entries(info(55), [entry(3, SEEN, 4), entry(8, NONE, 9), entry(20, DELETED, 50)])
    s = SelectedMailbox(v, read_only=True, rev1=False)
    assert s.exists == 3
    assert list(s.uids) == [3, 8, 20]
    assert [s.uid_at(n) for n in (1, 2, 3)] == [3, 8, 20]
    assert [s.seq_of(u) for u in (3, 8, 20, 5, 21)] == [1, 2, 3, None, None]
    assert s.flags_of(3) == SEEN
    assert s.modseq_of(20) == 50
    assert s.highestmodseq == 55
    assert s.read_only
    assert s.mailbox_id == MAILBOX_ID
    assert s.uidvalidity == 42
    assert not s.pending
    assert s.updates(allow_expunge=True, include_uid=False) == []
    with pytest.raises(IndexError):
        s.uid_at(0)
    with pytest.raises(IndexError):
        s.uid_at(4)
    with pytest.raises(KeyError):
        s.flags_of(5)
    with pytest.raises(KeyError):
        s.modseq_of(5)


@dataclass(frozen=True)
class PlainMailbox:
    id: int
    name: str
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlainEntry:
    uid: int
    message_id: int
    flags: frozenset[str]
    modseq: int
    size: int
    internal_date: datetime
    note: str  # a field of the caller's own: the state gives its records back as they are


@dataclass
class PlainView:
    """A view in the shape of ``pochta.proto.imap.view.View``, with no store record in it."""

    mailbox: PlainMailbox
    rows: list[PlainEntry]

    def __post_init__(self) -> None:
        self.uids = array("q", (r.uid for r in self.rows))
        self.message_ids = [r.message_id for r in self.rows]
        self.flags = [r.flags for r in self.rows]
        self.modseqs = [r.modseq for r in self.rows]
        self.sizes = [r.size for r in self.rows]

    def position(self, uid: int) -> int | None:
        return self.uids.index(uid) if uid in self.uids else None

    def entry(self, index: int) -> PlainEntry:
        return self.rows[index]

    def internal_date(self, index: int) -> datetime:
        return self.rows[index].internal_date

    def flag_sets(self) -> list[frozenset[str]]:
        return list(dict.fromkeys(self.flags))


@dataclass(frozen=True)
class PlainChanges:
    mailbox_id: int
    highestmodseq: int
    changed: tuple[PlainEntry, ...] = ()
    expunged: tuple[int, ...] = ()
    live_uids: tuple[int, ...] | None = None


def test_the_state_needs_only_the_records_view_py_describes() -> None:
    # proto/imap/view.py: the core reads these attributes and no others (no store type needed).
    def plain(uid: int, flags: frozenset[str], modseq: int) -> PlainEntry:
        return PlainEntry(uid, 1000 + uid, flags, modseq, 100 + uid, WHEN, f"row {uid}")

    box = PlainMailbox(5, "Plain", 9, 30, 40, ("Gone",))  # a keyword no message carries any more
    v = PlainView(box, [plain(3, SEEN, 4), plain(8, frozenset({"Work"}), 9)])
    s = SelectedMailbox(v, read_only=False, rev1=True, recent_from=8)
    assert (s.mailbox_id, s.name, s.uidvalidity, s.max_uid, s.highestmodseq) == (5, "Plain", 9, 29, 40)
    assert s.keywords == ("Gone", "Work")
    assert s.client_flags(8) == ("Work", "\\Recent")
    assert s.sizes([3, 8]) == [103, 108]
    assert s.internal_dates([8]) == [WHEN]
    assert s.message_ids([3, 8]) == [1003, 1008]
    got = s.entry(8)
    assert got is not None
    assert got.note == "row 8"
    s.absorb(PlainChanges(5, 42, (plain(3, NONE, 41), plain(31, NONE, 42)), (8,)))
    assert wire(s.updates(allow_expunge=True, include_uid=False)) == [
        b"* 2 EXPUNGE\r\n",
        b"* 2 EXISTS\r\n",
        b"* 1 RECENT\r\n",  # announced and not taken by another session: \\Recent here
        b"* 1 FETCH (FLAGS ())\r\n",
    ]
    announced = s.entry(31)
    assert announced is not None
    assert s.message_ids([3, 31]) == [1003, 1031]
    assert announced.note == "row 31"
    assert s.apply_own(PlainChanges(5, 43, (), (3,))) == [Expunge(1)]
    assert list(s.uids) == [31]


def test_the_view_columns_are_never_modified() -> None:
    v = view([1, 2, 3])
    s = SelectedMailbox(v, read_only=False, rev1=False)
    s.absorb(changes(200, [entry(2, SEEN, 150), entry(4, NONE, 151)], [3]))
    s.updates(allow_expunge=True, include_uid=False)
    assert list(v.uids) == [1, 2, 3]
    assert v.flags == (NONE, NONE, NONE)
    assert list(v.modseqs) == [1, 1, 1]
    assert list(s.uids) == [1, 2, 4]
    assert s.flags_of(2) == SEEN


def test_client_flags_order_and_recent_only_for_rev1() -> None:
    flags = frozenset({"$Junk", "\\Seen", "\\Answered", "Work"})
    rev1 = session([1, 2], rev1=True, recent=2, flags=flags)
    assert rev1.client_flags(1) == ("\\Answered", "\\Seen", "$Junk", "Work")
    assert rev1.client_flags(2) == ("\\Answered", "\\Seen", "$Junk", "Work", "\\Recent")
    assert rev1.recent_count == 1
    assert rev1.is_recent(2)
    rev2 = session([1, 2], rev1=False, recent=2, flags=flags)
    assert "\\Recent" not in rev2.client_flags(2)


def test_changes_of_another_mailbox_are_refused() -> None:
    s = session([1])
    with pytest.raises(ValueError, match="mailbox 8"):
        s.absorb(ChangeSet(8, 5))
    with pytest.raises(ValueError, match="mailbox 8"):
        s.apply_own(ChangeSet(8, 5))


# --- resolve ----------------------------------------------------------------------------------------


def resolve(s: SelectedMailbox[MessageEntry], text: bytes, *, uid: bool = False) -> list[int]:
    return s.resolve(SequenceSet.parse(text), uid=uid)


def test_resolve_sequence_numbers() -> None:
    s = session(range(101, 116))  # 15 messages, UIDs 101..115
    # RFC 9051 §9 sequence-set example: 2,4:7,9,12:* with 15 messages.
    assert resolve(s, b"2,4:7,9,12:*") == [101 + n - 1 for n in (2, 4, 5, 6, 7, 9, 12, 13, 14, 15)]
    assert resolve(s, b"*:13,5:3") == [103, 104, 105, 113, 114, 115]
    assert resolve(s, b"*") == [115]
    assert resolve(s, b"1:*") == list(range(101, 116))


def test_resolve_sequence_number_beyond_exists_is_an_error() -> None:
    s = session([10, 20, 30])
    with pytest.raises(InvalidSequenceNumber, match=r"Message number 4 is beyond the last message \(3"):
        resolve(s, b"1,4")
    with pytest.raises(InvalidSequenceNumber, match="Message number 9"):
        resolve(s, b"9:2")


def test_resolve_star_in_an_empty_mailbox_is_an_error() -> None:
    s = session([])
    with pytest.raises(InvalidSequenceNumber, match=r"\* names no message: the mailbox is empty"):
        resolve(s, b"*")
    with pytest.raises(InvalidSequenceNumber, match="Message number 1"):
        resolve(s, b"1")
    assert resolve(s, b"1:*", uid=True) == []  # UID sets: nothing matches, no error
    assert resolve(s, b"*", uid=True) == []


def test_resolve_uids() -> None:
    s = session([3, 5, 495, 3291])
    assert resolve(s, b"443:557", uid=True) == [495]  # RFC 9051 §6.4.9: absent UIDs are ignored
    assert resolve(s, b"559:*", uid=True) == [3291]
    assert resolve(s, b"5000:*", uid=True) == [3291]  # "n:*" with n above the last UID: the last
    assert resolve(s, b"*", uid=True) == [3291]
    assert resolve(s, b"1:4,5,6:9999", uid=True) == [3, 5, 495, 3291]
    assert resolve(s, b"4000:5000", uid=True) == []
    assert resolve(s, b"4", uid=True) == []


def test_resolve_counts_held_back_expunges_and_not_unannounced_messages() -> None:
    s = session([1, 2, 3])
    s.absorb(changes(200, [entry(4)], [2]))
    s.updates(allow_expunge=False, include_uid=False)
    s.absorb(changes(201, [entry(5)]))
    assert resolve(s, b"1:*") == [1, 2, 3, 4]  # 2 still numbered, 5 not yet announced
    assert s.is_expunged(2)
    assert not s.is_expunged(1)
    assert resolve(s, b"*", uid=True) == [4]
    with pytest.raises(InvalidSequenceNumber):
        resolve(s, b"5")


def test_saved_result() -> None:
    s = session([1, 2, 3, 4, 5])
    assert resolve(s, b"$") == []  # RFC 5182 §2.1: empty until a SEARCH ... SAVE
    s.save_result([4, 2, 5, 99])
    assert resolve(s, b"$") == [2, 4, 5]
    assert resolve(s, b"$", uid=True) == [2, 4, 5]
    s.absorb(changes(200, expunged=[4]))
    assert resolve(s, b"$") == [2, 5]  # RFC 5182 §2.1: expunged messages leave "$"
    assert s.apply_own(changes(201, expunged=[2])) == [Expunge(2)]
    assert resolve(s, b"$") == [5]
    s.updates(allow_expunge=True, include_uid=False)
    assert resolve(s, b"$") == [5]
    s.save_result([])
    assert resolve(s, b"$") == []


# --- expunges ---------------------------------------------------------------------------------------


def test_rfc9051_6_4_3_expunge_example_own() -> None:
    # RFC 9051 §6.4.3: messages 3, 4, 7 and 11 had \Deleted: "* 3 EXPUNGE", 3, 5, 8.
    s = session(range(1, 12))
    out = s.apply_own(changes(200, expunged=[3, 4, 7, 11]))
    assert wire(out) == [b"* 3 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n", b"* 5 EXPUNGE\r\n", b"* 8 EXPUNGE\r\n"]
    assert list(s.uids) == [1, 2, 5, 6, 8, 9, 10]
    assert s.exists == 7
    assert not s.pending


def test_rfc9051_6_4_3_expunge_example_from_another_session() -> None:
    s = session(range(1, 12))
    s.absorb(changes(200, expunged=[3, 4, 7, 11]))
    assert s.updates(allow_expunge=True, include_uid=False) == [
        Expunge(3),
        Expunge(3),
        Expunge(5),
        Expunge(8),
    ]


def test_rfc9051_7_5_1_last_five_of_nine() -> None:
    # RFC 9051 §7.5.1: a "lower to higher" server sends five EXPUNGEs for number 5.
    s = session(range(1, 10))
    s.absorb(changes(200, expunged=[5, 6, 7, 8, 9]))
    assert s.updates(allow_expunge=True, include_uid=False) == [Expunge(5)] * 5
    assert s.exists == 4


def test_rfc9051_6_4_9_uid_expunge_example() -> None:
    # RFC 9051 §6.4.9: C: A003 UID EXPUNGE 3000:3002 / S: * 3 EXPUNGE (three times).
    s = session([1000, 2000, 3000, 3001, 3002, 4000])
    uids = resolve(s, b"3000:3002", uid=True)
    assert s.apply_own(changes(200, expunged=uids)) == [Expunge(3)] * 3
    assert list(s.uids) == [1000, 2000, 4000]


def test_expunges_held_during_fetch_store_search_then_released() -> None:
    s = session([10, 20, 30, 40])
    s.absorb(changes(200, expunged=[20, 40]))
    assert s.pending
    # FETCH/STORE/SEARCH by number: no EXPUNGE (RFC 9051 §7.5.1); numbers stay as the client has them.
    assert s.updates(allow_expunge=False, include_uid=False) == []
    assert s.exists == 4
    assert s.uid_at(2) == 20
    assert s.is_expunged(20)
    assert s.flags_of(20) == NONE  # still answerable from the session
    assert s.updates(allow_expunge=False, include_uid=False) == []
    assert s.updates(allow_expunge=True, include_uid=False) == [Expunge(2), Expunge(3)]
    assert list(s.uids) == [10, 30]
    assert not s.is_expunged(20)
    assert s.seq_of(20) is None
    assert s.updates(allow_expunge=True, include_uid=False) == []


def test_own_expunge_with_others_held_back() -> None:
    s = session([1, 2, 3, 4, 5])
    s.absorb(changes(200, expunged=[2]))
    assert s.updates(allow_expunge=False, include_uid=False) == []
    # Our own EXPUNGE of UID 4 is numbered with 2 still present: "* 4 EXPUNGE".
    assert s.apply_own(changes(201, expunged=[4])) == [Expunge(4)]
    assert s.updates(allow_expunge=True, include_uid=False) == [Expunge(2)]
    assert list(s.uids) == [1, 3, 5]


def test_own_expunge_of_a_held_back_message_is_sent_once() -> None:
    s = session([1, 2, 3])
    s.absorb(changes(200, expunged=[2]))
    assert s.apply_own(changes(200, expunged=[2, 3])) == [Expunge(2), Expunge(2)]
    assert s.updates(allow_expunge=True, include_uid=False) == []
    s.absorb(changes(200, expunged=[2, 3]))  # the feed's echo
    assert s.updates(allow_expunge=True, include_uid=False) == []
    assert list(s.uids) == [1]


def test_echo_of_an_expunged_uid_is_not_taken_as_new() -> None:
    s = session([1, 2, 3])
    s.apply_own(changes(200, expunged=[2]))
    s.absorb(changes(201, [entry(2, SEEN, 199)]))  # stale record of UID 2
    assert s.updates(allow_expunge=True, include_uid=False) == []
    assert list(s.uids) == [1, 3]


# --- EXISTS -----------------------------------------------------------------------------------------


def test_new_messages_give_exists() -> None:
    s = session([1, 2])
    s.absorb(changes(200, [entry(3, SEEN, 200)]))
    s.absorb(changes(201, [entry(4, NONE, 201)]))
    assert s.exists == 2  # the client has not been told yet
    assert s.updates(allow_expunge=False, include_uid=False) == [Exists(4)]
    assert s.exists == 4
    assert s.uid_at(4) == 4
    assert s.flags_of(3) == SEEN
    assert s.highestmodseq == 201


def test_sizes_and_internal_dates_in_bulk_match_the_entries() -> None:
    v = MailboxView.from_entries(
        info(55),
        [
            MessageEntry(
                uid, uid, NONE, 1, 100 + uid, datetime(2026, 1, uid, tzinfo=UTC), BlobRef(f"{uid:064x}", 1)
            )
            for uid in (3, 8, 20)
        ],
    )
    s = SelectedMailbox(v, read_only=False, rev1=False)
    later = MessageEntry(30, 30, NONE, 200, 77, WHEN, BlobRef("f" * 64, 77))
    s.absorb(changes(200, [later], expunged=[8]))  # a message added, one expunged but still numbered
    s.updates(allow_expunge=False, include_uid=False)
    s.apply_own(changes(201, [entry(3, SEEN, 201)]))  # a flag change over the view
    uids = [3, 8, 20, 30]
    assert s.sizes(uids) == [103, 108, 120, 77]
    assert s.internal_dates(uids) == [datetime(2026, 1, d, tzinfo=UTC) for d in (3, 8, 20)] + [WHEN]
    entries = [s.entry(uid) for uid in uids]
    assert s.sizes(uids) == [e.size for e in entries if e is not None]
    assert s.internal_dates(uids) == [e.internal_date for e in entries if e is not None]


def test_new_message_with_expunges_held_back_never_shrinks_exists() -> None:
    s = session([1, 2, 3, 4, 5])
    s.absorb(changes(200, [entry(6)], [2, 3]))
    # RFC 9051 §5.2: an EXISTS may not lower the count; 2 and 3 are still counted.
    assert s.updates(allow_expunge=False, include_uid=False) == [Exists(6)]
    assert s.uid_at(6) == 6
    assert s.updates(allow_expunge=True, include_uid=False) == [Expunge(2), Expunge(2)]
    assert s.exists == 4


def test_new_message_after_expunges_in_one_batch() -> None:
    s = session([1, 2, 3, 4, 5])
    s.absorb(changes(200, expunged=[2, 3]))
    s.absorb(changes(201, [entry(6)]))
    out = s.updates(allow_expunge=True, include_uid=False)
    assert wire(out) == [b"* 2 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n", b"* 4 EXISTS\r\n"]
    assert list(s.uids) == [1, 4, 5, 6]


def test_message_appended_and_expunged_before_announcement_is_never_told() -> None:
    s = session([1])
    s.absorb(changes(200, [entry(2)]))
    s.absorb(changes(201, expunged=[2]))
    assert s.updates(allow_expunge=True, include_uid=False) == []
    assert s.exists == 1


def test_appended_then_changed_before_announcement_is_one_exists_and_no_fetch() -> None:
    s = session([1])
    s.absorb(changes(200, [entry(2, NONE, 200)]))
    s.absorb(changes(201, [entry(2, SEEN, 201)]))
    s.absorb(changes(199, [entry(2, DELETED, 199)]))  # older: ignored
    assert s.updates(allow_expunge=True, include_uid=True) == [Exists(2)]
    assert s.flags_of(2) == SEEN
    assert s.modseq_of(2) == 201
    s.absorb(changes(202, [entry(2, DELETED, 202)]))
    assert s.updates(allow_expunge=True, include_uid=True) == [
        Fetch(2, (("UID", 2), ("FLAGS", ("\\Deleted",))))
    ]


def test_own_append_to_the_selected_mailbox_is_announced_by_updates() -> None:
    s = session([1])
    assert s.apply_own(changes(200, [entry(5, SEEN, 200)])) == []
    assert s.updates(allow_expunge=True, include_uid=False) == [Exists(2)]


# --- RECENT (IMAP4rev1) -----------------------------------------------------------------------------


def test_rev1_recent_with_new_messages() -> None:
    s = session([1, 2, 3], rev1=True, recent=3)
    assert s.recent_count == 1
    s.absorb(changes(200, [entry(4), entry(5)]))
    out = s.updates(allow_expunge=True, include_uid=False)
    assert wire(out) == [b"* 5 EXISTS\r\n", b"* 3 RECENT\r\n"]
    assert s.client_flags(4) == ("\\Recent",)
    s.absorb(changes(201, expunged=[3]))
    s.updates(allow_expunge=True, include_uid=False)
    assert s.recent_count == 2
    assert not s.is_recent(3)


def test_recent_of_the_view_is_a_suffix_and_expunges_leave_it() -> None:
    s = session([2, 4, 6, 8, 10], rev1=True, recent=5)  # UIDs 6, 8 and 10
    assert [s.is_recent(u) for u in (2, 4, 6, 8, 10, 5, 12)] == [False, False, True, True, True, False, False]
    assert s.recent_count == 3
    # A run of the view in bulk, \Recent as the suffix it is; per message once a run cannot be.
    assert s.flag_run([2, 4]) == (1, [NONE, NONE], 2)
    assert s.flag_run([4, 6, 8]) == (2, [NONE, NONE, NONE], 1)
    assert s.flag_run([8, 10]) == (4, [NONE, NONE], 0)
    assert s.flag_run([2, 6]) is None  # not consecutive
    assert session([2, 4, 6], rev1=False, recent=5).flag_run([2, 4, 6]) == (1, [NONE] * 3, 3)
    s.absorb(changes(200, expunged=[8, 2]))
    s.updates(allow_expunge=True, include_uid=False)
    assert s.recent_count == 2
    assert not s.is_recent(8)
    assert s.client_flags(10) == ("\\Recent",)
    assert session([1, 2], rev1=True, recent=3).recent_count == 0  # from UIDNEXT on: none


def test_new_messages_are_recent_only_where_this_session_took_them() -> None:
    s = session([1], rev1=True, recent=2)
    assert s.new_uid_end is None
    s.absorb(changes(200, [entry(2), entry(3), entry(4)]))
    assert s.new_uid_end == 5
    s.recent_news_from(4, 5)  # another session took 2 and 3 first (Store.take_recent gave 4)
    out = s.updates(allow_expunge=True, include_uid=False)
    assert wire(out) == [b"* 4 EXISTS\r\n", b"* 1 RECENT\r\n"]
    assert [s.is_recent(u) for u in (2, 3, 4)] == [False, False, True]
    # Without a decision (a read-only session) every new message counts as recent.
    s.absorb(changes(201, [entry(5)]))
    s.updates(allow_expunge=True, include_uid=False)
    assert s.is_recent(5)
    assert s.recent_count == 2


def test_rev2_sends_no_recent() -> None:
    s = session([1], rev1=False)
    s.absorb(changes(200, [entry(2)]))
    out = s.updates(allow_expunge=True, include_uid=False)
    assert out == [Exists(2)]
    assert not any(isinstance(r, Recent) for r in out)
    assert s.client_flags(2) == ()


# --- flag changes -----------------------------------------------------------------------------------


def test_flag_change_from_another_session() -> None:
    s = session([10, 20, 30])
    s.absorb(changes(200, [entry(30, SEEN, 200), entry(20, DELETED, 199)]))
    assert s.flags_of(30) == SEEN  # SEARCH and FETCH see the new state at once
    out = s.updates(allow_expunge=False, include_uid=False)
    assert wire(out) == [b"* 2 FETCH (FLAGS (\\Deleted))\r\n", b"* 3 FETCH (FLAGS (\\Seen))\r\n"]
    s.absorb(changes(201, [entry(10, SEEN, 201)]))
    assert wire(s.updates(allow_expunge=False, include_uid=True)) == [
        b"* 1 FETCH (UID 10 FLAGS (\\Seen))\r\n"
    ]


def test_rev1_flag_update_shows_recent() -> None:
    s = session([1], rev1=True, recent=1)
    s.absorb(changes(200, [entry(1, SEEN, 200)]))
    assert s.updates(allow_expunge=True, include_uid=False) == [
        Fetch(1, (("FLAGS", ("\\Seen", "\\Recent")),))
    ]


def test_own_store_then_feed_echo_is_not_reported_twice() -> None:
    s = session([1, 2, 3])
    write = changes(200, [entry(2, SEEN, 200)])
    assert s.apply_own(write) == []
    assert s.flags_of(2) == SEEN
    assert s.modseq_of(2) == 200
    assert s.highestmodseq == 100  # only the feed moves the cursor
    s.absorb(write)  # the feed's echo
    assert s.highestmodseq == 200
    assert s.updates(allow_expunge=True, include_uid=False) == []


def test_own_write_with_the_next_modseq_moves_the_cursor() -> None:
    s = session([1, 2, 3])  # at MODSEQ 100
    assert s.apply_own(changes(101, [entry(2, SEEN, 101)])) == []
    assert s.highestmodseq == 101  # nothing can have been committed between: the echo is not needed
    assert s.apply_own(changes(102, expunged=[3])) == [Expunge(3)]
    assert s.highestmodseq == 102
    assert s.updates(allow_expunge=True, include_uid=False) == []


def test_own_write_after_a_gap_leaves_the_cursor_to_the_feed() -> None:
    s = session([1, 2, 3])
    s.apply_own(changes(102, [entry(2, SEEN, 102)]))  # another session committed 101 meanwhile
    assert s.highestmodseq == 100
    s.apply_own(changes(101))  # a write that changed nothing reports the mailbox's MODSEQ: no move
    assert s.highestmodseq == 100
    s.absorb(changes(102, [entry(1, DELETED, 101), entry(2, SEEN, 102)]))  # changes_since(100)
    assert s.highestmodseq == 102
    assert s.updates(allow_expunge=True, include_uid=False) == [Fetch(1, (("FLAGS", ("\\Deleted",)),))]


def test_feed_echo_before_own_result_is_not_reported_either() -> None:
    s = session([1, 2, 3])
    write = changes(200, [entry(2, SEEN, 200)])
    s.absorb(write)
    s.apply_own(write)
    assert s.updates(allow_expunge=True, include_uid=False) == []


def test_newer_change_by_another_session_survives_an_older_own_result() -> None:
    s = session([1, 2])
    s.absorb(changes(201, [entry(2, DELETED, 201)]))
    s.apply_own(changes(200, [entry(2, SEEN, 200)]))
    assert s.flags_of(2) == DELETED
    assert s.updates(allow_expunge=True, include_uid=False) == [Fetch(2, (("FLAGS", ("\\Deleted",)),))]


def test_stale_flag_change_is_ignored() -> None:
    s = session([1, 2])
    s.absorb(changes(200, [entry(1, SEEN, 1)]))  # same MODSEQ the session already has
    assert s.updates(allow_expunge=True, include_uid=False) == []
    assert s.flags_of(1) == NONE


def test_flag_change_of_expunged_message_is_dropped() -> None:
    s = session([1, 2])
    s.absorb(changes(200, [entry(2, SEEN, 200)]))
    s.absorb(changes(201, expunged=[2]))
    s.absorb(changes(202, [entry(2, DELETED, 202)]))
    assert s.updates(allow_expunge=False, include_uid=False) == []
    assert s.updates(allow_expunge=True, include_uid=False) == [Expunge(2)]


def test_flag_fetch_follows_the_expunges_of_the_same_batch() -> None:
    s = session([1, 2, 3, 4])
    s.absorb(changes(200, [entry(4, SEEN, 200)], [1, 2]))
    assert s.updates(allow_expunge=False, include_uid=False) == [Fetch(4, (("FLAGS", ("\\Seen",)),))]
    s.absorb(changes(201, [entry(4, NONE, 201)]))
    assert s.updates(allow_expunge=True, include_uid=False) == [
        Expunge(1),
        Expunge(1),
        Fetch(2, (("FLAGS", ()),)),
    ]


# --- size -------------------------------------------------------------------------------------------


def test_large_mailbox_is_handled_in_bulk() -> None:
    n = 100_000
    shared = (NONE, SEEN)
    big = MailboxView(
        info(n),
        uids=array("q", range(1, 2 * n, 2)),
        message_ids=array("q", range(n)),
        flags=tuple(shared[i % 2] for i in range(n)),
        modseqs=array("q", range(1, n + 1)),
        sizes=array("q", [100]) * n,
        dates=array("q", [pack_date(1_700_000_000, 0)]) * n,
        digests=bytes(32 * n),
    )
    s = SelectedMailbox(big, read_only=False, rev1=True)
    assert s.exists == n
    all_uids = s.resolve(SequenceSet.parse(b"1:*"), uid=False)
    assert len(all_uids) == n
    # Message ids from the view's column (big_view: the position), one C loop while nothing changed.
    assert s.message_ids([1, 5, 2 * n - 1]) == [0, 2, n - 1]
    for absent in ([2], [2 * n + 1], [0]):
        with pytest.raises(KeyError):
            s.message_ids(absent)
    assert all_uids[-1] == 2 * n - 1
    assert s.resolve(SequenceSet.parse(b"1:*"), uid=True) == all_uids
    gone = all_uids[::10]  # 10,000 expunges in one batch
    s.absorb(changes(n + 1, [entry(2 * n + 1, SEEN, n + 1)], gone))
    out = s.updates(allow_expunge=True, include_uid=False)
    assert len(out) == len(gone) + 2  # EXPUNGEs, EXISTS, RECENT
    assert out[:3] == [Expunge(1), Expunge(10), Expunge(19)]
    assert out[-2:] == [Exists(n - len(gone) + 1), Recent(1)]
    assert s.seq_of(3) == 1
    assert s.seq_of(2 * n + 1) == s.exists
    assert s.flags_of(3) is SEEN  # the view's shared flag sets, not copies
    assert s.message_ids([3, 2 * n - 1, 2 * n + 1]) == [1, n - 1, 2 * n + 1]  # the tail: its records
    with pytest.raises(KeyError):
        s.message_ids([1])  # expunged and told


def big_view(n: int) -> MailboxView:
    """UIDs 1, 3, 5, ...; flags alternate between two shared sets; MODSEQs 1..n."""
    shared = (NONE, SEEN)
    return MailboxView(
        info(n),
        uids=array("q", range(1, 2 * n, 2)),
        message_ids=array("q", range(n)),
        flags=tuple(shared[i % 2] for i in range(n)),
        modseqs=array("q", range(1, n + 1)),
        sizes=array("q", [100]) * n,
        dates=array("q", [pack_date(1_700_000_000, 0)]) * n,
        digests=bytes(32 * n),
    )


def test_session_memory_grows_with_the_changes_not_the_mailbox() -> None:
    # 1,000 sessions share one view of a 100,000-message INBOX: each keeps only what changed since.
    n = 100_000
    big = big_view(n)
    rng = random.Random(7)
    touched = rng.sample(list(big.uids), 2_000)
    flagged, expunged = touched[:1_000], touched[1_000:]
    batches: list[ChangeSet] = []  # the feed's records, shared by every session: built beforehand
    modseq = n
    for start in range(0, 1_000, 100):
        modseq += 1
        batches.append(changes(modseq, [entry(u, DELETED, modseq) for u in flagged[start : start + 100]]))
        modseq += 1
        new = [entry(2 * n + 1 + i, SEEN, modseq) for i in range(start, start + 100)]
        batches.append(changes(modseq, new, expunged[start : start + 100]))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        s = SelectedMailbox(big, read_only=False, rev1=True)
        assert s.uids is big.uids  # nothing changed yet: the view's own column, no copy
        told = 0
        for cs in batches:
            s.absorb(cs)
            told += len(s.updates(allow_expunge=True, include_uid=False))  # responses are transient
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # A copy of the columns alone would be 2 x 800 kB of arrays and an 800 kB list of flags.
    assert used < 1_000_000, f"the session holds {used} bytes"
    assert told == 1_000 + 1_000 + 2 * 10  # FETCHes, EXPUNGEs, and an EXISTS and RECENT per batch
    assert s.exists == n
    assert s.uid_at(n) == 2 * n + 1_000
    assert s.flags_of(flagged[0]) == DELETED
    assert s.seq_of(expunged[0]) is None
    assert s.recent_count == 1_000
    uids = s.uids
    assert len(uids) == n
    assert list(uids) == sorted((set(big.uids) - set(expunged)) | set(range(2 * n + 1, 2 * n + 1_001)))
    assert s.resolve(SequenceSet.parse(b"1:*"), uid=False) == list(uids)
    assert s.seq_of(uids[54_321]) == 54_322


FLAG_CHOICES = [NONE, SEEN, DELETED, SEEN | DELETED, frozenset({"Work"})]


def check_numbering(s: SelectedMailbox[MessageEntry], rng: random.Random) -> None:
    uids = list(s.uids)
    assert len(uids) == s.exists
    assert uids == sorted(set(uids))
    for seq, uid in enumerate(uids, 1):
        assert s.uid_at(seq) == uid
        assert s.seq_of(uid) == seq
    assert s.seq_of(0) is None
    if not uids:
        return
    run = s.flag_run(uids)
    if run is not None:  # the bulk answer of FETCH 1:* (UID FLAGS) is the per-message one
        first, flags, recent_from = run
        assert first == 1
        shown = [
            (*SelectedMailbox.client_flag_order(f), *(["\\Recent"] if i >= recent_from else []))
            for i, f in enumerate(flags)
        ]
        assert shown == [s.client_flags(uid) for uid in uids]
    # ``entry`` gives every message its UID as message id: the view's column and the announced records.
    assert s.message_ids(uids) == uids
    some = sorted(rng.sample(uids, min(len(uids), 5)))
    assert s.message_ids(some) == some
    assert resolve(s, b"1:*") == uids
    assert resolve(s, b"*", uid=True) == [uids[-1]]
    for _ in range(3):
        a, b = rng.randint(1, len(uids)), rng.randint(1, len(uids))
        c, d = rng.randint(1, a), rng.randint(b, len(uids))
        assert resolve(s, f"{a}:{b},{c}:{d}".encode()) == uids[min(a, b, c) - 1 : max(a, b, d)]
        low, high = rng.randint(1, uids[-1] + 5), rng.randint(1, uids[-1] + 5)
        want = [u for u in uids if min(low, high) <= u <= max(low, high)]
        assert resolve(s, f"{low}:{high}".encode(), uid=True) == want


def test_long_random_run_keeps_the_view_intact_and_the_numbering_consistent() -> None:
    rng = random.Random(2026)
    count = 300
    world = World(count, rev1=True)
    v = view(range(1, count + 1))
    world.session = s = SelectedMailbox(v, read_only=False, rev1=True)
    uids, flags, modseqs = v.uids[:], list(v.flags), v.modseqs[:]
    ops = ["append", "flags", "expunge", "store", "own-expunge", "deliver", "flush", "flush-no-expunge"]
    for step in range(2_000):
        op = rng.choices(ops, weights=[35, 25, 5, 10, 3, 12, 7, 3])[0]
        chosen = rng.choice(FLAG_CHOICES)
        present = sorted(world.messages)
        if op in ("append", "flags"):
            world.other(op, rng.randrange(1_000), chosen)
        elif op == "expunge" and present:
            world.commit(expunged=sorted(rng.sample(present, min(len(present), rng.randint(1, 5)))))
        elif op == "store":
            world.own(op, rng.randrange(1_000), chosen)
        elif op == "own-expunge":
            live = [u for u in s.uids if u in world.messages and not s.is_expunged(u)]
            world.own(op, len(live) - rng.randint(1, 12), chosen)  # the last 1 to 3 of every 4th
        elif op == "deliver":
            world.deliver()
        elif op.startswith("flush"):
            world.flush(op == "flush", rng.random() < 0.5)
        if step % 7 == 0:
            check_numbering(s, rng)
    world.deliver()
    world.flush(True, False)
    check_numbering(s, rng)
    assert [c[0] for c in world.client] == sorted(world.messages)
    assert {c[0]: c[1] for c in world.client} == world.messages
    assert s.exists > count  # the run grew the mailbox past the view, and expunged from both parts
    assert v.uids == uids
    assert v.modseqs == modseqs
    assert len(v.flags) == len(flags)
    assert all(a is b for a, b in zip(v.flags, flags, strict=True))


# --- model check: the client's picture equals the store after a final flush --------------------------


class World:
    """The store's truth, a feed with latency, and a client that applies what the server says."""

    def __init__(self, count: int, rev1: bool) -> None:
        self.messages = {uid: NONE for uid in range(1, count + 1)}
        self.modseq = 100
        self.next_uid = count + 1
        self.feed: list[ChangeSet] = []
        self.session = session(range(1, count + 1), rev1=rev1)
        self.client: list[tuple[int, frozenset[str]]] = [(uid, NONE) for uid in range(1, count + 1)]

    def commit(self, changed: Sequence[int] = (), expunged: Sequence[int] = ()) -> ChangeSet:
        self.modseq += 1
        for uid in expunged:
            del self.messages[uid]
        entries = [entry(uid, self.messages[uid], self.modseq) for uid in sorted(changed)]
        cs = changes(self.modseq, entries, expunged)
        self.feed.append(cs)
        return cs

    def other(self, op: str, pick: int, flags: frozenset[str]) -> None:
        uids = sorted(self.messages)
        if op == "append":
            uid = self.next_uid
            self.next_uid += 1
            self.messages[uid] = flags
            self.commit(changed=[uid])
        elif uids and op == "flags":
            uid = uids[pick % len(uids)]
            self.messages[uid] = flags
            self.commit(changed=[uid])
        elif uids and op == "expunge":
            self.commit(expunged=sorted(set(uids[pick % len(uids) :: 3])))

    def own(self, op: str, pick: int, flags: frozenset[str]) -> None:
        s = self.session
        live = [u for u in s.uids if u in self.messages and not s.is_expunged(u)]
        if not live:
            return
        if op == "store":
            uid = live[pick % len(live)]
            self.messages[uid] = flags
            s.apply_own(self.commit(changed=[uid]))
            seq = s.seq_of(uid)
            assert seq is not None
            self.client[seq - 1] = (uid, s.flags_of(uid))  # the handler's own FETCH response
        else:
            self.tell(s.apply_own(self.commit(expunged=sorted(set(live[pick % len(live) :: 4])))), True)

    def deliver(self) -> None:
        # As the server does (Session.take_signals): a wake-up whose changes are all at or below the
        # session's cursor (the echo of its own writes) is dropped without reading anything.
        if any(cs.highestmodseq > self.session.highestmodseq for cs in self.feed):
            for cs in self.feed:
                self.session.absorb(cs)
        self.feed.clear()

    def flush(self, allow_expunge: bool, include_uid: bool) -> None:
        out = self.session.updates(allow_expunge=allow_expunge, include_uid=include_uid)
        self.tell(out, allow_expunge)

    def tell(self, responses: Sequence[Response], allow_expunge: bool) -> None:
        s = self.session
        for r in responses:
            if isinstance(r, Expunge):
                assert allow_expunge
                assert 1 <= r.seq <= len(self.client)
                del self.client[r.seq - 1]
            elif isinstance(r, Exists):
                assert r.count > len(self.client)  # never shrinks, and only sent for a change
                for seq in range(len(self.client) + 1, r.count + 1):
                    uid = s.uid_at(seq)  # the client's FETCH of the new messages
                    self.client.append((uid, s.flags_of(uid)))
            elif isinstance(r, Recent):
                assert s.rev1
                assert r.count <= len(self.client)
            elif isinstance(r, Fetch):
                assert 1 <= r.seq <= len(self.client)
                items = dict(r.items)
                if "UID" in items:
                    assert items["UID"] == self.client[r.seq - 1][0]
                shown = items["FLAGS"]
                assert isinstance(shown, tuple)
                uid = self.client[r.seq - 1][0]
                self.client[r.seq - 1] = (uid, frozenset(shown) - {"\\Recent"})
            else:  # pragma: no cover
                raise AssertionError(r)
        assert len(self.client) == s.exists
        assert [c[0] for c in self.client] == list(s.uids)


FLAG_SETS = st.sampled_from([NONE, SEEN, DELETED, SEEN | DELETED, frozenset({"Work"})])
STEP = st.one_of(
    st.tuples(st.sampled_from(["append", "flags", "expunge"]), st.integers(0, 50), FLAG_SETS),
    st.tuples(st.sampled_from(["store", "own-expunge"]), st.integers(0, 50), FLAG_SETS),
    st.tuples(st.just("deliver"), st.just(0), st.just(NONE)),
    st.tuples(st.sampled_from(["flush", "flush-no-expunge"]), st.integers(0, 1), st.just(NONE)),
)


@settings(max_examples=200, deadline=None)
@given(count=st.integers(0, 12), rev1=st.booleans(), steps=st.lists(STEP, max_size=40))
def test_client_model_matches_the_store(
    count: int, rev1: bool, steps: list[tuple[str, int, frozenset[str]]]
) -> None:
    world = World(count, rev1)
    for op, pick, flags in steps:
        if op in ("append", "flags", "expunge"):
            world.other(op, pick, flags)
        elif op in ("store", "own-expunge"):
            world.own(op, pick, flags)
        elif op == "deliver":
            world.deliver()
        else:
            world.flush(op == "flush", bool(pick))
    world.deliver()
    world.flush(True, False)
    assert [c[0] for c in world.client] == sorted(world.messages)
    assert {c[0]: c[1] for c in world.client} == world.messages
    assert not world.session.pending
    assert world.session.highestmodseq == world.modseq


# --- CONDSTORE and QRESYNC (RFC 7162) -----------------------------------------------------------


def test_condstore_fetch_carries_uid_and_modseq() -> None:
    s = session([1, 2, 3])
    s.condstore = True
    s.absorb(changes(101, [entry(2, SEEN, 101)]))
    # RFC 7162 §3.2.4: UID and MODSEQ in every unsolicited FETCH once CONDSTORE is on.
    assert [serialise(r) for r in s.updates(allow_expunge=True, include_uid=False)] == [
        b"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (101))\r\n"
    ]


def test_qresync_reports_vanished_instead_of_expunge() -> None:
    s = session([1, 2, 3, 4, 5])
    s.qresync = True
    s.absorb(changes(101, expunged=[2, 4]))
    # RFC 7162 §3.2.10.2: one VANISHED of the UIDs, and the numbering follows.
    assert [serialise(r) for r in s.updates(allow_expunge=True, include_uid=False)] == [b"* VANISHED 2,4\r\n"]
    assert list(s.uids) == [1, 3, 5]
    assert [serialise(r) for r in s.apply_own(changes(102, expunged=[5]))] == [b"* VANISHED 5\r\n"]
    assert s.exists == 2


def test_pruned_records_are_told_by_what_is_left() -> None:
    s = session([1, 2, 3, 4])
    # changes_since() after pruning: no expunge list, but every UID the mailbox holds (and UID 5,
    # new, as a changed entry).
    pruned = ChangeSet(MAILBOX_ID, 110, (entry(5, NONE, 109),), (), live_uids=(1, 3, 5))
    s.absorb(pruned)
    assert [serialise(r) for r in s.updates(allow_expunge=True, include_uid=False)] == [
        b"* 2 EXPUNGE\r\n",
        b"* 3 EXPUNGE\r\n",
        b"* 3 EXISTS\r\n",
    ]
    assert list(s.uids) == [1, 3, 5]


def test_safe_modseq_stays_below_held_back_expunges() -> None:
    s = session([1, 2, 3])  # at MODSEQ 100
    s.absorb(changes(101, [entry(1, SEEN, 101)]))
    assert s.safe_modseq == 101
    s.absorb(changes(102, expunged=[2]))  # held back while a FETCH by number runs
    s.absorb(changes(103, [entry(3, SEEN, 103)]))
    # RFC 7162 §3.2: a HIGHESTMODSEQ sent now must not cover the expunge the client lacks.
    assert (s.highestmodseq, s.safe_modseq) == (103, 101)
    s.updates(allow_expunge=True, include_uid=False)
    assert s.safe_modseq == 103


def test_uidonly_tells_expunges_as_vanished_and_flags_as_uidfetch() -> None:
    # RFC 9586 §3, §3.3: no message number in any update once UIDONLY is enabled.
    s = session(range(1, 12))
    s.uidonly = True
    s.absorb(changes(200, changed=[entry(9, SEEN, 200)], expunged=[3, 4, 7, 11]))
    assert wire(s.updates(allow_expunge=True, include_uid=False)) == [
        b"* VANISHED 3:4,7,11\r\n",
        b"* 9 UIDFETCH (FLAGS (\\Seen))\r\n",
    ]
    s.condstore = True
    s.absorb(changes(201, changed=[entry(2, SEEN, 201)]))
    assert wire(s.updates(allow_expunge=True, include_uid=True)) == [
        b"* 2 UIDFETCH (FLAGS (\\Seen) MODSEQ (201))\r\n"
    ]
    assert s.seq_of(8) == 5  # the numbering is kept up to date all the same


@given(
    count=st.integers(1, 30),
    new=st.integers(0, 5),
    gone=st.sets(st.integers(1, 35), max_size=8),
    picks=st.lists(st.integers(0, 1000), min_size=1, max_size=12),
)
def test_resolve_a_list_of_message_numbers(count: int, new: int, gone: set[int], picks: list[int]) -> None:
    """Scattered message numbers (one range each) name the same UIDs with and without EXPUNGEs sent
    (the numbering shifts) and with announced new messages after the view's."""
    s = session(range(1, count + 1))
    s.absorb(changes(200, [entry(count + 1 + n) for n in range(new)], sorted(gone)))
    s.updates(allow_expunge=True, include_uid=False)
    if not s.exists:
        return
    numbers = sorted({1 + pick % s.exists for pick in picks})
    expected = [s.uid_at(n) for n in numbers]
    assert resolve(s, b",".join(b"%d" % n for n in reversed(numbers))) == expected
    assert [s.seq_of(uid) for uid in expected] == numbers
    absent = [count + new + 7, *expected[:3], 0]  # UIDs never in the mailbox give None
    assert s.seqs_of([*expected, *absent]) == [*numbers, *(s.seq_of(uid) for uid in absent)]
    assert s.seqs_of(expected[::-1]) == numbers[::-1]
    # FETCH by number takes the numbers with the UIDs (ascending, apart or not, or as ranges).
    for written in (numbers, numbers[::-1]):
        listed = SequenceSet.parse(b",".join(b"%d" % n for n in written))
        assert s.resolve_numbered(listed) == (numbers, expected)
    every = list(range(1, s.exists + 1))
    assert s.resolve_numbered(SequenceSet.parse(b"1:*")) == (every, [s.uid_at(n) for n in every])


def test_flag_run_answers_as_client_flags_with_recent_and_changes() -> None:
    # FETCH 1:* (UID FLAGS) in bulk (``flag_run``) shows what ``client_flags`` shows per message:
    # the view's flags with changes since SELECT patched in, \Recent for the view's recent suffix.
    rng = random.Random(10)
    sets = [NONE, SEEN, DELETED, frozenset({"\\Flagged", "$Work"})]
    for _ in range(40):
        uids = sorted(rng.sample(range(1, 200), rng.randint(1, 30)))
        v = MailboxView.from_entries(info(100), [entry(u, rng.choice(sets)) for u in uids])
        rev1 = rng.random() < 0.8
        s = SelectedMailbox(v, read_only=False, rev1=rev1, recent_from=rng.randint(1, 201))
        changed = sorted(rng.sample(uids, rng.randint(0, len(uids))))
        s.absorb(changes(101, [entry(u, rng.choice(sets), 101) for u in changed]))
        s.updates(allow_expunge=False, include_uid=False)
        low = rng.randrange(len(uids))
        run_uids = uids[low : rng.randint(low + 1, len(uids))]
        run = s.flag_run(run_uids)
        assert run is not None
        first, flags, recent_from = run
        assert first == low + 1
        shown = [
            (*SelectedMailbox.client_flag_order(f), *(["\\Recent"] if i >= recent_from else []))
            for i, f in enumerate(flags)
        ]
        assert shown == [s.client_flags(uid) for uid in run_uids]
        assert (rev1 and any(s.is_recent(u) for u in run_uids)) == (recent_from < len(run_uids))
