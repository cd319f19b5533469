"""CONDSTORE and QRESYNC arguments (RFC 7162 §7), read from the generic RFC 4466 parameters.

The receiver parses SELECT/EXAMINE select-params, FETCH fetch-modifiers and STORE store-modifiers
generically (``args.params``); the functions here check the values of the RFC 7162 ones and turn them
into typed records, raising ``ParseError`` (a tagged BAD) on anything that is not their grammar. They
are called by the command parsers, so a malformed CONDSTORE argument is a BAD before any handler runs.

- ``mod_sequence``: RFC 7162 §7 mod-sequence-value (1 to 2^63-1) or mod-sequence-valzer (0 too).
- ``select_options``: ``(CONDSTORE)`` and ``(QRESYNC (uidvalidity modseq [known-uids [seq-match-data]]))``
  (§3.1.8, §3.2.5); another select parameter is left for the handler to refuse.
- ``fetch_options``: ``CHANGEDSINCE n`` (§3.1.4.1) and ``VANISHED`` (§3.2.6).
- ``unchanged_since``: the single ``UNCHANGEDSINCE n`` store modifier (§3.1.3).
- ``seq_match_floor`` and ``vanished_earlier``: what a VANISHED (EARLIER) reports (§3.2.5, §3.2.6).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pochta.proto.imap.sequence import MAX_NUMBER, SequenceSet, SequenceSetError
from pochta.proto.imap.wire import MAX_NUMBER64, ParseError

if TYPE_CHECKING:
    from pochta.proto.imap.args import ExtValue, Params

_DIGITS = re.compile(rb"[0-9]+")
_NO_STAR_SET = re.compile(rb"[0-9]+(?::[0-9]+)?(?:,[0-9]+(?::[0-9]+)?)*")


def mod_sequence(value: ExtValue | None, name: str, *, zero: bool = False) -> int:
    """RFC 7162 §7 mod-sequence-value (``zero``: mod-sequence-valzer, "0" allowed)."""
    if not isinstance(value, bytes) or not _DIGITS.fullmatch(value):
        raise ParseError(f"{name} takes a mod-sequence number")
    number = int(value)
    # RFC 7162 §7 mod-sequence-value: 1 <= n <= 9,223,372,036,854,775,807.
    if number > MAX_NUMBER64 or (number == 0 and not zero):
        raise ParseError(f"{name} mod-sequence out of range")
    return number


def _known_set(value: ExtValue, what: str) -> SequenceSet:
    """RFC 7162 §7 known-uids / known-sequence-set / known-uid-set: a sequence set without "*"."""
    if not isinstance(value, bytes) or not _NO_STAR_SET.fullmatch(value):
        raise ParseError(f"QRESYNC {what} must be a set of numbers without *")
    try:
        return SequenceSet.parse(value)
    except SequenceSetError:  # RFC 9051 §9 nz-number: 1 to 4294967295, no leading zero
        raise ParseError(f"QRESYNC {what} numbers must be 1 to 4294967295") from None


def _ascending(numbers: SequenceSet) -> list[int] | None:
    """The numbers of a set in the order written, or None when they are not strictly ascending
    (RFC 7162 §3.2.5.2: "Both MUST be provided in ascending order")."""
    out: list[int] = []
    for lo, hi in numbers.ranges:
        if lo is None or hi is None:  # pragma: no cover - ``_known_set`` admits no "*"
            return None
        if hi < lo or (out and lo <= out[-1]):
            return None
        if len(out) + hi - lo >= 1_000_000:  # a sample, not a whole mailbox
            return None
        out.extend(range(lo, hi + 1))
    return out


@dataclass(frozen=True)
class QResync:
    """RFC 7162 §3.2.5 the QRESYNC select parameter."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    # §3.2.5.2 seq-match-data: (message number, UID) pairs, both ascending.
    seq_match: tuple[tuple[int, int], ...] = ()

    def encode(self) -> bytes:
        out = b"%d %d" % (self.uidvalidity, self.modseq)
        if self.known_uids is not None:
            out += b" " + bytes(self.known_uids)
        if self.seq_match:
            seqs = SequenceSet.of(*(s for s, _ in self.seq_match))
            uids = SequenceSet.of(*(u for _, u in self.seq_match))
            out += b" (" + bytes(seqs) + b" " + bytes(uids) + b")"
        return b"QRESYNC (" + out + b")"


def qresync(value: ExtValue | None) -> QResync:
    """RFC 7162 §7: "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids]
    [SP seq-match-data] ")"."""
    if not isinstance(value, tuple) or not 2 <= len(value) <= 4:
        raise ParseError("QRESYNC takes (uidvalidity modseq [known-uids] [(seqs uids)])")
    validity = value[0]
    if (
        not isinstance(validity, bytes)
        or not _DIGITS.fullmatch(validity)
        or not 0 < int(validity) <= MAX_NUMBER
    ):
        raise ParseError("QRESYNC uidvalidity must be a number from 1 to 4294967295")  # RFC 7162 §7 nz-number
    modseq = mod_sequence(value[1], "QRESYNC")
    rest = list(value[2:])
    known = None
    if rest and isinstance(rest[0], bytes):
        known = _known_set(rest.pop(0), "known-uids")
    pairs: tuple[tuple[int, int], ...] = ()
    if rest:
        match = rest.pop(0)
        if rest or not isinstance(match, tuple) or len(match) != 2:
            raise ParseError("QRESYNC seq-match-data is (known-sequence-set known-uid-set)")
        seqs = _ascending(_known_set(match[0], "known-sequence-set"))
        uids = _ascending(_known_set(match[1], "known-uid-set"))
        if seqs is None or uids is None:
            raise ParseError("QRESYNC seq-match-data must be in ascending order")
        if len(seqs) != len(uids):
            raise ParseError("QRESYNC seq-match-data sets differ in size")
        pairs = tuple(zip(seqs, uids, strict=True))
    return QResync(int(validity), modseq, known, pairs)


