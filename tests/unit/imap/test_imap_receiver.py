"""IMAP receiver: framing, literals of each kind, limits, error paths. Fed whole and byte by byte."""

from __future__ import annotations

import pytest
from imap_helpers import MODES, commands, drain, error, feed

from pochta.proto.imap import (
    Command,
    CommandError,
    ContinuationLine,
    IdleDone,
    Limits,
    LiteralChunk,
    NeedLiteral,
    NeedMoreData,
    Receiver,
    State,
)
from pochta.proto.imap.args import Append, Authenticate, Login
from pochta.proto.imap.responses import Bye, Status, Tagged


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_pipelined_commands(mode: str) -> None:
    r = Receiver()
    events = feed(r, b"a NOOP\r\nb CAPABILITY\r\nc LOGOUT\r\n", mode)
    assert [(c.tag, c.name) for c in commands(events)] == [
        (b"a", "NOOP"),
        (b"b", "CAPABILITY"),
        (b"c", "LOGOUT"),
    ]


def test_need_more_data_until_crlf() -> None:
    r = Receiver()
    r.receive_data(b"a NOO")
    assert r.next_command() == NeedMoreData()
    r.receive_data(b"P\r\n")
    assert isinstance(r.next_command(), Command)


def test_bare_lf_ends_a_command_line() -> None:
    # Many clients (and telnet users) end lines with LF alone; the line is still a whole command.
    r = Receiver()
    assert [c.name for c in commands(feed(r, b"a NOOP\n"))] == ["NOOP"]


def test_synchronising_literal_asks_for_continuation(mode: str) -> None:
    r = Receiver()
    events = feed(r, b"a LOGIN {4}\r\nfred {6}\r\nsecret\r\n", mode)
    assert events[0] == NeedLiteral(4, sync=True)
    assert events[1] == NeedLiteral(6, sync=True)
    (cmd,) = commands(events)
    assert cmd.args == Login(b"fred", b"secret")


def test_continuation_only_after_the_marker_line() -> None:
    r = Receiver()
    r.receive_data(b"a LOGIN {4}")
    assert r.next_command() == NeedMoreData()  # no CRLF yet: the size is not known to be final
    r.receive_data(b"\r\n")
    assert r.next_command() == NeedLiteral(4, sync=True)
    assert r.next_command() == NeedMoreData()


def test_non_synchronising_literals(mode: str) -> None:
    # RFC 7888 §4 example: the literal octets follow without a continuation.
    r = Receiver()
    events = feed(r, b"A001 LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man\r\n", mode)
    assert events[:2] == [NeedLiteral(11, sync=False), NeedLiteral(7, sync=False)]
    (cmd,) = commands(events)
    assert cmd.args == Login(b"FRED FOOBAR", b"fat man")


def test_literal8_in_append(mode: str) -> None:
    r = Receiver()
    events = feed(r, b"a APPEND INBOX ~{5+}\r\n\x00\x01\x02\r\n\r\n", mode)
    (cmd,) = commands(events)
    assert isinstance(cmd.args, Append)
    message = cmd.args.messages[0]
    assert message.data.binary
    assert bytes(message.data) == b"\x00\x01\x02\r\n"


def test_literal_chunks_are_not_joined(mode: str) -> None:
    # A big APPEND literal is kept in the chunks it arrived in: one copy in memory.
    data = b"x" * 3000
    r = Receiver()
    (cmd,) = commands(feed(r, b"a APPEND INBOX {3000}\r\n" + data + b"\r\n", mode))
    assert isinstance(cmd.args, Append)
    lit = cmd.args.messages[0].data
    assert lit.size == 3000
    assert bytes(lit) == data
    if mode == "bytewise":
        assert len(lit.chunks) == 3000


def test_zero_length_literal(mode: str) -> None:
    r = Receiver()
    (cmd,) = commands(feed(r, b"a LOGIN {0}\r\n {0+}\r\n\r\n", mode))
    assert cmd.args == Login(b"", b"")


def test_literal_marker_inside_quotes_is_still_a_literal() -> None:
    # RFC 7888 §4: the end of every line is checked; such a command is malformed, but its octets are
    # consumed so that they never run as a command of their own.
    r = Receiver()
    events = feed(r, b'a LOGIN "x {5+}\r\nb NOOP\r\n')
    assert isinstance(events[-1], CommandError)
    assert commands(events) == []


