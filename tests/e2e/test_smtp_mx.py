"""The MX listener over real sockets: local delivery, unknown users, relay denial, relay tricks."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest

from server_env import delivered_first
from smtp_env import ALICE, BOB, SmtpEnv, message, send_one, smtp_server, smtp_settings, strip_received
from store_env import sqlite_only


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[SmtpEnv]:
    async with smtp_server(tmp_path) as env:
        yield env


def _send(
    env: SmtpEnv, data: bytes, rcpts: list[str], *, starttls: bool = False
) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP(*env.address("smtp"), timeout=10) as client:
        client.ehlo("client.example.net")
        if starttls:
            client.starttls(context=env.client_context())
            client.ehlo("client.example.net")
        return client.sendmail("carol@example.net", rcpts, data)


def _rcpt(env: SmtpEnv, rcpt: str) -> tuple[int, bytes]:
    with smtplib.SMTP(*env.address("smtp"), timeout=10) as client:
        client.ehlo("client.example.net")
        assert client.mail("carol@example.net")[0] == 250
        return client.docmd(f"RCPT TO:{rcpt}")


async def test_mx_delivery_lands_in_inbox_byte_identical_plus_received(env: SmtpEnv) -> None:
    data = message("mx plain")
    refused = await asyncio.to_thread(_send, env, data, [ALICE])
    assert refused == {}
    stored = await env.messages()
    assert len(stored) == 1
    assert stored[0].startswith(b"Received: from client.example.net ([127.0.0.1])\r\n\tby mx.example.org")
    assert b"with ESMTP id " in stored[0]
    assert b"for <alice@example.org>" in stored[0]
    assert strip_received(stored[0]) == data
    assert env.spool_files() == []
    assert env.metrics.messages_delivered.labels(protocol="smtp")._value.get() == 1


async def test_mx_over_starttls_records_esmtps(env: SmtpEnv) -> None:
    data = message("mx tls")
    assert await asyncio.to_thread(_send, env, data, [ALICE], starttls=True) == {}
    stored = await env.messages()
    assert b"with ESMTPS id " in stored[0]
    assert strip_received(stored[0]) == data


async def test_mx_with_aiosmtplib_starttls(env: SmtpEnv) -> None:
    data = message("aio")
    host, port = env.address("smtp")
    errors, _ = await aiosmtplib.send(
        data,
        sender="carol@example.net",
        recipients=[ALICE, BOB],
        hostname=host,
        port=port,
        start_tls=True,
        tls_context=env.client_context(),
    )
    assert errors == {}
    alice = await env.messages(env.alice)
    bob = await env.messages(env.bob)
    assert strip_received(alice[0]) == data
    assert alice == bob  # one stored copy for both
    assert b"for <" not in alice[0]  # several recipients are not disclosed (RFC 5321 §7.2)
    assert env.blob_count() == 1


async def test_mx_bdat_chunks(env: SmtpEnv) -> None:
    data = message("bdat")
    host, port = env.address("smtp")
    reader, writer = await asyncio.open_connection(host, port)
    try:
        await reader.readline()
        half = len(data) // 2
        writer.write(
            b"EHLO c.example\r\nMAIL FROM:<c@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
            + f"BDAT {half}\r\n".encode()
            + data[:half]
            + f"BDAT {len(data) - half} LAST\r\n".encode()
            + data[half:]
            + b"QUIT\r\n"
        )
        await writer.drain()
        text = (await reader.read()).decode()
    finally:
        writer.close()
    assert f"250 2.0.0 {half} octets received" in text
    assert "250 2.0.0 Delivered as" in text
    assert strip_received((await env.messages())[0]) == data


async def test_unknown_local_user_550(env: SmtpEnv) -> None:
    assert await asyncio.to_thread(_rcpt, env, "<nobody@example.org>") == (550, b"5.1.1 No such user here")


async def test_remote_domain_relay_denied(env: SmtpEnv) -> None:
    assert await asyncio.to_thread(_rcpt, env, "<victim@remote.example>") == (
        554,
        b"5.7.1 Relay access denied",
    )


async def test_address_literal_is_never_local(env: SmtpEnv) -> None:
    code, _ = await asyncio.to_thread(_rcpt, env, "<alice@[127.0.0.1]>")
    assert code == 554


# --- relay tricks: each must be refused, none may reach another domain ------------------------


async def test_relay_trick_percent_hack(env: SmtpEnv) -> None:
    assert (await asyncio.to_thread(_rcpt, env, "<victim%remote.example@example.org>"))[0] == 550


async def test_relay_trick_source_route(env: SmtpEnv) -> None:
    # RFC 5321 §C: the route is ignored; the mailbox is at remote.example: not ours, denied.
    assert (await asyncio.to_thread(_rcpt, env, "<@example.org:victim@remote.example>"))[0] == 554


async def test_relay_trick_quoted_at(env: SmtpEnv) -> None:
    assert (await asyncio.to_thread(_rcpt, env, '<"victim@remote.example"@example.org>'))[0] == 550


async def test_relay_trick_double_at(env: SmtpEnv) -> None:
    code, _ = await asyncio.to_thread(_rcpt, env, "<victim@remote.example@example.org>")
    assert code == 501  # a syntax error in the address (RFC 3463 X.1.3)


async def test_relay_trick_bang_path(env: SmtpEnv) -> None:
    assert (await asyncio.to_thread(_rcpt, env, "<remote.example!victim@example.org>"))[0] == 550


async def test_relay_tricks_store_nothing(env: SmtpEnv) -> None:
    tricks = [
        "victim%remote.example@example.org",
        "remote.example!victim@example.org",
        "victim@remote.example",
    ]
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await asyncio.to_thread(_send, env, message("trick"), tricks)
    assert await env.messages() == []
    assert env.blob_count() == 0


async def test_postmaster_without_domain_is_accepted(env: SmtpEnv) -> None:
    await env.store.add_alias("postmaster@example.org", [ALICE])
    assert (await asyncio.to_thread(_rcpt, env, "<Postmaster>"))[0] == 250


async def test_vrfy_252(env: SmtpEnv) -> None:
    def run() -> tuple[int, bytes]:
        with smtplib.SMTP(*env.address("smtp"), timeout=10) as client:
            client.ehlo()
            return client.verify(ALICE)

    assert (await asyncio.to_thread(run))[0] == 252


async def test_smtp_stores_for_all_recipients_or_none(env: SmtpEnv) -> None:
    # Bob's quota is exceeded only by the real size (no SIZE declared): SMTP has one reply for
    # both recipients, so nothing is stored and the client is told to retry (RFC 5321 §4.2.5).
    await env.store.update_account(BOB, quota_bytes=300)
    data = message("quota", body="x" * 500 + "\r\n")

    def run() -> tuple[int, bytes]:
        with smtplib.SMTP(*env.address("smtp"), timeout=10) as client:
            client.ehlo("c.example")
            client.mail("carol@example.net")
            client.rcpt(ALICE)
            client.rcpt(BOB)
            return client.data(data)

    code, text = await asyncio.to_thread(run)
    assert (code, text[:5]) == (452, b"4.2.2")
    assert await env.messages(env.alice) == []
    assert await env.messages(env.bob) == []
    assert env.spool_files() == []
    assert env.blob_count() == 0


@sqlite_only("holds SQLite's one writer so that another delivery commits first")
async def test_smtp_quota_filled_before_the_commit_stores_for_none(env: SmtpEnv) -> None:
    # As above, but bob's quota is filled by another delivery between the checks and the write: the
    # store refuses bob in the write transaction, and SMTP, with one reply, stores for alice neither.
    data = message("raced", body="x" * 400 + "\r\n")
    other = message("meanwhile", to=BOB, body="y" * 400 + "\r\n")
    await env.store.update_account(BOB, quota_bytes=1000)
    inbox = await env.store.get_mailbox(env.bob.id, "INBOX")
    assert inbox is not None
    async with delivered_first(env.store, inbox.id, other) as gate:
        session = asyncio.ensure_future(asyncio.to_thread(_send, env, data, [ALICE, BOB]))
        await gate.queued(2)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await session
    assert (refused.value.smtp_code, refused.value.smtp_error[:5]) == (452, b"4.2.2")
    assert await env.messages(env.alice) == []
    assert await env.messages(env.bob) == [other]
    assert env.spool_files() == []


ROLES = ["smtp", "lmtp", "submission"]


@pytest.mark.parametrize("role", ROLES)
async def test_postmaster_of_every_domain_reaches_the_primary_postmaster(env: SmtpEnv, role: str) -> None:
    # RFC 5321 §4.5.1: postmaster at any domain served and <Postmaster> MUST be accepted. Only the
    # primary domain (example.org: the host name mx.example.org's) has one; example.net has none.
    await env.store.add_domain("example.net")
    await env.store.add_alias("postmaster@example.org", [ALICE])
    data = message("to postmaster", sender=ALICE)
    for rcpt in ("<postmaster>", "<Postmaster>", "<postmaster@example.net>", "<POSTMASTER@example.org>"):
        assert await asyncio.to_thread(send_one, env, role, rcpt, data) == (250, 250), rcpt
    assert len(await env.messages(env.alice)) == 4
    assert (await asyncio.to_thread(send_one, env, role, "<nobody@example.net>", data))[0] == 550


@pytest.mark.parametrize("role", ROLES)
async def test_postmaster_setting_when_no_domain_has_one(tmp_path: Path, role: str) -> None:
    async with smtp_server(tmp_path, smtp_settings(smtp={"postmaster": BOB})) as env:
        data = message("to postmaster", sender=ALICE)
        for rcpt in ("<postmaster>", "<postmaster@example.org>"):
            assert await asyncio.to_thread(send_one, env, role, rcpt, data) == (250, 250), rcpt
        assert len(await env.messages(env.bob)) == 2


async def test_postmaster_without_domain_in_received_and_forwarded(tmp_path: Path) -> None:
    # smtp.postmaster elsewhere: <Postmaster> is forwarded through the queue, without an ORCPT
    # naming a domainless "postmaster@"; the Received field names <postmaster> as written.
    async with smtp_server(tmp_path, smtp_settings(smtp={"postmaster": "admin@remote.example"})) as env:
        data = message("to postmaster")
        assert await asyncio.to_thread(send_one, env, "smtp", "<postmaster>", data) == (250, 250)
        [entry] = await env.store.queue_entries()
        [recipient] = entry.recipients
        assert (recipient.address, recipient.orcpt) == ("admin@remote.example", None)
        with env.store.open_blob(entry.blob) as f:
            assert b"\tfor <postmaster>;" in f.read()
