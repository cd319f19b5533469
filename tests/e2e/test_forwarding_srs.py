"""Forwarded mail over real sockets: SRS envelope senders on alias forwards and the bounces that
come back to them (docs/deliverability.md "SRS"); ARC sealing of forwards across two servers is in
tests/e2e/test_forwarding_arc.py."""

from __future__ import annotations

import asyncio
import smtplib
from pathlib import Path

from smtp_env import SmtpEnv, message, smtp_server, smtp_settings

OUTSIDE = "127.0.0.2"  # loopback, outside the default trusted_networks


def _send(env: SmtpEnv, sender: str, recipients: list[str], data: bytes) -> dict[str, tuple[int, bytes]]:
    host, port = env.address("smtp")
    with smtplib.SMTP(host, port, timeout=10, source_address=(OUTSIDE, 0)) as client:
        client.ehlo("client.example.net")
        return client.sendmail(sender, recipients, data)


def _rcpt(env: SmtpEnv, sender: str, recipient: str) -> tuple[int, bytes]:
    host, port = env.address("smtp")
    with smtplib.SMTP(host, port, timeout=10, source_address=(OUTSIDE, 0)) as client:
        client.ehlo("client.example.net")
        assert client.mail(sender)[0] == 250
        return client.rcpt(recipient)


async def test_alias_forward_gets_srs_and_its_bounce_goes_back(tmp_path: Path) -> None:
    async with smtp_server(tmp_path) as env:
        await env.store.add_domain("example.com")
        await env.store.add_alias("fwd@example.com", ["friend@remote.example"])
        assert (
            await asyncio.to_thread(_send, env, "carol@example.net", ["fwd@example.com"], message("fw")) == {}
        )
        [entry] = await env.store.queue_entries()
        # The forwarding domain is the alias's (example.com), not the server's first domain.
        assert entry.origin == "checked-forward"  # the MX checked it: the queue ARC-seals it
        assert entry.sender.startswith("SRS0=")
        assert entry.sender.endswith("=example.net=carol@example.com")
        assert env.unsrs(entry.sender) == "carol@example.net"
        await env.store.delete_queue_entry(entry.id)

        # remote.example bounces it: the DSN (null sender) to the SRS address is taken and queued
        # back to carol, with the null sender still.
        bounce = message("Undelivered Mail Returned to Sender", sender="MAILER-DAEMON@remote.example")
        assert await asyncio.to_thread(_send, env, "", [entry.sender], bounce) == {}
        [back] = await env.store.queue_entries()
        assert back.sender == ""
        assert [r.address for r in back.recipients] == ["carol@example.net"]
        assert back.recipients[0].orcpt == ("rfc822", entry.sender)


async def test_forged_and_non_bounce_srs_recipients_are_refused(tmp_path: Path) -> None:
    async with smtp_server(tmp_path) as env:
        await env.store.add_alias("fwd@example.org", ["friend@remote.example"])
        assert (
            await asyncio.to_thread(_send, env, "carol@example.net", ["fwd@example.org"], message("x")) == {}
        )
        [entry] = await env.store.queue_entries()
        good = entry.sender
        forged = "SRS0=AAAA=" + good.split("=", 2)[2]
        code, text = await asyncio.to_thread(_rcpt, env, "", forged)
        assert (code, text[:5]) == (550, b"5.1.1")
        assert b"SRS hash does not verify" in text
        code, text = await asyncio.to_thread(_rcpt, env, "", "SRS0=garbage@example.org")
        assert (code, text[:5]) == (550, b"5.1.1")
        # A valid address, but the message is no bounce: we are no relay for it.
        code, text = await asyncio.to_thread(_rcpt, env, "mallory@example.net", good)
        assert (code, text[:5]) == (550, b"5.7.1")
        # A lower-cased address (some MTAs do that) still verifies.
        code, _ = await asyncio.to_thread(_rcpt, env, "", good.lower())
        assert code == 250


async def test_local_sender_and_srs_off_keep_the_sender(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, smtp_settings(srs={"enabled": False})) as env:
        await env.store.add_alias("fwd@example.org", ["friend@remote.example"])
        assert (
            await asyncio.to_thread(_send, env, "carol@example.net", ["fwd@example.org"], message("x")) == {}
        )
        [entry] = await env.store.queue_entries()
        assert entry.sender == "carol@example.net"
        code, _ = await asyncio.to_thread(_rcpt, env, "", "SRS0=AAAA=RA=example.net=carol@example.org")
        assert code == 550  # no SRS: an unknown user like any other
