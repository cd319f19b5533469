"""APPEND literals written to spool files while they arrive (RFC 9051 §6.3.12, RFC 3502).

The receiver hands the octets of a large APPEND literal out as ``LiteralChunk`` events
(``Limits.stream_over``) instead of keeping them; ``Uploads`` writes each literal to its own
``SpoolFile`` (the one SMTP DATA uses), with bare LF turned into CRLF on the way (``LineEnds``, the
rule of ``MailOps.canonical_content``); a literal8 is written as it comes, and ``take_binary`` makes
the stored form of it (binary parts in base64, RFC 3516 §4.4: ``mail.ops.binary_file_to_text``).
The APPEND handler ``take``s the finished files by literal index and gives them to
``MailOps.append_many``, which adopts them as blobs by a rename. After every
command (done, refused or failed) and when the session ends, ``discard`` removes whatever was not
adopted, so a MULTIAPPEND that fails leaves no file behind, and nothing of it is stored.

Memory per session stays at the size of one read, however large the messages: 10 connections
with unfinished 50 MB APPENDs took the server from 164 MB to 624 MB when literals were held.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pochta.config import MimeSettings
from pochta.mail.ops import LineEnds, binary_file_to_text
from pochta.store.spool import SpoolFile

__all__ = ["Uploads"]


class Uploads:
    """The spool files of the command being received, by literal index."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._files: dict[int, SpoolFile] = {}
        self._line_ends: dict[int, LineEnds | None] = {}  # None: a literal8, kept as it comes

        self._held: list[SpoolFile] = []  # made by the command (CATENATE): discarded likewise

    def __len__(self) -> int:
        return len(self._files)

    def hold(self, spool: SpoolFile) -> None:
        """A spool file the command made (a CATENATE message): ``discard`` removes it unless the
        store adopted it."""
        self._held.append(spool)

    async def write(self, index: int, data: bytes, last: bool, *, binary: bool = False) -> None:
        """Octets of literal ``index``; ``last`` finishes (closes) its file."""
        spool = self._files.get(index)
        if spool is None:
            spool = self._files[index] = SpoolFile(self._directory, "imap-append")
            self._line_ends[index] = None if binary else LineEnds()
        line_ends = self._line_ends[index]
        spool.write(data if line_ends is None else line_ends.convert(data))
        if last:
            await spool.finish()

    async def take_binary(self, index: int, settings: MimeSettings) -> SpoolFile:
        """The stored form of literal8 ``index`` in a new file (the one written as it came is
        removed); raises OpsError (UNKNOWN-CTE) when its binary content cannot be stored."""
        raw = self.take(index)
        converted = SpoolFile(self._directory, "imap-append")
        self._files[index] = converted  # ``discard`` removes it unless it is adopted
        try:
            assert raw.path is not None
            await asyncio.to_thread(binary_file_to_text, raw.path, converted, settings)
            await converted.finish()
        finally:
            await raw.discard()
        return converted

    def take(self, index: int) -> SpoolFile:
        """The finished file of literal ``index`` (it stays listed: ``discard`` removes it unless
        it was adopted meanwhile)."""
        spool = self._files[index]
        if not spool.finished:
            raise RuntimeError(f"literal {index} is not complete")
        return spool

    async def discard(self) -> None:
        """Removes every file not adopted by the store; the next command starts afresh."""
        files = [*self._files.values(), *self._held]
        self._files.clear()
        self._held.clear()
        self._line_ends.clear()
        for spool in files:
            await spool.discard()
