"""The strings the body test matches (RFC 5173 §5): the raw body, the decoded MIME parts of some
content types, or the text of the message."""

from __future__ import annotations

from pochta.config import MimeSettings
from pochta.mime.charset import decode_bytes, decode_utf8_or_latin1
from pochta.mime.model import Part
from pochta.mime.structure import build_tree
from pochta.mime.text import html_to_text, scrub, transfer_decode

__all__ = ["content_type_matches", "content_values", "raw_body", "text_values"]


def raw_body(data: bytes, root: Part) -> list[str]:
    """RFC 5173 §5.1: the undecoded body as one string; none when the header has no end (§4)."""
    if root.body_start >= len(data) and not data.endswith((b"\r\n\r\n", b"\n\n")):
        return []
    return [data[root.body_start :].decode("utf-8", "surrogateescape")]


def content_type_matches(wanted: str, part: Part) -> bool:
    """RFC 5173 §5.2: "" is every type; "type" any of its subtypes; "type/subtype" exactly; a
    leading, trailing or second slash matches nothing."""
    wanted = wanted.lower()
    if not wanted:
        return True
    if wanted.startswith("/") or wanted.endswith("/") or wanted.count("/") > 1:
        return False
    kind, _, sub = wanted.partition("/")
    return part.type == kind and (not sub or part.subtype == sub) and _well_formed(part)


def _well_formed(part: Part) -> bool:
    # "text/plain/stupid" is no text part: its subtype cannot hold a slash (RFC 2045 §5.1).
    return "/" not in part.subtype


def _parts(root: Part) -> list[Part]:
    found: list[Part] = []
    stack = [root]
    while stack:  # depth first, in order: the MIME parser has already bounded the depth
        part = stack.pop()
        found.append(part)
        nested = [*part.children, *([part.message] if part.message is not None else [])]
        stack.extend(reversed(nested))
    return found


def _multipart_edges(data: bytes, part: Part) -> list[str]:
    """RFC 5173 §5.2: a multipart's prologue and epilogue, each one string."""
    boundary = part.param("boundary")
    body = data[part.body_start : part.body_end]
    if not boundary:
        return [decode_utf8_or_latin1(body)]
    delimiter = b"--" + boundary.encode("utf-8", "replace")
    first = body.find(delimiter)
    close = body.rfind(delimiter + b"--")
    prologue = body[: max(first, 0)] if first >= 0 else body
    epilogue = b""
    if close >= 0:
        line_end = body.find(b"\n", close)
        epilogue = body[line_end + 1 :] if line_end >= 0 else b""
    return [decode_utf8_or_latin1(prologue), decode_utf8_or_latin1(epilogue)]


def _leaf(data: bytes, part: Part) -> str:
    # RFC 5173 §5.2: transfer encoding undone, text converted to UTF-8.
    decoded = transfer_decode(data[part.body_start : part.body_end], part.encoding)
    if part.type == "text":
        return scrub(decode_bytes(decoded, part.charset))
    return decode_utf8_or_latin1(decoded)


def content_values(data: bytes, root: Part, wanted: list[str]) -> list[str]:
    """RFC 5173 §5.2: every part whose type one of ``wanted`` names, each on its own."""
    values: list[str] = []
    for part in _parts(root):
        if not any(content_type_matches(name, part) for name in wanted):
            continue
        if part.type == "multipart" and part.children:
            values.extend(_multipart_edges(data, part))
        elif part.message is not None:
            nested = part.message
            values.append(decode_utf8_or_latin1(data[nested.header_start : nested.body_start]))
        else:
            values.append(_leaf(data, part))
    return values


def text_values(data: bytes, root: Part) -> list[str]:
    """RFC 5173 §5.3: the text of each text part (HTML reduced to its text)."""
    values: list[str] = []
    for part in _parts(root):
        if part.type == "text" and not part.children and part.message is None and _well_formed(part):
            text = _leaf(data, part)
            values.append(html_to_text(text) if part.subtype == "html" else text)
    return values


def parse_root(data: bytes) -> Part:
    """The MIME structure of a message (the parser's own limits on depth and parts apply)."""
    return build_tree(data, MimeSettings()).root
