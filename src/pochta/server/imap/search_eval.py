"""Evaluating a SEARCH program (RFC 9051 §6.4.4; RFC 3501 §6.4.4 for NEW, OLD, RECENT) in a session.

- Layer 1, ``run_program(program, facts)``, is pure and lives in ``pochta.proto.imap.search_program``
  (bit masks over all messages at once, three-valued).
- Layer 2, here, ``evaluate(store, selected, program, ...)``, fetches only what the program needs, in bulk:
  flags, \\Recent, numbers, UIDs from the session; sizes and internal dates from a ``MailboxView``
  (no store call when the caller passes one); BODY/TEXT as one ``search_text`` per distinct string.
  Header keys on a field the store keeps at delivery (``pochta.mime.search.SEARCH_FIELDS``: FROM TO
  CC BCC SUBJECT, HEADER on those and a few more) are one ``search_header`` query each; messages it
  cannot decide (stored before those values were kept, until the indexer fills them) go the record
  way below. HEADER on other fields and SENT* need parse records: a first pass runs the
  program with them unknown, and records are read (``RECORD_CHUNK`` at a time, awaiting between) only
  for messages still undecided, narrowed by a ``search_text(s, "text")`` prefilter where that is
  exact-or-superset: the "text" field holds the decoded header lines ("Name: value") the match reads,
  and the string has 3+ characters (trigrams) that FTS5 folds as we do (``prefilterable``). A 1-2
  character header string or a SENT* key reads the records of every undecided message (a scan).

Decisions:

- Strings ("contain the specified string", RFC 9051 §6.4.4): case-insensitive substring of the RFC
  2047-decoded value of any field of that name. FROM/TO/CC/BCC match the decoded field as written
  (display names, addr-specs, comments) and each address in its canonical form (``mime.search.
  searchable``: ``<a (c)@ b.org>`` is found as ``a@b.org``); BCC is rarely in delivered mail. ""
  matches the messages that have the field, for every header key as for HEADER; BODY/TEXT "" match
  all. TEXT is the store's "text" field: top-level header and body text (MIME part headers are not
  indexed).
- BEFORE/ON/SINCE take the internal date's calendar date in the zone it was stored with, SENT* the
  Date: field's date as written ("disregarding time and timezone", RFC 9051 §6.4.4; as Dovecot).
  Without a parsable Date:, SENT* use the internal date (RFC 5256 §2.2 for SORT; RFC 9051 is silent).
- OLDER/YOUNGER (RFC 5032, WITHIN) compare the internal date to the second with the server's clock
  when the SEARCH runs (``Facts.now``): the evaluator itself reads no clock.
- NEW/OLD/RECENT: \\Recent exists in IMAP4rev1 sessions only (RFC 3501 §2.3.2; RFC 9051 Appendix E
  item 12): in IMAP4rev2 nothing is recent (as FETCH FLAGS shows): RECENT, NEW none, OLD all.
- Messages whose expunge is held back (RFC 9051 §7.5.1) keep their numbers and match on what the
  session knows (flags, number, UID; size and internal date if a view has them). Their text and
  headers are gone from the store: content keys are unknown for them, so they are in the result only
  if the program holds whatever those say (ALL, ``OR SEEN BODY x`` when seen; never ``BODY x``).
- EMAILID/THREADID (RFC 8474 §6) and SAVEDBEFORE/SAVEDON/SAVEDSINCE (RFC 8514 §4.3) come from one
  read of the mailbox's object rows (``store.message_objects``; THREADID has pending messages
  threaded first); SAVED* compare the save date's UTC calendar date; SAVEDATESUPPORTED is every
  message (every mailbox keeps save dates; older rows answer their internal date, docs/imap.md).
- Message numbers beyond the count match nothing (a SEARCH key is a criterion; Dovecot answers the
  same), ``$`` is the saved result (RFC 5182 §2.1). Errors come before any I/O.
"""

from __future__ import annotations

import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import compress
from typing import Literal, NamedTuple

from pochta.mime import ParsedMessage
from pochta.mime.search import SEARCH_FIELDS, fold
from pochta.proto.imap import objectid
from pochta.proto.imap.search import (
    And,
    DateKey,
    FlagKey,
    HeaderKey,
    ObjectKey,
    SearchKey,
    SequenceKey,
    StringKey,
)
from pochta.proto.imap.search_program import (
    SYSTEM_KEYS,
    Facts,
    SearchError,
    day_test,
    decode_strings,
    header_match,
    leaf_keys,
    mask_from_bits,
    mask_of,
    mask_positions,
    mask_selector,
    prefilterable,
    run_program,
    sent_day,
)
from pochta.proto.imap.selected import SelectedMailbox
from pochta.store.api import MailStore
from pochta.store.model import MailboxView, MessageEntry

