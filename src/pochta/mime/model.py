"""What parsing a message produces: the part tree with byte offsets, ENVELOPE data, decoded
header values and search text; and its compact JSON form, which is what the store caches.

The tree can be as deep as the configured nesting limit, so nothing here recurses over it:
equality, hashing, ``repr`` and (de)serialisation walk it with explicit stacks, and the JSON
form is a flat list of parts that refer to their children by index.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pochta.mime.address import Mailbox
from pochta.mime.encoded_words import decode_encoded_words
from pochta.mime.envelope import EMPTY_ENVELOPE, Address, Envelope
from pochta.mime.params import Params

JSON_VERSION = 1


@dataclass(frozen=True, eq=False, repr=False, slots=True)
class Part:
    """One MIME entity. Offsets index the raw message: ``data[header_start:body_start]`` is the
    MIME header (with its blank line, RFC 9051 §6.4.5.1 MIME), ``data[body_start:body_end]``
    the body (BODY[n]). For a message/rfc822 part, ``message`` is the encapsulated message's
    root entity, whose header is BODY[n.HEADER] and body BODY[n.TEXT]."""

    header_start: int
    body_start: int
    body_end: int
    type: str = "text"  # lower-case; RFC 2045 §5.2 defaults
    subtype: str = "plain"
    params: Params = ()  # RFC 2231 decoded, names lower-case
    content_id: str | None = None
    description: str | None = None  # raw (RFC 2047 words not decoded), as IMAP sends it
    encoding: str = "7bit"  # RFC 2045 §6.1, lower-case
    md5: str | None = None
    disposition: str | None = None  # RFC 2183, lower-case
    disposition_params: Params = ()
    language: tuple[str, ...] = ()
    location: str | None = None
    lines: int = 0  # for text/* and message/* (RFC 9051 §7.5.2 body-fld-lines)
    children: tuple[Part, ...] = ()
    message: Part | None = None  # root entity of an encapsulated message/rfc822 or message/global
    envelope: Envelope | None = None  # set on message roots: the top level and encapsulated ones
    opaque: bool = False  # a multipart or message kept as a leaf (limits, RFC 2046 §5.2.1 encoding)

    # -- derived ---------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Body size in octets, in its transfer encoding (RFC 9051 §7.5.2 body-fld-octets)."""
        return self.body_end - self.body_start

    @property
    def media_type(self) -> str:
        return f"{self.type}/{self.subtype}"

    @property
    def is_multipart(self) -> bool:
        return self.type == "multipart"

    @property
    def is_message(self) -> bool:
        return self.type == "message" and self.subtype in ("rfc822", "global")

    def param(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.params:
            if key == name:
                return value
        return None

    def disposition_param(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.disposition_params:
            if key == name:
                return value
        return None

    @property
    def charset(self) -> str | None:
        return self.param("charset")

    @property
    def filename(self) -> str | None:
        """Decoded file name: Content-Disposition filename, else Content-Type name (RFC 2183 §2.3),
        with RFC 2047 words decoded too (common, although RFC 2047 §5 forbids them there)."""
        name = self.disposition_param("filename") or self.param("name")
        return decode_encoded_words(name) if name else None

    @property
    def is_attachment(self) -> bool:
        return self.disposition == "attachment"

    def walk(self) -> Iterator[Part]:
        """This part and all below it (encapsulated messages included), pre-order, iteratively."""
        stack: list[Part] = [self]
        while stack:
            part = stack.pop()
            yield part
            if part.message is not None:
                stack.append(part.message)
            stack.extend(reversed(part.children))

    # -- identity without recursion ----------------------------------------------------------
    def _own(self) -> tuple[Any, ...]:
        return (
            self.header_start, self.body_start, self.body_end, self.type, self.subtype, self.params,
            self.content_id, self.description, self.encoding, self.md5, self.disposition,
            self.disposition_params, self.language, self.location, self.lines, self.envelope,
            self.opaque, len(self.children), self.message is None,
        )  # fmt: skip

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Part):
            return NotImplemented
        stack: list[tuple[Part, Part]] = [(self, other)]
        while stack:
            left, right = stack.pop()
            if left is right:
                continue
            if left._own() != right._own():
                return False
            stack.extend(zip(left.children, right.children, strict=True))
            if left.message is not None and right.message is not None:
                stack.append((left.message, right.message))
        return True

    def __hash__(self) -> int:
        return hash(self._own())

    def __repr__(self) -> str:
        return (
            f"Part({self.media_type} header_start={self.header_start} body_start={self.body_start} "
            f"body_end={self.body_end} children={len(self.children)} "
            f"message={'yes' if self.message is not None else 'no'}{' opaque' if self.opaque else ''})"
        )


def part_at(root: Part, spec: Sequence[int]) -> Part | None:
    """The part an IMAP section number names (RFC 9051 §6.4.5.1), or None; iterative.

    In a message, a multipart's parts are numbered from 1; a message that is not multipart has the
    single part 1 (its body: "every message has at least one part number"). The parts of a
    message/rfc822 or message/global part are those of the encapsulated message. ``()`` is the
    root entity (BODY[], HEADER, TEXT). Opaque parts have no children."""
    part = root
    in_message = True  # ``part`` is a message root whose number has not been used yet
    for number in spec:
        if number < 1:
            return None
        if not in_message and part.message is not None:
            part, in_message = part.message, True  # RFC 9051 §6.4.5.1: 3.1 is in message 3
        if part.is_multipart and part.children:
            if number > len(part.children):
                return None
            part = part.children[number - 1]
        elif not (in_message and number == 1):
            return None
        in_message = False
    return part


@dataclass(frozen=True)
class ParsedMessage:
    """The parse of one message, computed once at delivery (DESIGN.md principle 4)."""

    size: int
    lines: int
    body_text: str  # UTF-8 text of the textual parts, HTML reduced to text, capped
    preview: str  # RFC 8970-style preview: first readable text, whitespace collapsed
    root: Part = field(default_factory=lambda: Part(0, 0, 0))
    headers: tuple[tuple[str, str], ...] = ()  # (name as written, decoded value), in order
    subject: str | None = None  # decoded
    base_subject: str = ""  # RFC 5256 §2.1
    date: int | None = None  # Date: as UTC seconds
    message_id: str | None = None
    in_reply_to: str | None = None  # first msg-id of In-Reply-To
    references: tuple[str, ...] = ()
    from_: tuple[Mailbox, ...] = ()  # decoded, group members flattened, invalid ones left out
    to: tuple[Mailbox, ...] = ()
    cc: tuple[Mailbox, ...] = ()
    defects: tuple[str, ...] = ()  # limits hit and malformations seen (RFC 7103)

    @property
    def header_text(self) -> str:
        """Decoded header fields, one per line, for IMAP SEARCH TEXT."""
        return "\n".join(f"{name}: {value}" for name, value in self.headers)

    @property
    def header_size(self) -> int:
        """Octets of the top-level header including its blank line (offset of the body)."""
        return self.root.body_start

    @property
    def envelope(self) -> Envelope:
        return self.root.envelope or EMPTY_ENVELOPE

    @property
    def has_attachments(self) -> bool:
        return any(part.is_attachment for part in self.root.walk())

    def header_values(self, name: str) -> list[str]:
        """Decoded values of every field called ``name`` (case-insensitive), in order."""
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]

    def section(self, spec: tuple[int, ...]) -> Part | None:
        """The part an IMAP section number names (RFC 9051 §6.4.5.1), or None.

        In a message, a multipart's parts are numbered from 1; a message that is not multipart
        has the single part 1 (its body). The parts of a message/rfc822 part are the parts of
        the encapsulated message. ``()`` is the root entity (BODY[], HEADER, TEXT)."""
        return part_at(self.root, spec)

    def byte_range(self, spec: tuple[int, ...], specifier: str = "") -> tuple[int, int] | None:
        """Offsets of BODY[spec], BODY[spec.HEADER], BODY[spec.TEXT] or BODY[spec.MIME] in the
        raw message (RFC 9051 §6.4.5.1), or None when the section does not exist. HEADER.FIELDS
        and HEADER.FIELDS.NOT subset the HEADER range."""
        part = self.section(spec)
        if part is None:
            return None
        specifier = specifier.upper()
        if specifier == "":
            return (0, self.size) if not spec else (part.body_start, part.body_end)
        if specifier == "MIME":  # "MUST be prefixed by one or more numeric part specifiers"
            return (part.header_start, part.body_start) if spec else None
        if specifier.startswith("HEADER") or specifier == "TEXT":
            message = part if not spec else part.message  # only a message/rfc822 part has them
            if message is None:
                return None
            if specifier == "TEXT":
                return message.body_start, message.body_end
            return message.header_start, message.body_start
        return None

    def sections(self) -> Iterator[tuple[tuple[int, ...], Part]]:
        """Every (section number, part) a client can name, in order, iteratively."""
        stack: list[tuple[tuple[int, ...], Part, bool]] = [((), self.root, True)]
        while stack:
            prefix, part, in_message = stack.pop()
            if not in_message and prefix:
                yield prefix, part
            if not in_message and part.message is not None:
                stack.append((prefix, part.message, True))
            elif part.is_multipart and part.children:
                numbered = list(enumerate(part.children, 1))
                stack.extend(((*prefix, i), child, False) for i, child in reversed(numbered))
            elif in_message:
                stack.append(((*prefix, 1), part, False))

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        """Pickle (e.g. back from a process pool) through the flat JSON form: the default would
        recurse once per nesting level of the part tree."""
        return (ParsedMessage.from_json, (self.to_json(),))

    # -- cache form ------------------------------------------------------------------------------
    def to_json(self, *, with_text: bool = True) -> bytes:
        """Compact JSON; ``from_json(to_json())`` gives an equal object. Without text, the
        body text is left out (for a store that keeps it in its full-text index instead)."""
        document = {
            "v": JSON_VERSION,
            "size": self.size,
            "lines": self.lines,
            "text": self.body_text if with_text else "",
            "preview": self.preview,
            "headers": self.headers,
            "subject": self.subject,
            "base": self.base_subject,
            "date": self.date,
            "mid": self.message_id,
            "irt": self.in_reply_to,
            "refs": self.references,
            "from": [_mailbox_out(m) for m in self.from_],
            "to": [_mailbox_out(m) for m in self.to],
            "cc": [_mailbox_out(m) for m in self.cc],
            "defects": self.defects,
            "parts": _parts_out(self.root),
        }
        try:
            return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate somewhere: escape everything instead
            return json.dumps(document, separators=(",", ":")).encode("ascii")

    @classmethod
    def from_json(cls, data: bytes) -> ParsedMessage:
        """Rebuild from :meth:`to_json`. Raises ValueError on a document it cannot read."""
        try:
            doc = json.loads(data)
            if doc.get("v") != JSON_VERSION:
                raise ValueError(f"unknown parse cache version {doc.get('v')!r}")
            return cls(
                size=int(doc["size"]),
                lines=int(doc["lines"]),
                body_text=str(doc["text"]),
                preview=str(doc["preview"]),
                root=_parts_in(doc["parts"]),
                headers=tuple((str(n), str(v)) for n, v in doc["headers"]),
                subject=doc["subject"],
                base_subject=str(doc["base"]),
                date=doc["date"],
                message_id=doc["mid"],
                in_reply_to=doc["irt"],
                references=tuple(doc["refs"]),
                from_=tuple(_mailbox_in(m) for m in doc["from"]),
                to=tuple(_mailbox_in(m) for m in doc["to"]),
                cc=tuple(_mailbox_in(m) for m in doc["cc"]),
                defects=tuple(doc["defects"]),
            )
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            raise ValueError(f"malformed parse cache: {exc!r}") from None


