"""rspamd as pochta's milter (issue 14, "rspamd as the default spam engine"): Debian's rspamd,
started by the test with its own configuration (tests/milter_daemons.py), its proxy worker in
milter mode scanning by itself. A message with the GTUBE string is refused at the end of DATA
with rspamd's own reply, and nothing is stored; a normal message is stored with the headers
rspamd's milter adds (X-Spamd-Result, X-Rspamd-Server, X-Rspamd-Queue-Id)."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Iterator
from typing import Any

import pytest

from milter_daemons import rspamd_milter
from smtp_env import ALICE, SmtpEnv, message, smtp_server, smtp_settings

pytestmark = pytest.mark.interop

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


@pytest.fixture(scope="module")
def rspamd() -> Iterator[str]:
    with rspamd_milter() as socket:
        yield socket


def deliver(env: SmtpEnv, data: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP(*env.address("smtp"), timeout=90) as client:
        client.ehlo("client.example.net")
        client.mail("carol@example.net")
        client.rcpt(ALICE)
        try:
            return client.data(data)
        except smtplib.SMTPDataError as exc:
            error = exc.smtp_error
            return exc.smtp_code, error if isinstance(error, bytes) else error.encode()


def settings(socket: str) -> Any:
    return smtp_settings(milters=[{"socket": socket, "name": "rspamd", "eom_timeout": 90}])


async def test_gtube_rejected_through_the_milter(tmp_path: Any, rspamd: str) -> None:
    async with smtp_server(tmp_path, settings(rspamd)) as env:
        body = f"This is the GTUBE test.\r\n{GTUBE}\r\n"
        code, text = await asyncio.to_thread(deliver, env, message("gtube", body=body))
        # rspamd's milter answers a reject with SMFIR_REPLYCODE: its reply goes to the client.
        assert (code, text) == (554, b"5.7.1 Gtube pattern")
        assert await env.messages() == []
        assert env.spool_files() == []


async def test_normal_message_passes_with_rspamd_headers(tmp_path: Any, rspamd: str) -> None:
    async with smtp_server(tmp_path, settings(rspamd)) as env:
        code, text = await asyncio.to_thread(deliver, env, message("ordinary", body="Lunch at noon?\r\n"))
        assert code == 250, text
        (stored,) = await env.messages()
    head = stored.split(b"\r\n\r\n")[0].decode()
    assert "\r\nX-Spamd-Result: default: False [" in head, head
    assert "\r\nX-Rspamd-Server: " in head, head
    assert "\r\nX-Rspamd-Queue-Id: " in head, head
    assert stored.endswith(b"\r\n\r\nLunch at noon?\r\n")
