"""The sans-IO POP3 core against RFC 1939's examples and its rules, each transcript fed whole and
byte by byte (the output must be the same)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from driver import TIMESTAMP, Driver
from hypothesis import given, settings
from hypothesis import strategies as st

from pochta.proto.pop3 import (
    Capabilities,
    Commit,
    DotStuffer,
    Pop3Core,
    Pop3StateError,
    State,
    TopFilter,
    needs_stuffing,
    stuff_whole,
    terminator,
)

MSG1 = b"From: a@example.org\r\nSubject: one\r\n\r\nHello\r\n.dot\r\n"
SP = " "  # a trailing space in a transcript line, kept visible
PLAIN_OK = base64.b64encode(b"\0u\0secret").decode()
MSG2 = b"From: b@example.org\r\nSubject: two\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"


def run(transcript: str, driver: Driver | None = None, *, byte_by_byte: bool = False) -> Driver:
    """``C: line`` is sent by the client, ``S: line`` expected from the server, in order."""
    driver = driver or Driver([MSG1, MSG2])
    expected = bytearray()
    steps: list[tuple[bytes, bytes]] = []
    client = b""
    for raw in transcript.strip("\n").splitlines():
        line = raw.lstrip()
        who, _, text = line.partition(": ")
        if who == "C":
            if client or expected:
                steps.append((client, bytes(expected)))
                expected.clear()
            client = text.encode() + b"\r\n"
        elif who == "S":
            expected += text.encode() + b"\r\n"
        elif line == "S:":
            expected += b"\r\n"
        else:
            raise ValueError(f"bad transcript line {raw!r}")
    steps.append((client, bytes(expected)))
    first, *rest = steps
    assert first[0] == b"", "a transcript starts with the greeting"
    assert driver.take() == first[1]
    for data, reply in rest:
        if byte_by_byte:
            for i in range(len(data)):
                driver.feed(data[i : i + 1])
        else:
            driver.feed(data)
        assert driver.take() == reply, data
    return driver


RFC1939_EXAMPLE = f"""
S: +OK pochta POP3 server ready {TIMESTAMP}
C: APOP mrose c4c9334bac560ecc979e58001b3e22fb
S: +OK mrose's maildrop is ready
C: STAT
S: +OK 2 {len(MSG1) + len(MSG2)}
C: LIST
S: +OK 2 messages ({len(MSG1) + len(MSG2)} octets)
S: 1 {len(MSG1)}
S: 2 {len(MSG2)}
S: .
C: RETR 1
S: +OK {len(MSG1)} octets
S: From: a@example.org
S: Subject: one
S:
S: Hello
S: ..dot
S: .
C: DELE 1
S: +OK Message 1 deleted
C: RETR 2
S: +OK {len(MSG2)} octets
S: From: b@example.org
S: Subject: two
S:
S: line 1
S: line 2
S: line 3
S: .
C: DELE 2
S: +OK Message 2 deleted
C: QUIT
S: +OK Bye
"""


@pytest.mark.parametrize("byte_by_byte", [False, True])
def test_rfc1939_section10_example_session(byte_by_byte: bool) -> None:
    # RFC 1939 §7 gives this digest for the timestamp above and the secret "tanstaaf".
    assert hashlib.md5((TIMESTAMP + "tanstaaf").encode()).hexdigest() == "c4c9334bac560ecc979e58001b3e22fb"
    driver = run(RFC1939_EXAMPLE, byte_by_byte=byte_by_byte)
    assert driver.commits == [Commit(deleted=(0, 1), retrieved=(0, 1))]
    assert driver.closed == "quit"
    assert driver.core.state is State.CLOSED


COMMAND_EXAMPLES = f"""
S: +OK pochta POP3 server ready {TIMESTAMP}
C: USER mrose
S: +OK Send your password
C: PASS secret
S: +OK mrose's maildrop is ready
C: LIST 2
S: +OK 2 {len(MSG2)}
C: LIST 3
S: -ERR No such message
C: UIDL
S: +OK 2 messages ({len(MSG1) + len(MSG2)} octets)
S: 1 uid-1
S: 2 uid-2
S: .
C: UIDL 2
S: +OK 2 uid-2
C: TOP 2 1
S: +OK top of message follows
S: From: b@example.org
S: Subject: two
S:
S: line 1
S: .
C: TOP 1 0
S: +OK top of message follows
S: From: a@example.org
S: Subject: one
S:
S: .
C: DELE 1
S: +OK Message 1 deleted
C: DELE 1
S: -ERR Message already deleted
C: LIST
S: +OK 1 message ({len(MSG2)} octets)
S: 2 {len(MSG2)}
S: .
C: LAST
S: +OK 1
C: RSET
S: +OK Maildrop has 2 messages ({len(MSG1) + len(MSG2)} octets)
C: LAST
S: +OK 0
C: NOOP
S: +OK
C: noop
S: +OK
C: QUIT
S: +OK Bye
"""


@pytest.mark.parametrize("byte_by_byte", [False, True])
def test_rfc1939_section7_command_examples(byte_by_byte: bool) -> None:
    driver = run(COMMAND_EXAMPLES, byte_by_byte=byte_by_byte)
    assert driver.commits == [Commit(deleted=(), retrieved=())]  # TOP is not RETR; RSET undid DELE


def test_authorization_rules() -> None:
    run(f"""
