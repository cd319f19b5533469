"""The selected mailbox of one IMAP session: its own message numbering and what it still has to tell.

Pure state: no I/O, no store calls (sans-IO: ``tests/test_quality.py`` checks its imports). The
handler feeds it the store's ``MailboxView``/``ChangeSet`` records, typed here by the protocols of
``pochta.proto.imap.view`` that they fit, and writes the responses it returns. The class is generic
in the record type of one message (``SelectedMailbox[MessageEntry]`` in the server), so that
``entry(uid)`` gives back the caller's own record.

Numbering. The session's sequence numbers are the client's: message ``seq`` is ``uid_at(seq)``, and
the numbering changes only when the client is told so, by EXISTS (new messages at the end) or
EXPUNGE (RFC 9051 §7.5.1, RFC 3501 §7.4.1). A message expunged by another session stays addressable
by its number until its EXPUNGE is sent; ``is_expunged(uid)`` says so (answer it with NO or no data).

API (``SelectedMailbox``):

- ``SelectedMailbox(view, *, read_only, rev1, recent_from=None)``: the state right after SELECT/
  EXAMINE. ``rev1``: an IMAP4rev1 session (\\Recent and RECENT are reported); ``recent_from``: the
  view's messages from this UID on are \\Recent for this session (RFC 3501 §2.3.2; the caller
  decides which session is first, ``Store.take_recent``). ``new_uid_end`` and ``recent_news_from``:
  the same decision for messages announced later (before ``updates``: new UIDs from the given one on
  are \\Recent; all are when it is not called).
- ``exists``, ``uids``: the client's message count and the UIDs in sequence order (an ``array('q')``
  built on demand when messages left or arrived since SELECT: fetch it once per command; do not modify).
- ``uid_at(seq)``, ``seq_of(uid)``: number to UID (IndexError when out of range), UID to number (None).
- ``flags_of(uid)``, ``modseq_of(uid)``: stored flags and MODSEQ of a message in the numbering
  (KeyError otherwise); ``client_flags(uid)``: the FETCH FLAGS list (\\Recent added for rev1);
  ``flag_run(uids)``: the same for a run of messages in bulk (FETCH 1:* (UID FLAGS)), when it can
  (with where \\Recent begins in it).
  ``client_flag_order(flags)``: a flag set in the order FETCH FLAGS lists it.
- ``entry(uid)``: the message's record (``MessageEntry``: size, internal date, blob), None when unknown;
  ``message_ids(uids)``: the store's id of each message's content, from the view's column.
- ``is_expunged(uid)``, ``is_recent(uid)``, ``recent_count``, ``pending`` (anything to tell).
- ``highestmodseq``: the MODSEQ up to which changes were absorbed: the cursor for
  ``changes_since`` after a feed overflow. ``apply_own`` moves it only when its write took the very
  next MODSEQ (nothing committed between), so that no change from another session committed before
  ours can be skipped; otherwise the feed's echo does.
- ``resolve(seqset, *, uid)``: the UIDs a sequence set names, ascending; ``InvalidSequenceNumber``
  (answer BAD) for a message number beyond ``exists``.
- ``save_result(uids)``: set the SEARCHRES ``$`` variable (RFC 5182 §2.1).
- ``absorb(changes)``: learn another session's (or the feed's) changes; they are pending until
  ``updates``. Give change sets in commit order (the feed's order, or ``changes_since``).
- ``apply_own(changes) -> list[Expunge]``: the result of this session's own STORE/EXPUNGE/MOVE. Flag
  changes take effect now and are not reported again (the handler sends their FETCH itself); own
  expunges leave the numbering now and the handler must send the returned EXPUNGE responses, in the
  returned order, before anything else that carries a sequence number. Call it with expunges only in
  commands that may send EXPUNGE. New messages in it (APPEND/COPY into this mailbox) stay pending.
- ``updates(*, allow_expunge, include_uid) -> list[Response]``: what to tell the client now.
- ``contexts`` (RFC 5267 §4.3, ``pochta.proto.imap.context``): the UPDATE contexts of SEARCH/SORT,
  told of every message whose state changes (``_take``, ``absorb``) and, in ``_drop``, of messages
  about to be expunged: their REMOVEFROM comes first in the responses ``updates``/``apply_own``
  return. ``server.imap.context`` re-evaluates the rest where the updates are reported.
- ``condstore``, ``qresync`` (set by the session, RFC 7162): unsolicited FETCH carries UID and MODSEQ
  (§3.2.4); expunges are told as one ``VANISHED`` instead of EXPUNGEs (§3.2.10.2), by ``updates`` and
  ``apply_own`` alike. ``uidonly`` (RFC 9586): unsolicited FETCH is ``UIDFETCH`` and expunges are
  told by VANISHED as with QRESYNC. ``absorb`` of a ``ChangeSet`` with ``live_uids`` (the store's
  expunge records were pruned) takes every numbered UID not among them as expunged.

Decisions:

- EXPUNGEs are sent in ascending order, each number lowered by the EXPUNGEs already sent (RFC 9051
  §7.5.1 allows either order; this is the order of the RFC's own transcripts, §6.4.3 "3, 3, 5, 8"
  and §6.4.9 "3, 3, 3", and one pass over the sorted positions computes it).
- ``updates`` sends EXPUNGEs (when allowed), then EXISTS if new messages arrived, then RECENT (rev1),
  then FETCH FLAGS. EXISTS counts the messages whose EXPUNGE is still held back, so it never shrinks
  (RFC 9051 §5.2); after EXPUNGEs no EXISTS is needed for the decrement (RFC 9051 §7.5.1).
- Messages announced by an EXISTS get no unsolicited FETCH in that batch: the client has no flags of
  them to update and fetches them itself (RFC 9051 §7.5.2: FETCH reports flag *updates*). A flag
  change reaches the client once it knows the message. Flag changes are taken only when their MODSEQ
  is newer than the session's, so the feed echo of our own STORE is not reported twice.
- A UID that the session does not know is new only if it is above every UID the session has seen:
  new messages are appended, never inserted (RFC 9051 §2.3.1.2); others are stale echoes of expunged
  messages and are ignored.
- ``$`` holds UIDs; a message leaves it when the session learns of its expunge (RFC 5182 §2.1).

Representation: an overlay over the view, so that a session's memory grows with what changed since
SELECT, never with the mailbox (1,000 sessions share one 100,000-message view). The view's columns
are positions ``0..n-1``; messages announced since are positions ``n, n+1, ...`` (``_tail``). Nothing
is ever moved or copied: ``_removed`` holds the positions whose EXPUNGE was sent (ascending), so the
message at position ``p`` is number ``p + 1 - (removed positions below p)``, and number ``k + 1`` is
position ``k + j`` for the ``j`` removed positions ``r_i`` (``i`` from 0) with ``r_i - i <= k`` (one
binary search). ``_over`` maps a UID to its latest record where the flags changed since
SELECT (and for the tail): the feed's own records, shared by every session; and to None once removed
(a check without a search). Lookups cost O(log n), a flag change O(log n), an expunge of k messages
O(k log n + r) (r: removed so far).
"""

