"""The defaults and bounds of [dnsbl], [greylisting] and [connection_checks]."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from pochta.config import Settings


def test_defaults_check_little_and_cost_legitimate_senders_nothing() -> None:
    settings = Settings()
    assert not settings.dnsbl.enabled
    assert not settings.greylisting.enabled
    assert settings.greylisting.delay == 300
    assert settings.greylisting.retain == 36 * 86400
    checks = settings.connection_checks
    assert (checks.greet_delay, checks.helo, checks.max_unknown_recipients, checks.block_seconds) == (
        0,
        "reject",
        20,
        600,
    )
    assert (checks.connection_rate, checks.message_rate) == (0, 0)


@pytest.mark.parametrize(
    "section",
    [
        {"connection_checks": {"greet_delay": 61}},
        {"connection_checks": {"greet_delay": -1}},
        {"connection_checks": {"helo": "maybe"}},
        {"connection_checks": {"max_unknown_recipients": -1}},
        {"connection_checks": {"connection_rate": -1}},
        {"connection_checks": {"rate_window": 0}},
        {"greylisting": {"delay": -1}},
        {"greylisting": {"expiry": 0}},
        {"greylisting": {"retain": 0}},
        {"greylisting": {"unknown": 1}},
    ],
)
def test_bad_values_are_refused(section: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate(section)


def test_greylisting_allow_holds_networks_and_domains() -> None:
    settings = Settings.model_validate(
        {"greylisting": {"allow": ["192.0.2.0/24", "2001:db8::1", "Example.COM."]}}
    )
    assert settings.greylisting.allowed_networks() == [
        ipaddress.ip_network("192.0.2.0/24"),
        ipaddress.ip_network("2001:db8::1/128"),
    ]
    assert settings.greylisting.allowed_domains() == ["example.com"]
