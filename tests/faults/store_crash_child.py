"""Child process of test_store_crash.py: writes to the store until the parent SIGKILLs it.

    python store_crash_child.py DATA_DIR LOG_FILE SEED MAILBOX_IDS [--tasks N] [--mode MODE]

It opens the store, prints ``ready`` on stdout, then runs ``--tasks`` concurrent workers, each of
which loops over: delivering a new message (1 KB - 300 KB, to 1-3 mailboxes at once; up to
``store.inline_blob_max`` its bytes are a row of the database, else a file), delivering the
bytes of an earlier message again (single-instance store), expunging messages and adding keywords.
With ``--mode reconstruct`` a full ``reconstruct()`` runs in a loop beside the workers. With ``--mode
create`` it prints ``ready`` first and then creates the store in an empty DATA_DIR (migrations), a
domain and an account (SEED and MAILBOX_IDS are unused).

The log file gets one JSON line per event, appended with ``O_APPEND``:

- ``{"t": "begin", "op": N, "kind": ..., ...}`` before an operation starts (its intent: the bytes'
  SHA-256 and the targets, or the UIDs to expunge or flag);
- ``{"t": "ack", "op": N, ...}`` once the store call returned, i.e. the moment a server would send
  ``250``/``OK``: what the store answered (UIDs placed, UIDs expunged). Each ack is fsync'ed.

A SIGKILL leaves the page cache intact, so everything written before the kill is readable by the
parent; the last line may be cut short, and the parent ignores an unterminated line. An operation
only ever claims messages whose delivery is already acknowledged, and no two operations in flight
touch the same message, so the parent can tell exactly what each message may look like.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

from pochta.config import Settings
from pochta.mime import parse_message
from pochta.store.model import Target
from pochta.store.sqlite.store import SqliteStore, open_sqlite_store

# fmt: off
WORDS = [
    "mail", "store", "crash", "durable", "fsync", "commit", "blob", "journal", "sqlite", "uid", "modseq",
    "mailbox", "message", "delivery", "acknowledged", "atomic", "restart", "verify", "reconstruct",
    "quota", "flag", "seen", "deleted", "answered", "pochta", "почта", "郵便", "ñandú", "café", "naïve",
]
# fmt: on

SYSTEM_FLAG_CHOICES = (("\\Seen", 0.3), ("\\Flagged", 0.1), ("\\Answered", 0.1), ("\\Deleted", 0.05))


def message_size(rnd: random.Random) -> int:
    """Mostly small, some medium, a few large: 1 KB - 300 KB."""
    r = rnd.random()
    if r < 0.6:
        return rnd.randint(1_000, 10_000)
    if r < 0.9:
        return rnd.randint(10_000, 60_000)
    return rnd.randint(60_000, 300_000)


def text_lines(rnd: random.Random, size: int) -> str:
    words = rnd.choices(WORDS, k=max(1, size // 7))
    return "\r\n".join(" ".join(words[i : i + 12]) for i in range(0, len(words), 12)) + "\r\n"


def make_message(rnd: random.Random, tag: str) -> bytes:
    """A distinct message of varied size and shape (plain text, or text plus a base64 attachment)."""
    size = message_size(rnd)
    header = (
        f"From: Crash Tester <tester{rnd.randrange(100)}@example.net>\r\n"
        "To: box@example.org\r\n"
        f"Subject: crash test {tag}\r\n"
        f"Message-ID: <{tag}@faults.example>\r\n"
        "Date: Mon, 04 May 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
    )
    if rnd.random() < 0.7:
        body = text_lines(rnd, size)
        return (header + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode()
    text = text_lines(rnd, min(size // 4, 4_000))
    attachment = base64.encodebytes(rnd.randbytes(size * 3 // 4)).decode().replace("\n", "\r\n")
    return (
        header + f'Content-Type: multipart/mixed; boundary="b-{tag}"\r\n\r\n'
        f"--b-{tag}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}"
        f"--b-{tag}\r\nContent-Type: application/octet-stream\r\n"
        f'Content-Disposition: attachment; filename="blob-{tag}.bin"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{attachment}"
        f"--b-{tag}--\r\n"
    ).encode()


def target_flags(rnd: random.Random) -> list[str]:
    return [flag for flag, p in SYSTEM_FLAG_CHOICES if rnd.random() < p]


class Log:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.next_op = 0

    def op_id(self) -> int:
        self.next_op += 1
        return self.next_op

    def write(self, record: dict[str, Any]) -> None:
        # One write() per line with O_APPEND: lines never interleave.
        os.write(self.fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())

    async def ack(self, record: dict[str, Any]) -> None:
        self.write({"t": "ack", **record})
        await asyncio.to_thread(os.fsync, self.fd)


class Child:
    def __init__(self, store: SqliteStore, log: Log, seed: int, mailbox_ids: list[int]) -> None:
        self.store = store
        self.log = log
        self.seed = seed
        self.mailbox_ids = mailbox_ids
        # Acknowledged placements no operation is working on: (mailbox, uid).
        self.pool: list[tuple[int, int]] = []
        self.sent: list[bytes] = []  # acknowledged message bytes, for delivering them again

    async def deliver(self, rnd: random.Random, data: bytes, fresh: bool) -> None:
        count = rnd.choice((1, 1, 1, 1, 1, 1, 2, 2, 2, 3))
        boxes = rnd.sample(self.mailbox_ids, min(count, len(self.mailbox_ids)))
        targets = [(box, target_flags(rnd)) for box in boxes]
        sha = hashlib.sha256(data).hexdigest()
        op = self.log.op_id()
        self.log.write(
            {"t": "begin", "op": op, "kind": "deliver", "sha": sha, "fresh": fresh, "targets": targets}
        )
        # Up to store.inline_blob_max the bytes are stored by the delivery's own transaction (a row of
        # the database), larger ones as a file first: both kinds die with the process here.
        blob = await self.store.new_blob(data)
        parsed = await asyncio.to_thread(parse_message, data, self.store.settings.mime)
        placed = await self.store.deliver(
            blob, parsed, [Target(box, frozenset(flags)) for box, flags in targets]
        )
        await self.log.ack({"op": op, "placed": [[p.mailbox_id, p.uid] for p in placed]})
        self.pool.extend((p.mailbox_id, p.uid) for p in placed)
        if fresh:
            self.sent.append(data)

    def claim(self, rnd: random.Random, most: int) -> tuple[int, list[int]] | None:
        """Take up to ``most`` acknowledged UIDs of one mailbox out of the pool."""
        if not self.pool:
            return None
        box = rnd.choice(self.pool)[0]
        mine = [item for item in self.pool if item[0] == box]
        chosen = rnd.sample(mine, min(len(mine), rnd.randint(1, most)))
        for item in chosen:
            self.pool.remove(item)
        return box, sorted(uid for _, uid in chosen)

    async def expunge(self, rnd: random.Random) -> None:
        claimed = self.claim(rnd, 3)
        if claimed is None:
            return
        box, uids = claimed
        op = self.log.op_id()
        self.log.write({"t": "begin", "op": op, "kind": "expunge", "mailbox": box, "uids": uids})
        changes = await self.store.expunge(box, uids)
        await self.log.ack({"op": op, "expunged": list(changes.expunged)})

    async def add_flags(self, rnd: random.Random) -> None:
        claimed = self.claim(rnd, 3)
        if claimed is None:
            return
        box, uids = claimed
        op = self.log.op_id()
        flags = [f"$k{self.seed}x{op}"] + (["\\Seen"] if rnd.random() < 0.5 else [])
        self.log.write(
            {"t": "begin", "op": op, "kind": "flags", "mailbox": box, "uids": uids, "flags": flags}
        )
        changes = await self.store.set_flags(box, uids, "add", flags)
        await self.log.ack({"op": op, "changed": [entry.uid for entry in changes.changed]})
        self.pool.extend((box, uid) for uid in uids)

    async def worker(self, index: int) -> None:
        rnd = random.Random(f"{self.seed}/{index}")
        n = 0
        while True:
            n += 1
            r = rnd.random()
            if r < 0.7 or not self.pool:
                await self.deliver(rnd, make_message(rnd, f"s{self.seed}-w{index}-n{n}"), fresh=True)
            elif r < 0.8 and self.sent:
                await self.deliver(rnd, rnd.choice(self.sent), fresh=False)
            elif r < 0.9:
                await self.expunge(rnd)
            else:
                await self.add_flags(rnd)

    async def reconstruct_loop(self) -> None:
        while True:
            await self.store.reconstruct(dry_run=False)


async def create_store(data_dir: Path) -> None:
    """Create a store (running its migrations) and an account, as a first start of the server does."""
    store = await open_sqlite_store(data_dir, Settings())
    try:
        await store.add_domain("example.org")
        await store.add_account("alice@example.org", "$argon2id$not-a-real-hash", None)
    finally:
        await store.close()


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("log_file")
    parser.add_argument("seed", type=int)
    parser.add_argument("mailbox_ids", help="comma-separated")
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--mode", choices=("deliver", "reconstruct", "create"), default="deliver")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="give up if never killed")
    args = parser.parse_args()
    if args.mode == "create":
        print("ready", flush=True)
        await create_store(args.data_dir)
        await asyncio.sleep(args.max_seconds)
        print("never killed", file=sys.stderr)
        return 3
    store = await open_sqlite_store(args.data_dir, Settings())
    child = Child(store, Log(args.log_file), args.seed, [int(x) for x in args.mailbox_ids.split(",")])
    jobs = [child.worker(i) for i in range(args.tasks)]
    if args.mode == "reconstruct":
        jobs.append(child.reconstruct_loop())
    print("ready", flush=True)
    try:
        await asyncio.wait_for(asyncio.gather(*jobs), args.max_seconds)
    except TimeoutError:
        print("never killed", file=sys.stderr)
        return 3
    return 0  # not reached: the workers run until killed or until one raises


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
