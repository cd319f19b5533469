"""RFC 7162 arguments: SELECT (CONDSTORE)/(QRESYNC ...), FETCH CHANGEDSINCE/VANISHED and MODSEQ,
STORE UNCHANGEDSINCE, SEARCH MODSEQ; each fed whole and byte by byte, bad ones a BAD; and the pure
VANISHED (EARLIER) computation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imap_helpers import MODES, error, feed, only_command

from pochta.proto.imap import Receiver, SequenceSet, Status
from pochta.proto.imap.args import MailboxArgs, Store
from pochta.proto.imap.condstore import FetchOptions, QResync, seq_match_floor, vanished_earlier
from pochta.proto.imap.fetch import FetchArgs
from pochta.proto.imap.responses import Code, Search, Tagged, Vanished
from pochta.proto.imap.search import And, ModSeqKey, Not, Or, SearchArgs, SizeKey
from pochta.proto.imap.wire import MAX_NUMBER64


@pytest.mark.parametrize("mode", MODES)
def test_select_condstore_and_qresync_parameters(mode: str) -> None:
    cmd = only_command(b"a SELECT INBOX (CONDSTORE)\r\n", mode)
    assert isinstance(cmd.args, MailboxArgs)
    assert cmd.args.select_options.condstore
    assert cmd.args.select_options.qresync is None
    # RFC 7162 §3.2.5.2 example B04 (the sample shortened).
    line = (
        b"B04 EXAMINE INBOX (QRESYNC (67890007 90060115194045000 1:29997"
        b" (5000,7500,9990:9992 15000,22500,29970:29972)))\r\n"
    )
    cmd = only_command(line, mode)
    assert isinstance(cmd.args, MailboxArgs)
    options = cmd.args.select_options
    assert not options.condstore
    assert options.qresync == QResync(
        67890007,
        90060115194045000,
        SequenceSet(((1, 29997),)),
        ((5000, 15000), (7500, 22500), (9990, 29970), (9991, 29971), (9992, 29972)),
    )
    assert options.qresync.encode() == (
        b"QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9990:9992 15000,22500,29970:29972))"
    )
    cmd = only_command(b"a SELECT INBOX (QRESYNC (1 2) CONDSTORE)\r\n", mode)
    assert isinstance(cmd.args, MailboxArgs)
    assert cmd.args.select_options.qresync == QResync(1, 2)
    assert cmd.args.select_options.condstore


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "line",
    [
        b"a SELECT INBOX (CONDSTORE 1)",  # RFC 7162 §7 condstore-param takes no value
        b"a SELECT INBOX (CONDSTORE CONDSTORE)",
        b"a SELECT INBOX (QRESYNC)",
        b"a SELECT INBOX (QRESYNC 1)",
        b"a SELECT INBOX (QRESYNC (1))",
        b"a SELECT INBOX (QRESYNC (0 1))",  # uidvalidity is nz-number
        b"a SELECT INBOX (QRESYNC (4294967296 1))",
        b"a SELECT INBOX (QRESYNC (1 0))",  # mod-sequence-value is positive
        b"a SELECT INBOX (QRESYNC (1 9223372036854775808))",  # 63 bits
        b"a SELECT INBOX (QRESYNC (1 x))",
        b"a SELECT INBOX (QRESYNC (1 2 1:*))",  # known-uids: "*" is not allowed
        b"a SELECT INBOX (QRESYNC (1 2 0:3))",
        b"a SELECT INBOX (QRESYNC (1 2 1:3 (1,2 5)))",  # sets of different sizes
        b"a SELECT INBOX (QRESYNC (1 2 1:3 (2,1 5,6)))",  # not ascending
        b"a SELECT INBOX (QRESYNC (1 2 1:3 (1 5) x))",
        b"a SELECT INBOX (QRESYNC (1 2 1:3 (1)))",
        b"a SELECT INBOX (QRESYNC (1 2)) (CONDSTORE)",
        b"a SELECT INBOX (QRESYNC (1 2) QRESYNC (1 2))",
        b"a FETCH 1 (FLAGS) (CHANGEDSINCE)",
        b"a FETCH 1 (FLAGS) (CHANGEDSINCE 0)",  # mod-sequence-value
        b"a FETCH 1 (FLAGS) (CHANGEDSINCE 9223372036854775808)",
        b"a FETCH 1 (FLAGS) (CHANGEDSINCE -1)",
        b"a FETCH 1 (FLAGS) (CHANGEDSINCE 1 CHANGEDSINCE 2)",
        b"a UID FETCH 1 (FLAGS) (VANISHED)",  # RFC 7162 §3.2.6: only with CHANGEDSINCE
        b"a UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED 1)",
        b"a FETCH 1 (MODSEQ",
        b"a FETCH 1 MODSEQ.PEEK",
        b"a STORE 1 (UNCHANGEDSINCE) FLAGS (\\Seen)",
        b"a STORE 1 (UNCHANGEDSINCE 9223372036854775808) FLAGS (\\Seen)",
        b"a STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) FLAGS (\\Seen)",  # "Only a single"
        b"a SEARCH MODSEQ",
        b"a SEARCH MODSEQ x",
        b"a SEARCH MODSEQ -1",
        b"a SEARCH MODSEQ 9223372036854775808",
        b'a SEARCH MODSEQ "/flags/\\\\seen" 5',  # entry name without its type
        b'a SEARCH MODSEQ "/flags/\\\\seen" any 5',
        b'a SEARCH MODSEQ "/flagz/\\\\seen" all 5',
        b'a SEARCH MODSEQ "/flags/" all 5',
        b"a SEARCH MODSEQ 5x",
    ],
)
def test_bad_condstore_arguments(line: bytes, mode: str) -> None:
    receiver = Receiver()
    receiver.utf8 = True
    err = error(feed(receiver, line + b"\r\n", mode))
    assert err.reply.encode().startswith(b"a BAD ")


@pytest.mark.parametrize("mode", MODES)
def test_fetch_modseq_and_modifiers(mode: str) -> None:
    # RFC 7162 §3.1.4.1 example 12, §3.2.6 example 1, §3.1.4.2 example 13.
    cmd = only_command(b"s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n", mode)
    assert isinstance(cmd.args, FetchArgs)
    assert cmd.uid
    assert cmd.args.options == FetchOptions(12345, True)
    cmd = only_command(b"a FETCH 1:3 (MODSEQ)\r\n", mode)
    assert isinstance(cmd.args, FetchArgs)
    assert [att.name for att in cmd.args.atts] == ["MODSEQ"]
    assert cmd.args.options == FetchOptions()
    cmd = only_command(b"a FETCH 1 modseq (changedsince 9223372036854775807)\r\n", mode)
    assert isinstance(cmd.args, FetchArgs)
    assert cmd.args.options.changed_since == MAX_NUMBER64
    cmd = only_command(b"a FETCH 1 FLAGS (X-OTHER)\r\n", mode)  # left for the handler to refuse
    assert isinstance(cmd.args, FetchArgs)
    assert cmd.args.options.other == "X-OTHER"


@pytest.mark.parametrize("mode", MODES)
def test_store_unchangedsince(mode: str) -> None:
    # RFC 7162 §3.1.3 examples 3 and 8 (0 is mod-sequence-valzer: always fails).
    cmd = only_command(
        b"a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)\r\n", mode
    )
    assert isinstance(cmd.args, Store)
    assert cmd.args.unchanged_since == 12121230045
    assert cmd.args.silent
    cmd = only_command(b"a102 STORE 12 (UNCHANGEDSINCE 0) +FLAGS.SILENT ($MDNSent)\r\n", mode)
    assert isinstance(cmd.args, Store)
    assert cmd.args.unchanged_since == 0
    cmd = only_command(b"a STORE 1 FLAGS \\Seen\r\n", mode)
    assert isinstance(cmd.args, Store)
    assert cmd.args.unchanged_since is None


@pytest.mark.parametrize("mode", MODES)
def test_search_modseq(mode: str) -> None:
    # RFC 7162 §3.1.5 examples 15 and 16, §3.1.10 example 19.
    cmd = only_command(b'a SEARCH MODSEQ "/flags/\\\\draft" all 620162338\r\n', mode)
    assert isinstance(cmd.args, SearchArgs)
    assert cmd.args.key == And((ModSeqKey(620162338, b"\\draft", "ALL"),))
    assert cmd.args.has_modseq
    assert cmd.args.encode() == b' MODSEQ "/flags/\\\\draft" all 620162338'
    cmd = only_command(b"t SEARCH OR NOT MODSEQ 720162338 LARGER 50000\r\n", mode)
    assert isinstance(cmd.args, SearchArgs)
    assert cmd.args.key == And((Or(Not(ModSeqKey(720162338)), SizeKey("LARGER", 50000)),))
    assert cmd.args.has_modseq
    cmd = only_command(b"a SEARCH RETURN (ALL) MODSEQ 0\r\n", mode)
    assert isinstance(cmd.args, SearchArgs)
    assert cmd.args.key == And((ModSeqKey(0),))
    assert not only_command(b"a SEARCH LARGER 5\r\n", mode).args.has_modseq  # type: ignore[union-attr]


@given(
    st.integers(0, MAX_NUMBER64),
    st.one_of(st.none(), st.sampled_from([b"\\seen", b"$MDNSent", b"\\draft"])),
    st.sampled_from(["PRIV", "SHARED", "ALL"]),
)
def test_search_modseq_round_trip(modseq: int, entry: bytes | None, kind: str) -> None:
    key = ModSeqKey(modseq, entry, kind if entry is not None else None)
    line = b"a SEARCH" + SearchArgs(And((key,))).encode() + b"\r\n"
    cmd = only_command(line)
    assert isinstance(cmd.args, SearchArgs)
    assert cmd.args.key == And((key,))


def test_responses() -> None:
    assert Vanished(SequenceSet.of(405, 407, 410, 425)).encode() == b"* VANISHED 405,407,410,425\r\n"
    assert Vanished(SequenceSet.of(1, 2, 3, 9), earlier=True).encode() == b"* VANISHED (EARLIER) 1:3,9\r\n"
    assert Search([2, 5], 917162500).encode() == b"* SEARCH 2 5 (MODSEQ 917162500)\r\n"
    assert Search([], 917162500).encode() == b"* SEARCH\r\n"  # RFC 7162 §3.1.6: omitted if no match
    modified = Tagged(
        b"d105", Status.OK, "Conditional STORE failed", code=Code.modified(SequenceSet.of(7, 9))
    )
    assert modified.encode().startswith(b"d105 OK [MODIFIED 7,9] ")
    assert Code.highestmodseq(715194045007).encode() == b"HIGHESTMODSEQ 715194045007"


def test_seq_match_floor() -> None:
    # RFC 7162 §3.2.5.2: message 4 is UID 8 (a match), message 12 is UID 25 and not 24: floor 8.
    mailbox = {4: 8, 12: 25}
    assert seq_match_floor(((4, 8), (12, 24), (20, 40)), mailbox.get) == 8
    assert seq_match_floor(((4, 7),), mailbox.get) == 0
    assert seq_match_floor(((4, 8), (12, 25)), mailbox.get) == 25
    assert seq_match_floor(((99, 8),), mailbox.get) == 0


def test_vanished_earlier() -> None:
    present = [2, 5, 6, 30]
    # From the records: only known UIDs, never one still present, above the floor.
    got = vanished_earlier([(1, 10)], present, [1, 3, 5, 9, 12], top=40)
    assert got == SequenceSet.of(1, 3, 9)
    assert vanished_earlier([(1, 10)], present, [1, 3, 9], floor=2, top=40) == SequenceSet.of(3, 9)
    assert vanished_earlier([(1, 2), (9, 9)], present, [1, 3, 9], top=40) == SequenceSet.of(1, 9)
    # Records pruned: every known UID not present, up to the highest UID given.
    assert bytes(vanished_earlier([(1, 40)], present, None, top=35)) == b"1,3:4,7:29,31:35"
    assert bytes(vanished_earlier([(1, 3), (4, 8)], present, None, top=35)) == b"1,3:4,7:8"
    assert bytes(vanished_earlier([(1, 40)], present, None, floor=6, top=35)) == b"7:29,31:35"
    assert vanished_earlier([], present, None, top=35) == SequenceSet()
    assert vanished_earlier([(1, 6)], present, None, floor=6, top=35) == SequenceSet()


@given(
    st.lists(st.integers(1, 60), unique=True).map(sorted),
    st.lists(st.integers(1, 60), unique=True).map(sorted),
    st.integers(0, 60),
    st.lists(st.tuples(st.integers(1, 60), st.integers(0, 10)), max_size=4),
)
def test_vanished_earlier_matches_sets(
    present: list[int], expunged: list[int], floor: int, spans: list[tuple[int, int]]
) -> None:
    ranges = SequenceSet(tuple((a, a + n) for a, n in spans)).resolve(0)
    known = {u for a, b in ranges for u in range(a, b + 1)}
    top = 60
    pruned = vanished_earlier(ranges, present, None, floor=floor, top=top)
    assert set(pruned.iter(0)) == {u for u in known if floor < u <= top and u not in present}
    kept = vanished_earlier(ranges, present, expunged, floor=floor, top=top)
    assert set(kept.iter(0)) == {u for u in expunged if u in known and floor < u <= top and u not in present}
