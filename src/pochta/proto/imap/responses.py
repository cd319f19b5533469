"""Typed IMAP server responses and their serialisation (RFC 9051 §7).

Every response has ``encode(ctx) -> bytes`` (CRLF included); ``serialise(response, ctx)`` is the same.
``WireContext`` says how strings and mailbox names are written in this session:

- ``utf8``: IMAP4rev2 or UTF8=ACCEPT is enabled: UTF-8 may appear in quoted strings (RFC 9051 §4.3,
  RFC 6855 §3) and mailbox names are sent as UTF-8.
- ``encode_mailbox``/``decode_mailbox``: for other (IMAP4rev1) sessions, the modified UTF-7 codec
  (RFC 3501 §5.1.3, ``mutf7``) by default; malformed names raise ``mutf7.MalformedName``
  (a ValueError).

Response codes (RFC 9051 §7.1, RFC 5530, RFC 4315 UIDPLUS, RFC 7162 later) are ``Code`` values; a bare
atom may be given as a str.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pochta.proto.imap import mutf7, wire
from pochta.proto.imap.sequence import SequenceSet


@dataclass(frozen=True)
class WireContext:
    utf8: bool = False
    encode_mailbox: Callable[[str], str] = mutf7.modified_utf7_encode
    decode_mailbox: Callable[[bytes], str] = mutf7.modified_utf7_decode

    def mailbox_name(self, raw: bytes) -> str:
        """A mailbox argument as received, as Unicode (the inverse of ``mailbox``).

        UTF-8 sessions: the octets are UTF-8 (RFC 9051 §5.1, RFC 6855 §3; "&" is just "&"); invalid
        UTF-8 raises UnicodeDecodeError. Others: ``decode_mailbox`` (modified UTF-7, which refuses
        malformed input). INBOX spelling and the name rules are the caller's (``pochta.mail.names``).
        """
        if self.utf8:
            return raw.decode("utf-8")
        return self.decode_mailbox(raw)

    def mailbox(self, name: str) -> bytes:
        """A mailbox name as an astring (RFC 9051 §9 mailbox), in the session's encoding."""
        if self.utf8:
            return wire.astring(name.encode("utf-8"), utf8=True)
        return wire.astring(self.encode_mailbox(name).encode("ascii"))

    def mailbox_string(self, name: str) -> bytes:
        """A name where the grammar wants a string (NAMESPACE prefixes), not an astring."""
        if self.utf8:
            return wire.string(name.encode("utf-8"), utf8=True)
        return wire.string(self.encode_mailbox(name).encode("ascii"))

    def string(self, data: bytes | str) -> bytes:
        return wire.string(data.encode("utf-8") if isinstance(data, str) else data, utf8=self.utf8)

    def nstring(self, data: bytes | str | None) -> bytes:
        return b"NIL" if data is None else self.string(data)


DEFAULT_CONTEXT = WireContext()


class Status(enum.Enum):
    OK = "OK"
    NO = "NO"
    BAD = "BAD"
    PREAUTH = "PREAUTH"
    BYE = "BYE"


# RFC 9051 §7.1 and RFC 5530 §3 response codes without arguments.
SIMPLE_CODES = frozenset(
    {
        "ALERT", "PARSE", "READ-ONLY", "READ-WRITE", "TRYCREATE", "UIDNOTSTICKY", "UNAVAILABLE",
        "AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED", "EXPIRED", "PRIVACYREQUIRED", "CONTACTADMIN",
        "NOPERM", "INUSE", "EXPUNGEISSUED", "CORRUPTION", "SERVERBUG", "CLIENTBUG", "CANNOT", "LIMIT",
        "OVERQUOTA", "ALREADYEXISTS", "NONEXISTENT", "NOTSAVED", "HASCHILDREN", "CLOSED", "UNKNOWN-CTE",
        "TOOBIG", "USEATTR", "COMPRESSIONACTIVE", "NOTIFICATIONOVERFLOW",
        "UIDREQUIRED",  # RFC 9586 §3
    }
)  # fmt: skip


