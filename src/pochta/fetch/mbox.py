"""The mbox format, read and written: From lines, quoting, and the flag headers.

Reading (``read_mbox``): a message starts at a line ``From <sender> <asctime date>``; a line starting
"From " without such a date is body text (mutt's ``is_from`` rule), so an unquoted "From " in a body
of an mboxo file rarely splits a message. The empty line that separates a message from the next From
line belongs to the file, not the message. Quoting:

- mboxrd (the default): every ``>*From `` line of a message was written with one more ``>``;
  reading removes one.
- mboxo: only ``From `` was quoted, to ``>From ``; reading removes the ``>`` of ``>From `` only.

The date of the From line is the internal date (taken as UTC when it names no zone: a file from
another machine carries no zone of its own). Flags come from the headers mail programs keep in mbox
files: ``Status:`` (R = \\Seen; O = not new, no flag), ``X-Status:`` (A = \\Answered, F =
\\Flagged, T = \\Draft, D = \\Deleted) and ``X-Keywords:`` (keywords, separated by spaces or commas).
These headers are taken out of the message, with ``X-UID``, ``X-IMAP``, ``X-IMAPbase`` and
``Content-Length``, as Dovecot hides them from IMAP clients of an mbox (its ``mbox_hide_headers``):
they are the mbox file's bookkeeping, not the message, and stripping them is what makes an export
imported again byte-identical. UW-IMAP's folder pseudo-message (an ``X-IMAP`` header) is skipped.

Writing (``write_message``): mboxrd, LF line ends (the format's own), the same From line and headers,
with the UIDs (``X-UID``, and ``X-IMAPbase`` on a folder's first message with its UIDVALIDITY, UIDNEXT and
keyword names) as UW-IMAP and Dovecot keep them: a server reading the file keeps the UIDs and
keywords (Dovecot ignores an X-Keywords name its X-IMAPbase does not list).
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterator
from datetime import UTC, datetime, timedelta, timezone

from pochta.fetch.importer_source import (
    Known,
    Skipped,
    SourceItem,
    SourceMessage,
    cr_only,
    cr_to_lf,
    crlf,
    keyword_flags,
    looks_like_message,
)
from pochta.mail.flags import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, is_system_flag

__all__ = ["HIDDEN_HEADERS", "from_line", "imap_base", "is_mbox", "read_mbox", "split_flags", "write_message"]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# The asctime date of a From line, possibly with a zone before or after the year (qmail, old UUCP).
_DATE = re.compile(
    rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+(\d{1,2})\s+"
    rb"(\d{1,2}):(\d{2})(?::(\d{2}))?\s+(?:([A-Za-z]{1,5}|[+-]\d{4})\s+)?(\d{4})(?:\s+([+-]\d{4}))?"
)
_RD_QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)
_O_QUOTED = re.compile(rb"^>(From )", re.MULTILINE)
_RD_QUOTE = re.compile(rb"^(>*From )", re.MULTILINE)

# Dovecot's mbox_hide_headers: the mbox file's bookkeeping, never part of the message.
HIDDEN_HEADERS = frozenset(
    {b"status", b"x-status", b"x-keywords", b"x-uid", b"x-imap", b"x-imapbase", b"content-length"}
)
_X_STATUS = {"A": ANSWERED, "F": FLAGGED, "T": DRAFT, "D": DELETED}
_X_STATUS_LETTER = {flag: letter for letter, flag in _X_STATUS.items()}


def from_line_date(line: bytes) -> datetime | None:
    """The date of a From line (None when it has none: then it is no From line)."""
    match = _DATE.search(line, 5)
    if match is None:
        return None
    month, day, hour, minute, second, zone1, year, zone2 = match.groups()
    try:
        when = datetime(
            int(year), _MONTHS.index(month.decode()) + 1, int(day), int(hour), int(minute), int(second or 0)
        )
    except ValueError:
        return None
    zone = zone2 or zone1
    tz: timezone = UTC
    if zone is not None and zone[:1] in (b"+", b"-"):
        minutes = int(zone[1:3]) * 60 + int(zone[3:5])
        tz = timezone(timedelta(minutes=-minutes if zone[:1] == b"-" else minutes))
    return when.replace(tzinfo=tz)


def is_mbox(head: bytes) -> bool:
    """Whether a file starting with ``head`` is an mbox: its first line is a From line."""
    if cr_only(head):
        head = cr_to_lf(head)
    first = head.split(b"\n", 1)[0]
    return first.startswith(b"From ") and from_line_date(first) is not None


def _next_from(data: bytes, position: int) -> int:
    """Where the next line starting "From " begins (bytes.find: far faster than a MULTILINE regex)."""
    found = data.find(b"\nFrom ", position)
    return found + 1 if found >= 0 else -1


def _separators(data: bytes) -> Iterator[tuple[int, int, datetime | None]]:
    """(start of the From line, start of the message, date) of each message."""
    start = 0 if data[:5] == b"From " else _next_from(data, 0)
    while start >= 0:
        end = data.find(b"\n", start)
        line_end = len(data) if end < 0 else end
        date = from_line_date(data[start:line_end])
        if date is not None or start == 0:
            yield start, min(line_end + 1, len(data)), date
        start = _next_from(data, line_end)


_HEADER_END = re.compile(rb"\n\r?\n")


def split_flags(data: bytes) -> tuple[bytes, frozenset[str], bool]:
    """The message without the mbox bookkeeping headers, the flags they gave, and whether it is
    UW-IMAP's folder pseudo-message. Line ends (LF or CRLF) are left as they are."""
    found = _HEADER_END.search(data)
    end = -1 if found is None else found.start()
    header = data if end < 0 else data[: end + 1]
    flags: set[str] = set()
    kept: list[bytes] = []
    hidden: bytes | None = None
    pseudo = False
    lines = header.splitlines(keepends=True)
    fields: list[list[bytes]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    for field in fields:
        name = field[0].split(b":", 1)[0].strip().lower() if b":" in field[0] else None
        if name not in HIDDEN_HEADERS:
            kept.extend(field)
            continue
        hidden = b"".join(field)
        value = hidden.split(b":", 1)[1].decode("latin-1").strip()
        if name == b"status" and "R" in value:
            flags.add(SEEN)
        elif name == b"x-status":
            flags.update(_X_STATUS[letter] for letter in value if letter in _X_STATUS)
        elif name == b"x-keywords":
            flags.update(keyword_flags(re.split(r"[\s,]+", value)))
        elif name == b"x-imap":  # UW-IMAP's pseudo-message (Dovecot's X-IMAPbase is on a real one)
            pseudo = True
    if hidden is None:
        return data, frozenset(flags), pseudo
    body = b"" if end < 0 else data[end + 1 :]
    return b"".join(kept) + body, frozenset(flags), pseudo


def read_mbox(
    data: bytes, folder: str, key_prefix: str, *, quoting: str = "rd", known: Container[str] = ()
) -> Iterator[SourceItem]:
    """Every message of an mbox file's bytes (an mmap of it does); keys are ``key_prefix@offset``;
    those in ``known`` are only named."""
    if cr_only(data[:65536]):
        data = cr_to_lf(data)  # an old Mac file: lines end in CR alone
    unquote = _RD_QUOTED if quoting == "rd" else _O_QUOTED
    marks = list(_separators(data))
    for index, (start, body_start, date) in enumerate(marks):
        end = marks[index + 1][0] if index + 1 < len(marks) else len(data)
        key = f"{key_prefix}@{start}"
        if key in known:
            yield Known(folder, key, end - start)
            continue
        raw = data[body_start:end]
        if raw.endswith(b"\n\n"):
            raw = raw[:-1]  # the empty line before the next From line is the file's
        elif raw.endswith(b"\r\n\r\n"):
            raw = raw[:-2]
        size = end - start
        if not raw.strip():
            yield Skipped(folder, key, "empty message", size)
            continue
        if not looks_like_message(raw):
            yield Skipped(folder, key, "not a message: it does not begin with a header field", size)
            continue
        if (
            index + 1 == len(marks)
            and b"\n\n" not in raw
            and b"\r\n\r\n" not in raw
            and not raw.endswith(b"\n")
        ):
            yield Skipped(folder, key, "truncated: the file ends inside the message header", size)
            continue
        message = unquote.sub(rb"\1", raw) if b">From " in raw else raw  # only quoted lines have it
        stripped, flags, pseudo = split_flags(message)
        if pseudo:
            yield Skipped(folder, key, "UW-IMAP folder pseudo-message", size)
            continue
        yield SourceMessage(folder, key, crlf(stripped), flags, date, size)


def from_line(sender: str, when: datetime) -> bytes:
    """``From sender asctime`` in UTC (RFC 4155 section 2: the sender without spaces; MAILER-DAEMON when
    there is none)."""
    utc = when.astimezone(UTC)
    name = "".join(sender.split()) or "MAILER-DAEMON"
    day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[utc.weekday()]
    stamp = f"{day} {_MONTHS[utc.month - 1]} {utc.day:2d} {utc:%H:%M:%S} {utc.year}"
    return f"From {name} {stamp}\n".encode("ascii", "replace")


def _status_headers(flags: frozenset[str]) -> bytes:
    status = "RO" if SEEN in flags else "O"
    x_status = "".join(letter for flag, letter in sorted(_X_STATUS_LETTER.items()) if flag in flags)
    keywords = sorted(flag for flag in flags if not is_system_flag(flag))
    out = f"Status: {status}\n"
    if x_status:
        out += f"X-Status: {x_status}\n"
    if keywords:
        out += f"X-Keywords: {' '.join(keywords)}\n"
    return out.encode("ascii")


def _return_path(header: bytes) -> str:
    match = re.search(rb"^return-path:\s*<?([^\s<>]*)>?", header, re.IGNORECASE | re.MULTILINE)
    return match.group(1).decode("ascii", "replace") if match and match.group(1) else "MAILER-DAEMON"


def imap_base(uidvalidity: int, uidnext: int, keywords: list[str]) -> bytes:
    """The ``X-IMAPbase`` header of a folder's first message (UW-IMAP's, which Dovecot reads): UIDVALIDITY,
    UIDNEXT and the folder's keywords (Dovecot honours an ``X-Keywords`` name only when it is listed
    here)."""
    return f"X-IMAPbase: {uidvalidity} {uidnext:010d} {' '.join(keywords)}".rstrip().encode("ascii") + b"\n"


def write_message(
    message: bytes, flags: frozenset[str], when: datetime, *, uid: int | None = None, base: bytes = b""
) -> bytes:
    """One message as an mboxrd entry: From line, the header with the flag headers at its end (any
    it had already are replaced; ``base`` the folder's ``X-IMAPbase`` for its first message, ``uid``
    an ``X-UID``), the body quoted, an empty line after it."""
    lf = message.replace(b"\r\n", b"\n")
    stripped, _, _ = split_flags(lf)
    end = stripped.find(b"\n\n")
    header, body = (stripped, b"") if end < 0 else (stripped[: end + 1], stripped[end + 1 :])
    if not header.endswith(b"\n"):
        header += b"\n"
    uid_header = b"" if uid is None else f"X-UID: {uid}\n".encode("ascii")
    text = header + base + _status_headers(flags) + uid_header + body
    text = _RD_QUOTE.sub(rb">\1", text)
    if not text.endswith(b"\n"):
        text += b"\n"
    return from_line(_return_path(header), when) + text + b"\n"
