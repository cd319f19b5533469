"""Fuzzing the IMAP client core: whatever a server sends, the framer and parser answer with a
response or a ResponseError, never another exception; generated FETCH responses with literals of
any content read back exactly, whole and in random pieces."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pochta.proto.imap_client import FetchData, ResponseError, ResponseFramer, parse_response

SEEDS = [
    b"* OK [CAPABILITY IMAP4rev2] hi\r\n",
    b'* 1 FETCH (UID 3 FLAGS (\\Seen) INTERNALDATE "01-Jan-2020 00:00:00 +0000" BODY[] {2}\r\nab)\r\n',
    b'* LIST (\\Sent) "/" Sent\r\n',
    b'* ESEARCH (TAG "a") UID ALL 1:3\r\n',
    b"a1 NO [TRYCREATE] x\r\n",
    b"* STATUS INBOX (MESSAGES 3)\r\n",
    b"* VANISHED (EARLIER) 1:2\r\n",
]


def _drain(pieces: list[bytes]) -> None:
    framer = ResponseFramer(max_line=512, max_literal=256)
    try:
        for piece in pieces:
            framer.receive_data(piece)
            while (framed := framer.next_response()) is not None:
                parse_response(framed, max_depth=16)
    except ResponseError:
        pass


@settings(max_examples=400)
@given(st.lists(st.binary(max_size=80), max_size=8))
def test_random_bytes(pieces: list[bytes]) -> None:
    _drain(pieces)


@settings(max_examples=400)
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_responses(seed: bytes, data: st.DataObject) -> None:
    mutated = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(mutated)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        octet = data.draw(st.sampled_from(list(b'()[]{}"\\ *+~0123456789\r\nAZ\x00\xff')))
        if action == "insert":
            mutated.insert(position, octet)
        elif position < len(mutated):
            if action == "delete":
                del mutated[position]
            else:
                mutated[position] = octet
    _drain([bytes(mutated)])


@settings(max_examples=200)
@given(
    st.lists(st.tuples(st.integers(1, 2**32 - 1), st.binary(max_size=300)), min_size=1, max_size=5),
    st.lists(st.integers(1, 50), min_size=1, max_size=30),
)
def test_fetch_literals_in_any_pieces(messages: list[tuple[int, bytes]], cuts: list[int]) -> None:
    wire = b"".join(
        b"* %d FETCH (UID %d BODY[] {%d}\r\n%s)\r\n" % (n, uid, len(body), body)
        for n, (uid, body) in enumerate(messages, start=1)
    )
    framer = ResponseFramer()
    found: list[tuple[int | None, bytes | None]] = []
    position = 0
    for cut in cuts * (len(wire) // max(1, sum(cuts)) + 1):
        framer.receive_data(wire[position : position + cut])
        position += cut
        while (framed := framer.next_response()) is not None:
            parsed = parse_response(framed)
            assert isinstance(parsed, FetchData)
            found.append((parsed.uid, parsed.body))
        if position >= len(wire):
            break
    assert found == messages