def _mailbox_out(item: Mailbox) -> list[Any]:
    return [item.name, item.local, item.domain, item.route, item.raw_name, item.comment]


def _mailbox_in(item: list[Any]) -> Mailbox:
    name, local, domain, route, raw_name, comment = item
    return Mailbox(name, local, domain, tuple(route), raw_name, comment)


def _addresses_out(items: tuple[Address, ...]) -> list[list[str | None]]:
    return [[a.name, a.adl, a.mailbox, a.host] for a in items]


def _addresses_in(items: list[list[str | None]]) -> tuple[Address, ...]:
    return tuple(Address(*item) for item in items)


def _envelope_out(env: Envelope | None) -> list[Any] | None:
    if env is None:
        return None
    return [
        env.date, env.subject, _addresses_out(env.from_), _addresses_out(env.sender),
        _addresses_out(env.reply_to), _addresses_out(env.to), _addresses_out(env.cc),
        _addresses_out(env.bcc), env.in_reply_to, env.message_id,
    ]  # fmt: skip


def envelope_from_json(data: bytes) -> Envelope | None:
    """The root part's ENVELOPE from :meth:`ParsedMessage.to_json`, without rebuilding the rest (what
    FETCH ENVELOPE needs of a parse record). Raises ValueError as ``from_json`` does."""
    try:
        doc = json.loads(data)
        if doc.get("v") != JSON_VERSION:
            raise ValueError(f"unknown parse cache version {doc.get('v')!r}")
        return _envelope_in(doc["parts"][0][18])
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
        raise ValueError(f"malformed parse cache: {exc!r}") from None


