"""What the readers of ``pochta import`` (Maildir, mbox, .eml) hand the importer, and the rules they share.

A reader walks its files and yields, in order, ``SourceMessage``s (one message with the flags and
internal date its format keeps) and ``Skipped`` items (something it could not read as a message, with
the reason the summary prints). Each message has a ``key`` that names it within the source for good
(a Maildir file's unique base name, an mbox message's byte offset, an .eml file's path): the import
journal remembers the keys it placed, which is what makes a rerun finish an interrupted import
without placing any message twice (docs/import-export.md "Resuming").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pochta.mail.flags import is_atom, is_system_flag

__all__ = ["Known", "Skipped", "SourceItem", "SourceMessage", "crlf", "keyword_flags", "looks_like_message"]


@dataclass(frozen=True)
class SourceMessage:
    folder: str  # the mailbox name it belongs in, relative to the import's target ("" = the top)
    key: str  # stable name of the message within the source (the journal's key)
    data: bytes  # the message, CRLF line ends (DESIGN data model: blobs are CRLF)
    flags: frozenset[str]
    internal_date: datetime | None  # None: the time of the import
    source_size: int  # octets it takes in the source (what the progress bar counts)


@dataclass(frozen=True)
class Skipped:
    folder: str
    key: str
    reason: str
    source_size: int = 0


@dataclass(frozen=True)
class Known:
    """A message whose key the journal has (placed by an earlier run): not read, not converted."""

    folder: str
    key: str
    source_size: int = 0


SourceItem = SourceMessage | Skipped | Known


_BARE_CR = re.compile(rb"\r(?!\n)")


def crlf(data: bytes) -> bytes:
    """Line ends as the store keeps them: CRLF. A bare LF becomes CRLF (RFC 5322 §2.3: CR and LF
    only occur together, as IMAP APPEND does it); a text that has no LF at all but has CRs (an old Mac
    file, CR-only line ends) has each CR become CRLF. A bare CR inside a text that uses LF is left as
    it is, as APPEND leaves it."""
    if b"\n" not in data:
        return data.replace(b"\r", b"\r\n") if b"\r" in data else data
    if data.count(b"\n") == data.count(b"\r\n"):
        return data  # already CRLF: no copy
    # Two passes of bytes.replace (memchr speed, five times the regex's): CRLF -> LF, LF -> CRLF.
    # A CR not before an LF is left alone by both.
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def cr_only(data: bytes) -> bool:
    """A text whose line ends are bare CRs (no LF anywhere)."""
    return b"\n" not in data and b"\r" in data


def cr_to_lf(data: bytes) -> bytes:
    return _BARE_CR.sub(b"\n", data)


_FIELD = re.compile(rb"[!-9;-~]+:")  # RFC 5322 §2.2: field name, printable US-ASCII except ":"


def looks_like_message(data: bytes) -> bool:
    """Whether the bytes begin with a header field (RFC 5322 §2.2), as any message does."""
    return _FIELD.match(data) is not None


def keyword_flags(names: list[str]) -> frozenset[str]:
    """The keywords of a list a file gave (Dovecot keywords, X-Keywords, Courier): valid IMAP atoms
    only (RFC 9051 §9), never a system flag spelled as a keyword."""
    return frozenset(name for name in names if is_atom(name) and not is_system_flag(name))
