"""PARTIAL ranges (RFC 9394): their syntax, which results they pick, and where the parser takes them
(SEARCH RETURN option, UID FETCH modifier), fed whole and byte by byte."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imap_helpers import MODES, error, feed, only_command

from pochta.proto.imap import ParseError, Receiver
from pochta.proto.imap.fetch import FetchArgs
from pochta.proto.imap.partial import PartialRange
from pochta.proto.imap.search import SearchArgs


def test_parse_and_encode() -> None:
    assert PartialRange.parse(b"1:500") == PartialRange(1, 500, from_end=False)
    assert PartialRange.parse(b"-1:-100") == PartialRange(1, 100, from_end=True)
    assert PartialRange.parse(b"500:400").encode() == b"400:500"  # the same range (RFC 9394 §4)
    assert PartialRange.parse(b"-100:-1").encode() == b"-1:-100"
    for bad in (b"0:5", b"1:-5", b"-1:5", b"*:5", b"1:*", b"1", b"1:2:3", b"4294967296:1", b"-0:-1", b""):
        with pytest.raises(ParseError):
            PartialRange.parse(bad)


def test_pick() -> None:
    results = [10, 20, 30, 40, 50]
    assert PartialRange.parse(b"1:2").pick(results) == [10, 20]
    assert PartialRange.parse(b"2:1").pick(results) == [10, 20]  # RFC 9394 §4: either order
    assert PartialRange.parse(b"4:9").pick(results) == [40, 50]  # past the end: what there is
    assert PartialRange.parse(b"6:9").pick(results) == []  # NIL in the answer
    assert PartialRange.parse(b"-1:-2").pick(results) == [40, 50]  # the last two, ascending
    assert PartialRange.parse(b"-4:-9").pick(results) == [10, 20]
    assert PartialRange.parse(b"-6:-9").pick(results) == []
    assert PartialRange.parse(b"-1:-1").pick([]) == []


@given(st.lists(st.integers(1, 10**6), unique=True).map(sorted), st.integers(1, 30), st.integers(1, 30))
def test_pick_from_either_end_agrees_with_indices(results: list[int], a: int, b: int) -> None:
    low, high = min(a, b), max(a, b)
    assert PartialRange.parse(b"%d:%d" % (a, b)) == PartialRange(low, high, from_end=False)
    forward = PartialRange(low, high, from_end=False).pick(results)
    assert forward == [r for i, r in enumerate(results, 1) if low <= i <= high]
    backward = PartialRange(low, high, from_end=True).pick(results)
    n = len(results)
    assert backward == [r for i, r in enumerate(results, 1) if low <= n - i + 1 <= high]


@pytest.mark.parametrize("mode", MODES)
def test_search_return_partial(mode: str) -> None:
    command = only_command(b"a UID SEARCH RETURN (MIN PARTIAL -1:-100 SAVE) UNDELETED\r\n", mode)
    assert isinstance(command.args, SearchArgs)
    assert command.args.partial == PartialRange(1, 100, from_end=True)
    assert command.encode() == b"a UID SEARCH RETURN (MIN PARTIAL -1:-100 SAVE) UNDELETED\r\n"


@pytest.mark.parametrize("mode", MODES)
def test_uid_fetch_partial_modifier(mode: str) -> None:
    command = only_command(b"10 UID FETCH 25900:26600 (UID FLAGS) (PARTIAL -1:-3)\r\n", mode)
    assert isinstance(command.args, FetchArgs)
    assert command.args.modifiers == (("PARTIAL", b"-1:-3"),)


@pytest.mark.parametrize(
    "line",
    [
        b"a SEARCH RETURN (PARTIAL) ALL",
        b"a SEARCH RETURN (PARTIAL 0:1) ALL",
        b"a SEARCH RETURN (PARTIAL 1:*) ALL",
        b"a SEARCH RETURN (PARTIAL -1:2) ALL",
        b"a SEARCH RETURN (PARTIAL (1:2)) ALL",
        b"a SEARCH RETURN (PARTIAL 1:2 ALL) ALL",  # RFC 9394 §3.1: not both
        b"a SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL",
    ],
)
def test_bad_partial(line: bytes) -> None:
    receiver = Receiver()
    receiver.utf8 = True
    assert error(feed(receiver, line + b"\r\n")).reply.status.value == "BAD"
