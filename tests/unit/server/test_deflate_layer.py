"""The DEFLATE layer of COMPRESS (RFC 4978) without a socket: flushes, bounded inflate, the end."""

from __future__ import annotations

import os
import zlib

import pytest

from pochta.server.deflate_layer import FLUSH_EVERY, CompressionError, DeflateLayer


def test_long_output_is_sync_flushed_every_flush_every_octets() -> None:
    layer = DeflateLayer(level=6, max_inflate=1 << 20)
    data = os.urandom(FLUSH_EVERY * 3 + 100)
    pieces = layer.compress(data)
    assert layer.flush_pending  # the last 100 octets wait for a sync flush
    pieces.append(layer.sync_flush())
    assert not layer.flush_pending
    assert layer.sync_flush() == b""
    peer = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated = [peer.decompress(piece) for piece in pieces]
    assert b"".join(inflated) == data
    # Each flushed point is a whole unit for the peer: no piece leaves more than FLUSH_EVERY behind.
    assert len(b"".join(inflated[:-1])) >= FLUSH_EVERY * 3


def test_a_bomb_inflates_in_bounded_pieces() -> None:
    sender = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = sender.compress(b"\0" * 10_000_000) + sender.flush(zlib.Z_SYNC_FLUSH)
    layer = DeflateLayer(level=6, max_inflate=4096)
    first = layer.inflate(bomb, 65536)
    assert len(first) == 4096
    assert layer.has_pending_input
    total = len(first)
    while layer.has_pending_input:
        piece = layer.inflate(b"", 65536)
        assert 0 < len(piece) <= 4096
        total += len(piece)
    assert total == 10_000_000


def test_the_peers_finished_stream_leaves_plain_data_after_it() -> None:
    sender = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    wire = sender.compress(b"a1 NOOP\r\n") + sender.flush(zlib.Z_FINISH) + b"a2 plain\r\n"
    layer = DeflateLayer(level=6, max_inflate=4096)
    assert layer.inflate(wire, 4096) == b"a1 NOOP\r\n"
    assert layer.input_ended
    assert layer.plain_after_end == b"a2 plain\r\n"
    assert layer.inflate(b"more", 4096) == b""
    tail = layer.finish()
    assert zlib.decompressobj(-zlib.MAX_WBITS).decompress(tail) == b""


def test_invalid_input_is_a_compression_error() -> None:
    with pytest.raises(CompressionError, match="invalid compressed data"):
        DeflateLayer(level=6, max_inflate=4096).inflate(b"\xff\xff\xff\xff", 4096)
    with pytest.raises(ValueError, match="max_inflate"):
        DeflateLayer(level=6, max_inflate=0)
