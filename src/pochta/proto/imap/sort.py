"""SORT and UID SORT (RFC 5256 §3), SORT=DISPLAY criteria (RFC 5957 §4) and ESORT return options
(RFC 5267 §3): arguments, the ordering over messages' stored sort keys, and the responses.

The search program is SEARCH's (``pochta.proto.imap.search``); the charset is mandatory here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import NamedTuple

from pochta.mime.sortkeys import SortKeys
from pochta.proto.imap import wire
from pochta.proto.imap.partial import PartialRange
from pochta.proto.imap.search import And, encode_keys, has_modseq, parse_keys, uses_sequence_numbers
from pochta.proto.imap.sequence import Range, SequenceSet
from pochta.proto.imap.wire import Cursor, ParseError

# RFC 5256 §5 sort-key; RFC 5957 §5 adds DISPLAYFROM and DISPLAYTO.
BASE_CRITERIA = ("ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO")
DISPLAY_CRITERIA = ("DISPLAYFROM", "DISPLAYTO")
CRITERIA = BASE_CRITERIA + DISPLAY_CRITERIA
# RFC 5267 §3.1: the ESEARCH return options of RFC 4731; §4.1: CONTEXT=SORT adds CONTEXT, UPDATE
# and PARTIAL (with its range, RFC 9394 §3.1).
# RFC 5182 §1: SAVE too, the result "of any command based on SEARCH, e.g., SORT" (RFC 5267 §3: the
# extended SORT is "otherwise identical in its behaviour to the extended SEARCH command").
RETURN_OPTIONS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE", "CONTEXT", "UPDATE"})


class Item(NamedTuple):
    """One searched message as SORT and THREAD see it. ``position``: its place in the mailbox (the
    implicit last criterion, RFC 5256 §3); ``number``: what the response names (number or UID)."""

    number: int
    position: int
    keys: SortKeys
    arrival: int  # internal date, UTC seconds
    size: int

    @property
    def sent(self) -> int:
        # RFC 5256 §2.2: without a usable Date: field, the internal date is the sent date.
        return self.arrival if self.keys.sent is None else self.keys.sent


@dataclass(frozen=True)
class SortArgs:
    """``SORT [RETURN (...)] (criteria) charset search-key...``; ``criteria`` are (name, reversed);
    ``returns`` None for a plain SORT, else the ESORT options (empty means ALL)."""

    criteria: tuple[tuple[str, bool], ...]
    charset: str
    key: And
    returns: tuple[str, ...] | None = None
    partial: PartialRange | None = None  # RETURN (PARTIAL range), RFC 5267 §4.4 / RFC 9394 §3.1

    @property
    def uses_sequence_numbers(self) -> bool:
        return uses_sequence_numbers(self.key)

    @property
    def has_modseq(self) -> bool:
        """The program has a MODSEQ key (RFC 7162 §3.1.9, §3.1.10: the result carries a MODSEQ)."""
        return has_modseq(self.key)

    def encode(self) -> bytes:
        out = b""
        if self.returns is not None:
            opts = [name.encode() for name in self.returns]
            if self.partial is not None:
                opts.append(b"PARTIAL " + self.partial.encode())
            out += b" RETURN (" + b" ".join(opts) + b")"
        names = [("REVERSE " if rev else "") + name for name, rev in self.criteria]
        out += b" (" + " ".join(names).encode() + b") "
        return out + wire.astring(self.charset.encode("ascii")) + b" " + encode_keys(self.key.keys)


def parse_charset(cur: Cursor) -> str:
    """RFC 5256 §5 charset = atom / quoted (mandatory in SORT and THREAD)."""
    return cur.astring().decode("ascii", "replace")


def parse_sort(cur: Cursor, max_depth: int) -> SortArgs:
    cur.sp()
    returns = None
    partial: PartialRange | None = None
    if cur.peek_keyword(b"RETURN"):
        # RFC 5267 §5: sort =/ ... "SORT" [search-return-opts] SP sort-criteria ...
        cur.skip(6)
        cur.sp()
        cur.expect(b"(")
        opts: list[str] = []
        first = True
        while not cur.maybe(b")"):
            if not first:
                cur.sp()
            first = False
            name = cur.keyword()
            if name == "PARTIAL" and partial is None:
                cur.sp()  # RFC 5267 §5 modifier-partial = "PARTIAL" SP partial-range
                partial = PartialRange.parse(cur.atom())
                continue
            if name not in RETURN_OPTIONS or name in opts:
                raise ParseError(f"Unknown or repeated SORT return option {name[:40]}")
            opts.append(name)
        if partial is not None and "ALL" in opts:
            raise ParseError("PARTIAL and ALL exclude each other")  # RFC 5267 §4.4
        returns = tuple(opts)
        cur.sp()
    cur.expect(b"(")
    criteria: list[tuple[str, bool]] = []
    while True:
        name = cur.keyword()
        reverse = name == "REVERSE"
        if reverse:  # RFC 5256 §5 sort-criterion = ["REVERSE" SP] sort-key
            cur.sp()
            name = cur.keyword()
        if name not in CRITERIA:
            raise ParseError(f"Unknown sort criterion {name[:40]}")
        criteria.append((name, reverse))
        if cur.maybe(b")"):
            break
        cur.sp()
    cur.sp()
    charset = parse_charset(cur)
    cur.sp()
    return SortArgs(tuple(criteria), charset, parse_keys(cur, max_depth), returns, partial)


# SORT criterion -> the key the store orders by (``MailStore.sort_order``).
ORDER_KEYS = {
    "ARRIVAL": "arrival", "DATE": "date", "SIZE": "size", "SUBJECT": "subject", "FROM": "from_", "TO": "to",
    "CC": "cc", "DISPLAYFROM": "display_from", "DISPLAYTO": "display_to",
}  # fmt: skip

_KEYS = {
    "ARRIVAL": attrgetter("arrival"),
    "DATE": attrgetter("sent"),
    "SIZE": attrgetter("size"),
    "SUBJECT": attrgetter("keys.subject"),
    "FROM": attrgetter("keys.from_"),
    "TO": attrgetter("keys.to"),
    "CC": attrgetter("keys.cc"),
    "DISPLAYFROM": attrgetter("keys.display_from"),
    "DISPLAYTO": attrgetter("keys.display_to"),
}


def sort_items(items: Sequence[Item], criteria: Sequence[tuple[str, bool]]) -> list[Item]:
    """``items`` (in mailbox order) in the order of ``criteria``. Strings are stored casemapped, so
    comparing them compares their i;unicode-casemap forms (RFC 5256 §7); "" sorts first (§3)."""
    ordered = sorted(items, key=attrgetter("position"))
    # Stable sorts from the last criterion to the first: each REVERSE reverses only its own
    # criterion, and ties keep mailbox order (RFC 5256 §3: "an implicit sort criterion of
    # 'sequence number'", which REVERSE does not affect).
    for name, reverse in reversed(criteria):
        ordered.sort(key=_KEYS[name], reverse=reverse)
    return ordered


def encode_sort(numbers: Sequence[int], modseq: int | None = None) -> bytes:
    """RFC 5256 §4 sort-data; with ``modseq``, ``(MODSEQ n)`` at its end when something matched
    (RFC 7162 §3.1.9: "the highest mod-sequence for all messages being returned")."""
    if not numbers:
        return b"* SORT\r\n"
    tail = b" (MODSEQ %d)" % modseq if modseq is not None else b""
    return b"* SORT %s%s\r\n" % (" ".join(map(str, numbers)).encode("ascii"), tail)


def ordered_set(numbers: Sequence[int]) -> SequenceSet:
    """The numbers in their order as a sequence set: RFC 5267 §3.2, ranges only where ascending."""
    ranges: list[Range] = []
    for n in numbers:
        if ranges:
            low, high = ranges[-1]
            if high is not None and n == high + 1:
                ranges[-1] = (low, n)
                continue
        ranges.append((n, n))
    return SequenceSet(tuple(ranges))
