"""[clamav] and the [limits] send_* settings: defaults and what is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pochta.config import Settings


def test_defaults() -> None:
    settings = Settings()
    assert settings.clamav.enabled is False
    assert settings.clamav.on_failure == "tempfail"
    assert settings.clamav.listeners == ["smtp", "submission"]
    limits = settings.limits
    assert (limits.send_messages_per_hour, limits.send_messages_per_day) == (0, 2000)
    assert (limits.send_recipients_per_hour, limits.send_recipients_per_day) == (0, 10000)


@pytest.mark.parametrize("socket", ["unix:/run/clamav/clamd.ctl", "inet:127.0.0.1:3310", "inet:[::1]:3310"])
def test_clamav_sockets(socket: str) -> None:
    assert Settings.model_validate({"clamav": {"socket": socket}}).clamav.socket == socket


@pytest.mark.parametrize(
    "socket", ["/run/clamd.ctl", "unix:relative", "inet:127.0.0.1", "inet:host:0", "inet::3310", "tcp:h:1"]
)
def test_clamav_bad_sockets(socket: str) -> None:
    with pytest.raises(ValidationError, match="unix:/path"):
        Settings.model_validate({"clamav": {"socket": socket}})


@pytest.mark.parametrize(
    "section",
    [
        {"clamav": {"on_failure": "reject"}},
        {"clamav": {"listeners": ["lmtp"]}},
        {"clamav": {"max_size": 10}},
        {"limits": {"send_messages_per_day": -1}},
    ],
)
def test_refused(section: dict[str, dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate(section)
