"""SIGKILL trials of a real ``pochta serve`` under concurrent load; every acknowledgement is checked.

    .venv/bin/python bench/crash_trials.py [--trials 100] [--seed N] [--data-root DIR]
                                           [--max-load 2.5] [--keep-logs] [--stop-on-violation]

One data directory is reused by every trial, so the store's state accumulates from trial to trial:
each crash lands on a store that already went through all the crashes before it (WAL recovery on
top of WAL recovery, UIDs that must stay above everything handed out before any earlier crash,
expunge records, unreferenced blobs and their collection). A fresh directory per trial would only
ever test the first crash of an empty store.

A trial:

1. starts ``pochta serve`` (SMTP, LMTP, IMAP, POP3 on free 127.0.0.1 ports, read from its log);
   this is the restart after the previous trial's kill. It checks over IMAP that each mailbox has
   the UIDVALIDITY, UIDNEXT and message count the store had after the kill;
2. runs concurrent load: two SMTP (MX) sessions and one LMTP session delivering to alice and/or bob,
   an IMAP session APPENDing to alice's Drafts, an IMAP session on alice's INBOX, Drafts and Archive
   doing ``UID STORE`` (\\Flagged), ``UID EXPUNGE`` (of one or several UIDs) and ``UID MOVE``, and
   POP3 sessions of bob doing DELE + QUIT. Each client records what the server acknowledged
   (SMTP/LMTP 250, per recipient for LMTP; APPEND OK with its APPENDUID; STORE/EXPUNGE/MOVE OK with
   MOVE's COPYUID; +OK to QUIT);
3. SIGKILLs the server at a random moment (uniform in 0.2 s .. ``--max-load``; one trial in 20 is
   killed during startup instead);
4. runs ``pochta verify`` (must exit 0), walks the blob tree (no corrupt or foreign file), opens the
   store and compares it with the model of what was acknowledged:

   - every acknowledged message is in its mailbox, once, byte-identical to what was sent (APPEND:
     exactly; SMTP/LMTP: the bytes sent after the trace fields the server prepended), at the UID
     the server gave (APPENDUID, COPYUID), with the \\Flagged state last acknowledged;
   - nothing acknowledged as removed (UID EXPUNGE, the source of a UID MOVE, POP3 DELE + QUIT) is
     there; a message moved is in exactly one of its two mailboxes, even when the MOVE was cut
     short; a POP3 QUIT or a UID EXPUNGE of several messages cut short removed all or none;
   - no message appears that was not sent, or twice in one account (never copied, only moved);
   - no UID is reused: a UID seen (in the store, or by a client during the load) names the same
     message every time, a UID not present at the previous check is above every UID handed out
     before, UIDNEXT is above all of them, and UIDVALIDITY never changes;
   - the server log holds no traceback.

   Operations cut short by the kill may have happened or not, but only entirely. After the check
   the model becomes what the store holds (so the next trial starts from the truth).

The model and the counts are saved in ``DATA_ROOT/state.json`` after every trial: running the same
command again resumes (``--trials`` is the total to reach). A run interrupted in the middle of a
trial (Ctrl-C) resumes with one lenient check, since the acknowledgements of the interrupted trial
were not saved. Without ``--data-root`` a temporary directory is used and removed at the end when
no violation was found. The server log of a trial is kept (``DATA_ROOT/logs/``) when the trial
found a violation, or with ``--keep-logs``.

Messages are a function of their token (``X-Trial-Token``), so their expected bytes are never stored.
The exit status is 1 if any violation was found, 0 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "faults")]

from faults_support import base_seed, scan_blob_tree  # noqa: E402

from pochta.config import load_settings  # noqa: E402
from pochta.store.sqlite.store import open_sqlite_store  # noqa: E402
from serve_process import ServeProcess, init_data_dir, run_pochta  # noqa: E402

PASSWORD = "crash-trial-pw"
ALICE, BOB = "alice@example.org", "bob@example.org"
BOXES = {ALICE: ("INBOX", "Drafts", "Archive"), BOB: ("INBOX",)}
ALL_BOXES = [f"{account}/{name}" for account, names in BOXES.items() for name in names]
LISTENERS = ("smtp", "lmtp", "imap", "pop3")
# Load as a stress test wants it: no per-IP or per-session caps; blobs orphaned by expunges are
# collected while trials run (grace 30 s, a sweep every 2 s), so the sweeper gets killed too.
CONFIG = """
[server]
max_connections_per_ip = 1000

[smtp]
max_messages_per_connection = 0