@dataclass(frozen=True)
class SelectOptions:
    """The RFC 7162 select parameters given (``other``: the first other parameter's name, if any)."""

    condstore: bool = False
    qresync: QResync | None = None
    other: str | None = None


def select_options(params: Params) -> SelectOptions:
    condstore = False
    found: QResync | None = None
    other = None
    for name, value in params:
        if name == "CONDSTORE":
            # RFC 7162 §7 condstore-param = "CONDSTORE" (no value)
            if value is not None or condstore:
                raise ParseError("CONDSTORE takes no value and is given once")
            condstore = True
        elif name == "QRESYNC":
            if found is not None:
                raise ParseError("QRESYNC is given once")
            found = qresync(value)
        elif other is None:
            other = name
    return SelectOptions(condstore, found, other)


@dataclass(frozen=True)
class FetchOptions:
    changed_since: int | None = None  # RFC 7162 §3.1.4.1
    vanished: bool = False  # RFC 7162 §3.2.6
    other: str | None = None  # the first other modifier's name, if any


def fetch_options(params: Params) -> FetchOptions:
    changed = None
    vanished = False
    other = None
    for name, value in params:
        if name == "CHANGEDSINCE":
            if changed is not None:
                raise ParseError("CHANGEDSINCE is given once")
            changed = mod_sequence(value, "CHANGEDSINCE")  # RFC 7162 §7 chgsince-fetch-mod
        elif name == "VANISHED":
            if value is not None or vanished:
                raise ParseError("VANISHED takes no value and is given once")  # §7 rexpunges-fetch-mod
            vanished = True
        elif other is None:
            other = name
    if vanished and changed is None:
        # RFC 7162 §3.2.6: "The VANISHED UID FETCH modifier MUST only be specified together with the
        # CHANGEDSINCE UID FETCH modifier."
        raise ParseError("VANISHED needs CHANGEDSINCE")
    return FetchOptions(changed, vanished, other)


def unchanged_since(params: Params) -> int | None:
    """RFC 7162 §7 store-modifier: "UNCHANGEDSINCE" SP mod-sequence-valzer, at most once."""
    found = None
    for name, value in params:
        if name == "UNCHANGEDSINCE":
            if found is not None:
                raise ParseError("UNCHANGEDSINCE is given once")  # RFC 7162 §7: "Only a single"
            found = mod_sequence(value, "UNCHANGEDSINCE", zero=True)
    return found


def seq_match_floor(pairs: Sequence[tuple[int, int]], uid_at: Callable[[int], int | None]) -> int:
    """RFC 7162 §3.2.5.2: the UID up to which the client provably knows every expunge: that of the
    last (message number, UID) pair matching the mailbox now, before the first pair that does not
    (0 when none does). ``uid_at(n)``: the UID of message ``n`` now, None past the end."""
    floor = 0
    for seq, uid in pairs:
        if uid_at(seq) != uid:
            break
        floor = uid
    return floor


def vanished_earlier(
    ranges: Sequence[tuple[int, int]],
    present: Sequence[int],
    expunged: Sequence[int] | None,
    *,
    floor: int = 0,
    top: int,
) -> SequenceSet:
    """The UIDs of a VANISHED (EARLIER) response (RFC 7162 §3.2.10.1) for a client that knows the UIDs
    of ``ranges`` (ascending, merged ``(first, last)``).

    ``present``: the UIDs the client is numbering now, ascending (never reported: their expunge, if
    any, comes as a VANISHED of its own). ``expunged``: the UIDs expunged since the client's
    mod-sequence, ascending; None when those records were pruned: then every UID of ``ranges`` not in
    ``present`` is reported (§3.2.6: "as if it was requested to report all expunged messages"), up to
    ``top`` (the highest UID the mailbox ever gave). ``floor``: UIDs at or below it are left out
    (``seq_match_floor``)."""
    wanted = [(max(first, floor + 1), min(last, top)) for first, last in ranges]
    wanted = [(first, last) for first, last in wanted if first <= last]
    if expunged is not None:
        starts = [first for first, _ in wanted]
        found = []
        for uid in expunged:
            index = bisect_right(starts, uid) - 1
            if index < 0 or uid > wanted[index][1]:
                continue
            position = bisect_left(present, uid)
            if position < len(present) and present[position] == uid:
                continue
            found.append(uid)
        return SequenceSet.of(*found)
    gaps: list[tuple[int, int]] = []
    for first, last in wanted:
        start = first
        position = bisect_left(present, first)
        while position < len(present) and present[position] <= last:
            if present[position] > start:
                gaps.append((start, present[position] - 1))
            start = present[position] + 1
            position += 1
        if start <= last:
            gaps.append((start, last))
    merged: list[tuple[int, int]] = []
    for first, last in gaps:
        if merged and merged[-1][1] + 1 >= first:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return SequenceSet(tuple(merged))
