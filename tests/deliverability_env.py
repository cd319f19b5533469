"""Two pochta servers on loopback and the DNS that ties them together, for the end-to-end proof of
mail authentication (tests/e2e/test_deliverability_two_servers.py).

- A: example.org (alice, bob), hostname mx.example.org; it also hosts third.example (carol), the
  next hop of B's forwards.
- B: remote.example (friend, and the alias fwd@ forwarding to carol@third.example), hostname
  mx.remote.example, its certificate for mx.remote.example only.
- A loopback DNS stub publishing, for both domains, MX, SPF (ip4:127.0.0.1), the active DKIM keys
  of each server's store, DMARC p=reject and, for remote.example, an MTA-STS TXT record whose policy
  (enforce, mx: mx.remote.example) a loopback HTTPS host serves with a certificate of B's CA (tests
  add TLSA records and the AD bit for DANE).

Each server checks every client as a stranger: ``trusted_networks`` leaves out 127.0.0.1,
which is where the other server's queue connects from. Each server's queue worker reaches the other
through the stub's MX records, ``queue.port`` being the other's smtp listener, and trusts the
other's CA through ``queue.tls_ca_file``.
"""

from __future__ import annotations

import contextlib
import smtplib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dns_stub import DnsStub
from pochta.auth.passwords import hash_password, make_scram_credentials
from pochta.config import Settings
from pochta.config_dkim import DkimSettings
from pochta.queue import dkim_keys
from pochta.queue.worker import QueueWorker
from pochta.store.dkim_model import DkimKey
from pochta.store.model import Account
from smtp_env import ALICE, BOB, DOMAIN, PASSWORD, SmtpEnv, smtp_server, smtp_settings
from sts_env import PolicyHost, policy, policy_queue

REMOTE = "remote.example"
REMOTE_MX = f"mx.{REMOTE}"
FRIEND = f"friend@{REMOTE}"
FORWARDER = f"fwd@{REMOTE}"
THIRD = "third.example"
CAROL = f"carol@{THIRD}"
LOCAL_MX = f"mx.{DOMAIN}"
SPF_LOOPBACK = '"v=spf1 ip4:127.0.0.1 -all"'
# The stub's policy host answers for mta-sts.remote.example (sts_env.POLICY_HOST).
STS_HOST = f"mta-sts.{REMOTE}"


def _checking(hostname: str, dns: DnsStub) -> Settings:
    return smtp_settings(
        hostname=hostname,
        queue={"dns_nameservers": [dns.nameserver], "dns_timeout": 2.0},
        # 127.0.0.1 (the other server) is a stranger; no cache, so a zone change is seen at once.
        trusted_networks=["::1/128"],
        mailauth={"dns_cache_size": 0},
    )


def _key_records(keys: list[DkimKey]) -> dict[tuple[str, str], list[str]]:
    return {
        (f"{dkim_keys.dns_name(k)}.", "TXT"): [dkim_keys.txt_strings(dkim_keys.txt_record(k))] for k in keys
    }


async def _account(env: SmtpEnv, address: str) -> Account:
    return await env.store.add_account(address, hash_password(PASSWORD), make_scram_credentials(PASSWORD))