[store]
blob_grace_seconds = 30.0
blob_collect_interval = 2.0
"""
BIG_MAILBOX = 30  # above this many messages the removers remove more than the senders add
TOKEN_HEADER = re.compile(rb"^X-Trial-Token: ([a-z0-9]+)\r$", re.MULTILINE | re.IGNORECASE)
TRACE_FIELDS = re.compile(rb"\A(?:[A-Za-z][A-Za-z0-9-]*:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)*\Z")
WORDS = [
    "mail",
    "store",
    "crash",
    "durable",
    "fsync",
    "commit",
    "blob",
    "journal",
    "uid",
    "modseq",
    "restart",
    "почта",
    "郵便",
    "café",
]


def message_bytes(token: str) -> bytes:
    """The message a token stands for (deterministic: the same token always gives the same bytes)."""
    rnd = random.Random(token)
    r = rnd.random()
    size = (
        rnd.randint(300, 5000)
        if r < 0.7
        else rnd.randint(5000, 60000)
        if r < 0.96
        else rnd.randint(100_000, 400_000)
    )
    head = (
        f"From: Crash Trial <sender@example.net>\r\nTo: <{ALICE}>\r\nSubject: crash trial {token}\r\n"
        f"Message-ID: <{token}@crash.example>\r\nX-Trial-Token: {token}\r\n"
        "Date: Sun, 06 Dec 2026 08:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode()
    lines = [head]
    total = len(head)
    while total < size:
        line = (" ".join(rnd.choices(WORDS, k=rnd.randint(1, 14))) + "\r\n").encode()
        lines.append(line)  # no line starts with "." (no dot-stuffing needed)
        total += len(line)
    return b"".join(lines)


def matches(token: str, stored: bytes) -> bool:
    """``stored`` is the message of ``token``: APPENDed ones ("a...") byte for byte, delivered ones
    after the trace fields (Received:, Return-Path: ...) the server put in front."""
    sent = message_bytes(token)
    if token.startswith("a"):
        return stored == sent
    return stored.endswith(sent) and TRACE_FIELDS.match(stored[: len(stored) - len(sent)]) is not None


def token_of(data: bytes) -> str | None:
    found = TOKEN_HEADER.search(data[:4096])
    return found.group(1).decode() if found else None


# -- the model --------------------------------------------------------------------------------------


@dataclass
class Place:
    """A message in one mailbox as the model expects it: ``yes`` (acknowledged) or ``maybe`` (an
    operation cut short may or may not have put it there, or removed it)."""

    state: str
    uid: int | None = None
    flagged: bool | None = None  # None: not known (a STORE was cut short)


@dataclass
class State:
    seed: int
    trials_done: int = 0
    in_progress: bool = False
    places: dict[str, dict[str, Place]] = field(default_factory=dict)  # token -> box -> Place
    uids: dict[str, dict[int, str]] = field(default_factory=dict)  # box -> uid -> token, at last check
    high: dict[str, int] = field(default_factory=dict)  # box -> highest UID ever seen or handed out
    uidvalidity: dict[str, int] = field(default_factory=dict)
    uidnext: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # box -> messages, at last check
    totals: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def save(self, path: Path) -> None:
        data = {
            "seed": self.seed,
            "trials_done": self.trials_done,
            "in_progress": self.in_progress,
            "places": {
                t: {b: [p.state, p.uid, p.flagged] for b, p in boxes.items()}
                for t, boxes in self.places.items()
            },
            "uids": {b: {str(u): t for u, t in m.items()} for b, m in self.uids.items()},
            "high": self.high,
            "uidvalidity": self.uidvalidity,
            "uidnext": self.uidnext,
            "counts": self.counts,
            "totals": dict(self.totals),
            "violations": self.violations,
            "seconds": self.seconds,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> State:
        data = json.loads(path.read_text())
        return cls(
            seed=data["seed"],
            trials_done=data["trials_done"],
            in_progress=data["in_progress"],
            places={
                t: {b: Place(p[0], p[1], p[2]) for b, p in boxes.items()}
                for t, boxes in data["places"].items()
            },
            uids={b: {int(u): t for u, t in m.items()} for b, m in data["uids"].items()},
            high=data["high"],
            uidvalidity=data["uidvalidity"],
            uidnext=data["uidnext"],
            counts=data["counts"],
            totals=Counter(data["totals"]),
            violations=data["violations"],
            seconds=data["seconds"],
        )


@dataclass
class Observed:
    uid: int
    flagged: bool
    token: str | None
    intact: bool


@dataclass
class Snapshot:
    """What the store holds, read with the server dead."""

    boxes: dict[str, list[Observed]]
    uidvalidity: dict[str, int]
    uidnext: dict[str, int]


async def read_store(data: Path) -> Snapshot:
    store = await open_sqlite_store(data, load_settings(data / "pochta.toml"))
    try:
        snapshot = Snapshot({}, {}, {})
        for account, names in BOXES.items():
            info_account = await store.get_account(account)
            assert info_account is not None
            for name in names:
                box = f"{account}/{name}"
                info = await store.get_mailbox(info_account.id, name)
                assert info is not None, box
                view = await store.open_view(info.id)
                found = []
                for index in range(len(view)):
                    with store.open_blob(view.blob(index)) as blob:
                        stored = blob.read()
                    token = token_of(stored)
                    found.append(
                        Observed(
                            uid=view.uids[index],
                            flagged="\\Flagged" in view.flags[index],
                            token=token,
                            intact=token is not None and matches(token, stored),
                        )
                    )
                snapshot.boxes[box] = found
                snapshot.uidvalidity[box] = info.uidvalidity
                snapshot.uidnext[box] = info.uidnext
        return snapshot
    finally:
        await store.close()


class Trial:
    """The model's changes during one trial, made by the load clients as replies arrive."""

    def __init__(self, state: State, number: int, rnd: random.Random) -> None:
        self.state = state
        self.number = number
        self.rnd = rnd
        self.serial = 0
        self.acked: Counter[str] = Counter()
        self.seen: dict[str, dict[int, str]] = {box: {} for box in ALL_BOXES}  # by clients during load
        self.handed_out: dict[str, list[tuple[int, str]]] = {box: [] for box in ALL_BOXES}  # APPENDUID...
        self.one_of: list[tuple[str, str, str]] = []  # (token, source, destination) of a MOVE cut short
        # the messages of a POP3 QUIT (its DELEs) or a UID EXPUNGE of several UIDs, cut short
        self.all_or_none: list[tuple[str, list[tuple[str, str]]]] = []
        self.notes: list[str] = []  # refusals and dropped connections before the kill (not violations)
        self.killed = False
        self.phases: dict[str, float] = {}
        self.violations: list[str] = []

    def token(self, kind: str) -> str:
        self.serial += 1
        return f"{kind}{self.number}x{self.serial}"

    async def pace(self) -> None:
        """Senders slow down while the store holds many messages, so that the removers keep it
        small (the checks read every message after every trial)."""
        sizes = Counter(box for boxes in self.state.places.values() for box in boxes)
        if max(sizes.values(), default=0) > 2 * BIG_MAILBOX:
            await asyncio.sleep(0.3)

    def violation(self, text: str) -> None:
        self.violations.append(f"trial {self.number}: {text}")

    def note(self, text: str) -> None:
        if not self.killed:
            self.notes.append(text)

    def place(self, token: str, box: str) -> Place | None:
        return self.state.places.get(token, {}).get(box)

    def acknowledged_in(self, box: str) -> dict[int, str]:
        """UID -> token of the messages of ``box`` acknowledged there with a known UID."""
        return {
            p.uid: token
            for token, boxes in self.state.places.items()
            if (p := boxes.get(box)) is not None and p.state == "yes" and p.uid is not None
        }

    def begin_delivery(self, token: str, box: str) -> None:
        self.state.places.setdefault(token, {})[box] = Place("maybe")

    def ack_delivery(self, token: str, box: str, kind: str, uid: int | None = None) -> None:
        self.state.places[token][box] = Place("yes", uid, False)
        self.acked[kind] += 1
        if uid is not None:
            self.hand_out(box, uid, token)

    def hand_out(self, box: str, uid: int, token: str) -> None:
        for other_uid, other in self.handed_out[box]:
            if other_uid == uid and other != token:
                self.violation(f"{box}: UID {uid} handed out twice, to {other} and to {token}")
        self.handed_out[box].append((uid, token))
        self.observe(box, uid, token)

    def observe(self, box: str, uid: int, token: str) -> None:
        earlier = self.seen[box].get(uid) or self.state.uids.get(box, {}).get(uid)
        if earlier is not None and earlier != token:
            self.violation(f"{box}: UID {uid} reused: it was {earlier}, now {token}")
        self.seen[box][uid] = token