@dataclass(frozen=True)
class Code:
    """A response code: ``atom`` plus its already-encoded arguments (RFC 9051 §9 resp-text-code)."""

    atom: str
    args: bytes = b""

    def encode(self) -> bytes:
        head = self.atom.encode("ascii")
        return head + b" " + self.args if self.args else head

    @classmethod
    def uidnext(cls, uid: int) -> Code:
        return cls("UIDNEXT", b"%d" % uid)

    @classmethod
    def uidvalidity(cls, value: int) -> Code:
        return cls("UIDVALIDITY", b"%d" % value)

    @classmethod
    def permanentflags(cls, flags: Sequence[str]) -> Code:
        """RFC 9051 §7.1: include "\\*" when new keywords may be created."""
        return cls("PERMANENTFLAGS", _flag_list(flags))

    @classmethod
    def appenduid(cls, uidvalidity: int, uids: SequenceSet) -> Code:
        """RFC 4315 §3 / RFC 9051 §7.1: APPENDUID uidvalidity uid-set (a set for MULTIAPPEND)."""
        return cls("APPENDUID", b"%d %s" % (uidvalidity, bytes(uids)))

    @classmethod
    def copyuid(cls, uidvalidity: int, source: SequenceSet, dest: SequenceSet) -> Code:
        return cls("COPYUID", b"%d %s %s" % (uidvalidity, bytes(source), bytes(dest)))

    @classmethod
    def mailboxid(cls, objectid: str) -> Code:
        """RFC 8474 §4.1/§4.2: MAILBOXID SP "(" objectid ")"."""
        return cls("MAILBOXID", b"(" + objectid.encode("ascii") + b")")

    @classmethod
    def highestmodseq(cls, modseq: int) -> Code:
        """RFC 7162 §3.1.2.1 HIGHESTMODSEQ mod-sequence-value."""
        return cls("HIGHESTMODSEQ", b"%d" % modseq)

    @classmethod
    def modified(cls, numbers: SequenceSet) -> Code:
        """RFC 7162 §3.1.3 MODIFIED: the messages that failed the UNCHANGEDSINCE test."""
        return cls("MODIFIED", bytes(numbers))

    @classmethod
    def capability(cls, caps: Sequence[str]) -> Code:
        return cls("CAPABILITY", " ".join(caps).encode("ascii"))

    @classmethod
    def badcharset(cls, charsets: Sequence[str] = ()) -> Code:
        if not charsets:
            return cls("BADCHARSET")
        return cls("BADCHARSET", b"(" + b" ".join(wire.astring(c.encode()) for c in charsets) + b")")


def _code(code: Code | str | None) -> bytes:
    if code is None:
        return b""
    if isinstance(code, str):
        if code not in SIMPLE_CODES:  # a typo would otherwise reach clients
            raise ValueError(f"unknown response code {code!r}; use Code() for codes with arguments")
        code = Code(code)
    return b"[" + code.encode() + b"] "


def _text(text: str, utf8: bool) -> bytes:
    # RFC 9051 §9 text: TEXT-CHARs, no CR/LF; non-ASCII only after ENABLE IMAP4rev2 / UTF8=ACCEPT.
    # Human-readable text never breaks framing.
    if not utf8 and not text.isascii():
        text = text.encode("ascii", "replace").decode("ascii")
    data = text.encode("utf-8", "replace").replace(b"\r", b" ").replace(b"\n", b" ").replace(b"\x00", b"")
    return data or b"."


def _flag_list(flags: Sequence[str]) -> bytes:
    return b"(" + " ".join(flags).encode("ascii") + b")"


def flag_list(flags: Sequence[str]) -> bytes:
    """``(\\Seen $Label)``: a flag list in wire form (for handlers that write FETCH lines in bulk)."""
    return _flag_list(flags)


# --- status responses -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tagged:
    """Tagged completion (RFC 9051 §7.1): ``tag OK|NO|BAD [code] text``."""

    tag: bytes
    status: Status
    text: str
    code: Code | str | None = None

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        return b"%s %s %s%s\r\n" % (
            self.tag,
            self.status.value.encode(),
            _code(self.code),
            _text(self.text, ctx.utf8),
        )


