"""The body of an Email (RFC 8621 section 4.1.4): EmailBodyPart objects over the parse record's
part tree, ``bodyStructure``, and the split into ``textBody``, ``htmlBody`` and ``attachments``
by the algorithm the RFC suggests, ported step by step (iteratively: the tree is as deep as the
MIME limits allow, which can pass Python's recursion limit).

partId is the part's IMAP section number (RFC 9051 §6.4.5.1: "1", "2.1"; the body of a message
that is not multipart is "1"), so the server can find a part's octets from its id; blobIds are the
server's to give (``BlobIdOf``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pochta.mime.model import Part, part_at
from pochta.mime.params import skip_cfws
from pochta.mime.source import Source
from pochta.mime.text import transfer_decode
from pochta.proto.jmap.mail.headers import email_headers, fields_of, header_value
from pochta.proto.jmap.mail.properties import HeaderProperty

BlobIdOf = Callable[[str, Part], str]  # (partId, part) -> the blobId of its decoded octets

# RFC 2045 §6.1, RFC 3030: the transfer encodings pochta can undo; others are treated as none
# (RFC 8621 section 4.1.4 blobId: "as though it had no transfer encoding").
KNOWN_ENCODINGS = frozenset({"7bit", "8bit", "binary", "base64", "quoted-printable"})
_IDENTITY = frozenset({"7bit", "8bit", "binary"})


@dataclass(eq=False, slots=True)
class BodyPart:
    """One EmailBodyPart: the parse record's part, its partId, and its children if multipart."""

    part: Part
    part_id: str | None  # None for multipart/* (RFC 8621 section 4.1.4 partId)
    sub_parts: list[BodyPart] = field(default_factory=list)

    @property
    def type(self) -> str:
        """RFC 8621 section 4.1.4 type: lower-case, parameters stripped; the parser already chose
        the implicit type (text/plain, message/rfc822 in a digest)."""
        return self.part.media_type

    @property
    def is_multipart(self) -> bool:
        return self.part.is_multipart and not self.part.opaque

    @property
    def disposition(self) -> str | None:
        return self.part.disposition

    @property
    def name(self) -> str | None:
        """RFC 8621 section 4.1.4 name: the RFC 2231 filename of Content-Disposition, else the
        RFC 2047 decoded name of Content-Type (``Part.filename`` owns the rule)."""
        return self.part.filename

    def walk(self) -> Iterable[BodyPart]:
        """This part and every part below it, depth-first in order, iteratively."""
        stack = [self]
        while stack:
            part = stack.pop()
            yield part
            stack.extend(reversed(part.sub_parts))


def body_structure(root: Part) -> BodyPart:
    """RFC 8621 section 4.1.4 bodyStructure: the MIME tree without recursing into message/rfc822
    or message/global parts, numbered as IMAP numbers sections."""
    top = BodyPart(root, None if root.is_multipart and not root.opaque else "1")
    stack: list[tuple[BodyPart, str]] = [(top, "")]
    while stack:
        node, prefix = stack.pop()
        if not node.is_multipart:
            continue
        for number, child in enumerate(node.part.children, 1):
            section = f"{prefix}{number}"
            multipart = child.is_multipart and not child.opaque
            sub = BodyPart(child, None if multipart else section)
            node.sub_parts.append(sub)
            stack.append((sub, section + "."))
    return top


def _is_inline_media_type(type_: str) -> bool:
    return type_.startswith(("image/", "audio/", "video/"))


@dataclass(slots=True)
class _Frame:
    """One call of the RFC's parseStructure: its arguments and locals."""

    parts: list[BodyPart]
    multipart_type: str
    in_alternative: bool
    html_body: list[BodyPart] | None
    text_body: list[BodyPart] | None
    text_length: int
    html_length: int
    index: int = 0


