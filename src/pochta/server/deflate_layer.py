"""The DEFLATE layer of a connection: IMAP COMPRESS=DEFLATE (RFC 4978) both ways above TLS.

Owned by ``Connection`` (``start_compression``); this module holds only the compression state and
its rules: when output is sync-flushed so the peer can inflate it, and how much one read may inflate
to (a decompression bomb is taken in bounded pieces, never all at once).
"""

from __future__ import annotations

import zlib
from typing import Any, cast

__all__ = ["FLUSH_EVERY", "CompressionError", "DeflateLayer"]

# A sync flush at least every this many octets of output, so that no single write (no TLS record)
# inflates to more than this: clients that inflate one read into a fixed-size buffer and then wait
# for the socket (imaplib2, offlineimap3's library: 32 KiB) never sit on the rest.
FLUSH_EVERY = 16 * 1024


class CompressionError(ConnectionError):
    """The peer's compressed stream is not valid DEFLATE data."""


class DeflateLayer:
    """Raw DEFLATE (RFC 1951) state of both directions of one connection."""

    def __init__(self, *, level: int, max_inflate: int) -> None:
        if max_inflate <= 0:
            raise ValueError("max_inflate must be positive")
        self._deflater: Any = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)  # zlib.Compress
        self._inflater: Any = zlib.decompressobj(-zlib.MAX_WBITS)  # zlib.Decompress
        self._max_inflate = max_inflate
        self._unflushed = 0  # octets compressed since the last sync flush

    # -- output ----------------------------------------------------------------------------------

    def compress(self, data: bytes | bytearray) -> list[bytes]:
        """The compressed pieces to send for ``data``: RFC 4978 §3 compresses everything after the
        tagged OK; a sync flush ends every ``FLUSH_EVERY`` octets within a long write."""
        pieces: list[bytes] = []
        deflater, view = self._deflater, memoryview(data)
        while view:
            room = FLUSH_EVERY - self._unflushed
            piece, view = view[:room], view[room:]
            out = deflater.compress(piece)
            self._unflushed += len(piece)
            if self._unflushed >= FLUSH_EVERY:
                out += deflater.flush(zlib.Z_SYNC_FLUSH)
                self._unflushed = 0
            if out:
                pieces.append(out)
        return pieces

    @property
    def flush_pending(self) -> bool:
        """Output sits in the compressor that the peer cannot inflate before a sync flush."""
        return self._unflushed > 0

    def sync_flush(self) -> bytes:
        """End a burst with Z_SYNC_FLUSH (empty when nothing is pending): the peer can inflate all of
        it now (an IDLE update or a pipelined reply must not sit in the compressor)."""
        if self._unflushed == 0:
            return b""
        self._unflushed = 0
        return cast(bytes, self._deflater.flush(zlib.Z_SYNC_FLUSH))

    def finish(self) -> bytes:
        """The end of our compressed stream (Z_FINISH), so the peer sees it end (RFC 8437 §4.1)."""
        self._unflushed = 0
        return cast(bytes, self._deflater.flush(zlib.Z_FINISH))

    # -- input -----------------------------------------------------------------------------------

    @property
    def input_ended(self) -> bool:
        """The peer finished its compressed stream: it sends no more compressed data."""
        return bool(self._inflater.eof)

    @property
    def has_pending_input(self) -> bool:
        """Compressed input already received that an earlier ``inflate`` did not expand yet."""
        return bool(self._inflater.unconsumed_tail)

    @property
    def plain_after_end(self) -> bytes:
        """What the peer sent after finishing its compressed stream: plain data again."""
        return cast(bytes, self._inflater.unused_data) if self._inflater.eof else b""

    @property
    def unread_input(self) -> int:
        """Octets of compressed input received but not yet inflated."""
        return len(self._inflater.unconsumed_tail)

    def inflate(self, data: bytes, max_bytes: int) -> bytes:
        """Inflate ``data`` (or, when empty, what the last call left over) to at most
        ``min(max_bytes, max_inflate)`` octets; the rest of the input waits for the next call."""
        inflater = self._inflater
        if inflater.eof:
            return b""  # the peer ended its compressed stream: nothing after it is read
        source = data if data else inflater.unconsumed_tail
        try:
            return cast(bytes, inflater.decompress(source, min(max_bytes, self._max_inflate)))
        except zlib.error as exc:
            raise CompressionError(f"invalid compressed data: {exc}") from None