# -- minimal protocol clients -------------------------------------------------------------------------


class Closed(Exception):
    pass


class Wire:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Wire:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def line(self) -> bytes:
        line = await self.reader.readline()
        if not line.endswith(b"\n"):
            raise Closed("connection closed")
        return line

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def close(self) -> None:
        self.writer.close()


async def smtp_reply(wire: Wire) -> int:
    while True:
        line = await wire.line()
        if line[3:4] != b"-":
            return int(line[:3])


async def smtp_command(wire: Wire, text: str, want: int) -> None:
    wire.send(text.encode() + b"\r\n")
    code = await smtp_reply(wire)
    if code != want:
        raise Closed(f"{text.split()[0]} got {code}")


async def smtp_sender(trial: Trial, port: int, lmtp: bool) -> None:
    kind = "l" if lmtp else "s"
    rnd = random.Random(f"{trial.rnd.random()}")
    while True:
        wire: Wire | None = None
        try:
            wire = await Wire.open(port)
            await smtp_reply(wire)
            await smtp_command(wire, ("LHLO" if lmtp else "EHLO") + " crash.example", 250)
            for _ in range(rnd.randint(1, 20)):
                token = trial.token(kind)
                accounts = rnd.sample([ALICE, BOB], k=rnd.choice([1, 1, 2]))
                await smtp_command(wire, "MAIL FROM:<sender@example.net>", 250)
                for account in accounts:
                    await smtp_command(wire, f"RCPT TO:<{account}>", 250)
                await smtp_command(wire, "DATA", 354)
                for account in accounts:
                    trial.begin_delivery(token, f"{account}/INBOX")
                wire.send(message_bytes(token) + b".\r\n")
                await trial.pace()
                for account in accounts if lmtp else [None]:
                    code = await smtp_reply(wire)  # RFC 2033 §4.2: LMTP replies once per recipient
                    if code != 250:
                        trial.note(f"{kind}: {token} refused with {code}")
                        continue
                    for target in [account] if account else accounts:
                        trial.ack_delivery(token, f"{target}/INBOX", "smtp" if not lmtp else "lmtp")
            await smtp_command(wire, "QUIT", 221)
        except (Closed, OSError, asyncio.IncompleteReadError) as exc:
            trial.note(f"{kind}: {exc!r}")
            await asyncio.sleep(0.1)
        finally:
            if wire is not None:
                wire.close()


