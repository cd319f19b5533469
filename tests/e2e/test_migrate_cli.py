"""`pochta migrate` failing as an operator can act on: exit 1 and one line saying why (unknown
account, wrong password, nothing listening, a certificate not trusted), exit 2 for usage, never a
traceback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cli_env import init_data, run
from dovecot_env import free_port
from imap_env import ALICE, PASSWORD, ImapEnv, imap_server


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as running:
        yield running


async def test_migrate_failures(env: ImapEnv, tmp_path: Path) -> None:
    data = await asyncio.to_thread(init_data, tmp_path / "cli-data")
    ok = await asyncio.to_thread(
        run, "user", "add", "bob@example.org", "--password-stdin", data=data, stdin="pw 12345678\n"
    )
    assert ok.returncode == 0, ok.stderr
    ca_file = tmp_path / "ca.pem"
    env.ca.cert_pem.write_to_path(str(ca_file))
    host, port = env.tls
    login = ALICE.replace("@", "%40")

    async def migrate(*args: str, password: str = PASSWORD) -> tuple[int, str]:
        result = await asyncio.to_thread(
            run, "migrate", *args, "--password-stdin", data=data, stdin=password + "\n"
        )
        return result.returncode, result.stdout + result.stderr

    code, text = await migrate(
        "nobody@example.org", f"imap://{login}@{host}:{port}", "--ca-file", str(ca_file)
    )
    assert (code, "no such account: nobody@example.org" in text) == (1, True), text
    code, text = await migrate(
        "bob@example.org", f"imap://{login}@{host}:{port}", "--ca-file", str(ca_file), password="wrong"
    )
    assert code == 1, text
    assert f"{host} refused the login" in text
    code, text = await migrate("bob@example.org", f"imap://{login}@{host}:{port}")  # the system CAs
    assert code == 1, text
    assert "CERTIFICATE_VERIFY_FAILED" in text
    code, text = await migrate("bob@example.org", f"imap://{login}@127.0.0.1:{free_port()}", "--tls", "none")
    assert code == 1, text
    assert "cannot connect to 127.0.0.1" in text
    code, text = await migrate("bob@example.org", "imaps://x@y", "--folder-map", "nothing")
    assert code == 2, text
    assert "Traceback" not in text
