"""Sequence sets (RFC 9051 §9 ``sequence-set``), with ``*`` and the SEARCHRES ``$`` marker (RFC 5182).

A set is kept as the client wrote it: a tuple of ranges, each ``(first, last)`` where ``None`` stands for
``*`` (the largest number in use). ``2:4`` and ``4:2`` are the same range; ``resolve`` normalises.
``$`` (the result of the last SEARCH ... RETURN (SAVE), RFC 5182 §2.1) is a set of its own: it cannot be
combined with other ranges (RFC 9051 §9 ``sequence-set =/ seq-last-command``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

MAX_NUMBER = 0xFFFFFFFF  # RFC 9051 §9 nz-number: unsigned 32-bit

Range = tuple[int | None, int | None]

_SET = re.compile(rb"(?:[0-9]+|\*)(?::(?:[0-9]+|\*))?(?:,(?:[0-9]+|\*)(?::(?:[0-9]+|\*))?)*")


class SequenceSetError(ValueError):
    """Not a valid sequence set."""


@dataclass(frozen=True, slots=True)
class SequenceSet:
    ranges: tuple[Range, ...] = ()
    saved: bool = False  # "$": the saved search result (RFC 5182)
    # Single numbers, ascending, no two adjacent (a client's list of messages): ``resolve`` has
    # nothing to sort or merge. Known from the parse; an equal set without it compares equal.
    apart: bool = field(default=False, compare=False)

    @classmethod
    def parse(cls, data: bytes) -> SequenceSet:
        if data == b"$":
            return SAVED
        if not _SET.fullmatch(data):
            raise SequenceSetError("invalid sequence set")
        if b":" not in data and b"*" not in data:
            # Single numbers only (a client's list of messages): converted in one C loop.
            numbers = list(map(int, data.split(b",")))
            # RFC 9051 §9: nz-number is 1..2^32-1, without a leading zero.
            if data.startswith(b"0") or b",0" in data or max(numbers) > MAX_NUMBER:
                raise SequenceSetError("sequence number out of range")
            # n + 1 < next n for each pair, in C loops: then resolving is a copy (FETCH of 100 spread
            # numbers: 32 -> 2 us).
            apart = all(map(operator.lt, map((1).__add__, numbers), numbers[1:]))
            return cls(tuple(zip(numbers, numbers, strict=True)), apart=apart)
        ranges: list[Range] = []
        for item in data.split(b","):
            first, _, last = item.partition(b":")
            lo = _number(first)
            ranges.append((lo, _number(last) if last else lo))
        return cls(tuple(ranges))

    @classmethod
    def of(cls, *numbers: int) -> SequenceSet:
        """A compact set of the given numbers (for APPENDUID/COPYUID, ESEARCH ALL, SEARCH results)."""
        return cls(tuple(_compress(sorted(set(numbers)))))

    def __bytes__(self) -> bytes:
        if self.saved:
            return b"$"
        parts = []
        for lo, hi in self.ranges:
            first = b"*" if lo is None else b"%d" % lo
            if lo == hi:
                parts.append(first)
            else:
                parts.append(first + b":" + (b"*" if hi is None else b"%d" % hi))
        return b",".join(parts)

    def __str__(self) -> str:
        return bytes(self).decode("ascii")

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """Ascending, merged ``(first, last)`` ranges with ``*`` replaced by ``largest``.

        RFC 9051 §9 seq-range: "2:4 and 4:2 are equivalent". ``$`` cannot be resolved here (the session
        holds the saved result) and raises ValueError. For UIDs, ``largest`` is the highest UID in use
        (or UIDNEXT - 1 in an empty mailbox, RFC 9051 §9 seq-number).
        """
        if self.saved:
            raise ValueError("the $ marker is resolved by the session")
        if self.apart:
            return list(cast(tuple[tuple[int, int], ...], self.ranges))
        spans = []
        for lo, hi in self.ranges:
            a = largest if lo is None else lo
            b = largest if hi is None else hi
            spans.append((min(a, b), max(a, b)))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1] + 1:
                if b > merged[-1][1]:
                    merged[-1] = (merged[-1][0], b)
            else:
                merged.append((a, b))
        return merged

    def iter(self, largest: int) -> Iterator[int]:
        """Each number once, ascending (see ``resolve``)."""
        for a, b in self.resolve(largest):
            yield from range(a, b + 1)

    def uses_star(self) -> bool:
        return any(lo is None or hi is None for lo, hi in self.ranges)


SAVED = SequenceSet((), saved=True)


def _number(data: bytes) -> int | None:
    if data == b"*":
        return None
    value = int(data)
    # RFC 9051 §9: seq-number = nz-number / "*"; nz-number is 1..2^32-1.
    if not 0 < value <= MAX_NUMBER or data.startswith(b"0"):
        raise SequenceSetError("sequence number out of range")
    return value


def _compress(numbers: list[int]) -> Iterator[Range]:
    start = prev = None
    for n in numbers:
        if prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            yield (start, prev)
        start = prev = n
    if start is not None:
        yield (start, prev)
