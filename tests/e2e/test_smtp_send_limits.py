"""Sending limits over real sockets (docs/antispam.md "Sending limits"): submission over a limit is
refused at MAIL or at end of DATA, the postmaster is told once per window, concurrent submissions at
the edge pass exactly the limit, and the CLI sets and shows limits."""

from __future__ import annotations

import asyncio
import os
import smtplib
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pochta.config import load_settings
from pochta.store.factory import open_store
from pochta.store.send_limit_model import SendLimitOverride
from smtp_env import ALICE, PASSWORD, SmtpEnv, message, smtp_server, smtp_settings

FRIEND = "friend@remote.example"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[SmtpEnv]:
    settings = smtp_settings(limits={"send_messages_per_hour": 2, "send_recipients_per_day": 100})
    async with smtp_server(tmp_path, settings) as env:
        yield env


def _submit(env: SmtpEnv, recipients: list[str]) -> tuple[tuple[int, bytes], ...]:
    """MAIL, RCPT..., DATA over submission with STARTTLS and AUTH: every reply (stops at a refusal)."""
    data = message("limit", sender=ALICE, to=recipients[0])
    with smtplib.SMTP(*env.address("submission"), timeout=60) as client:
        client.starttls(context=env.client_context())
        client.ehlo("laptop.example.org")
        client.login(ALICE, PASSWORD)
        replies = [client.mail(ALICE)]
        if replies[0][0] != 250:
            return tuple(replies)
        replies += [client.rcpt(r) for r in recipients]
        if all(code != 250 for code, _ in replies[1:]):
            return tuple(replies)  # every RCPT refused (a concurrent client took the last place)
        replies.append(client.data(data))
        return tuple(replies)


def _hits(env: SmtpEnv, scope: str, window: str) -> float:
    value: float = env.metrics.send_limit_hits.labels(scope=scope, window=window)._value.get()
    return value


async def test_hour_limit_refuses_at_mail_and_tells_the_postmaster_once(env: SmtpEnv) -> None:
    for _ in range(2):
        replies = await asyncio.to_thread(_submit, env, [FRIEND])
        assert replies[-1][0] == 250
    for _ in range(2):
        replies = await asyncio.to_thread(_submit, env, [FRIEND])
        assert replies == ((451, b"4.7.1 Sending limit of 2 messages per hour reached; try again later"),)
    assert _hits(env, "account", "hour") == 2
    entries = await env.store.queue_entries()
    sent = [e for e in entries if e.origin == "submission"]
    notices = [e for e in entries if e.origin == "report"]
    assert len(sent) == 2
    [notice] = notices  # once per window, not per refused message
    assert notice.sender == ""
    assert [r.address for r in notice.recipients] == ["postmaster@example.org"]
    text = env.store.read_blob(notice.blob)
    assert b"Subject: Sending limit reached: alice@example.org (2 messages per hour)" in text
    assert b"stolen password" in text
    [hour, _day] = await env.store.send_counts("account", ALICE, int(time.time()))
    assert (hour.messages, hour.recipients, hour.notified) == (2, 2, True)


def _login(env: SmtpEnv) -> smtplib.SMTP:
    client = smtplib.SMTP(*env.address("submission"), timeout=60)
    client.starttls(context=env.client_context())
    client.ehlo("laptop.example.org")
    client.login(ALICE, PASSWORD)
    return client


async def test_domain_recipient_limit_at_rcpt_and_at_end_of_data(env: SmtpEnv) -> None:
    # Alice's own hourly message limit (2, the fixture's default) is lifted: only the domain counts.
    await env.store.set_send_limit_override(SendLimitOverride("account", ALICE, messages_per_hour=0))
    await env.store.set_send_limit_override(SendLimitOverride("domain", "example.org", recipients_per_day=3))
    two = [FRIEND, "other@remote.example"]
    assert (await asyncio.to_thread(_submit, env, two))[-1][0] == 250
    replies = await asyncio.to_thread(_submit, env, two)
    # One more recipient fits: the second is refused at RCPT, the message goes to the first.
    assert replies[2] == (550, b"5.4.5 Daily sending limit of 3 recipients per day reached")
    assert replies[-1][0] == 250
    await env.store.set_send_limit_override(SendLimitOverride("domain", "example.org", recipients_per_day=4))

    def race() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        # The first client passed RCPT when there was room; the second takes the last place first.
        with _login(env) as first, _login(env) as second:
            first.mail(ALICE)
            first.rcpt(FRIEND)
            second.mail(ALICE)
            second.rcpt(FRIEND)
            taken = second.data(message("second", sender=ALICE, to=FRIEND))
            try:
                return taken, first.data(message("first", sender=ALICE, to=FRIEND))
            except smtplib.SMTPDataError as exc:
                error = exc.smtp_error
                return taken, (exc.smtp_code, error if isinstance(error, bytes) else error.encode())

    taken, refused = await asyncio.to_thread(race)
    assert taken[0] == 250
    # End of DATA: the count in the queue's transaction refuses it; nothing of it is queued.
    assert refused == (550, b"5.4.5 Daily sending limit of 4 recipients per day reached")
    assert len([e for e in await env.store.queue_entries() if e.origin == "submission"]) == 3
    assert _hits(env, "domain", "day") == 2
    assert env.spool_files() == []


