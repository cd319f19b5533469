"""`pochta import` and `pochta export` as an administrator runs them: while the server runs (IMAP
sessions see the imported mail with its flags and dates), export then import into another account
(the same bytes, flags and dates over IMAP), bad input reported in the summary, and a SIGKILL in the
middle of an import finished by a rerun with every message exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import os
import pty
import random
import re
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import SQLAlchemyError

from pochta.config import load_settings
from pochta.fetch.maildir import MaildirWriter
from pochta.fetch.mbox import write_message
from pochta.store.factory import open_store
from serve_process import POCHTA, ServeProcess, init_data_dir, pochta_env, run_pochta
from store_env import read_rows

ACCOUNTS = {"alice@example.org": "alice password 1", "bob@example.org": "bob password 1"}
WHEN = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)


def message(n: int, lines: int = 5) -> bytes:
    body = "".join(f"line {i} of message {n}\r\n" for i in range(lines))
    return f"From: carol@elsewhere.example\r\nSubject: message {n}\r\n\r\nFrom the top\r\n{body}".encode()


@pytest.fixture
def server(tmp_path: Path) -> ServeProcess:
    data = tmp_path / "data"
    init_data_dir(data, listeners=["imap"], accounts=ACCOUNTS)
    process = ServeProcess(data, tmp_path / "serve.log")
    process.wait_listening(["imap"])
    yield process
    process.stop()
    assert process.failures() == []


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory (no listener, alice only, messages up to 4 KB) for the tests that run the
    commands alone: each imports into a folder of its own, the SIGKILL test into INBOX."""
    data = tmp_path_factory.mktemp("import") / "data"
    accounts = {"alice@example.org": ACCOUNTS["alice@example.org"]}
    init_data_dir(data, listeners=[], accounts=accounts, config="[limits]\nmax_message_size = 4096\n")
    return data


def imap_mailboxes(port: int, user: str) -> dict[str, list[tuple[bytes, bytes, bytes]]]:
    """Every non-empty mailbox over IMAP: (flags, INTERNALDATE, body) per message, in UID order."""
    out: dict[str, list[tuple[bytes, bytes, bytes]]] = {}
    with imaplib.IMAP4("127.0.0.1", port) as client:
        client.login(user, ACCOUNTS[user])
        typ, listed = client.list()
        assert typ == "OK"
        names = [
            re.search(rb'"/" (.*)$', line).group(1).strip(b'"').decode()
            for line in listed
            if isinstance(line, bytes)
        ]  # type: ignore[union-attr]
        for name in names:
            typ, data = client.select(f'"{name}"', readonly=True)
            if typ != "OK" or int(data[0] or 0) == 0:
                continue
            typ, fetched = client.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
            rows = []
            for item in fetched:
                if isinstance(item, tuple):
                    flags = re.search(rb"FLAGS \(([^)]*)\)", item[0])
                    date = re.search(rb'INTERNALDATE "([^"]*)"', item[0])
                    assert flags is not None
                    assert date is not None
                    kept = sorted(
                        flag for flag in flags.group(1).split() if flag != b"\\Recent"
                    )  # a session's
                    rows.append((b" ".join(kept), date.group(1), item[1]))
            out[name] = rows
    return out


