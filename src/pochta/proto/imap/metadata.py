"""Arguments of GETMETADATA and SETMETADATA (RFC 5464 §4.2, §4.3, grammar §5) and the entry name rules.

Entry names are checked here, once, for every command that uses them (RFC 5464 §3.2: an invalid name
is a BAD in any command), and returned lower-cased (§3.2: "Entry names are case-insensitive"), which
is how the store keeps them and how responses write them. Mailbox names stay the octets the client
sent; ``""`` means the server (§4.1). Values are octets (``bytes``) or None for NIL (a SETMETADATA
NIL removes the entry); a literal8 ``~{n}`` carries any octet, NUL included (§5 value).
"""

from __future__ import annotations

from dataclasses import dataclass

from pochta.proto.imap import wire
from pochta.proto.imap.wire import Cursor, ParseError

__all__ = [
    "DEPTH_INFINITY",
    "GetMetadata",
    "SetMetadata",
    "check_entry",
    "parse_getmetadata",
    "parse_setmetadata",
]

DEPTH_INFINITY = -1  # RFC 5464 §4.2.2 "infinity": every entry below
_SCOPES = ("/private", "/shared")


def check_entry(raw: bytes, *, for_set: bool = False) -> str:
    """The entry name ``raw`` lower-cased, or ParseError (a BAD) saying which rule it breaks.

    ``for_set``: a name a value is given to (SETMETADATA), which must name an entry, not a scope:
    at least two components, four under ``/<scope>/vendor/`` (RFC 5464 §3.2). GETMETADATA may name
    a scope (``/shared``) or any node, to be read with DEPTH (§4.2.2).
    """
    for octet in raw:
        # RFC 5464 §3.2: no non-ASCII characters and no control characters in entry names.
        if octet >= 0x7F or octet < 0x20:
            raise ParseError("Entry name can't contain non-ASCII or control characters")
    name = raw.decode("ascii").lower()
    if "*" in name or "%" in name:
        raise ParseError("Entry name can't contain '*' or '%'")  # RFC 5464 §3.2
    # RFC 5464 §3.2: the first component is the scope, "/private" (per user) or "/shared".
    scope = next((s for s in _SCOPES if name == s or name.startswith(s + "/")), None)
    if scope is None:
        raise ParseError("Entry name must begin with /private or /shared")
    if "//" in name:
        raise ParseError("Entry name can't contain consecutive '/'")  # RFC 5464 §3.2
    if name.endswith("/"):
        raise ParseError("Entry name can't end with '/'")  # RFC 5464 §3.2
    if for_set:
        parts = name.split("/")[1:]
        # RFC 5464 §3.2: at least 2 components; at least 4 under /shared/vendor/ or /private/vendor/.
        if len(parts) < 2:
            raise ParseError("Entry name needs a component after the scope")
        if parts[1] == "vendor" and len(parts) < 4:
            raise ParseError("Vendor entry names need /scope/vendor/<vendor-token>/<name>")
    return name


def _entry(cur: Cursor, *, for_set: bool = False) -> str:
    if cur.at_literal():
        lit = cur.literal()
        if lit.binary or lit.streamed:
            raise ParseError("An entry name is a string, not a literal8")  # RFC 5464 §5: entry = astring
        return check_entry(bytes(lit), for_set=for_set)
    # RFC 5464 §5: entry = astring; read as far as "*" and "%" too, to say why such a name is refused.
    try:
        raw = cur.list_mailbox()
    except ParseError:
        raise ParseError("Expected an entry name") from None
    return check_entry(raw, for_set=for_set)


@dataclass(frozen=True)
class GetMetadata:
    mailbox: bytes  # b"": the server's entries (RFC 5464 §4.1)
    entries: tuple[str, ...]  # checked and lower-cased, in the order given, without repeats
    maxsize: int | None = None  # RFC 5464 §4.2.1
    depth: int = 0  # 0, 1 or DEPTH_INFINITY (RFC 5464 §4.2.2: no DEPTH is DEPTH 0)

    def encode(self) -> bytes:
        options: list[bytes] = []
        if self.maxsize is not None:
            options.append(b"MAXSIZE %d" % self.maxsize)
        if self.depth:
            options.append(b"DEPTH " + (b"infinity" if self.depth == DEPTH_INFINITY else b"%d" % self.depth))
        head = b" (" + b" ".join(options) + b")" if options else b""
        names = b" ".join(wire.astring(e.encode("ascii")) for e in self.entries)
        return head + b" " + wire.astring(self.mailbox, utf8=True) + b" (" + names + b")"