def test_sync_literal_too_big_is_refused_before_continuation(mode: str) -> None:
    r = Receiver(Limits(max_literal=10))
    events = feed(r, b"a LOGIN {11}\r\nb NOOP\r\n", mode)
    err = events[0]
    assert isinstance(err, CommandError)
    assert not err.close
    assert err.reply.encode() == b"a NO [TOOBIG] Literal too big\r\n"
    assert [c.tag for c in commands(events)] == [b"b"]  # the connection goes on
    assert r.errors == 0  # a NO, not a BAD


def test_append_limit_applies_to_append_only(mode: str) -> None:
    r = Receiver(Limits(max_literal=10, append_limit=100))
    events = feed(r, b"a APPEND INBOX {50}\r\n" + b"y" * 50 + b"\r\nb APPEND INBOX {101}\r\n", mode)
    assert len(commands(events)) == 1
    assert error(events).reply.encode() == b"b NO [TOOBIG] Literal too big\r\n"


def test_replace_literals_are_messages_like_append(mode: str) -> None:
    # RFC 8508 §3.4: what affects APPEND affects REPLACE (APPENDLIMIT, not max_literal).
    r = Receiver(Limits(max_literal=10, append_limit=100))
    r.state = State.SELECTED
    data = b"a REPLACE 1 INBOX {50}\r\n" + b"y" * 50 + b"\r\nb UID REPLACE 2 INBOX {101}\r\n"
    events = feed(r, data, mode)
    assert [c.spec.name for c in commands(events)] == ["REPLACE"]
    assert error(events).reply.encode() == b"b NO [TOOBIG] Literal too big\r\n"


def test_non_sync_literal_too_big_is_read_past_and_refused(mode: str) -> None:
    # RFC 7888 §4, choice 1: the octets are read and dropped, the command refused, the session goes on.
    r = Receiver(Limits(max_literal=10, literal_minus=False))
    events = feed(r, b"a LOGIN {11+}\r\nxxxxxxxxxxx x\r\nb NOOP\r\n", mode)
    err = error(events)
    assert not err.close
    assert err.reply.encode() == b"a NO [TOOBIG] Literal too big\r\n"
    assert [c.tag for c in commands(events)] == [b"b"]
    assert not r.closed


def test_refused_literals_are_not_kept(mode: str) -> None:
    # A later literal of the refused command is dropped as well, whatever its size.
    r = Receiver(Limits(max_literal=10, max_literal_total=20, literal_minus=False))
    data = b"a LOGIN {11+}\r\nxxxxxxxxxxx {30+}\r\n" + b"y" * 30 + b"\r\nb NOOP\r\n"
    events = feed(r, data, mode)
    assert error(events).reply.encode() == b"a NO [TOOBIG] Literal too big\r\n"
    assert [c.tag for c in commands(events)] == [b"b"]


def test_refused_literal_octets_past_max_discard_close(mode: str) -> None:
    # RFC 7888 §4, choice 2, once the client would make the server read too much for nothing.
    r = Receiver(Limits(append_limit=10, max_discard=100, literal_minus=False))
    events = feed(r, b"a APPEND INBOX {60+}\r\n" + b"z" * 60 + b" {41+}\r\n", mode)
    err = error(events)
    assert err.close
    assert isinstance(err.reply, Bye)
    assert err.reply.encode() == b"* BYE [TOOBIG] Literal too big\r\n"
    assert r.closed
    # Exactly at the limit, the session goes on.
    r = Receiver(Limits(append_limit=10, max_discard=100, literal_minus=False))
    events = feed(r, b"a APPEND INBOX {100+}\r\n" + b"z" * 100 + b"\r\nb NOOP\r\n", mode)
    assert error(events).reply.encode() == b"a NO [TOOBIG] Literal too big\r\n"
    assert [c.tag for c in commands(events)] == [b"b"]


def test_literal_minus_limits_non_sync_to_4096(mode: str) -> None:
    data = b"a APPEND INBOX {4096+}\r\n" + b"z" * 4096 + b"\r\n"
    assert len(commands(feed(Receiver(Limits(literal_minus=True)), data, mode))) == 1
    # RFC 7888 §5: over 4096 octets under LITERAL-, a tagged BAD with TOOBIG after the literal.
    r = Receiver(Limits(literal_minus=True))
    events = feed(r, b"a APPEND INBOX {4097+}\r\n" + b"z" * 4097 + b"\r\nb NOOP\r\n", mode)
    err = error(events)
    assert not err.close
    assert err.reply.encode() == b"a BAD [TOOBIG] Non-synchronizing literal over 4096 octets\r\n"
    assert [c.tag for c in commands(events)] == [b"b"]
    # LITERAL+ accepts the same literal
    r = Receiver(Limits(literal_minus=False))
    assert r.next_command() == NeedMoreData()
    r.receive_data(b"a APPEND INBOX {4097+}\r\n" + b"z" * 4097 + b"\r\n")
    assert len(commands(drain(r))) == 1