S: +OK pochta POP3 server ready {TIMESTAMP}
C: STAT
S: -ERR STAT is not valid in the AUTHORIZATION state
C: PASS secret
S: -ERR Send USER first
C: USER mrose
S: +OK Send your password
C: PASS wrong
S: -ERR [AUTH] Authentication failed
C: PASS secret
S: -ERR Send USER first
C: APOP mrose nothex
S: -ERR Syntax error: the digest is 32 hex digits
C: AUTH
S: +OK Mechanisms follow
S: PLAIN
S: .
C: AUTH CRAM-MD5
S: -ERR [AUTH] Unsupported authentication mechanism
C: AUTH PLAIN {PLAIN_OK}
S: +OK Logged in, 2 messages ({len(MSG1) + len(MSG2)} octets)
C: USER x
S: -ERR USER is not valid in the TRANSACTION state
C: STLS
S: -ERR STLS is not valid in the TRANSACTION state
""")


def test_auth_without_initial_response_and_cancel() -> None:
    run(f"""
S: +OK pochta POP3 server ready {TIMESTAMP}
C: AUTH PLAIN
S: +{SP}
C: *
S: -ERR [AUTH] Authentication failed
C: AUTH PLAIN
S: +{SP}
C: {PLAIN_OK}
S: +OK Logged in, 2 messages ({len(MSG1) + len(MSG2)} octets)
""")


def test_capa_per_state() -> None:
    run(f"""
