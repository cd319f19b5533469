"""MIME parsing at delivery. CONTRACT PLACEHOLDER: replaced by the real parser in this session."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from pochta.config import MimeSettings


@dataclass(frozen=True)
class ParsedMessage:
    size: int
    lines: int
    body_text: str  # UTF-8 text of the body parts, for full-text search
    header_text: str  # decoded header values, for full-text search of TEXT
    preview: str

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ParsedMessage:
        return cls(**json.loads(data))


def parse_message(data: bytes, settings: MimeSettings) -> ParsedMessage:
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    return ParsedMessage(len(data), data.count(b"\n"), body, head, body[: settings.preview_chars])
