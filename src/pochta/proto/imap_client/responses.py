"""Typed IMAP server responses, as a client reads them (RFC 9051 §7, RFC 3501 §7).

``parse_response(framed)`` turns one ``Framed`` response into one of the dataclasses below;
anything it cannot read is a ``ResponseError`` saying where, never another exception. Responses
this client has no use for come out as ``Untagged`` with their values, not as errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from pochta.proto.imap.mutf7 import MalformedName, modified_utf7_decode
from pochta.proto.imap_client.framing import Framed, ResponseError
from pochta.proto.imap_client.values import Atom, Cursor, Value

__all__ = [
    "Capability",
    "Code",
    "Continuation",
    "ESearch",
    "Enabled",
    "Exists",
    "Expunge",
    "FetchData",
    "Flags",
    "IdData",
    "ListItem",
    "Response",
    "Search",
    "Status",
    "StatusData",
    "Tagged",
    "Untagged",
    "Vanished",
    "format_internal_date",
    "parse_internal_date",
    "parse_response",
    "sequence_set_numbers",
]

_STATUS_WORDS = frozenset({"OK", "NO", "BAD", "BYE", "PREAUTH"})
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {name: n for n, name in enumerate(_MONTH_NAMES, start=1)}


@dataclass(frozen=True)
class Code:
    """A response code: ``[NAME args]`` (RFC 9051 §7.1), its arguments as values."""

    name: str
    args: tuple[Value, ...] = ()

    def number(self) -> int | None:
        """The first argument as a number (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ ...)."""
        if self.args and isinstance(self.args[0], str) and self.args[0].isdigit():
            return int(self.args[0])
        return None


@dataclass(frozen=True)
class Status:
    """An untagged OK/NO/BAD/BYE/PREAUTH (RFC 9051 §7.1)."""

    word: str
    code: Code | None
    text: str


@dataclass(frozen=True)
class Tagged:
    """The completion of a command (RFC 9051 §7.1): OK, NO or BAD."""

    tag: str
    word: str
    code: Code | None
    text: str

    @property
    def ok(self) -> bool:
        return self.word == "OK"


@dataclass(frozen=True)
class Continuation:
    """A continuation request, "+ text" (RFC 9051 §7.6); ``text`` raw (SASL sends base64)."""

    text: bytes


@dataclass(frozen=True)
class Capability:
    names: frozenset[str]  # upper case


@dataclass(frozen=True)
class Enabled:
    names: frozenset[str]


@dataclass(frozen=True)
class Flags:
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Exists:
    count: int


@dataclass(frozen=True)
class Expunge:
    number: int


@dataclass(frozen=True)
class ListItem:
    """A LIST or LSUB line (RFC 9051 §7.3.1): attributes, delimiter (None when flat), name decoded
    (modified UTF-7 unless the server sent UTF-8, RFC 6855 §3), and LIST-EXTENDED data."""

    kind: str  # "LIST" or "LSUB"
    attributes: frozenset[str]  # as sent, compared case-insensitively by ``has``
    delimiter: str | None
    name: str
    extended: tuple[Value, ...] = ()

    def has(self, attribute: str) -> bool:
        wanted = attribute.lower()
        return any(found.lower() == wanted for found in self.attributes)


@dataclass(frozen=True)
class StatusData:
    """A STATUS line (RFC 9051 §7.3.3)."""

    name: str
    items: dict[str, int]


@dataclass(frozen=True)
class Search:
    """SEARCH (RFC 3501 §7.2.5), with RFC 7162 §3.1.5's (MODSEQ n)."""

    numbers: tuple[int, ...]
    modseq: int | None = None


@dataclass(frozen=True)
class ESearch:
    """ESEARCH (RFC 4731 §3.1, RFC 9051 §7.3.4): ``tag`` of the command, whether numbers are UIDs,
    and the result items (ALL as the numbers it names)."""

    tag: str | None
    uid: bool
    numbers: tuple[int, ...] = ()
    items: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class Vanished:
    """VANISHED (RFC 7162 §3.2.10)."""

    earlier: bool
    uids: tuple[int, ...]


@dataclass(frozen=True)
class IdData:
    """ID (RFC 2971 §3.2): the server's fields, or none for NIL."""

    fields: dict[str, str | None]


