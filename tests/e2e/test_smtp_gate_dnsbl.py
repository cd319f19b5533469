"""DNS blocklists at the MX over real sockets: clients at 127.0.0.x (outside trusted_networks) are
looked up on a loopback DNS server; a listed one is refused at RCPT naming the list, postmaster
excepted; an allowlisted one and one whose list answers SERVFAIL or not at all pass."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dns_stub import DnsStub
from smtp_env import ALICE, SmtpEnv, message, smtp_server, smtp_settings

LISTED = "127.0.0.2"  # 2.0.0.127.zen.example A 127.0.0.2
CLEAN = "127.0.0.3"
ALLOWED = "127.0.0.4"  # on the blocklist and on the allowlist
BROKEN = "127.0.0.5"  # the blocklist answers SERVFAIL
LOGGED = "127.0.0.6"  # listed with a code that only logs
SILENT = "127.0.0.7"  # the blocklist never answers (a timeout)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[SmtpEnv]:
    zone = {
        ("2.0.0.127.zen.example.", "A"): ["127.0.0.2"],
        ("4.0.0.127.zen.example.", "A"): ["127.0.0.2"],
        ("4.0.0.127.wl.example.", "A"): ["127.0.10.1"],
        ("6.0.0.127.zen.example.", "A"): ["127.0.0.10"],
        ("spam.example.dbl.example.", "A"): ["127.0.1.2"],
        ("bad-helo.example.dbl.example.", "A"): ["127.0.1.2"],
    }
    async with DnsStub(zone, servfail={"5.0.0.127.zen.example."}, silent={"7.0.0.127.zen.example."}) as dns:
        settings = smtp_settings(
            queue={"dns_nameservers": [dns.nameserver], "dns_timeout": 0.5},
            dnsbl={
                "zones": [{"zone": "zen.example", "codes": {"127.0.0.2": "reject", "127.0.0.10": "log"}}],
                "allow_zones": ["wl.example"],
                "domain_zones": ["dbl.example"],
            },
            mailauth={"spf_verify": False, "dmarc_verify": False, "dkim_verify": False},
        )
        async with smtp_server(tmp_path, settings) as env:
            yield env


def _rcpt(
    env: SmtpEnv,
    source: str,
    recipient: str = ALICE,
    sender: str = "carol@example.net",
    helo: str = "client.example.net",
) -> tuple[int, bytes]:
    host, port = env.address("smtp")
    with smtplib.SMTP(host, port, timeout=10, source_address=(source, 0)) as client:
        client.ehlo(helo)
        assert client.mail(sender)[0] == 250
        return client.rcpt(recipient)


def _send(env: SmtpEnv, source: str) -> dict[str, tuple[int, bytes]]:
    host, port = env.address("smtp")
    with smtplib.SMTP(host, port, timeout=10, source_address=(source, 0)) as client:
        client.ehlo("client.example.net")
        return client.sendmail("carol@example.net", [ALICE], message("dnsbl"))


async def test_a_listed_client_is_refused_naming_the_list(env: SmtpEnv) -> None:
    code, text = await asyncio.to_thread(_rcpt, env, LISTED)
    assert code == 554
    assert text == b"5.7.1 Service unavailable; client [127.0.0.2] blocked using zen.example"
    assert env.metrics.mx_refusals.labels(check="dnsbl")._value.get() == 1


async def test_postmaster_is_reachable_from_a_listed_client(env: SmtpEnv) -> None:
    # RFC 5321 §4.5.1: refused at RCPT, so that postmaster still hears from a listed client.
    await env.store.add_alias("postmaster@example.org", [ALICE])
    code, _ = await asyncio.to_thread(_rcpt, env, LISTED, "postmaster@example.org")
    assert code == 250


async def test_clean_allowlisted_and_unanswered_clients_pass(env: SmtpEnv) -> None:
    for source in (CLEAN, ALLOWED, BROKEN, LOGGED, SILENT):
        assert await asyncio.to_thread(_send, env, source) == {}, source
    assert len(await env.messages()) == 5


async def test_a_listed_sender_domain_is_refused(env: SmtpEnv) -> None:
    code, text = await asyncio.to_thread(_rcpt, env, CLEAN, ALICE, "bob@spam.example")
    assert code == 554
    assert text == b"5.7.1 Service unavailable; sender domain spam.example blocked using dbl.example"


async def test_a_listed_helo_name_is_refused(env: SmtpEnv) -> None:
    code, text = await asyncio.to_thread(_rcpt, env, CLEAN, ALICE, "carol@example.net", "bad-helo.example")
    assert code == 554
    assert text == b"5.7.1 Service unavailable; HELO name bad-helo.example blocked using dbl.example"


async def test_a_trusted_client_is_not_looked_up(env: SmtpEnv, tmp_path: Path) -> None:
    assert await asyncio.to_thread(_send, env, "127.0.0.1") == {}


async def test_domain_lists_alone(tmp_path: Path) -> None:
    # Only domain_zones configured: no client lookup, the sender domain is still checked.
    async with DnsStub({("spam.example.dbl.example.", "A"): ["127.0.1.2"]}) as dns:
        settings = smtp_settings(
            queue={"dns_nameservers": [dns.nameserver], "dns_timeout": 2.0},
            dnsbl={"domain_zones": ["dbl.example"]},
            mailauth={"spf_verify": False, "dmarc_verify": False, "dkim_verify": False},
        )
        async with smtp_server(tmp_path, settings) as env:
            code, text = await asyncio.to_thread(_rcpt, env, CLEAN, ALICE, "bob@spam.example")
            assert (code, text) == (
                554,
                b"5.7.1 Service unavailable; sender domain spam.example blocked using dbl.example",
            )
            assert await asyncio.to_thread(_send, env, CLEAN) == {}
            assert not any(name.endswith("in-addr.arpa.") or "zen" in name for name, _ in dns.queries)
