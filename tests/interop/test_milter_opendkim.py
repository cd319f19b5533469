"""OpenDKIM as pochta's milter: Debian's opendkim, started by the test with its own configuration
(tests/milter_daemons.py) in signing mode for example.net. A message from example.net through
the MX is stored with OpenDKIM's DKIM-Signature inserted where OpenDKIM asks (SMFIR_INSHEADER at
index 0 in Debian's build: before every field it saw, our Received field included), and the
signature verifies (dkimpy, with the public key given as the DNS answer) over the message exactly
as stored."""

from __future__ import annotations

import asyncio
import base64
import smtplib
from collections.abc import Iterator
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from milter_daemons import opendkim_milter
from smtp_env import ALICE, SmtpEnv, message, smtp_server, smtp_settings

pytestmark = pytest.mark.interop

SELECTOR = "milter"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def opendkim(key: rsa.RSAPrivateKey) -> Iterator[str]:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    with opendkim_milter("example.net", SELECTOR, pem) as socket:
        yield socket


def deliver(env: SmtpEnv, data: bytes) -> int:
    with smtplib.SMTP(*env.address("smtp"), timeout=60) as client:
        client.ehlo("client.example.net")
        client.mail("carol@example.net")
        client.rcpt(ALICE)
        return client.data(data)[0]


async def test_signature_inserted_and_verifies(tmp_path: Any, opendkim: str, key: rsa.RSAPrivateKey) -> None:
    settings = smtp_settings(milters=[{"socket": opendkim, "name": "opendkim"}])
    async with smtp_server(tmp_path, settings) as env:
        assert (
            await asyncio.to_thread(deliver, env, message("signed", body="Signed by the milter.\r\n")) == 250
        )
        (stored,) = await env.messages()
    fields = [
        line.split(b":")[0] for line in stored.split(b"\r\n\r\n")[0].split(b"\r\n") if line[:1] not in b" \t"
    ]
    assert fields[:3] == [b"DKIM-Signature", b"Received", b"From"], fields
    assert b"d=example.net" in stored
    assert f"s={SELECTOR}".encode() in stored
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == f"{SELECTOR}._domainkey.example.net.".encode()
        return record

    assert dkim.verify(stored, dnsfunc=dns)
