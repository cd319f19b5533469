"""Never lose acknowledged mail (DESIGN.md principle 1): SIGKILL a writing store, reopen it, check.

Each round starts ``store_crash_child.py`` on the same data directory; it delivers (8 concurrent
tasks, 1 KB - 300 KB messages, 1-3 mailboxes per message, the same bytes again now and then),
expunges and flags, logging each operation's intent before it starts and an fsync'ed
acknowledgement when the store call returned. The parent kills it with SIGKILL at a random moment,
reopens the store and checks, against its model of the store carried over from the round before:

- every acknowledged delivery is present at its acknowledged UID in each mailbox, with the bytes sent
  (SHA-256); every acknowledged expunge and flag change took effect; an operation in flight at the
  kill took effect entirely or not at all; nothing else changed;
- every message visible comes from an operation the child began (no stray or partial message), a
  multi-mailbox delivery in flight is in all its mailboxes or in none, its blob exists and hashes to
  its name, and one message row serves all copies of the same bytes (single-instance);
- UIDs are ascending, without duplicates, and never reused: new ones are above every UID handed out
  before the crash, acknowledged or expunged;
- counters (messages, unseen, deleted, size, quota) match the memberships, ``reconstruct(dry_run)``
  finds nothing to fix, ``verify()`` finds nothing missing or corrupt (unreferenced blobs of
  deliveries killed before their commit are allowed), and SQLite's ``integrity_check`` passes;
- a message delivered after the restart gets UIDs above all previous ones;
- read straight from the database file (read-only, store closed): no membership without its message,
  no message without its search text or holder, no UID both present and expunged.

The slow variant of the reconstruct test spoils caches and counters first, then kills a child running
``reconstruct()`` in a loop beside two delivering tasks: after the restart the same checks hold, and a
new ``reconstruct()`` finishes the repair (the dry run after it finds nothing).

The seed (``POCHTA_FAULT_SEED`` to replay message contents and kill delays) is in every assertion
message; the kill timing itself is real time, so a replay hits similar, not identical, instants.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from faults_support import Child, base_seed, read_log, scan_blob_tree

from pochta.config import Settings
from pochta.mime import parse_message
from pochta.store.model import MessageEntry, Target
from pochta.store.sqlite.store import BLOB_DIR_NAME, DB_FILE_NAME, SqliteStore, open_sqlite_store
from server_env import stored_blob_names

CHILD = Path(__file__).with_name("store_crash_child.py")
SETTINGS = Settings()
ACCOUNTS = ("alice@example.org", "bob@example.org")
BOXES = ("INBOX", "Archive")
Key = tuple[int, int]  # (mailbox id, uid)


@dataclass(frozen=True)
class Expected:
    sha256: str
    flags: frozenset[str]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class CrashHarness:
    """One data directory and the parent's model of what the store must hold."""

    def __init__(self, workdir: Path, seed: int) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.seed = seed
        self.state: dict[Key, Expected] = {}  # every membership, as observed after the last round
        self.uidnext: dict[int, int] = {}
        self.accounts: dict[int, list[int]] = {}  # account id -> all its mailbox ids
        self.mailbox_ids: list[int] = []
        self.shas_begun: set[str] = set()  # every blob any child or the parent may have written
        self.rounds = 0
        self.acked = 0
        self.in_flight = 0  # operations begun and not acknowledged when their child was killed
        self.repairs: list[tuple[int, int]] = []  # (caches still spoilt, messages) after a reconstruct kill
        run(self._setup())

    async def _open(self) -> SqliteStore:
        return await open_sqlite_store(self.data_dir, SETTINGS)

    async def _setup(self) -> None:
        store = await self._open()
        try:
            await store.add_domain("example.org")
            for address in ACCOUNTS:
                account = await store.add_account(address, "$argon2id$not-a-real-hash", None)
                self.accounts[account.id] = [info.id for info in await store.mailboxes(account.id)]
                for name in BOXES:
                    info = await store.get_mailbox(account.id, name)
                    assert info is not None
                    self.mailbox_ids.append(info.id)
                    self.uidnext[info.id] = info.uidnext
        finally:
            await store.close()

    # One round

    def round(self, mode: str = "deliver", max_delay: float = 0.8) -> None:
        self.rounds += 1
        seed = self.seed * 1000 + self.rounds
        delay = random.Random(seed).uniform(0.0, max_delay)
        ctx = f"[seed={self.seed} round={self.rounds} mode={mode} kill_after={delay:.3f}s]"
        if mode == "reconstruct":
            self._scramble_derived()
        log = self.workdir / f"log-{self.rounds}.jsonl"
        child = Child(
            [
                str(CHILD),
                str(self.data_dir),
                str(log),
                str(seed),
                ",".join(map(str, self.mailbox_ids)),
                "--mode",
                mode,
                "--tasks",
                "8" if mode == "deliver" else "2",
            ],
            self.workdir / f"stderr-{self.rounds}.txt",
        )
        child.wait_ready()
        child.kill_after(delay)
        records = read_log(log)
        ctx = ctx[:-1] + f" ops={sum(r['t'] == 'begin' for r in records)}]"
        run(self._check(records, ctx, repair=mode == "reconstruct"))
        self._check_sqlite(ctx)
        self._check_blob_tree(ctx)

    def _scramble_derived(self) -> None:
        """Spoil caches and counters so that the reconstruct being killed has real writes to do."""
        conn = sqlite3.connect(self.data_dir / DB_FILE_NAME, timeout=10, isolation_level=None)
        try:
            conn.executescript(
                """
                UPDATE messages SET parsed_json = CAST('{"garbage": true}' AS BLOB);
                UPDATE mailboxes SET messages = messages + 7, unseen = unseen + 3, size = size * 2 + 1;
                UPDATE quota_usage SET bytes = bytes + 12345, messages = messages + 5;
                UPDATE messages SET refcount = refcount + 1;
                """
            )
        finally:
            conn.close()

    async def _check(self, records: list[dict[str, Any]], ctx: str, repair: bool) -> None:
        begins = {r["op"]: r for r in records if r["t"] == "begin"}
        acks = {r["op"]: r for r in records if r["t"] == "ack"}
        assert acks.keys() <= begins.keys(), f"{ctx} ack without begin"
        self.acked += len(acks)
        self.in_flight += len(begins) - len(acks)
        for op in begins.values():
            if op["kind"] == "deliver":
                self.shas_begun.add(op["sha"])

        store = await self._open()
        try:
            now: dict[Key, MessageEntry] = {}
            infos = {}
            for box in self.mailbox_ids:
                view = await store.open_view(box)
                infos[box] = view.mailbox
                uids = [entry.uid for entry in view.messages]
                assert uids == sorted(set(uids)), (
                    f"{ctx} UIDs of mailbox {box} not strictly ascending: {uids}"
                )
                now.update(((box, entry.uid), entry) for entry in view.messages)

            expected = dict(self.state)
            acked_uids: dict[int, set[int]] = defaultdict(set)
            for op_id, ack in acks.items():
                op = begins[op_id]
                if op["kind"] == "deliver":
                    placed = [tuple(p) for p in ack["placed"]]
                    assert [box for box, _ in placed] == [box for box, _ in op["targets"]], (
                        f"{ctx} op {op_id}: placed {placed} for targets {op['targets']}"
                    )
                    for (box, uid), (_, flags) in zip(placed, op["targets"], strict=True):
                        assert uid >= self.uidnext[box], (
                            f"{ctx} op {op_id}: UID {uid} in mailbox {box} reused (UIDNEXT was "
                            f"{self.uidnext[box]} before the round)"
                        )
                        assert (box, uid) not in expected, f"{ctx} op {op_id}: UID {uid} given twice"
                        expected[(box, uid)] = Expected(op["sha"], frozenset(flags))
                        acked_uids[box].add(uid)
                elif op["kind"] == "expunge":
                    assert ack["expunged"] == op["uids"], f"{ctx} op {op_id}: expunge answered {ack}"
                    acked_uids[op["mailbox"]].update(op["uids"])
                else:
                    assert ack["changed"] == op["uids"], f"{ctx} op {op_id}: flag change answered {ack}"

            # Operations on acknowledged messages: what each key must and may look like.
            touched: dict[Key, list[dict[str, Any]]] = defaultdict(list)
            for op in begins.values():
                if op["kind"] != "deliver":
                    for uid in op["uids"]:
                        touched[(op["mailbox"], uid)].append(op)
            for key, want in expected.items():
                ops = touched.get(key, [])
                expunges = [op for op in ops if op["kind"] == "expunge"]
                entry = now.get(key)
                if any(op["op"] in acks for op in expunges):
                    assert entry is None, f"{ctx} {key} was expunged (acknowledged) but is still there"
                    continue
                if entry is None:
                    assert expunges, f"{ctx} acknowledged message {key} ({want.sha256}) is lost"
                    continue
                assert entry.blob.sha256 == want.sha256, (
                    f"{ctx} {key} holds {entry.blob.sha256}, expected {want.sha256}"
                )
                must, may = set(want.flags), set(want.flags)
                for op in ops:
                    if op["kind"] == "flags":
                        may.update(op["flags"])
                        if op["op"] in acks:
                            must.update(op["flags"])
                assert must <= entry.flags <= may, (
                    f"{ctx} {key} flags {sorted(entry.flags)}, "
                    f"must have {sorted(must)}, may have {sorted(may)}"
                )

            # Messages nobody acknowledged: only from a delivery in flight, and all of it or none.
            in_flight = [op for op_id, op in begins.items() if op["kind"] == "deliver" and op_id not in acks]
            allowed: dict[tuple[int, str], list[frozenset[str]]] = defaultdict(list)
            for op in in_flight:
                for box, flags in op["targets"]:
                    allowed[(box, op["sha"])].append(frozenset(flags))
            extra = {key: entry for key, entry in now.items() if key not in expected}
            for (box, uid), entry in extra.items():
                options = allowed.get((box, entry.blob.sha256))
                assert options, (
                    f"{ctx} ({box}, {uid}) holds {entry.blob.sha256}, which no operation sent there"
                )
                assert entry.flags in options, f"{ctx} ({box}, {uid}) has flags {sorted(entry.flags)}"
                assert uid >= self.uidnext[box], f"{ctx} ({box}, {uid}) reuses a UID"
            for op in in_flight:
                if not op["fresh"]:
                    continue  # bytes also delivered by other operations: no way to tell them apart
                found = Counter(box for (box, _), e in extra.items() if e.blob.sha256 == op["sha"])
                wanted = Counter(box for box, _ in op["targets"])
                assert not found or found == wanted, (
                    f"{ctx} delivery {op['op']} in flight is half there: "
                    f"in {dict(found)}, sent to {dict(wanted)}"
                )

            # Bytes, sizes and single instance.
            message_ids: dict[str, set[int]] = defaultdict(set)
            for key, entry in now.items():
                message_ids[entry.blob.sha256].add(entry.message_id)
                with store.open_blob(entry.blob) as f:
                    data = f.read()
                assert hashlib.sha256(data).hexdigest() == entry.blob.sha256, f"{ctx} {key}: blob corrupt"
                assert len(data) == entry.size == entry.blob.size, f"{ctx} {key}: size mismatch"
            shared = {sha: ids for sha, ids in message_ids.items() if len(ids) > 1}
            assert not shared, f"{ctx} same bytes stored as several messages: {shared}"

            report = await store.verify()
            assert not report.missing_blobs, f"{ctx} missing blobs {report.missing_blobs}"
            assert not report.corrupt_blobs, f"{ctx} corrupt blobs {report.corrupt_blobs}"
            assert not report.integrity_errors, f"{ctx} integrity errors {report.integrity_errors}"
            stray = set(report.unreferenced_blobs) - self.shas_begun
            assert not stray, f"{ctx} blobs nobody wrote: {sorted(stray)}"

            if repair:
                # A reconstruct killed half way must leave work that a new reconstruct finishes.
                fixed = await store.reconstruct(dry_run=False)
                assert not fixed.missing_blobs, f"{ctx} reconstruct: missing blobs {fixed.missing_blobs}"
                self.repairs.append((fixed.caches_changed, fixed.messages_reparsed))
                for box in self.mailbox_ids:
                    infos[box] = (await store.open_view(box)).mailbox
            dry = await store.reconstruct(dry_run=True)
            assert (dry.caches_changed, dry.counters_changed, dry.quota_changed, dry.missing_blobs) == (
                0,
                0,
                0,
                [],
            ), f"{ctx} derived data wrong after restart: {dry}"

            # Counters against the memberships.
            for box, info in infos.items():
                entries = [e for (b, _), e in now.items() if b == box]
                counts = (
                    len(entries),
                    sum(e.size for e in entries),
                    sum("\\Seen" not in e.flags for e in entries),
                    sum("\\Deleted" in e.flags for e in entries),
                )
                assert (info.messages, info.size, info.unseen, info.deleted) == counts, (
                    f"{ctx} mailbox {box} counters {info} != (messages, size, unseen, deleted) {counts}"
                )
                top = max([uid for b, uid in now if b == box] + list(acked_uids[box]), default=0)
                assert info.uidnext > top, f"{ctx} mailbox {box} UIDNEXT {info.uidnext} <= UID {top}"
                assert info.uidnext >= self.uidnext[box], f"{ctx} mailbox {box} UIDNEXT went back"
            for account_id, boxes in self.accounts.items():
                used = sum(e.size for (b, _), e in now.items() if b in boxes)
                assert await store.quota_usage(account_id) == used, f"{ctx} quota of account {account_id}"

            # One more delivery: UIDs above everything handed out before the crash.
            data = (
                f"From: parent@example.net\r\nSubject: after round {self.rounds}\r\n"
                f"Message-ID: <after-{self.seed}-{self.rounds}@faults.example>\r\n\r\nstill here\r\n"
            ).encode()
            self.shas_begun.add(hashlib.sha256(data).hexdigest())
            blob = await store.put_blob(data)
            placed = await store.deliver(
                blob, parse_message(data, SETTINGS.mime), [Target(box) for box in self.mailbox_ids]
            )
            for p in placed:
                earlier = [uid for b, uid in now if b == p.mailbox_id] + list(acked_uids[p.mailbox_id])
                before = max([*earlier, self.uidnext[p.mailbox_id] - 1])
                assert p.uid > before, f"{ctx} UID {p.uid} in mailbox {p.mailbox_id} not above {before}"

            # The new model: what is there now.
            self.state = {}
            for box in self.mailbox_ids:
                view = await store.open_view(box)
                self.uidnext[box] = view.mailbox.uidnext
                for entry in view.messages:
                    self.state[(box, entry.uid)] = Expected(entry.blob.sha256, entry.flags)
        finally:
            await store.close()

    def _check_sqlite(self, ctx: str) -> None:
        """The database file itself, read-only, with the store closed."""
        path = self.data_dir / DB_FILE_NAME
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], f"{ctx} integrity_check"
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == [], f"{ctx} foreign_key_check"
            checks = {
                "membership without its message": "SELECT count(*) FROM membership "
                "WHERE message_id NOT IN (SELECT id FROM messages)",
                "message without search text": "SELECT count(*) FROM messages "
                "WHERE id NOT IN (SELECT message_id FROM message_search_text)",
                # Kept after the message went only until the indexer takes it out of the index.
                "search text without message or removal queued": "SELECT count(*) FROM message_search_text "
                "WHERE message_id NOT IN (SELECT id FROM messages) "
                "AND message_id NOT IN (SELECT message_id FROM search_queue WHERE action = 2)",
                "header values without message": "SELECT count(*) FROM message_header_values "
                "WHERE message_id NOT IN (SELECT id FROM messages)",
                "message text neither indexed nor queued": "SELECT count(*) FROM message_search_text AS t "
                "WHERE t.message_id NOT IN (SELECT message_id FROM search_queue) "
                "AND t.message_id NOT IN (SELECT rowid FROM message_index WHERE message_index MATCH "
                "'\"' || replace(substr(t.headers || t.body || '   ', 1, 3), '\"', '\"\"') || '\"')",
                "message nobody holds": "SELECT count(*) FROM messages "
                "WHERE id NOT IN (SELECT message_id FROM membership)",
                "UID both present and expunged": "SELECT count(*) FROM membership AS m "
                "JOIN expunged AS e ON e.mailbox_id = m.mailbox_id AND e.uid = m.uid",
                "UIDNEXT not above a UID": "SELECT count(*) FROM mailboxes AS b WHERE b.uidnext <= max("
                "(SELECT coalesce(max(uid), 0) FROM membership WHERE mailbox_id = b.id), "
                "(SELECT coalesce(max(uid), 0) FROM expunged WHERE mailbox_id = b.id))",
                "HIGHESTMODSEQ below a MODSEQ": "SELECT count(*) FROM mailboxes AS b "
                "WHERE b.highestmodseq < max("
                "(SELECT coalesce(max(modseq), 0) FROM membership WHERE mailbox_id = b.id), "
                "(SELECT coalesce(max(modseq), 0) FROM expunged WHERE mailbox_id = b.id))",
            }
            for what, sql in checks.items():
                assert conn.execute(sql).fetchone() == (0,), f"{ctx} {what}"
        finally:
            conn.close()

    def _check_blob_tree(self, ctx: str) -> None:
        blobs, _temps, problems = scan_blob_tree(self.data_dir / BLOB_DIR_NAME)
        assert not problems, f"{ctx} {problems}"
        stored = blobs.keys() | stored_blob_names(self.data_dir)  # files and rows of the database
        assert {want.sha256 for want in self.state.values()} <= stored, f"{ctx} blobs missing"


