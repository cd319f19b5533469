"""Virus scanning through clamd (docs/antispam.md "Virus scanning"): the async driver of
``pochta.proto.clamd``. At end of DATA the spooled message is streamed to clamd with INSTREAM, in
``[clamav] chunk_size`` pieces read from the spool file; a virus refuses the message with
``554 5.7.1 Virus found: NAME`` and nothing is stored. A message over ``max_size`` is not scanned
(logged); clamd down, slow or failing follows ``on_failure``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pochta.config_clamav import ClamavSettings
from pochta.log import get_logger
from pochta.proto.clamd import INSTREAM, STREAM_END, ClamdError, ClamdReplyReader, Verdict, chunk_frame
from pochta.proto.smtp import Reply

__all__ = ["ClamavScanner", "ScanOutcome", "scan_stream"]

log = get_logger(component="clamav")


@dataclass(frozen=True)
class ScanOutcome:
    """``refusal``: the reply that refuses the message (None: store it)."""

    refusal: Reply | None
    verdict: Verdict | None = None  # None: not scanned (too large, or clamd failed)


async def _open(socket: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    kind, _, rest = socket.partition(":")
    if kind == "unix":
        return await asyncio.open_unix_connection(rest)
    host, _, port = rest.rpartition(":")
    return await asyncio.open_connection(host.strip("[]"), int(port))


async def scan_stream(socket: str, chunks: AsyncIterator[bytes]) -> Verdict:
    """One INSTREAM conversation: the chunks out, the verdict back. Raises OSError or ClamdError."""
    reader, writer = await _open(socket)
    try:
        writer.write(INSTREAM)
        async for chunk in chunks:
            if chunk:
                writer.write(chunk_frame(chunk))
                writer.write(chunk)
                await writer.drain()  # at most one chunk in our buffers
        writer.write(STREAM_END)
        await writer.drain()
        replies = ClamdReplyReader()
        while data := await reader.read(4096):
            verdict = replies.feed(data)
            if verdict is not None:
                return verdict
        return replies.eof()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class ClamavScanner:
    def __init__(self, settings: ClamavSettings) -> None:
        self.settings = settings

    def applies(self, listener: str) -> bool:
        return self.settings.enabled and listener in self.settings.listeners

    async def scan(self, size: int, chunks: AsyncIterator[bytes], queue_id: str) -> ScanOutcome:
        config = self.settings
        if size > config.max_size:
            log.info(
                "clamav: message %s not scanned: %d octets over max_size %d", queue_id, size, config.max_size
            )
            return ScanOutcome(None)
        try:
            async with asyncio.timeout(config.timeout):
                verdict = await scan_stream(config.socket, chunks)
        except (OSError, ClamdError, TimeoutError) as exc:
            return self._failed(queue_id, f"{type(exc).__name__}: {exc}")
        if verdict.virus is not None:
            log.warning("clamav virus found", id=queue_id, virus=verdict.virus)
            return ScanOutcome(Reply(554, (f"Virus found: {verdict.virus}",), "5.7.1"), verdict)
        if verdict.error is not None:
            return self._failed(queue_id, f"clamd error: {verdict.error}")
        return ScanOutcome(None, verdict)

    def _failed(self, queue_id: str, why: str) -> ScanOutcome:
        if self.settings.on_failure == "accept":
            log.warning("clamav failed, accepted unscanned", id=queue_id, reason=why)
            return ScanOutcome(None)
        log.warning("clamav failed, deferred", id=queue_id, reason=why)
        # RFC 3463 section 3.8, X.7.1 as the milters' tempfail: the sender retries later.
        return ScanOutcome(Reply(451, ("Virus scanner unavailable; try again later",), "4.7.1"))
