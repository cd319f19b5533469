"""DKIM keys and signatures (pochta.queue.dkim_keys, dkim_sign), verified by dkimpy's verifier."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime

import dkim
import pytest

from pochta.config_dkim import DkimSettings
from pochta.queue import dkim_keys
from pochta.queue.dkim_sign import Prefixed, sign_message, signed_headers, signing_domains
from pochta.store.dkim_model import DkimKey, KeyState

DAY = datetime(2026, 12, 7, 9, 30, tzinfo=UTC).timestamp()
MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: friend@remote.example\r\n"
    b"Subject: signed\r\n"
    b"Date: Mon, 07 Dec 2026 09:30:00 +0000\r\n"
    b"Message-ID: <1@example.org>\r\n"
    b"\r\n"
    b"Hello,\r\nthis is signed.\r\n"
)


@pytest.fixture(scope="module")
def keys() -> list[DkimKey]:
    return dkim_keys.new_keys("example.org", DkimSettings(), KeyState.ACTIVE, now=DAY)


def dnsfunc(keys: list[DkimKey]) -> Callable[..., bytes | None]:
    """dkimpy's DNS hook: the TXT record of each key."""
    records = {f"{dkim_keys.dns_name(k)}.": dkim_keys.txt_record(k).encode() for k in keys}

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name.decode())

    return lookup


def verify(data: bytes, keys: list[DkimKey], index: int = 0) -> bool:
    try:
        return bool(dkim.DKIM(data).verify(idx=index, dnsfunc=dnsfunc(keys)))
    except dkim.ValidationError:
        return False


def test_new_keys_are_named_by_day_and_kind() -> None:
    made = dkim_keys.new_keys("example.org", DkimSettings(), KeyState.PENDING, taken=["20261207e"], now=DAY)
    assert [(k.selector, k.algorithm, k.state) for k in made] == [
        ("20261207e2", "ed25519", KeyState.PENDING),
        ("20261207r", "rsa", KeyState.PENDING),
    ]
    assert len(base64.b64decode(made[0].public_key)) == 32  # RFC 8463 §4.2: the raw key
    only_rsa = dkim_keys.new_keys(
        "example.org", DkimSettings(algorithms=["rsa"], rsa_bits=1024), KeyState.ACTIVE
    )
    assert [k.algorithm for k in only_rsa] == ["rsa"]


def test_records_and_zone_lines(keys: list[DkimKey]) -> None:
    ed, rsa = keys
    assert dkim_keys.dns_name(ed) == "20261207e._domainkey.example.org"
    assert dkim_keys.txt_record(ed) == f"v=DKIM1; k=ed25519; p={ed.public_key}"
    line = dkim_keys.zone_lines(rsa)
    strings = re.findall(r'"([^"]*)"', line)
    assert line.startswith("20261207r._domainkey.example.org. IN TXT ( ")
    assert len(strings) > 1 and all(len(s) <= 255 for s in strings)  # noqa: PT018 - one fact
    assert "".join(strings) == dkim_keys.txt_record(rsa)
    spaced = dkim_keys.txt_record(rsa).replace("p=", "p = ").replace("k=rsa", "k = rsa")
    assert dkim_keys.record_matches(rsa, ["v=spf1 -all", spaced])
    assert not dkim_keys.record_matches(rsa, [dkim_keys.txt_record(ed)])
    assert not dkim_keys.record_matches(ed, [dkim_keys.txt_record(ed).replace("k=ed25519", "k=rsa")])


def test_both_signatures_verify_relaxed(keys: list[DkimKey]) -> None:
    signed = sign_message(MESSAGE, keys) + MESSAGE
    assert signed.count(b"DKIM-Signature:") == 2
    assert verify(signed, keys, 0)
    assert verify(signed, keys, 1)
    fields = [dict(dkim.util.parse_tag_value(v)) for v in _signature_values(signed)]
    assert [f[b"a"] for f in fields] == [b"ed25519-sha256", b"rsa-sha256"]
    assert {f[b"c"] for f in fields} == {b"relaxed/relaxed"}
    # Relaxed canonicalisation (RFC 6376 §3.4.2, §3.4.4): refolding and trailing spaces pass.
    refolded = signed.replace(b"Subject: signed", b"Subject:   signed  ").replace(
        b"is signed.", b"is  signed. "
    )
    assert verify(refolded, keys, 0)
    assert not verify(signed.replace(b"this is signed", b"this is forged"), keys, 0)


def _signature_values(data: bytes) -> list[bytes]:
    head = data.split(b"\r\n\r\n")[0]
    return [re.sub(rb"\r\n\s+", b" ", m) for m in re.findall(rb"DKIM-Signature: (.*?)(?=\r\n\S)", head, re.S)]


@pytest.mark.parametrize(
    ("added", "holds"),
    [
        (b"From: Mallory <m@evil.example>\r\n", False),  # a second From
        (b"Subject: urgent\r\n", False),  # a second Subject
        (b"Reply-To: m@evil.example\r\n", False),  # absent, but oversigned: adding one breaks it
        (b"List-Unsubscribe: <https://evil.example/>\r\n", False),
        (b"X-Mailing-List: anything\r\n", True),  # not signed: relays may add such fields
    ],
)
def test_oversigned_fields_cannot_be_added(keys: list[DkimKey], added: bytes, holds: bool) -> None:
    signed = sign_message(MESSAGE, keys) + MESSAGE
    head, body = signed.split(b"\r\n\r\n", 1)
    assert verify(head + b"\r\n" + added.rstrip(b"\r\n") + b"\r\n\r\n" + body, keys, 1) is holds


def test_signed_headers_name_each_once_more() -> None:
    names = signed_headers(["Received", "From", "To", "Subject", "X-Other", "To"])
    assert names.count("from") == 2
    assert names.count("to") == 3  # twice present, once more
    assert names.count("reply-to") == 1  # absent: its absence is signed
    assert "received" not in names and "x-other" not in names  # noqa: PT018 - never signed


def test_signing_domains_from_first_then_envelope() -> None:
    data = b"From: a@mail.sub.example.org\r\n\r\nx\r\n"
    assert signing_domains(data, "bounce@example.net") == [
        "mail.sub.example.org",
        "sub.example.org",
        "example.org",
        "example.net",
    ]
    assert signing_domains(b"Subject: no from\r\n\r\n", "") == []


def test_prefixed_stream_reads_prefix_then_message() -> None:
    stream = io.BufferedReader(Prefixed(b"DKIM-Signature: x\r\n", io.BytesIO(MESSAGE)))
    assert stream.read(5) == b"DKIM-"
    assert stream.read() == b"Signature: x\r\n" + MESSAGE
    stream.close()
