"""Postfix as the upstream MTA delivering into pochta over LMTP (RFC 2033).

Debian's Postfix is started by hand with its own configuration directory and queue in a temporary
directory, listening on a loopback port, with ``virtual_transport`` pointing at pochta's LMTP
listener. Mail sent to Postfix with smtplib must arrive in pochta, one stored copy for several
recipients. Postfix's master must run as root; the test skips (with the reason) otherwise.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from postfix_env import postfix_dir, running_postfix
from smtp_env import ALICE, BOB, SmtpEnv, message, smtp_server, strip_received

pytestmark = pytest.mark.interop

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.test
mydomain = relay.test
myorigin = relay.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
virtual_mailbox_domains = example.org
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
maillog_file = /dev/stdout
smtputf8_enable = no
biff = no
alias_maps =
alias_database =
smtp_dns_support_level = disabled
"""


@pytest.fixture
def postfix_root() -> Iterator[Path]:
    with postfix_dir() as root:
        yield root


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[SmtpEnv]:
    async with smtp_server(tmp_path) as running:
        yield running


async def test_postfix_delivers_over_lmtp(env: SmtpEnv, postfix_root: Path) -> None:
    main_cf = MAIN_CF.replace("{lmtp}", str(env.port("lmtp")))
    async with running_postfix(postfix_root, main_cf) as postfix:
        data = message("through postfix")

        def send() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", postfix.port, timeout=10) as client:
                return client.sendmail("carol@example.net", [ALICE, BOB, "nobody@example.org"], data)

        assert await asyncio.to_thread(send) == {}
        for _ in range(400):
            if await env.messages(env.alice) and await env.messages(env.bob):
                break
            await asyncio.sleep(0.05)
        alice, bob = await env.messages(env.alice), await env.messages(env.bob)
        assert len(alice) == 1
        assert alice == bob
        assert env.blob_count() == 1
        assert b"with LMTP id " in alice[0]
        # Postfix added its own Received (and maybe Message-ID/Date it found present): the body
        # and the original header fields arrive unchanged.
        assert strip_received(alice[0]).endswith(data.split(b"\r\n\r\n", 1)[1])
        assert b"Subject: through postfix\r\n" in alice[0]
    # the unknown recipient was refused by pochta at RCPT, per recipient (RFC 2033 §4.2)
    assert b"nobody@example.org" in postfix.log
    assert b"5.1.1" in postfix.log