async def test_recipient_over_the_limit_is_refused_at_rcpt(env: SmtpEnv) -> None:
    await env.store.set_send_limit_override(SendLimitOverride("account", ALICE, recipients_per_hour=2))
    three = [FRIEND, "other@remote.example", "third@remote.example"]
    replies = await asyncio.to_thread(_submit, env, three)
    # The third recipient is refused at RCPT; the message goes to the first two.
    assert [code for code, _ in replies[1:4]] == [250, 250, 451]
    assert replies[3][1] == b"4.7.1 Sending limit of 2 recipients per hour reached; try again later"
    assert replies[-1][0] == 250
    [entry] = [e for e in await env.store.queue_entries() if e.origin == "submission"]
    assert [r.address for r in entry.recipients] == [FRIEND, "other@remote.example"]


async def test_concurrent_submissions_at_the_edge_pass_exactly_the_limit(env: SmtpEnv) -> None:
    # Five clients at once for a limit of two per hour: some pass MAIL together; the count in the
    # queue's write transaction lets exactly two through.
    results = await asyncio.gather(*(asyncio.to_thread(_submit, env, [FRIEND]) for _ in range(5)))
    accepted = [r for r in results if r[-1][0] == 250]
    assert len(accepted) == 2
    assert all(r[-1][0] == 451 for r in results if r[-1][0] != 250)
    assert len([e for e in await env.store.queue_entries() if e.origin == "submission"]) == 2
    assert len([e for e in await env.store.queue_entries() if e.origin == "report"]) == 1


def _pochta(*args: str, data: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ)
    environ.pop("POCHTA_DATA", None)
    result = subprocess.run(
        [sys.executable, "-m", "pochta", *args, "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
    )
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
    return result


def test_cli_sets_and_shows_send_limits(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _pochta("init", "--domain", "example.org", "--account", "ann@example.org", data=data)
    out = _pochta(
        "user",
        "set",
        "ann@example.org",
        "--send-limit",
        "100/hour",
        "--send-limit",
        "500/day",
        "--send-rcpt-limit",
        "1000/day",
        data=data,
    ).stdout
    assert (
        "sending limits 100 messages/hour, 500 messages/day, unlimited recipients/hour, 1000 recipients/day"
        in out
    )
    out = _pochta("domain", "set", "example.org", "--send-limit", "3000/day", data=data).stdout
    assert "example.org: sending limits unlimited messages/hour, 3000 messages/day" in out
    shown = _pochta("user", "show", "ann@example.org", data=data).stdout
    lines = [line.split() for line in shown.splitlines()]
    assert ["account", "ann@example.org", "hour", "0/100", "0/unlimited", "own"] in lines
    assert ["account", "ann@example.org", "day", "0/500", "0/1000", "own"] in lines
    assert ["domain", "example.org", "day", "0/3000", "0/unlimited", "own"] in lines
    bad = _pochta("user", "set", "ann@example.org", "--send-limit", "100/week", data=data, ok=False)
    assert "expected N/hour or N/day" in bad.stderr
    _pochta("user", "set", "ann@example.org", "--send-limit", "none", "--send-rcpt-limit", "none", data=data)

    async def check() -> None:
        store = await open_store(data, load_settings(data / "pochta.toml"))
        try:
            assert await store.send_limit_override("account", "ann@example.org") is None
            domain = await store.send_limit_override("domain", "example.org")
            assert domain is not None
            assert domain.messages_per_day == 3000
        finally:
            await store.close()

    asyncio.run(check())
    shown = _pochta("user", "show", "ann@example.org", data=data).stdout
    lines = [line.split() for line in shown.splitlines()]
    assert ["account", "ann@example.org", "day", "0/2000", "0/10000", "default"] in lines
    # Deleting the account forgets its limits: a new account of the address starts from the defaults.
    _pochta("user", "set", "ann@example.org", "--send-limit", "7/hour", data=data)
    _pochta("user", "del", "ann@example.org", "--yes", data=data)

    async def forgotten() -> None:
        store = await open_store(data, load_settings(data / "pochta.toml"))
        try:
            assert await store.send_limit_override("account", "ann@example.org") is None
        finally:
            await store.close()

    asyncio.run(forgotten())
