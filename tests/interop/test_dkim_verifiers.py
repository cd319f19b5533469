"""pochta's DKIM signatures checked by verifiers nobody here wrote, over every message of the shared
corpus (real-world and malformed ones: their odd header fields and line lengths are what
canonicalisation must get right): Mail::DKIM (Debian ``libmail-dkim-perl``), reading the keys from a
loopback DNS server the test runs, and dkimpy's verifier.

Debian's Mail::DKIM (1.20230212) knows no Ed25519 in DKIM signatures: it must pass the RSA signature
and call the Ed25519 one "invalid (unsupported algorithm)", which is the transition RFC 8463 §6
describes (a verifier ignores an algorithm it does not know, so both signatures go out); dkimpy
verifies both."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import dkim
import pytest

from dns_stub import DnsStub
from pochta.config_dkim import DkimSettings
from pochta.queue import dkim_keys
from pochta.queue.dkim_sign import sign_message
from pochta.store.dkim_model import KeyState
from shared_dir import corpus_messages

pytestmark = pytest.mark.interop

# One line per signature of each file named on the command line: "<file> <selector> <result detail>".
VERIFIER = r"""
use strict;
use Mail::DKIM::Verifier;
use Net::DNS::Resolver;
my ($port, @files) = @ARGV;
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], port => $port,
    recurse => 1, udp_timeout => 5, retry => 2));
for my $file (@files) {
    my $dkim = Mail::DKIM::Verifier->new();
    open(my $fh, '<', $file) or die "$file: $!";
    binmode $fh;
    while (<$fh>) { $dkim->PRINT($_); }
    $dkim->CLOSE();
    for my $signature ($dkim->signatures) {
        print "$file ", $signature->selector, " ", $signature->result_detail, "\n";
    }
}
"""


def _has_mail_dkim() -> bool:
    if shutil.which("perl") is None:
        return False
    probe = ["perl", "-MMail::DKIM::Verifier", "-e", "1"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(
    not _has_mail_dkim(), reason="Mail::DKIM with Ed25519 (libmail-dkim-perl, libcryptx-perl)"
)
async def test_mail_dkim_verifies_both_signatures_on_the_corpus(tmp_path: Path) -> None:
    keys = dkim_keys.new_keys("example.org", DkimSettings(), KeyState.ACTIVE)
    zone = {
        (f"{dkim_keys.dns_name(key)}.", "TXT"): [dkim_keys.txt_strings(dkim_keys.txt_record(key))]
        for key in keys
    }
    files, unsigned = [], []
    for index, (name, data) in enumerate(corpus_messages()):
        try:
            signature = sign_message(data, keys)
        except dkim.MessageFormatError:  # no header section to sign: the queue sends it unsigned
            unsigned.append(name)
            continue
        path = tmp_path / f"{index:03}.eml"
        path.write_bytes(signature + data)
        files.append(path)
    assert len(files) > 20
    assert len(unsigned) <= len(files) // 20, unsigned
    async with DnsStub(zone) as dns:
        port = str(dns.port)
        result = await asyncio.to_thread(
            subprocess.run,
            ["perl", "-e", VERIFIER, port, *map(str, files)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")[:-1]
    results = {"rsa": "pass", "ed25519": "invalid (unsupported algorithm ed25519-sha256)"}
    expected = {f"{path} {key.selector} {results[key.algorithm]}" for path in files for key in keys}
    assert set(lines) == expected, "\n".join(sorted(set(lines) - expected)[:10])
    records = {f"{dkim_keys.dns_name(key)}.": dkim_keys.txt_record(key).encode() for key in keys}
    for path in files:
        signed = path.read_bytes()
        for index in range(len(keys)):
            assert dkim.DKIM(signed).verify(
                idx=index, dnsfunc=lambda name, timeout=5: records.get(name.decode())
            )
