"""EmailBodyValue objects (RFC 8621 section 4.1.4 bodyValues, section 4.2 arguments): a text part
decoded with pochta's decoders (transfer encoding ``mime.text``, charset ``mime.charset``), with
``isEncodingProblem`` and the truncation ``maxBodyValueBytes`` asks for."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pochta.mime.charset import decode_bytes_checked
from pochta.mime.source import Source
from pochta.mime.text import scrub
from pochta.proto.jmap.mail.body import KNOWN_ENCODINGS, BodyPart, decoded_content

# A "<" that opens markup (a tag, an end tag, a comment or a declaration), not a lone less-than.
_TAG_OPEN = re.compile(r"<[A-Za-z/!?]")


def truncate(value: str, max_bytes: int, *, html: bool) -> tuple[str, bool]:
    """(value cut to at most ``max_bytes`` UTF-8 octets, whether it was cut). RFC 8621 section 4.2:
    never mid-codepoint ("MUST"), and for text/html not inside a tag ("SHOULD NOT"): a cut inside
    one moves back to before its "<"."""
    if max_bytes <= 0:
        return value, False
    encoded = value.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return value, False
    cut = encoded[:max_bytes].decode("utf-8", "ignore")  # drops only a partial last character
    if html:
        opened = -1
        for found in _TAG_OPEN.finditer(cut):
            opened = found.start()
        if cut.endswith("<"):  # what followed it was cut off: it may open a tag
            opened = len(cut) - 1
        if opened >= 0 and cut.find(">", opened) < 0:
            cut = cut[:opened]
    return cut, True


def body_value(data: Source, body: BodyPart, max_bytes: int) -> dict[str, Any]:
    """RFC 8621 section 4.1.4 EmailBodyValue of a text/* leaf: transfer and charset decoded, CRLF
    made LF; ``isEncodingProblem`` when the charset or the transfer encoding is unknown or the
    octets are malformed for the charset."""
    part = body.part
    text, clean = decode_bytes_checked(decoded_content(data, part), part.charset)
    text = scrub(text)
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    value, truncated = truncate(text, max_bytes, html=part.subtype == "html")
    return {
        "value": value,
        "isEncodingProblem": not clean or part.encoding not in KNOWN_ENCODINGS,
        "isTruncated": truncated,
    }


def body_values(
    data: Source,
    parts: Iterable[BodyPart],
    max_bytes: int,
) -> dict[str, dict[str, Any]]:
    """partId -> EmailBodyValue for each text/* leaf among ``parts`` (in order, once each)."""
    out: dict[str, dict[str, Any]] = {}
    for body in parts:
        if body.part_id is None or body.part_id in out or body.part.type != "text":
            continue
        out[body.part_id] = body_value(data, body, max_bytes)
    return out
