"""The settings keys and the rule of inheritance (pochta.store.account_settings), without a store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pochta.store.account_settings import (
    KEYS,
    POP3_ENABLED,
    POP3_ENABLED_AT,
    POP3_LOGIN_DELAY,
    POP3_MODE,
    ROOT_UNIT,
    AccountSettings,
    Setting,
    format_value,
    parse_value,
    shown_value,
    stored_values,
)


def test_every_key_round_trips_its_text() -> None:
    samples = {"bool": "off", "int": "900", "time": "1700000000"}
    for name, key in KEYS.items():
        text = {"pop3.mode": "since-enabled", "pop3.delete_action": "trash", "pop3.apop_secret": "s"}.get(
            name
        )
        if text is None:
            text = samples["bool"] if name.endswith(".enabled") else samples["int"]
            text = samples["time"] if name in ("pop3.enabled_at", "pop3.last_login") else text
        assert key.format(key.parse(text)) == text, name


def test_values_are_checked_with_a_message() -> None:
    assert parse_value("imap.enabled", "YES") is True
    assert parse_value("pop3.enabled_at", "1700000000") == datetime.fromtimestamp(1700000000, UTC)
    with pytest.raises(ValueError, match=r"imap\.enabled: 'maybe' is not on or off"):
        parse_value("imap.enabled", "maybe")
    with pytest.raises(ValueError, match="not a number of seconds"):
        parse_value("pop3.login_delay", "-1")
    with pytest.raises(ValueError, match=r"unknown setting 'caldav\.enabled'"):
        parse_value("caldav.enabled", "on")
    with pytest.raises(ValueError, match="a unit cannot set it"):
        parse_value("pop3.apop_secret", "x", unit=True)
    with pytest.raises(ValueError, match="an account cannot set it"):
        stored_values({"send.messages_per_hour": 5}, unit=False)
    assert stored_values({"pop3.login_delay": 5, "pop3.mode": None}, unit=True) == {
        "pop3.login_delay": "5",
        "pop3.mode": None,
    }
    with pytest.raises(ValueError, match="not one of"):
        stored_values({"pop3.mode": "often"}, unit=True)  # a wrong value of the right type
    assert shown_value("pop3.apop_secret", "secret") == "set"
    assert format_value("send.messages_per_hour", 7) == "7"


def test_the_nearest_value_wins_else_the_default() -> None:
    rows = [
        (0, None, "pop3.mode", "all"),
        (1, "sales", None, None),
        (2, "staff", "pop3.enabled", "off"),
        (2, "staff", "pop3.mode", "since-enabled"),
        (3, ROOT_UNIT, "pop3.login_delay", "60"),
        (3, ROOT_UNIT, "pop3.enabled", "on"),
        (2, "staff", "later.unknown", "x"),  # a later version's key: skipped
        (0, None, "pop3.login_delay", "not a number"),  # unreadable: skipped, never a failure
    ]
    settings = AccountSettings.from_rows(rows)
    assert settings.unit == "sales"
    assert settings.find(POP3_MODE) == Setting("all", "account")
    assert settings.find(POP3_ENABLED) == Setting(False, "staff")
    assert settings.get(POP3_LOGIN_DELAY, 0) == 60
    assert settings.optional(POP3_ENABLED_AT) is None
    assert not settings.allows("pop3")
    assert settings.allows("imap")
    assert settings.allows("jmap")  # no switch (yet): allowed
    assert AccountSettings().unit == ROOT_UNIT
    assert AccountSettings().get(POP3_MODE, "all") == "all"
    again = AccountSettings.from_rows(reversed(rows))
    assert again == settings
    assert hash(again) == hash(settings)


def test_quota_keys_take_sizes_and_are_a_units_only() -> None:
    # A size as `pochta user set --quota` reads it (pochta.sizes), stored as a decimal number of
    # octets (the quota check's SQL casts it), shown in its short form.
    assert parse_value("quota.bytes", "2G", unit=True) == 2 * 1024**3
    assert parse_value("quota.bytes", "500MiB", unit=True) == 500 * 1024**2
    assert stored_values({"quota.bytes": 1536 * 1024, "quota.messages": 100}, unit=True) == {
        "quota.bytes": "1572864",
        "quota.messages": "100",
    }
    assert shown_value("quota.bytes", 2 * 1024**3) == "2G"
    assert shown_value("quota.bytes", 1000) == "1000"
    assert shown_value("quota.messages", 100) == "100"
    with pytest.raises(ValueError, match="--unset"):
        parse_value("quota.bytes", "none", unit=True)  # no limit: the key unset, not a value
    with pytest.raises(ValueError, match="expected a size"):
        parse_value("quota.bytes", "nan", unit=True)
    with pytest.raises(ValueError, match="cannot be negative"):
        parse_value("quota.bytes", "-1G", unit=True)
    with pytest.raises(ValueError, match="not a whole number"):
        parse_value("quota.messages", "1e3", unit=True)
    # 18 digits at most: the enforcing SQL casts the text to a 64-bit integer and reads no longer.
    assert parse_value("quota.messages", "9" * 18, unit=True) == 10**18 - 1
    with pytest.raises(ValueError, match="past the largest quota"):
        parse_value("quota.messages", "1" + "0" * 18, unit=True)
    with pytest.raises(ValueError, match="past the largest quota"):
        parse_value("quota.bytes", "1000000T", unit=True)
    with pytest.raises(ValueError, match="an account cannot set it"):
        parse_value("quota.bytes", "1G")  # an account's own quota: `pochta user set --quota`
