"""pochta's SRS addresses against Mail::SRS (Debian ``libmail-srs-perl``), the implementation by
the scheme's author: with one secret, each side decodes what the other made (SRS0 and SRS1), and
refuses what the other did not make."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from pochta.mail.srs import SrsError, SrsKey, forward, reverse

pytestmark = pytest.mark.interop

SECRET = "interop secret"
# "forward ADDRESS DOMAIN" or "reverse ADDRESS" per line of stdin; one answer line each ("ERR ...": failed).
SCRIPT = r"""
use strict;
use Mail::SRS;
my $srs = Mail::SRS->new(Secret => [$ARGV[0]], MaxAge => 21, HashLength => 4, AlwaysRewrite => 1);
while (my $line = <STDIN>) {
    chomp $line;
    my ($op, @args) = split / /, $line;
    my $out = eval { $op eq 'forward' ? $srs->forward(@args) : $srs->reverse(@args) };
    print defined $out ? "$out\n" : "ERR $@\n" =~ s/\n(?!\z)/ /gr;
}
"""


def _has_mail_srs() -> bool:
    if shutil.which("perl") is None:
        return False
    return (
        subprocess.run(["perl", "-MMail::SRS", "-e", "1"], capture_output=True, check=False).returncode == 0
    )


def _perl(*lines: str) -> list[str]:
    done = subprocess.run(
        ["perl", "-e", SCRIPT, SECRET],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.splitlines()


@pytest.mark.skipif(not _has_mail_srs(), reason="Mail::SRS (libmail-srs-perl)")
def test_both_directions() -> None:
    key = SrsKey((SECRET.encode(),))
    now = time.time()
    senders = ["carol@example.net", "Carol.Smith+tag@Example.NET", "a=b@example.net"]
    ours = [forward(key, sender, "fwd.example.org", now) for sender in senders]
    theirs = _perl(*(f"forward {sender} fwd.example.org" for sender in senders))
    assert ours == theirs  # the same secret and day give the same address, byte for byte
    assert _perl(*(f"reverse {address}" for address in ours)) == senders
    assert [reverse(key, address, now) for address in theirs] == senders

    # The second hop: an SRS0 address of another forwarder becomes SRS1, and back.
    hop1 = forward(SrsKey((b"hop1 secret",)), "carol@example.net", "hop1.example", now)
    [their_srs1] = _perl(f"forward {hop1} fwd.example.org")
    assert forward(key, hop1, "fwd.example.org", now) == their_srs1
    assert reverse(key, their_srs1, now) == hop1
    assert _perl(f"reverse {their_srs1}") == [hop1]


@pytest.mark.skipif(not _has_mail_srs(), reason="Mail::SRS (libmail-srs-perl)")
def test_each_refuses_a_forgery() -> None:
    key = SrsKey((SECRET.encode(),))
    now = time.time()
    address = forward(key, "carol@example.net", "fwd.example.org", now)
    forged = address.replace("=carol@", "=mallory@")
    [answer] = _perl(f"reverse {forged}")
    assert answer.startswith("ERR")
    [theirs] = _perl("forward carol@example.net fwd.example.org")
    with pytest.raises(SrsError):
        reverse(key, theirs.replace("=carol@", "=mallory@"), now)
