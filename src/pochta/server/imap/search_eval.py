"""Evaluating a SEARCH program (RFC 9051 §6.4.4; RFC 3501 §6.4.4 for NEW, OLD, RECENT) in a session.

- Layer 1, ``run_program(program, facts)``, is pure: each key is evaluated over all messages at once
  as bit masks (bit ``i``: sequence number ``i + 1``), the tree walked with an explicit stack (a
  program nested thousands deep costs no Python stack). Values are three-valued (Kleene): a ``Tri``
  is (matching, unknown), combined so that a known result never depends on an unknown value.
- Layer 2, ``evaluate(store, selected, program, ...)``, fetches only what the program needs, in bulk:
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
- NEW/OLD/RECENT: \\Recent exists in IMAP4rev1 sessions only (RFC 3501 §2.3.2; RFC 9051 Appendix E
  item 12): in IMAP4rev2 nothing is recent (as FETCH FLAGS shows): RECENT, NEW none, OLD all.
- Messages whose expunge is held back (RFC 9051 §7.5.1) keep their numbers and match on what the
  session knows (flags, number, UID; size and internal date if a view has them). Their text and
  headers are gone from the store: content keys are unknown for them, so they are in the result only
  if the program holds whatever those say (ALL, ``OR SEEN BODY x`` when seen; never ``BODY x``).
- Message numbers beyond the count match nothing (a SEARCH key is a criterion; Dovecot answers the
  same), ``$`` is the saved result (RFC 5182 §2.1). Errors come before any I/O.
"""

from __future__ import annotations

import email.utils
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import compress
from typing import Literal, NamedTuple

from pochta.mail.flags import flag_key
from pochta.mime import ParsedMessage
from pochta.mime.search import SEARCH_FIELDS, fold, searchable
from pochta.proto.imap.search import (
    And,
    DateKey,
    FlagKey,
    HeaderKey,
    KeywordKey,
    Not,
    Or,
    SearchKey,
    SequenceKey,
    SizeKey,
    StringKey,
)
from pochta.server.imap.selected import SelectedMailbox
from pochta.store.api import MailStore
from pochta.store.model import MailboxView

# RFC 9051 §6.4.4: "Servers MUST support US-ASCII and UTF-8 charsets".
SUPPORTED_CHARSETS = ("US-ASCII", "UTF-8")
TRIGRAM = 3  # the store's FTS index cannot serve shorter strings (it scans them)
RECORD_CHUNK = 500  # parse records per ``cached`` call
# Fields nearly every message has: a "Name:" prefilter on them would select the whole mailbox.
_COMMON_FIELDS = frozenset({"from", "to", "cc", "subject", "date", "message-id"})
_SYSTEM = {"ANSWERED": "\\Answered", "DELETED": "\\Deleted", "DRAFT": "\\Draft", "FLAGGED": "\\Flagged",
           "SEEN": "\\Seen"}  # fmt: skip

Tri = tuple[int, int]  # (matching, unknown): disjoint bit masks over the session's positions
TextField = Literal["body", "text"]


