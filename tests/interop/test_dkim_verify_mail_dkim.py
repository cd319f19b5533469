"""Our verifier on signatures nobody here wrote: messages signed by Mail::DKIM::Signer (Debian
``libmail-dkim-perl``) with an RSA key made by ``openssl genrsa``, relaxed and simple
canonicalisation, must verify as pass; the same message changed must fail."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from dns_stub import DnsStub
from pochta.mailauth.dkim_verify import verify_dkim
from pochta.resolver import DnsResolver

pytestmark = pytest.mark.interop

SIGNER = r"""
use strict;
use Mail::DKIM::Signer;
use Mail::DKIM::TextWrap;
my ($keyfile, $method, $file) = @ARGV;
my $dkim = Mail::DKIM::Signer->new(Algorithm => 'rsa-sha256', Method => $method,
    Domain => 'example.com', Selector => 'perl', KeyFile => $keyfile,
    Headers => 'from:to:subject:date:message-id');
open(my $fh, '<', $file) or die "$file: $!";
binmode $fh;
while (<$fh>) { s/\r?\n\z/\r\n/; $dkim->PRINT($_); }
$dkim->CLOSE();
print $dkim->signature->as_string, "\r\n";
"""

MESSAGE = (
    b"From: Carol <carol@example.com>\r\nTo: alice@example.org\r\nSubject: signed by perl\r\n"
    b"Date: Mon, 07 Dec 2026 05:00:00 +0000\r\nMessage-ID: <perl@example.com>\r\n\r\n"
    b"Hello,  with  spaces \r\n\r\nand a trailing blank line.\r\n\r\n"
)


def _has_signer() -> bool:
    if shutil.which("perl") is None or shutil.which("openssl") is None:
        return False
    probe = ["perl", "-MMail::DKIM::Signer", "-e", "1"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def _sign(tmp_path: Path, method: str) -> tuple[bytes, str]:
    """The DKIM-Signature field Mail::DKIM makes over MESSAGE, and the key record's TXT strings."""
    key = tmp_path / "key.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    record = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    strings = " ".join(f'"{record[i : i + 200]}"' for i in range(0, len(record), 200))
    source = tmp_path / "message.eml"
    source.write_bytes(MESSAGE)
    signed = subprocess.run(
        ["perl", "-e", SIGNER, str(key), method, str(source)], check=True, capture_output=True
    ).stdout
    return signed, strings


@pytest.mark.skipif(not _has_signer(), reason="perl Mail::DKIM::Signer (libmail-dkim-perl) and openssl")
@pytest.mark.parametrize("method", ["relaxed", "simple"])
async def test_mail_dkim_signatures_verify_as_pass(tmp_path: Path, method: str) -> None:
    signed, strings = await asyncio.to_thread(_sign, tmp_path, method)
    assert signed.startswith(b"DKIM-Signature:")
    async with DnsStub({("perl._domainkey.example.com.", "TXT"): [strings]}) as dns:
        resolver = DnsResolver([dns.nameserver], 2.0)
        good = await verify_dkim(signed + MESSAGE, resolver)
        bad = await verify_dkim(signed + MESSAGE.replace(b"Hello", b"Jello"), resolver)
    assert [(r.result, r.domain, r.selector) for r in good] == [("pass", "example.com", "perl")]
    assert [r.result for r in bad] == ["fail"]
