"""Command encoding of the IMAP client core: atoms, quoted strings, literals (synchronizing, LITERAL+,
LITERAL-), literal8, mailbox names in modified UTF-7 or UTF-8 (RFC 6855)."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from pochta.proto.imap_client import (
    CommandEncoder,
    Literal,
    Mailbox,
    Raw,
    ResponseFramer,
    Untagged,
    parse_response,
    quote_or_literal,
)


def test_tags_and_atoms() -> None:
    encoder = CommandEncoder(prefix="x")
    assert encoder.encode("NOOP").chunks == (b"x1 NOOP\r\n",)
    assert encoder.encode("LOGIN", "alice", 'p w"\\').chunks == (b'x2 LOGIN alice "p w\\"\\\\"\r\n',)
    # NIL, empty, CR/LF and 8-bit go as literals or quoted strings, never as atoms.
    assert encoder.encode("LOGIN", "NIL", "").chunks == (b'x3 LOGIN "NIL" ""\r\n',)


def test_synchronizing_literals_split_the_command() -> None:
    encoder = CommandEncoder()
    encoded = encoder.encode("LOGIN", "bob", "line\r\nbreak\xe9")
    assert encoded.chunks == (b"p1 LOGIN bob {13}\r\n", "line\r\nbreak\xe9".encode() + b"\r\n")
    appended = encoder.encode(
        "APPEND", Mailbox("INBOX"), Raw(b"(\\Seen)"), Literal(b"abc"), Literal(b"\0", binary=True)
    )
    assert appended.chunks == (b"p2 APPEND INBOX (\\Seen) {3}\r\n", b"abc ~{1}\r\n", b"\0\r\n")


def test_literal_plus_and_minus() -> None:
    plus = CommandEncoder(literal_plus=True)
    assert plus.encode("APPEND", Mailbox("A"), Literal(b"x" * 5000)).chunks == (
        b"p1 APPEND A {5000+}\r\n" + b"x" * 5000 + b"\r\n",
    )
    minus = CommandEncoder(literal_minus=True)
    # RFC 7888 §4: LITERAL- allows non-synchronizing literals of 4096 octets at most.
    assert len(minus.encode("APPEND", Mailbox("A"), Literal(b"x" * 4096)).chunks) == 1
    assert len(minus.encode("APPEND", Mailbox("A"), Literal(b"x" * 4097)).chunks) == 2


def test_mailbox_names() -> None:
    encoder = CommandEncoder()
    assert encoder.encode("SELECT", Mailbox("Entwürfe")).chunks == (b"p1 SELECT Entw&APw-rfe\r\n",)
    assert encoder.encode("SELECT", Mailbox("A & B")).chunks == (b'p2 SELECT "A &- B"\r\n',)
    encoder.utf8 = True  # RFC 6855 §3: after ENABLE UTF8=ACCEPT
    assert encoder.encode("SELECT", Mailbox("Entwürfe")).chunks == ('p3 SELECT "Entwürfe"\r\n'.encode(),)


@given(st.binary(max_size=200))
@example(b"[")  # once sent bare, and read back as an unclosed section
@example(b"a[b]")
def test_astring_round_trip(value: bytes) -> None:
    # What we send as an astring, read back by our own parser, is the same octets.
    wire = quote_or_literal(value, utf8=False)
    framer = ResponseFramer()
    if isinstance(wire, Literal):
        framer.receive_data(b"* X {%d}\r\n%s\r\n" % (len(wire.data), wire.data))
    else:
        framer.receive_data(b"* X " + wire + b"\r\n")
    framed = framer.next_response()
    assert framed is not None
    parsed = parse_response(framed)
    assert isinstance(parsed, Untagged)
    [got] = parsed.values
    assert (got.encode() if isinstance(got, str) else got) == value
