"""Greylisting's triplet and how a row moves on (pochta.delivery.gate.greylist)."""

from __future__ import annotations

from pochta.config_gate import GreylistSettings
from pochta.delivery.gate.greylist import advance, client_network, normalise_sender, triplet, wait_seconds
from pochta.mime.address import SmtpPath

SETTINGS = GreylistSettings(enabled=True, delay=300, expiry=3600, retain=86400)


def _path(address: str) -> SmtpPath:
    local, _, domain = address.rpartition("@")
    return SmtpPath(local, domain)


def test_client_networks() -> None:
    assert client_network("192.0.2.77") == "192.0.2.0/24"
    assert client_network("::ffff:192.0.2.77") == "192.0.2.0/24"
    assert client_network("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_network("unix") == "unix"


def test_sender_normalisation() -> None:
    assert normalise_sender(SmtpPath("", "")) == ("", "")
    assert normalise_sender(_path("Carol@Example.NET")) == ("carol@example.net", "example.net")
    assert normalise_sender(_path("prvs=1a2b3c4d5e=carol@example.net")) == (
        "carol@example.net",
        "example.net",
    )
    assert normalise_sender(_path("bounce-12345-carol=example.org@lists.example")) == (
        "bounce-#-carol=example.org@lists.example",
        "lists.example",
    )
    assert normalise_sender(_path("SRS0=HHH=TT=example.com=dave@fwd.example")) == (
        "dave@example.com",
        "example.com",
    )


def test_triplet() -> None:
    key = triplet("192.0.2.9", _path("carol@example.net"), _path("Alice@Example.org"))
    assert (key.client, key.sender, key.recipient, key.sender_domain) == (
        "192.0.2.0/24",
        "carol@example.net",
        "alice@example.org",
        "example.net",
    )


def test_first_attempt_waits_then_the_retry_passes() -> None:
    key = triplet("192.0.2.9", _path("carol@example.net"), _path("alice@example.org"))
    first = advance(None, key, 1000, SETTINGS)
    assert (first.first_seen, first.passed) == (1000, 0)
    assert wait_seconds(first, 1000, SETTINGS) == 300
    early = advance(first, key, 1100, SETTINGS)
    assert early == first  # a retry too early does not restart the delay
    assert wait_seconds(early, 1100, SETTINGS) == 200
    passed = advance(early, key, 1300, SETTINGS)
    assert passed.passed == 1300
    assert wait_seconds(passed, 1300, SETTINGS) == 0


def test_an_unconfirmed_triplet_expires_and_starts_over() -> None:
    key = triplet("192.0.2.9", _path("carol@example.net"), _path("alice@example.org"))
    first = advance(None, key, 1000, SETTINGS)
    again = advance(first, key, 1000 + 3601, SETTINGS)
    assert (again.first_seen, again.passed) == (4601, 0)


def test_a_passed_triplet_is_kept_for_retain_after_its_last_message() -> None:
    key = triplet("192.0.2.9", _path("carol@example.net"), _path("alice@example.org"))
    passed = advance(advance(None, key, 0, SETTINGS), key, 300, SETTINGS)
    assert advance(passed, key, 600, SETTINGS) == passed  # written at most hourly
    later = advance(passed, key, 80000, SETTINGS)
    assert (later.last_seen, later.passed) == (80000, 300)
    gone = advance(later, key, 80000 + 86401, SETTINGS)
    assert gone.passed == 0  # forgotten: greylisted again


def test_pass_now_and_no_delay() -> None:
    key = triplet("192.0.2.9", _path("carol@example.net"), _path("alice@example.org"))
    assert advance(None, key, 50, SETTINGS, pass_now=True).passed == 50
    assert advance(None, key, 50, SETTINGS.model_copy(update={"delay": 0})).passed == 50