def test_import_while_serving_then_export_and_import_into_another_account(
    server: ServeProcess, tmp_path: Path
) -> None:
    source = tmp_path / "Maildir"
    for name, flags in (
        ("", {"\\Seen", "$Label1"}),
        ("Work/Projects", {"\\Flagged"}),
        ("Sent Items", {"\\Seen", "\\Answered"}),
    ):
        writer = MaildirWriter(source, name)
        for n in range(3):
            writer.add(message(n), frozenset(flags), WHEN)
        writer.finish()
    port = server.ports["imap"]
    # A session is open on INBOX while the import runs; it sees the messages on its next command.
    with imaplib.IMAP4("127.0.0.1", port) as watcher:
        watcher.login("alice@example.org", ACCOUNTS["alice@example.org"])
        assert watcher.select("INBOX")[1] == [b"0"]
        output = run_pochta("import", "alice@example.org", str(source), "--data", str(server.data)).stdout
        assert "imported 9 messages" in output
        assert "msgs/s" in output
        assert "created folders: Work, Work/Projects" in output
        typ, _ = watcher.noop()
        assert typ == "OK"
        assert watcher.select("INBOX")[1] == [b"3"]
    alice = imap_mailboxes(port, "alice@example.org")
    assert sorted(alice) == ["INBOX", "Sent", "Work/Projects"]
    assert {flags for flags, _, _ in alice["INBOX"]} == {b"$Label1 \\Seen"}
    assert {date for _, date, _ in alice["Sent"]} == {b" 4-Mar-2021 05:06:07 +0000"}
    assert [body for _, _, body in alice["Work/Projects"]] == [message(n) for n in range(3)]
    for fmt in ("mbox", "maildir"):
        out = tmp_path / f"export-{fmt}"
        exported = run_pochta(
            "export", "alice@example.org", str(out), "--format", fmt, "--data", str(server.data)
        )
        assert "exported 9 messages" in exported.stdout
        run_pochta(
            "import", "bob@example.org", str(out), "--folder", f"From {fmt}", "--data", str(server.data)
        )
    bob = imap_mailboxes(port, "bob@example.org")
    for fmt in ("mbox", "maildir"):
        for name, rows in alice.items():
            # The source's INBOX is the --folder itself; the other folders are below it.
            assert bob[f"From {fmt}" if name == "INBOX" else f"From {fmt}/{name}"] == rows
    refused = run_pochta(
        "export",
        "alice@example.org",
        str(tmp_path / "export-mbox"),
        "--format",
        "mbox",
        "--data",
        str(server.data),
        check=False,
    )
    assert refused.returncode == 1
    assert "not an empty directory" in refused.stderr


def test_bad_input_is_summarised_not_raised(shared_data: Path, tmp_path: Path) -> None:
    data = shared_data
    source = tmp_path / "in"
    source.mkdir()
    (source / "ok.eml").write_bytes(b"Subject: ok\n\nfine\n")
    (source / "big.eml").write_bytes(b"Subject: big\n\n" + b"x" * 5000 + b"\n")
    (source / "cut.mbox").write_bytes(
        write_message(b"Subject: a\r\n\r\nx\r\n", frozenset(), WHEN)
        + b"From a Mon Dec  7 10:08:20 2026\nSubject: cut"
    )
    (source / "junk.bin").write_bytes(b"\x89PNG\r\n\x1a\n")
    (source / "gone.eml").symlink_to(tmp_path / "nowhere")
    result = run_pochta("import", "alice@example.org", str(source), "--folder", "Bad", "--data", str(data))
    assert "imported 2 messages" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    for reason in (
        "over the size limit",
        "truncated: the file ends inside the message header",
        "neither an mbox nor a message",
    ):
        assert reason in result.stdout
    missing = run_pochta("import", "nobody@example.org", str(source), "--data", str(data), check=False)
    assert missing.returncode == 1
    assert "no such account" in missing.stderr
    nothing = run_pochta(
        "import", "alice@example.org", str(tmp_path / "absent"), "--data", str(data), check=False
    )
    assert nothing.returncode == 2
    assert "does not exist" in nothing.stderr


def _journal_rows(data: Path, source: Path) -> int:
    """How many messages of ``source`` the import journal lists (read beside the running import)."""
    query = "SELECT count(*) FROM import_journal WHERE source = :source"
    try:
        [(count,)] = read_rows(data, load_settings(data / "pochta.toml"), query, source=str(source.resolve()))
    except SQLAlchemyError:  # busy or not created yet: nothing listed so far
        return 0
    return int(str(count))


