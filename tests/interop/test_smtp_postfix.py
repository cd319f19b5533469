"""Postfix as the upstream MTA delivering into pochta over LMTP (RFC 2033).

Debian's Postfix is started by hand with its own configuration directory and queue in a temporary
directory, listening on a loopback port, with ``virtual_transport`` pointing at pochta's LMTP
listener. Mail sent to Postfix with smtplib must arrive in pochta, one stored copy for several
recipients. Postfix's master must run as root; the test skips (with the reason) otherwise.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import smtplib
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from smtp_env import ALICE, BOB, SmtpEnv, message, smtp_server, strip_received

pytestmark = pytest.mark.interop

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def postfix_root() -> Iterator[Path]:
    postfix = shutil.which("postfix") or ("/usr/sbin/postfix" if Path("/usr/sbin/postfix").exists() else None)
    if postfix is None:
        pytest.skip("postfix is not installed (apt-get install postfix)")
    if os.geteuid() != 0:
        pytest.skip("Postfix's master must be started as root")
    # Postfix daemons run as the postfix user: the directory must be reachable for it (pytest's
    # tmp_path lives under a 0700 directory).
    root = Path(tempfile.mkdtemp(prefix="pochta-postfix-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[SmtpEnv]:
    async with smtp_server(tmp_path) as running:
        yield running


async def _wait_for_port(port: int, process: asyncio.subprocess.Process) -> None:
    for _ in range(300):
        if process.returncode is not None:
            raise AssertionError("postfix exited before listening")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise AssertionError("postfix did not listen")


async def test_postfix_delivers_over_lmtp(env: SmtpEnv, postfix_root: Path) -> None:
    smtpd_port = _free_port()
    config = postfix_root / "etc"
    config.mkdir()
    (postfix_root / "spool").mkdir()
    data_dir = postfix_root / "data"
    data_dir.mkdir()
    shutil.chown(data_dir, user="postfix")
    (config / "main.cf").write_text(MAIN_CF.format(root=postfix_root, lmtp=env.port("lmtp")))
    (config / "master.cf").write_text(MASTER_CF.format(port=smtpd_port))
    process = await asyncio.create_subprocess_exec(
        "postfix", "-c", str(config), "start-fg",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    log = b""
    try:
        await _wait_for_port(smtpd_port, process)
        data = message("through postfix")

        def send() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", smtpd_port, timeout=10) as client:
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
    finally:
        stop = await asyncio.create_subprocess_exec(
            "postfix", "-c", str(config), "stop",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await stop.wait()
        try:
            async with asyncio.timeout(20):
                log, _ = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
    # the unknown recipient was refused by pochta at RCPT, per recipient (RFC 2033 §4.2)
    assert b"nobody@example.org" in log
    assert b"5.1.1" in log