def test_literal_total_per_command() -> None:
    r = Receiver(Limits(max_literal=10, max_literal_total=15))
    err = error(feed(r, b"a LOGIN {8}\r\n12345678 {8}\r\n"))
    assert err.reply.encode() == b"a NO [TOOBIG] Literal too big\r\n"
    r = Receiver(Limits(append_limit=10, max_append_total=15))
    err = error(feed(r, b"a APPEND x {8}\r\n12345678 {8}\r\n"))
    assert err.reply.encode() == b"a NO [TOOBIG] Literal too big\r\n"


def test_too_many_literals() -> None:
    r = Receiver(Limits(max_literals=2))
    err = error(feed(r, b"a LOGIN {1}\r\nx {1}\r\ny {1}\r\n"))
    assert err.reply.encode() == b"a NO [TOOBIG] Too many literals in one command\r\n"


def test_total_command_line_length(mode: str) -> None:
    r = Receiver(Limits(max_line=100))
    ok = b"a LOGIN " + b"u" * 40 + b" " + b"p" * 40 + b"\r\n"
    assert len(commands(feed(r, ok, mode))) == 1
    # pieces between literals count together
    r = Receiver(Limits(max_line=100))
    err = error(feed(r, b"a LOGIN " + b"u" * 60 + b" {1+}\r\nx" + b"q" * 60 + b"\r\n", mode))
    assert err.close
    assert err.reply.encode() == b"* BYE [TOOBIG] Command line too long\r\n"


def test_line_too_long_without_lf_closes() -> None:
    r = Receiver(Limits(max_line=100))
    r.receive_data(b"a " + b"x" * 200)
    err = r.next_command()
    assert isinstance(err, CommandError)
    assert err.close
    r.receive_data(b"\r\nb NOOP\r\n")
    assert r.next_command() == NeedMoreData()


def test_nul_is_bad(mode: str) -> None:
    r = Receiver()
    err = error(feed(r, b"a LOGIN fr\x00ed x\r\n", mode))
    assert err.reply.encode() == b"a BAD NUL in command\r\n"
    err = error(feed(r, b"b LOGIN {3+}\r\nf\x00d x\r\n", mode))
    assert err.reply.encode() == b"b BAD NUL in literal; use literal8\r\n"


def test_eight_bit_only_in_utf8_sessions(mode: str) -> None:
    line = 'a SELECT "Черновики"\r\n'.encode()
    r = Receiver()
    assert error(feed(r, line, mode)).reply.encode() == b"a BAD 8-bit characters in a quoted string\r\n"
    r.utf8 = True
    (cmd,) = commands(feed(r, line, mode))
    assert cmd.args.encode() == ' "Черновики"'.encode()
    assert error(feed(r, b'a SELECT "\xff"\r\n', mode)).reply.encode() == (
        b"a BAD Invalid UTF-8 in a quoted string\r\n"
    )
    assert isinstance(error(feed(r, "a SELECT Черновики\r\n".encode(), mode)).reply, Tagged)  # atoms: 7-bit


def test_unknown_command_with_sync_literal_is_refused_at_once(mode: str) -> None:
    r = Receiver()
    events = feed(r, b"a XPIG-LATIN {5}\r\n", mode)
    assert error(events).reply.encode() == b"a BAD Unknown command\r\n"
    assert not any(isinstance(e, NeedLiteral) for e in events)


def test_wrong_state(mode: str) -> None:
    r = Receiver()
    r.state = State.NOT_AUTHENTICATED
    assert error(feed(r, b"a SELECT INBOX\r\n", mode)).reply.encode() == b"a BAD Log in first\r\n"
    r.state = State.AUTHENTICATED
    assert error(feed(r, b"a FETCH 1 FLAGS\r\n", mode)).reply.encode() == b"a BAD No mailbox selected\r\n"
    assert error(feed(r, b"a LOGIN x y\r\n", mode)).reply.encode() == (
        b"a BAD Command not valid in this state\r\n"
    )
    r.state = State.SELECTED
    assert len(commands(feed(r, b"a UID FETCH 1 FLAGS\r\n", mode))) == 1


