"""FETCH body sections: which octets of the stored message BODY[...], BINARY[...] and
BINARY.SIZE[...] send (RFC 9051 §6.4.5, §6.4.5.1, §7.5.2; RFC 3516; RFC 3501 RFC822.*).

Pure: no I/O. Offsets come from the part tree parsed at delivery (``pochta.mime.Part``); the
caller reads the blob. ``plan(root, size, att)`` returns a ``SectionPlan``:

- ``extent is None``: the section does not exist. BODY/BINARY answer NIL (RFC 9051 §6.4.5 says
  nothing of missing parts; NIL is what Cyrus and mox send, and it keeps a FETCH over many
  messages going); BINARY.SIZE answers ``size`` 0 (a number is required, NIL is no size).
- ``stream`` set: send exactly those blob octets (partial already applied) as a literal, as
  ``StreamedBody``; ``binary`` says literal8 (True), literal (False) or, when None, literal8 only
  if the octets contain NUL (RFC 3516 §4.3 SHOULD; find out with ``has_nul`` before writing the
  literal prefix). BODY[...] streams with ``binary`` False; NUL guarding is the caller's as for
  every BODY literal.
- otherwise read ``read`` (never more than the section: the header alone for HEADER.FIELDS) and
  call ``finish(plan, data) -> Built`` (header subset or decoded BINARY, then the partial), or
  ``finish_size(plan, data) -> int`` for BINARY.SIZE; ``size`` is set when no read is needed.

Decisions: BINARY[] is the whole message as stored (RFC 3516 §4.2 section-binary may be
empty; a message is 7bit/8bit/binary, RFC 2045 §6.4). BINARY of a multipart is refused with NO
(RFC 9051 §6.4.5: "only ... for leaf body parts"); of a message/rfc822 part it is the encapsulated
message, decoded of the part's encoding (as Dovecot; RFC 3516 has no such restriction); opaque
parts, kept as leaves by the parser's limits, are leaves and decode per their CTE.
HEADER.FIELDS output keeps each selected field's octets (folded lines included) and appends the
header's own blank line only when it has one (RFC 9051 §6.4.5.1: except a message with no body
and no blank line). Base64 ignores octets outside the alphabet and stops at "=" (RFC 2045 §6.8);
quoted-printable drops trailing whitespace and keeps malformed "=" sequences (RFC 2045 §6.7).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pochta.mime.model import Part, part_at
from pochta.proto.imap.fetch import FetchAtt, Section

IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary"})  # RFC 2045 §6.2: no decoding
KNOWN_ENCODINGS = IDENTITY_ENCODINGS | {"base64", "quoted-printable"}
# RFC 3501 §6.4.5: RFC822 = BODY[], RFC822.HEADER = BODY.PEEK[HEADER], RFC822.TEXT = BODY[TEXT].
RFC822_SECTIONS = {
    "RFC822": Section(),
    "RFC822.HEADER": Section(text="HEADER"),
    "RFC822.TEXT": Section(text="TEXT"),
}
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_B64_JUNK = bytes(sorted(set(range(256)) - set(_B64_ALPHABET)))
# Anchored at the start of a whitespace run and possessive: linear on long runs of blanks.
_QP_TRAILING_WSP = re.compile(rb"(?<![ \t])[ \t]++(?=\r?\n|\Z)")
# RFC 5322 §3.6.8 ftext, 8-bit octets tolerated as the MIME parser does (RFC 7103 §7.4).
_FIELD_NAME = re.compile(rb"[^\x00-\x20\x7f:]+")
_NUL_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Extent:
    """A byte range ``[start, end)`` of the stored message."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Built:
    """Octets built here; ``binary``: send as literal8 (RFC 3516 §4.2: they contain NUL)."""

    data: bytes
    binary: bool = False