class SearchError(Exception):
    """A SEARCH the handler refuses: ``bad`` is tagged BAD; else NO with ``code`` ("BADCHARSET",
    whose ``charsets`` are the supported ones, RFC 9051 §6.4.4)."""

    def __init__(
        self, message: str, *, code: str | None = None, bad: bool = False, charsets: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.code, self.bad, self.charsets = code, bad, charsets


# --- bit masks -------------------------------------------------------------------------------------

_BINARY = bytes.maketrans(b"\x00\x01", b"01")
_FROM_BINARY = bytes.maketrans(b"01", b"\x00\x01")


def _bits(flags: bytes) -> int:
    """The mask of one 0/1 byte per position (position 0 is the least significant bit)."""
    return int(flags.translate(_BINARY)[::-1], 2) if flags else 0


def _mask(positions: Iterable[int], count: int) -> int:
    digits = bytearray(b"0" * count)
    for p in positions:
        digits[count - 1 - p] = 0x31
    return int(digits, 2) if count else 0


def _selector(mask: int) -> bytes:
    """One 0/1 byte per position, up to the highest set bit."""
    return bin(mask)[:1:-1].encode().translate(_FROM_BINARY)  # least significant first, no "0b"


def _positions(mask: int) -> list[int]:
    selector = _selector(mask)
    return list(compress(range(len(selector)), selector))


def _day_test(key: DateKey) -> Callable[[int], bool]:
    """RFC 9051 §6.4.4 [SENT]BEFORE/ON/SINCE over ``date.toordinal()`` values (no time, no zone)."""
    ordinal = key.date.toordinal()
    if key.name.endswith("BEFORE"):
        return ordinal.__gt__
    return ordinal.__eq__ if key.name.endswith("ON") else ordinal.__le__


# --- layer 1: the pure evaluator -------------------------------------------------------------------


@dataclass
class Facts:
    """Per-message data of one evaluation as columns over the session's positions (None: not needed).

    ``days``: internal dates' ``date.toordinal()`` in their own zone; ``no_columns``: positions with no
    size and date (0 there); ``found``: results of keys the store answers (BODY TEXT, headers, SENT*).
    """

    count: int
    flags: Sequence[frozenset[str]] | None = None
    recent: int = 0
    sizes: Sequence[int] | None = None
    days: Sequence[int] | None = None
    no_columns: int = 0
    sequences: dict[SequenceKey, int] = field(default_factory=dict)
    found: dict[SearchKey, Tri] = field(default_factory=dict)

    @property
    def full(self) -> int:
        return (1 << self.count) - 1

    def flag_mask(self, flag: str, present: bool = True) -> int:
        if self.flags is None:
            raise ValueError("flags were not loaded")
        key = flag_key(flag)  # RFC 9051 §9 note 1; keywords compare alike (mail/flags.py)
        table = {fs: bytes([any(flag_key(f) == key for f in fs) == present]) for fs in set(self.flags)}
        return _bits(b"".join(map(table.__getitem__, self.flags)))

    def column_mask(self, column: Sequence[int], test: Callable[[int], bool]) -> Tri:
        return _bits(bytes(map(test, column))) & ~self.no_columns, self.no_columns


def leaf_value(key: SearchKey, facts: Facts) -> Tri:
    """One key over every message."""
    match key:
        case FlagKey("ALL"):
            return facts.full, 0
        case FlagKey("RECENT"):
            return facts.recent, 0
        case FlagKey("OLD"):  # RFC 3501 §6.4.4: NOT RECENT
            return facts.full & ~facts.recent, 0
        case FlagKey("NEW"):  # RFC 3501 §6.4.4: RECENT UNSEEN
            return facts.recent & facts.flag_mask("\\Seen", present=False), 0
        case FlagKey(name):
            return facts.flag_mask(_SYSTEM[name.removeprefix("UN")], present=not name.startswith("UN")), 0
        case KeywordKey(name, keyword):
            return facts.flag_mask(keyword, present=name == "KEYWORD"), 0
        case SizeKey(name, size) if facts.sizes is not None:
            # RFC 9051 §6.4.4 LARGER/SMALLER: RFC822.SIZE strictly above/below n.
            return facts.column_mask(facts.sizes, size.__lt__ if name == "LARGER" else size.__gt__)
        case DateKey(name) if not name.startswith("SENT") and facts.days is not None:
            return facts.column_mask(facts.days, _day_test(key))
        case SequenceKey() if key in facts.sequences:
            return facts.sequences[key], 0
    if key in facts.found:
        return facts.found[key]
    raise ValueError(f"no data for search key {key!r}")


def run_program(
    program: SearchKey, facts: Facts, leaf: Callable[[SearchKey, Facts], Tri] = leaf_value
) -> Tri:
    """The program's (matching, unknown) masks, walked post-order with an explicit stack."""
    full = facts.full
    todo: list[tuple[SearchKey, bool]] = [(program, False)]
    values: list[Tri] = []
    memo: dict[SearchKey, Tri] = {}  # a repeated leaf is evaluated once
    while todo:
        node, expanded = todo.pop()
        if isinstance(node, And | Or | Not) and not expanded:
            todo.append((node, True))
            todo.extend((child, False) for child in _children(node))
        elif isinstance(node, Not):
            yes, unknown = values.pop()
            values.append((full & ~(yes | unknown), unknown))
        elif isinstance(node, And | Or):
            conjunction = isinstance(node, And)
            yes = maybe = full if conjunction else 0
            for _ in _children(node):
                y, u = values.pop()
                yes, maybe = (yes & y, maybe & (y | u)) if conjunction else (yes | y, maybe | y | u)
            values.append((yes, maybe & ~yes))
        else:
            value = memo.get(node)
            if value is None:
                value = memo[node] = leaf(node, facts)
            values.append(value)
    return values[0]


def _children(node: And | Or | Not) -> tuple[SearchKey, ...]:
    if isinstance(node, And):
        return node.keys
    return (node.left, node.right) if isinstance(node, Or) else (node.key,)


def _leaves(program: SearchKey) -> list[SearchKey]:
    """The distinct leaf keys, iteratively."""
    todo, found = [program], dict[SearchKey, None]()
    while todo:
        key = todo.pop()
        if isinstance(key, And | Or | Not):
            todo.extend(_children(key))
        else:
            found[key] = None
    return list(found)


# --- strings ---------------------------------------------------------------------------------------


def _fold_safe(ch: str) -> bool:
    o = ord(ch)
    if o < 0x80 or (o != 0x307 and ch.lower() == ch == ch.upper()):  # ASCII, caseless (not the dot of İ)
        return True
    # Latin-1 and Latin Extended-A/B, Greek, basic Cyrillic; not İ ı ſ ς (special case rules).
    return (0xC0 <= o <= 0x24F and o not in (0x130, 0x131, 0x17F)) or (
        (0x391 <= o <= 0x3CE and o != 0x3C2) or 0x400 <= o <= 0x45F
    )


def prefilterable(query: str) -> bool:
    """Whether ``search_text(query, "text")`` finds every message whose header text contains ``query``
    as ``fold`` compares: 3+ characters (trigram) whose folding FTS5's Unicode tables share with
    Python's (checked for every code point against SQLite 3.40; newer tables only fold more)."""
    return len(query) >= TRIGRAM and all(map(_fold_safe, query))


def decode_strings(program: And, charset: str | None) -> dict[bytes, str]:
    """Check CHARSET and decode every string of the program (RFC 9051 §6.4.4)."""
    name = (charset or "UTF-8").upper()  # RFC 9051 §6.4.4: without CHARSET, UTF-8
    if name not in SUPPORTED_CHARSETS:
        # RFC 9051 §6.4.4: NO (not BAD), SHOULD carry BADCHARSET, MAY list the supported ones.
        supported = " ".join(SUPPORTED_CHARSETS)
        raise SearchError(f"Supported charsets: {supported}", code="BADCHARSET", charsets=SUPPORTED_CHARSETS)
    out: dict[bytes, str] = {}
    for key in _leaves(program):
        raws = (key.field, key.value) if isinstance(key, HeaderKey) else ()
        for raw in (key.value,) if isinstance(key, StringKey) else raws:
            try:
                out[raw] = raw.decode("ascii" if name == "US-ASCII" else "utf-8")
            except UnicodeDecodeError:
                raise SearchError(f"Search string is not valid {name}", bad=True) from None
    return out


# --- one parse record ------------------------------------------------------------------------------


def sent_day(parsed: ParsedMessage) -> int | None:
    """The Date: field's calendar date as written, in its own zone (RFC 5322 §3.3), as an ordinal;
    None when there is none or it does not parse."""
    values = parsed.header_values("date")
    if parsed.date is None or not values:
        return None
    try:
        found = email.utils.parsedate_tz(values[0])
        return date(found[0], found[1], found[2]).toordinal() if found else None
    except Exception:  # the stdlib date parser has raised on odd input in some versions
        return None


def header_match(field_name: str, query: str, parsed: ParsedMessage) -> bool:
    """``query`` (folded) in a decoded value of a ``field_name`` field; "" if there is one (RFC 9051
    §6.4.4 HEADER: "the empty string is a substring")."""
    values = parsed.header_values(field_name)
    return any(query in searchable(field_name, value) for value in values) if query else bool(values)


# --- layer 2: fetching what the program needs ------------------------------------------------------


async def evaluate(
    store: MailStore,
    selected: SelectedMailbox,
    program: And,
    *,
    charset: str | None = None,
    view: MailboxView | None = None,
) -> list[int]:
    """UIDs (ascending) of the session's messages that match ``program``.

    ``view``: any view of the mailbox the caller holds (a UID's size and internal date never change);
    without it, or for messages it lacks, one is opened when a size or date key needs it. Raises
    SearchError (charset, string bytes) and InvalidSequenceNumber before any store call.
    """
    strings = decode_strings(program, charset)
    return await _Evaluation(store, selected, view).run(program, strings)


class _RecordKey(NamedTuple):
    key: SearchKey
    field: str  # header field name, lower-case ("date" for SENT*)
    query: str  # folded
    candidates: int | None  # prefilter mask; None: every message
    known: int = 0  # positions the store already found matching (``search_header``)


class _Evaluation:
    def __init__(self, store: MailStore, selected: SelectedMailbox, view: MailboxView | None) -> None:
        self.store, self.selected, self.view = store, selected, view
        self.uids = selected.uids
        self.facts = Facts(count=len(self.uids))
        self.gone = 0  # held-back expunges (RFC 9051 §7.5.1): their content is unknown
        self.searched: dict[tuple[str, TextField], int] = {}
        self._where: MailboxView | list[tuple[MailboxView, int] | None] | None = None
        self._days: list[int] | None = None

    async def run(self, program: And, strings: dict[bytes, str]) -> list[int]:
        selected, uids, facts = self.selected, self.uids, self.facts
        leaves = _leaves(program)
        kinds = {k.name if isinstance(k, FlagKey | DateKey) else type(k).__name__ for k in leaves}
        for key in leaves:
            if isinstance(key, SequenceKey):
                facts.sequences[key] = self.sequence_mask(key)
        if kinds & {*_SYSTEM, *(f"UN{f}" for f in _SYSTEM), "NEW", "KeywordKey"}:
            facts.flags = list(map(selected.flags_of, uids))
        if selected.rev1 and kinds & {"NEW", "OLD", "RECENT"}:
            facts.recent = _bits(bytes(map(selected.is_recent, uids)))
        if "SizeKey" in kinds:
            facts.sizes = await self.sizes()
        if kinds & {"BEFORE", "ON", "SINCE"}:
            facts.days = await self.days()
        sent = {k for k in leaves if isinstance(k, DateKey) and k.name.startswith("SENT")}
        content = [k for k in leaves if isinstance(k, StringKey | HeaderKey) or k in sent]
        if content:
            self.gone = _bits(bytes(map(selected.is_expunged, uids)))
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
        return list(compress(uids, _selector(run_program(program, facts)[0])))

    async def text_mask(self, query: str, where: TextField) -> int:
        if (query, where) not in self.searched:
            found = await self.store.search_text(self.selected.mailbox_id, query, where)
            self.searched[query, where] = self.mask(self.seq_positions(found)) & ~self.gone
        return self.searched[query, where]

    def mask(self, positions: Iterable[int]) -> int:
        return _mask(positions, self.facts.count)

    def seq_positions(self, uids: Iterable[int]) -> Iterator[int]:
        return (seq - 1 for seq in map(self.selected.seq_of, uids) if seq is not None)

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

    async def match_records(self, records: list[_RecordKey], needed: int) -> None:
        """Evaluate header keys and SENT* exactly for the ``needed`` positions, a chunk at a time."""
        uids = self.uids
        wanted = _positions(needed)
        position = {uids[p]: p for p in wanted}
        allowed = [None if r.candidates is None else set(_positions(r.candidates & needed)) for r in records]
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
                        elif _day_test(record.key)(day):
                            hits[n].append(p)
                    elif header_match(record.field, record.query, parsed):
                        hits[n].append(p)
        unknown = self.gone | self.mask(missing)
        for n, record in enumerate(records):
            undecided = unknown
            if undated[n] and isinstance(record.key, DateKey):
                days, test = await self.days(), _day_test(record.key)
                no_date = set(_positions(self.facts.no_columns)) & set(undated[n])  # held back, in no view
                hits[n] += (p for p in undated[n] if p not in no_date and test(days[p]))
                undecided |= self.mask(no_date)
            self.facts.found[record.key] = (self.mask(hits[n]) | record.known) & ~undecided, undecided
