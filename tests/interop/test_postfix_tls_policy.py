"""Postfix as the receiving MX of remote.example (tests/postfix_env.py) for pochta's queue under
MTA-STS: a real TLS stack and certificate checked against the policy, and a peer that does not
offer REQUIRETLS (RFC 8689), so a REQUIRETLS message bounces with 5.7.30. Postfix hands what it
takes to the remote pochta over LMTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient
from postfix_env import Postfix, postfix_dir, running_postfix
from smtp_env import ALICE, message
from sts_env import FRIEND, MX, REMOTE, StsEnv, policy, sts_env

pytestmark = pytest.mark.interop

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.remote.example
mydomain = remote.example
myorigin = remote.example
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
virtual_mailbox_domains = remote.example
virtual_transport = lmtp:inet:127.0.0.1:LMTP_PORT
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_tls_security_level = may
smtpd_tls_cert_file = {root}/cert.pem
smtpd_tls_key_file = {root}/key.pem
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
maillog_file = /dev/stdout
smtputf8_enable = no
biff = no
alias_maps =
alias_database =
smtp_dns_support_level = disabled
"""


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[StsEnv]:
    async with sts_env(tmp_path) as made:
        yield made


@pytest.fixture
async def postfix(env: StsEnv) -> AsyncIterator[Postfix]:
    with postfix_dir() as root:
        leaf = env.remote.ca.issue_cert(MX)  # the CA the sender trusts (queue.tls_ca_file)
        leaf.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
        leaf.private_key_pem.write_to_path(str(root / "key.pem"))
        main_cf = MAIN_CF.replace("LMTP_PORT", str(env.remote.port("lmtp")))
        async with running_postfix(root, main_cf) as running:
            yield running


async def enqueue(env: StsEnv, subject: str, *, requiretls: bool = False) -> None:
    blob = await env.local.store.new_blob(message(subject, sender=ALICE, to=FRIEND))
    entry = NewQueueEntry(
        blob, ALICE, (NewQueueRecipient(FRIEND),), "submission", datetime.now(UTC), requiretls=requiretls
    )
    await env.local.store.enqueue(entry)


async def until_received(env: StsEnv) -> list[bytes]:
    for _ in range(400):
        if received := await env.remote.messages(env.friend):
            return received
        await asyncio.sleep(0.05)
    return []


async def test_enforce_policy_through_postfix(env: StsEnv, postfix: Postfix) -> None:
    env.zone(MX)
    env.policy_host.body = policy("enforce", MX)
    await enqueue(env, "through postfix under mta-sts")
    await env.worker(port=postfix.port).run_until_idle(deadline=60)
    assert await env.local.store.queue_entries() == []
    [received] = await until_received(env)
    assert b"Subject: through postfix under mta-sts" in received
    assert b"(using TLSv1." in received  # Postfix's Received field: the session was encrypted
    [row] = await env.local.store.tls_results_before("9999-12-31")
    assert (row.result.domain, row.result.mx_host, row.result.result_type) == (REMOTE, MX, "")


async def test_requiretls_bounces_at_a_peer_without_it(env: StsEnv, postfix: Postfix) -> None:
    env.zone(MX)
    env.policy_host.body = policy("enforce", MX)
    await enqueue(env, "secret for postfix", requiretls=True)
    await env.worker(port=postfix.port).run_until_idle(deadline=60)
    [notice] = await env.local.messages()
    text = notice.decode()
    assert "Status: 5.7.30" in text
    assert "secret for postfix" not in text
    assert await env.remote.messages(env.friend) == []