class SectionError(Exception):
    """The item fails the FETCH with NO; ``code`` is the response code, e.g. UNKNOWN-CTE."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class SectionPlan:
    """What one BODY[...]/BINARY[...]/BINARY.SIZE[...] item needs; see the module docstring."""

    name: str  # the response item name, FetchAtt.response_name()
    kind: str  # "BODY", "BINARY" or "BINARY.SIZE"
    extent: Extent | None  # the section in the blob; None: it does not exist
    stream: Extent | None = None  # send these blob octets as they are; no finish()
    binary: bool | None = False  # for ``stream``: literal8, literal, or literal8 iff NUL (None)
    fields: tuple[bytes, ...] | None = None  # HEADER.FIELDS names: finish() subsets the header
    negate: bool = False  # HEADER.FIELDS.NOT
    encoding: str | None = None  # BINARY/BINARY.SIZE: the CTE finish() decodes
    partial: tuple[int, int] | None = None  # applied by finish() after subsetting/decoding
    size: int | None = None  # BINARY.SIZE known without reading

    @property
    def read(self) -> Extent | None:
        """The octets to read into memory for ``finish``/``finish_size``; None: nothing to read."""
        if self.stream is not None or self.size is not None:
            return None
        return self.extent


def find_part(root: Part, numbers: Sequence[int]) -> Part | None:
    """The part a section-part names (RFC 9051 §6.4.5.1); ``()`` is the root (``mime.model.part_at``)."""
    return part_at(root, numbers)


def locate(root: Part, size: int, section: Section) -> Extent | None:
    """Octets of BODY[section] without a partial; None when the section does not exist (NIL).
    HEADER.FIELDS[.NOT] give the header range they subset."""
    part = find_part(root, section.part)
    if part is None:
        return None
    text = section.text
    if text is None:
        if not section.part:
            return Extent(0, size)  # RFC 9051 §6.4.5: BODY[] is the entire message
        return Extent(part.body_start, part.body_end)
    if text == "MIME":  # RFC 9051 §6.4.5.1: MUST be prefixed by part numbers
        return Extent(part.header_start, part.body_start) if section.part else None
    # RFC 9051 §6.4.5.1: HEADER*/TEXT after a part number only for message/rfc822 or global.
    message = part if not section.part else part.message
    if message is None:
        return None
    if text == "TEXT":
        return Extent(message.body_start, message.body_end)
    if text in ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        return Extent(message.header_start, message.body_start)
    raise ValueError(f"unknown section text {text!r}")


def header_fields(header: bytes, names: Sequence[bytes], *, negate: bool) -> bytes:
    """RFC 9051 §6.4.5.1: the fields whose name matches (ASCII case-insensitively) one of
    ``names`` (or, with ``negate``, none of them), in message order with their continuation
    lines, then the header's blank line if it has one. A line that is not a field continues
    the field before it (RFC 7103 §7.2), as the MIME parser reads it."""
    wanted = {name.lower() for name in names}
    out: list[bytes] = []
    keep = False  # lines before any field are no field of either subset
    pos, end = 0, len(header)
    while pos < end:
        newline = header.find(b"\n", pos)
        stop = end if newline < 0 else newline + 1
        line = header[pos:stop]
        pos = stop
        if line in (b"\r\n", b"\n"):  # RFC 5322 §2.1: the blank line ends the header
            out.append(line)
            break
        if line[0] not in b" \t":  # RFC 5322 §2.2.3: not a continuation line
            colon = line.find(b":")
            name = line[:colon].rstrip(b" \t") if colon > 0 else b""  # RFC 5322 §4.5: obs WSP before ":"
            if _FIELD_NAME.fullmatch(name):
                keep = (name.lower() in wanted) != negate
        if keep:
            out.append(line)
    return b"".join(out)


def apply_partial(length: int, partial: tuple[int, int] | None) -> tuple[int, int]:
    """(offset, count) of ``<origin.octets>`` within ``length`` octets (RFC 9051 §6.4.5): a
    start beyond the end gives an empty string, a count past the end is truncated."""
    if partial is None:
        return 0, length
    origin, octets = partial
    offset = min(origin, length)
    return offset, min(octets, length - offset)


def decode_binary(body: bytes, encoding: str) -> bytes:
    """Undo a Content-Transfer-Encoding (RFC 3516 §4.2, RFC 2045 §6); SectionError UNKNOWN-CTE
    for one this server cannot decode (RFC 3516 §4.3)."""
    encoding = encoding.lower()
    if encoding in IDENTITY_ENCODINGS:
        return body
    if encoding == "base64":
        return _base64(body)
    if encoding == "quoted-printable":
        # RFC 2045 §6.7 rule 3: trailing whitespace was added in transport and is deleted; this
        # also makes "=" + whitespace at a line end a soft line break (rule 5).
        return binascii.a2b_qp(_QP_TRAILING_WSP.sub(b"", body))
    raise SectionError(f"Unknown Content-Transfer-Encoding {encoding[:40]!r}", "UNKNOWN-CTE")


def _base64(body: bytes) -> bytes:
    # RFC 2045 §6.8: characters outside the alphabet are ignored; "=" ends the encoded data.
    clean = body.translate(None, _B64_JUNK)
    stop = clean.find(b"=")
    if stop >= 0:
        clean = clean[:stop]
    extra = len(clean) % 4
    if extra == 1:  # six bits are not an octet: dropped
        clean, extra = clean[:-1], 0
    return binascii.a2b_base64(clean + b"=" * ((4 - extra) % 4))


_NAMES: dict[FetchAtt, str] = {}  # response names built so far (a FETCH asks the same per message)


def response_name(att: FetchAtt) -> str:
    """``att.response_name()``, built once per distinct item rather than once per message."""
    name = _NAMES.get(att)
    if name is None:
        if len(_NAMES) >= 1024:
            _NAMES.clear()
        name = _NAMES[att] = att.response_name()
    return name


def plan(root: Part, size: int, att: FetchAtt) -> SectionPlan:
    """Everything the FETCH handler needs for one BODY[...], BINARY[...], BINARY.SIZE[...] or
    RFC822/RFC822.HEADER/RFC822.TEXT item. Raises SectionError (answer NO) for BINARY of a
    non-leaf part or of an unknown CTE, ValueError for an item without a section."""
    name = response_name(att)
    section = RFC822_SECTIONS.get(att.name, att.section)
    if section is None:
        raise ValueError(f"{att.name} has no section")
    if att.name in ("BINARY", "BINARY.SIZE"):
        return _binary_plan(root, size, att, name, section)
    extent = locate(root, size, section)
    if extent is None:
        return SectionPlan(name, "BODY", None)
    if section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        # RFC 9051 §6.4.5: the partial of a HEADER.FIELDS fetch is taken after subsetting.
        negate = section.text == "HEADER.FIELDS.NOT"
        return SectionPlan(name, "BODY", extent, fields=section.fields, negate=negate, partial=att.partial)
    return SectionPlan(name, "BODY", extent, stream=_clip(extent, att.partial))


def _binary_plan(root: Part, size: int, att: FetchAtt, name: str, section: Section) -> SectionPlan:
    if section.text is not None:
        raise ValueError("section-binary has part numbers only")  # RFC 3516 §7
    kind = att.name
    part = find_part(root, section.part)
    if part is None:
        return SectionPlan(name, kind, None, size=0 if kind == "BINARY.SIZE" else None)
    if not section.part:  # BINARY[]: the message as stored (RFC 2045 §6.4: identity encoded)
        whole = Extent(0, size)
        if kind == "BINARY.SIZE":
            return SectionPlan(name, kind, whole, size=size)
        return SectionPlan(name, kind, whole, stream=_clip(whole, att.partial), binary=None)
    if part.children:
        # RFC 9051 §6.4.5: BINARY and BINARY.SIZE "can only be requested for leaf body parts". A
        # message/rfc822 or message/global part is answered all the same, with the encapsulated
        # message decoded of the part's own encoding (RFC 3516 §4.2 has no such restriction; imaptest
        # and Dovecot expect it); a multipart body has no encoding of its own to remove.
        raise SectionError("BINARY applies to leaf body parts and message parts, not multipart")
    encoding = part.encoding.lower()
    if encoding not in KNOWN_ENCODINGS:
        raise SectionError(f"Unknown Content-Transfer-Encoding {encoding[:40]!r}", "UNKNOWN-CTE")
    extent = Extent(part.body_start, part.body_end)
    if kind == "BINARY.SIZE":
        known = extent.length if encoding in IDENTITY_ENCODINGS else None  # RFC 3516 §4.3
        return SectionPlan(name, kind, extent, encoding=encoding, size=known)
    if encoding in IDENTITY_ENCODINGS:
        # RFC 3516 §4.3: the "binary" domain goes as literal8; 7bit/8bit only if NUL is in it.
        binary = True if encoding == "binary" else None
        return SectionPlan(name, kind, extent, stream=_clip(extent, att.partial), binary=binary)
    return SectionPlan(name, kind, extent, encoding=encoding, partial=att.partial)


def _clip(extent: Extent, partial: tuple[int, int] | None) -> Extent:
    offset, count = apply_partial(extent.length, partial)
    return Extent(extent.start + offset, extent.start + offset + count)


def finish(plan: SectionPlan, data: bytes) -> Built:
    """The value of a BODY[HEADER.FIELDS ...] or decoded BINARY[...] item from the octets of
    ``plan.read``: subset or decode, then the partial (RFC 9051 §6.4.5, RFC 3516 §4.2)."""
    if plan.fields is not None:
        data = header_fields(data, plan.fields, negate=plan.negate)
    elif plan.encoding is not None:
        data = decode_binary(data, plan.encoding)
    offset, count = apply_partial(len(data), plan.partial)
    data = data[offset : offset + count]
    return Built(data, binary=plan.kind == "BINARY" and b"\x00" in data)


def finish_size(plan: SectionPlan, data: bytes) -> int:
    """BINARY.SIZE from the octets of ``plan.read``: the decoded size (RFC 3516 §4.3)."""
    if plan.size is not None:
        return plan.size
    return len(decode_binary(data, plan.encoding or "7bit"))


def has_nul(read: Callable[[int, int], bytes], extent: Extent, chunk: int = _NUL_CHUNK) -> bool:
    """Whether the blob octets of ``extent`` contain NUL, read ``chunk`` octets at a time with
    ``read(start, end)``: decides literal8 for a plan whose ``binary`` is None."""
    for start in range(extent.start, extent.end, chunk):
        if b"\x00" in read(start, min(extent.end, start + chunk)):
            return True
    return False
