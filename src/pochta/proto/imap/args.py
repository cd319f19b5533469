"""Typed arguments of the IMAP commands that are not SEARCH or FETCH, with their parsers.

Mailbox names stay the octets the client sent (``bytes``): whether they are modified UTF-7 (IMAP4rev1)
or UTF-8 (IMAP4rev2, UTF8=ACCEPT), and how INBOX is spelt, is decided by the handler with the name
rules of ``pochta.mail.names``. Every argument type has ``encode()``, its canonical client form
(used by tests and by anything that speaks IMAP as a client).

RFC 4466 extension parameters (SELECT/EXAMINE, CREATE, RENAME, STORE, FETCH modifiers, LIST options)
are parsed generically into ``Params``: CONDSTORE, QRESYNC and later extensions read them from there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pochta.proto.imap import condstore, wire
from pochta.proto.imap.responses import format_datetime
from pochta.proto.imap.sequence import SequenceSet
from pochta.proto.imap.wire import Cursor, LiteralData, ParseError

ExtValue = bytes | tuple["ExtValue", ...]
Params = tuple[tuple[str, ExtValue | None], ...]


def _a(data: bytes) -> bytes:
    return wire.astring(data, utf8=True)


# --- RFC 4466 generic values ----------------------------------------------------------------------


def ext_value(cur: Cursor, max_depth: int) -> ExtValue:
    """RFC 4466 §2.1 tagged-ext-val, parsed with an explicit stack (input controls the depth)."""
    if cur.peek() != 0x28:  # "("
        if cur.at_literal() or cur.peek() == 0x22:
            return cur.string()
        return cur.ext_atom()
    cur.expect(b"(")
    stack: list[list[ExtValue]] = [[]]
    while True:
        if cur.maybe(b")"):
            done = tuple(stack.pop())
            if not stack:
                return done
            stack[-1].append(done)
            continue
        if stack[-1]:
            cur.sp()
        if cur.maybe(b"("):
            if len(stack) >= max_depth:
                raise ParseError("Too deeply nested", "LIMIT")
            stack.append([])
            continue
        stack[-1].append(cur.string() if cur.at_literal() or cur.peek() == 0x22 else cur.ext_atom())


def encode_ext(value: ExtValue) -> bytes:
    if isinstance(value, bytes):
        return value if wire.EXT_ATOM_RE.fullmatch(value) else wire.string(value)
    return b"(" + b" ".join(encode_ext(v) for v in value) + b")"


def _value_follows(cur: Cursor) -> bool:
    # A parameter's value starts with "(", a digit, "*", "$" or "-" (tagged-ext-simple, with RFC
    # 9394 §4's partial-range-last); a letter starts the next parameter's name (RFC 4466 §2.1
    # leaves this to each extension's grammar).
    c = cur.peek()
    return c is not None and (c in b"(*$-" or 0x30 <= c <= 0x39)


def params(cur: Cursor, max_depth: int) -> Params:
    """``"(" name [SP value] *(SP name [SP value]) ")"`` (RFC 4466 §2.1 select-params and friends)."""
    cur.expect(b"(")
    out: list[tuple[str, ExtValue | None]] = []
    while True:
        name = cur.keyword()
        value = ext_value(cur, max_depth) if cur.maybe_sp() and _value_follows(cur) else None
        out.append((name, value))
        if cur.maybe(b")"):
            return tuple(out)
        if value is not None:
            cur.sp()
        elif cur.at_end():
            raise ParseError("Expected )")


def encode_params(items: Params) -> bytes:
    parts = [n.encode("ascii") + (b"" if v is None else b" " + encode_ext(v)) for n, v in items]
    return b"(" + b" ".join(parts) + b")"


def _opt_params(cur: Cursor, max_depth: int) -> Params:
    if cur.maybe_sp():
        return params(cur, max_depth)
    return ()


def _sp_params(items: Params) -> bytes:
    return b" " + encode_params(items) if items else b""


# --- date-time ------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate(
    (b"JAN", b"FEB", b"MAR", b"APR", b"MAY", b"JUN", b"JUL", b"AUG", b"SEP", b"OCT", b"NOV", b"DEC"), 1
)}  # fmt: skip
_DATE_TIME = re.compile(
    rb'"([ 0-9]?[0-9])-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"'
)


def date_time(cur: Cursor) -> datetime:
    """RFC 9051 §9 date-time: ``"dd-Mon-yyyy hh:mm:ss +zzzz"``."""
    m = cur.match_regex(_DATE_TIME)
    if m is None:
        raise ParseError("Invalid date-time")
    day, month, year, hh, mm, ss, sign, zh, zm = m.groups()
    try:
        offset = timedelta(hours=int(zh), minutes=int(zm))
        tz = timezone(-offset if sign == b"-" else offset)
        return datetime(int(year), _MONTHS[month.upper()], int(day), int(hh), int(mm), int(ss), tzinfo=tz)
    except (KeyError, ValueError):
        raise ParseError("Invalid date-time") from None


def encode_date_time(value: datetime) -> bytes:
    return b'"' + format_datetime(value).encode("ascii") + b'"'


# --- argument types -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoArgs:
    def encode(self) -> bytes:
        return b""


NO_ARGS = NoArgs()


def parse_none(cur: Cursor, max_depth: int) -> NoArgs:
    return NO_ARGS


@dataclass(frozen=True)
class Authenticate:
    """RFC 9051 §6.2.2, RFC 4959 SASL-IR: the initial response is kept as sent (base64 or "=")."""

    mechanism: str
    initial_response: bytes | None = None

    def encode(self) -> bytes:
        ir = b"" if self.initial_response is None else b" " + self.initial_response
        return b" " + self.mechanism.encode("ascii") + ir


_BASE64_OR_EQ = re.compile(rb"=|[A-Za-z0-9+/]+={0,2}")


def parse_authenticate(cur: Cursor, max_depth: int) -> Authenticate:
    cur.sp()
    mech = cur.keyword()
    initial = None
    if cur.maybe_sp():
        m = cur.match_regex(_BASE64_OR_EQ)
        if m is None:
            raise ParseError("Invalid initial response")
        initial = m.group()
    return Authenticate(mech, initial)


@dataclass(frozen=True)
class Login:
    userid: bytes
    password: bytes

    def encode(self) -> bytes:
        return b" " + _a(self.userid) + b" " + _a(self.password)

    def __repr__(self) -> str:  # never log a password
        return f"Login(userid={self.userid!r}, password=<{len(self.password)} octets>)"


def parse_login(cur: Cursor, max_depth: int) -> Login:
    cur.sp()
    user = cur.astring()
    cur.sp()
    return Login(user, cur.astring())


@dataclass(frozen=True)
class Enable:
    capabilities: tuple[str, ...]

    def encode(self) -> bytes:
        return b"".join(b" " + c.encode("ascii") for c in self.capabilities)


def parse_enable(cur: Cursor, max_depth: int) -> Enable:
    cur.sp()
    caps = [cur.keyword()]
    while cur.maybe_sp():
        caps.append(cur.keyword())
    return Enable(tuple(caps))


@dataclass(frozen=True)
class MailboxArgs:
    """DELETE, SUBSCRIBE, UNSUBSCRIBE; SELECT/EXAMINE (RFC 4466 select-params); CREATE (create-params).

    ``use`` is the RFC 6154 §3 ``USE (\\Drafts ...)`` parameter of CREATE.
    """

    mailbox: bytes
    params: Params = ()

    @property
    def select_options(self) -> condstore.SelectOptions:
        """RFC 7162 CONDSTORE / QRESYNC select parameters (checked by the parser)."""
        return condstore.select_options(self.params)

    @property
    def use(self) -> tuple[str, ...]:
        for name, value in self.params:
            if name == "USE" and isinstance(value, tuple):
                return tuple(v.decode("ascii") for v in value if isinstance(v, bytes))
        return ()

    def encode(self) -> bytes:
        return b" " + _a(self.mailbox) + _sp_params(self.params)


def parse_mailbox(cur: Cursor, max_depth: int) -> MailboxArgs:
    cur.sp()
    return MailboxArgs(cur.astring())


def parse_mailbox_params(cur: Cursor, max_depth: int) -> MailboxArgs:
    cur.sp()
    name = cur.astring()
    args = MailboxArgs(name, _opt_params(cur, max_depth))
    for key, value in args.params:
        if key == "USE" and not (
            isinstance(value, tuple)
            and all(
                isinstance(v, bytes) and v.startswith(b"\\") and wire.ATOM_RE.fullmatch(v[1:]) for v in value
            )
        ):
            raise ParseError("USE takes a list of special-use attributes")
    condstore.select_options(args.params)  # RFC 7162 §3.2.5: BAD for an invalid parameter
    return args


@dataclass(frozen=True)
class Rename:
    old: bytes
    new: bytes
    params: Params = ()

    def encode(self) -> bytes:
        return b" " + _a(self.old) + b" " + _a(self.new) + _sp_params(self.params)


def parse_rename(cur: Cursor, max_depth: int) -> Rename:
    cur.sp()
    old = cur.astring()
    cur.sp()
    new = cur.astring()
    return Rename(old, new, _opt_params(cur, max_depth))


@dataclass(frozen=True)
class ListArgs:
    """LIST (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE).

    ``select``/``returns`` are the options as given (upper-cased names; None: not given); ``status`` is
    the item list of RETURN (STATUS (...)). ``extended`` tells that the LIST-EXTENDED syntax was used,
    which changes what the server sends (RFC 5258 §3).
    """

    reference: bytes
    patterns: tuple[bytes, ...]
    select: Params | None = None
    returns: Params | None = None
    pattern_list: bool = False  # patterns were given in parentheses

    @property
    def extended(self) -> bool:
        return self.select is not None or self.returns is not None or self.pattern_list

    @property
    def select_names(self) -> frozenset[str]:
        return frozenset(n for n, _ in self.select or ())

    @property
    def return_names(self) -> frozenset[str]:
        return frozenset(n for n, _ in self.returns or ())

    @property
    def status(self) -> tuple[str, ...]:
        for name, value in self.returns or ():
            if name == "STATUS" and isinstance(value, tuple):
                return tuple(v.decode("ascii").upper() for v in value if isinstance(v, bytes))
        return ()

    def encode(self) -> bytes:
        out = [b" "]
        if self.select is not None:
            out.append((encode_params(self.select) if self.select else b"()") + b" ")
        out.append(_a(self.reference) + b" ")
        if self.pattern_list:
            out.append(b"(" + b" ".join(_list_mailbox(p) for p in self.patterns) + b")")
        else:
            out.append(_list_mailbox(self.patterns[0]))
        if self.returns is not None:
            out.append(b" RETURN " + (encode_params(self.returns) if self.returns else b"()"))
        return b"".join(out)


def _list_mailbox(data: bytes) -> bytes:
    if data and wire.LIST_RE.fullmatch(data):
        return data
    return wire.string(data, utf8=True)


SELECT_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "STATUS", "SPECIAL-USE", "MYRIGHTS"})  # RFC 8440 §3


def parse_list(cur: Cursor, max_depth: int) -> ListArgs:
    cur.sp()
    select: Params | None = None
    if cur.peek() == 0x28:
        select = () if cur.maybe(b"()") else params(cur, max_depth)
        # RFC 5258 §3: RECURSIVEMATCH needs a base option; unknown options are a BAD (§3.1).
        names = {n for n, _ in select}
        if "RECURSIVEMATCH" in names and not names & {"SUBSCRIBED", "SPECIAL-USE"}:
            raise ParseError("RECURSIVEMATCH needs another selection option")
        if unknown := names - SELECT_OPTIONS:
            raise ParseError(f"Unknown LIST selection option {sorted(unknown)[0]}")
        cur.sp()
    reference = cur.astring()
    cur.sp()
    patterns: list[bytes] = []
    pattern_list = cur.maybe(b"(")
    if pattern_list:
        patterns.append(cur.list_mailbox())
        while not cur.maybe(b")"):
            cur.sp()
            patterns.append(cur.list_mailbox())
    else:
        patterns.append(cur.list_mailbox())
    returns: Params | None = None
    if cur.maybe_sp():
        cur.expect(b"RETURN ")
        returns = () if cur.maybe(b"()") else params(cur, max_depth)
        for name, value in returns:
            if name not in RETURN_OPTIONS:
                raise ParseError(f"Unknown LIST return option {name}")
            if name == "STATUS":
                _check_status_items(value)
            if name == "MYRIGHTS" and value is not None:
                raise ParseError("MYRIGHTS takes no parameters")  # RFC 8440 §5
    return ListArgs(reference, tuple(patterns), select, returns, pattern_list)


@dataclass(frozen=True)
class Lsub:
    reference: bytes
    pattern: bytes

    def encode(self) -> bytes:
        return b" " + _a(self.reference) + b" " + _list_mailbox(self.pattern)


def parse_lsub(cur: Cursor, max_depth: int) -> Lsub:
    cur.sp()
    ref = cur.astring()
    cur.sp()
    return Lsub(ref, cur.list_mailbox())


# RFC 9051 §6.3.11; RECENT for rev1 (RFC 3501 §6.3.10); APPENDLIMIT (RFC 7889 §4); later CONDSTORE/OBJECTID;
# DELETED-STORAGE (RFC 9208 §4.1.4).
STATUS_ITEMS = frozenset(
    {"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "APPENDLIMIT",
     "HIGHESTMODSEQ", "MAILBOXID", "DELETED-STORAGE"}
)  # fmt: skip


def _check_status_items(value: ExtValue | None) -> tuple[str, ...]:
    if (
        not isinstance(value, tuple)
        or not value
        or not all(isinstance(v, bytes) and v.isascii() for v in value)
    ):
        raise ParseError("Invalid STATUS item list")
    items = tuple(v.decode("ascii").upper() for v in value if isinstance(v, bytes))
    for item in items:
        if item not in STATUS_ITEMS:
            raise ParseError(f"Unknown STATUS item {item}")
    return items


@dataclass(frozen=True)
class StatusArgs:
    mailbox: bytes
    items: tuple[str, ...]

    def encode(self) -> bytes:
        return b" " + _a(self.mailbox) + b" (" + " ".join(self.items).encode("ascii") + b")"


def parse_status(cur: Cursor, max_depth: int) -> StatusArgs:
    cur.sp()
    mailbox = cur.astring()
    cur.sp()
    cur.expect(b"(")
    items = [cur.keyword()]
    while not cur.maybe(b")"):
        cur.sp()
        items.append(cur.keyword())
    return StatusArgs(mailbox, _check_status_items(tuple(i.encode() for i in items)))


@dataclass(frozen=True)
class CatUrl:
    """RFC 4469 §5 ``"URL" SP astring``: a part of a CATENATE APPEND named by an IMAP URL."""

    url: bytes


@dataclass(frozen=True)
class AppendMessage:
    """One message of APPEND (RFC 9051 §6.3.12; RFC 3502 MULTIAPPEND gives several).

    ``catenate``: RFC 4469 §3 ``CATENATE (TEXT literal / URL url ...)``, the parts to join in order;
    ``data`` is then an empty placeholder."""

    flags: tuple[str, ...] | None
    date: datetime | None
    data: LiteralData
    utf8: bool = False  # RFC 6855 §4: "UTF8 (" literal8 ")"
    catenate: tuple[LiteralData | CatUrl, ...] = ()

    def encode(self) -> bytes:
        out = b""
        if self.flags is not None:
            out += b" (" + " ".join(self.flags).encode("ascii") + b")"
        if self.date is not None:
            out += b" " + encode_date_time(self.date)
        if self.catenate:
            parts = [
                b"URL " + _a(part.url) if isinstance(part, CatUrl) else b"TEXT " + wire.literal(bytes(part))
                for part in self.catenate
            ]
            return out + b" CATENATE (" + b" ".join(parts) + b")"
        content = bytes(self.data)
        lit = wire.literal8(content) if self.data.binary else wire.literal(content)
        return out + (b" UTF8 (" + lit + b")" if self.utf8 else b" " + lit)


@dataclass(frozen=True)
class Append:
    mailbox: bytes
    messages: tuple[AppendMessage, ...]

    def encode(self) -> bytes:
        return b" " + _a(self.mailbox) + b"".join(m.encode() for m in self.messages)


def _append_message(cur: Cursor) -> AppendMessage:
    """RFC 4466 §2.3 append-message after its SP: [flag-list SP] [date-time SP] append-data."""
    flags = None
    date = None
    if cur.peek() == 0x28:
        flags = cur.flag_list()
        cur.sp()
    if cur.peek() == 0x22:
        date = date_time(cur)
        cur.sp()
    utf8 = False
    if cur.maybe(b"CATENATE ("):
        return AppendMessage(flags, date, LiteralData.of(b""), catenate=_cat_parts(cur))
    if cur.maybe(b"UTF8 ("):
        utf8 = True
        data = cur.literal()
        if not data.binary:
            raise ParseError("UTF8 APPEND takes a literal8")  # RFC 6855 §4
        cur.expect(b")")
    else:
        data = cur.literal()
    return AppendMessage(flags, date, data, utf8)


def _cat_parts(cur: Cursor) -> tuple[LiteralData | CatUrl, ...]:
    """RFC 4469 §5: cat-part *(SP cat-part) ")", after "CATENATE (". The parts are counted by the
    receiver's literal limits (one APPEND message: ``Limits.append_limit``)."""
    parts: list[LiteralData | CatUrl] = []
    while True:
        if cur.maybe(b"TEXT "):
            text = cur.literal()
            if text.binary:
                raise ParseError("CATENATE TEXT takes a literal, not a literal8")  # RFC 4469 §5
            parts.append(text)
        elif cur.maybe(b"URL "):
            parts.append(CatUrl(cur.astring()))
        else:
            raise ParseError("Expected TEXT or URL in CATENATE")
        if cur.maybe(b")"):
            return tuple(parts)
        cur.sp()


