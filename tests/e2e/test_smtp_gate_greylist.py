"""Greylisting at the MX over real sockets: a new triplet is deferred at RCPT with 451 4.7.1, its
retry after the (tiny) delay is accepted by another server on the same store, an unknown recipient
is not greylisted, allowlisted clients are not, and a sender domain that passed before is accepted
at once from another network when SPF passes for it."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dns_stub import DnsStub
from pochta.delivery import Delivery
from pochta.server.listeners import Server
from pochta.server.smtp import smtp_handlers
from smtp_env import ALICE, BOB, SmtpEnv, message, smtp_server, smtp_settings

DELAY = 1.0


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[SmtpEnv]:
    zone = {("example.net.", "TXT"): ['"v=spf1 ip4:127.0.0.0/8 -all"']}
    async with DnsStub(zone) as dns:
        settings = smtp_settings(
            queue={"dns_nameservers": [dns.nameserver], "dns_timeout": 2.0},
            greylisting={"enabled": True, "delay": DELAY, "allow": ["127.0.9.0/24", "friends.example"]},
            mailauth={"dmarc_verify": False, "dkim_verify": False},
        )
        async with smtp_server(tmp_path, settings) as env:
            yield env


def _rcpt(
    port: int, source: str, recipient: str = ALICE, sender: str = "carol@example.net"
) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=(source, 0)) as client:
        client.ehlo("client.example.net")
        assert client.mail(sender)[0] == 250
        return client.rcpt(recipient)


def _send(port: int, source: str, recipient: str = ALICE) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=(source, 0)) as client:
        client.ehlo("client.example.net")
        return client.sendmail("carol@example.net", [recipient], message("greylisted"))


async def test_deferred_then_accepted_after_the_delay_by_another_worker(env: SmtpEnv) -> None:
    port = env.address("smtp")[1]
    code, text = await asyncio.to_thread(_rcpt, port, "127.0.0.2")
    assert (code, text) == (451, b"4.7.1 Greylisted, try again in 1 second")
    code, _ = await asyncio.to_thread(_rcpt, port, "127.0.0.3")  # same /24, retried too early
    assert code == 451
    await asyncio.sleep(DELAY + 0.2)
    delivery = Delivery(env.store, env.settings, env.data_dir)
    handlers = smtp_handlers(env.store, env.settings, delivery, scram_secret=b"k" * 32)
    settings = env.settings.model_copy(
        update={
            "listeners": {**env.settings.listeners, "submission": "off", "submissions": "off", "lmtp": "off"}
        }
    )
    second = Server(settings, env.data_dir, {"smtp": handlers["smtp"]})
    await second.start()
    try:
        other = second.bound_addresses()["smtp"]
        assert isinstance(other, tuple)
        assert await asyncio.to_thread(_send, other[1], "127.0.0.4") == {}  # the same /24 retries
    finally:
        await second.stop()
    assert len(await env.messages()) == 1
    assert env.metrics.mx_refusals.labels(check="greylist")._value.get() == 2


async def test_an_unknown_recipient_is_refused_not_greylisted(env: SmtpEnv) -> None:
    code, _ = await asyncio.to_thread(_rcpt, env.address("smtp")[1], "127.0.0.2", "nobody@example.org")
    assert code == 550


async def test_allowed_networks_and_domains_pass_at_once(env: SmtpEnv) -> None:
    port = env.address("smtp")[1]
    assert await asyncio.to_thread(_send, port, "127.0.9.1") == {}
    code, _ = await asyncio.to_thread(_rcpt, port, "127.0.0.2", ALICE, "news@mail.friends.example")
    assert code == 250


async def test_a_known_sender_domain_with_spf_pass_is_accepted_from_another_network(env: SmtpEnv) -> None:
    port = env.address("smtp")[1]
    assert (await asyncio.to_thread(_rcpt, port, "127.0.0.2"))[0] == 451
    await asyncio.sleep(DELAY + 0.2)
    assert await asyncio.to_thread(_send, port, "127.0.0.2") == {}  # passed: example.net is known
    # Another /24 and another recipient: SPF passes for example.net, whose mail passed before.
    assert await asyncio.to_thread(_send, port, "127.0.5.2", BOB) == {}
    # A domain never seen is greylisted from anywhere.
    code, _ = await asyncio.to_thread(_rcpt, port, "127.0.5.2", BOB, "x@example.com")
    assert code == 451


async def test_a_dnswl_listed_client_is_not_greylisted(tmp_path: Path) -> None:
    async with DnsStub({("4.0.0.127.wl.example.", "A"): ["127.0.10.1"]}) as dns:
        settings = smtp_settings(
            queue={"dns_nameservers": [dns.nameserver], "dns_timeout": 2.0},
            dnsbl={"allow_zones": ["wl.example"]},
            greylisting={"enabled": True, "delay": 600},
            mailauth={"spf_verify": False, "dmarc_verify": False, "dkim_verify": False},
        )
        async with smtp_server(tmp_path, settings) as env:
            port = env.address("smtp")[1]
            assert await asyncio.to_thread(_send, port, "127.0.0.4") == {}
            assert (await asyncio.to_thread(_rcpt, port, "127.0.0.5"))[0] == 451
