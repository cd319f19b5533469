"""FETCH arguments (RFC 9051 §6.4.5, §9 fetch-att; RFC 3516 BINARY; RFC 3501 RFC822.* for rev1).

``FetchAtt`` is one requested data item; ``response_name()`` is how its value is labelled in the
``* n FETCH (...)`` response (RFC 9051 §7.5.2: BODY.PEEK answers as BODY, a partial as ``<origin>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pochta.proto.imap import condstore, wire
from pochta.proto.imap.args import Params, encode_params, params
from pochta.proto.imap.sequence import SequenceSet
from pochta.proto.imap.wire import Cursor, ParseError

# Items without a section; RFC822* are IMAP4rev1 (RFC 3501 §6.4.5). Extensions add their names here:
# EMAILID and THREADID (RFC 8474 §5.3), SAVEDATE (RFC 8514 §4.2), PREVIEW (RFC 8970 §3.1), MODSEQ
# (RFC 7162 §3.1.4).
SIMPLE_ITEMS = frozenset(
    {"ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "BODY", "BODYSTRUCTURE", "UID", "RFC822",
     "RFC822.HEADER", "RFC822.TEXT", "EMAILID", "THREADID", "SAVEDATE", "PREVIEW", "MODSEQ"}
)  # fmt: skip
# RFC 8970 §6 preview-mod.
PREVIEW_MODIFIERS = frozenset({"LAZY"})
# RFC 9051 §6.4.5 macros.
MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
SECTION_TEXTS = frozenset({"HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"})

_NAME = re.compile(rb"[A-Za-z0-9.]+")
_PART = re.compile(rb"[1-9][0-9]{0,9}(?:\.[1-9][0-9]{0,9})*")
_TEXT = re.compile(rb"[A-Za-z.]+")
_PARTIAL = re.compile(rb"<([0-9]{1,19})\.([0-9]{1,19})>")
_FIELD_NAME = re.compile(rb"[!-9;-~]+")  # RFC 5322 §3.6.8 ftext


@dataclass(frozen=True, slots=True)
class Section:
    """RFC 9051 §9 section-spec: part numbers, then HEADER, HEADER.FIELDS[.NOT], TEXT or MIME."""

    part: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[bytes, ...] = ()

    def encode(self) -> bytes:
        out = b".".join(b"%d" % n for n in self.part)
        if self.text is not None:
            out += (b"." if out else b"") + self.text.encode("ascii")
            if self.fields:
                out += b" (" + b" ".join(wire.astring(f) for f in self.fields) + b")"
        return out


@dataclass(frozen=True, slots=True)
class FetchAtt:
    """``name`` is ENVELOPE, FLAGS, ..., BODY (with or without a section), BINARY or BINARY.SIZE."""

    name: str
    section: Section | None = None
    partial: tuple[int, int] | None = None  # (offset, length), RFC 9051 §9 partial
    peek: bool = False
    modifiers: tuple[str, ...] = ()  # RFC 8970 §4 PREVIEW (LAZY)

    @property
    def sets_seen(self) -> bool:
        """RFC 9051 §6.4.5: BODY[...], BINARY[...] without PEEK set \\Seen; RFC 3501: RFC822(.TEXT)."""
        if self.name in ("BODY", "BINARY"):
            return self.section is not None and not self.peek
        return self.name in ("RFC822", "RFC822.TEXT")

    def response_name(self) -> str:
        return self._name(response=True).decode("ascii")

    def encode(self) -> bytes:
        return self._name(response=False)

    def _name(self, *, response: bool) -> bytes:
        name = self.name.encode("ascii")
        if self.modifiers and not response:
            return name + b" (" + " ".join(self.modifiers).encode("ascii") + b")"
        if self.section is None:
            return name
        if self.peek and not response:
            name += b".PEEK"
        out = name + b"[" + self.section.encode() + b"]"
        if self.partial is not None:
            out += b"<%d>" % self.partial[0] if response else b"<%d.%d>" % self.partial
        return out


@dataclass(frozen=True)
class FetchArgs:
    sequence_set: SequenceSet
    atts: tuple[FetchAtt, ...]
    macro: str | None = None  # ALL, FAST or FULL as given (atts holds its expansion)
    modifiers: Params = ()  # RFC 4466 fetch-modifiers: CHANGEDSINCE, VANISHED (RFC 7162)
    parenthesised: bool = field(default=True, compare=False)

    @property
    def options(self) -> condstore.FetchOptions:
        """RFC 7162 CHANGEDSINCE / VANISHED (checked by the parser)."""
        return condstore.fetch_options(self.modifiers)

    def encode(self) -> bytes:
        out = b" " + bytes(self.sequence_set) + b" "
        if self.macro is not None:
            out += self.macro.encode("ascii")
        elif len(self.atts) == 1 and not self.parenthesised:
            out += self.atts[0].encode()
        else:
            out += b"(" + b" ".join(a.encode() for a in self.atts) + b")"
        if self.modifiers:
            out += b" " + encode_params(self.modifiers)
        return out


def _section(cur: Cursor, *, binary: bool) -> Section:
    cur.expect(b"[")
    part: tuple[int, ...] = ()
    m = cur.match_regex(_PART)
    if m:
        part = tuple(int(p) for p in m.group().split(b"."))
        if any(p > 0xFFFFFFFF for p in part):
            raise ParseError("Section part number out of range")
    text = None
    fields: tuple[bytes, ...] = ()
    if not binary and (not part or cur.peek() == 0x2E):
        if part:
            cur.skip(1)
        t = cur.match_regex(_TEXT)
        if t:
            text = t.group().decode("ascii").upper()
            # RFC 9051 §9: MIME only after a part number (section-text vs. section-msgtext).
            if text not in SECTION_TEXTS or (text == "MIME" and not part):
                raise ParseError("Invalid section")
            if text.startswith("HEADER.FIELDS"):
                cur.sp()
                fields = _header_list(cur)
        elif part:
            raise ParseError("Invalid section")
    cur.expect(b"]")
    return Section(part, text, fields)


def _header_list(cur: Cursor) -> tuple[bytes, ...]:
    """RFC 9051 §9 header-list = "(" header-fld-name *(SP header-fld-name) ")"."""
    cur.expect(b"(")
    names = []
    while True:
        name = cur.astring()
        if not _FIELD_NAME.fullmatch(name):
            raise ParseError("Invalid header field name")
        names.append(name)
        if cur.maybe(b")"):
            return tuple(names)
        cur.sp()


def _partial(cur: Cursor) -> tuple[int, int] | None:
    m = cur.match_regex(_PARTIAL)
    if m is None:
        if cur.peek() == 0x3C:
            raise ParseError("Invalid partial")
        return None
    offset, length = int(m.group(1)), int(m.group(2))
    if length == 0 or offset > wire.MAX_NUMBER64 or length > wire.MAX_NUMBER64:
        raise ParseError("Invalid partial")  # RFC 9051 §9 partial: number64 "." nz-number64
    return offset, length


def fetch_att(cur: Cursor) -> FetchAtt:
    m = cur.match_regex(_NAME)
    if m is None:
        raise ParseError("Expected a FETCH item")
    name = m.group().decode("ascii").upper()
    if name in ("BODY", "BODY.PEEK") and cur.peek() == 0x5B:
        return FetchAtt("BODY", _section(cur, binary=False), _partial(cur), peek=name == "BODY.PEEK")
    if name in ("BINARY", "BINARY.PEEK"):
        # RFC 3516 §4.2 / RFC 9051 §9: "BINARY" [".PEEK"] section-binary [partial]
        return FetchAtt("BINARY", _section(cur, binary=True), _partial(cur), peek=name == "BINARY.PEEK")
    if name == "BINARY.SIZE":
        return FetchAtt("BINARY.SIZE", _section(cur, binary=True))
    if name == "PREVIEW":
        return FetchAtt("PREVIEW", modifiers=_preview_modifiers(cur))
    if name in SIMPLE_ITEMS:
        return FetchAtt(name)
    raise ParseError(f"Unknown FETCH item {name[:40]}")


def _preview_modifiers(cur: Cursor) -> tuple[str, ...]:
    """RFC 8970 §6: "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"]. "(" after the space
    starts the modifiers only when a preview-mod follows: else it is FETCH's own (RFC 4466
    fetch-modifiers, ``FETCH 1 PREVIEW (CHANGEDSINCE 5)``)."""
    if not any(cur.peek_is(b" (" + mod.encode("ascii")) for mod in PREVIEW_MODIFIERS):
        return ()
    cur.skip(2)
    mods = [cur.keyword()]
    while not cur.maybe(b")"):
        cur.sp()
        mods.append(cur.keyword())
    for mod in mods:
        if mod not in PREVIEW_MODIFIERS:
            raise ParseError(f"Unknown PREVIEW modifier {mod[:40]}")
    return tuple(dict.fromkeys(mods))


def parse_fetch(cur: Cursor, max_depth: int) -> FetchArgs:
    cur.sp()
    seq = cur.sequence_set()
    cur.sp()
    macro = None
    parenthesised = False
    if cur.maybe(b"("):
        parenthesised = True
        atts = [fetch_att(cur)]
        while not cur.maybe(b")"):
            cur.sp()
            atts.append(fetch_att(cur))
    else:
        for name in MACROS:
            if cur.peek_keyword(name.encode()):
                cur.skip(len(name))
                macro = name
                break
        atts = [FetchAtt(n) for n in MACROS[macro]] if macro else [fetch_att(cur)]
    modifiers: Params = ()
    if cur.maybe_sp():
        modifiers = params(cur, max_depth)
        condstore.fetch_options(modifiers)  # RFC 7162 §7 fetch-modifier values
    return FetchArgs(seq, tuple(atts), macro, modifiers, parenthesised)