class Imap:
    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.tags = 0

    @classmethod
    async def login(cls, port: int, account: str) -> Imap:
        imap = cls(await Wire.open(port))
        await imap.response()  # greeting
        await imap.command(f'LOGIN {account} "{PASSWORD}"')
        return imap

    async def response(self) -> bytes:
        """One response, with its literals inline."""
        line = await self.wire.line()
        while (found := re.search(rb"\{(\d+)\}\r\n$", line)) is not None:
            line += await self.wire.reader.readexactly(int(found.group(1)))
            line += await self.wire.line()
        return line

    async def command(self, text: str, literal: bytes | None = None) -> list[bytes]:
        """Send a command; its untagged responses and then its tagged OK (Closed if not OK)."""
        self.tags += 1
        tag = f"c{self.tags}".encode()
        if literal is None:
            self.wire.send(tag + b" " + text.encode() + b"\r\n")
        else:
            self.wire.send(tag + b" " + text.encode() + b" {%d}\r\n" % len(literal))
            if not (await self.response()).startswith(b"+"):
                raise Closed(f"no continuation for {text}")
            self.wire.send(literal + b"\r\n")
        lines = []
        while True:
            line = await self.response()
            lines.append(line)
            if line.startswith(tag + b" "):
                if line.split(b" ", 2)[1] != b"OK":
                    raise Closed(f"{text[:40]}: {line[:200]!r}")
                return lines


def copyuid(lines: list[bytes]) -> int | None:
    for line in lines:
        found = re.search(rb"\[(?:COPYUID|APPENDUID) \d+ (?:\d+ )?(\d+)\]", line)
        if found:
            return int(found.group(1))
    return None


async def imap_appender(trial: Trial, port: int) -> None:
    box = f"{ALICE}/Drafts"
    while True:
        imap: Imap | None = None
        try:
            imap = await Imap.login(port, ALICE)
            for _ in range(trial.rnd.randint(1, 20)):
                token = trial.token("a")
                trial.begin_delivery(token, box)
                await trial.pace()
                lines = await imap.command("APPEND Drafts (\\Seen)", message_bytes(token))
                uid = copyuid(lines)
                if uid is None:
                    trial.violation(f"APPEND of {token} without APPENDUID: {lines[-1]!r}")
                trial.ack_delivery(token, box, "append", uid)
        except (Closed, OSError, asyncio.IncompleteReadError) as exc:
            trial.note(f"append: {exc!r}")
            await asyncio.sleep(0.1)
        finally:
            if imap is not None:
                imap.wire.close()


FETCH_UID = re.compile(rb"^\* \d+ FETCH \(.*?\bUID (\d+)")


