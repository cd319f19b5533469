"""ACME end to end against pebble, Let's Encrypt's test CA (Debian ``pebble``), on loopback:
``pochta serve --workers 2`` with ``tls.acme`` obtains a certificate at start through its own
``http`` listener (pebble resolves the names with the test's DNS server and fetches the http-01
answers from that port), every worker loads it, a name without DNS is left out, and `pochta tls
renew --force` replaces it while the server runs (docs/certificates.md)."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from dns_stub import DnsStub
from dovecot_env import free_port
from pebble_env import MISSING, Pebble
from serve_process import ServeProcess, init_data_dir, run_pochta

pytestmark = pytest.mark.interop

HOSTNAME = "mail.example.org"
ZONE = {(f"{HOSTNAME}.", "A"): ["127.0.0.1"], ("mta-sts.example.org.", "A"): ["127.0.0.1"]}
# autoconfig.example.org has no record: its challenge fails and it is left out.


@dataclass
class Acme:
    server: ServeProcess
    pebble: Pebble
    data: Path


def _serial(port: int, roots: bytes) -> int:
    """The serial of the certificate the imaps listener presents to a client that trusts only
    pebble's root and checks the name (a self-signed one fails the handshake)."""
    context = ssl.create_default_context(cadata=roots.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=HOSTNAME) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


async def _eventually_serial(port: int, roots: bytes, unlike: int | None = None) -> int:
    deadline = time.monotonic() + 60
    while True:
        try:
            serial = await asyncio.to_thread(_serial, port, roots)
            if serial != unlike:
                return serial
        except (ssl.SSLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the server never presented the certificate pebble issued")
        await asyncio.sleep(0.2)


def _serials(port: int, roots: bytes) -> set[int | str]:
    """What 8 connections are presented (a failed verification as its error's name)."""
    seen: set[int | str] = set()
    for _ in range(8):
        try:
            seen.add(_serial(port, roots))
        except ssl.SSLError as exc:
            seen.add(type(exc).__name__)
    return seen


async def _every_worker_presents(port: int, roots: bytes, serial: int) -> None:
    """Within a minute, every connection, whichever worker takes it, presents ``serial``."""
    deadline = time.monotonic() + 60
    while (seen := await asyncio.to_thread(_serials, port, roots)) != {serial}:
        assert time.monotonic() < deadline, f"some worker still presents another certificate: {seen}"
        await asyncio.sleep(0.5)


@pytest.fixture
async def acme(tmp_path: Path) -> AsyncIterator[Acme]:
    if MISSING:
        pytest.skip(MISSING)
    http_port = free_port()
    async with DnsStub(ZONE) as dns:
        with Pebble(tmp_path / "pebble", dns_port=dns.port, http_port=http_port) as pebble:
            data = tmp_path / "data"
            init_data_dir(data, listeners=["http", "imaps"], accounts={}, domain="example.org")
            toml = (data / "pochta.toml").read_text(encoding="utf-8")
            toml = toml.replace('hostname = "example.org"', f'hostname = "{HOSTNAME}"')
            assert 'http = "127.0.0.1:0"' in toml
            toml = toml.replace('http = "127.0.0.1:0"', f'http = "127.0.0.1:{http_port}"')
            toml = toml.replace(
                "[tls]\n",
                f'[tls]\nacme = true\nacme_directory = "{pebble.directory}"\n'
                f'acme_ca_file = "{pebble.ca_file}"\nacme_email = "postmaster@example.org"\n'
                "reload_check_interval = 0.2\n",
            )
            (data / "pochta.toml").write_text(toml, encoding="utf-8")
            server = ServeProcess(data, tmp_path / "serve.log", ["--workers=2"])
            try:
                await asyncio.to_thread(server.wait_listening, ["http", "imaps"])
                yield Acme(server, pebble, data)
            finally:
                assert await asyncio.to_thread(server.stop) == 0, server.tail()
                assert server.failures() == [], server.tail()


async def test_the_server_obtains_and_every_worker_serves_the_certificate(acme: Acme) -> None:
    roots = await asyncio.to_thread(acme.pebble.issuing_roots)
    port = acme.server.ports["imaps"]
    first = await _eventually_serial(port, roots)
    # Both worker processes present it: several connections, all verified against pebble's root.
    # The worker that did not obtain it installs it at its next check (tls.reload_check_interval);
    # until then its connections still present the self-signed certificate (verification fails).
    await _every_worker_presents(port, roots, first)
    assert "certificate installed" in acme.server.log_text()
    left_out = r"name left out of the certificate .*name=autoconfig\.example\.org"
    assert re.search(left_out, acme.server.log_text())
    status = await asyncio.to_thread(run_pochta, "tls", "status", "--data", str(acme.data))
    assert f"names: {HOSTNAME}, mta-sts.example.org" in status.stdout
    assert "left out: autoconfig.example.org:" in status.stdout
    assert "renewal: not due" in status.stdout
    assert not list((acme.data / "acme" / "http-01").iterdir())  # the answers are withdrawn

    # A renewal by the CLI while the server runs: its http listener answers, its workers reload.
    renewed = await asyncio.to_thread(run_pochta, "tls", "renew", "--force", "--data", str(acme.data))
    assert f"certificate installed for {HOSTNAME}, mta-sts.example.org" in renewed.stdout
    second = await _eventually_serial(port, roots, unlike=first)
    # Each worker notices the new files at its own next check (tls.reload_check_interval): in a
    # while, every connection, whichever worker takes it, presents the new certificate.
    await _every_worker_presents(port, roots, second)


async def test_renew_without_acme_says_how_to_turn_it_on(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init_data_dir(data, listeners=["imaps"], accounts={})
    result = await asyncio.to_thread(run_pochta, "tls", "renew", "--data", str(data), check=False)
    assert result.returncode == 1
    assert "ACME is off: set tls.acme = true" in result.stderr
    status = await asyncio.to_thread(run_pochta, "tls", "status", "--data", str(data))
    assert "issuer: self-signed" in status.stdout
    assert "acme: off" in status.stdout