@dataclass(frozen=True)
class SetMetadata:
    mailbox: bytes  # b"": the server's entries (RFC 5464 §4.1)
    values: tuple[tuple[str, bytes | None], ...]  # (entry, value or None for NIL), in the order given

    def encode(self) -> bytes:
        items: list[bytes] = []
        for name, value in self.values:
            if value is None:
                encoded = b"NIL"
            elif b"\x00" in value:
                encoded = wire.literal8(value)
            else:
                encoded = wire.string(value, utf8=True)
            items.append(wire.astring(name.encode("ascii")) + b" " + encoded)
        return b" " + wire.astring(self.mailbox, utf8=True) + b" (" + b" ".join(items) + b")"


def _options(cur: Cursor) -> tuple[int | None, int]:
    # RFC 5464 §5: getmetadata-options = "(" getmetadata-option *(SP getmetadata-option) ")"
    cur.expect(b"(")
    maxsize: int | None = None
    depth: int | None = None
    while True:
        name = cur.keyword()
        cur.sp()
        if name == "MAXSIZE" and maxsize is None:
            maxsize = cur.number()  # RFC 5464 §5: maxsize-opt = "MAXSIZE" SP number
        elif name == "DEPTH" and depth is None:
            # RFC 5464 §5: scope-opt = "DEPTH" SP ("0" / "1" / "infinity")
            value = cur.ext_atom().lower()
            if value not in (b"0", b"1", b"infinity"):
                raise ParseError("DEPTH must be 0, 1 or infinity")
            depth = DEPTH_INFINITY if value == b"infinity" else int(value)
        elif name in ("MAXSIZE", "DEPTH"):
            raise ParseError(f"GETMETADATA option {name} given twice")
        else:
            raise ParseError(f"Unknown GETMETADATA option {name}")
        if cur.maybe(b")"):
            return maxsize, depth or 0
        cur.sp()


def parse_getmetadata(cur: Cursor, max_depth: int) -> GetMetadata:
    # RFC 5464 §5: getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries
    cur.sp()
    maxsize, depth = None, 0
    if cur.peek() == 0x28:  # "(": a mailbox name (astring) never starts with one
        maxsize, depth = _options(cur)
        cur.sp()
    mailbox = cur.astring()
    cur.sp()
    names: list[str] = []
    # RFC 5464 §5: entries = entry / "(" entry *(SP entry) ")"
    if cur.maybe(b"("):
        names.append(_entry(cur))
        while not cur.maybe(b")"):
            cur.sp()
            names.append(_entry(cur))
    else:
        names.append(_entry(cur))
    return GetMetadata(mailbox, tuple(dict.fromkeys(names)), maxsize, depth)


def _value(cur: Cursor) -> bytes | None:
    # RFC 5464 §5: value = nstring / literal8
    if cur.at_literal():
        lit = cur.literal()
        if lit.streamed:
            raise ParseError("Literal too big for a value", "TOOBIG")
        return bytes(lit)
    if cur.peek_keyword(b"NIL"):
        cur.skip(3)
        return None
    if cur.peek() == 0x22:
        return cur.quoted()
    raise ParseError("Expected a value: a string, a literal8 or NIL")


def parse_setmetadata(cur: Cursor, max_depth: int) -> SetMetadata:
    # RFC 5464 §5: setmetadata = "SETMETADATA" SP mailbox SP entry-values
    cur.sp()
    mailbox = cur.astring()
    cur.sp()
    cur.expect(b"(")  # entry-values = "(" entry-value *(SP entry-value) ")"
    values: list[tuple[str, bytes | None]] = []
    while True:
        name = _entry(cur, for_set=True)
        cur.sp()
        if any(name == seen for seen, _ in values):
            # RFC 5464 §4.3 sets every entry or none: an entry given two values could mean either.
            raise ParseError(f"Entry {name} given twice")
        values.append((name, _value(cur)))
        if cur.maybe(b")"):
            break
        cur.sp()
    return SetMetadata(mailbox, tuple(values))
