"""The ManageSieve sans-IO core: receiver (whole and byte by byte, hypothesis), command table,
responses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pochta.proto.managesieve import (
    Atom,
    Command,
    CommandRefused,
    Line,
    LineError,
    NeedMoreData,
    Receiver,
    ReceiverLimits,
    Response,
    State,
    Status,
    capability_line,
    encode_string,
    parse_command,
    parse_number,
    script_line,
)


def events(data: bytes, *, limits: ReceiverLimits | None = None, bytewise: bool = False) -> list[object]:
    receiver = Receiver(limits)
    out: list[object] = []
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        receiver.receive_data(piece)
        while not isinstance(event := receiver.next_line(), NeedMoreData):
            out.append(event)
    return out


def both(data: bytes, limits: ReceiverLimits | None = None) -> list[object]:
    whole = events(data, limits=limits)
    assert events(data, limits=limits, bytewise=True) == whole
    return whole


def test_command_with_quoted_and_literal_arguments() -> None:
    data = b'PUTSCRIPT "my script" {28+}\r\nrequire "fileinto";\r\nkeep;\r\n\r\nLISTSCRIPTS\r\n'
    assert both(data) == [
        Line((Atom("PUTSCRIPT"), b"my script", b'require "fileinto";\r\nkeep;\r\n')),
        Line((Atom("LISTSCRIPTS"),)),
    ]


def test_synchronising_literal_is_taken_alike_and_the_line_continues_after_it() -> None:
    data = b"RENAMESCRIPT {3}\r\nold {3+}\r\nnew\r\n"
    assert both(data) == [Line((Atom("RENAMESCRIPT"), b"old", b"new"))]


def test_quoted_escapes_and_utf8() -> None:
    data = 'NOOP "a \\"b\\" \\\\ ü"\r\n'.encode()
    assert both(data) == [Line((Atom("NOOP"), 'a "b" \\ ü'.encode()))]


def test_lf_alone_ends_a_line_and_empty_literal() -> None:
    assert both(b'CHECKSCRIPT {0+}\n\nHAVESPACE "x" 100\n') == [
        Line((Atom("CHECKSCRIPT"), b"")),
        Line((Atom("HAVESPACE"), b"x", Atom("100"))),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'NOOP "abc\r\n', "Unterminated quoted string"),
        (b'NOOP "a\\b"\r\n', "Invalid character in quoted string"),
        (b"NOOP (x)\r\n", "Unexpected character '('"),
        (b'NOOP "a"b\r\n', "Expected a space after a quoted string"),
        (b"NOOP \x01\r\n", "Invalid octet"),
        (b"\r\n", "Empty command line"),
        (b'NOOP "' + b"x" * 1025 + b'"\r\n', "Quoted string longer than 1024 octets"),
    ],
)
def test_syntax_errors(data: bytes, message: str) -> None:
    [error] = both(data)
    assert isinstance(error, LineError)
    assert error.message == message
    assert not error.close


def test_the_literal_of_a_bad_line_is_skipped_not_executed() -> None:
    # The script's octets look like commands; none of them may run.
    data = b"PUTSCRIPT ( {16+}\r\nLOGOUT\r\nLOGOUT\r\n\r\nNOOP\r\n"
    out = both(data)
    assert out == [LineError("Unexpected character '('", "PUTSCRIPT"), Line((Atom("NOOP"),))]


def test_literal_too_large_is_dropped_and_reported_with_its_command() -> None:
    limits = ReceiverLimits(max_literal=10, max_literal_total=20)
    data = b'PUTSCRIPT "a" {11+}\r\n' + b"x" * 11 + b"\r\nNOOP\r\n"
    assert both(data, limits) == [
        LineError("Literal too large", "PUTSCRIPT", too_big=True),
        Line((Atom("NOOP"),)),
    ]


def test_literals_of_one_line_together_are_bounded() -> None:
    limits = ReceiverLimits(max_literal=10, max_literal_total=15)
    data = b"RENAMESCRIPT {8+}\r\n12345678 {8+}\r\n12345678\r\n"
    assert both(data, limits) == [LineError("Literal too large", "RENAMESCRIPT", too_big=True)]


def test_a_literal_past_the_discard_limit_ends_the_session() -> None:
    limits = ReceiverLimits(max_literal=10, max_discard=100)
    [error] = both(b'PUTSCRIPT "a" {101+}\r\n', limits)
    assert isinstance(error, LineError)
    assert error.close
    assert error.too_big


def test_literal_length_with_leading_zero_is_refused() -> None:
    [error, line] = both(b"NOOP {03+}\r\nabc\r\nNOOP\r\n")
    assert error == LineError("Invalid literal length", "NOOP")
    assert line == Line((Atom("NOOP"),))


def test_line_too_long_closes() -> None:
    limits = ReceiverLimits(max_line=20)
    [error] = events(b"NOOP " + b"a" * 40, limits=limits)
    assert isinstance(error, LineError)
    assert error.close
    assert error.message == "Line too long"


def test_too_many_tokens() -> None:
    limits = ReceiverLimits(max_tokens=3)
    [error] = both(b"NOOP a b c d\r\n", limits)
    assert isinstance(error, LineError)
    assert error.message == "Too many arguments"


def test_consecutive_errors_close_at_the_limit_and_a_good_line_resets() -> None:
    limits = ReceiverLimits(max_errors=3)
    out = both(b"(\r\n(\r\nNOOP\r\n(\r\n(\r\n(\r\n", limits)
    assert [getattr(e, "close", None) for e in out] == [False, False, None, False, False, True]


def test_line_open_and_discard_buffered() -> None:
    receiver = Receiver()
    assert not receiver.line_open
    receiver.receive_data(b"NOO")
    assert receiver.next_line() == NeedMoreData()
    assert receiver.line_open
    receiver.receive_data(b'P\r\nPUTSCRIPT "a" {5+}\r\nab')
    assert receiver.next_line() == Line((Atom("NOOP"),))
    assert receiver.next_line() == NeedMoreData()
    assert not receiver.line_open  # inside literal data: no line deadline
    assert receiver.discard_buffered() == 2
    receiver.receive_data(b"NOOP\r\n")
    assert receiver.next_line() == Line((Atom("NOOP"),))


@given(st.lists(st.binary(max_size=40), max_size=8))
@settings(max_examples=300, deadline=None)
def test_fuzz_never_raises_and_bytewise_equals_whole(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    limits = ReceiverLimits(max_line=64, max_literal=32, max_literal_total=48, max_discard=200)
    whole = events(data, limits=limits)
    assert events(data, limits=limits, bytewise=True) == whole
    for event in whole:
        assert isinstance(event, Line | LineError)


@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=4))
@settings(max_examples=100, deadline=None)
def test_any_string_round_trips_through_encode_string(values: list[bytes]) -> None:
    data = b"NOOP " + b" ".join(encode_string(v).replace(b"}\r\n", b"+}\r\n", 1) for v in values) + b"\r\n"
    limits = ReceiverLimits(max_literal=4000, max_literal_total=20000)
    [line] = both(data, limits)
    assert line == Line((Atom("NOOP"), *values))


# -- the command table ----------------------------------------------------------------------------


def parse(text: bytes, state: State = State.AUTHENTICATED) -> Command | CommandRefused:
    [line] = both(text)
    assert isinstance(line, Line)
    return parse_command(line, state)


def test_commands_are_case_insensitive_and_typed() -> None:
    assert parse(b'havespace "s" 1000\r\n') == Command("HAVESPACE", (b"s", 1000))
    assert parse(b'Authenticate "PLAIN" "AGEAYg=="\r\n', State.NOT_AUTHENTICATED) == Command(
        "AUTHENTICATE", (b"PLAIN", b"AGEAYg==")
    )
    assert parse(b"NOOP\r\n") == Command("NOOP", ())


@pytest.mark.parametrize(
    ("text", "state", "reason"),
    [
        (b"FOO\r\n", State.AUTHENTICATED, "Unknown command"),
        (b'"NOOP"\r\n', State.AUTHENTICATED, "Expected a command name"),
        (
            b"LISTSCRIPTS\r\n",
            State.NOT_AUTHENTICATED,
            "LISTSCRIPTS is not allowed in the not authenticated state",
        ),
        (b'AUTHENTICATE "PLAIN"\r\n', State.AUTHENTICATED, "Already authenticated"),
        (b"STARTTLS\r\n", State.AUTHENTICATED, "STARTTLS is not allowed in the authenticated state"),
        (b'GETSCRIPT "a" "b"\r\n', State.AUTHENTICATED, "Wrong number of arguments for GETSCRIPT"),
        (b"GETSCRIPT\r\n", State.AUTHENTICATED, "Wrong number of arguments for GETSCRIPT"),
        (b"GETSCRIPT abc\r\n", State.AUTHENTICATED, "GETSCRIPT expects a string"),
        (b'HAVESPACE "a" "1"\r\n', State.AUTHENTICATED, "HAVESPACE expects a number"),
        (b'HAVESPACE "a" 01\r\n', State.AUTHENTICATED, "HAVESPACE expects a number"),
        (b'HAVESPACE "a" 4294967296\r\n', State.AUTHENTICATED, "HAVESPACE expects a number"),
    ],
)
def test_refusals(text: bytes, state: State, reason: str) -> None:
    refused = parse(text, state)
    assert isinstance(refused, CommandRefused)
    assert refused.text == reason


def test_parse_number() -> None:
    assert parse_number(Atom("0")) == 0
    assert parse_number(Atom("4294967295")) == 4294967295
    assert parse_number(Atom("-1")) is None
    assert parse_number(b"1") is None


# -- responses ------------------------------------------------------------------------------------


def test_responses_with_codes() -> None:
    assert Response(Status.OK).encode() == b"OK\r\n"
    assert Response(Status.NO, "Too big", "QUOTA/MAXSIZE").encode() == b'NO (QUOTA/MAXSIZE) "Too big"\r\n'
    assert Response(Status.OK, "Done", "TAG", 'a"b').encode() == b'OK (TAG "a\\"b") "Done"\r\n'
    assert Response(Status.BYE, "x\r\ny").encode() == b"BYE {4}\r\nx\r\ny\r\n"


def test_capability_and_script_lines() -> None:
    assert capability_line("STARTTLS") == b'"STARTTLS"\r\n'
    assert capability_line("VERSION", "1.0") == b'"VERSION" "1.0"\r\n'
    assert script_line("a", True) == b'"a" ACTIVE\r\n'
    assert script_line("b", False) == b'"b"\r\n'