@dataclass(frozen=True)
class FetchData:
    """A FETCH line (RFC 9051 §7.5.2): the items this client asks for, typed, and every item as sent
    in ``items`` (names upper case)."""

    number: int
    uid: int | None = None
    flags: tuple[str, ...] | None = None
    internal_date: datetime | None = None
    size: int | None = None
    body: bytes | None = None  # BODY[], BINARY[] or RFC822, whichever came
    modseq: int | None = None
    items: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class Untagged:
    """Any other untagged data: its name (upper case), the number before it if any, its values."""

    name: str
    number: int | None
    values: tuple[Value, ...]


Response = (
    Tagged
    | Continuation
    | Status
    | Capability
    | Enabled
    | Flags
    | Exists
    | Expunge
    | ListItem
    | StatusData
    | Search
    | ESearch
    | Vanished
    | IdData
    | FetchData
    | Untagged
)


def parse_response(framed: Framed, *, max_depth: int = 64) -> Response:
    cursor = Cursor(framed, max_depth=max_depth)
    first = cursor.peek()
    if first == 0x2B:  # "+"
        cursor.expect(b"+")
        cursor.skip_space()
        return Continuation(cursor.rest())
    if first == 0x2A:  # "*"
        cursor.expect(b"* ")
        return _untagged(cursor)
    tag = cursor.atom()
    cursor.space()
    word = cursor.atom().upper()
    if word not in ("OK", "NO", "BAD"):
        raise cursor.error(f"tagged response {word!r} is not OK, NO or BAD")
    code, text = _status_rest(cursor)
    return Tagged(tag, word, code, text)


def _status_rest(cursor: Cursor) -> tuple[Code | None, str]:
    """RFC 9051 §7.1: resp-text = ["[" resp-text-code "]" SP] text (the SP and text may be absent
    in practice)."""
    code = None
    if cursor.skip_space() and cursor.peek() == 0x5B:
        cursor.expect(b"[")
        body = cursor.until(0x5D)
        cursor.expect(b"]")
        code = _code(body)
        cursor.skip_space()
    return code, cursor.rest().decode("utf-8", "replace")


def _code(body: bytes) -> Code:
    inner = Cursor(Framed((body,), ()))
    name = inner.atom().upper()
    if not inner.skip_space():
        return Code(name)
    # Codes whose argument is free text (RFC 9051 §7.1: ALERT-like text after a code is allowed);
    # read the rest as values when they are values, else keep it as one atom.
    try:
        return Code(name, tuple(inner.values_to_end()))
    except ResponseError:
        return Code(name, (Atom(body.split(b" ", 1)[1].decode("utf-8", "replace")),))


def _untagged(cursor: Cursor) -> Response:
    if cursor.peek() is not None and 0x30 <= (cursor.peek() or 0) <= 0x39:
        number = cursor.number()
        cursor.space()
        name = cursor.atom().upper()
        if name == "EXISTS":
            return Exists(number)
        if name == "EXPUNGE":
            return Expunge(number)
        if name == "FETCH":
            cursor.space()
            return _fetch(cursor, number)
        cursor.skip_space()
        return Untagged(name, number, tuple(cursor.values_to_end()))
    name = cursor.atom().upper()
    if name in _STATUS_WORDS:
        code, text = _status_rest(cursor)
        return Status(name, code, text)
    if name in ("CAPABILITY", "ENABLED"):
        words = frozenset(_atoms(cursor.values_to_end() if cursor.skip_space() else []))
        upper = frozenset(word.upper() for word in words)
        return Capability(upper) if name == "CAPABILITY" else Enabled(upper)
    cursor.skip_space()
    if name == "FLAGS":
        return Flags(tuple(_atom_list(cursor.value(), "FLAGS", cursor)))
    if name in ("LIST", "LSUB"):
        return _list(cursor, name)
    if name == "STATUS":
        return _status_data(cursor)
    if name == "SEARCH":
        return _search(cursor)
    if name == "ESEARCH":
        return _esearch(cursor)
    if name == "VANISHED":
        return _vanished(cursor)
    if name == "ID":
        return _id(cursor)
    return Untagged(name, None, tuple(cursor.values_to_end()))


def _atoms(values: list[Value]) -> list[str]:
    return [value for value in values if isinstance(value, str)]


