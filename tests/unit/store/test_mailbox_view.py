"""MailboxView: a mailbox snapshot kept as columns, with records built on demand."""

from __future__ import annotations

import dataclasses
import hashlib
from array import array
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pochta.store.model import (
    DATE_BIAS,
    BlobRef,
    MailboxInfo,
    MailboxView,
    MessageEntry,
    date_parts,
    digests_from_hex,
    pack_date,
    pack_digests,
    unpack_date,
)

INFO = MailboxInfo(
    id=1,
    account_id=1,
    name="INBOX",
    uidvalidity=1,
    uidnext=10,
    highestmodseq=9,
    special_use=None,
    subscribed=True,
    messages=3,
    unseen=1,
    deleted=0,
    size=60,
)


def sha(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


SEEN = frozenset({"\\Seen"})
ENTRIES = (
    MessageEntry(
        uid=2,
        message_id=11,
        flags=SEEN,
        modseq=5,
        size=10,
        internal_date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-7))),
        blob=BlobRef(sha(1), 10),
    ),
    MessageEntry(
        uid=5,
        message_id=12,
        flags=frozenset(),
        modseq=6,
        size=20,
        internal_date=datetime(1965, 7, 1, 12, 0, tzinfo=UTC),  # before the epoch
        blob=BlobRef(sha(2), 20),
    ),
    MessageEntry(
        uid=9,
        message_id=11,
        flags=frozenset({"\\Seen"}),  # equal to SEEN, another object
        modseq=9,
        size=30,
        internal_date=datetime(2026, 5, 4, 10, 0, tzinfo=timezone(timedelta(hours=5, minutes=45))),
        blob=BlobRef(sha(3), 30),
    ),
)


@pytest.fixture
def view() -> MailboxView:
    return MailboxView.from_entries(INFO, ENTRIES)


def test_entries_round_trip(view: MailboxView) -> None:
    assert len(view) == 3
    assert tuple(view) == ENTRIES
    assert [view[i] for i in range(3)] == list(ENTRIES)
    assert view[-1] == ENTRIES[2]
    assert view[-3] == ENTRIES[0]
    assert view[1:] == ENTRIES[1:]
    assert view[::2] == ENTRIES[::2]
    assert view[5:] == ()
    for index in (3, -4):
        with pytest.raises(IndexError):
            view[index]
    assert view.messages is view  # what callers of the old tuple use
    assert list(reversed(view)) == list(reversed(ENTRIES))
    for index, entry in enumerate(ENTRIES):
        assert view.entry(index) == entry
        assert view.blob(index) == entry.blob
        assert view.internal_date(index) == entry.internal_date
        assert view.internal_date(index).utcoffset() == entry.internal_date.utcoffset()  # zone kept
    assert view.blob(-1) == ENTRIES[-1].blob
    with pytest.raises(IndexError):
        view.blob(3)


def test_records_built_on_demand_are_regular_records(view: MailboxView) -> None:
    # The view fills records without their __init__ (speed): they must be indistinguishable.
    for built, original in zip([*view, *(view.entry(i) for i in range(3))], ENTRIES * 2, strict=True):
        assert type(built) is MessageEntry
        assert type(built.blob) is BlobRef
        assert vars(built) == vars(original)  # every field, no more
        assert vars(built.blob) == vars(original.blob)
        assert hash(built) == hash(original)
        assert repr(built) == repr(original)
        with pytest.raises(dataclasses.FrozenInstanceError):
            built.uid = 99  # type: ignore[misc]
        assert dataclasses.replace(built, uid=99).uid == 99


def test_columns(view: MailboxView) -> None:
    assert view.uids == array("q", [2, 5, 9])
    assert view.message_ids == array("q", [11, 12, 11])
    assert view.modseqs == array("q", [5, 6, 9])
    assert view.sizes == array("q", [10, 20, 30])
    assert view.flags == (SEEN, frozenset(), SEEN)
    assert view.flags[0] is view.flags[2]  # equal flag sets are shared
    assert view.flag_sets() == [SEEN, frozenset()]  # distinct, in the order first met


