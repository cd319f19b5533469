"""`pochta backup` while the server runs and receives mail, `pochta restore` into a fresh directory,
and the restored server serving every message byte for byte."""

from __future__ import annotations

import hashlib
import imaplib
import re
import smtplib
import threading
import time
from pathlib import Path

from cli_env import ServerProcess, init_data, ok, run
from server_env import stored_blob
from store_env import sqlite_only

pytestmark = sqlite_only(
    "pochta backup and restore copy SQLite's database file "
    "(on PostgreSQL they refuse: tests/unit/config/test_store_url.py)"
)

USER, PASSWORD = "alice@example.org", "alice password 1"


def message(n: int) -> bytes:
    body = "".join(f"line {i} of message {n}\r\n" for i in range(50 + n % 200))
    return f"From: bob@elsewhere.example\r\nSubject: message {n}\r\n\r\n{body}".encode()


class Sender(threading.Thread):
    """Delivers numbered messages over LMTP until stopped; records when each was acknowledged."""

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.acknowledged: dict[int, float] = {}
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        n = 0
        try:
            while not self.stopping.is_set():
                # A fresh session every 50 messages stays below any per-session message limit.
                with smtplib.LMTP(*self.address, timeout=30) as client:
                    for _ in range(50):
                        if self.stopping.is_set():
                            break
                        client.sendmail("bob@elsewhere.example", [USER], message(n))
                        self.acknowledged[n] = time.monotonic()
                        n += 1
        except BaseException as exc:  # reported by the test
            self.error = exc


def fetch_all(address: tuple[str, int]) -> list[bytes]:
    with imaplib.IMAP4(*address, timeout=30) as client:
        client.login(USER, PASSWORD)
        client.select("INBOX", readonly=True)
        status, data = client.fetch("1:*", "(BODY.PEEK[])")
        assert status == "OK"
        return [item[1] for item in data if isinstance(item, tuple)]


def blob(data_dir: Path, content: bytes) -> bytes | None:
    """What the data directory keeps under the content's digest (a file or a row of the database)."""
    return stored_blob(data_dir, hashlib.sha256(content).hexdigest())


def test_backup_while_serving_and_restore_into_a_fresh_directory(tmp_path: Path) -> None:
    data = init_data(tmp_path / "data")
    ok(run("user", "add", USER, "--password-stdin", data=data, stdin=PASSWORD + "\n"))
    destination = tmp_path / "backup"
    with ServerProcess(data) as server:
        addresses = server.wait_listening()
        sender = Sender(addresses["lmtp"])
        sender.start()
        while len(sender.acknowledged) < 20 and sender.error is None:
            time.sleep(0.05)
        started = time.monotonic()
        out = ok(run("backup", str(destination), data=data))  # mail keeps arriving meanwhile
        sender.stopping.set()
        sender.join(timeout=60)
        assert sender.error is None, sender.error
        assert server.stop() == 0
    before_backup = {n for n, when in sender.acknowledged.items() if when < started}
    assert len(before_backup) >= 20
    assert len(sender.acknowledged) > len(before_backup), "no mail arrived during the backup"
    assert re.search(r"backup of .* in .*: \d+ blobs", out)
    for name in ("pochta.db", "pochta.toml", "server-secret", "srs-secret", "tls/cert.pem", "tls/key.pem"):
        assert (destination / name).is_file(), name
    assert not list(tmp_path.glob(".backup.backup-*"))  # the temporary directory is gone

    fresh = tmp_path / "restored"
    restored = ok(run("restore", str(destination), data=fresh))
    assert f"restored {destination} into {fresh}" in restored
    assert "verify: ok" in restored

    with ServerProcess(fresh) as server:
        messages = fetch_all(server.wait_listening()["imap"])
        server.stop()
    subjects = {int(m.group(1)) for raw in messages if (m := re.search(rb"Subject: message (\d+)", raw))}
    assert before_backup <= subjects  # everything acknowledged before the backup began
    assert subjects <= set(sender.acknowledged)
    for raw in messages:  # byte for byte what the original server stored
        assert blob(data, raw) == raw
        assert blob(fresh, raw) == raw


def test_restore_refuses_a_running_server_and_a_directory_in_use(tmp_path: Path) -> None:
    data = init_data(tmp_path / "data")
    destination = tmp_path / "backup"
    ok(run("backup", str(destination), data=data))
    again = run("backup", str(destination), data=data)
    assert again.returncode == 1
    assert "already exists and is not empty" in again.stderr

    not_empty = run("restore", str(destination), data=data)
    assert not_empty.returncode == 1
    assert "pass --replace" in not_empty.stderr
    with ServerProcess(data) as server:
        server.wait_listening()
        refused = run("restore", str(destination), "--replace", data=data)
        assert refused.returncode == 1
        assert f"pochta serve runs on {data} (pid {server.process.pid}); stop it before restoring" in (
            refused.stderr
        )
        assert server.stop() == 0
    replaced = ok(run("restore", str(destination), "--replace", data=data))
    aside = re.search(r"moved the previous .* to (\S+)", replaced)
    assert aside is not None
    assert (Path(aside.group(1)) / "pochta.db").is_file()  # moved, never deleted
    assert "verify: ok" in replaced
    not_a_backup = run("restore", str(tmp_path), data=tmp_path / "other")
    assert not_a_backup.returncode == 1
    assert "not a pochta backup" in not_a_backup.stderr
