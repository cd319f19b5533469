"""SEARCH arguments (RFC 9051 §6.4.4, §9 search-key; RFC 4731/9051 ESEARCH RETURN; RFC 5182 SAVE).

The program is a tree of keys. It is parsed with an explicit stack, never by recursion: OR, NOT and
parentheses nest as deep as the client likes, up to ``max_depth`` (then BAD [LIMIT]), and a hostile
``(((((...`` costs no Python stack. String values stay bytes; the handler decodes them with the
CHARSET (UTF-8 or US-ASCII; anything else is NO [BADCHARSET], RFC 9051 §6.4.4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from pochta.proto.imap import wire
from pochta.proto.imap.args import ExtValue, encode_ext, ext_value
from pochta.proto.imap.objectid import is_objectid
from pochta.proto.imap.partial import PartialRange
from pochta.proto.imap.sequence import SequenceSet
from pochta.proto.imap.wire import Cursor, ParseError

# Keys without arguments; NEW, OLD, RECENT are IMAP4rev1 only (RFC 3501 §6.4.4).
FLAG_KEYS = frozenset(
    {"ALL", "ANSWERED", "DELETED", "FLAGGED", "SEEN", "DRAFT", "UNANSWERED", "UNDELETED", "UNFLAGGED",
     "UNSEEN", "UNDRAFT", "NEW", "OLD", "RECENT", "SAVEDATESUPPORTED"}
)  # fmt: skip
STRING_KEYS = frozenset({"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"})
# RFC 8514 §4.3 adds the SAVED* keys (the save date instead of the internal date).
DATE_KEYS = frozenset(
    {"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE"}
)
OBJECT_KEYS = frozenset({"EMAILID", "THREADID"})  # RFC 8474 §6
SIZE_KEYS = frozenset({"LARGER", "SMALLER"})
INTERVAL_KEYS = frozenset({"OLDER", "YOUNGER"})  # RFC 5032 §3 (WITHIN)
KEYWORD_KEYS = frozenset({"KEYWORD", "UNKEYWORD"})
# RFC 5267 §4.2, §4.3: CONTEXT (a hint) and UPDATE (CONTEXT=SEARCH) take no value.
RETURN_OPTIONS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE", "CONTEXT", "UPDATE"})
# Return options that take a value (RFC 4466 search-ret-opt-ext): extensions add theirs here.
RETURN_VALUE_OPTIONS: frozenset[str] = frozenset({"PARTIAL"})  # RFC 9394 §4


@dataclass(frozen=True, slots=True)
class FlagKey:
    name: str


@dataclass(frozen=True, slots=True)
class StringKey:
    name: str
    value: bytes


@dataclass(frozen=True, slots=True)
class HeaderKey:
    field: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class DateKey:
    name: str
    date: date


@dataclass(frozen=True, slots=True)
class SizeKey:
    name: str
    size: int


@dataclass(frozen=True, slots=True)
class IntervalKey:
    """RFC 5032 §3: ``OLDER``/``YOUNGER`` nz-number (seconds before the server's current time)."""

    name: str
    seconds: int


@dataclass(frozen=True, slots=True)
class KeywordKey:
    name: str  # KEYWORD or UNKEYWORD
    keyword: str


@dataclass(frozen=True, slots=True)
class ObjectKey:
    """RFC 8474 §6: EMAILID or THREADID and an objectid (case-sensitive, RFC 8474 §7)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class ModSeqKey:
    """RFC 7162 §3.1.5 ``MODSEQ [entry-name entry-type-req] mod-sequence-valzer``: messages whose
    mod-sequence is at least ``modseq``. The entry (``"/flags/\\seen" all``) is kept for the
    canonical form; one mod-sequence per message is stored, so it does not narrow the search."""

    modseq: int
    entry: bytes | None = None  # the flag name after "/flags/", as given
    entry_type: str | None = None  # "PRIV", "SHARED" or "ALL"


@dataclass(frozen=True, slots=True)
class SequenceKey:
    """A bare sequence set (message numbers) or ``UID set``."""

    set: SequenceSet
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Not:
    key: SearchKey


@dataclass(frozen=True, slots=True)
class Or:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True, slots=True)
class And:
    """A parenthesised list, and the top-level program (all keys must match)."""

    keys: tuple[SearchKey, ...]


SearchKey = (
    FlagKey
    | StringKey
    | HeaderKey
    | DateKey
    | SizeKey
    | IntervalKey
    | KeywordKey
    | ObjectKey
    | ModSeqKey
    | SequenceKey
    | Not
    | Or
    | And
)


@dataclass(frozen=True)
class SearchArgs:
    """``returns`` is None for a plain SEARCH (answered with ``* SEARCH`` in rev1), else the RETURN
    options (empty means ALL, RFC 4731 §3.1 / RFC 9051 §6.4.4). Extension options keep their value."""

    key: And
    charset: str | None = None
    returns: tuple[tuple[str, ExtValue | None], ...] | None = None

    @property
    def return_names(self) -> frozenset[str]:
        return frozenset(n for n, _ in self.returns or ())

    @property
    def partial(self) -> PartialRange | None:
        """RETURN (PARTIAL range) (RFC 9394 §3.1), validated by the parser."""
        for name, value in self.returns or ():
            if name == "PARTIAL" and isinstance(value, bytes):
                return PartialRange.parse(value)
        return None

    @property
    def uses_sequence_numbers(self) -> bool:
        return uses_sequence_numbers(self.key)

    @property
    def has_modseq(self) -> bool:
        """The program has a MODSEQ key (RFC 7162 §3.1.5: the result then carries a MODSEQ)."""
        return has_modseq(self.key)

    def encode(self) -> bytes:
        out = b""
        if self.returns is not None:
            opts = [n.encode() + (b"" if v is None else b" " + encode_ext(v)) for n, v in self.returns]
            out += b" RETURN (" + b" ".join(opts) + b")"
        if self.charset is not None:
            out += b" CHARSET " + wire.astring(self.charset.encode("ascii"))
        return out + b" " + encode_keys(self.key.keys)


def has_modseq(program: And) -> bool:
    """Whether a MODSEQ key is anywhere in the program (RFC 7162 §3.1.5, §3.1.9: SEARCH and SORT
    results then carry the highest mod-sequence of what they return)."""
    todo: list[SearchKey] = [program]
    while todo:
        key = todo.pop()
        match key:
            case ModSeqKey():
                return True
            case And(keys):
                todo.extend(keys)
            case Or(left, right):
                todo += (left, right)
            case Not(inner):
                todo.append(inner)
    return False


def uses_sequence_numbers(program: And) -> bool:
    """A bare sequence set anywhere in the program refers to message numbers, even in UID SEARCH
    (RFC 9051 §6.4.4): such a command must not run alongside one that expunges (RFC 9051 §5.5)."""
    todo: list[SearchKey] = [program]
    while todo:
        key = todo.pop()
        match key:
            case SequenceKey(uid=False):
                return True
            case And(keys):
                todo.extend(keys)
            case Or(left, right):
                todo += (left, right)
            case Not(inner):
                todo.append(inner)
    return False


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DATE = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")


def _date(cur: Cursor) -> date:
    # RFC 9051 §9 date = date-text / DQUOTE date-text DQUOTE
    m = _DATE.fullmatch(cur.astring())
    if not m:
        raise ParseError("Invalid date")
    try:
        return date(int(m.group(3)), _MONTHS.index(m.group(2).decode().upper()) + 1, int(m.group(1)))
    except ValueError:
        raise ParseError("Invalid date") from None


def _leaf(cur: Cursor, name: str) -> SearchKey:
    if name in FLAG_KEYS:
        return FlagKey(name)
    if name in STRING_KEYS:
        cur.sp()
        return StringKey(name, cur.astring())
    if name in DATE_KEYS:
        cur.sp()
        return DateKey(name, _date(cur))
    if name in SIZE_KEYS:
        cur.sp()
        return SizeKey(name, cur.number(limit=wire.MAX_NUMBER64))
    if name in INTERVAL_KEYS:
        cur.sp()
        return IntervalKey(name, cur.number(nonzero=True))  # RFC 5032 §3: nz-number
    if name in KEYWORD_KEYS:
        cur.sp()
        return KeywordKey(name, cur.atom().decode("ascii"))
    if name == "HEADER":
        cur.sp()
        field = cur.astring()
        cur.sp()
        return HeaderKey(field, cur.astring())
    if name == "UID":
        cur.sp()
        return SequenceKey(cur.sequence_set(), uid=True)
    if name in OBJECT_KEYS:
        cur.sp()
        value = cur.atom().decode("ascii", "replace")
        if not is_objectid(value):  # RFC 8474 §7 objectid = 1*255(ALPHA / DIGIT / "_" / "-")
            raise ParseError(f"Invalid {name}")
        return ObjectKey(name, value)
    if name == "MODSEQ":
        return _modseq(cur)
    raise ParseError(f"Unknown search key {name[:40]}")


_ENTRY_TYPES = frozenset({"PRIV", "SHARED", "ALL"})  # RFC 7162 §7 entry-type-req


def _modseq(cur: Cursor) -> ModSeqKey:
    """RFC 7162 §7 search-modsequence = "MODSEQ" [SP entry-name SP entry-type-req] SP
    mod-sequence-valzer; entry-name = DQUOTE "/flags/" attr-flag DQUOTE."""
    cur.sp()
    entry = entry_type = None
    if cur.peek() == 0x22:
        name = cur.string()
        if not name.lower().startswith(b"/flags/") or len(name) == 7:
            raise ParseError("MODSEQ entry name must be /flags/<flag>")
        entry = name[7:]
        cur.sp()
        entry_type = cur.keyword()
        if entry_type not in _ENTRY_TYPES:
            raise ParseError("MODSEQ entry type must be priv, shared or all")
        cur.sp()
    digits = cur.match_regex(_DIGITS)
    if digits is None:
        raise ParseError("MODSEQ takes a mod-sequence number")
    value = int(digits.group())
    if value > wire.MAX_NUMBER64:
        raise ParseError("MODSEQ mod-sequence out of range")  # RFC 7162 §7: 63-bit
    return ModSeqKey(value, entry, entry_type)


_DIGITS = re.compile(rb"[0-9]+")


class _Frame:
    __slots__ = ("items", "kind")

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "top", "(", "NOT", "OR"
        self.items: list[SearchKey] = []


def parse_keys(cur: Cursor, max_depth: int) -> And:
    """``search-key *(SP search-key)`` to the end of the command, iteratively."""
    stack = [_Frame("top")]
    need_sp = False
    while True:
        top = stack[-1]
        if top.kind == "(" and top.items and cur.maybe(b")"):
            stack.pop()
            node: SearchKey = And(tuple(top.items))
        elif top.kind == "top" and top.items and cur.at_end():
            return And(tuple(top.items))
        else:
            if need_sp:
                cur.sp()
            need_sp = True
            c = cur.peek()
            if c == 0x28:  # "("
                cur.skip(1)
                if len(stack) > max_depth:
                    raise ParseError("Search program nested too deeply", "LIMIT")
                stack.append(_Frame("("))
                need_sp = False
                continue
            if c is not None and (0x30 <= c <= 0x39 or c in b"*$"):
                node = SequenceKey(cur.sequence_set())
            else:
                name = cur.keyword()
                if name in ("NOT", "OR"):
                    if len(stack) > max_depth:
                        raise ParseError("Search program nested too deeply", "LIMIT")
                    stack.append(_Frame(name))
                    continue
                node = _leaf(cur, name)
        # Attach the finished key; completed NOT/OR frames collapse upwards.
        while True:
            top = stack[-1]
            top.items.append(node)
            if top.kind == "NOT":
                stack.pop()
                node = Not(top.items[0])
            elif top.kind == "OR" and len(top.items) == 2:
                stack.pop()
                node = Or(top.items[0], top.items[1])
            else:
                break


def encode_keys(keys: tuple[SearchKey, ...]) -> bytes:
    """Canonical wire form of a key list (iterative, like the parser)."""
    out: list[bytes] = []
    # Work items: a key to write, or literal bytes to emit.
    todo: list[SearchKey | bytes] = []
    for i, k in enumerate(reversed(keys)):
        todo.append(k)
        if i < len(keys) - 1:
            todo.append(b" ")
    while todo:
        item = todo.pop()
        if isinstance(item, bytes):
            out.append(item)
        elif isinstance(item, Not):
            todo += [item.key, b"NOT "]
        elif isinstance(item, Or):
            todo += [item.right, b" ", item.left, b"OR "]
        elif isinstance(item, And):
            todo.append(b")")
            for i, k in enumerate(reversed(item.keys)):
                todo.append(k)
                if i < len(item.keys) - 1:
                    todo.append(b" ")
            todo.append(b"(")
        else:
            out.append(_encode_leaf(item))
    return b"".join(out)


def _encode_leaf(key: SearchKey) -> bytes:
    match key:
        case FlagKey(name):
            return name.encode()
        case StringKey(name, value):
            return name.encode() + b" " + wire.astring(value, utf8=True)
        case HeaderKey(field, value):
            return b"HEADER " + wire.astring(field) + b" " + wire.astring(value, utf8=True)
        case DateKey(name, day):
            return b"%s %d-%s-%04d" % (
                name.encode(),
                day.day,
                _MONTHS[day.month - 1].title().encode(),
                day.year,
            )
        case SizeKey(name, size):
            return b"%s %d" % (name.encode(), size)
        case IntervalKey(name, seconds):
            return b"%s %d" % (name.encode(), seconds)
        case KeywordKey(name, keyword):
            return name.encode() + b" " + keyword.encode("ascii")
        case ObjectKey(name, value):
            return name.encode() + b" " + value.encode("ascii")
        case SequenceKey(seq, uid):
            return (b"UID " if uid else b"") + bytes(seq)
        case ModSeqKey(modseq, entry, entry_type):
            if entry is None or entry_type is None:
                return b"MODSEQ %d" % modseq
            quoted = wire.string(b"/flags/" + entry)
            return b"MODSEQ %s %s %d" % (quoted, entry_type.lower().encode(), modseq)
    raise TypeError(f"not a leaf search key: {key!r}")  # pragma: no cover


def parse_search(cur: Cursor, max_depth: int) -> SearchArgs:
    cur.sp()
    return _search_args(cur, max_depth)


def _search_args(cur: Cursor, max_depth: int) -> SearchArgs:
    returns = None
    if cur.peek_keyword(b"RETURN"):
        # RFC 9051 §9 search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP ...)] ")"
        cur.skip(6)
        cur.sp()
        cur.expect(b"(")
        opts: list[tuple[str, ExtValue | None]] = []
        while not cur.maybe(b")"):
            if opts:
                cur.sp()
            name = cur.keyword()
            value = None
            if name in RETURN_VALUE_OPTIONS:
                cur.sp()
                value = ext_value(cur, max_depth)
            elif name not in RETURN_OPTIONS:
                raise ParseError(f"Unknown SEARCH return option {name[:40]}")  # RFC 4466 §2.6
            if any(n == name for n, _ in opts):
                raise ParseError(f"SEARCH return option {name} given twice")
            opts.append((name, value))
        names = {n for n, _ in opts}
        if {"PARTIAL", "ALL"} <= names:
            raise ParseError("PARTIAL and ALL exclude each other")  # RFC 9394 §3.1
        for name, value in opts:
            if name == "PARTIAL":
                PartialRange.parse(value if isinstance(value, bytes) else b"")  # BAD if it is none
        returns = tuple(opts)
        cur.sp()
    charset = None
    if cur.peek_keyword(b"CHARSET"):
        cur.skip(7)
        cur.sp()
        charset = cur.astring().decode("ascii", "replace")
        cur.sp()
    return SearchArgs(parse_keys(cur, max_depth), charset, returns)


# --- MULTISEARCH (RFC 7377) -------------------------------------------------------------------------

# RFC 7377 §4 source-mbox: RFC 5465 §6 filter-mailboxes without "selected-delayed", with "subtree-one".
SOURCES_ALONE = frozenset({"SELECTED", "INBOXES", "PERSONAL", "SUBSCRIBED"})
SOURCES_WITH_MAILBOXES = frozenset({"SUBTREE", "SUBTREE-ONE", "MAILBOXES"})


@dataclass(frozen=True)
class Source:
    """One filter-mailboxes item: ``kind`` upper-case, ``mailboxes`` as sent (for SUBTREE,
    SUBTREE-ONE and MAILBOXES; empty for the others)."""

    kind: str
    mailboxes: tuple[bytes, ...] = ()

    def encode(self) -> bytes:
        name = self.kind.lower().encode("ascii")
        if not self.mailboxes:
            return name
        if len(self.mailboxes) == 1:
            return name + b" " + wire.astring(self.mailboxes[0], utf8=True)
        return name + b" (" + b" ".join(wire.astring(m, utf8=True) for m in self.mailboxes) + b")"


@dataclass(frozen=True)
class ESearchArgs:
    """RFC 7377 §4 ``ESEARCH [SP "IN" SP "(" source-mbox ")"] [SP search-return-opts] SP
    search-program``. ``sources`` empty: none given, "selected" is meant (§2.2)."""

    sources: tuple[Source, ...]
    search: SearchArgs

    def encode(self) -> bytes:
        head = b" IN (" + b" ".join(s.encode() for s in self.sources) + b")" if self.sources else b""
        return head + self.search.encode()


def _source(cur: Cursor) -> Source:
    kind = cur.keyword()
    if kind in SOURCES_ALONE:
        return Source(kind)
    if kind not in SOURCES_WITH_MAILBOXES:
        raise ParseError(f"Unknown mailbox source {kind[:40]}")  # selected-delayed too (§4)
    cur.sp()
    if not cur.maybe(b"("):  # RFC 5465 §8 one-or-more-mailbox
        return Source(kind, (cur.astring(),))
    names = [cur.astring()]
    while not cur.maybe(b")"):
        cur.sp()
        names.append(cur.astring())
    return Source(kind, tuple(names))


def parse_esearch(cur: Cursor, max_depth: int) -> ESearchArgs:
    cur.sp()
    sources: list[Source] = []
    if cur.peek_keyword(b"IN"):
        cur.skip(2)
        cur.sp()
        cur.expect(b"(")
        sources.append(_source(cur))
        while not cur.maybe(b")"):
            cur.sp()
            if cur.peek() == 0x28:  # "(" scope-options ")": none are defined (RFC 7377 §4)
                raise ParseError("Unknown scope option")
            sources.append(_source(cur))
        cur.sp()
    return ESearchArgs(tuple(sources), _search_args(cur, max_depth))