S: +OK pochta POP3 server ready {TIMESTAMP}
C: CAPA
S: +OK Capability list follows
S: TOP
S: UIDL
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: USER
S: SASL PLAIN
S: STLS
S: EXPIRE NEVER
S: IMPLEMENTATION pochta
S: .
C: STLS
S: +OK Begin TLS negotiation
C: CAPA
S: +OK Capability list follows
S: TOP
S: UIDL
S: RESP-CODES
S: AUTH-RESP-CODE
S: PIPELINING
S: USER
S: SASL PLAIN
S: EXPIRE NEVER
S: IMPLEMENTATION pochta
S: .
""")


def test_login_delay_advertised() -> None:
    core = Pop3Core(Capabilities(login_delay=900, login_delay_per_user=True), timestamp="<1.2@h>")
    core.data_to_send()
    core.receive_data(b"CAPA\r\n")
    assert core.next_event() is None
    assert b"\r\nLOGIN-DELAY 900\r\n" in core.data_to_send()  # no USER suffix before login


def test_stls_drops_pipelined_commands() -> None:
    driver = Driver([MSG1])
    driver.take()
    driver.feed(b"STLS\r\nUSER u\r\nPASS secret\r\nQUIT\r\n")
    assert driver.take() == b"+OK Begin TLS negotiation\r\n"
    assert driver.tls
    assert driver.core.state is State.AUTHORIZATION
    assert driver.closed is None


def test_pipelining_replies_in_order() -> None:
    driver = Driver([MSG1, MSG2])
    driver.take()
    driver.feed(b"USER u\r\nPASS secret\r\nSTAT\r\nDELE 2\r\nSTAT\r\nQUIT\r\n")
    out = driver.take().split(b"\r\n")
    assert out[:5] == [
        b"+OK Send your password",
        b"+OK u's maildrop is ready",
        f"+OK 2 {len(MSG1) + len(MSG2)}".encode(),
        b"+OK Message 2 deleted",
        f"+OK 1 {len(MSG1)}".encode(),
    ]
    assert driver.commits == [Commit((1,), ())]


@pytest.mark.parametrize(
    "command",
    [
        b"RETR",
        b"RETR 0",
        b"RETR 3",
        b"RETR -1",
        b"RETR +1",
        b"RETR 1.0",
        b"RETR 0x1",
        b"RETR 1 2",
        b"RETR " + b"1" * 41,
        b"TOP 1",
        b"TOP 1 -1",
        b"TOP 1 x",
        b"LIST a",
        b"STAT 1",
        b"DELE",
        b"XYZZY",
        b"RETR \xff",
        b"RETR  1",
    ],
)
def test_bad_arguments_get_err(command: bytes) -> None:
    driver = Driver([MSG1, MSG2])
    driver.take()
    driver.feed(b"USER u\r\nPASS secret\r\n")
    driver.take()
    driver.feed(command + b"\r\n")
    reply = driver.take()
    assert reply.startswith(b"-ERR "), reply
    assert reply.count(b"\r\n") == 1, reply
    assert driver.core.errors == 1


def test_error_budget_closes() -> None:
    driver = Driver([MSG1], max_errors=3)
    driver.take()
    driver.feed(b"A\r\nB\r\nC\r\nD\r\n")
    assert driver.take().splitlines() == [
        b"-ERR Unknown command",
        b"-ERR Unknown command",
        b"-ERR Unknown command",
        b"-ERR Too many errors, closing connection",
    ]
    assert driver.closed == "too many errors"


def test_line_too_long() -> None:
    driver = Driver([MSG1])
    driver.take()
    driver.feed(b"USER " + b"x" * 3000 + b"\r\nCAPA\r\n")
    out = driver.take()
    assert out.startswith(b"-ERR Line too long\r\n+OK Capability")


def test_responses_at_most_512_octets() -> None:
    core = Pop3Core(Capabilities(implementation="x" * 1000), timestamp="<1.2@h>")
    core.data_to_send()
    core.receive_data(b"CAPA\r\n" + b"USER " + "é".encode() * 140 + b"\r\nPASS p\r\n")
    event = core.next_event()
    assert event is not None
    core.login_failed("f" * 1000 + "é" * 300)
    for line in core.data_to_send().split(b"\r\n"):
        assert len(line) + 2 <= 512
        line.decode()  # never cut inside a UTF-8 sequence


def test_answering_out_of_order_is_a_bug() -> None:
    core = Pop3Core(Capabilities(), timestamp="<1.2@h>")
    with pytest.raises(Pop3StateError):
        core.retrieve_begin(0, None)
    core.receive_data(b"USER a\r\nPASS b\r\nNOOP\r\n")
    assert core.next_event() is not None
    with pytest.raises(Pop3StateError):
        core.next_event()


# -- stuffing and TOP ---------------------------------------------------------------------------------


def unstuff(data: bytes) -> bytes:
    """What a client does; a bare LF starts a line, too (we stuff after it to be safe)."""
    assert data.endswith(b".\r\n")
    lines = data[:-3].split(b"\n")
    return b"\n".join(line[1:] if line.startswith(b".") else line for line in lines)


messages = st.lists(
    st.sampled_from([b".", b"..", b"a", b"\r\n", b"\r", b"\n", b".\r\n", b"x.y", b" "]), max_size=40
).map(b"".join)


@given(messages, st.integers(min_value=1, max_value=7))
@settings(max_examples=300)
def test_stuffing_chunk_independent_and_reversible(data: bytes, size: int) -> None:
    whole = DotStuffer()
    reference = whole.feed(data) + whole.end()
    pieces = DotStuffer()
    out = b"".join(pieces.feed(data[i : i + size]) for i in range(0, len(data), size)) + pieces.end()
    assert out == reference
    if data.endswith(b"\r\n") or not data:
        assert unstuff(out) == data or (not data and out == b".\r\n")
    # No line of the body is a lone "." (the terminator appears once, at the end).
    assert b"\r\n.\r\n" not in out[:-3]
    assert not out[:-3].startswith(b".\r\n")


@given(messages)
@settings(max_examples=300)
def test_unstuffed_fast_path_is_byte_exact(data: bytes) -> None:
    """What RETR sends without a stuffer (sendfile, or one read) is what DotStuffer gives: the text
    itself plus ``terminator`` exactly when ``needs_stuffing`` says no; ``stuff_whole`` always."""
    stuffer = DotStuffer()
    reference = stuffer.feed(data) + stuffer.end()
    assert stuff_whole(data) == reference
    # needs_stuffing also looks at a prefix only (a file longer than its recorded size)
    assert needs_stuffing(data + b"\n.", len(data)) == needs_stuffing(data, len(data))
    if not needs_stuffing(data, len(data)):
        assert data + terminator(not data or data.endswith(b"\n")) == reference
    else:
        assert reference != data + terminator(not data or data.endswith(b"\n"))


@given(messages, st.integers(min_value=0, max_value=5), st.integers(min_value=1, max_value=7))
@settings(max_examples=300)
def test_top_filter_chunk_independent(data: bytes, lines: int, size: int) -> None:
    whole = TopFilter(lines)
    reference = whole.feed(data) + whole.flush()
    pieces = TopFilter(lines)
    out = b""
    for i in range(0, len(data), size):
        out += pieces.feed(data[i : i + size])
        if pieces.done:
            break
    out += pieces.flush()
    assert out == reference
    assert data.startswith(out)


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=50))
@settings(max_examples=300)
def test_core_never_crashes_on_garbage(data: bytes, size: int) -> None:
    """Fuzz in every state: random bytes before and after login never raise, and every reply line
    fits the RFC 2449 limit."""
    for prefix in (b"", b"USER u\r\nPASS secret\r\n", b"AUTH PLAIN\r\n"):
        driver = Driver([MSG1, MSG2])
        driver.feed(prefix)
        stream = data
        for i in range(0, len(stream), size):
            if driver.closed is not None:
                break
            driver.feed(stream[i : i + size])
        for line in driver.take().split(b"\r\n"):
            assert len(line) <= 510 or not line.startswith((b"+OK", b"-ERR"))
