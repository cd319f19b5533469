"""`pochta migrate` from Debian's Dovecot: messages/s of a whole account, then of a rerun.

    .venv/bin/python bench/migrate_imap.py [--messages 10000] [--folders 12] [--seed 1] [--tls starttls]

A Dovecot (tests/imap_remote_env.py: loopback, trustme certificate, SPECIAL-USE folders) gets
``--messages`` messages spread over nested folders (INBOX, Sent Items, Archive/<year>/<month>,
Lists/<name> ...), with a mix of sizes (75% 1-10 KB, 20% 10-60 KB, 5% 60-300 KB) and flags, put
there by our client's APPEND (LITERAL+; the fill time is printed too). Then `pochta migrate` runs
as a subprocess into a fresh data directory (its whole run, CLI start included), and once more
(nothing new: the incremental check). Printed: messages/s and MB/s of the first run, the rerun's
time, the CPU time of the migrate process per message (less sensitive to the machine's load than the
rate), the local count checked against the remote, and /proc/loadavg before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from cli_env import init_data, ok, run
from dovecot_env import dovecot_missing
from imap_remote_env import (
    LOCAL_USER,
    REMOTE_PASSWORD,
    REMOTE_USER,
    SPECIAL_USE_NAMESPACE,
    local_messages,
    migrate,
    summary_value,
    tls_dovecot,
)
from pochta.fetch.imap_remote import ImapRemote, RemoteServer, TlsMode

FLAG_SETS = [
    (),
    ("\\Seen",),
    ("\\Seen",),
    ("\\Seen", "\\Answered"),
    ("\\Seen", "\\Flagged", "$Work"),
    ("Later",),
]


def folder_names(count: int) -> list[str]:
    names = ["INBOX", "Sent Items", "Brouillons", "Rubbish"]
    years = ["2021", "2022", "2023"]
    for n in range(max(0, count - len(names))):
        if n % 2 == 0:
            names.append(f"Archive/{years[n // 2 % 3]}/{n // 6 + 1:02d}")
        else:
            names.append(f"Lists/list{n}")
    return names[:count]


def message(n: int, folder: str, rng: random.Random) -> bytes:
    r = rng.random()
    size = (
        rng.randint(1_000, 10_000)
        if r < 0.75
        else rng.randint(10_000, 60_000)
        if r < 0.95
        else rng.randint(60_000, 300_000)
    )
    head = (
        f"From: Sender {n} <s{n}@legacy.example>\r\nTo: {REMOTE_USER}\r\nSubject: {folder} message {n}\r\n"
        f"Message-ID: <{n}.bench@legacy.example>\r\nDate: Mon, 1 Mar 2021 10:00:00 +0000\r\n\r\n"
    ).encode()
    line = b"The quick brown fox jumps over the lazy dog, again and again. 0123456789\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


async def fill(remote: RemoteServer, folders: list[str], count: int, seed: int) -> int:
    rng = random.Random(seed)
    octets = 0
    async with await ImapRemote.connect(remote) as client:
        await client.login(REMOTE_USER, REMOTE_PASSWORD)
        existing = {folder.name for folder in await client.folders()}
        for name in folders:
            if name not in existing and name != "INBOX":
                await client.create(name)
        for n in range(count):
            folder = folders[n % len(folders)]
            data = message(n, folder, rng)
            octets += len(data)
            await client.append(folder, data, FLAG_SETS[n % len(FLAG_SETS)])
    return octets


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--folders", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tls", choices=["starttls", "implicit"], default="starttls")
    options = parser.parse_args()
    missing = dovecot_missing(("imap",))
    if missing:
        sys.exit(missing)
    folders = folder_names(options.folders)
    with (
        tls_dovecot(SPECIAL_USE_NAMESPACE) as dovecot,
        tempfile.TemporaryDirectory(prefix="pochta-bench-") as tmp,
    ):
        remote = dovecot.remote(TlsMode(options.tls))
        started = time.monotonic()
        octets = asyncio.run(fill(remote, folders, options.messages, options.seed))
        print(
            f"fill: {options.messages} messages, {octets / 1e6:.1f} MB in {len(folders)} folders, "
            f"{time.monotonic() - started:.1f} s (APPEND)"
        )
        data = init_data(Path(tmp) / "data")
        ok(run("user", "add", LOCAL_USER, "--password-stdin", data=data, stdin="local password 123\n"))
        print(f"load before: {loadavg()}")
        started = time.monotonic()
        cpu_before = _children_cpu()
        output = migrate(data, remote, "--quiet")
        first = time.monotonic() - started
        cpu = _children_cpu() - cpu_before
        copied = summary_value(output, "messages copied")
        print(
            f"migrate: {copied} messages in {first:.1f} s: {copied / first:.0f} msg/s, "
            f"{octets / 1e6 / first:.1f} MB/s (whole command, start included)"
        )
        print(f"  pochta migrate CPU: {cpu:.1f} s, {cpu / max(1, copied) * 1000:.2f} ms per message")
        print("  " + "\n  ".join(output.strip().splitlines()))
        print(f"load after: {loadavg()}")
        started = time.monotonic()
        output = migrate(data, remote, "--quiet")
        print(
            f"rerun: {summary_value(output, 'messages copied')} copied, "
            f"{summary_value(output, 'messages already here')} already here, "
            f"{time.monotonic() - started:.1f} s"
        )
        local = asyncio.run(local_messages(data))
        total = sum(len(messages) for messages in local.values())
        print(f"local messages: {total} (remote {options.messages})")


if __name__ == "__main__":
    main()