async def imap_mutator(trial: Trial, port: int) -> None:
    rnd = random.Random(f"{trial.rnd.random()}")
    while True:
        imap: Imap | None = None
        try:
            imap = await Imap.login(port, ALICE)
            while True:
                name = rnd.choice(["INBOX", *BOXES[ALICE]])  # INBOX, where the mail arrives, twice as often
                box = f"{ALICE}/{name}"
                lines = await imap.command(f"SELECT {name}")
                for line in lines:
                    found = re.search(rb"\[UIDVALIDITY (\d+)\]", line)
                    if found and int(found.group(1)) != trial.state.uidvalidity[box]:
                        trial.violation(
                            f"{box}: UIDVALIDITY {found.group(1)!r} was {trial.state.uidvalidity[box]}"
                        )
                exists = max(
                    [int(m.group(1)) for x in lines if (m := re.match(rb"\* (\d+) EXISTS", x))] or [0]
                )
                if not exists:
                    continue
                present: dict[int, str] = {}
                for line in await imap.command(
                    "UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (X-Trial-Token)])"
                ):
                    found = FETCH_UID.match(line)
                    token = token_of(line)
                    if found and token:
                        present[int(found.group(1))] = token
                        trial.observe(box, int(found.group(1)), token)
                choices = [
                    (u, t) for u, t in present.items() if (p := trial.place(t, box)) and p.state == "yes"
                ]
                rnd.shuffle(choices)
                if exists > BIG_MAILBOX and rnd.random() < 0.5:
                    await expunge_many(trial, imap, box, choices[: rnd.randint(2, 12)])
                    continue
                for uid, token in choices[: rnd.randint(1, 6)]:
                    await mutate(trial, imap, rnd, box, uid, token, expunge_bias=exists > BIG_MAILBOX)
        except (Closed, OSError, asyncio.IncompleteReadError) as exc:
            trial.note(f"imap: {exc!r}")
            await asyncio.sleep(0.1)
        finally:
            if imap is not None:
                imap.wire.close()


async def expunge_many(trial: Trial, imap: Imap, box: str, picks: list[tuple[int, str]]) -> None:
    """One UID STORE \\Deleted and one UID EXPUNGE for several messages."""
    if not picks:
        return
    uids = ",".join(str(uid) for uid, _ in picks)
    await imap.command(f"UID STORE {uids} +FLAGS.SILENT (\\Deleted)")
    for _, token in picks:
        trial.state.places[token][box].state = "maybe"
    group = ("UID EXPUNGE", [(token, box) for _, token in picks])
    trial.all_or_none.append(group)
    await imap.command(f"UID EXPUNGE {uids}")
    trial.all_or_none.remove(group)
    for _, token in picks:
        del trial.state.places[token][box]
    trial.acked["expunge"] += len(picks)


async def mutate(
    trial: Trial, imap: Imap, rnd: random.Random, box: str, uid: int, token: str, expunge_bias: bool
) -> None:
    place = trial.state.places[token][box]
    op = rnd.random()
    if op < (0.2 if expunge_bias else 0.45):
        flagged = not place.flagged if place.flagged is not None else True
        place.flagged = None
        await imap.command(f"UID STORE {uid} {'+' if flagged else '-'}FLAGS.SILENT (\\Flagged)")
        place.flagged = flagged
        trial.acked["store"] += 1
    elif op < 0.75:
        await imap.command(f"UID STORE {uid} +FLAGS.SILENT (\\Deleted)")
        place.state = "maybe"
        await imap.command(f"UID EXPUNGE {uid}")
        del trial.state.places[token][box]
        trial.acked["expunge"] += 1
    else:
        target_name = rnd.choice([n for n in BOXES[ALICE] if f"{ALICE}/{n}" != box])
        target = f"{ALICE}/{target_name}"
        place.state = "maybe"
        trial.state.places[token][target] = Place("maybe", None, place.flagged)
        trial.one_of.append((token, box, target))
        lines = await imap.command(f"UID MOVE {uid} {target_name}")
        new_uid = copyuid(lines)
        if new_uid is None:
            trial.violation(f"MOVE of {token} without COPYUID: {lines!r}")
        trial.one_of.remove((token, box, target))
        del trial.state.places[token][box]
        trial.state.places[token][target] = Place("yes", new_uid, place.flagged)
        if new_uid is not None:
            trial.hand_out(target, new_uid, token)
        trial.acked["move"] += 1


async def pop3_ok(wire: Wire, text: str) -> bytes:
    wire.send(text.encode() + b"\r\n")
    line = await wire.line()
    if not line.startswith(b"+OK"):
        raise Closed(f"{text.split()[0]}: {line!r}")
    return line


