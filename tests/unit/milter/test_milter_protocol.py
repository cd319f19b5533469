"""The sans-IO milter core (pochta.proto.milter): framing, negotiation, the steps an MTA sends,
every reply a milter may give, whole and byte by byte, and malformed packets as protocol errors."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pochta.proto.milter import (
    Accept,
    Action,
    AddHeader,
    AddRecipient,
    ChangeHeader,
    ChangeSender,
    Continue,
    DeleteRecipient,
    Discard,
    InsertHeader,
    MilterProtocolError,
    MilterSession,
    Negotiated,
    Progress,
    Quarantine,
    Reject,
    ReplaceBody,
    Reply,
    ReplyCode,
    ReplyDecoder,
    Skip,
    Stage,
    Step,
    Tempfail,
    frame,
)


def optneg(version: int = 6, actions: int = 0x1FF, steps: int = 0, macros: bytes = b"") -> bytes:
    return frame(b"O", struct.pack("!III", version, actions, steps) + macros)


def decode_all(data: bytes, *, bytewise: bool) -> list[Reply]:
    decoder = ReplyDecoder()
    out: list[Reply] = []
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        decoder.receive_data(piece)
        while (reply := decoder.next_reply()) is not None:
            out.append(reply)
    return out


EVERY_REPLY = (
    frame(b"a")
    + frame(b"c")
    + frame(b"r")
    + frame(b"t")
    + frame(b"d")
    + frame(b"s")
    + frame(b"p")
    + frame(b"y", b"550 5.7.1 Gtube pattern\0")
    + frame(b"y", b"451-4.7.1 first\r\n451 4.7.1 second\0")
    + frame(b"h", b"X-Spam\0yes\0")
    + frame(b"i", struct.pack("!I", 0) + b"X-First\0 v\0")
    + frame(b"m", struct.pack("!I", 2) + b"Subject\0\0")
    + frame(b"e", b"<new@example.org>\0SIZE=10\0")
    + frame(b"e", b"<only@example.org>\0")
    + frame(b"+", b"<added@example.org>\0")
    + frame(b"2", b"<par@example.org>\0NOTIFY=NEVER\0")
    + frame(b"-", b"<gone@example.org>\0")
    + frame(b"b", b"new body\r\n")
    + frame(b"q", b"looks odd\0")
)
EXPECTED: list[Reply] = [
    Accept(),
    Continue(),
    Reject(),
    Tempfail(),
    Discard(),
    Skip(),
    Progress(),
    ReplyCode(550, "5.7.1", ("Gtube pattern",)),
    ReplyCode(451, "4.7.1", ("first", "second")),
    AddHeader("X-Spam", "yes"),
    InsertHeader(0, "X-First", " v"),
    ChangeHeader(2, "Subject", ""),
    ChangeSender("<new@example.org>", "SIZE=10"),
    ChangeSender("<only@example.org>", None),
    AddRecipient("<added@example.org>", None),
    AddRecipient("<par@example.org>", "NOTIFY=NEVER"),
    DeleteRecipient("<gone@example.org>"),
    ReplaceBody(b"new body\r\n"),
    Quarantine("looks odd"),
]


@pytest.mark.parametrize("bytewise", [False, True])
def test_every_reply_whole_and_byte_by_byte(bytewise: bool) -> None:
    assert decode_all(EVERY_REPLY, bytewise=bytewise) == EXPECTED


def test_negotiation_with_macro_lists() -> None:
    session = MilterSession()
    sent = session.negotiation()
    assert sent[:5] == b"\0\0\0\x0dO"
    version, actions, steps = struct.unpack("!III", sent[5:])
    assert (version, actions) == (6, 0x1FF)
    assert steps & Step.NR_RCPT
    assert steps & Step.HDR_LEADSPC
    assert not steps & Step.RCPT_REJ
    macros = struct.pack("!I", 2) + b"{mail_addr} i\0" + struct.pack("!I", 0) + b"j\0"
    (reply,) = decode_all(optneg(steps=Step.NOHELO | Step.NR_RCPT, macros=macros), bytewise=True)
    negotiated = session.negotiate(reply)
    assert negotiated == Negotiated(
        6,
        Action(0x1FF),
        Step.NOHELO | Step.NR_RCPT,
        {Stage.ENVFROM: ("{mail_addr}", "i"), Stage.CONNECT: ("j",)},
    )
    # The milter skips HELO and does not answer RCPT; MAIL macros are only those it named.
    assert session.helo("client.example").data == b""
    assert not session.rcpt(["<bob@example.org>"]).reply
    assert session.mail(["<a@b.example>"]).reply
    packet = session.macros(Stage.ENVFROM, {"{mail_addr}": "a@b.example", "i": "Q1", "{auth_authen}": "x"})
    assert packet == frame(b"D", b"M{mail_addr}\0a@b.example\0i\0Q1\0")
    assert session.macros(Stage.HELO, {"j": "mx"}) == b""  # HELO skipped: no macros for it


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (optneg(version=7), "version 7"),
        (optneg(version=1), "version 1"),
        (optneg(steps=Step.RCPT_REJ), "steps not offered"),
        (frame(b"c"), "expected the OPTNEG"),
    ],
)
def test_negotiation_refused(reply: bytes, error: str) -> None:
    session = MilterSession()
    (decoded,) = decode_all(reply, bytewise=False)
    with pytest.raises(MilterProtocolError, match=error):
        session.negotiate(decoded)


def test_actions_beyond_those_offered_refused() -> None:
    session = MilterSession(actions=Action.ADDHDRS)
    (decoded,) = decode_all(optneg(actions=Action.CHGBODY), bytewise=False)
    with pytest.raises(MilterProtocolError, match="actions not offered"):
        session.negotiate(decoded)


def negotiated(actions: int = 0x1FF, steps: int = 0) -> MilterSession:
    session = MilterSession()
    (reply,) = decode_all(optneg(actions=actions, steps=steps), bytewise=False)
    session.negotiate(reply)
    return session


def test_steps_as_sent() -> None:
    session = negotiated()
    assert session.connect("client.example", "192.0.2.1", 4567).data == frame(
        b"C", b"client.example\x004" + struct.pack("!H", 4567) + b"192.0.2.1\0"
    )
    assert session.connect("c", "2001:db8::1", 25).data[7:8] == b"6"
    assert session.connect("c", None).data == frame(b"C", b"c\0U")
    assert session.helo("client.example").data == frame(b"H", b"client.example\0")
    assert session.mail(["<a@b.example>", "SIZE=12"]).data == frame(b"M", b"<a@b.example>\0SIZE=12\0")
    assert session.rcpt(["<c@d.example>"]).data == frame(b"R", b"<c@d.example>\0")
    assert session.data().data == frame(b"T")
    # Without HDR_LEADSPC the space after the colon is not sent.
    assert session.header("Subject", " hi").data == frame(b"L", b"Subject\0hi\0")
    assert session.end_of_header().data == frame(b"N")
    assert session.body(b"x" * 65535).data == frame(b"B", b"x" * 65535)
    with pytest.raises(ValueError, match="65535"):
        session.body(b"x" * 65536)
    assert session.end_of_message().data == frame(b"E")
    assert session.abort() == frame(b"A")
    assert session.quit() == frame(b"Q")
    leading = negotiated(steps=Step.HDR_LEADSPC)
    assert leading.header("Subject", " hi").data == frame(b"L", b"Subject\0 hi\0")


def test_modifications_only_at_end_of_message_and_when_negotiated() -> None:
    session = negotiated(actions=Action.ADDHDRS, steps=Step.SKIP)
    with pytest.raises(MilterProtocolError, match="before end of message"):
        session.check(AddHeader("X", "y"))
    assert session.check(AddHeader("X", "y"), at_eom=True) == AddHeader("X", "y")
    with pytest.raises(MilterProtocolError, match="not negotiated"):
        session.check(ReplaceBody(b""), at_eom=True)
    with pytest.raises(MilterProtocolError, match="ADDRCPT not negotiated"):
        session.check(AddRecipient("<x@y>", None), at_eom=True)
    with pytest.raises(MilterProtocolError, match="SKIP outside"):
        session.check(Skip())
    assert session.check(Skip(), at_body=True) == Skip()
    assert session.body(b"more").data == b""  # nothing after SKIP
    no_skip = negotiated()
    with pytest.raises(MilterProtocolError, match="SKIP"):
        no_skip.check(Skip(), at_body=True)


@pytest.mark.parametrize(
    ("packet", "error"),
    [
        (struct.pack("!I", 0), "empty packet"),
        (struct.pack("!I", 1 << 24) + b"b", "more than"),
        (frame(b"Z"), "unknown reply"),
        (frame(b"a", b"x"), "unexpected octets"),
        (frame(b"h", b"X-Spam\0yes"), "NUL-terminated"),
        (frame(b"h", b"X-Spam\0"), "strings where"),
        (frame(b"h", b"X Spam\0v\0"), "field name"),
        (frame(b"h", b"\0v\0"), "field name"),
        (frame(b"h", b"X\0a\r\nb\0"), "line break"),
        (frame(b"h", b"X\0a\rb\0"), "line break"),
        (frame(b"h", b"X\0\xff\0"), "UTF-8"),
        (frame(b"m", b"\0\0"), "index missing"),
        (frame(b"y", b"250 2.0.0 ok\0"), "only 4xx and 5xx"),
        (frame(b"y", b"550 4.7.1 mixed\0"), "class differs"),
        (frame(b"y", b"55x nope\0"), "malformed reply line"),
        (frame(b"y", b"550-5.7.1 a\r\n451 4.7.1 b\0"), "different codes"),
        (frame(b"y", b"550-5.7.1 a\0"), "continuation"),
        (frame(b"y", b"550 5.7.1 \x01\0"), "printable"),
        (frame(b"+", b"<a\r\nb>\0"), "envelope address"),
        (frame(b"O", b"\0\0\0\x06"), "shorter than 12"),
        (optneg(macros=struct.pack("!I", 9) + b"j\0"), "unknown stage"),
        (optneg(macros=struct.pack("!I", 1) + b"j"), "NUL-terminated"),
        (optneg(macros=b"\0\0"), "truncated"),
    ],
)
def test_malformed_packets(packet: bytes, error: str) -> None:
    with pytest.raises(MilterProtocolError, match=error):
        decode_all(packet, bytewise=False)


def test_folded_header_values_accepted() -> None:
    (reply,) = decode_all(
        frame(b"h", b"X-Spamd-Result\0default: False\r\n\tBAYES (0.1)\n\tR (1)\0"), bytewise=False
    )
    assert isinstance(reply, AddHeader)


@given(st.binary(max_size=300))
def test_decoder_fuzz(data: bytes) -> None:
    """Any octets: replies or MilterProtocolError, never another exception."""
    decoder = ReplyDecoder(max_packet=4096)
    decoder.receive_data(data)
    try:
        while decoder.next_reply() is not None:
            pass
    except MilterProtocolError:
        pass


@given(
    st.lists(st.sampled_from([EVERY_REPLY[i : i + 9] for i in range(0, 60, 9)]), max_size=5),
    st.binary(max_size=64),
)
def test_decoder_fuzz_framed(prefix: list[bytes], body: bytes) -> None:
    """Well-framed packets of any command byte and content."""
    decoder = ReplyDecoder()
    for command in (b"a", b"y", b"h", b"i", b"m", b"e", b"2", b"+", b"-", b"b", b"q", b"O", b"x"):
        decoder.receive_data(b"".join(prefix) + frame(command, body))
        try:
            while decoder.next_reply() is not None:
                pass
        except MilterProtocolError:
            decoder = ReplyDecoder()


def test_nul_in_a_header_value_cannot_shift_the_strings() -> None:
    session = negotiated()
    assert session.header("X-Evil", " a\0b").data == frame(b"L", b"X-Evil\0a b\0")