@dataclass
class TwoServers:
    a: SmtpEnv  # example.org (and third.example)
    b: SmtpEnv  # remote.example
    friend: Account  # at B
    carol: Account  # at A, the forward's destination
    dns: DnsStub
    policy_host: PolicyHost
    a_keys: list[DkimKey]
    b_keys: list[DkimKey]
    a_ca_file: Path
    b_ca_file: Path

    def zone(self) -> dict[tuple[str, str], list[str]]:
        """The records both domains publish (tests change entries of ``dns.zone`` from here)."""
        zone: dict[tuple[str, str], list[str]] = {
            (f"{LOCAL_MX}.", "A"): ["127.0.0.1"],
            (f"{REMOTE_MX}.", "A"): ["127.0.0.1"],
            (f"{STS_HOST}.", "A"): ["127.0.0.1"],
            (f"{DOMAIN}.", "MX"): [f"10 {LOCAL_MX}."],
            (f"{THIRD}.", "MX"): [f"10 {LOCAL_MX}."],
            (f"{REMOTE}.", "MX"): [f"10 {REMOTE_MX}."],
            (f"{DOMAIN}.", "TXT"): [SPF_LOOPBACK],
            (f"{REMOTE}.", "TXT"): [SPF_LOOPBACK],
            (f"_dmarc.{DOMAIN}.", "TXT"): ['"v=DMARC1; p=reject"'],
            (f"_dmarc.{REMOTE}.", "TXT"): ['"v=DMARC1; p=reject"'],
            (f"_mta-sts.{REMOTE}.", "TXT"): ['"v=STSv1; id=1;"'],
        }
        return zone | _key_records(self.a_keys) | _key_records(self.b_keys)

    def dnsfunc(self, name: bytes, timeout: float = 5) -> bytes | None:
        """The stub's TXT records for dkimpy's verifiers."""
        records = self.dns.zone.get((name.decode().lower().rstrip(".") + ".", "TXT"))
        if not records:
            return None
        return "".join(part.strip('"') for part in records[0].split('" "')).encode()

    def submit(self, data: bytes, recipients: list[str], sender: str = ALICE) -> None:
        """Alice sends on A's submission listener (STARTTLS, authenticated). Blocking."""
        with smtplib.SMTP(*self.a.address("submission"), timeout=10) as client:
            client.starttls(context=self.a.client_context())
            client.login(ALICE, PASSWORD)
            assert client.sendmail(sender, recipients, data) == {}

    def _queue(self, env: SmtpEnv, other: SmtpEnv, ca_file: Path, **queue: Any) -> Settings:
        values = policy_queue(self.dns, self.policy_host, ca_file, other.port("smtp")) | {"dns_timeout": 2.0}
        return env.queue_settings(**(values | queue))

    def worker(self, sender: str, **queue: Any) -> QueueWorker:
        """The queue worker of server "a" or "b", sending to the other one through MX records."""
        env, other, ca_file = (
            (self.a, self.b, self.b_ca_file) if sender == "a" else (self.b, self.a, self.a_ca_file)
        )
        settings = self._queue(env, other, ca_file, **queue)
        return env.queue_worker(settings)


@contextlib.asynccontextmanager
async def two_servers(tmp_path: Path) -> AsyncIterator[TwoServers]:
    async with (
        DnsStub({}, ttl=0) as dns,  # the tests change records between attempts: nothing cached
        smtp_server(tmp_path / "a", _checking(LOCAL_MX, dns)) as a,
        smtp_server(tmp_path / "b", _checking(REMOTE_MX, dns), tls_names=(REMOTE_MX,)) as b,
    ):
        # B is remote.example only: smtp_server made example.org there too, which would make
        # example.org's mail local at B (no SRS for its forwards).
        await b.store.delete_account(ALICE)
        await b.store.delete_account(BOB)
        await b.store.delete_domain(DOMAIN)
        await b.store.add_domain(REMOTE)
        friend = await _account(b, FRIEND)
        await b.store.add_alias(FORWARDER, [CAROL])
        await a.store.add_domain(THIRD)
        carol = await _account(a, CAROL)
        a_keys = await dkim_keys.first_keys(a.store, DOMAIN, DkimSettings())
        b_keys = await dkim_keys.first_keys(b.store, REMOTE, DkimSettings())
        host = PolicyHost(b.ca, body=policy("enforce", REMOTE_MX))
        await host.start()
        a_ca_file, b_ca_file = tmp_path / "a-ca.pem", tmp_path / "b-ca.pem"
        a.ca.cert_pem.write_to_path(str(a_ca_file))
        b.ca.cert_pem.write_to_path(str(b_ca_file))
        env = TwoServers(a, b, friend, carol, dns, host, a_keys, b_keys, a_ca_file, b_ca_file)
        dns.zone = env.zone()
        try:
            yield env
        finally:
            await host.stop()