def test_sigkill_during_an_import_then_a_rerun_places_each_message_once(
    shared_data: Path, tmp_path: Path
) -> None:
    data = shared_data
    count = 2000
    path = tmp_path / "big.mbox"
    path.write_bytes(b"".join(write_message(message(n, 3 + n % 40), frozenset(), WHEN) for n in range(count)))
    command = [*POCHTA, "import", "alice@example.org", str(path), "--data", str(data)]
    victim = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=pochta_env())
    deadline = time.monotonic() + 60
    while _journal_rows(data, path) == 0 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(random.uniform(0, 0.5))  # somewhere in the middle: between or inside commits
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL, "the import finished before it could be killed"
    placed_before = _journal_rows(data, path)
    assert 0 < placed_before < count
    rerun = run_pochta("import", "alice@example.org", str(path), "--data", str(data))
    assert f"imported {count - placed_before} messages" in rerun.stdout
    assert f"already imported by an earlier run: {placed_before}" in rerun.stdout
    assert [body for _, body in asyncio.run(inbox(data))] == [message(n, 3 + n % 40) for n in range(count)]


async def inbox(data: Path) -> list[tuple[frozenset[str], bytes]]:
    """(flags, bytes) of every INBOX message of alice, in UID order, read from the store itself."""
    store = await open_store(data, load_settings(data / "pochta.toml"))
    try:
        account = await store.get_account("alice@example.org")
        assert account is not None
        box = await store.get_mailbox(account.id, "INBOX")
        assert box is not None
        return [(entry.flags, store.read_blob(entry.blob)) for entry in await store.open_view(box.id)]
    finally:
        await store.close()


@pytest.mark.slow
def test_ten_thousand_messages_through_three_sigkills(tmp_path: Path) -> None:
    # The long version: an mbox of 10,000 messages, the import killed three times at random
    # moments, then run to the end; every message is in INBOX once, with its bytes and flags.
    data = tmp_path / "data"
    init_data_dir(data, listeners=[], accounts={"alice@example.org": ACCOUNTS["alice@example.org"]})
    count = 10_000
    path = tmp_path / "big.mbox"
    flags = [frozenset({"\\Seen"}) if n % 3 == 0 else frozenset() for n in range(count)]
    path.write_bytes(b"".join(write_message(message(n, 3 + n % 200), flags[n], WHEN) for n in range(count)))
    command = [*POCHTA, "import", "alice@example.org", str(path), "--data", str(data)]
    for _ in range(3):
        before = _journal_rows(data, path)
        victim = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=pochta_env())
        deadline = time.monotonic() + 120
        while _journal_rows(data, path) == before and victim.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(random.uniform(0, 2.0))
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=60)
    assert _journal_rows(data, path) < count
    rerun = run_pochta("import", "alice@example.org", str(path), "--data", str(data))
    assert "already imported by an earlier run" in rerun.stdout
    found = asyncio.run(inbox(data))
    assert [body for _, body in found] == [message(n, 3 + n % 200) for n in range(count)]
    assert [flag_set for flag_set, _ in found] == flags


def test_a_progress_bar_on_a_terminal_and_none_in_a_pipe(shared_data: Path, tmp_path: Path) -> None:
    data = shared_data
    path = tmp_path / "some.mbox"
    path.write_bytes(b"".join(write_message(message(n, 50), frozenset(), WHEN) for n in range(300)))
    controller, terminal = pty.openpty()
    command = [*POCHTA, "import", "alice@example.org", str(path), "--folder", "Progress", "--data", str(data)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=terminal, env=pochta_env()) as process:
        os.close(terminal)
        drawn = b""
        with contextlib.suppress(OSError):  # EIO once the child closed the terminal
            while chunk := os.read(controller, 65536):
                drawn += chunk
        stdout, _ = process.communicate(timeout=60)
    os.close(controller)
    assert process.returncode == 0
    assert b"imported 300 messages" in stdout
    assert b"import" in drawn
    assert "━".encode() in drawn  # rich's bar
    out = tmp_path / "out.mbox"
    piped = run_pochta(
        "export",
        "alice@example.org",
        str(out),
        "--format",
        "mbox",
        "--folder",
        "Progress",
        "--data",
        str(data),
    )
    assert "━" not in piped.stderr
