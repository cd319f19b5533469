"""CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): CANCELUPDATE's arguments and the update contexts
of one selected mailbox, as pure state (no store, no I/O).

A context is what a ``SEARCH``/``SORT`` with ``RETURN (UPDATE ...)`` leaves behind: its tag, its
program (message-number criteria frozen to UIDs when the command ran, RFC 5267 §4.3), its sort
criteria (SORT) and the current result as UIDs (``members``; ``order``: the requested order of a
SORT). The server re-evaluates the programs on the messages whose state changed (``touched``) and
gives each context its new result; this module turns the difference into ESEARCH responses:

- ``REMOVEFROM`` before ``ADDTO`` in one response per context and batch; results are UIDs for
  UID SEARCH/UID SORT, message numbers otherwise (RFC 5267 §4.3.2).
- SEARCH contexts use context position 0 and list the set in mailbox order, the shortest form
  (RFC 5267 §4.3.3, §4.3.4: "servers are RECOMMENDED to order the result update into mailbox
  order"). SORT contexts carry real positions (RFC 5267 §4.3.3: the first result of the set
  occupies the position after insertion; §4.3.4: before removal), one pair per run, processed in
  order by the client (§4.3.2), so that the client's list stays in the sort order.
- A message's sort keys never change (they are its content, size and arrival), so the survivors of a
  SORT result keep their relative order: removals are runs of the old order, additions runs of the
  new one (``diff``).
- ``dropping``: the messages an EXPUNGE (or VANISHED) is about to remove leave every result first,
  in a REMOVEFROM sent before the EXPUNGE while their numbers are still valid (RFC 5267 §4.3.4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from pochta.proto.imap import wire
from pochta.proto.imap.responses import ESearch
from pochta.proto.imap.search import And
from pochta.proto.imap.sequence import SequenceSet
from pochta.proto.imap.sort import ordered_set
from pochta.proto.imap.wire import Cursor

__all__ = ["CancelUpdate", "SearchContexts", "UpdateContext", "diff", "parse_cancelupdate"]

Runs = list[tuple[int, list[int]]]  # (context position, 1-based; the results of the run in order)


@dataclass(frozen=True)
class CancelUpdate:
    """RFC 5267 §4.3.5 ``CANCELUPDATE`` 1*(SP quoted): the tags of the contexts to end."""

    tags: tuple[bytes, ...]

    def encode(self) -> bytes:
        return b"".join(b" " + wire.string(tag) for tag in self.tags)


def parse_cancelupdate(cur: Cursor, max_depth: int) -> CancelUpdate:
    # RFC 5267 §5: command-select =/ "CANCELUPDATE" 1*(SP quoted)
    tags = []
    while not cur.at_end():
        cur.sp()
        tags.append(cur.quoted())
    if not tags:
        cur.sp()  # raises: at least one tag
    return CancelUpdate(tuple(tags))


@dataclass
class UpdateContext:
    """One UPDATE context. ``criteria`` None: a SEARCH (mailbox order); else SORT's criteria.
    ``rerun``: the program depends on the whole mailbox (a UID range with "*"), so a change is
    answered by a whole search and a diff rather than by re-evaluating the changed messages."""

    tag: bytes
    uid: bool
    program: And
    charset: str | None
    criteria: tuple[tuple[str, bool], ...] | None
    members: set[int]
    order: list[int] = field(default_factory=list)  # SORT only: the members in the requested order
    rerun: bool = False

    @property
    def sorted(self) -> bool:
        return self.criteria is not None

    def update(self, new: Sequence[int], seq_of: Callable[[int], int | None]) -> ESearch | None:
        """Take the new result (UIDs; a SEARCH's in any order, a SORT's in the requested order) and
        return the ESEARCH that tells the client, None when nothing changed. ``seq_of``: a UID's
        message number now (for contexts of SEARCH and SORT, RFC 5267 §4.3.2)."""
        number = _same if self.uid else seq_of
        if not self.sorted:
            kept = set(new)
            return self.change(self.members - kept, kept - self.members, seq_of)
        removals, additions = diff(self.order, new)
        self.order = list(new)
        self.members = set(new)
        return self._response(removals, additions, number)

    def change(
        self, removed: Iterable[int], added: Iterable[int], seq_of: Callable[[int], int | None]
    ) -> ESearch | None:
        """A SEARCH context: ``removed`` leave the result and ``added`` join it; the cost is theirs,
        not the result's (position 0, sets in mailbox order, RFC 5267 §4.3.3, §4.3.4)."""
        assert not self.sorted
        number = _same if self.uid else seq_of
        gone, new = sorted(self.members.intersection(removed)), sorted(set(added) - self.members)
        self.members.difference_update(gone)
        self.members.update(new)
        data: list[tuple[str, bytes]] = []
        if gone:
            data.append(("REMOVEFROM", _pairs([(0, gone)], number, sort=False)))
        if new:
            data.append(("ADDTO", _pairs([(0, new)], number, sort=False)))
        return ESearch(tag=self.tag, uid=self.uid, extra=data) if data else None

    def remove(self, uids: Iterable[int], seq_of: Callable[[int], int | None]) -> ESearch | None:
        """The messages ``uids`` leave the result (expunged): the REMOVEFROM, None if none was in it."""
        gone = self.members.intersection(uids)
        if not gone:
            return None
        if not self.sorted:
            return self.change(gone, (), seq_of)
        return self.update([u for u in self.order if u not in gone], seq_of)

    def _response(
        self, removals: Runs, additions: Runs, number: Callable[[int], int | None]
    ) -> ESearch | None:
        data: list[tuple[str, bytes]] = []
        if removals:
            data.append(("REMOVEFROM", _pairs(removals, number, sort=True)))
        if additions:
            data.append(("ADDTO", _pairs(additions, number, sort=True)))
        return ESearch(tag=self.tag, uid=self.uid, extra=data) if data else None


