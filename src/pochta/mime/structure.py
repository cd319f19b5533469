"""The MIME tree of a message with byte offsets (RFC 2045, RFC 2046 §5), built iteratively.

Each entity is parsed within the region its parent gives it: a multipart's body is cut at its
own delimiter lines, found with ``bytes.find`` for ``"\\n--" + boundary`` (so a delimiter is
recognised only at a line start and only for this boundary, RFC 2046 §5.1.1); a missing close
delimiter ends the last part at the region's end, which is where the enclosing multipart's next
delimiter is (what Dovecot does). Work items sit on an explicit stack: input-controlled nesting
never reaches Python's recursion limit, and limits on depth, parts and header fields are
enforced as the tree grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from pochta.config import MimeSettings
from pochta.mime.envelope import Envelope, ParsedAddresses, build_envelope
from pochta.mime.header import field_text, first_of_each, parse_header, unfold
from pochta.mime.model import Part
from pochta.mime.params import Params, parse_content_type, parse_disposition, parse_language, parse_token
from pochta.mime.source import Source, count_byte, starts_with

DEFAULT_CHARSET: Params = (("charset", "us-ascii"),)  # RFC 2045 §5.2, RFC 2046 §4.1.2
# RFC 2046 §5.2.1: message/rfc822 bodies may only be 7bit, 8bit or binary.
IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary"})
_CACHED_FIELD = 512
MAX_BOUNDARY = 998  # longer than any line SMTP carries; longer "boundaries" never match


@dataclass(slots=True)
class _Node:
    header_start: int
    end: int  # end of this entity's region (= body end)
    depth: int
    digest_child: bool  # default type message/rfc822 (RFC 2046 §5.1.5)
    message_root: bool
    body_start: int = 0
    kind: tuple[str, str, Params] = ("text", "plain", DEFAULT_CHARSET)
    mime: dict[str, bytes] = field(default_factory=dict)  # first of each field, lower-case names
    kids: list[int] = field(default_factory=list)
    msg: int | None = None
    envelope: Envelope | None = None
    opaque: bool = False
    lines: int = 0
    synthetic: bool = False  # stands for a multipart body in which no part was found


@dataclass(slots=True)
class Tree:
    root: Part
    fields: list[tuple[str, bytes]]  # top-level header fields, for search
    firsts: dict[str, bytes]  # the first of each top-level field by lower-case name
    addresses: ParsedAddresses  # top-level address fields, parsed
    defects: set[str]


def count_lines(data: Source, start: int, end: int) -> int:
    """Lines in ``data[start:end]`` for body-fld-lines (RFC 9051 §7.5.2): its line ends. A last
    line without one is not counted: in a multipart the CRLF before a delimiter belongs to the
    delimiter (RFC 2046 §5.1.1), so the part's last line has none; Dovecot and UW-IMAP count the
    same way, and clients compare the figures."""
    if end <= start:
        return 0
    return count_byte(data, b"\n", start, end)


def find_delimiters(
    data: Source, boundary: bytes, start: int, end: int, limit: int
) -> tuple[list[tuple[int, int, bool]], bool]:
    """Delimiter lines of ``boundary`` in ``data[start:end]``: (line start, next line start, is
    close delimiter), stopping after the close delimiter or after ``limit`` + 1 delimiters.
    Returns the list and whether the limit stopped the scan."""
    dash = b"--" + boundary
    needle = b"\n" + dash
    found: list[tuple[int, int, bool]] = []

    def check(line: int) -> bool:
        after = line + len(dash)
        # RFC 2046 §5.1.1: "--" boundary, then "--" for the close delimiter, then only
        # transport padding (LWSP) up to the line end.
        if starts_with(data, b"--", after, end):
            close = True
        elif after >= end or data[after] in b" \t\r\n":
            close = False
        else:
            return False
        newline = data.find(b"\n", after, end)
        found.append((line, newline + 1 if newline >= 0 else end, close))
        return True

    if starts_with(data, dash, start, end) and check(start) and found[-1][2]:
        return found, False
    pos = start
    while len(found) <= limit:
        hit = data.find(needle, pos, end)
        if hit < 0:
            return found, False
        pos = hit + 1
        if check(hit + 1) and found[-1][2]:
            return found, False
    return found, True


def _line_break_before(data: Source, line: int, floor: int) -> int:
    """RFC 2046 §5.1.1: the CRLF before a delimiter belongs to the delimiter."""
    if line - 2 >= floor and data[line - 2 : line] == b"\r\n":
        return line - 2
    if line - 1 >= floor and data[line - 1] == 0x0A:
        return line - 1
    return max(line, floor)


class _Builder:
    def __init__(self, data: Source, settings: MimeSettings) -> None:
        self.data = data
        self.settings = settings
        self.nodes: list[_Node] = []
        self.defects: set[str] = set()
        self.top_fields: list[tuple[str, bytes]] = []
        self.top_firsts: dict[str, bytes] = {}
        self.top_addresses: ParsedAddresses = {}

    def add(self, node: _Node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def budget(self) -> int:
        return self.settings.max_parts - len(self.nodes)

    def build(self) -> Tree:
        self.add(_Node(0, len(self.data), 0, False, True))
        stack = [0]
        while stack:
            index = stack.pop()
            node = self.nodes[index]
            if not node.synthetic:
                self.parse_entity(index, node)
            stack.extend(reversed(node.kids))
            if node.msg is not None:
                stack.append(node.msg)
        return Tree(self.freeze(), self.top_fields, self.top_firsts, self.top_addresses, self.defects)

    def parse_entity(self, index: int, node: _Node) -> None:
        data = self.data
        block = parse_header(
            data, node.header_start, node.end, self.settings.max_headers, mbox_from=index == 0
        )
        node.body_start = block.body_start
        if block.truncated:
            self.defects.add("header_limit")
        if block.stray_lines:
            self.defects.add("stray_header_line")
        if not block.separator and block.body_start < node.end:
            self.defects.add("no_header_separator")
        # The first of each field: the MIME fields of this entity, its ENVELOPE, search values.
        node.mime = first_of_each(block.fields)
        if index == 0:
            self.top_fields, self.top_firsts = block.fields, node.mime
        if node.message_root:
            node.envelope, addresses = build_envelope(node.mime)
            if index == 0:
                self.top_addresses = addresses
        node.kind = self.content_type(node)
        media, subtype, params = node.kind
        if media == "multipart":
            self.expand_multipart(node, params)
        elif media == "message" and subtype in ("rfc822", "global"):
            node.lines = count_lines(data, node.body_start, node.end)
            self.expand_message(node)
        elif media == "text":
            node.lines = count_lines(data, node.body_start, node.end)

    def content_type(self, node: _Node) -> tuple[str, str, Params]:
        raw = node.mime.get("content-type")
        parsed = _content_type(raw) if raw is not None else None
        if parsed is None:
            if raw is not None:
                self.defects.add("invalid_content_type")
            if node.digest_child:  # RFC 2046 §5.1.5
                return ("message", "rfc822", ())
            return ("text", "plain", DEFAULT_CHARSET)  # RFC 2045 §5.2
        media, subtype, params = parsed
        if media == "text" and not any(key == "charset" for key, _ in params):
            params = params + DEFAULT_CHARSET  # RFC 2046 §4.1.2: charset defaults to US-ASCII
        return media, subtype, params

    def can_expand(self, node: _Node) -> bool:
        """Whether a multipart or message may have parts of its own: at most ``max_depth`` levels
        of nesting (the root is level 1) and ``max_parts`` parts in all, as Dovecot caps them
        (100 and 10,000). Past a cap the entity stays one leaf over its whole body."""
        if node.depth + 1 >= self.settings.max_depth:
            self.defects.add("depth_limit")
            return False
        if self.budget() <= 0:
            self.defects.add("parts_limit")
            return False
        return True

    def expand_message(self, node: _Node) -> None:
        encoding = parse_token(field_text(node.mime.get("content-transfer-encoding", b""))) or "7bit"
        if encoding not in IDENTITY_ENCODINGS:
            self.defects.add("encoded_message")
            node.opaque = True
            return
        if not self.can_expand(node):
            node.opaque = True
            return
        node.msg = self.add(_Node(node.body_start, node.end, node.depth + 1, False, True))

    def expand_multipart(self, node: _Node, params: Params) -> None:
        if not self.can_expand(node):
            node.opaque = True
            return
        boundary = next((value for key, value in params if key == "boundary"), "")
        boundary_bytes = boundary.rstrip(" \t").encode("utf-8", "surrogateescape")
        digest = node.kind[1] == "digest"
        data = self.data
        delimiters: list[tuple[int, int, bool]] = []
        limited = False
        if boundary_bytes and len(boundary_bytes) <= MAX_BOUNDARY:
            delimiters, limited = find_delimiters(
                data, boundary_bytes, node.body_start, node.end, self.budget()
            )
        else:
            self.defects.add("no_boundary")
        if not any(not close for _, _, close in delimiters):
            # RFC 7103 §8 / Dovecot: a multipart without parts shows its body as one text part.
            self.defects.add("no_parts")
            stop = _line_break_before(data, delimiters[0][0], node.body_start) if delimiters else node.end
            child = _Node(node.body_start, stop, node.depth + 1, False, False, synthetic=True)
            child.body_start = node.body_start
            child.lines = count_lines(data, node.body_start, stop)
            node.kids.append(self.add(child))
            return
        if not delimiters[-1][2] and not limited:
            self.defects.add("missing_close_delimiter")
        for number, (_, next_line, close) in enumerate(delimiters):
            if close:
                break
            if self.budget() <= 0:  # pragma: no cover - can_expand left room for one part
                self.defects.add("parts_limit")
                break
            more = limited or (number + 1 < len(delimiters) and not delimiters[number + 1][2])
            if more and self.budget() == 1:
                # The parts cap is reached with parts still to come: this last part runs to the end
                # of the multipart, the rest of it one leaf whose body is kept byte for byte.
                self.defects.add("parts_limit")
                stop = node.end
            elif number + 1 < len(delimiters):
                stop = _line_break_before(data, delimiters[number + 1][0], next_line)
            else:
                stop = node.end
            node.kids.append(self.add(_Node(next_line, stop, node.depth + 1, digest, False)))
            if stop == node.end:
                break

    def freeze(self) -> Part:
        """Turn nodes into frozen Parts, children first (they always have higher indices)."""
        frozen: list[Part | None] = [None] * len(self.nodes)
        for index in range(len(self.nodes) - 1, -1, -1):
            node = self.nodes[index]
            mime = node.mime
            media, subtype, params = node.kind
            if node.opaque and media == "multipart":
                # A multipart past the caps is one leaf: application/octet-stream (what Dovecot
                # sends), parameters kept, so that no client looks for parts inside it.
                media, subtype = "application", "octet-stream"

            raw_disposition = mime.get("content-disposition")
            disposition = _disposition(raw_disposition) if raw_disposition is not None else None
            encoding = parse_token(_text(mime, "content-transfer-encoding") or "") or "7bit"
            children = tuple(frozen[k] for k in node.kids)
            frozen[index] = Part(
                header_start=node.header_start,
                body_start=node.body_start,
                body_end=max(node.end, node.body_start),
                type=media,
                subtype=subtype,
                params=params,
                content_id=_text(mime, "content-id"),
                description=_text(mime, "content-description"),
                encoding=encoding,
                md5=_text(mime, "content-md5"),
                disposition=disposition[0] if disposition else None,
                disposition_params=disposition[1] if disposition else (),
                language=parse_language(_text(mime, "content-language") or ""),
                location=_location(mime.get("content-location")),
                lines=node.lines,
                children=children,  # type: ignore[arg-type]
                message=frozen[node.msg] if node.msg is not None else None,
                envelope=node.envelope,
                opaque=node.opaque,
            )
        root = frozen[0]
        assert root is not None
        return root


def _content_type(raw: bytes) -> tuple[str, str, Params] | None:
    """Parsed Content-Type; short values are cached, as the parts of a message mostly repeat a
    few (long ones are not, so that the cache cannot hold on to megabytes)."""
    if len(raw) <= _CACHED_FIELD:
        return _cached_content_type(raw)
    return parse_content_type(field_text(raw))


@lru_cache(maxsize=1024)
def _cached_content_type(raw: bytes) -> tuple[str, str, Params] | None:
    return parse_content_type(field_text(raw))


def _disposition(raw: bytes) -> tuple[str, Params] | None:
    if len(raw) <= _CACHED_FIELD:
        return _cached_disposition(raw)
    return parse_disposition(field_text(raw))


@lru_cache(maxsize=1024)
def _cached_disposition(raw: bytes) -> tuple[str, Params] | None:
    return parse_disposition(field_text(raw))


def _text(mime: dict[str, bytes], name: str) -> str | None:
    raw = mime.get(name)
    return field_text(raw) if raw is not None else None


def _location(raw: bytes | None) -> str | None:
    """RFC 2557 §4.4.1: a folded Content-Location URI is unfolded by removing the whitespace."""
    if raw is None:
        return None
    return field_text(b"".join(unfold(raw).split()))


def build_tree(data: Source, settings: MimeSettings) -> Tree:
    return _Builder(data, settings).build()