async def pop3_remover(trial: Trial, port: int) -> None:
    rnd = random.Random(f"{trial.rnd.random()}")
    box = f"{BOB}/INBOX"
    while True:
        wire: Wire | None = None
        try:
            wire = await Wire.open(port)
            await wire.line()
            await pop3_ok(wire, f"USER {BOB}")
            await pop3_ok(wire, f"PASS {PASSWORD}")
            await pop3_ok(wire, "UIDL")
            listing = []
            while (line := await wire.line()) != b".\r\n":
                number, unique = line.split()
                listing.append((int(number), int(unique.split(b".")[-1])))
            known = trial.acknowledged_in(box)
            chosen = [(n, known[uid]) for n, uid in listing if uid in known]
            rnd.shuffle(chosen)
            chosen = chosen[: rnd.randint(0, 8 if len(listing) > BIG_MAILBOX else 3)]
            for number, _ in chosen:
                await pop3_ok(wire, f"DELE {number}")
            for _, token in chosen:
                trial.state.places[token][box].state = "maybe"
            group = ("POP3 QUIT", [(token, box) for _, token in chosen])
            trial.all_or_none.append(group)
            await pop3_ok(wire, "QUIT")
            trial.all_or_none.remove(group)
            for _, token in chosen:
                del trial.state.places[token][box]
            trial.acked["pop3-quit"] += 1
            trial.acked["pop3-dele"] += len(chosen)
        except (Closed, OSError, ValueError, asyncio.IncompleteReadError) as exc:
            trial.note(f"pop3: {exc!r}")
        finally:
            if wire is not None:
                wire.close()
        await asyncio.sleep(rnd.uniform(0.05, 0.3))


# -- the checks -----------------------------------------------------------------------------------------


def check(trial: Trial, snapshot: Snapshot, lenient: bool) -> None:
    """Compare the store with the model (see the module docstring); then make the model the store."""
    state = trial.state
    where: dict[str, dict[str, Observed]] = {}  # token -> box -> what is there
    for box, found in snapshot.boxes.items():
        if snapshot.uidvalidity[box] != state.uidvalidity[box]:
            trial.violation(
                f"{box}: UIDVALIDITY changed from {state.uidvalidity[box]} to {snapshot.uidvalidity[box]}"
            )
        previous = state.uids.get(box, {})
        for item in found:
            if item.token is None or not item.intact:
                trial.violation(f"{box}: UID {item.uid} is not a message that was sent intact ({item.token})")
                continue
            if box in where.get(item.token, {}):
                trial.violation(f"{box}: {item.token} is there twice")
            where.setdefault(item.token, {})[box] = item
            if item.uid in previous:
                if previous[item.uid] != item.token:
                    trial.violation(f"{box}: UID {item.uid} was {previous[item.uid]}, now {item.token}")
            elif item.uid <= state.high.get(box, 0):
                trial.violation(
                    f"{box}: new message {item.token} at UID {item.uid}, not above {state.high[box]}"
                )
            seen = trial.seen[box].get(item.uid)
            if seen is not None and seen != item.token:
                trial.violation(f"{box}: UID {item.uid} showed {seen} during the load, now {item.token}")
        handed = [uid for uid, _ in trial.handed_out[box]] + list(trial.seen[box]) + [i.uid for i in found]
        top = max([state.high.get(box, 0), *handed])
        if snapshot.uidnext[box] <= top:
            trial.violation(f"{box}: UIDNEXT {snapshot.uidnext[box]} not above UID {top} handed out")
        state.high[box] = top

    for token, boxes in where.items():
        for account in BOXES:
            mine = [b for b in boxes if b.startswith(account + "/")]
            if len(mine) > 1:
                trial.violation(f"{token} is in {len(mine)} mailboxes of {account}: {mine}")
        for box, item in boxes.items():
            place = trial.place(token, box)
            if place is None and not lenient:
                trial.violation(f"{box}: {token} is there though it was never put there or was removed")
            elif place is not None and place.state == "yes":
                if place.uid is not None and place.uid != item.uid:
                    trial.violation(f"{box}: {token} at UID {item.uid}, acknowledged at UID {place.uid}")
                if place.flagged is not None and place.flagged != item.flagged:
                    trial.violation(
                        f"{box}: {token} \\Flagged is {item.flagged}, acknowledged {place.flagged}"
                    )
    if not lenient:
        for token, boxes in state.places.items():
            for box, place in boxes.items():
                if place.state == "yes" and box not in where.get(token, {}):
                    trial.violation(f"{box}: acknowledged {token} is missing")
    for token, source, target in trial.one_of:
        count = sum(b in where.get(token, {}) for b in (source, target))
        if count != 1:
            trial.violation(f"{token} moved from {source} to {target} is in {count} of them")
    for what, group in trial.all_or_none:
        there = [box in where.get(token, {}) for token, box in group]
        if any(there) and not all(there):
            trial.violation(f"{what} cut short removed only some of its messages: {group} {there}")

    # The model becomes the store.
    state.places = {
        token: {box: Place("yes", item.uid, item.flagged) for box, item in boxes.items()}
        for token, boxes in where.items()
    }
    state.uids = {box: {i.uid: i.token for i in found if i.token} for box, found in snapshot.boxes.items()}
    state.uidnext = dict(snapshot.uidnext)
    state.counts = {box: len(found) for box, found in snapshot.boxes.items()}