def parse_append(cur: Cursor, max_depth: int) -> Append:
    cur.sp()
    mailbox = cur.astring()
    messages: list[AppendMessage] = []
    while cur.maybe_sp():
        messages.append(_append_message(cur))
    if not messages:
        raise ParseError("APPEND needs a message literal")
    return Append(mailbox, tuple(messages))


@dataclass(frozen=True)
class Replace:
    """RFC 8508 §5: ``REPLACE SP seq-number SP mailbox append-message`` (a UID for UID REPLACE);
    ``target`` None is ``*``."""

    target: int | None
    mailbox: bytes
    message: AppendMessage

    def encode(self) -> bytes:
        target = b"*" if self.target is None else b"%d" % self.target
        return b" " + target + b" " + _a(self.mailbox) + self.message.encode()


def parse_replace(cur: Cursor, max_depth: int) -> Replace:
    cur.sp()
    target = None if cur.maybe(b"*") else cur.number(nonzero=True)  # RFC 9051 §9 seq-number
    cur.sp()
    mailbox = cur.astring()
    cur.sp()
    return Replace(target, mailbox, _append_message(cur))  # one message: no MULTIAPPEND (§4.7)


@dataclass(frozen=True)
class SequenceArgs:
    """UID EXPUNGE (RFC 4315 §2.1)."""

    sequence_set: SequenceSet

    def encode(self) -> bytes:
        return b" " + bytes(self.sequence_set)


