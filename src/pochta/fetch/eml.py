"""Single message files (``.eml``, as mail programs save them): one message each, no flags.

An .eml file keeps no IMAP state, so the message is imported without flags and its internal date is
its ``Date:`` header (what a client shows as the message's date; the file's mtime is when it was
saved), or the file's mtime when the header is missing or unreadable.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from pochta.fetch.importer_source import Skipped, SourceMessage, crlf, looks_like_message

__all__ = ["EML_SUFFIXES", "header_date", "read_eml"]

EML_SUFFIXES = (".eml",)
_DATE = re.compile(rb"^date:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


def header_date(data: bytes) -> datetime | None:
    """The message's Date: header (RFC 5322 §3.6.1) as a datetime, or None."""
    end = data.find(b"\n\n")
    end2 = data.find(b"\r\n\r\n")
    cut = min(x for x in (end, end2, len(data)) if x >= 0)
    match = _DATE.search(data, 0, cut)
    if match is None:
        return None
    try:
        when = parsedate_to_datetime(re.sub(rb"\s+", b" ", match.group(1)).decode("ascii", "replace").strip())
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def read_eml(path: Path, folder: str, key: str) -> SourceMessage | Skipped:
    try:
        with open(path, "rb") as file:
            stat = os.fstat(file.fileno())
            data = file.read()
    except OSError as exc:
        return Skipped(folder, key, f"unreadable: {exc.strerror}")
    if not data.strip():
        return Skipped(folder, key, "empty message", len(data))
    if not looks_like_message(data):
        return Skipped(folder, key, "not a message: it does not begin with a header field", len(data))
    when = header_date(data) or datetime.fromtimestamp(int(stat.st_mtime), UTC)
    return SourceMessage(folder, key, crlf(data), frozenset(), when, len(data))