def _atom_list(value: Value, what: str, cursor: Cursor) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise cursor.error(f"{what} is not a list of atoms")
    return [str(item) for item in value]


def _mailbox_name(raw: Value, cursor: Cursor) -> str:
    """RFC 9051 §5.1: a mailbox name arrives as an astring; UTF-8 (RFC 6855 §3) when it is not
    ASCII, modified UTF-7 (RFC 3501 §5.1.3) otherwise."""
    if raw is None:
        raise cursor.error("a mailbox name is NIL")
    if isinstance(raw, list):
        raise cursor.error("a mailbox name is a list")
    octets = raw if isinstance(raw, bytes) else raw.encode()
    try:
        text = octets.decode("utf-8")
    except UnicodeDecodeError:
        raise cursor.error("a mailbox name is not UTF-8") from None
    if text.isascii():
        try:
            return modified_utf7_decode(text)
        except MalformedName:
            return text  # not canonical modified UTF-7: the name as the server spells it
    return text


def _list(cursor: Cursor, kind: str) -> ListItem:
    attributes = _atom_list(cursor.value(), kind, cursor)
    cursor.space()
    delimiter_value = cursor.value()
    if isinstance(delimiter_value, list) or (delimiter_value is not None and len(delimiter_value) != 1):
        raise cursor.error(f"{kind} delimiter is not one character or NIL")
    delimiter = None
    if delimiter_value is not None:
        delimiter = (
            delimiter_value.decode("ascii", "replace")
            if isinstance(delimiter_value, bytes)
            else delimiter_value
        )
    cursor.space()
    name = _mailbox_name(cursor.value(), cursor)
    extended: tuple[Value, ...] = ()
    if cursor.skip_space():
        extended = tuple(cursor.values_to_end())
    return ListItem(kind, frozenset(attributes), delimiter, name, extended)


def _status_data(cursor: Cursor) -> StatusData:
    name = _mailbox_name(cursor.value(), cursor)
    cursor.space()
    pairs = cursor.value()
    if not isinstance(pairs, list) or len(pairs) % 2:
        raise cursor.error("STATUS data is not a list of pairs")
    items: dict[str, int] = {}
    for key, number in zip(pairs[::2], pairs[1::2], strict=True):
        if not isinstance(key, str) or not isinstance(number, str) or not number.isdigit():
            raise cursor.error("STATUS item is not an atom and a number")
        items[key.upper()] = int(number)
    return StatusData(name, items)


def _search(cursor: Cursor) -> Search:
    numbers: list[int] = []
    modseq = None
    for value in cursor.values_to_end():
        if isinstance(value, str) and value.isdigit():
            numbers.append(int(value))
        elif (
            isinstance(value, list)
            and len(value) == 2
            and isinstance(value[0], str)
            and value[0].upper() == "MODSEQ"
            and isinstance(value[1], str)
            and value[1].isdigit()
        ):
            modseq = int(value[1])  # RFC 7162 §3.1.5
        else:
            raise cursor.error("SEARCH data is not numbers")
    return Search(tuple(numbers), modseq)


def sequence_set_numbers(text: str, limit: int = 10_000_000) -> tuple[int, ...]:
    """The numbers of a sequence set without "*" (ESEARCH ALL, VANISHED), in order; ``limit``
    bounds how many a range may expand to."""
    numbers: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ResponseError(f"bad sequence set {text[:40]!r}")
        first, last = int(low), int(high or low)
        if first > last:
            first, last = last, first
        if len(numbers) + last - first + 1 > limit:
            raise ResponseError(f"a sequence set naming more than {limit} numbers")
        numbers.extend(range(first, last + 1))
    return tuple(numbers)