def test_sigkill_during_deliveries_loses_no_acknowledged_mail(tmp_path: Path) -> None:
    seed = base_seed()
    harness = CrashHarness(tmp_path, seed)
    for _ in range(5):
        harness.round()
    # The kills must have landed among real work, or the test proves nothing.
    assert harness.acked > 0, f"[seed={seed}] no operation was acknowledged before any kill"
    assert harness.in_flight > 0, f"[seed={seed}] no kill landed while an operation was in flight"


@pytest.mark.slow
def test_sigkill_during_deliveries_many_rounds(tmp_path: Path) -> None:
    seed = base_seed()
    acked = in_flight = 0
    for epoch in range(10):
        # A fresh data directory every 10 rounds keeps each round's full check fast.
        harness = CrashHarness(tmp_path / f"epoch-{epoch}", seed + epoch)
        for _ in range(10):
            harness.round()
        acked += harness.acked
        in_flight += harness.in_flight
    assert acked > 0, f"[seed={seed}] no operation was acknowledged before any kill"
    assert in_flight > 0, f"[seed={seed}] no kill landed while an operation was in flight"


@pytest.mark.slow
def test_sigkill_during_reconstruct(tmp_path: Path) -> None:
    seed = base_seed()
    harness = CrashHarness(tmp_path, seed)
    for _ in range(4):
        harness.round()  # enough messages that one reconstruct pass takes a while
    for _ in range(20):
        harness.round("reconstruct", max_delay=1.0)
    # (caches the restarted store still found spoilt, messages) per round: some kill must have cut a
    # reconstruct short, or this only tested restarts after finished ones.
    assert any(spoilt > 0 for spoilt, _ in harness.repairs), f"[seed={seed}] {harness.repairs}"


