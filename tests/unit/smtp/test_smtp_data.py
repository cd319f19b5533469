"""DATA text: the decoder, smuggling variants (CVE-2023-51764 class), the encoder, BDAT, LMTP.

Every case is fed whole and byte by byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smtp_helpers import HOST, crlf, session

from pochta.proto.smtp import BdatStart, DataChunk, DataEnd, DataRejected, replies
from pochta.proto.smtp.data import BodyScanner, DataDecoder, encode_data

ENVELOPE = b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n"
REJECTED = b"550 5.6.0 Message contains a bare CR or LF; line endings must be CRLF\r\n"
QUEUED = b"250 2.0.0 Ok: queued as Q1\r\n"


@pytest.fixture(params=[False, True], ids=["whole", "bytewise"])
def bytewise(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def decode(data: bytes, bytewise: bool) -> tuple[bytes, int, bool]:
    decoder = DataDecoder()
    out = bytearray()
    used = 0
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        content, n = decoder.feed(piece)
        out += content
        used += n
        if decoder.done:
            break
    return bytes(out), used, decoder.done


def test_decoder_unstuffs_and_stops_at_the_end(bytewise: bool) -> None:
    data = b"a\r\n..b\r\n.c\r\n...\r\n.\r\nQUIT\r\n"
    content, used, done = decode(data, bytewise)
    assert done
    assert content == b"a\r\n.b\r\nc\r\n..\r\n"
    assert data[used:] == b"QUIT\r\n"


def test_decoder_empty_message(bytewise: bool) -> None:
    assert decode(b".\r\n", bytewise) == (b"", 3, True)


# --- SMTP smuggling: each variant as its own test, through the whole server core ------------------


def smuggle(payload: bytes, bytewise: bool) -> tuple[bytes, list[bytes], int]:
    s = session()
    s.feed(ENVELOPE)
    out = s.feed(payload, bytewise)
    mails = sum(1 for e in s.events if e.__class__.__name__ == "MailFrom")
    return out, s.messages, mails


SMUGGLED = b"MAIL FROM:<admin@bank.example>\r\nRCPT TO:<victim@e.f>\r\nDATA\r\nFrom: admin\r\n\r\nPay\r\n"


def test_smuggling_lf_dot_lf(bytewise: bool) -> None:
    out, messages, mails = smuggle(b"Subject: hi\r\n\r\nbody\n.\n" + SMUGGLED + b".\r\n", bytewise)
    assert out == REJECTED  # one message, rejected after the real end; nothing smuggled
    assert messages == []
    assert mails == 1


def test_smuggling_cr_dot_cr(bytewise: bool) -> None:
    out, messages, mails = smuggle(b"Subject: hi\r\n\r\nbody\r.\r" + SMUGGLED + b".\r\n", bytewise)
    assert out == REJECTED
    assert messages == []
    assert mails == 1


def test_smuggling_lf_dot_crlf(bytewise: bool) -> None:
    out, messages, mails = smuggle(b"Subject: hi\r\n\r\nbody\n.\r\n" + SMUGGLED + b".\r\n", bytewise)
    assert out == REJECTED
    assert messages == []
    assert mails == 1


def test_smuggling_crlf_dot_lf(bytewise: bool) -> None:
    out, messages, mails = smuggle(b"Subject: hi\r\n\r\nbody\r\n.\n" + SMUGGLED + b".\r\n", bytewise)
    assert out == REJECTED
    assert messages == []
    assert mails == 1


def test_smuggling_variant_without_real_end_waits(bytewise: bool) -> None:
    out, messages, _mails = smuggle(b"body\n.\nQUIT\n", bytewise)
    assert out == b""
    assert messages == []


@pytest.mark.parametrize(
    "body",
    [b"a\rb\r\n", b"a\nb\r\n", b"a\r\r\n", b"\nx\r\n", b"\r\r\n", b"x\r\n.\rx\r\n", b"x\r\n.\nx\r\n"],
    ids=["cr", "lf", "cr-crlf", "lone-lf", "cr-cr-lf", "dot-cr", "dot-lf"],
)
def test_bare_line_endings_rejected_after_end(body: bytes, bytewise: bool) -> None:
    s = session()
    s.feed(ENVELOPE)
    out = s.feed(body + b".\r\nNOOP\r\n", bytewise)
    assert out == REJECTED + b"250 2.0.0 Ok\r\n"
    assert isinstance(s.events[-2], DataRejected)


def test_clean_message_accepted(bytewise: bool) -> None:
    s = session()
    s.feed(ENVELOPE)
    assert s.feed(b"Subject: x\r\n\r\n..dot\r\n\r\n.\r\n", bytewise) == QUEUED
    assert s.messages == [b"Subject: x\r\n\r\n.dot\r\n\r\n"]
    end = s.events[-1]
    assert isinstance(end, DataEnd)
    assert end.size == len(s.messages[0])


def test_data_streams_in_chunks() -> None:
    s = session()
    s.feed(ENVELOPE)
    for _ in range(5):
        s.feed(b"line\r\n" * 100)
    s.feed(b".\r\n")
    chunks = [e for e in s.events if isinstance(e, DataChunk)]
    assert len(chunks) == 5
    assert max(len(c.data) for c in chunks) == 600


# --- encoder ---------------------------------------------------------------------------------------


def test_encoder_stuffs_across_chunks() -> None:
    assert b"".join(encode_data([b".a\r", b"\n.b\r\n"])) == b"..a\r\n..b\r\n.\r\n"
    assert b"".join(encode_data([])) == b".\r\n"
    assert b"".join(encode_data([b"no final crlf"])) == b"no final crlf\r\n.\r\n"
    assert b"".join(encode_data([b"x\r\n", b".\r\n"])) == b"x\r\n..\r\n.\r\n"


_LINE = st.one_of(
    st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.sampled_from([b"", b".", b"..", b".x", b"x.", b". ", b"From x"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINE, max_size=12), st.lists(st.integers(1, 40), max_size=8))
def test_encode_decode_round_trip(lines: list[bytes], cuts: list[int]) -> None:
    body = b"".join(line + b"\r\n" for line in lines)
    # split the body at arbitrary places to exercise chunk boundaries
    pieces, pos = [], 0
    for cut in cuts:
        pieces.append(body[pos : pos + cut])
        pos += cut
    pieces.append(body[pos:])
    wire = b"".join(encode_data(pieces))
    decoder = DataDecoder()
    content, used = decoder.feed(wire + b"NEXT")
    assert decoder.done
    assert content == body
    assert wire + b"NEXT"[:0] == wire[:used]
    scanner = BodyScanner(0, 10_000, 10_000_000)
    scanner.feed(content)
    scanner.finish()
    assert scanner.error is None


def reference_decode(wire: bytes) -> tuple[bytes, int]:
    """RFC 5321 §4.5.2 said plainly: the text ends at the first CRLF "." CRLF (the 354 counts as a
    CRLF), and a period that starts a line is removed. Returns (content, octets used)."""
    text = b"\r\n" + wire
    end = text.find(b"\r\n.\r\n")
    assert end >= 0
    return text[: end + 2].replace(b"\r\n.", b"\r\n")[2:], end + 3


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from([b"\r", b"\n", b".", b"a", b"\r\n", b"\r\n."]), max_size=40),
    st.lists(st.integers(1, 12), max_size=10),
)
def test_decoder_matches_the_rule_however_the_text_is_split(parts: list[bytes], cuts: list[int]) -> None:
    wire = b"".join(parts) + b"\r\n.\r\nNEXT"
    expected, used = reference_decode(wire)
    pieces, pos = [], 0
    for cut in cuts:
        pieces.append(wire[pos : pos + cut])
        pos += cut
    pieces.append(wire[pos:])
    decoder = DataDecoder()
    out, consumed = bytearray(), 0
    for piece in pieces:
        content, n = decoder.feed(piece)
        out += content
        consumed += n
        if decoder.done:
            break
    assert decoder.done
    assert bytes(out) == expected
    assert consumed == used


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_scanner_finds_bare_line_ends_whole_and_split(data: bytes) -> None:
    bare = any(
        (c == 13 and data[i + 1 : i + 2] != b"\n") or (c == 10 and (i == 0 or data[i - 1] != 13))
        for i, c in enumerate(data)
    )
    for pieces in ([data], [data[i : i + 1] for i in range(len(data))]):
        scanner = BodyScanner(0, 10**6, 10**6)
        for piece in pieces:
            scanner.feed(piece)
        scanner.finish()
        assert scanner.error == ("bare" if bare else None)
        assert scanner.size == len(data)


# --- BDAT (RFC 3030) ----------------------------------------------------------------------------------


def test_bdat_chunks_and_last(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n")
    out = s.feed(b"BDAT 12\r\nSubject: x\r\nBDAT 8 LAST\r\n\r\nbody\r\nNOOP\r\n", bytewise)
    assert out == crlf("250 2.0.0 12 octets received\n250 2.0.0 Ok: queued as Q1\n250 2.0.0 Ok")
    assert s.messages == [b"Subject: x\r\n\r\nbody\r\n"]
    starts = [e for e in s.events if isinstance(e, BdatStart)]
    assert [(e.size, e.last, e.first) for e in starts] == [(12, False, True), (8, True, False)]


def test_bdat_chunk_holding_a_command_is_data(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n")
    out = s.feed(b"BDAT 6 LAST\r\nQUIT\r\n", bytewise)
    assert out == QUEUED
    assert s.messages == [b"QUIT\r\n"]
    assert not s.conn.closed


def test_bdat_zero_last(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n")
    out = s.feed(b"BDAT 5\r\nx\r\n\r\nBDAT 0 LAST\r\n", bytewise)
    assert out == crlf("250 2.0.0 5 octets received\n250 2.0.0 Ok: queued as Q1")
    assert s.messages == [b"x\r\n\r\n"]


def test_bdat_then_data_is_refused(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n")
    out = s.feed(b"BDAT 3\r\nabcDATA\r\nRSET\r\n", bytewise)
    assert out == crlf("250 2.0.0 3 octets received\n503 5.5.1 DATA after BDAT\n250 2.0.0 Reset")


def test_bdat_without_transaction_consumes_the_chunk(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\n")
    out = s.feed(b"BDAT 12 LAST\r\nRSET\r\nQUIT\r\nNOOP\r\n", bytewise)
    # RFC 3030 §2: the chunk is read and dropped even though the command is refused
    assert out == b"503 5.5.1 Need RCPT\r\n250 2.0.0 Ok\r\n"
    assert not any(isinstance(e, DataChunk) for e in s.events)


def test_bdat_size_exceeded(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n")
    out = s.feed(b"BDAT 20000\r\n" + b"x" * 20000 + b"BDAT 3 LAST\r\nabcNOOP\r\n", bytewise=False)
    assert out == crlf(
        "552 5.3.4 Message size exceeds fixed maximum message size\n503 5.5.1 Need RCPT\n250 2.0.0 Ok"
    )


def test_bdat_syntax(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n")
    out = s.feed(b"BDAT x\r\nBDAT 1 FIRST\r\nBDAT\r\n", bytewise)
    assert out == crlf(
        "501 5.5.4 Syntax: BDAT <size> [LAST]\n501 5.5.4 Syntax: BDAT <size> [LAST]\n"
        "501 5.5.4 BDAT needs an argument"
    )


def test_bdat_bare_lf_rejected(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n")
    out = s.feed(b"BDAT 5 LAST\r\nab\ncd", bytewise)
    assert out == REJECTED
    assert s.messages == []


def test_bdat_failed_chunk_reply_fails_transaction(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n")
    s.conn.receive_data(b"BDAT 2\r\nab")
    assert isinstance(s.conn.next_event(), BdatStart)
    assert isinstance(s.conn.next_event(), DataChunk)
    s.conn.next_event()
    assert s.conn.send(replies.local_error()) == b"451 4.3.0 Local error in processing\r\n"
    assert s.feed(b"BDAT 1 LAST\r\nx", bytewise) == b"503 5.5.1 Need RCPT\r\n"


# --- LMTP (RFC 2033) -----------------------------------------------------------------------------


def test_lmtp_one_reply_per_recipient(bytewise: bool) -> None:
    s = session("lmtp")
    s.reject = {"nobody@e.f"}
    s.lmtp_results = {"full@e.f": replies.mailbox_full(permanent=False)}
    out = s.feed(
        crlf(
            "LHLO client\nMAIL FROM:<a@b.c>\nRCPT TO:<ok@e.f>\nRCPT TO:<nobody@e.f>\n"
            "RCPT TO:<full@e.f>\nDATA\nhi\n."
        ),
        bytewise,
    )
    assert out.decode().split("\r\n")[-7:] == [
        "250 2.1.5 Recipient ok",
        "550 5.1.1 No such user here",
        "250 2.1.5 Recipient ok",
        "354 End data with <CR><LF>.<CR><LF>",
        "250 2.0.0 Delivered",
        "452 4.2.2 Mailbox full",
        "",
    ]


def test_lmtp_rejection_is_repeated_per_recipient(bytewise: bool) -> None:
    s = session("lmtp")
    s.feed(crlf("LHLO c\nMAIL FROM:<a@b.c>\nRCPT TO:<x@e.f>\nRCPT TO:<y@e.f>\nDATA"))
    out = s.feed(b"a\nb\r\n.\r\n", bytewise)
    assert out == REJECTED * 2


def test_lmtp_bdat_last(bytewise: bool) -> None:
    s = session("lmtp")
    s.feed(crlf("LHLO c\nMAIL FROM:<a@b.c>\nRCPT TO:<x@e.f>\nRCPT TO:<y@e.f>"))
    out = s.feed(b"BDAT 4 LAST\r\nhi\r\n", bytewise)
    assert out == b"250 2.0.0 Delivered\r\n" * 2


def test_lmtp_rejects_ehlo(bytewise: bool) -> None:
    s = session("lmtp")
    assert s.feed(b"EHLO c\r\nHELO c\r\n", bytewise) == b"500 5.5.1 Command unrecognized\r\n" * 2
    out = s.feed(b"LHLO c\r\n", bytewise)
    assert out.startswith(f"250-{HOST}\r\n".encode())


def test_commands_pipelined_behind_bdat_last(bytewise: bool) -> None:
    # after BDAT LAST the transaction is over: the next MAIL starts a new one, where DATA is fine
    s = session()
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n")
    out = s.feed(
        b"BDAT 5 LAST\r\none\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\ntwo\r\n.\r\n",
        bytewise,
    )
    assert out.decode().split("\r\n")[:5] == [
        "250 2.0.0 Ok: queued as Q1",
        "250 2.1.0 Sender ok",
        "250 2.1.5 Recipient ok",
        "354 End data with <CR><LF>.<CR><LF>",
        "250 2.0.0 Ok: queued as Q1",
    ]
    assert s.messages == [b"one\r\n", b"two\r\n"]


def test_rset_between_bdat_chunks(bytewise: bool) -> None:
    s = session()
    s.feed(b"EHLO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n")
    out = s.feed(b"BDAT 2\r\nabRSET\r\nBDAT 1 LAST\r\nc", bytewise)
    assert out == crlf("250 2.0.0 2 octets received\n250 2.0.0 Reset\n503 5.5.1 Need RCPT")
    assert s.messages == []