def parse_sequence(cur: Cursor, max_depth: int) -> SequenceArgs:
    cur.sp()
    return SequenceArgs(cur.sequence_set())


@dataclass(frozen=True)
class CopyArgs:
    """COPY and MOVE (RFC 9051 §6.4.7, §6.4.8 / RFC 6851)."""

    sequence_set: SequenceSet
    mailbox: bytes

    def encode(self) -> bytes:
        return b" " + bytes(self.sequence_set) + b" " + _a(self.mailbox)


def parse_copy(cur: Cursor, max_depth: int) -> CopyArgs:
    cur.sp()
    seq = cur.sequence_set()
    cur.sp()
    return CopyArgs(seq, cur.astring())


@dataclass(frozen=True)
class Store:
    """STORE (RFC 9051 §6.4.6): ``mode`` is "+", "-" or "" (replace); ``modifiers`` (RFC 4466
    store-modifiers) carry UNCHANGEDSINCE (RFC 7162 §3.1.3) for the CONDSTORE work."""

    sequence_set: SequenceSet
    mode: str
    silent: bool
    flags: tuple[str, ...]
    modifiers: Params = ()

    @property
    def unchanged_since(self) -> int | None:
        return condstore.unchanged_since(self.modifiers)  # checked by the parser

    def encode(self) -> bytes:
        item = f"{self.mode}FLAGS{'.SILENT' if self.silent else ''}".encode("ascii")
        flags = b"(" + " ".join(self.flags).encode("ascii") + b")"
        return b" " + bytes(self.sequence_set) + _sp_params(self.modifiers) + b" " + item + b" " + flags