async def _start_after_killed_creation(data_dir: Path, ctx: str) -> None:
    store = await open_sqlite_store(data_dir, SETTINGS)
    try:
        if await store.get_domain("example.org") is None:
            await store.add_domain("example.org")
        account = await store.get_account("alice@example.org")
        if account is None:
            account = await store.add_account("alice@example.org", "$argon2id$x", None)
        names = sorted(info.name for info in await store.mailboxes(account.id))
        assert "INBOX" in names, f"{ctx} account without its mailboxes: {names}"
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        data = b"From: parent@example.net\r\nSubject: first\r\n\r\nhello\r\n"
        blob = await store.put_blob(data)
        (placed,) = await store.deliver(blob, parse_message(data, SETTINGS.mime), [Target(inbox.id)])
        assert placed.uid >= 1
        report = await store.verify()
        assert not report.damaged, f"{ctx} {report}"
    finally:
        await store.close()


def _kill_during_creation(tmp_path: Path, rounds: int) -> None:
    """Kill the first start of a store (schema migrations, first account) at random instants: the next
    start must finish the job on whatever was left."""
    seed = base_seed()
    for n in range(rounds):
        delay = random.Random(seed * 1000 + n).uniform(0.0, 0.4)
        ctx = f"[seed={seed} round={n + 1} kill_after={delay:.3f}s]"
        data_dir = tmp_path / f"create-{n}"
        child = Child(
            [str(CHILD), str(data_dir), str(tmp_path / "unused.log"), "0", "0", "--mode", "create"],
            tmp_path / f"create-stderr-{n}.txt",
        )
        child.wait_ready()
        child.kill_after(delay)
        run(_start_after_killed_creation(data_dir, ctx))
        conn = sqlite3.connect(f"file:{data_dir / DB_FILE_NAME}?mode=ro", uri=True)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], f"{ctx} integrity_check"
        finally:
            conn.close()


def test_sigkill_during_store_creation(tmp_path: Path) -> None:
    _kill_during_creation(tmp_path, 2)


@pytest.mark.slow
def test_sigkill_during_store_creation_many_rounds(tmp_path: Path) -> None:
    _kill_during_creation(tmp_path, 30)
