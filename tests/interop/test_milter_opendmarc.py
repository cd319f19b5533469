"""OpenDMARC as pochta's milter: Debian's opendmarc, started by the test in its own network
namespace with a DNS stub (tests/milter_daemons.py), checking SPF itself and rejecting DMARC
failures. Mail whose From domain publishes p=reject and whose SPF pass is for another domain
(not aligned, no DKIM) is refused at end of DATA with OpenDMARC's reply and not stored; mail
that passes is stored with OpenDMARC's Authentication-Results (dmarc=pass). The milter is
reached over its UNIX socket."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Iterator
from typing import Any

import pytest

from milter_daemons import opendmarc_milter
from smtp_env import ALICE, SmtpEnv, message, smtp_server, smtp_settings

pytestmark = pytest.mark.interop

ZONE = {
    ("elsewhere.example.", "TXT"): ['"v=spf1 ip4:127.0.0.1 -all"'],
    ("_dmarc.forged.example.", "TXT"): ['"v=DMARC1; p=reject"'],
    ("good.example.", "TXT"): ['"v=spf1 ip4:127.0.0.1 -all"'],
    ("_dmarc.good.example.", "TXT"): ['"v=DMARC1; p=reject"'],
}


@pytest.fixture(scope="module")
def opendmarc() -> Iterator[str]:
    with opendmarc_milter("mx.example.org", ZONE) as socket:
        yield socket


def deliver(env: SmtpEnv, envelope: str, author: str) -> tuple[int, bytes]:
    """MAIL FROM ``envelope``, From: ``author``. OpenDMARC's own SPF check passes any loopback
    client, so the failure tested is one of alignment: SPF passes for another domain than From's."""
    with smtplib.SMTP(*env.address("smtp"), timeout=60) as client:
        client.ehlo("client.example.net")
        client.mail(envelope)
        client.rcpt(ALICE)
        try:
            return client.data(message("dmarc", sender=author))
        except smtplib.SMTPDataError as exc:
            error = exc.smtp_error
            return exc.smtp_code, error if isinstance(error, bytes) else error.encode()


async def test_dmarc_reject_and_pass(tmp_path: Any, opendmarc: str) -> None:
    settings = smtp_settings(milters=[{"socket": opendmarc, "name": "opendmarc"}])
    async with smtp_server(tmp_path, settings) as env:
        code, text = await asyncio.to_thread(deliver, env, "list@elsewhere.example", "carol@forged.example")
        assert code == 550, text
        assert text.startswith(b"5.7.1"), text
        assert await env.messages() == []
        code, text = await asyncio.to_thread(deliver, env, "carol@good.example", "carol@good.example")
        assert code == 250, text
        (stored,) = await env.messages()
    head = stored.split(b"\r\n\r\n")[0].decode()
    assert "Authentication-Results: mx.example.org; dmarc=pass" in head, head
    assert "header.from=good.example" in head, head
