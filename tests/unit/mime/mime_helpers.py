"""Shared helpers for the MIME tests: corpus access, structural invariants, an IMAP reader."""

from __future__ import annotations

from pathlib import Path

from imap_env import read_imap
from pochta.config import MimeSettings
from pochta.mime import ParsedMessage, Part, envelope_from_json, parse_message, root_offsets_from_json
from pochta.mime.imapform import bodystructure_bytes, envelope_bytes

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "mime"


def load(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def parse(data: bytes, **limits: int) -> ParsedMessage:
    return parse_message(data, MimeSettings(**limits))


def body(data: bytes, part: Part | None) -> bytes:
    assert part is not None
    return data[part.body_start : part.body_end]


def mime_header(data: bytes, part: Part | None) -> bytes:
    assert part is not None
    return data[part.header_start : part.body_start]


def check_invariants(parsed: ParsedMessage, data: bytes) -> None:
    """Offsets in bounds, ordered and nested; sections resolve; the cache form round-trips;
    the IMAP forms are well-formed."""
    assert parsed.size == len(data)
    assert "internal_error" not in parsed.defects
    root = parsed.root
    assert root.header_start == 0
    assert root.body_end == len(data)
    stack = [root]
    count = 0
    while stack:
        part = stack.pop()
        count += 1
        assert 0 <= part.header_start <= part.body_start <= part.body_end <= len(data), part
        previous_end = part.body_start
        for child in part.children:
            assert child.header_start >= previous_end, (part, child)
            assert child.body_end <= part.body_end, (part, child)
            previous_end = child.body_end
            stack.append(child)
        if part.message is not None:
            assert part.message.header_start == part.body_start
            assert part.message.body_end == part.body_end
            assert part.message.envelope is not None
            stack.append(part.message)
        if part.is_multipart and not part.opaque:
            assert part.children, part
    for spec, part in parsed.sections():
        assert parsed.section(spec) is part
    assert ParsedMessage.from_json(parsed.to_json()) == parsed
    assert envelope_from_json(parsed.to_json(with_text=False)) == parsed.root.envelope  # FETCH ENVELOPE
    offsets = root_offsets_from_json(parsed.to_json(with_text=False))  # FETCH BODY[HEADER] and the like
    assert (offsets.header_start, offsets.body_start, offsets.body_end) == (
        root.header_start,
        root.body_start,
        root.body_end,
    )
    structure = read_imap(bodystructure_bytes(root, True))
    assert isinstance(structure, list)
    read_imap(bodystructure_bytes(root, False))
    envelope = read_imap(envelope_bytes(parsed.envelope))
    assert isinstance(envelope, list)
    assert len(envelope) == 10
