"""Dovecot 2.3 (tests/dovecot_env.py) serves what `pochta export` wrote, as the independent check of
the formats: the Maildir++ tree (file names, dovecot-keywords, mtimes) and the mbox files (From
lines, Status/X-Status/X-Keywords, mboxrd quoting) give over Dovecot's IMAP the same message bytes,
flags, keywords and internal dates pochta holds."""

from __future__ import annotations

import imaplib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dovecot_env import DovecotServer, dovecot_binary, dovecot_missing, dovecot_server, write_config
from pochta.config import Settings
from pochta.fetch.export import export_account
from pochta.mime import parse_message
from pochta.store.model import Account
from pochta.store.sqlite.store import SqliteStore, open_sqlite_store
from shared_dir import corpus_messages

pytestmark = pytest.mark.interop

PASSWORD = "dovecot-password"
Row = tuple[frozenset[str], int, bytes]


@pytest.fixture
async def filled(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, Account]]:
    data = tmp_path / "data"
    data.mkdir()
    store = await open_sqlite_store(data, Settings(), indexer=False)
    try:
        await store.add_domain("example.org")
        account = await store.add_account("alice@example.org", "not-a-real-hash", None)
        await store.create_mailbox(account.id, "Work")
        await store.create_mailbox(account.id, "Work/Projects")
        zone = timezone(timedelta(hours=2))
        samples = [
            (
                "INBOX",
                b"Subject: a\r\n\r\nFrom the start\r\n>From quoted\r\n>>From twice\r\n",
                {"\\Seen", "$Label1"},
            ),
            (
                "INBOX",
                b"Subject: b\r\n\r\nbody\r\n",
                {"\\Answered", "\\Flagged", "\\Draft", "\\Deleted", "$Forwarded"},
            ),
            ("Work", b"Subject: c\r\n\r\nwork\r\n", {"project", "\\Seen"}),
            ("Work/Projects", b"Subject: d\r\n\r\nnested\r\n", set()),
        ]
        samples += [
            ("INBOX", data, {"\\Seen"}) for _, data in corpus_messages()[:25] if data.endswith(b"\r\n")
        ]
        for n, (name, message, flags) in enumerate(samples):
            blob = await store.new_blob(message)
            when = datetime(2018, 6, 1 + n, 9, 30, n, tzinfo=zone)
            await store.append(
                account.id, name, blob, parse_message(message, Settings().mime), frozenset(flags), when
            )
        yield store, account
    finally:
        await store.close()


async def pochta_rows(store: SqliteStore, account: Account) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for box in await store.mailboxes(account.id):
        view = await store.open_view(box.id)
        rows = [
            (entry.flags, int(entry.internal_date.timestamp()), store.read_blob(entry.blob)) for entry in view
        ]
        if rows:
            out[box.name] = rows
    return out


def dovecot_rows(port: int, names: dict[str, str]) -> dict[str, list[Row]]:
    """pochta name -> Dovecot's messages of the Dovecot mailbox ``names[name]``, in order."""
    out: dict[str, list[Row]] = {}
    with imaplib.IMAP4("127.0.0.1", port) as client:
        client.login("alice", PASSWORD)
        for ours, theirs in names.items():
            typ, _ = client.select(f'"{theirs}"', readonly=True)
            assert typ == "OK", theirs
            typ, fetched = client.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
            rows = []
            for item in fetched:
                if isinstance(item, tuple):
                    flags = re.search(rb"FLAGS \(([^)]*)\)", item[0])
                    assert flags is not None
                    kept = frozenset(f.decode() for f in flags.group(1).split() if f != b"\\Recent")
                    stamp = imaplib.Internaldate2tuple(item[0])  # local time of this machine
                    assert stamp is not None
                    rows.append((kept, int(time.mktime(stamp)), item[1]))
            out[ours] = rows
    return out


def give_to_dovecot(source: Path, target: Path) -> None:
    """Copy the export into Dovecot's mail directory, owned by the user it keeps mail as."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    owner = target.parent.stat()  # mail/, made for that user by dovecot_env
    os.chown(target, owner.st_uid, owner.st_gid)
    for directory, dirs, files in os.walk(target):
        for name in [*dirs, *files]:
            os.chown(Path(directory) / name, owner.st_uid, owner.st_gid)
    # copytree keeps mtimes (the Maildir internal dates) with copy2.


@pytest.fixture
def dovecot_maildir() -> Iterator[DovecotServer]:
    missing = dovecot_missing(["imap"])
    if missing:
        pytest.skip(missing)
    with dovecot_server(protocols=["imap"], password=PASSWORD) as server:
        yield server


async def test_dovecot_serves_the_maildir_export(
    filled: tuple[SqliteStore, Account], tmp_path: Path, dovecot_maildir: DovecotServer
) -> None:
    store, account = filled
    out = tmp_path / "maildir"
    await export_account(store, account, out, "maildir")
    give_to_dovecot(out, dovecot_maildir.root / "mail" / "alice")
    ours = await pochta_rows(store, account)
    # Dovecot's Maildir++ namespace separates levels with "." (pochta's with "/").
    assert dovecot_rows(dovecot_maildir.imap, {name: name.replace("/", ".") for name in ours}) == ours


async def test_dovecot_serves_the_mbox_export(filled: tuple[SqliteStore, Account], tmp_path: Path) -> None:
    missing = dovecot_missing(["imap"])
    if missing:
        pytest.skip(missing)
    store, account = filled
    out = tmp_path / "mbox"
    await export_account(store, account, out, "mbox")
    ours = await pochta_rows(store, account)
    check_mbox_with_dovecot(out, ours)


def check_mbox_with_dovecot(out: Path, ours: dict[str, list[Row]]) -> None:
    # Dovecot's mbox: one file per folder under the user's directory, INBOX named explicitly.
    root = Path(tempfile.mkdtemp(prefix="pochta-dovecot-"))
    try:
        config, ports = write_config(root, protocols=["imap"], password=PASSWORD)
        location = f"mail_location = mbox:{root}/mail/%u:INBOX={root}/mail/%u/INBOX.mbox"
        config.write_text(re.sub(r"(?m)^mail_location = .*$", location, config.read_text()))
        give_to_dovecot(out, root / "mail" / "alice")
        binary = dovecot_binary()
        assert binary is not None
        process = subprocess.Popen(
            [binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        server = DovecotServer(root, process, ports)
        try:
            server.wait_listening()
            names = {name: ("INBOX" if name == "INBOX" else f"{name}.mbox") for name in ours}
            theirs = dovecot_rows(server.imap, names)
            # Dovecot serves an mbox body as the file has it: the mboxrd quoting stays (">From").
            unquoted = {
                name: [(flags, when, re.sub(rb"(?m)^>(>*From )", rb"\1", body)) for flags, when, body in rows]
                for name, rows in theirs.items()
            }
            assert unquoted == ours
            assert b"\r\n>From the start\r\n" in theirs["INBOX"][0][2]
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