def _envelope_in(doc: list[Any] | None) -> Envelope | None:
    if doc is None:
        return None
    date, subject, from_, sender, reply_to, to, cc, bcc, irt, mid = doc
    return Envelope(
        date, subject, _addresses_in(from_), _addresses_in(sender), _addresses_in(reply_to),
        _addresses_in(to), _addresses_in(cc), _addresses_in(bcc), irt, mid,
    )  # fmt: skip


def _pairs_in(items: list[list[str]]) -> Params:
    return tuple((str(k), str(v)) for k, v in items)


def _parts_out(root: Part) -> list[list[Any]]:
    """Flat list, parents before children; children and message referred to by index."""
    queue: list[Part] = [root]
    out: list[list[Any]] = []
    position = 0
    while position < len(queue):
        part = queue[position]
        position += 1
        kids = list(range(len(queue), len(queue) + len(part.children)))
        queue.extend(part.children)
        message = None
        if part.message is not None:
            message = len(queue)
            queue.append(part.message)
        out.append([
            part.header_start, part.body_start, part.body_end, part.type, part.subtype, part.params,
            part.content_id, part.description, part.encoding, part.md5, part.disposition,
            part.disposition_params, part.language, part.location, part.lines, int(part.opaque),
            kids, message, _envelope_out(part.envelope),
        ])  # fmt: skip
    return out