def parse_store(cur: Cursor, max_depth: int) -> Store:
    cur.sp()
    seq = cur.sequence_set()
    cur.sp()
    modifiers: Params = ()
    if cur.peek() == 0x28:
        modifiers = params(cur, max_depth)
        condstore.unchanged_since(modifiers)  # RFC 7162 §7 store-modifier
        cur.sp()
    mode = "+" if cur.maybe(b"+") else "-" if cur.maybe(b"-") else ""
    cur.expect(b"FLAGS")
    silent = cur.maybe(b".SILENT")
    cur.sp()
    if cur.peek() == 0x28:
        flags = cur.flag_list()
    else:
        # RFC 9051 §9 store-att-flags: flag-list / (flag *(SP flag))
        items = [cur.flag()]
        while cur.maybe_sp():
            items.append(cur.flag())
        flags = tuple(items)
    return Store(seq, mode, silent, flags, modifiers)


@dataclass(frozen=True)
class IdArgs:
    """RFC 2971 §3.1: ``ID NIL`` or ``ID ("name" "value" ...)``; values may be NIL."""

    params: tuple[tuple[bytes, bytes | None], ...] | None

    def encode(self) -> bytes:
        if self.params is None:
            return b" NIL"
        items = b" ".join(wire.string(k) + b" " + wire.nstring(v) for k, v in self.params)
        return b" (" + items + b")"


MAX_ID_PAIRS = 30  # RFC 2971 §3.3: at most 30 field-value pairs


def parse_id(cur: Cursor, max_depth: int) -> IdArgs:
    cur.sp()
    if cur.peek_keyword(b"NIL"):
        cur.skip(3)
        return IdArgs(None)
    cur.expect(b"(")
    pairs: list[tuple[bytes, bytes | None]] = []
    while not cur.maybe(b")"):
        if pairs:
            cur.sp()
        key = cur.string()
        cur.sp()
        pairs.append((key, cur.nstring()))
        if len(pairs) > MAX_ID_PAIRS:
            raise ParseError("Too many ID parameters")
    return IdArgs(tuple(pairs))


@dataclass(frozen=True)
class Compress:
    """RFC 4978 §5: ``COMPRESS SP algorithm`` (only DEFLATE is defined; the handler judges it)."""

    mechanism: str

    def encode(self) -> bytes:
        return b" " + self.mechanism.encode("ascii")


def parse_compress(cur: Cursor, max_depth: int) -> Compress:
    cur.sp()
    return Compress(cur.keyword())