@dataclass(frozen=True)
class Untagged:
    """``* OK|NO|BAD|PREAUTH [code] text`` (RFC 9051 §7.1)."""

    status: Status
    text: str
    code: Code | str | None = None

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        return b"* %s %s%s\r\n" % (self.status.value.encode(), _code(self.code), _text(self.text, ctx.utf8))


@dataclass(frozen=True)
class Bye:
    """``* BYE`` (RFC 9051 §7.1.5): the server closes the connection."""

    text: str
    code: Code | str | None = None
    status: Status = Status.BYE

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        return b"* BYE %s%s\r\n" % (_code(self.code), _text(self.text, ctx.utf8))


@dataclass(frozen=True)
class Continuation:
    """``+ text`` or ``+ base64`` (RFC 9051 §7.6). ``data`` (raw bytes) is base64-encoded here."""

    text: str = "Ready"
    data: bytes | None = None

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        if self.data is not None:
            return b"+ " + base64.b64encode(self.data) + b"\r\n"
        return b"+ " + _text(self.text, ctx.utf8) + b"\r\n"


# --- server and mailbox status --------------------------------------------------------------------


@dataclass(frozen=True)
class Capability:
    caps: Sequence[str]

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        return b"* CAPABILITY " + " ".join(self.caps).encode("ascii") + b"\r\n"


@dataclass(frozen=True)
class Enabled:
    """RFC 5161 §3.2 / RFC 9051 §7.2.1."""

    caps: Sequence[str]

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        return b"".join([b"* ENABLED", *(b" " + c.encode("ascii") for c in self.caps), b"\r\n"])


@dataclass(frozen=True)
class Id:
    """RFC 2971 §3.2: ``* ID (field value ...)`` or ``* ID NIL``."""

    params: Sequence[tuple[str, str | None]] | None

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        if not self.params:
            return b"* ID NIL\r\n"
        items = b" ".join(ctx.string(k) + b" " + ctx.nstring(v) for k, v in self.params)
        return b"* ID (" + items + b")\r\n"


@dataclass(frozen=True)
class NamespaceDescr:
    prefix: str
    delimiter: str | None


@dataclass(frozen=True)
class Namespace:
    """RFC 9051 §7.3.5 / RFC 2342: personal, other users', shared."""

    personal: Sequence[NamespaceDescr] = ()
    other: Sequence[NamespaceDescr] = ()
    shared: Sequence[NamespaceDescr] = ()

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        def one(items: Sequence[NamespaceDescr]) -> bytes:
            if not items:
                return b"NIL"
            parts = (
                b"(" + ctx.mailbox_string(d.prefix) + b" " + _delimiter(d.delimiter) + b")" for d in items
            )
            return b"(" + b"".join(parts) + b")"

        return b"* NAMESPACE %s %s %s\r\n" % (one(self.personal), one(self.other), one(self.shared))


def _delimiter(delimiter: str | None) -> bytes:
    if delimiter is None:
        return b"NIL"
    return wire.string(delimiter.encode("ascii"))  # DQUOTE QUOTED-CHAR DQUOTE


@dataclass(frozen=True)
class Flags:
    flags: Sequence[str]

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        return b"* FLAGS " + _flag_list(self.flags) + b"\r\n"


@dataclass(frozen=True)
class Exists:
    count: int

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        return b"* %d EXISTS\r\n" % self.count


@dataclass(frozen=True)
class Recent:
    """IMAP4rev1 only (RFC 3501 §7.3.2; obsolete in RFC 9051)."""

    count: int

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        return b"* %d RECENT\r\n" % self.count


@dataclass(frozen=True)
class Expunge:
    seq: int

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        return b"* %d EXPUNGE\r\n" % self.seq


@dataclass(frozen=True)
class Vanished:
    """``* VANISHED [(EARLIER)] uids`` (RFC 7162 §3.2.10): UIDs removed from the mailbox."""

    uids: SequenceSet
    earlier: bool = False

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        return b"* VANISHED %s%s\r\n" % (b"(EARLIER) " if self.earlier else b"", bytes(self.uids))