def _parts_in(rows: list[list[Any]]) -> Part:
    if not rows:
        raise ValueError("no parts")
    built: list[Part | None] = [None] * len(rows)
    for i in range(len(rows) - 1, -1, -1):
        (hs, bs, be, type_, subtype, params, cid, desc, enc, md5, disp, dparams, lang, loc, lines,
         opaque, kids, msg, env) = rows[i]  # fmt: skip
        if any(k <= i for k in kids) or (msg is not None and msg <= i):
            raise ValueError("parts out of order")
        children = tuple(built[k] for k in kids)
        message = built[msg] if msg is not None else None
        built[i] = Part(
            int(hs), int(bs), int(be), type_, subtype, _pairs_in(params), cid, desc, enc, md5, disp,
            _pairs_in(dparams), tuple(lang), loc, int(lines), children,
            message, _envelope_in(env), bool(opaque),
        )  # fmt: skip
    root = built[0]
    assert root is not None
    return root


_ROOT_OFFSETS = re.compile(rb'"parts":\[\[(\d+),(\d+),(\d+),')


def root_offsets_from_json(data: bytes) -> Part:
    """The root part's offsets alone (header start, body start, body end) from
    :meth:`ParsedMessage.to_json`, as a ``Part`` whose other fields keep their defaults: what a
    FETCH of a section of the whole message (BODY[], HEADER, HEADER.FIELDS, TEXT, BINARY[]) needs,
    without rebuilding the part tree, the header list and the addresses. Raises ValueError as
    ``from_json`` does.

    The three numbers are found in the compact JSON itself, without decoding the rest: ``"parts":``
    with both quotes bare can only be that key (a quote inside a JSON string is escaped), and
    ``to_json`` writes the root's row first. Anything else is decoded in full."""
    at = data.rfind(b'"parts":[[')
    found = _ROOT_OFFSETS.match(data, at) if at >= 0 else None
    if found is not None and data.startswith(b'{"v":%d,' % JSON_VERSION):
        return Part(int(found[1]), int(found[2]), int(found[3]))
    try:
        doc = json.loads(data)
        if doc.get("v") != JSON_VERSION:
            raise ValueError(f"unknown parse cache version {doc.get('v')!r}")
        header_start, body_start, body_end = doc["parts"][0][:3]
        return Part(int(header_start), int(body_start), int(body_end))
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
        raise ValueError(f"malformed parse cache: {exc!r}") from None