def _frame(
    parts: list[BodyPart], multipart_type: str, in_alternative: bool,
    html_body: list[BodyPart] | None, text_body: list[BodyPart] | None,
) -> _Frame:  # fmt: skip
    # "For multipartType == alternative": the list lengths on entry.
    text_length = len(text_body) if text_body is not None else -1
    html_length = len(html_body) if html_body is not None else -1
    return _Frame(parts, multipart_type, in_alternative, html_body, text_body, text_length, html_length)


def _finish(frame: _Frame) -> None:
    """The end of parseStructure: in an alternative, a side that found nothing takes the other's."""
    text_body, html_body = frame.text_body, frame.html_body
    if frame.multipart_type != "alternative" or text_body is None or html_body is None:
        return
    if frame.text_length == len(text_body) and frame.html_length != len(html_body):
        text_body.extend(html_body[frame.html_length :])  # found HTML part only
    if frame.html_length == len(html_body) and frame.text_length != len(text_body):
        html_body.extend(text_body[frame.text_length :])  # found plain text part only


def split_body(root: BodyPart) -> tuple[list[BodyPart], list[BodyPart], list[BodyPart]]:
    """(textBody, htmlBody, attachments): RFC 8621 section 4.1.4's parseStructure, called as its
    "Usage" shows, with one guard the JavaScript lacks: in an alternative inside an alternative
    whose one side an enclosing part already ended (set to null), a part of that side is dropped
    where the JavaScript would push onto null and throw."""
    text_body: list[BodyPart] = []
    html_body: list[BodyPart] = []
    attachments: list[BodyPart] = []
    stack = [_frame([root], "mixed", False, html_body, text_body)]
    while stack:
        frame = stack[-1]
        if frame.index >= len(frame.parts):
            _finish(frame)
            stack.pop()
            continue
        i = frame.index
        frame.index += 1
        part = frame.parts[i]
        type_ = part.type
        # Is this a body part rather than an attachment
        is_inline = (
            part.disposition != "attachment"
            # Must be one of the allowed body types
            and (type_ in ("text/plain", "text/html") or _is_inline_media_type(type_))
            # If multipart/related, only the first part can be inline. If a text part with a
            # filename, and not the first item in the multipart, assume it is an attachment.
            and (
                i == 0
                or (frame.multipart_type != "related" and (_is_inline_media_type(type_) or not part.name))
            )
        )
        if part.is_multipart:
            sub_multi_type = type_.split("/", 1)[1]
            stack.append(
                _frame(
                    part.sub_parts, sub_multi_type, frame.in_alternative or sub_multi_type == "alternative",
                    frame.html_body, frame.text_body,
                )
            )  # fmt: skip
        elif is_inline:
            if frame.multipart_type == "alternative":
                if type_ == "text/plain":
                    if frame.text_body is not None:
                        frame.text_body.append(part)
                elif type_ == "text/html":
                    if frame.html_body is not None:
                        frame.html_body.append(part)
                else:
                    attachments.append(part)
                continue
            if frame.in_alternative:
                if type_ == "text/plain":
                    frame.html_body = None
                if type_ == "text/html":
                    frame.text_body = None
            if frame.text_body is not None:
                frame.text_body.append(part)
            if frame.html_body is not None:
                frame.html_body.append(part)
            if (frame.text_body is None or frame.html_body is None) and _is_inline_media_type(type_):
                attachments.append(part)
        else:
            attachments.append(part)
    return text_body, html_body, attachments


def has_attachment(attachments: Iterable[BodyPart]) -> bool:
    """RFC 8621 section 4.1.4 hasAttachment: "SHOULD" be true when ``attachments`` holds a part
    that does not have Content-Disposition: inline."""
    return any(part.disposition != "inline" for part in attachments)


def blob_part(root: Part, section: str) -> Part | None:
    """The part a blob id's section (``1.2``) names, if it has octets of its own (RFC 8621 section
    4.1.4: a multipart has no blobId); None for no such part or a bad section."""
    numbers = section.split(".")
    if not all(number.isdigit() for number in numbers):
        return None
    part = part_at(root, tuple(int(number) for number in numbers))
    if part is None or (part.is_multipart and not part.opaque):
        return None
    return part


