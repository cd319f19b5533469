"""ReceiveBuffer: lines, limits, strict CRLF, literals, STARTTLS discard. Fed whole and byte by byte."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pochta.proto.buffer import BareLineFeed, LineTooLong, ReceiveBuffer

Event = bytes | tuple[str, bytes] | str


def drain(buf: ReceiveBuffer) -> list[Event]:
    events: list[Event] = []
    while True:
        try:
            line = buf.next_line()
        except LineTooLong:
            events.append("TOO LONG")
            continue
        except BareLineFeed as exc:
            events.append(("BARE LF", exc.line))
            continue
        if line is None:
            return events
        events.append(line)


def run(data: bytes, bytewise: bool, max_line_length: int = 100, strict_crlf: bool = True) -> list[Event]:
    buf = ReceiveBuffer(max_line_length, strict_crlf=strict_crlf)
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    events: list[Event] = []
    for piece in pieces:
        buf.feed(piece)
        events += drain(buf)
    return events


both = pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])


@both
def test_crlf_lines(bytewise: bool) -> None:
    assert run(b"EHLO x\r\nMAIL FROM:<>\r\n\r\nQUIT\r\n", bytewise) == [
        b"EHLO x",
        b"MAIL FROM:<>",
        b"",
        b"QUIT",
    ]


@both
def test_incomplete_line_waits(bytewise: bool) -> None:
    buf = ReceiveBuffer(100)
    for piece in [b"NOOP\r"] if not bytewise else [b"N", b"O", b"O", b"P", b"\r"]:
        buf.feed(piece)
        assert buf.next_line() is None
    assert buf.pending() == 5
    buf.feed(b"\n")
    assert buf.next_line() == b"NOOP"
    assert buf.pending() == 0


@both
def test_strict_mode_reports_bare_lf_and_goes_on(bytewise: bool) -> None:
    events = run(b"A\r\nB\nC\r\n", bytewise)
    assert events == [b"A", ("BARE LF", b"B"), b"C"]


@both
def test_tolerant_mode_accepts_lf(bytewise: bool) -> None:
    assert run(b"A\nB\r\nC\r\r\n", bytewise, strict_crlf=False) == [b"A", b"B", b"C\r"]


@both
def test_lone_cr_is_content(bytewise: bool) -> None:
    assert run(b"a\rb\r\n", bytewise) == [b"a\rb"]


@both
@pytest.mark.parametrize("strict", [True, False])
def test_line_of_exactly_the_limit_passes(bytewise: bool, strict: bool) -> None:
    line = b"x" * 10
    assert run(line + b"\r\n", bytewise, max_line_length=10, strict_crlf=strict) == [line]


@both
def test_line_over_the_limit_is_reported_once_and_skipped(bytewise: bool) -> None:
    data = b"OK1\r\n" + b"y" * 11 + b"\r\nOK2\r\n"
    assert run(data, bytewise, max_line_length=10) == [b"OK1", "TOO LONG", b"OK2"]


@both
def test_huge_line_reported_once(bytewise: bool) -> None:
    data = b"z" * 5000 + b"\r\nAFTER\r\n"
    assert run(data, bytewise, max_line_length=64) == ["TOO LONG", b"AFTER"]


@both
def test_over_long_line_ending_in_bare_lf_is_too_long(bytewise: bool) -> None:
    assert run(b"q" * 20 + b"\nNEXT\r\n", bytewise, max_line_length=10) == ["TOO LONG", b"NEXT"]


def test_overflow_never_buffers_more_than_the_limit() -> None:
    buf = ReceiveBuffer(100)
    reports: list[LineTooLong] = []
    for _ in range(10_000):
        buf.feed(b"a" * 7)
        try:
            assert buf.next_line() is None
        except LineTooLong as exc:
            reports.append(exc)
        assert buf.pending() <= 101
    assert [exc.limit for exc in reports] == [100]
    assert buf.discarding
    buf.feed(b"aaa\r\nNEXT\r\n")
    assert not buf.discarding
    assert buf.next_line() == b"NEXT"


def test_final_cr_may_be_the_terminator_at_the_limit() -> None:
    buf = ReceiveBuffer(4)
    buf.feed(b"abcd\r")
    assert buf.next_line() is None  # 4 octets and a CR: still within the limit
    buf.feed(b"\n")
    assert buf.next_line() == b"abcd"
    buf.feed(b"abcde")
    with pytest.raises(LineTooLong):
        buf.next_line()


def test_limit_changes_at_runtime() -> None:
    buf = ReceiveBuffer(1000)
    buf.feed(b"x" * 50 + b"\r\n" + b"y" * 50 + b"\r\n")
    assert buf.next_line() == b"x" * 50
    buf.max_line_length = 20
    assert buf.max_line_length == 20
    with pytest.raises(LineTooLong):
        buf.next_line()
    assert buf.next_line() is None


@both
def test_literal_between_lines(bytewise: bool) -> None:
    data = b"A1 LOGIN {5}\r\nhello world\r\nA2 NOOP\r\n"
    buf = ReceiveBuffer(100)
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    got: list[bytes] = []
    state = "line"
    for piece in pieces:
        buf.feed(piece)
        while True:
            if state == "literal":
                literal = buf.read_exact(5)
                if literal is None:
                    break
                got.append(literal)
                state = "line"
            line = buf.next_line()
            if line is None:
                break
            got.append(line)
            if line.endswith(b"{5}"):
                state = "literal"
    assert got == [b"A1 LOGIN {5}", b"hello", b" world", b"A2 NOOP"]


def test_read_exact_waits_for_all() -> None:
    buf = ReceiveBuffer(10)
    buf.feed(b"abc")
    assert buf.read_exact(4) is None
    assert buf.pending() == 3
    buf.feed(b"de")
    assert buf.read_exact(4) == b"abcd"
    assert buf.read_exact(0) == b""
    assert buf.take_all() == b"e"


def test_streaming_a_big_literal_never_holds_it_whole() -> None:
    size, chunk = 5_000_000, 65536
    buf = ReceiveBuffer(100)
    remaining, received, peak = size, 0, 0
    sent = 0
    while remaining:
        piece = min(chunk, size - sent)
        if piece:
            buf.feed(b"\x00" * piece)
            sent += piece
        peak = max(peak, buf.pending())
        data = buf.read_up_to(remaining)
        remaining -= len(data)
        received += len(data)
    assert received == size
    assert peak <= chunk
    assert buf.read_up_to(10) == b""


def test_read_up_to_leaves_the_rest_for_lines() -> None:
    buf = ReceiveBuffer(100)
    buf.feed(b"12345rest\r\n")
    assert buf.read_up_to(5) == b"12345"
    assert buf.next_line() == b"rest"


def test_scan_position_survives_partial_reads() -> None:
    buf = ReceiveBuffer(100)
    buf.feed(b"abcdef")
    assert buf.next_line() is None
    assert buf.read_up_to(4) == b"abcd"
    buf.feed(b"\r\n")
    assert buf.next_line() == b"ef"


def test_starttls_discards_pipelined_plaintext() -> None:
    # CVE-2011-0411: commands sent after STARTTLS in the same packet must not run inside TLS.
    buf = ReceiveBuffer(100)
    buf.feed(b"STARTTLS\r\nMAIL FROM:<evil@example.com>\r\n")
    assert buf.next_line() == b"STARTTLS"
    assert buf.discard() == len(b"MAIL FROM:<evil@example.com>\r\n")
    assert buf.pending() == 0
    assert buf.next_line() is None
    buf.feed(b"EHLO again\r\n")
    assert buf.next_line() == b"EHLO again"


def test_discard_ends_an_over_long_line_in_progress() -> None:
    buf = ReceiveBuffer(5)
    buf.feed(b"toolongline")
    with pytest.raises(LineTooLong):
        buf.next_line()
    assert buf.discarding
    buf.discard()
    assert not buf.discarding
    buf.feed(b"ok\r\n")
    assert buf.next_line() == b"ok"


def test_take_all_hands_over_everything() -> None:
    buf = ReceiveBuffer(100)
    buf.feed(b"LINE\r\npartial")
    assert buf.next_line() == b"LINE"
    assert buf.take_all() == b"partial"
    assert buf.pending() == 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="positive"):
        ReceiveBuffer(0)
    buf = ReceiveBuffer(10)
    with pytest.raises(ValueError, match="positive"):
        buf.max_line_length = 0
    with pytest.raises(ValueError, match="negative"):
        buf.read_exact(-1)
    with pytest.raises(ValueError, match="negative"):
        buf.read_up_to(-1)


@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").rstrip(b"\r")), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
)
def test_any_chunking_gives_the_same_lines(lines: list[bytes], cuts: list[int]) -> None:
    data = b"".join(line + b"\r\n" for line in lines)
    buf = ReceiveBuffer(40)
    out: list[bytes] = []
    start = 0
    for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
        buf.feed(data[start:cut])
        start = max(start, cut)
        while (line := buf.next_line()) is not None:
            out.append(line)
    assert out == lines
    assert buf.pending() == 0