async def check_restart(trial: Trial, port: int) -> None:
    """After the restart, IMAP shows each mailbox as the store held it after the kill."""
    imap = await Imap.login(port, ALICE)
    try:
        for name in BOXES[ALICE]:
            box = f"{ALICE}/{name}"
            lines = await imap.command(f"SELECT {name}")
            text = b"".join(lines)
            exists = re.search(rb"\* (\d+) EXISTS", text)
            uidvalidity = re.search(rb"\[UIDVALIDITY (\d+)\]", text)
            uidnext = re.search(rb"\[UIDNEXT (\d+)\]", text)
            got = tuple(int(m.group(1)) if m else None for m in (exists, uidvalidity, uidnext))
            want = (trial.state.counts[box], trial.state.uidvalidity[box], trial.state.uidnext[box])
            if got != want:
                trial.violation(
                    f"{box} after restart (messages, UIDVALIDITY, UIDNEXT): {got}, store had {want}"
                )
        await imap.command("LOGOUT")
    finally:
        imap.wire.close()


# -- running trials -----------------------------------------------------------------------------------


async def run_trial(
    state: State, data: Path, logs: Path, max_load: float, lenient: bool
) -> tuple[Trial, str]:
    number = state.trials_done + 1
    trial = Trial(state, number, random.Random(f"{state.seed}-{number}"))
    log = logs / f"trial-{number:06d}.log"
    t0 = time.monotonic()
    server = ServeProcess(data, log)
    t_ready = t0
    what: str
    tasks: list[asyncio.Task[None]] = []
    try:
        if trial.rnd.random() < 0.05:
            delay = trial.rnd.uniform(0.0, 0.6)
            await asyncio.sleep(delay)
            what = f"killed during startup at {delay:.2f}s"
        else:
            try:
                ports = await asyncio.to_thread(server.wait_listening, LISTENERS)
                t_ready = time.monotonic()
                if not lenient:
                    await check_restart(trial, ports["imap"])
            except (RuntimeError, Closed, OSError, asyncio.IncompleteReadError) as exc:
                trial.violation(f"the server did not restart and serve: {exc}")
                ports = {}
            workers: list[Callable[[], Awaitable[None]]] = [
                lambda: smtp_sender(trial, ports["smtp"], lmtp=False),
                lambda: smtp_sender(trial, ports["smtp"], lmtp=False),
                lambda: smtp_sender(trial, ports["lmtp"], lmtp=True),
                lambda: imap_appender(trial, ports["imap"]),
                lambda: imap_mutator(trial, ports["imap"]),
                lambda: pop3_remover(trial, ports["pop3"]),
            ]
            tasks = [asyncio.create_task(worker()) for worker in workers] if ports else []
            delay = trial.rnd.uniform(0.2, max_load)
            await asyncio.sleep(delay)
            what = f"killed under load at {delay:.2f}s"
    finally:
        status = server.kill()
        t_kill = time.monotonic()
        trial.killed = True
    # A reply already in a socket buffer when the server died was sent after the data was durable:
    # it still counts as an acknowledgement. Give the clients a moment to read those.
    await asyncio.sleep(0.3)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if status not in (-signal.SIGKILL, None):
        trial.violation(f"server exited by itself with status {status} before the kill")
    for line in server.failures():
        trial.violation(f"server log: {line[:300]}")
    # `pochta verify` (a process of its own) runs while this one reads the store: both only read.
    verify = asyncio.create_task(asyncio.to_thread(run_pochta, "verify", "--data", str(data), check=False))
    snapshot = await read_store(data)
    _, _, problems = scan_blob_tree(data / "blobs")
    for problem in problems:
        trial.violation(f"blob tree: {problem}")
    result = await verify
    if result.returncode != 0:
        trial.violation(f"pochta verify exit {result.returncode}: {result.stdout}{result.stderr}")
    check(trial, snapshot, lenient)
    trial.phases = {"start": t_ready - t0, "load": t_kill - t_ready, "check": time.monotonic() - t_kill}
    return trial, what


async def setup(data: Path, state: State) -> None:
    init_data_dir(data, listeners=LISTENERS, accounts={ALICE: PASSWORD, BOB: PASSWORD}, config=CONFIG)
    snapshot = await read_store(data)
    state.uidvalidity = dict(snapshot.uidvalidity)
    state.uidnext = dict(snapshot.uidnext)
    state.high = {box: uidnext - 1 for box, uidnext in snapshot.uidnext.items()}
    state.counts = {box: 0 for box in ALL_BOXES}
    state.uids = {box: {} for box in ALL_BOXES}