def _same(uid: int) -> int:
    return uid


def _pairs(runs: Runs, number: Callable[[int], int | None], sort: bool) -> bytes:
    """RFC 5267 §5 ``"(" context-position SP sequence-set *(SP ...) ")"``."""
    out = []
    for position, uids in runs:
        numbers = [n for n in map(number, uids) if n is not None]
        if not numbers:
            continue
        encoded = bytes(ordered_set(numbers)) if sort else bytes(SequenceSet.of(*numbers))
        out.append(b"%d %s" % (position, encoded))
    return b"(" + b" ".join(out) + b")"


def diff(old: Sequence[int], new: Sequence[int]) -> tuple[Runs, Runs]:
    """The REMOVEFROM runs, then the ADDTO runs, that turn the list ``old`` into ``new`` when the
    items both hold are in the same relative order in each (RFC 5267 §4.3.3, §4.3.4: each pair is
    applied in turn; positions are 1-based in the list as it is when the pair is applied)."""
    keep = set(new)
    removals: Runs = []
    removed = 0
    for index, uid in enumerate(old):
        if uid in keep:
            continue
        position = index - removed + 1  # where it is now, after the earlier runs went
        if removals and removals[-1][0] == position:
            removals[-1][1].append(uid)  # it follows the last run: one pair
        else:
            removals.append((position, [uid]))
        removed += 1
    had = set(old)
    additions: Runs = []
    for index, uid in enumerate(new):
        if uid in had:
            continue
        position = index + 1  # everything before it in ``new`` is in place by now
        if additions and additions[-1][0] + len(additions[-1][1]) == position:
            additions[-1][1].append(uid)
        else:
            additions.append((position, [uid]))
    return removals, additions


class SearchContexts:
    """The UPDATE contexts of a selected mailbox, and the UIDs whose state changed since the last
    ``take_touched`` (new, flags changed, expunged). They end with the selection (RFC 5267 §4.3)."""

    def __init__(self) -> None:
        self._contexts: dict[bytes, UpdateContext] = {}
        self._touched: set[int] = set()
        # A message left the numbering while a context depends on the highest UID ("*"): that
        # context must be re-run at the next report even if no message changed (the highest UID
        # may be lower now, and "3:*" then names other messages: RFC 9051 §6.4.4's "*").
        self._highest_moved = False

    def __len__(self) -> int:
        return len(self._contexts)

    def __iter__(self) -> Iterator[UpdateContext]:
        return iter(list(self._contexts.values()))

    def __contains__(self, tag: bytes) -> bool:
        return tag in self._contexts

    def add(self, context: UpdateContext) -> None:
        self._contexts[context.tag] = context

    def cancel(self, tags: Iterable[bytes]) -> list[bytes]:
        """End the contexts of ``tags``; return the tags that named none."""
        return [tag for tag in tags if self._contexts.pop(tag, None) is None]

    def touch(self, uid: int) -> None:
        # Kept with no context too (the server empties it at every report): a context made now must
        # still learn of the messages absorbed before it and announced after it.
        self._touched.add(uid)

    def take_touched(self) -> set[int]:
        touched, self._touched = self._touched, set()
        return touched

    def take_highest_moved(self) -> bool:
        """Whether an expunge may have lowered the highest UID since the last call."""
        moved, self._highest_moved = self._highest_moved, False
        return moved

    def dropping(self, uids: Iterable[int], seq_of: Callable[[int], int | None]) -> list[ESearch]:
        """REMOVEFROM for the messages about to leave the numbering (before their EXPUNGE)."""
        if not self._contexts:
            return []
        gone = set(uids)
        self._touched -= gone
        self._highest_moved = self._highest_moved or any(c.rerun for c in self._contexts.values())
        return [r for c in self._contexts.values() if (r := c.remove(gone, seq_of)) is not None]