@dataclass(frozen=True)
class ListItem:
    """``* LIST (attrs) "/" name [(extended items)]`` (RFC 9051 §7.3.1, RFC 5258 §4, RFC 6154).

    ``childinfo``: RECURSIVEMATCH (RFC 5258 §3.5); ``oldname``: RFC 9051 §6.3.9. ``lsub`` writes LSUB.
    """

    attributes: Sequence[str]
    delimiter: str | None
    name: str
    childinfo: Sequence[str] = ()
    oldname: str | None = None
    lsub: bool = False

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        out = [
            b"* LSUB (" if self.lsub else b"* LIST (",
            " ".join(self.attributes).encode("ascii"),
            b") ",
            _delimiter(self.delimiter),
            b" ",
            ctx.mailbox(self.name),
        ]
        ext = []
        if self.childinfo:
            ext.append(b'"CHILDINFO" (' + b" ".join(b'"%s"' % c.encode() for c in self.childinfo) + b")")
        if self.oldname is not None:
            ext.append(b'"OLDNAME" (' + ctx.mailbox(self.oldname) + b")")
        if ext:
            out.append(b" (" + b" ".join(ext) + b")")
        out.append(b"\r\n")
        return b"".join(out)


@dataclass(frozen=True)
class StatusResponse:
    """``* STATUS name (MESSAGES n ...)`` (RFC 9051 §7.3.2); items in the order given."""

    name: str
    items: Sequence[tuple[str, int | Raw]]  # Raw: a value sent as is (MAILBOXID's "(id)")

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        values = b" ".join(
            k.encode("ascii") + b" " + (v.data if isinstance(v, Raw) else b"%d" % v) for k, v in self.items
        )
        return b"* STATUS " + ctx.mailbox(self.name) + b" (" + values + b")\r\n"


@dataclass(frozen=True)
class Quota:
    """``* QUOTA root (STORAGE 10 512 MESSAGE 1 100)`` (RFC 9208 §4.2.1): (resource, usage, limit)
    triplets; an empty list says the root has no limit."""

    root: str
    resources: Sequence[tuple[str, int, int]]

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        items = b" ".join(
            b"%s %d %d" % (name.encode("ascii"), used, limit) for name, used, limit in self.resources
        )
        return b"* QUOTA " + _root(self.root, ctx) + b" (" + items + b")\r\n"


@dataclass(frozen=True)
class QuotaRoot:
    """``* QUOTAROOT mailbox root...`` (RFC 9208 §4.2.2); no roots: the mailbox has none."""

    mailbox: str
    roots: Sequence[str]

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        return b"".join(
            [b"* QUOTAROOT ", ctx.mailbox(self.mailbox), *(b" " + _root(r, ctx) for r in self.roots), b"\r\n"]
        )


@dataclass(frozen=True)
class Metadata:
    """``* METADATA mailbox (entry value ...)`` (RFC 5464 §4.4.1); ``""`` is the server (§4.1).

    ``with_values=False``: the unsolicited form, entry names only (§4.4.2). A value with NUL goes as
    a literal8 (§5 value = nstring / literal8), NIL for an entry that has none."""

    mailbox: str
    entries: Sequence[tuple[str, bytes | None]]
    with_values: bool = True

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        head = b"* METADATA " + ctx.mailbox(self.mailbox) + b" "
        if not self.with_values:
            return head + b" ".join(wire.astring(e.encode("ascii")) for e, _ in self.entries) + b"\r\n"
        items = []
        for name, value in self.entries:
            if value is None:
                encoded = b"NIL"
            elif b"\x00" in value:
                encoded = wire.literal8(value)
            else:
                encoded = wire.string(value, utf8=ctx.utf8)
            items.append(wire.astring(name.encode("ascii")) + b" " + encoded)
        return head + b"(" + b" ".join(items) + b")\r\n"


def _root(name: str, ctx: WireContext) -> bytes:
    # RFC 9208 §7: quota-root-name = astring ("" is a quoted empty string).
    return wire.astring(name.encode("utf-8"), utf8=ctx.utf8)


