"""SIGKILL of ``pochta fetch run`` (and, marked slow, of ``pochta serve`` while its scheduler
fetches) in the middle of a fetch (delete mode), then runs again: every message of the remote
arrives exactly once, and the remote ends up empty (docs/fetch.md "Never twice").

The remote is a second pochta's POP3 (tests/pop3_env.py), or its IMAP (tests/imap_env.py: deletions
by UID STORE and UID EXPUNGE at the end of the run), on this test's event loop. Each kill lands
once the local store has recorded a chosen number of fetched messages (read with sqlite3 while the
command runs), so it always falls inside a run: between a commit and the next message, during a
delivery, or between DELE and QUIT. ``POCHTA_FAULT_SEED`` replays a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import signal
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faults_support import base_seed

from imap_env import PASSWORD as IMAP_PASSWORD
from imap_env import ImapEnv, imap_server
from pochta.bootstrap import ensure_server_secret, initialise
from pochta.config import LISTENER_KINDS, load_settings
from pochta.fetch.accounts import AccountRequest, add_external_account
from pochta.store.fetch_model import FetchProtocol
from pochta.store.sqlite.store import open_sqlite_store
from pop3_env import ADDRESS, PASSWORD, Pop3Env, message, pop3_server
from serve_process import POCHTA, ServeProcess, pochta_env

LOCAL = "carol@example.org"
COUNT = 40


def fetched_count(data: Path) -> int:
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{data / 'pochta.db'}?mode=ro", uri=True, timeout=1)
        ) as db:
            return int(db.execute("SELECT count(*) FROM fetched_messages").fetchone()[0])
    except sqlite3.Error:
        return 0


async def run_until(data: Path, target: int | None) -> int | None:
    """``pochta fetch run``; SIGKILLed once ``target`` messages are recorded (None: to the end).
    The exit code, or None when it was killed."""
    process = await asyncio.create_subprocess_exec(
        *POCHTA, "fetch", "run", LOCAL, "--data", str(data),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=pochta_env(),
    )  # fmt: skip
    try:
        if target is not None:
            async with asyncio.timeout(60):
                while process.returncode is None and fetched_count(data) < target:  # noqa: ASYNC110 - another process's database
                    await asyncio.sleep(0.005)
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
                await process.wait()
                return None
        async with asyncio.timeout(120):
            return await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def make_local(
    data: Path,
    remote_port: int,
    ca_file: Path,
    listen: dict[str, str],
    protocol: FetchProtocol = "pop3",
    password: str = PASSWORD,
) -> None:
    """The local data directory with carol and her external account (delete mode), made in this
    process: a pochta command costs seconds of start-up on a loaded machine."""
    await asyncio.to_thread(initialise, data, domain="example.org", listen=listen, account=LOCAL)
    config = data / "pochta.toml"
    config.write_text(config.read_text() + f'\n[fetch]\nca_file = "{ca_file}"\ncheck_interval = 0.2\n')
    store = await open_sqlite_store(data, load_settings(config), indexer=False)
    try:
        local = await store.get_account(LOCAL)
        assert local is not None
        request = AccountRequest(protocol, f"127.0.0.1:{remote_port}", ADDRESS, password, "implicit", False)
        await add_external_account(store, local, request, ensure_server_secret(data))
    finally:
        await store.close()


async def inbox_subjects(data: Path) -> Counter[bytes]:
    store = await open_sqlite_store(data, load_settings(data / "pochta.toml"), indexer=False)
    try:
        account = await store.get_account(LOCAL)
        assert account is not None
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        view = await store.open_view(inbox.id)
        return Counter(
            re.search(rb"Subject: (message \d+)", store.read_blob(view.blob(i))).group(1)  # type: ignore[union-attr]
            for i in range(len(view))
        )
    finally:
        await store.close()


EXPECTED = Counter({f"message {n}".encode(): 1 for n in range(COUNT)})


@contextlib.asynccontextmanager
async def remote_server(tmp_path: Path, protocol: FetchProtocol) -> AsyncIterator[Pop3Env | ImapEnv]:
    if protocol == "imap":
        async with imap_server(tmp_path) as imap:
            yield imap
    else:
        async with pop3_server(tmp_path) as pop3:
            yield pop3


@pytest.mark.parametrize("protocol", ["pop3", "imap"])
async def test_sigkill_during_fetch_loses_and_duplicates_nothing(
    tmp_path: Path, protocol: FetchProtocol
) -> None:
    seed = base_seed()
    rnd = random.Random(seed)
    # IMAP records two rows per message (its UID and its content digest), in one commit.
    rows = 2 if protocol == "imap" else 1
    password = IMAP_PASSWORD if protocol == "imap" else PASSWORD
    async with remote_server(tmp_path, protocol) as remote:
        for n in range(COUNT):
            await remote.deliver(message(n, size=rnd.randrange(200, 30000)))
        data = tmp_path / "local"
        listen = {name: "off" for name in LISTENER_KINDS}
        await make_local(data, remote.tls[1], remote.ca_file(), listen, protocol, password)
        killed = 0
        for target in sorted(rnd.sample(range(1, COUNT), 2)):
            if await run_until(data, rows * target) is None:
                killed += 1
        assert killed >= 1, f"seed {seed}: no run was killed"
        assert await run_until(data, None) == 0, f"seed {seed}"
        assert await inbox_subjects(data) == EXPECTED, f"seed {seed}"
        assert await remote.uids() == [], f"seed {seed}: left on the remote"


@pytest.mark.slow
async def test_sigkill_of_the_server_during_its_scheduled_fetch(tmp_path: Path) -> None:
    # The server's own scheduler fetching (delete mode) is killed at a chosen record count, twice;
    # each restart runs the account again at once (its run was never recorded), and finishes.
    seed = base_seed()
    rnd = random.Random(seed)
    async with pop3_server(tmp_path) as remote:
        for n in range(COUNT):
            await remote.deliver(message(n, size=rnd.randrange(200, 30000)))
        data = tmp_path / "local"
        listen = {name: "off" for name in LISTENER_KINDS} | {"imap": "127.0.0.1:0"}
        await make_local(data, remote.tls[1], remote.ca_file(), listen)
        killed = 0
        for target in [*sorted(rnd.sample(range(1, COUNT), 2)), None]:
            server = ServeProcess(data, tmp_path / "serve.log")
            try:
                await asyncio.to_thread(server.wait_listening, ["imap"])
                async with asyncio.timeout(120):
                    while fetched_count(data) < (target or COUNT) or (target is None and await remote.uids()):  # noqa: ASYNC110 - another process's database
                        await asyncio.sleep(0.005)
            finally:
                if target is None:
                    await asyncio.to_thread(server.stop)
                else:
                    await asyncio.to_thread(server.kill)
            if target is not None and await remote.uids():
                killed += 1  # before the run's QUIT: in the middle of it
            assert not [line for line in server.failures() if "Traceback" in line], server.tail()
        assert killed >= 1, f"seed {seed}: no kill landed inside a run"
        assert await inbox_subjects(data) == EXPECTED, f"seed {seed}"
        assert await remote.uids() == [], f"seed {seed}: left on the remote"