__all__ = ["SearchError", "evaluate"]

RECORD_CHUNK = 500  # parse records per ``cached`` call
# Fields nearly every message has: a "Name:" prefilter on them would select the whole mailbox.
_COMMON_FIELDS = frozenset({"from", "to", "cc", "subject", "date", "message-id"})
TextField = Literal["body", "text"]

# --- layer 2: fetching what the program needs ------------------------------------------------------


async def evaluate(
    store: MailStore,
    selected: SelectedMailbox[MessageEntry],
    program: And,
    *,
    charset: str | None = None,
    view: MailboxView | None = None,
    only: Sequence[int] | None = None,
) -> list[int]:
    """UIDs (ascending) of the session's messages that match ``program``.

    ``only``: evaluate on these numbered messages alone (ascending UIDs, none held back), as the
    UPDATE contexts of RFC 5267 §4.3 do for the messages whose state changed. Message-number keys
    and a UID range's "*" then see only them: such programs are re-run whole (``server.imap.context``).

    ``view``: any view of the mailbox the caller holds (a UID's size and internal date never change);
    without it, or for messages it lacks, one is opened when a size or date key needs it. Raises
    SearchError (charset, string bytes) and InvalidSequenceNumber before any store call.
    """
    strings = decode_strings(program, charset)
    return await _Evaluation(store, selected, view, only).run(program, strings)


class _RecordKey(NamedTuple):
    key: SearchKey
    field: str  # header field name, lower-case ("date" for SENT*)
    query: str  # folded
    candidates: int | None  # prefilter mask; None: every message
    known: int = 0  # positions the store already found matching (``search_header``)


