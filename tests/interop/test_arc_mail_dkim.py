"""pochta's ARC seals checked by a validator nobody here wrote: Mail::DKIM::ARC::Verifier (Debian
``libmail-dkim-perl``), reading the keys from a loopback DNS server the test runs. One hop, two
hops (a chain continued with cv=pass), and a message changed after sealing (fail)."""

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
from pochta.queue.arc_seal import seal_message
from pochta.queue.dkim_sign import sign_message
from pochta.store.dkim_model import DkimKey, KeyState
from shared_dir import corpus_messages

pytestmark = pytest.mark.interop

# One line per file named on the command line: "<file> <result>".
VALIDATOR = r"""
use strict;
use Mail::DKIM::ARC::Verifier;
use Net::DNS::Resolver;
my ($port, @files) = @ARGV;
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], port => $port,
    recurse => 1, udp_timeout => 5, retry => 2));
for my $file (@files) {
    my $arc = Mail::DKIM::ARC::Verifier->new();
    open(my $fh, '<', $file) or die "$file: $!";
    binmode $fh;
    while (<$fh>) { $arc->PRINT($_); }
    $arc->CLOSE();
    print "$file ", $arc->result, "\n";
}
"""

MESSAGE = (
    b"From: Carol <carol@example.net>\r\nTo: fwd@example.org\r\nSubject: hello\r\n"
    b"Date: Mon, 07 Dec 2026 05:00:00 +0000\r\nMessage-ID: <1@example.net>\r\n\r\nHello.\r\n"
)


def _has_arc_verifier() -> bool:
    if shutil.which("perl") is None:
        return False
    probe = ["perl", "-MMail::DKIM::ARC::Verifier", "-e", "1"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def _hop(data: bytes, key: DkimKey, authserv_id: str, arc: str) -> bytes:
    """What our queue sends for a checked forward: the ARC set over our DKIM signature over the
    message with our Authentication-Results on top."""
    checked = (
        f"Authentication-Results: {authserv_id}; dkim=pass header.d=example.net; arc={arc}\r\n".encode()
        + data
    )
    signed = sign_message(checked, [key]) + checked
    return seal_message(signed, key, authserv_id) + signed


@pytest.mark.skipif(not _has_arc_verifier(), reason="Mail::DKIM::ARC::Verifier (libmail-dkim-perl)")
async def test_mail_dkim_validates_our_seals(tmp_path: Path) -> None:
    first = dkim_keys.new_keys("example.org", DkimSettings(algorithms=["rsa"]), KeyState.ACTIVE)[0]
    second = dkim_keys.new_keys("lists.example.com", DkimSettings(algorithms=["rsa"]), KeyState.ACTIVE)[0]
    zone = {
        (f"{dkim_keys.dns_name(key)}.", "TXT"): [dkim_keys.txt_strings(dkim_keys.txt_record(key))]
        for key in (first, second)
    }
    one = _hop(MESSAGE, first, "mx.example.org", "none")
    two = _hop(one, second, "mx.lists.example.com", "pass")
    cases = {"one": (one, "pass"), "two": (two, "pass"), "changed": (two.replace(b"Hello.", b"Bye."), "fail")}
    # And across the shared corpus (odd header fields, long lines): each sealed once.
    for index, (_, data) in enumerate(corpus_messages()):
        if b"\r\n\r\n" in data and b"\nFrom:" in b"\n" + data.split(b"\r\n\r\n", 1)[0]:
            try:
                cases[f"corpus{index:03}"] = (_hop(data, first, "mx.example.org", "none"), "pass")
            except dkim.DKIMException:  # dkimpy cannot parse it: the queue sends it unsealed too
                continue
    paths = {}
    for name, (data, _) in cases.items():
        paths[name] = tmp_path / f"{name}.eml"
        paths[name].write_bytes(data)
    assert len(paths) > 10
    async with DnsStub(zone) as dns:
        result = await asyncio.to_thread(
            subprocess.run,
            ["perl", "-e", VALIDATOR, str(dns.port), *map(str, paths.values())],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    got = dict(line.rsplit(" ", 1) for line in result.stdout.splitlines())
    expected = {str(paths[name]): outcome for name, (_, outcome) in cases.items()}
    wrong = {path: (got.get(path), want) for path, want in expected.items() if got.get(path) != want}
    assert not wrong, sorted(wrong.items())[:10]