def lock_root(root: Path) -> IO[str] | None:
    """One run per data root (two runs on one directory would see each other's mail as violations):
    an exclusive lock held until the process ends; None if another run holds it."""
    lock = open(root / "lock", "w")  # noqa: SIM115 - held until the process ends
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


async def main_async(args: argparse.Namespace) -> int:
    temporary = args.data_root is None
    root = Path(tempfile.mkdtemp(prefix="pochta-crash-")) if temporary else Path(args.data_root)
    root.mkdir(parents=True, exist_ok=True)
    data, logs, state_file = root / "data", root / "logs", root / "state.json"
    logs.mkdir(exist_ok=True)
    lock = lock_root(root)
    if lock is None:
        print(f"another crash_trials run is using {root}", flush=True)
        return 2
    lenient = False
    if state_file.exists():
        state = State.load(state_file)
        print(f"resuming {root}: {state.trials_done} trials done (seed {state.seed})", flush=True)
        if state.in_progress:
            print("the last run stopped in the middle of a trial: its check is lenient", flush=True)
            lenient = True
    else:
        state = State(seed=args.seed if args.seed is not None else base_seed())
        print(f"new run in {root} (seed {state.seed})", flush=True)
        await setup(data, state)
        state.save(state_file)
    start_violations = len(state.violations)
    while state.trials_done < args.trials:
        started = time.monotonic()
        state.in_progress = True
        state.save(state_file)
        trial, what = await run_trial(state, data, logs, args.max_load, lenient)
        lenient = False
        elapsed = time.monotonic() - started
        state.trials_done = trial.number
        state.in_progress = False
        state.totals.update(trial.acked)
        state.totals["trials"] += 1
        state.seconds += elapsed
        state.violations.extend(trial.violations)
        state.save(state_file)
        log = logs / f"trial-{trial.number:06d}.log"
        if not trial.violations and not args.keep_logs:
            log.unlink(missing_ok=True)
        acked = " ".join(f"{k}={v}" for k, v in sorted(trial.acked.items())) or "nothing acknowledged"
        messages = sum(state.counts.values())
        verdict = "ok" if not trial.violations else f"{len(trial.violations)} VIOLATIONS (log {log})"
        if trial.notes:  # refusals or dropped sessions before the kill: not violations, but worth a look
            verdict += f", {len(trial.notes)} client errors before the kill (--verbose lists them)"
        print(
            f"trial {trial.number}/{args.trials}: {what}; {acked}; store {messages} messages; "
            f"{verdict} ({elapsed:.1f}s)",
            flush=True,
        )
        for text in trial.violations:
            print(f"  VIOLATION {text}", flush=True)
        if args.verbose:
            print("  seconds: " + " ".join(f"{k}={v:.2f}" for k, v in trial.phases.items()), flush=True)
            for text in trial.notes:
                print(f"  note: {text}", flush=True)
        if trial.violations and args.stop_on_violation:
            break
    totals = state.totals
    per_trial = state.seconds / max(1, totals["trials"])
    print(
        f"crash_trials: trials={state.trials_done} violations={len(state.violations)} "
        f"smtp={totals['smtp']} lmtp={totals['lmtp']} append={totals['append']} store={totals['store']} "
        f"expunge={totals['expunge']} move={totals['move']} pop3_quit={totals['pop3-quit']} "
        f"pop3_dele={totals['pop3-dele']} messages_now={sum(state.counts.values())} "
        f"seconds_per_trial={per_trial:.2f} seed={state.seed} data_root={root}",
        flush=True,
    )
    if state.violations:
        new = len(state.violations) - start_violations
        print(
            f"{len(state.violations)} violations ({new} in this run); the data is kept in {root}", flush=True
        )
        return 1
    if temporary:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--trials", type=int, default=100, help="total number of trials (a resumed run continues)"
    )
    parser.add_argument("--seed", type=int, help="seed of a new run (default POCHTA_FAULT_SEED or random)")
    parser.add_argument("--data-root", help="directory of the run (data, logs, state.json); resumable")
    parser.add_argument(
        "--max-load", type=float, default=2.5, help="latest kill, seconds after the load starts"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the server log of every trial")
    parser.add_argument("--stop-on-violation", action="store_true", help="stop after the first bad trial")
    parser.add_argument("--verbose", action="store_true", help="print refusals and dropped connections")
    args = parser.parse_args()
    # Stop cleanly on Ctrl-C and on SIGTERM, even when started in the background (where a shell
    # without job control ignores SIGINT): the trial's server is killed and the run can resume.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        sys.exit(asyncio.run(main_async(args)))
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", flush=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
