"""Parsing from a memory map (as delivery does) gives exactly what parsing the bytes gives."""

from __future__ import annotations

import mmap
from pathlib import Path

import pytest
from mime_helpers import CORPUS

from pochta.config import MimeSettings
from pochta.mime import parse_message
from pochta.mime.source import count_byte, starts_with

CORPUS_FILES = sorted(path.name for path in CORPUS.glob("*.eml"))


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_mmap_parse_equals_bytes_parse(name: str) -> None:
    path = CORPUS / name
    settings = MimeSettings()
    expected = parse_message(path.read_bytes(), settings)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        assert parse_message(mapped, settings) == expected


def test_helpers_match_bytes_methods(tmp_path: Path) -> None:
    data = b"From a\r\n\r\nline\n" * 100_000 + b"tail"
    file = tmp_path / "m"
    file.write_bytes(data)
    with open(file, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        for start, end in [(0, len(data)), (3, 1_500_001), (len(data) - 2, len(data)), (10, 5)]:
            assert count_byte(mapped, b"\n", start, end) == data.count(b"\n", start, end)
            assert count_byte(data, b"\n", start, end) == data.count(b"\n", start, end)
        for prefix, start, end in [
            (b"From", 0, 10),
            (b"From", 0, 3),
            (b"\r\n", 6, 8),
            (b"x", 0, 1),
            (b"ta", len(data) - 4, len(data)),
        ]:
            assert starts_with(mapped, prefix, start, end) == data.startswith(prefix, start, end)