@dataclass(frozen=True)
class Acl:
    """``* ACL mailbox identifier rights ...`` (RFC 4314 §3.6)."""

    mailbox: str
    entries: Sequence[tuple[str, str]]  # (identifier, rights)

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        items = b"".join(b" " + _astr(who, ctx) + b" " + _astr(rights, ctx) for who, rights in self.entries)
        return b"* ACL " + ctx.mailbox(self.mailbox) + items + b"\r\n"


@dataclass(frozen=True)
class ListRights:
    """``* LISTRIGHTS mailbox identifier required optional ...`` (RFC 4314 §3.7)."""

    mailbox: str
    identifier: str
    required: str
    optional: Sequence[str]

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        head = b"* LISTRIGHTS " + ctx.mailbox(self.mailbox) + b" " + _astr(self.identifier, ctx)
        rights = b"".join(b" " + _astr(r, ctx) for r in (self.required, *self.optional))
        return head + rights + b"\r\n"


@dataclass(frozen=True)
class MyRights:
    """``* MYRIGHTS mailbox rights`` (RFC 4314 §3.8; after a LIST item with RFC 8440)."""

    mailbox: str
    rights: str

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        return b"* MYRIGHTS " + ctx.mailbox(self.mailbox) + b" " + _astr(self.rights, ctx) + b"\r\n"


def _astr(text: str, ctx: WireContext) -> bytes:
    # RFC 4314 §7: identifier = astring, rights = astring (an atom when it can be one).
    return wire.astring(text.encode("utf-8"), utf8=ctx.utf8)


@dataclass(frozen=True)
class Search:
    """IMAP4rev1 ``* SEARCH n ...`` (RFC 3501 §7.2.5; obsolete-search-response in RFC 9051), with
    ``(MODSEQ n)`` at the end when the program had a MODSEQ key and something matched (RFC 7162 §3.1.6)."""

    numbers: Sequence[int]
    modseq: int | None = None

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        tail = b" (MODSEQ %d)" % self.modseq if self.modseq is not None and self.numbers else b""
        return b"".join([b"* SEARCH", *(b" %d" % n for n in self.numbers), tail, b"\r\n"])


@dataclass(frozen=True)
class ESearch:
    """``* ESEARCH (TAG "t") UID MIN n MAX n ALL set COUNT n`` (RFC 9051 §7.3.4, RFC 4731 §3.1)."""

    tag: bytes | None = None
    uid: bool = False
    min: int | None = None
    max: int | None = None
    all: SequenceSet | None = None
    count: int | None = None
    extra: Sequence[tuple[str, bytes]] = ()  # other return data, already encoded (MODSEQ later)
    # RFC 7377 §2.1 (MULTISEARCH): the MAILBOX and UIDVALIDITY correlators beside TAG.
    mailbox: str | None = None
    uidvalidity: int | None = None

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        out = [b"* ESEARCH"]
        if self.tag is not None:
            correlators = b"TAG " + wire.string(self.tag)
            if self.mailbox is not None:
                correlators += b" MAILBOX " + ctx.mailbox(self.mailbox)
            if self.uidvalidity is not None:
                correlators += b" UIDVALIDITY %d" % self.uidvalidity
            out.append(b" (" + correlators + b")")
        if self.uid:
            out.append(b" UID")
        if self.min is not None:
            out.append(b" MIN %d" % self.min)
        if self.max is not None:
            out.append(b" MAX %d" % self.max)
        if self.all is not None and self.all.ranges:
            out.append(b" ALL " + bytes(self.all))  # RFC 4731 §3.1: ALL is omitted for no match
        if self.count is not None:
            out.append(b" COUNT %d" % self.count)
        out.extend(b" " + k.encode("ascii") + b" " + v for k, v in self.extra)
        out.append(b"\r\n")
        return b"".join(out)


# --- FETCH ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A value already in wire form (ENVELOPE/BODYSTRUCTURE from ``pochta.mime.imapform``)."""

    data: bytes


@dataclass(frozen=True)
class Body:
    """Section content: nstring (literal when needed) or literal8 when ``binary`` (RFC 3516 §4.2)."""

    data: bytes | None
    binary: bool = False