from __future__ import annotations

import weakref
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from itertools import repeat
from typing import Generic

from pochta.mail import acl
from pochta.mail import flags as flagrules
from pochta.mail.flags import RECENT, flag_key
from pochta.proto.imap.context import SearchContexts
from pochta.proto.imap.responses import Exists, Expunge, Fetch, FetchValue, Raw, Recent, Response, Vanished
from pochta.proto.imap.sequence import SequenceSet
from pochta.proto.imap.view import Changes, EntryT, View

_ALL_RECENT = (0, 2**63)  # every announced message is \\Recent (see recent_news_from)


class InvalidSequenceNumber(ValueError):
    """A message sequence number the client cannot use now: the handler answers BAD with the text."""


def _flag_order(flag: str) -> tuple[bool, str]:
    return (not flag.startswith("\\"), flag_key(flag))  # system flags first, then keywords


class SelectedMailbox(Generic[EntryT]):
    """Per-session state of the selected mailbox (see the module docstring for the API)."""

    def __init__(
        self,
        view: View[EntryT],
        *,
        read_only: bool,
        rev1: bool,
        recent_from: int | None = None,
        condstore: bool = False,
        qresync: bool = False,
        uidonly: bool = False,
    ) -> None:
        self.mailbox_id = view.mailbox.id
        # RFC 7162 §3.1, §3.2.4: CONDSTORE enabled: unsolicited FETCH carries UID and MODSEQ;
        # §3.2.10: QRESYNC enabled: VANISHED instead of EXPUNGE. The session turns them on.
        self.condstore = condstore
        self.qresync = qresync
        # RFC 9586 §3: UIDONLY enabled: UIDFETCH instead of FETCH (§3.3), VANISHED instead of EXPUNGE.
        self.uidonly = uidonly
        self.name = view.mailbox.name  # as selected (a rename elsewhere is not followed)
        self.uidvalidity = view.mailbox.uidvalidity
        self.read_only = read_only
        self.rev1 = rev1
        # RFC 4314: the session's rights here (every right on its own mailbox; for another user's,
        # read again before each command, ``acl_check.refresh``), and that owner's account.
        self.rights: frozenset[str] = acl.ALL
        self.owner_id: int | None = None  # None: the session's own mailbox
        # The view's columns are shared with other sessions and never modified (an overlay: see
        # "Representation" in the module docstring). The view also gives sizes, dates and blobs.
        self._view = view
        self._base: array[int] = view.uids  # positions 0..n-1
        self._base_count = len(view.uids)
        self._base_last = view.uids[-1] if len(view.uids) else -1  # tail UIDs are above it
        self._tail: array[int] = array("q")  # announced since SELECT: positions n, n+1, ...
        self._removed: array[int] = array("q")  # positions whose EXPUNGE was sent, ascending
        self._over: dict[int, EntryT | None] = {}  # changed since SELECT, the tail; None: removed
        self._added: dict[int, EntryT] = {}  # every message announced since SELECT
        self._uids_built: weakref.ref[array[int]] | None = None  # ``uids`` while its caller holds it
        self._max_uid = max(self._base_last, 0)  # highest UID ever seen
        self._highestmodseq = view.mailbox.highestmodseq
        # \\Recent (RFC 3501 §2.3.2): the view's messages from position ``_base_recent`` on (a
        # suffix: one bisect, whatever the count), and announced ones in ``_recent``.
        self._base_recent = self._base_count if recent_from is None else bisect_left(self._base, recent_from)
        self._recent: set[int] = set()
        self._news_recent = _ALL_RECENT  # announced UIDs in [first, end) are \\Recent here
        self._new: dict[int, EntryT] = {}  # not yet announced, ascending UIDs
        self._gone: set[int] = set()  # expunged, EXPUNGE not yet sent
        self._gone_floor = 0  # the MODSEQ absorbed before the first of ``_gone`` (see ``safe_modseq``)
        self._flag_news: set[int] = set()  # flag changes not yet reported
        self._saved: set[int] = set()  # RFC 5182 §2.1: empty after SELECT
        # Keywords the client was told in FLAGS (by comparison key), and whether a change brought one
        # it was not: RFC 9051 §7.3.5 / RFC 3501 §7.2.6, FLAGS must list every keyword a FETCH shows.
        self._keywords = flagrules.listed_keywords(view.mailbox.keywords, view.flag_sets())
        self._keyword_news = False
        # RFC 5267 §4.3: the UPDATE contexts, told of every message whose state changes (``touch``)
        # and of expunges before their EXPUNGE is sent (``_drop``); server.imap.context does the rest.
        self.contexts = SearchContexts()

    # --- reading ---------------------------------------------------------------------------------

    @property
    def exists(self) -> int:
        """The number of messages the client knows (held-back expunges included)."""
        return len(self._base) + len(self._tail) - len(self._removed)

    @property
    def uids(self) -> array[int]:
        """The UIDs in sequence order; do not modify. The view's own column while no message left or
        arrived; else built (in C, by slices) and kept only as long as a caller holds it."""
        if not self._tail and not self._removed:
            return self._base
        built = self._uids_built() if self._uids_built is not None else None
        if built is None:
            built = array("q")
            for first, stop in self._segments(0, len(self._base) + len(self._tail)):
                built.extend(self._slice(first, stop))
            self._uids_built = weakref.ref(built)
        return built

    @property
    def highestmodseq(self) -> int:
        return self._highestmodseq

    @property
    def safe_modseq(self) -> int:
        """The HIGHESTMODSEQ the client may be told now: below any expunge it has not been told yet
        (RFC 7162 §3.2: held-back EXPUNGE/VANISHED must not be covered by a HIGHESTMODSEQ sent)."""
        return self._gone_floor if self._gone else self._highestmodseq

    @property
    def max_uid(self) -> int:
        """The highest UID the mailbox has given that the session knows of: seen in it (announced
        or not), or below UIDNEXT at SELECT."""
        return max(self._max_uid, self._view.mailbox.uidnext - 1)

    @property
    def recent_count(self) -> int:
        removed = self._removed  # the view's recent ones whose EXPUNGE was sent do not count
        gone = bisect_left(removed, self._base_count) - bisect_left(removed, self._base_recent)
        return self._base_count - self._base_recent - gone + len(self._recent)

    @property
    def new_uid_end(self) -> int | None:
        """One past the highest UID the next ``updates`` will announce; None when there is none."""
        return max(self._new) + 1 if self._new else None

    def recent_news_from(self, first: int, end: int) -> None:
        """Of the messages the next ``updates`` announces, those with UIDs in [first, end) are
        \\Recent here (``Store.take_recent(mailbox, end)`` gave this session ``first``: below it
        another session took them). Without this call every announced message is \\Recent: a
        session that cannot take them counts them recent (RFC 3501 §2.3.2: "SHOULD be considered
        recent" when it cannot be determined)."""
        self._news_recent = (first, end)

    @property
    def announced(self) -> int:
        """How many messages were announced since SELECT (a mark for ``announced_after``)."""
        return len(self._tail)

    def announced_after(self, mark: int) -> list[int]:
        """The UIDs announced since ``announced`` was ``mark`` and not expunged (RFC 5465 §5.2: the
        FETCH that follows their EXISTS)."""
        return [uid for uid in self._tail[mark:] if self._live(uid) is not None]

    @property
    def pending(self) -> bool:
        """Whether ``updates(allow_expunge=True, ...)`` would say anything."""
        return bool(self._new or self._gone or self._flag_news)

    def uid_at(self, seq: int) -> int:
        if not 1 <= seq <= self.exists:
            raise IndexError(f"no message number {seq}")
        return self._uid(self._at(seq - 1))

    def seq_of(self, uid: int) -> int | None:
        position = self._live(uid)
        return None if position is None else position - bisect_left(self._removed, position) + 1

    def seqs_of(self, uids: Sequence[int]) -> list[int | None]:
        """``seq_of`` of each UID: one bisect each in a C loop while nothing was removed or changed
        since SELECT and every UID is among the view's (a FETCH on a new connection)."""
        if self._removed or self._over or not uids or max(uids) > self._base_last:
            return [self.seq_of(uid) for uid in uids]
        base, count = self._base, self._base_count
        positions = map(bisect_left, repeat(base), uids)
        return [p + 1 if p < count and base[p] == u else None for p, u in zip(positions, uids, strict=True)]

    def flags_of(self, uid: int) -> frozenset[str]:
        changed = self._over.get(uid)
        return changed.flags if changed is not None else self._view.flags[self._base_position(uid)]

    def modseq_of(self, uid: int) -> int:
        changed = self._over.get(uid)
        return changed.modseq if changed is not None else self._view.modseqs[self._base_position(uid)]

    @staticmethod
    def client_flag_order(flags: Iterable[str]) -> list[str]:
        return sorted(flags, key=_flag_order)

    def client_flags(self, uid: int) -> tuple[str, ...]:
        """The FLAGS list the client is shown: system flags first; \\Recent for rev1 sessions only."""
        flags = sorted(self.flags_of(uid), key=_flag_order)
        if self.rev1 and self.is_recent(uid):
            flags.append(RECENT)  # RFC 3501 §2.3.2 session flag; RFC 9051 has no \Recent
        return tuple(flags)

    def flag_run(self, uids: Sequence[int]) -> tuple[int, list[frozenset[str]], int] | None:
        """For ``uids`` (ascending) that are consecutive messages of the view with no message removed
        from the numbering: the sequence number of the first, the stored flags of each, read from
        the view's column in bulk (flags changed since SELECT patched in), and the index in ``uids``
        from which on the messages are \\Recent here (``len(uids)`` when none is, or the session is
        not rev1). None otherwise: ask per message (``seq_of``, ``client_flags``)."""
        if not uids or self._removed:
            return None
        first = self._view.position(uids[0])
        stop = -1 if first is None else first + len(uids)
        # Strictly ascending UIDs with the same ends and count as a run of the view are that run.
        if first is None or stop > self._base_count or self._base[stop - 1] != uids[-1]:
            return None
        flags = list(self._view.flags[first:stop])
        for uid, changed in self._over.items():
            if changed is not None and uids[0] <= uid <= uids[-1]:
                position = self._view.position(uid)
                if position is not None:
                    flags[position - first] = changed.flags
        # RFC 3501 §2.3.2: the view's \\Recent messages are a suffix of it (``is_recent``); the run
        # lies within the view, so its recent ones are a suffix of the run.
        recent = len(uids) if not self.rev1 else min(len(uids), max(0, self._base_recent - first))
        return first + 1, flags, recent

    def entry(self, uid: int) -> EntryT | None:
        """Size, internal date and blob of a message of the numbering (they never change)."""
        added = self._added.get(uid)
        if added is not None:
            return added
        position = self._view.position(uid)
        return self._view.entry(position) if position is not None else None

    def sizes(self, uids: Iterable[int]) -> list[int]:
        """RFC822.SIZE of each of these messages of the numbering, read from the view's column
        (``entry`` builds a whole record per message)."""
        view, added = self._view, self._added
        return [
            entry.size if (entry := added.get(uid)) is not None else view.sizes[self._base_position(uid)]
            for uid in uids
        ]

    def message_ids(self, uids: Iterable[int]) -> list[int]:
        """The store's message id of each of these messages of the numbering (KeyError for others),
        from the view's column: what the store reads a message's kept forms by, with no lookup of
        the mailbox's membership (expunged elsewhere and not yet told: still the same content)."""
        view, added = self._view, self._added
        uids = list(uids)
        if not self._removed and not self._tail and (not uids or uids[-1] <= self._base_last):
            # Nothing left or arrived since SELECT (a FETCH on a new connection): one bisect per
            # UID in a C loop, checked against the column, then one C loop over the ids.
            base, count = self._base, self._base_count
            positions = list(map(bisect_left, repeat(base), uids))
            if all(p < count for p in positions) and list(map(base.__getitem__, positions)) == uids:
                return list(map(view.message_ids.__getitem__, positions))
        return [
            entry.message_id
            if (entry := added.get(uid)) is not None
            else view.message_ids[self._base_position(uid)]
            for uid in uids
        ]

    def internal_dates(self, uids: Iterable[int]) -> list[datetime]:
        """INTERNALDATE of each of these messages of the numbering, from the view's column."""
        view, added = self._view, self._added
        return [
            entry.internal_date
            if (entry := added.get(uid)) is not None
            else view.internal_date(self._base_position(uid))
            for uid in uids
        ]

    def is_expunged(self, uid: int) -> bool:
        """Expunged in the store, still numbered here (RFC 9051 §7.5.1: EXPUNGE not sent yet)."""
        return uid in self._gone

    def any_expunged(self, uids: Iterable[int]) -> bool:
        """Whether any of ``uids`` is expunged in the store and still numbered here."""
        return bool(self._gone) and not self._gone.isdisjoint(uids)

    def is_recent(self, uid: int) -> bool:
        if uid in self._recent:
            return True
        if self._base_recent >= self._base_count or uid < self._base[self._base_recent]:
            return False
        position = self._live(uid)
        return position is not None and self._base_recent <= position < self._base_count

    def resolve(self, seqset: SequenceSet, *, uid: bool) -> list[int]:
        """The UIDs ``seqset`` names in this session's numbering, ascending, each once.

        Held-back expunged messages are included (check ``is_expunged``); new messages not yet
        announced are not: the client cannot name them yet.
        """
        if seqset.saved:
            return sorted(self._saved)  # RFC 5182 §2.1: "$" is UIDs here, valid for both forms
        count = self.exists
        found: list[int] = []
        if uid:
            if not count:
                return found  # RFC 9051 §6.4.9: "*" names a message "unless the mailbox is empty"
            # RFC 9051 §9 seq-range: "3291:*" includes the last UID even if it is below 3291 (the
            # endpoints are unordered); RFC 9051 §6.4.9: absent UIDs are ignored without error.
            for first, last in seqset.resolve(self.uid_at(count)):
                for start, stop in self._segments(self._bisect(first, False), self._bisect(last, True)):
                    found.extend(self._slice(start, stop))
            return found
        return self._uids_numbered(self._number_ranges(seqset))

    def resolve_numbered(self, seqset: SequenceSet) -> tuple[list[int], list[int]]:
        """The message numbers ``seqset`` (not ``$``) names and their UIDs, both ascending and of
        the same length: a FETCH by number knows its responses' numbers without a ``seqs_of``."""
        ranges = self._number_ranges(seqset)
        numbers: list[int] = []
        for first, last in ranges:
            if first == last:
                numbers.append(first)
            else:
                numbers.extend(range(first, last + 1))
        return numbers, self._uids_numbered(ranges)

    def _number_ranges(self, seqset: SequenceSet) -> list[tuple[int, int]]:
        count = self.exists
        if not count and seqset.uses_star():
            # RFC 9051 §9 seq-number: BAD for a number above the count, 'This includes "*" if the
            # selected mailbox is empty'.
            raise InvalidSequenceNumber("* names no message: the mailbox is empty")
        ranges = seqset.resolve(count)  # RFC 9051 §9: "*" is the number of messages
        if ranges and ranges[-1][1] > count:
            raise InvalidSequenceNumber(
                f"Message number {ranges[-1][1]} is beyond the last message ({count} EXISTS)"
            )
        return ranges

    def _uids_numbered(self, ranges: list[tuple[int, int]]) -> list[int]:
        """The UIDs of these message-number ranges (checked by ``_number_ranges``)."""
        found: list[int] = []
        if not self._removed:
            # No EXPUNGE sent: message number n is position n - 1 (a FETCH of 100 scattered
            # numbers is 100 ranges; one slice each, no segment walk).
            base, in_base = self._base, self._base_count
            for first, last in ranges:
                if first == last and first <= in_base:
                    found.append(base[first - 1])
                else:
                    found.extend(self._slice(first - 1, last))
            return found
        for first, last in ranges:
            for start, stop in self._segments(self._at(first - 1), self._at(last - 1) + 1):
                found.extend(self._slice(start, stop))
        return found

    def save_result(self, uids: Iterable[int]) -> None:
        """Set ``$`` (RFC 5182 §2.1) to these UIDs (those not in the numbering, or expunged, drop)."""
        self._saved = {u for u in uids if u not in self._gone and self._live(u) is not None}

    # --- learning about changes ------------------------------------------------------------------

    def absorb(self, changes: Changes[EntryT]) -> None:
        """Record changes made elsewhere (or echoed by the feed); ``updates`` reports them."""
        self._check(changes)
        before = self._highestmodseq
        for entry in changes.changed:
            self._take(entry, own=False)
        expunged: Iterable[int] = changes.expunged
        if changes.live_uids is not None:
            # The store's expunge records since our MODSEQ were pruned: whatever we number that the
            # mailbox no longer holds is gone (and only that: new messages come from ``changed``).
            live = set(changes.live_uids)
            expunged = sorted({*changes.expunged, *(u for u in self.uids if u not in live)})
        for uid in expunged:
            self.contexts.touch(uid)
            if self._new.pop(uid, None) is not None:
                continue  # never announced: the client never hears of it
            if uid not in self._gone and self._live(uid) is not None:
                if not self._gone:
                    self._gone_floor = before
                self._gone.add(uid)  # RFC 9051 §7.5.1: held until an EXPUNGE may be sent
                self._flag_news.discard(uid)
                self._saved.discard(uid)  # RFC 5182 §2.1: expunged messages leave "$"
        self._highestmodseq = max(self._highestmodseq, changes.highestmodseq)

    def apply_own(self, changes: Changes[EntryT]) -> list[Response]:
        """Apply this session's own write now; return the EXPUNGEs the handler must send, in order.

        The handler reports the flag changes itself (FETCH, unless .SILENT), so they are marked told.
        """
        self._check(changes)
        if (changes.changed or changes.expunged) and changes.highestmodseq == self._highestmodseq + 1:
            # The write took the next MODSEQ (one per commit): nothing was committed between what the
            # session knew and it, so the cursor may move (and the feed's echo needs no read).
            self._highestmodseq = changes.highestmodseq
        for entry in changes.changed:
            self._take(entry, own=True)
        gone = [uid for uid in changes.expunged if self._new.pop(uid, None) is None]
        return self._drop(gone)

    def _check(self, changes: Changes[EntryT]) -> None:
        if changes.mailbox_id != self.mailbox_id:
            raise ValueError(f"changes of mailbox {changes.mailbox_id} given to mailbox {self.mailbox_id}")

    def _take(self, entry: EntryT, *, own: bool) -> None:
        uid = entry.uid
        self.contexts.touch(uid)
        for flag in entry.flags:
            if not flagrules.is_system_flag(flag) and flag_key(flag) not in self._keywords:
                self._keywords[flag_key(flag)] = flag
                self._keyword_news = True
        position = self._live(uid)
        if position is None:
            waiting = self._new.get(uid)
            if waiting is not None:
                if entry.modseq > waiting.modseq:
                    self._new[uid] = entry  # still unannounced: its flags come with the client's FETCH
            elif uid > self._max_uid:
                # RFC 9051 §2.3.1.2: a new message gets the number after the last: append, never insert.
                self._new[uid] = entry
                self._max_uid = uid
            return  # else: an echo of a message this session has already seen expunged
        if uid in self._gone:
            return
        changed = self._over.get(uid)  # None here: unchanged since SELECT (removed ones are not live)
        known = changed.modseq if changed is not None else self._view.modseqs[position]
        if entry.modseq > known or (own and entry.modseq == known):
            if entry.modseq > known:
                self._over[uid] = entry  # the feed's record, shared with the other sessions
            if own:
                self._flag_news.discard(uid)  # the handler's own FETCH reports this state
            else:
                self._flag_news.add(uid)  # RFC 9051 §5.2: flag updates SHOULD be sent unasked
        # An own result older than a change already absorbed: that newer change stays pending.

    # --- telling the client ----------------------------------------------------------------------

    @property
    def keywords(self) -> tuple[str, ...]:
        """Every keyword the session has seen in the mailbox (what FLAGS lists)."""
        return tuple(self._keywords.values())

    @property
    def known_keywords(self) -> Mapping[str, str]:
        """The same by comparison key (``flags.listed_keywords``): a hint for STORE and APPEND."""
        return self._keywords

    def take_keyword_news(self) -> bool:
        """True once after a change brought a keyword the client's FLAGS does not list yet: the
        caller sends FLAGS (and PERMANENTFLAGS) again before any FETCH showing it."""
        news, self._keyword_news = self._keyword_news, False
        return news

    def updates(self, *, allow_expunge: bool, include_uid: bool, flags: bool = True) -> list[Response]:
        """Untagged responses that bring the client up to date, in the order to send them.

        ``allow_expunge`` is False during FETCH, STORE and SEARCH (RFC 9051 §7.5.1, §5.5; the UID
        forms allow it); held-back expunges then wait for a later call. ``include_uid``: the command
        is a UID command, whose FETCH responses carry UID (RFC 9051 §6.4.9). ``flags`` False: flag
        changes wait for a later call (a NOTIFY push without FlagChange, RFC 5465 §5.1).
        """
        out: list[Response] = []
        # With QRESYNC enabled these go out as one VANISHED (RFC 7162 §3.2.10.2, ``_drop``).
        if allow_expunge and self._gone:
            gone = list(self._gone)
            self._gone.clear()
            out.extend(self._drop(gone))
        if self._new:
            self._announce()
            # RFC 9051 §5.2: size changes MUST be sent; the count includes held-back expunges, so
            # an EXISTS never lowers the client's count (only EXPUNGE may).
            out.append(Exists(self.exists))
            if self.rev1:
                out.append(Recent(self.recent_count))  # RFC 3501 §7.3.2: with the size change
        if self._flag_news and flags:
            for uid in sorted(self._flag_news):  # UID order is sequence order
                out.append(self._flags_fetch(uid, include_uid))
            self._flag_news.clear()
        return out

    def _flags_fetch(self, uid: int, include_uid: bool) -> Fetch:
        seq = self.seq_of(uid)
        if seq is None:  # pragma: no cover - _flag_news holds numbered messages only
            raise KeyError(uid)
        items: list[tuple[str, FetchValue]] = [("FLAGS", self.client_flags(uid))]
        if self.uidonly:
            # RFC 9586 §3.3: UIDFETCH names the message by its UID (no UID item needed); MODSEQ as
            # RFC 7162 §3.2.4 asks once CONDSTORE is on.
            if self.condstore:
                items.append(("MODSEQ", self.modseq_item(uid)))
            return Fetch(uid, tuple(items), uidfetch=True)
        if self.condstore:
            # RFC 7162 §3.2.4: once CONDSTORE is enabled, every untagged FETCH carries UID and MODSEQ.
            return Fetch(seq, (("UID", uid), *items, ("MODSEQ", self.modseq_item(uid))))
        if include_uid:
            items.insert(0, ("UID", uid))  # RFC 9051 §6.4.9: UID in every FETCH of a UID command
        return Fetch(seq, tuple(items))

    def modseq_item(self, uid: int) -> Raw:
        """RFC 7162 §3.1.4.2 the FETCH value ``(permsg-modsequence)`` of a numbered message."""
        return Raw(b"(%d)" % self.modseq_of(uid))

    def _announce(self) -> None:
        (first, end), self._news_recent = self._news_recent, _ALL_RECENT
        for uid, entry in self._new.items():
            self._tail.append(uid)
            self._over[uid] = entry
            if first <= uid < end:
                self._recent.add(uid)  # RFC 3501 §2.3.2: this session is told first: \Recent here
            self._added[uid] = entry
        self._new.clear()
        self._uids_built = None

    def _drop(self, uids: Iterable[int]) -> list[Response]:
        """Remove messages from the numbering and return their EXPUNGE responses (one VANISHED
        with QRESYNC enabled, RFC 7162 §3.2.10.2)."""
        positions = sorted({p for p in map(self._live, uids) if p is not None})
        if not positions:
            return []
        # RFC 9586 §3: with UIDONLY enabled too, expunges are told by VANISHED only.
        told_by_uid = self.qresync or self.uidonly
        vanished = Vanished(SequenceSet.of(*map(self._uid, positions))) if told_by_uid else None
        # RFC 5267 §4.3.4: REMOVEFROM before the EXPUNGE, while the numbers are valid.
        told: list[Response] = [*self.contexts.dropping(map(self._uid, positions), self.seq_of)]
        removed = self._removed
        merged: array[int] = array("q")
        done = 0  # removed[:done] are in merged
        # RFC 9051 §7.5.1: each EXPUNGE at once lowers the numbers after it, so ascending numbers are
        # each reduced by the count already sent (3, 4, 7, 11 go out as 3, 3, 5, 8: §6.4.3).
        out: list[Expunge] = []
        for sent, position in enumerate(positions):
            below = bisect_left(removed, position, done)
            merged.extend(removed[done:below])
            merged.append(position)
            done = below
            out.append(Expunge(position - below + 1 - sent))
            uid = self._uid(position)
            self._gone.discard(uid)
            self._recent.discard(uid)
            self._flag_news.discard(uid)
            self._saved.discard(uid)
            self._over[uid] = None  # its flags are no longer needed; lookups answer at once
        merged.extend(removed[done:])
        self._removed = merged
        self._uids_built = None
        return [*told, vanished] if vanished is not None else [*told, *out]

    # --- positions -------------------------------------------------------------------------------

    def _uid(self, position: int) -> int:
        n = self._base_count
        return self._base[position] if position < n else self._tail[position - n]

    def _bisect(self, uid: int, right: bool) -> int:
        """The position where ``uid`` would go among base and tail (after equal ones if ``right``)."""
        find = bisect_right if right else bisect_left
        if uid > self._base_last:  # every tail UID is above every base UID
            return self._base_count + find(self._tail, uid)
        return find(self._base, uid)

    def _live(self, uid: int) -> int | None:
        """The position of a message in the numbering (not removed), None for any other UID."""
        if self._over.get(uid, 0) is None:
            return None  # removed
        if uid > self._base_last:  # every tail UID is above every base UID
            tail = self._tail
            index = bisect_left(tail, uid)
            return self._base_count + index if index < len(tail) and tail[index] == uid else None
        position = bisect_left(self._base, uid)
        return position if position < self._base_count and self._base[position] == uid else None

    def _base_position(self, uid: int) -> int:
        """The position of a numbered message not in ``_over`` (so in the view); KeyError for others."""
        position = self._live(uid)
        if position is None:
            raise KeyError(uid)
        return position

    def _at(self, index: int) -> int:
        """The position of message number ``index + 1`` (``index`` below ``exists``)."""
        removed = self._removed
        if not removed or index < removed[0]:
            return index
        low, high = 0, len(removed)
        while low < high:  # count the removed r_i with r_i - i <= index (non-decreasing in i)
            middle = (low + high) // 2
            if removed[middle] - middle <= index:
                low = middle + 1
            else:
                high = middle
        return index + low

    def _segments(self, first: int, stop: int) -> Iterator[tuple[int, int]]:
        """The runs ``[start, end)`` of positions in ``[first, stop)`` that are not removed."""
        removed = self._removed
        start = first
        for position in removed[bisect_left(removed, first) : bisect_left(removed, stop)]:
            if position > start:
                yield start, position
            start = position + 1
        if start < stop:
            yield start, stop

    def _slice(self, first: int, stop: int) -> array[int]:
        """The UIDs at positions ``[first, stop)`` (one C-level slice of base and/or tail)."""
        base, n = self._base, len(self._base)
        if stop <= n:
            return base[first:stop]
        if first >= n:
            return self._tail[first - n : stop - n]
        return base[first:] + self._tail[: stop - n]