class _Evaluation:
    def __init__(
        self,
        store: MailStore,
        selected: SelectedMailbox[MessageEntry],
        view: MailboxView | None,
        only: Sequence[int] | None = None,
    ) -> None:
        self.store, self.selected, self.view = store, selected, view
        self.uids = selected.uids if only is None else array("q", only)
        # A subset: a UID's position is its index among ``only``, not its message number - 1.
        self.index = None if only is None else {uid: i for i, uid in enumerate(only)}
        self.facts = Facts(count=len(self.uids))
        self.gone = 0  # held-back expunges (RFC 9051 §7.5.1): their content is unknown
        self.searched: dict[tuple[str, TextField], int] = {}
        self._where: MailboxView | list[tuple[MailboxView, int] | None] | None = None
        self._days: list[int] | None = None

    async def run(self, program: And, strings: dict[bytes, str]) -> list[int]:
        selected, uids, facts = self.selected, self.uids, self.facts
        leaves = leaf_keys(program)
        kinds = {k.name if isinstance(k, FlagKey | DateKey) else type(k).__name__ for k in leaves}
        for key in leaves:
            if isinstance(key, SequenceKey):
                facts.sequences[key] = self.sequence_mask(key)
        if kinds & {*SYSTEM_KEYS, *(f"UN{f}" for f in SYSTEM_KEYS), "NEW", "KeywordKey"}:
            facts.flags = list(map(selected.flags_of, uids))
        if selected.rev1 and kinds & {"NEW", "OLD", "RECENT"}:
            facts.recent = mask_from_bits(bytes(map(selected.is_recent, uids)))
        if "ModSeqKey" in kinds:
            facts.modseqs = list(map(selected.modseq_of, uids))  # RFC 7162 §3.1.5, as the session knows
        if "SizeKey" in kinds:
            facts.sizes = await self.sizes()
        if kinds & {"BEFORE", "ON", "SINCE"}:
            facts.days = await self.days()
        if "IntervalKey" in kinds:  # RFC 5032: OLDER, YOUNGER against the server's clock now
            facts.times, facts.now = await self.times(), int(time.time())
        sent = {k for k in leaves if isinstance(k, DateKey) and k.name.startswith("SENT")}
        content = [k for k in leaves if isinstance(k, StringKey | HeaderKey) or k in sent]
        objects = [
            k
            for k in leaves
            if isinstance(k, ObjectKey) or (isinstance(k, DateKey) and k.name.startswith("SAVED"))
        ]
        if content or objects:
            self.gone = mask_from_bits(bytes(map(selected.is_expunged, uids)))
        if objects:
            await self.object_keys(objects)
        records: list[_RecordKey] = []
        for key in content:
            if isinstance(key, DateKey):
                records.append(_RecordKey(key, "date", "", None))
                facts.found[key] = 0, facts.full
            elif isinstance(key, StringKey) and key.name in ("BODY", "TEXT"):
                # RFC 9051 §6.4.4: TEXT is header and body, BODY the body only; "" is in every text.
                where: TextField = "body" if key.name == "BODY" else "text"
                query = strings[key.value]
                facts.found[key] = (
                    (await self.text_mask(query, where), self.gone) if query else (facts.full, 0)
                )
            else:
                name = strings[key.field] if isinstance(key, HeaderKey) else key.name
                query = strings[key.value]
                if name.lower() in SEARCH_FIELDS:
                    # Kept at delivery: one query; records only for messages stored before that.
                    found, unknown = await self.store.search_header(self.selected.mailbox_id, name, query)
                    known = self.mask(self.seq_positions(found)) & ~self.gone
                    undecided = self.mask(self.seq_positions(unknown)) & ~self.gone
                    facts.found[key] = known, undecided | self.gone
                    if undecided:
                        records.append(_RecordKey(key, name.lower(), fold(query), undecided, known))
                    continue
                candidates = None
                if prefilterable(query):
                    candidates = await self.text_mask(query, "text")
                elif name.lower() not in _COMMON_FIELDS and prefilterable(name + ":"):
                    candidates = await self.text_mask(name + ":", "text")  # header lines: "Name: value"
                records.append(_RecordKey(key, name.lower(), fold(query), candidates))
                facts.found[key] = 0, (facts.full if candidates is None else candidates) | self.gone
        if records:
            # A first pass with the header keys unknown: only undecided messages need their records.
            await self.match_records(records, run_program(program, facts)[1] & ~self.gone)
        return list(compress(uids, mask_selector(run_program(program, facts)[0])))

    async def object_keys(self, keys: Sequence[DateKey | ObjectKey]) -> None:
        """RFC 8474 §6 EMAILID/THREADID and RFC 8514 §4.3 SAVED*, from one read of the mailbox's
        object rows (``store.message_objects``). Held-back expunges are unknown, as for content."""
        store, mailbox_id = self.store, self.selected.mailbox_id
        rows = await store.message_objects(mailbox_id, None)
        if any(isinstance(k, ObjectKey) and k.name == "THREADID" for k in keys) and any(
            row.thread_id is None for row in rows
        ):
            await store.thread_now(mailbox_id)  # RFC 8474 §5.2: every message has its thread
            rows = await store.message_objects(mailbox_id, None)
        placed = [(p, row) for row in rows if (p := self.position_of(row.uid)) is not None]
        days: list[tuple[int, int]] | None = None
        for key in keys:
            if isinstance(key, ObjectKey):
                prefix = objectid.EMAIL if key.name == "EMAILID" else objectid.THREAD
                wanted = objectid.parse_objectid(prefix, key.value)  # None: none of ours, no match
                hits = [
                    p
                    for p, row in placed
                    if wanted is not None
                    and (row.message_id if prefix == objectid.EMAIL else row.thread_id) == wanted
                ]
            else:
                assert isinstance(key, DateKey)
                if days is None:
                    # RFC 8514 §4.3: the save date "disregarding time and timezone" (kept in UTC).
                    days = [(p, datetime.fromtimestamp(row.save_date, UTC).toordinal()) for p, row in placed]
                test = day_test(key)
                hits = [p for p, day in days if test(day)]
            self.facts.found[key] = self.mask(hits) & ~self.gone, self.gone

    async def text_mask(self, query: str, where: TextField) -> int:
        if (query, where) not in self.searched:
            found = await self.store.search_text(self.selected.mailbox_id, query, where)
            self.searched[query, where] = self.mask(self.seq_positions(found)) & ~self.gone
        return self.searched[query, where]

    def mask(self, positions: Iterable[int]) -> int:
        return mask_of(positions, self.facts.count)

    def seq_positions(self, uids: Iterable[int]) -> Iterator[int]:
        if self.index is not None:
            index = self.index
            return (index[uid] for uid in uids if uid in index)
        return (seq - 1 for seq in map(self.selected.seq_of, uids) if seq is not None)

    def position_of(self, uid: int) -> int | None:
        if self.index is not None:
            return self.index.get(uid)
        seq = self.selected.seq_of(uid)
        return None if seq is None else seq - 1

    def sequence_mask(self, key: SequenceKey) -> int:
        uids, mask = self.uids, 0
        if key.set.saved:  # RFC 5182 §2.1: "$" holds UIDs, in both forms
            return self.mask(self.seq_positions(self.selected.resolve(key.set, uid=key.uid)))
        if key.uid:
            # RFC 9051 §6.4.4 UID: "*" is the highest UID (§9 seq-number); absent UIDs are ignored.
            for first, last in key.set.resolve(uids[-1]) if uids else ():
                low, high = bisect_left(uids, first), bisect_right(uids, last)
                mask |= ((1 << (high - low)) - 1) << low
            return mask
        # A sequence set in SEARCH is a criterion, not a reference to messages: numbers past the
        # count (and "*" in an empty mailbox) match nothing, as Dovecot answers and imaptest
        # expects, rather than the BAD that RFC 9051 §9 seq-number asks of commands acting on them.
        count = len(uids)
        for low, high in key.set.resolve(count):
            first, last = max(low, 1), min(high, count)  # "*" is 0 in an empty mailbox
            if first <= last:
                mask |= ((1 << (last - first + 1)) - 1) << (first - 1)
        return mask

    async def where(self) -> MailboxView | list[tuple[MailboxView, int] | None]:
        """Where each position's size and internal date are: a view holding exactly the session's
        messages (the usual case), else per position the caller's view or, for messages it lacks (or
        without one), a view opened once. Those in no view (held back) are ``no_columns``."""
        if self._where is None:
            uids = self.uids
            index: list[tuple[MailboxView, int] | None] = [None] * len(uids)
            todo = list(range(len(uids)))
            for view in (self.view, None) if self.view is not None else (None,):
                if todo:
                    view = view if view is not None else await self.store.open_view(self.selected.mailbox_id)
                    if view.uids == uids:  # one comparison in C, no searches
                        self._where = view
                        return view
                    found = [(p, view.position(uids[p])) for p in todo]
                    todo = [p for p, i in found if i is None]
                    for p, i in found:
                        index[p] = None if i is None else (view, i)
            self.facts.no_columns = self.mask(todo)
            self._where = index
        return self._where

    async def sizes(self) -> Sequence[int]:
        where = await self.where()
        return (
            where.sizes
            if isinstance(where, MailboxView)
            else [0 if w is None else w[0].sizes[w[1]] for w in where]
        )

    async def days(self) -> list[int]:
        if self._days is None:
            where = await self.where()
            if isinstance(where, MailboxView):
                self._days = [where.internal_date(i).toordinal() for i in range(len(where))]
            else:
                self._days = [0 if w is None else w[0].internal_date(w[1]).toordinal() for w in where]
        return self._days

    async def times(self) -> list[int]:
        where = await self.where()
        if isinstance(where, MailboxView):
            return [where.internal_epoch(i) for i in range(len(where))]
        return [0 if w is None else w[0].internal_epoch(w[1]) for w in where]

    async def match_records(self, records: list[_RecordKey], needed: int) -> None:
        """Evaluate header keys and SENT* exactly for the ``needed`` positions, a chunk at a time."""
        uids = self.uids
        wanted = mask_positions(needed)
        position = {uids[p]: p for p in wanted}
        allowed = [
            None if r.candidates is None else set(mask_positions(r.candidates & needed)) for r in records
        ]
        hits: list[list[int]] = [[] for _ in records]
        undated: list[list[int]] = [[] for _ in records]  # SENT* of messages without a usable Date:
        missing = set(wanted)
        dated = any(isinstance(r.key, DateKey) for r in records)
        for start in range(0, len(wanted), RECORD_CHUNK):
            chunk = [uids[p] for p in wanted[start : start + RECORD_CHUNK]]
            for cached in await self.store.cached(self.selected.mailbox_id, chunk):
                p = position.get(cached.uid, -1)
                try:
                    parsed = ParsedMessage.from_json(cached.parsed_json)
                except ValueError:
                    continue  # a damaged cache (reconstruct repairs it): unknown
                missing.discard(p)
                day = sent_day(parsed) if dated else None
                for n, record in enumerate(records):
                    only = allowed[n]
                    if p < 0 or (only is not None and p not in only):
                        continue
                    if isinstance(record.key, DateKey):
                        if day is None:
                            undated[n].append(p)  # RFC 5256 §2.2 fallback: the internal date
                        elif day_test(record.key)(day):
                            hits[n].append(p)
                    elif header_match(record.field, record.query, parsed):
                        hits[n].append(p)
        unknown = self.gone | self.mask(missing)
        for n, record in enumerate(records):
            undecided = unknown
            if undated[n] and isinstance(record.key, DateKey):
                days, test = await self.days(), day_test(record.key)
                no_date = set(mask_positions(self.facts.no_columns)) & set(
                    undated[n]
                )  # held back, in no view
                hits[n] += (p for p in undated[n] if p not in no_date and test(days[p]))
                undecided |= self.mask(no_date)
            self.facts.found[record.key] = (self.mask(hits[n]) | record.known) & ~undecided, undecided