def decoded_content(data: Source, part: Part) -> bytes:
    """The octets of a leaf after its Content-Transfer-Encoding is undone (what its blobId names);
    an unknown encoding is treated as none (RFC 8621 section 4.1.4 blobId)."""
    raw = data[part.body_start : part.body_end]
    return raw if part.encoding in _IDENTITY else transfer_decode(raw, part.encoding)


def _cid(value: str | None) -> str | None:
    """RFC 8621 section 4.1.4 cid: Content-Id without CFWS and angle brackets."""
    if value is None:
        return None
    start = skip_cfws(value, 0)
    if value.startswith("<", start):
        close = value.find(">", start)
        return value[start + 1 : close] if close > 0 else value[start + 1 :].strip()
    return value[start:].split()[0] if value[start:].strip() else None


class PartWriter:
    """Writes EmailBodyPart objects with the properties asked for, reading headers and sizes from
    the message octets only when a property needs them."""

    def __init__(
        self,
        data: Source,
        properties: Iterable[str],
        header_props: dict[str, HeaderProperty],
        blob_id: BlobIdOf,
        max_headers: int,
    ) -> None:
        self.data = data
        self.properties = tuple(properties)
        self.header_props = header_props
        self.blob_id = blob_id
        self.max_headers = max_headers
        self.needs_fields = any(p == "headers" or p in header_props for p in self.properties)

    def fields(self, part: Part) -> list[tuple[str, bytes]]:
        if part.header_start >= part.body_start:
            return []  # no header at all (a multipart body in which no part was found)
        return fields_of(self.data, part.header_start, part.body_start, self.max_headers)

    def charset(self, part: Part, fields: list[tuple[str, bytes]] | None) -> str | None:
        """RFC 8621 section 4.1.4 charset: the parameter if given; "us-ascii" for text/* without
        one (the parser put it there) and for a part without Content-Type; else null."""
        value = part.charset
        if value is not None or part.type == "text":
            return value
        if fields is None:
            fields = self.fields(part)
        return None if any(name.lower() == "content-type" for name, _ in fields) else "us-ascii"

    def write(self, body: BodyPart, *, with_sub_parts: bool = False) -> dict[str, Any]:
        """One EmailBodyPart; with ``with_sub_parts`` (bodyStructure) the tree below it as well,
        built iteratively."""
        top = self._own(body, with_sub_parts)
        if with_sub_parts:
            stack = [(body, top)]
            while stack:
                node, out = stack.pop()
                if not node.is_multipart:
                    continue
                kids = [self._own(sub, True) for sub in node.sub_parts]
                out["subParts"] = kids
                stack.extend(zip(node.sub_parts, kids, strict=True))
        return top

    def _own(self, body: BodyPart, structure: bool) -> dict[str, Any]:
        part = body.part
        multipart = body.is_multipart
        fields = self.fields(part) if self.needs_fields else None
        out: dict[str, Any] = {}
        for prop in self.properties:
            if prop == "partId":
                out[prop] = body.part_id
            elif prop == "blobId":
                out[prop] = None if body.part_id is None else self.blob_id(body.part_id, part)
            elif prop == "size":
                out[prop] = part.size if multipart else len(decoded_content(self.data, part))
            elif prop == "headers":
                out[prop] = email_headers(fields or [])
            elif prop == "name":
                out[prop] = body.name
            elif prop == "type":
                out[prop] = body.type
            elif prop == "charset":
                out[prop] = self.charset(part, fields)
            elif prop == "disposition":
                out[prop] = part.disposition
            elif prop == "cid":
                out[prop] = _cid(part.content_id)
            elif prop == "language":
                out[prop] = list(part.language) if part.language else None
            elif prop == "location":
                out[prop] = part.location
            elif prop == "subParts":
                out[prop] = [] if multipart else None  # filled by write() for bodyStructure
            else:
                out[prop] = header_value(fields or [], self.header_props[prop])
        if structure and multipart:
            out["subParts"] = []  # the structure is the point of bodyStructure (see docs)
        return out