def test_uid_lookup(view: MailboxView) -> None:
    assert [view.position(uid) for uid in (2, 5, 9)] == [0, 1, 2]
    assert [view.position(uid) for uid in (0, 1, 3, 8, 10)] == [None] * 5
    assert view.positions(1, 100) == range(0, 3)
    assert view.positions(3, 9) == range(1, 3)
    assert view.positions(5, 5) == range(1, 2)
    assert len(view.positions(6, 8)) == 0
    assert len(view.positions(10, 20)) == 0
    assert len(view.positions(9, 2)) == 0


def test_equality_and_membership(view: MailboxView) -> None:
    assert view == MailboxView.from_entries(INFO, ENTRIES)
    assert view != MailboxView.from_entries(INFO, ENTRIES[:2])
    assert view != MailboxView.from_entries(dataclasses.replace(INFO, highestmodseq=10), ENTRIES)
    moved = dataclasses.replace(ENTRIES[1], modseq=7)
    assert view != MailboxView.from_entries(INFO, (ENTRIES[0], moved, ENTRIES[2]))
    assert view != ENTRIES
    assert ENTRIES[1] in view
    assert moved not in view
    assert "uid" not in view  # type: ignore[comparison-overlap]
    with pytest.raises(TypeError):
        hash(view)


def test_empty_view() -> None:
    empty = MailboxView.from_entries(INFO, ())
    assert len(empty) == 0
    assert list(empty) == []
    assert empty[:] == ()
    assert empty.position(1) is None
    assert len(empty.positions(1, 10)) == 0
    assert empty.flag_sets() == []


def test_blob_names_of_another_form_are_kept() -> None:
    odd = [
        dataclasses.replace(ENTRIES[0], blob=BlobRef("not-a-digest", 10)),
        dataclasses.replace(ENTRIES[1], blob=BlobRef(sha(2).upper(), 20)),
    ]
    view = MailboxView.from_entries(INFO, odd)
    assert tuple(view) == tuple(odd)
    assert view.blob(1).sha256 == sha(2).upper()
    assert view == MailboxView.from_entries(INFO, odd)


def test_digest_packing() -> None:
    assert pack_digests([sha(1), sha(2)]) == bytes.fromhex(sha(1) + sha(2))
    assert pack_digests([]) == b""
    assert pack_digests([sha(1).upper()]) == (sha(1).upper(),)
    assert pack_digests([sha(1)[:10], sha(1)[10:] + sha(2)]) == (sha(1)[:10], sha(1)[10:] + sha(2))
    assert digests_from_hex(sha(1) + sha(2), 2) == bytes.fromhex(sha(1) + sha(2))
    assert digests_from_hex(sha(1), 2) is None
    assert digests_from_hex("zz" * 32, 1) is None
    assert digests_from_hex("ab " * 21 + "a", 1) is None  # fromhex skips spaces: not a digest


def test_columns_must_agree() -> None:
    with pytest.raises(ValueError, match="length"):
        MailboxView(
            INFO,
            uids=array("q", [1]),
            message_ids=array("q"),
            flags=(),
            modseqs=array("q"),
            sizes=array("q"),
            dates=array("q"),
            digests=b"",
        )
    with pytest.raises(ValueError, match="length"):
        MailboxView(
            INFO,
            uids=array("q", [1]),
            message_ids=array("q", [1]),
            flags=(SEEN,),
            modseqs=array("q", [1]),
            sizes=array("q", [1]),
            dates=array("q", [pack_date(0, 0)]),
            digests=b"\x00" * 31,
        )


@pytest.mark.parametrize("epoch", [0, 1, -1, 1_767_323_045, -86_400 * 365 * 300, 253_402_214_400])
@pytest.mark.parametrize("minutes", [0, 60, -420, 345, 1439, -1439])
def test_date_packing(epoch: int, minutes: int) -> None:
    when = unpack_date(pack_date(epoch, minutes))
    assert int(when.timestamp()) == epoch
    offset = when.utcoffset()
    assert offset is not None
    assert offset == timedelta(minutes=minutes)
    assert date_parts(when) == (epoch, minutes)


def test_date_packing_limits() -> None:
    for minutes in (DATE_BIAS, -DATE_BIAS, 5000):
        with pytest.raises(ValueError, match="offset"):
            pack_date(0, minutes)
    assert date_parts(datetime(2026, 1, 1)) == (int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()), 0)
