"""A parsed SEARCH program (RFC 9051 §6.4.4; RFC 3501 §6.4.4 for NEW, OLD, RECENT) evaluated over
facts about a session's messages. Pure: no I/O; ``pochta.server.imap.search_eval`` fetches the
facts a program needs from the session and the store (and says what is decided how).

``run_program(program, facts)`` evaluates each key over all messages at once as bit masks (bit
``i``: sequence number ``i + 1``), the tree walked with an explicit stack (a program nested thousands
deep costs no Python stack). Values are three-valued (Kleene): a ``Tri`` is (matching, unknown),
combined so that a known result never depends on an unknown value. Also here: the strings of a
program decoded in its charset (``decode_strings``), whether a string can narrow a header match
through the full-text index (``prefilterable``), and a header or SENT* key on one parse record.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import compress

from pochta.mail.flags import flag_key
from pochta.mime import ParsedMessage
from pochta.mime.search import searchable
from pochta.proto.imap.search import (
    And,
    DateKey,
    FlagKey,
    HeaderKey,
    IntervalKey,
    KeywordKey,
    ModSeqKey,
    Not,
    Or,
    SearchKey,
    SequenceKey,
    SizeKey,
    StringKey,
)

# RFC 9051 §6.4.4: "Servers MUST support US-ASCII and UTF-8 charsets".
SUPPORTED_CHARSETS = ("US-ASCII", "UTF-8")
TRIGRAM = 3  # the store's FTS index cannot serve shorter strings (it scans them)
SYSTEM_KEYS = {"ANSWERED": "\\Answered", "DELETED": "\\Deleted", "DRAFT": "\\Draft", "FLAGGED": "\\Flagged",
           "SEEN": "\\Seen"}  # fmt: skip

INTERNAL_DATE_KEYS = frozenset({"BEFORE", "ON", "SINCE"})  # SENT*: the Date: field; SAVED*: RFC 8514
Tri = tuple[int, int]  # (matching, unknown): disjoint bit masks over the session's positions


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


def mask_from_bits(flags: bytes) -> int:
    """The mask of one 0/1 byte per position (position 0 is the least significant bit)."""
    return int(flags.translate(_BINARY)[::-1], 2) if flags else 0


def mask_of(positions: Iterable[int], count: int) -> int:
    digits = bytearray(b"0" * count)
    for p in positions:
        digits[count - 1 - p] = 0x31
    return int(digits, 2) if count else 0


def mask_selector(mask: int) -> bytes:
    """One 0/1 byte per position, up to the highest set bit."""
    return bin(mask)[:1:-1].encode().translate(_FROM_BINARY)  # least significant first, no "0b"


def mask_positions(mask: int) -> list[int]:
    selector = mask_selector(mask)
    return list(compress(range(len(selector)), selector))


def day_test(key: DateKey) -> Callable[[int], bool]:
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
    modseqs: Sequence[int] | None = None  # RFC 7162 §3.1.5: each message's mod-sequence
    no_columns: int = 0
    times: Sequence[int] | None = None  # internal dates in epoch seconds (OLDER, YOUNGER)
    now: int = 0  # the server's current time for OLDER/YOUNGER, epoch seconds
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
        return mask_from_bits(b"".join(map(table.__getitem__, self.flags)))

    def column_mask(self, column: Sequence[int], test: Callable[[int], bool]) -> Tri:
        return mask_from_bits(bytes(map(test, column))) & ~self.no_columns, self.no_columns


def leaf_value(key: SearchKey, facts: Facts) -> Tri:
    """One key over every message."""
    match key:
        case FlagKey("ALL"):
            return facts.full, 0
        case FlagKey("SAVEDATESUPPORTED"):  # RFC 8514 §4.3: every mailbox keeps save dates
            return facts.full, 0
        case FlagKey("RECENT"):
            return facts.recent, 0
        case FlagKey("OLD"):  # RFC 3501 §6.4.4: NOT RECENT
            return facts.full & ~facts.recent, 0
        case FlagKey("NEW"):  # RFC 3501 §6.4.4: RECENT UNSEEN
            return facts.recent & facts.flag_mask("\\Seen", present=False), 0
        case FlagKey(name):
            return facts.flag_mask(SYSTEM_KEYS[name.removeprefix("UN")], present=not name.startswith("UN")), 0
        case KeywordKey(name, keyword):
            return facts.flag_mask(keyword, present=name == "KEYWORD"), 0
        case SizeKey(name, size) if facts.sizes is not None:
            # RFC 9051 §6.4.4 LARGER/SMALLER: RFC822.SIZE strictly above/below n.
            return facts.column_mask(facts.sizes, size.__lt__ if name == "LARGER" else size.__gt__)
        case DateKey(name) if name in INTERNAL_DATE_KEYS and facts.days is not None:
            return facts.column_mask(facts.days, day_test(key))
        case IntervalKey(name, seconds) if facts.times is not None:
            # RFC 5032 §2: the target is now minus the interval; OLDER matches an internal date at
            # or before it, YOUNGER one at or after it (to the second).
            target = facts.now - seconds
            return facts.column_mask(facts.times, target.__ge__ if name == "OLDER" else target.__le__)
        case ModSeqKey(modseq) if facts.modseqs is not None:
            # RFC 7162 §3.1.5: mod-sequence equal to or greater than the value (one per message is
            # stored, so the entry name and type do not narrow it).
            return mask_from_bits(bytes(map(modseq.__le__, facts.modseqs))), 0
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


def leaf_keys(program: SearchKey) -> list[SearchKey]:
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
    for key in leaf_keys(program):
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