def test_bad_without_a_tag_is_untagged() -> None:
    r = Receiver()
    assert error(feed(r, b"(x NOOP\r\n")).reply.encode() == b"* BAD Expected a tag\r\n"
    assert error(feed(r, b"\r\n")).reply.encode() == b"* BAD Empty command line\r\n"


@pytest.mark.parametrize(
    "line",
    [b"]\xb0 NOOP\r\n", b"a\xff NOOP\r\n", b"\xc3\xa9 NOOP\r\n", b"t]\x80x FOO\r\n", b"a\x80\r\n"],
)
def test_an_invalid_tag_is_never_echoed(line: bytes) -> None:
    # RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+">, ASCII only. Found by the whole-server fuzz
    # test: the BAD for "]\xb0 ..." went out as "]\xb0 BAD ...", an 8-bit byte where a tag must be.
    r = Receiver()
    reply = error(feed(r, line)).reply.encode()
    assert reply.startswith(b"* BAD "), reply


def test_a_valid_tag_with_a_bracket_is_echoed() -> None:
    r = Receiver()
    assert error(feed(r, b"a]1 FOO\r\n")).reply.encode() == b"a]1 BAD Unknown command\r\n"
    assert error(feed(r, b"a]1\r\n")).reply.encode().startswith(b"a]1 BAD ")


def test_error_budget_closes() -> None:
    r = Receiver(Limits(max_errors=3))
    events = feed(r, b"a FOO\r\nb BAR\r\nc BAZ\r\nd NOOP\r\n")
    assert [type(e) for e in events] == [CommandError, CommandError, CommandError]
    last = events[-1]
    assert isinstance(last, CommandError)
    assert last.close
    assert last.reply.encode() == b"* BYE Too many invalid commands\r\n"
    assert r.closed


def test_nesting_depth_limit_without_recursion() -> None:
    r = Receiver(Limits(max_line=1 << 20))
    r.state = State.SELECTED
    err = error(feed(r, b"a SEARCH " + b"(" * 100_000 + b"ALL" + b")" * 100_000 + b"\r\n"))
    assert err.reply.encode() == b"a BAD [LIMIT] Search program nested too deeply\r\n"
    err = error(feed(r, b"a SEARCH " + b"NOT " * 100_000 + b"ALL\r\n"))
    assert err.reply.encode() == b"a BAD [LIMIT] Search program nested too deeply\r\n"
    err = error(feed(r, b"a SELECT INBOX (X " + b"(" * 100_000 + b")" * 100_000 + b")\r\n"))
    assert err.reply.encode() == b"a BAD [LIMIT] Too deeply nested\r\n"
    err = error(feed(r, b"a FETCH 1 " + b"(" * 100_000 + b"\r\n"))
    assert err.reply.status is Status.BAD


def test_nesting_within_the_limit_parses() -> None:
    r = Receiver(Limits(max_depth=10))
    (cmd,) = commands(feed(r, b"a SEARCH " + b"(" * 10 + b"ALL" + b")" * 10 + b"\r\n"))
    assert cmd.name == "SEARCH"
    assert isinstance(error(feed(r, b"a SEARCH " + b"(" * 11 + b"ALL" + b")" * 11 + b"\r\n")), CommandError)
    (cmd,) = commands(feed(r, b"a SEARCH " + b"NOT " * 10 + b"ALL\r\n"))
    assert isinstance(error(feed(r, b"a SEARCH " + b"NOT " * 11 + b"ALL\r\n")), CommandError)
    (cmd,) = commands(feed(r, b"a SELECT x (P " + b"(" * 10 + b")" * 10 + b")\r\n"))
    assert isinstance(error(feed(r, b"a SELECT x (P " + b"(" * 11 + b")" * 11 + b")\r\n")), CommandError)


def test_idle_done(mode: str) -> None:
    r = Receiver()
    (cmd,) = commands(feed(r, b"a IDLE\r\n", mode))
    r.expect_idle_done(cmd.tag)
    assert feed(r, b"done\r\nb NOOP\r\n", mode)[0] == IdleDone()
    r.expect_idle_done(b"c")
    assert error(feed(r, b"c NOOP\r\n", mode)).reply.encode() == b"c BAD Expected DONE\r\n"