@dataclass(frozen=True)
class StreamedBody:
    """Section content the handler streams itself (from the blob file): only ``{size}\\r\\n`` (or
    ``~{size}\\r\\n``) is serialised; see ``Fetch.encode_parts``. The octets must not contain NUL
    unless ``binary``."""

    size: int
    binary: bool = False


FetchValue = int | str | Sequence[str] | datetime | Raw | Body | StreamedBody


def _fetch_value(value: FetchValue, ctx: WireContext) -> bytes:
    if isinstance(value, bool | StreamedBody):  # pragma: no cover - guarded by typing and the caller
        raise TypeError("not a FETCH value here")
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, Raw):
        return value.data
    if isinstance(value, Body):
        if value.data is None:
            return b"NIL"
        if value.binary:
            return wire.literal8(value.data)
        return wire.literal(value.data) if b"\x00" not in value.data else _nul_free(value.data)
    if isinstance(value, datetime):
        return b'"' + format_datetime(value).encode("ascii") + b'"'
    if isinstance(value, str):
        return ctx.string(value)
    return _flag_list(value)


def _nul_free(data: bytes) -> bytes:
    # A non-binary body may not carry NUL (RFC 9051 §4.3 CHAR8); clients use BINARY for such data.
    # Like Dovecot, NUL is sent as 0x80 so that the octet count and offsets stay unchanged.
    return wire.literal(data.replace(b"\x00", b"\x80"))


@dataclass(frozen=True)
class Fetch:
    """``* n FETCH (NAME value ...)`` (RFC 9051 §7.5.2). Names as ``FetchAtt.response_name()`` gives.

    ``uidfetch``: ``* uid UIDFETCH (...)`` instead, ``seq`` holding the message's UID (RFC 9586 §3.3:
    once UIDONLY is enabled, no response carries a message number)."""

    seq: int
    items: Sequence[tuple[str, FetchValue]] = field(default_factory=tuple)
    uidfetch: bool = False

    def encode(self, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
        parts = self.encode_parts(ctx)
        if len(parts) != 1 or not isinstance(parts[0], bytes):
            raise ValueError("a FETCH with a StreamedBody is written with encode_parts")
        return parts[0]

    def encode_parts(self, ctx: WireContext = DEFAULT_CONTEXT) -> list[bytes | StreamedBody]:
        """The response as octets with a ``StreamedBody`` where the handler writes that many octets.

        ``[b"* 1 FETCH (UID 7 BODY[] {5000}\\r\\n", StreamedBody(5000), b" FLAGS (\\Seen))\\r\\n"]``
        """
        parts: list[bytes | StreamedBody] = []
        out = [b"* %d %s (" % (self.seq, b"UIDFETCH" if self.uidfetch else b"FETCH")]
        for i, (name, value) in enumerate(self.items):
            out.append((b" " if i else b"") + name.encode("ascii") + b" ")
            if isinstance(value, StreamedBody):
                out.append(wire.literal_prefix(value.size, binary=value.binary))
                parts.append(b"".join(out))
                parts.append(value)
                out = []
            else:
                out.append(_fetch_value(value, ctx))
        out.append(b")\r\n")
        parts.append(b"".join(out))
        return parts


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_datetime(value: datetime) -> str:
    """RFC 9051 §9 date-time: ``dd-Mon-yyyy hh:mm:ss +zzzz`` (day padded with a space)."""
    offset = value.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    month = _MONTHS[value.month - 1]
    return (
        f"{value.day:2d}-{month}-{value.year:04d} {value.hour:02d}:{value.minute:02d}:{value.second:02d} "
        f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
    )


Response = (
    Tagged
    | Untagged
    | Bye
    | Continuation
    | Capability
    | Enabled
    | Id
    | Namespace
    | Flags
    | Exists
    | Recent
    | Expunge
    | Vanished
    | ListItem
    | StatusResponse
    | Quota
    | QuotaRoot
    | Acl
    | ListRights
    | MyRights
    | Metadata
    | Search
    | ESearch
    | Fetch
)


def serialise(response: Response, ctx: WireContext = DEFAULT_CONTEXT) -> bytes:
    return response.encode(ctx)
