"""Sequence sets: parsing, canonical form, resolution with "*", the "$" marker."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pochta.proto.imap import SequenceSet
from pochta.proto.imap.sequence import SequenceSetError


def test_parse_and_encode() -> None:
    s = SequenceSet.parse(b"2,4:7,9,12:*")
    assert s.ranges == ((2, 2), (4, 7), (9, 9), (12, None))
    assert bytes(s) == b"2,4:7,9,12:*"
    assert s.uses_star()


def test_resolve_examples() -> None:
    # RFC 9051 §9 sequence-set examples
    assert list(SequenceSet.parse(b"2,4:7,9,12:*").iter(15)) == [2, 4, 5, 6, 7, 9, 12, 13, 14, 15]
    assert SequenceSet.parse(b"*:4,5:7").resolve(10) == [(4, 10)]
    assert SequenceSet.parse(b"4:2").resolve(10) == [(2, 4)]
    # RFC 9051 §9: 3291:* includes the last UID even when it is below 3291
    assert SequenceSet.parse(b"3291:*").resolve(3000) == [(3000, 3291)]


def test_saved_marker() -> None:
    assert SequenceSet.parse(b"$").saved
    assert bytes(SequenceSet.parse(b"$")) == b"$"
    with pytest.raises(ValueError, match=r"\$"):
        SequenceSet.parse(b"$").resolve(5)


@pytest.mark.parametrize(
    "bad",
    [
        *(b"", b"0", b"1:0", b"01", b"1,", b",1", b"1::2", b"a", b"4294967296", b"$,1", b"1 2"),
        *(b"1,0", b"3,07", b"0,1", b"1,4294967296", b"1,,2"),  # lists of single numbers
    ],
)
def test_invalid(bad: bytes) -> None:
    with pytest.raises(SequenceSetError):
        SequenceSet.parse(bad)


def test_of_compresses() -> None:
    assert bytes(SequenceSet.of(5, 1, 2, 3, 9, 10)) == b"1:3,5,9:10"
    assert bytes(SequenceSet.of()) == b""


@given(st.sets(st.integers(1, 500), min_size=1))
def test_of_then_iter(numbers: set[int]) -> None:
    s = SequenceSet.of(*numbers)
    assert list(s.iter(500)) == sorted(numbers)
    assert SequenceSet.parse(bytes(s)) == s


@given(st.lists(st.integers(1, 2**32 - 1), min_size=1, max_size=50))
def test_a_list_of_single_numbers(numbers: list[int]) -> None:
    s = SequenceSet.parse(b",".join(b"%d" % n for n in numbers))
    assert s.ranges == tuple((n, n) for n in numbers)
    assert list(s.iter(2**32 - 1)) == sorted(set(numbers))


@given(st.lists(st.integers(1, 60), min_size=1, max_size=30))
def test_single_numbers_apart_resolve_as_written(numbers: list[int]) -> None:
    """A list of ascending numbers with gaps is resolved by a copy; it resolves as any set does."""
    s = SequenceSet.parse(b",".join(b"%d" % n for n in numbers))
    assert s.apart == all(a + 1 < b for a, b in pairwise(numbers))
    general = SequenceSet(s.ranges)  # the same ranges, sorted and merged the long way
    assert not general.apart
    assert general == s
    assert s.resolve(60) == general.resolve(60)
    assert SequenceSet.parse(b"1,3,9").resolve(9) == [(1, 1), (3, 3), (9, 9)]
    assert not SequenceSet.parse(b"1,2").apart
    assert SequenceSet.parse(b"1,2").resolve(9) == [(1, 2)]
