"""The clamd codec (pochta.proto.clamd): chunk framing and replies, whole and byte by byte."""

from __future__ import annotations

import pytest

from pochta.proto.clamd import (
    INSTREAM,
    STREAM_END,
    ClamdError,
    ClamdReplyReader,
    Verdict,
    chunk_frame,
    parse_reply,
)


def test_framing() -> None:
    assert INSTREAM == b"zINSTREAM\x00"
    assert STREAM_END == b"\x00\x00\x00\x00"
    assert chunk_frame(b"abc") == b"\x00\x00\x00\x03"
    assert chunk_frame(b"x" * 70000) == b"\x00\x01\x11\x70"
    with pytest.raises(ValueError, match="chunk"):
        chunk_frame(b"")


@pytest.mark.parametrize(
    ("line", "verdict"),
    [
        ("stream: OK", Verdict()),
        ("stream: Eicar-Test-Signature FOUND", Verdict(virus="Eicar-Test-Signature")),
        ("stream: Win.Test.EICAR_HDB-1.UNOFFICIAL FOUND", Verdict(virus="Win.Test.EICAR_HDB-1.UNOFFICIAL")),
        ("INSTREAM size limit exceeded. ERROR", Verdict(error="INSTREAM size limit exceeded.")),
        ("stream: Can't allocate memory ERROR", Verdict(error="stream: Can't allocate memory")),
    ],
)
def test_replies(line: str, verdict: Verdict) -> None:
    assert parse_reply(line) == verdict
    assert parse_reply(line).clean == (verdict == Verdict())


@pytest.mark.parametrize("line", ["", "PONG", "stream: maybe", "stream:  FOUND", "stream: OKAY"])
def test_not_replies(line: str) -> None:
    with pytest.raises(ClamdError):
        parse_reply(line)


@pytest.mark.parametrize("step", [1, 2, 7, 1000])
def test_reader_takes_the_reply_in_any_pieces(step: int) -> None:
    data = b"stream: Eicar-Test-Signature FOUND\x00"
    reader = ClamdReplyReader()
    verdicts = [reader.feed(data[i : i + step]) for i in range(0, len(data), step)]
    assert verdicts[-1] == Verdict(virus="Eicar-Test-Signature")
    assert all(v is None for v in verdicts[:-1])
    assert reader.eof() == Verdict(virus="Eicar-Test-Signature")


def test_reader_without_nul_and_too_long() -> None:
    reader = ClamdReplyReader()
    assert reader.feed(b"stream: OK\n") is None
    assert reader.eof() == Verdict()
    with pytest.raises(ClamdError, match="without a reply"):
        ClamdReplyReader().eof()
    with pytest.raises(ClamdError, match="too long"):
        ClamdReplyReader().feed(b"x" * 5000)
