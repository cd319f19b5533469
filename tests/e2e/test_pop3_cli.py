"""``pochta user set --pop-...``: the per-account POP3 policy is stored and read back, and
switching POP3 back on restarts the 'since enabled' clock."""

from __future__ import annotations

import asyncio
import os
import poplib
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from pochta.config import LISTENER_KINDS, load_settings
from pochta.store.factory import open_store


def pochta(*args: str, data: Path) -> str:
    env = dict(os.environ)
    env.pop("POCHTA_DATA", None)
    result = subprocess.run(
        [sys.executable, "-m", "pochta", *args, "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_user_set_pop_policy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    pochta("init", "--domain", "example.org", "--account", "ann@example.org", data=data)
    out = pochta(
        "user",
        "set",
        "ann@example.org",
        "--pop-mode",
        "since-enabled",
        "--pop-delete-action",
        "archive",
        "--pop-login-delay",
        "900",
        data=data,
    )
    assert "pop3 mode since-enabled, delete action archive, login delay 900" in out
    pochta("user", "set", "ann@example.org", "--no-pop3", data=data)
    pochta("user", "set", "ann@example.org", "--pop3", data=data)

    async def check() -> None:
        store = await open_store(data, load_settings(data / "pochta.toml"))
        try:
            account = await store.get_account("ann@example.org")
            assert account is not None
            own = account.settings.own
            assert own["pop3.mode"] == "since-enabled"
            assert own["pop3.delete_action"] == "archive"
            assert own["pop3.login_delay"] == 900
            assert own["pop3.enabled"] is True
            enabled_at = own["pop3.enabled_at"]
            assert isinstance(enabled_at, datetime)
            assert enabled_at >= account.created
        finally:
            await store.close()

    asyncio.run(check())
    out = pochta(
        "user", "set", "ann@example.org", "--pop-mode", "default", "--pop-login-delay", "default", data=data
    )
    assert "pop3 mode default, delete action archive, login delay default" in out


def test_pochta_serve_answers_pop3(tmp_path: Path) -> None:
    """``pochta serve`` wires the real POP3 handler (not the placeholder) into its listeners."""
    data = tmp_path / "data"
    listen = [f"--listen={name}=" + ("127.0.0.1:0" if name == "pop3" else "off") for name in LISTENER_KINDS]
    out = pochta("init", "--domain", "example.org", "--account", "ann@example.org", *listen, data=data)
    password = re.search(r"password:\s+(\S+)", out)
    assert password is not None, out
    env = dict(os.environ)
    env.pop("POCHTA_DATA", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "pochta", "serve", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            found = re.search(r"listening name=pop3 addr=127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
        assert port is not None
        client = poplib.POP3("127.0.0.1", port, timeout=10)
        assert re.search(rb"<\d+\.\d+@", client.getwelcome())
        client.user("ann@example.org")
        client.pass_(password.group(1))
        assert client.stat() == (0, 0)
        client.quit()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    assert process.returncode == 0
