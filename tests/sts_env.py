"""Test environment for outbound transport security: a receiving pochta for remote.example whose
certificate names mx.remote.example, a loopback HTTPS MTA-STS policy host (mta-sts.remote.example)
certified by the same trustme CA, and a loopback DNS stub publishing their records. The sending
pochta (example.org) trusts that CA through ``queue.tls_ca_file``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import smtplib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dns_stub import DnsStub
from pochta.auth.passwords import hash_password, make_scram_credentials
from pochta.config import Settings
from pochta.queue.worker import QueueWorker
from pochta.store.model import Account
from smtp_env import PASSWORD, SmtpEnv, smtp_server

REMOTE = "remote.example"
FRIEND = f"friend@{REMOTE}"
MX = f"mx.{REMOTE}"
POLICY_HOST = f"mta-sts.{REMOTE}"


@dataclass
class PolicyHost:
    """HTTPS on 127.0.0.1 answering every request with ``status``, ``content_type`` and ``body``;
    ``requests`` keeps each request as received (head and body)."""

    ca: trustme.CA
    status: int = 200
    content_type: str = "text/plain"
    body: str = ""
    extra: str = ""  # more header lines ("Location: ...\\r\\n")
    requests: list[bytes] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert(POLICY_HOST).configure_cert(context)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            request = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line[15:])
                    for line in request.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            self.requests.append(request + await reader.readexactly(length))
            data = self.body.encode()
            head = (
                f"HTTP/1.1 {self.status} X\r\nContent-Type: {self.content_type}\r\n"
                f"Content-Length: {len(data)}\r\n{self.extra}Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + data)
            await writer.drain()
        writer.close()


def policy(mode: str, *mx: str, max_age: int = 86400) -> str:
    return (
        "version: STSv1\r\nmode: "
        + mode
        + "\r\n"
        + "".join(f"mx: {m}\r\n" for m in mx)
        + f"max_age: {max_age}\r\n"
    )


def server_certificate(port: int) -> bytes:
    """The receiving server's certificate (DER), read over STARTTLS without trusting it."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.starttls(context=context)
        assert isinstance(client.sock, ssl.SSLSocket)
        certificate = client.sock.getpeercert(binary_form=True)
    assert certificate is not None
    return certificate


def dane_ee(certificate: bytes) -> str:
    key = x509.load_der_x509_certificate(certificate).public_key()
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return f"3 1 1 {hashlib.sha256(spki).hexdigest()}"


@dataclass
class StsEnv:
    local: SmtpEnv  # example.org, the sender
    remote: SmtpEnv  # remote.example, certificate for mx.remote.example
    friend: Account
    dns: DnsStub
    policy_host: PolicyHost
    ca_file: Path

    def zone(
        self, *mx: str, sts_id: str | None = "1", extra: dict[tuple[str, str], list[str]] | None = None
    ) -> None:
        """MX records (preference 10, 20, ...) for remote.example, each host at 127.0.0.1, and the
        _mta-sts TXT record with ``sts_id`` (None: none)."""
        zone: dict[tuple[str, str], list[str]] = {
            (f"{REMOTE}.", "MX"): [f"{10 * (i + 1)} {host}." for i, host in enumerate(mx)],
            (f"{POLICY_HOST}.", "A"): ["127.0.0.1"],
        }
        for host in mx:
            zone[(f"{host}.", "A")] = ["127.0.0.1"]
        if sts_id is not None:
            zone[(f"_mta-sts.{REMOTE}.", "TXT")] = [f'"v=STSv1; id={sts_id};"']
        zone.update(extra or {})
        self.dns.zone = zone

    def settings(self, **queue: Any) -> Settings:
        values = policy_queue(self.dns, self.policy_host, self.ca_file, self.remote.port("smtp"))
        return self.local.queue_settings(**(values | queue))

    def worker(self, **queue: Any) -> QueueWorker:
        return self.local.queue_worker(self.settings(**queue))


def policy_queue(dns: DnsStub, policy_host: PolicyHost, ca_file: Path, port: int) -> dict[str, Any]:
    """Queue settings that find the other server through ``dns`` on ``port``, its MTA-STS policy on
    ``policy_host`` and trust certificates of ``ca_file``."""
    return {
        "dns_nameservers": [dns.nameserver],
        "port": port,
        "mta_sts_port": policy_host.port,
        "mta_sts_timeout": 5.0,
        "tls_ca_file": str(ca_file),
        "connect_timeout": 5.0,
        "command_timeout": 10.0,
    }


@contextlib.asynccontextmanager
async def sts_env(tmp_path: Path) -> AsyncIterator[StsEnv]:
    async with (
        smtp_server(tmp_path / "local") as local,
        smtp_server(tmp_path / "remote", tls_names=(MX,)) as remote,
        DnsStub({}, ttl=0) as dns,  # the tests change records between attempts: nothing cached
    ):
        await remote.store.add_domain(REMOTE)
        friend = await remote.store.add_account(
            FRIEND, hash_password(PASSWORD), make_scram_credentials(PASSWORD)
        )
        host = PolicyHost(remote.ca)
        await host.start()
        ca_file = tmp_path / "ca.pem"
        remote.ca.cert_pem.write_to_path(str(ca_file))
        try:
            yield StsEnv(local, remote, friend, dns, host, ca_file)
        finally:
            await host.stop()
