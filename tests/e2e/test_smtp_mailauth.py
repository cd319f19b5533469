"""DKIM verification and Authentication-Results on the MX listener over real sockets: a client at
127.0.0.2 (outside trusted_networks) is checked, one at 127.0.0.1 is not; key records come from a
loopback DNS server."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dns_stub import DnsStub
from pochta.config_dkim import DkimSettings
from pochta.queue import dkim_keys
from pochta.queue.dkim_sign import sign_message
from pochta.store.dkim_model import DkimKey, KeyState
from smtp_env import ALICE, SmtpEnv, message, smtp_server, smtp_settings, strip_received

CHECKED = "127.0.0.2"  # loopback, but not in the default trusted_networks (127.0.0.1/32, ::1/128)


@pytest.fixture(scope="module")
def keys() -> list[DkimKey]:
    return dkim_keys.new_keys("example.net", DkimSettings(), KeyState.ACTIVE)


@pytest.fixture(params=[65536, 0], ids=["in-memory", "spool-file"])
async def env(tmp_path: Path, keys: list[DkimKey], request: pytest.FixtureRequest) -> AsyncIterator[SmtpEnv]:
    zone = {
        (f"{dkim_keys.dns_name(key)}.", "TXT"): [dkim_keys.txt_strings(dkim_keys.txt_record(key))]
        for key in keys
    }
    async with DnsStub(zone) as dns:
        settings = smtp_settings(
            queue={"dns_nameservers": [dns.nameserver], "dns_timeout": 2.0},
            server={"inline_message_max": request.param},
        )
        async with smtp_server(tmp_path, settings) as env:
            yield env


def _send(env: SmtpEnv, data: bytes, source: str) -> dict[str, tuple[int, bytes]]:
    host, port = env.address("smtp")
    with smtplib.SMTP(host, port, timeout=10, source_address=(source, 0)) as client:
        client.ehlo("client.example.net")
        return client.sendmail("carol@example.net", [ALICE], data)


def _drop_first_field(data: bytes) -> bytes:
    end = data.index(b"\r\n")
    while data[end + 2 : end + 3] in (b" ", b"\t"):
        end = data.index(b"\r\n", end + 2)
    return data[end + 2 :]


def _fields(stored: bytes) -> list[str]:
    header = stored.split(b"\r\n\r\n", 1)[0].decode()
    return header.replace("\r\n\t", " ").replace("\r\n ", " ").split("\r\n")


async def test_a_signed_message_from_outside_gets_dkim_pass(env: SmtpEnv, keys: list[DkimKey]) -> None:
    data = message("signed")
    signed = sign_message(data, keys) + data
    assert await asyncio.to_thread(_send, env, signed, CHECKED) == {}
    stored = (await env.messages())[0]
    fields = _fields(stored)
    assert fields[0].startswith("Authentication-Results: mx.example.org; dkim=pass header.b=")
    assert fields[1].startswith("Received: from client.example.net ([127.0.0.2])")
    results = [f for f in fields if f.startswith("Authentication-Results:")]
    assert len(results) == 1
    for key in keys:
        assert f"header.s={key.selector}" in results[0]
    assert results[0].count("dkim=pass") == 2
    assert "header.d=example.net" in results[0]
    assert strip_received(_drop_first_field(stored)) == signed  # otherwise untouched
    assert env.spool_files() == []


async def test_a_forged_field_is_removed_and_a_changed_message_fails(
    env: SmtpEnv, keys: list[DkimKey]
) -> None:
    data = message("forged")
    forged = (
        b"Authentication-Results: mx.example.org; dkim=pass header.d=example.net\r\n"
        b"Authentication-Results: relay.example.com; spf=pass\r\n"
    )
    signed = sign_message(data, keys) + forged + data.replace(b"Bye.", b"Bye!")
    assert await asyncio.to_thread(_send, env, signed, CHECKED) == {}
    fields = _fields((await env.messages())[0])
    ours = [f for f in fields if f.startswith("Authentication-Results: mx.example.org")]
    assert len(ours) == 1
    assert fields[0] == ours[0]
    assert ours[0].count("dkim=fail") == 2
    assert "Authentication-Results: relay.example.com; spf=pass" in fields  # another ADMD's: kept


async def test_an_unsigned_message_is_dkim_none(env: SmtpEnv) -> None:
    assert await asyncio.to_thread(_send, env, message("unsigned"), CHECKED) == {}
    assert _fields((await env.messages())[0])[0] == (
        "Authentication-Results: mx.example.org; dkim=none; arc=none smtp.remote-ip=127.0.0.2;"
        " spf=none smtp.mailfrom=carol@example.net; spf=none smtp.helo=client.example.net;"
        " dmarc=none header.from=example.net"
    )


async def test_a_trusted_client_is_not_checked(env: SmtpEnv, keys: list[DkimKey]) -> None:
    data = message("trusted")
    forwarded = b"Authentication-Results: mx.example.org; dkim=pass header.d=example.net\r\n" + data
    signed = sign_message(forwarded, keys) + forwarded
    assert await asyncio.to_thread(_send, env, signed, "127.0.0.1") == {}
    stored = (await env.messages())[0]
    assert strip_received(stored) == signed  # nothing added, nothing removed


async def test_with_the_checks_off_forged_fields_still_go(tmp_path: Path) -> None:
    settings = smtp_settings(mailauth={"dkim_verify": False, "spf_verify": False, "dmarc_verify": False})
    async with smtp_server(tmp_path, settings) as env:
        forged = b"Authentication-Results: mx.example.org; dkim=pass header.d=example.net\r\n"
        data = message("not verified")
        assert await asyncio.to_thread(_send, env, forged + data, CHECKED) == {}
        assert strip_received((await env.messages())[0]) == data
