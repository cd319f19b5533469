"""The sending-limit rules: ``N/hour`` parsing, the replies, the postmaster notice."""

from __future__ import annotations

import email

import pytest

from pochta.delivery.send_limits import notice_message, notice_recipient, parse_send_limit, send_limit_reply
from pochta.store.send_limit_model import SendLimitReached


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100/hour", (100, "hour")), ("2000/day", (2000, "day")), (" 5 / H ", (5, "hour")), ("0/d", (0, "day"))],
)
def test_parse_send_limit(text: str, expected: tuple[int, str]) -> None:
    assert parse_send_limit(text) == expected


@pytest.mark.parametrize("text", ["100", "100/week", "-1/hour", "x/day", "/hour", "1.5/day", ""])
def test_parse_send_limit_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"N/hour|whole number"):
        parse_send_limit(text)


def test_replies_name_the_limit() -> None:
    hour = send_limit_reply(SendLimitReached("account", "a@example.org", "messages", "hour", 100, 0))
    assert (hour.code, hour.enhanced) == (451, "4.7.1")
    assert hour.lines == ("Sending limit of 100 messages per hour reached; try again later",)
    day = send_limit_reply(SendLimitReached("domain", "example.org", "recipients", "day", 10000, 0))
    assert (day.code, day.enhanced) == (550, "5.4.5")
    assert day.lines == ("Daily sending limit of 10000 recipients per day reached",)


def test_notice_is_a_well_formed_message() -> None:
    hit = SendLimitReached("account", "a@example.org", "messages", "hour", 3, 3600)
    data = notice_message(hit, "a@example.org", "postmaster@example.org", "mail.example.org")
    parsed = email.message_from_bytes(data)
    assert parsed["To"] == "<postmaster@example.org>"
    assert "a@example.org" in parsed["Subject"]
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert "stolen password" in parsed.get_payload()
    assert notice_recipient("", "example.org", "mail.example.org") == "postmaster@example.org"
    assert notice_recipient("ops@example.org", "example.org", "h") == "ops@example.org"
    assert notice_recipient("", None, "mail.example.org") == "postmaster@mail.example.org"
