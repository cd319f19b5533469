"""APPEND literal8 content made storable as CRLF text without losing an octet (RFC 3516 §4.4):
binary leaves go to base64, BINARY[n] gives back what the client sent, the rest keeps the line-end
rule. Checked on the stored form through the same section code FETCH uses."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pochta.config import MimeSettings
from pochta.mail.errors import OpsError
from pochta.mail.ops import binary_file_to_text, binary_to_text
from pochta.mime import parse_message
from pochta.mime.binary_content import storable_pieces
from pochta.proto.imap.sections import decode_binary, find_part
from pochta.store.spool import SpoolFile

MIME = MimeSettings()
# imaptest's append-binary message: a single binary part holding NUL, 8-bit and bare LFs.
SINGLE = (
    b"From: user@domain.org\r\nDate: Sat, 24 Mar 2007 23:00:00 +0200\r\nMime-Version: 1.0\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"\x00-\xe4\n\r\n\n"
)
PAYLOAD = bytes(range(256)) * 3 + b"\r\r\n\n"
MULTI = (
    b"From: a@example.org\nSubject: parts\nMIME-Version: 1.0\n"
    b'Content-Type: multipart/mixed; boundary="b"\n\n'
    b"--b\nContent-Type: text/plain\n\nline one\nline two\n"
    b"--b\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding:\r\n  8bit\r\n\r\n" + PAYLOAD + b"\r\n"
    b"--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
    b"--b--\r\n"
)


def binary_of(stored: bytes, section: tuple[int, ...]) -> bytes:
    """BINARY[section] of the stored message: the part's body, decoded of its encoding."""
    part = find_part(parse_message(stored, MIME).root, section)
    assert part is not None
    return decode_binary(stored[part.body_start : part.body_end], part.encoding)


def test_a_binary_single_part_message_goes_to_base64() -> None:
    stored = binary_to_text(SINGLE, MIME)
    assert b"\nContent-Transfer-Encoding: base64\r\n\r\n" in stored
    assert b"binary" not in stored
    assert stored.count(b"\n") == stored.count(b"\r\n")
    root = parse_message(stored, MIME).root
    assert root.encoding == "base64"
    assert binary_of(stored, (1,)) == b"\x00-\xe4\n\r\n\n"  # BINARY.SIZE[1] 7, as sent


def test_only_the_binary_parts_change() -> None:
    stored = binary_to_text(MULTI, MIME)
    assert stored.count(b"\n") == stored.count(b"\r\n")  # the text keeps the line-end rule
    assert stored.startswith(b"From: a@example.org\r\nSubject: parts\r\n")
    assert b"--b\r\nContent-Type: text/plain\r\n\r\nline one\r\nline two\r\n" in stored
    assert binary_of(stored, (2,)) == PAYLOAD
    # The folded Content-Transfer-Encoding field is replaced whole, once.
    assert stored.count(b"Content-Transfer-Encoding: base64") == 2
    assert b"8bit" not in stored
    # The part already in base64 is untouched.
    assert b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n" in stored
    lines = stored.split(b"\r\n")
    assert max(len(line) for line in lines) <= 76  # RFC 2045 §6.8


def test_text_only_content_is_left_to_the_line_end_rule() -> None:
    data = b"Subject: x\nContent-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9\n"
    assert storable_pieces(data, parse_message(data, MIME)) is None
    assert binary_to_text(data, MIME) == data.replace(b"\n", b"\r\n")


def test_a_part_with_no_header_of_its_own_gets_one() -> None:
    data = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\n\x00\x01\r\n--b--\r\n'
    stored = binary_to_text(data, MIME)
    assert b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\nAAE=\r\n--b--" in stored
    assert binary_of(stored, (1,)) == b"\x00\x01"


def test_a_multipart_kept_whole_by_the_limits_cannot_hold_binary() -> None:
    inner = b'Content-Type: multipart/mixed; boundary="c"\r\n\r\n--c\r\n\r\n\x00\r\n--c--\r\n'
    data = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n' + inner + b"\r\n--b--\r\n"
    with pytest.raises(OpsError) as caught:
        binary_to_text(data, MimeSettings(max_depth=1))
    assert caught.value.code == "UNKNOWN-CTE"


def test_a_large_binary_body_in_many_base64_pieces() -> None:
    payload = bytes(range(256)) * 1000  # several 57 KiB pieces of input
    data = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" + payload
    stored = binary_to_text(data, MIME)
    body = stored.split(b"\r\n\r\n", 1)[1]
    assert re.fullmatch(rb"([A-Za-z0-9+/]{76}\r\n)*[A-Za-z0-9+/=]{1,76}", body)
    assert base64.b64decode(body) == payload


async def test_the_file_form_gives_the_same_octets(tmp_path: Path) -> None:
    for n, data in enumerate((SINGLE, MULTI, b"Subject: plain\n\nno binary\n", b"")):
        raw = tmp_path / f"raw{n}"
        raw.write_bytes(data)
        into = SpoolFile(tmp_path, f"test{n}")
        binary_file_to_text(raw, into, MIME)
        await into.finish()
        assert into.path is not None
        assert into.path.read_bytes() == (binary_to_text(data, MIME) if data else b"")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.sampled_from(["binary", "8bit", "7bit"]))
def test_any_octets_come_back(payload: bytes, encoding: str) -> None:
    head = f"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
    stored = binary_to_text(head.encode() + payload, MIME)
    assert stored.count(b"\n") == stored.count(b"\r\n")
    root = parse_message(stored, MIME).root
    body = stored[root.body_start : root.body_end]
    decoded = decode_binary(body, root.encoding)
    if root.encoding == "base64":
        assert decoded == payload
    else:  # CRLF text already: stored as it came
        assert stored == head.encode() + payload