def _esearch(cursor: Cursor) -> ESearch:
    values = cursor.values_to_end()
    tag = None
    if values and isinstance(values[0], list):
        correlator = values.pop(0)
        assert isinstance(correlator, list)  # for mypy: checked above
        if len(correlator) == 2 and isinstance(correlator[1], bytes | str):
            raw = correlator[1]
            tag = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    uid = False
    if values and isinstance(values[0], str) and values[0].upper() == "UID":
        values.pop(0)
        uid = True
    if len(values) % 2:
        raise cursor.error("ESEARCH items are not name-value pairs")
    items: dict[str, Value] = {}
    numbers: tuple[int, ...] = ()
    for key, value in zip(values[::2], values[1::2], strict=True):
        if not isinstance(key, str):
            raise cursor.error("ESEARCH item name is not an atom")
        items[key.upper()] = value
        if key.upper() == "ALL":
            if not isinstance(value, str):
                raise cursor.error("ESEARCH ALL is not a sequence set")
            numbers = sequence_set_numbers(value)
    return ESearch(tag, uid, numbers, items)


def _vanished(cursor: Cursor) -> Vanished:
    values = cursor.values_to_end()
    earlier = bool(values) and isinstance(values[0], list)
    if earlier:
        values.pop(0)
    if len(values) != 1 or not isinstance(values[0], str):
        raise cursor.error("VANISHED without a UID set")
    return Vanished(earlier, sequence_set_numbers(values[0]))


def _text(value: Value) -> str | None:
    if value is None or isinstance(value, list):
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _id(cursor: Cursor) -> IdData:
    value = cursor.value()
    if value is None:
        return IdData({})
    if not isinstance(value, list) or len(value) % 2:
        raise cursor.error("ID data is not NIL or a list of pairs")
    return IdData(
        {(_text(key) or ""): _text(item) for key, item in zip(value[::2], value[1::2], strict=True)}
    )


def parse_internal_date(text: str) -> datetime:
    """RFC 9051 §9 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" (the day may be space-padded)."""
    try:
        day_part, time_part, zone = text.split()
        day, month, year = day_part.split("-")
        hour, minute, second = (int(piece) for piece in time_part.split(":"))
        if len(zone) != 5 or zone[0] not in "+-" or not zone[1:].isdigit():
            raise ValueError(zone)
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
        tz = timezone(offset if zone[0] == "+" else -offset)
        return datetime(int(year), _MONTHS[month.upper()], int(day), hour, minute, second, tzinfo=tz)
    except (ValueError, KeyError) as exc:
        raise ResponseError(f"bad INTERNALDATE {text[:40]!r}") from exc


def format_internal_date(when: datetime) -> str:
    """RFC 9051 §9 date-time for APPEND, in the date's own offset (UTC when it has none)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    offset = when.utcoffset() or timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    month = _MONTH_NAMES[when.month - 1].capitalize()
    zone = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    return f"{when.day:02d}-{month}-{when.year:04d} {when:%H:%M:%S} {zone}"


def _fetch_number(value: Value, name: str, cursor: Cursor) -> int:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]  # MODSEQ (n)
    if not isinstance(value, str) or not value.isdigit() or len(value) > 20:
        raise cursor.error(f"FETCH {name} is not a number")
    return int(value)


def _fetch(cursor: Cursor, number: int) -> FetchData:
    pairs = cursor.value()
    if not cursor.at_end():
        raise cursor.error("data after a FETCH list")
    if not isinstance(pairs, list) or len(pairs) % 2:
        raise cursor.error("FETCH data is not a list of pairs")
    items: dict[str, Value] = {}
    for key, value in zip(pairs[::2], pairs[1::2], strict=True):
        if not isinstance(key, str):
            raise cursor.error("FETCH item name is not an atom")
        items[key.upper()] = value
    uid = size = modseq = None
    flags = None
    date = None
    body = None
    for name, value in items.items():
        if name == "UID":
            uid = _fetch_number(value, name, cursor)
        elif name == "RFC822.SIZE":
            size = _fetch_number(value, name, cursor)
        elif name == "MODSEQ":
            modseq = _fetch_number(value, name, cursor)  # RFC 7162 §3.1.4.1: MODSEQ (n)
        elif name == "FLAGS":
            flags = tuple(_atom_list(value, "FLAGS", cursor))
        elif name == "INTERNALDATE":
            if not isinstance(value, bytes):
                raise cursor.error("INTERNALDATE is not a string")
            date = parse_internal_date(value.decode("ascii", "replace"))
        elif name in ("BODY[]", "BINARY[]", "RFC822"):
            if isinstance(value, list | Atom):
                raise cursor.error(f"{name} is not a string")
            body = value
    return FetchData(number, uid, flags, date, size, body, modseq, items)