def test_authenticate_continuation_lines(mode: str) -> None:
    r = Receiver()
    (cmd,) = commands(feed(r, b"A01 AUTHENTICATE PLAIN\r\n", mode))
    assert cmd.args == Authenticate("PLAIN")
    r.expect_line()
    assert feed(r, b"dGVzdAB0ZXN0AHRlc3Q=\r\n", mode) == [ContinuationLine(b"dGVzdAB0ZXN0AHRlc3Q=")]
    # a line in command mode is a command again
    assert commands(feed(r, b"b NOOP\r\n", mode))[0].name == "NOOP"


def test_starttls_discards_pipelined_plaintext() -> None:
    r = Receiver()
    r.receive_data(b"a STARTTLS\r\nb LOGIN x y\r\n")
    assert isinstance(r.next_command(), Command)
    assert r.discard_buffered() == len(b"b LOGIN x y\r\n")
    assert r.next_command() == NeedMoreData()


def test_error_budget_counts_consecutive_bads() -> None:
    r = Receiver(Limits(max_errors=3))
    events = feed(r, b"a FOO\r\nb BAR\r\nc NOOP\r\nd BAZ\r\ne QUX\r\nf NOOP\r\n")
    assert not r.closed
    assert len(commands(events)) == 2
    assert r.record_bad() is None  # a handler-level BAD counts as well
    assert r.record_bad() is None
    bye = r.record_bad()
    assert bye is not None
    assert bye.close
    assert r.closed


def test_streamed_append_literal(mode: str) -> None:
    message = b"Subject: big\r\n\r\n" + b"x" * 500
    r = Receiver(Limits(stream_over=100))
    wire = b"a APPEND INBOX (\\Seen) {%d}\r\n%s {5+}\r\nsmall\r\n" % (len(message), message)
    events = feed(r, wire, mode)
    chunks = [e for e in events if isinstance(e, LiteralChunk)]
    assert b"".join(c.data for c in chunks) == message  # every octet handed out once, in order
    assert {c.index for c in chunks} == {0}
    assert [c.last for c in chunks][-1]
    assert not any(c.last for c in chunks[:-1])
    (cmd,) = commands(events)
    assert isinstance(cmd.args, Append)
    big, small = cmd.args.messages
    assert big.data.streamed
    assert big.data.size == len(message)
    assert big.data.chunks == ()
    assert big.flags == ("\\Seen",)
    assert not small.data.streamed  # under the threshold: kept
    assert bytes(small.data) == b"small"
    with pytest.raises(ValueError, match="streamed"):
        bytes(big.data)


def test_small_append_literals_are_streamed_once_the_kept_ones_reach_the_total() -> None:
    # Memory per command stays bounded however many small messages one MULTIAPPEND carries.
    r = Receiver(Limits(stream_over=100, max_literal_total=250))
    wire = b"a APPEND {5+}\r\nINBOX" + b" {90+}\r\n" + b"m" * 90 + b" {90+}\r\n" + b"n" * 90
    events = feed(r, wire + b" {90+}\r\n" + b"o" * 90 + b"\r\n")
    (cmd,) = commands(events)
    assert isinstance(cmd.args, Append)
    assert cmd.args.mailbox == b"INBOX"  # 5 + 90 + 90 kept; the third would make 275
    assert [m.data.streamed for m in cmd.args.messages] == [False, False, True]
    assert {e.index for e in events if isinstance(e, LiteralChunk)} == {3}


def test_streaming_is_for_append_only() -> None:
    r = Receiver(Limits(stream_over=3))
    events = feed(r, b"a LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n")
    assert not any(isinstance(e, LiteralChunk) for e in events)
    (cmd,) = commands(events)
    assert cmd.args == Login(b"alice", b"secret")


def test_streamed_literal_in_a_bad_command_is_reported() -> None:
    r = Receiver(Limits(stream_over=3))
    events = feed(r, b"a APPEND INBOX {5+}\r\nab\x00cd junk\r\n")
    assert any(isinstance(e, LiteralChunk) for e in events)
    assert error(events).reply.encode() == b"a BAD NUL in literal; use literal8\r\n"
    events = feed(r, b"b APPEND {5+}\r\nabcde\r\n")  # the mailbox name cannot be a streamed literal
    assert error(events).reply.encode() == b"b BAD [TOOBIG] Literal too big for a string\r\n"
