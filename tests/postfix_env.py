"""Debian's Postfix started by hand for interop tests: its own configuration directory and queue in a
temporary directory, smtpd on a loopback port. Postfix's master must run as root; ``postfix_dir``
skips (with the reason) otherwise, or when Postfix is not installed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

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
tlsmgr    unix  - - n 1000? 1 tlsmgr
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def postfix_dir() -> Iterator[Path]:
    """A directory for one Postfix instance (reachable for the postfix user), removed afterwards."""
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


async def wait_for_port(port: int, process: asyncio.subprocess.Process) -> None:
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


class Postfix:
    """A running instance; ``log`` is its whole output once it has stopped."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.log = b""


@contextlib.asynccontextmanager
async def running_postfix(root: Path, main_cf: str) -> AsyncIterator[Postfix]:
    """Postfix in ``root`` with ``main_cf`` (formatted with ``root``) and smtpd on a free port."""
    instance = Postfix(root, free_port())
    config = root / "etc"
    config.mkdir()
    (root / "spool").mkdir()
    data_dir = root / "data"
    data_dir.mkdir()
    shutil.chown(data_dir, user="postfix")
    (config / "main.cf").write_text(main_cf.format(root=root))
    (config / "master.cf").write_text(MASTER_CF.format(port=instance.port))
    process = await asyncio.create_subprocess_exec(
        "postfix", "-c", str(config), "start-fg",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await wait_for_port(instance.port, process)
        yield instance
    finally:
        stop = await asyncio.create_subprocess_exec(
            "postfix", "-c", str(config), "stop",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await stop.wait()
        try:
            async with asyncio.timeout(20):
                instance.log, _ = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
