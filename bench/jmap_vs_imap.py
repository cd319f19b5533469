"""The newest 50 messages of a 100,000-message mailbox: JMAP's Email/query + Email/get against
IMAP's equivalent, on pochta and on Dovecot, in the same run (issue 17's figure).

    .venv/bin/python bench/jmap_vs_imap.py [--messages 100000] [--rounds 7] [--dir /tmp] [--keep DIR]

pochta's INBOX is filled as ``imap_mailbox.py`` fills it (``store_open.fill``: the store written
directly); Dovecot gets the same messages (the same generator and seed) written into its Maildir
INBOX, which it indexes on the first SELECT (timed apart, not in the rounds). Then, in turns each
round, on connections kept open (as a client keeps them), what a client sends to show the newest
50 messages of a folder with sender, subject, date, size and flags:

- **pochta JMAP**: one POST /jmap/api (plain HTTP on loopback, Basic) with Email/query (inMailbox
  INBOX, receivedAt descending, limit 50) and Email/get of its ``#ids`` (threadId, mailboxIds,
  keywords, from, subject, receivedAt, size, preview): one round trip.
- **IMAP sort** (pochta and Dovecot): ``UID SORT (REVERSE ARRIVAL) UTF-8 ALL`` then ``UID FETCH``
  of the first 50 UIDs ``(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)``: the same answer as the query,
  two round trips (IMAP has no limit on SORT: the whole order comes back).
- **IMAP range** (pochta and Dovecot): ``FETCH N-49:* (UID FLAGS INTERNALDATE RFC822.SIZE
  ENVELOPE)``: what a client that takes arrival order for sequence order sends, one round trip.

IMAP has no preview in these (ENVELOPE carries more than JMAP's from and subject); the rows say
what each reads. The first round (cold: nothing of the mailbox in the servers' memory but what
SELECT read) is shown apart from the median of the others. Ratios are against Dovecot's IMAP range,
measured in the same run (two shared cores are noisy: compare ratios, not milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from imap_mailbox import LISTENERS, PASSWORD, USER, Client, Server  # noqa: E402
from store_open import fill, make_message  # noqa: E402

from dovecot_env import dovecot_missing, dovecot_server  # noqa: E402
from pochta.config import load_settings  # noqa: E402
from pochta.store.sqlite.store import open_sqlite_store  # noqa: E402

POCHTA = [sys.executable, "-m", "pochta"]
MAIL = "urn:ietf:params:jmap:mail"
CORE = "urn:ietf:params:jmap:core"
FETCH_ITEMS = "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)"
GET_PROPERTIES = ["threadId", "mailboxIds", "keywords", "from", "subject", "receivedAt", "size", "preview"]


def run(*args: str, stdin: str | None = None) -> None:
    subprocess.run([*POCHTA, *args], input=stdin, text=True, check=True, capture_output=True)


async def prepare(data_dir: Path, messages: int) -> None:
    """A pochta data directory with IMAP and HTTP on loopback, JMAP on, and ``messages`` in INBOX."""
    run("init", "--domain", "example.org", "--data", str(data_dir), "--listen", "imap=127.0.0.1:0",
        *[f"--listen={name}=127.0.0.1:0" for name in (*LISTENERS, "http")])  # fmt: skip
    run("user", "add", USER, "--password-stdin", "--data", str(data_dir), stdin=PASSWORD + "\n")
    with (data_dir / "pochta.toml").open("a") as config:
        config.write("\n[jmap]\nenabled = true\n")
    store = await open_sqlite_store(data_dir, load_settings(data_dir / "pochta.toml"))
    try:
        account = await store.get_account(USER)
        assert account is not None
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        print(f"filling pochta's INBOX with {messages} messages ...", flush=True)
        seconds, _ = await fill(store, inbox.id, messages, 64)
        print(f"  filled in {seconds:.0f} s; indexing ...", flush=True)
        while (await store.index_pending()).done:
            pass
    finally:
        await store.close()


def fill_maildir(inbox: Path, messages: int) -> None:
    """Dovecot's INBOX (``mail_location = maildir:.../%u``): the same messages as ``fill`` made
    (one ``random.Random(1)`` in message order), one file each in cur/, seen by nobody yet."""
    owner = inbox.parent.stat()  # Dovecot's mail/ belongs to the user it runs mail processes as
    for sub in ("cur", "new", "tmp"):
        (inbox / sub).mkdir(parents=True, exist_ok=True)
        os.chown(inbox / sub, owner.st_uid, owner.st_gid)
    os.chown(inbox, owner.st_uid, owner.st_gid)
    rnd = random.Random(1)
    base = int(time.time()) - messages
    for n in range(messages):
        data = make_message(n, rnd)
        path = inbox / "cur" / f"{base + n}.M{n}P1.bench,S={len(data)}:2,"
        path.write_bytes(data)
        os.chown(path, owner.st_uid, owner.st_gid)
        os.utime(path, (base + n, base + n))


class Jmap:
    """A JMAP client on one kept-alive HTTP connection."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        session = self.call_raw("GET", "/.well-known/jmap", None)
        self.account = session["primaryAccounts"][CORE]  # the user's one account
        listed = self.api([["Mailbox/query", {"accountId": self.account, "filter": {"role": "inbox"}}, "m"]])
        self.inbox = listed[0][1]["ids"][0]

    def call_raw(self, method: str, path: str, body: bytes | None) -> Any:
        self.connection.request(method, path, body=body, headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data)

    def api(self, calls: list[list[Any]]) -> list[list[Any]]:
        request = {"using": [CORE, MAIL], "methodCalls": calls}
        answer = self.call_raw("POST", "/jmap/api", json.dumps(request).encode())
        responses: list[list[Any]] = answer["methodResponses"]
        for name, _arguments, _tag in responses:
            if name == "error":
                raise RuntimeError(str(responses))
        return responses

    def newest_50(self) -> int:
        query = {
            "accountId": self.account,
            "filter": {"inMailbox": self.inbox},
            "sort": [{"property": "receivedAt", "isAscending": False}],
            "limit": 50,
        }
        get = {
            "accountId": self.account,
            "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
            "properties": GET_PROPERTIES,
        }
        responses = self.api([["Email/query", query, "q"], ["Email/get", get, "g"]])
        return len(responses[1][1]["list"])


def imap_session(port: int) -> Client:
    client = Client(port)
    client.command(f'LOGIN {USER} "{PASSWORD}"')
    return client


def imap_sort_then_fetch(client: Client) -> int:
    sorted_lines = client.command("UID SORT (REVERSE ARRIVAL) UTF-8 ALL")
    uids = sorted_lines[0].split()[2:52]
    lines = client.command(f"UID FETCH {b','.join(uids).decode()} {FETCH_ITEMS}")
    return sum(1 for line in lines if re.match(rb"\* \d+ FETCH", line))


def imap_range(client: Client, exists: int) -> int:
    lines = client.command(f"FETCH {max(exists - 49, 1)}:* {FETCH_ITEMS}")
    return sum(1 for line in lines if re.match(rb"\* \d+ FETCH", line))


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    count = fn()
    return (time.perf_counter() - started) * 1000, count


def http_port(log: Path) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"name=http\s.*?addr=127\.0\.0\.1:(\d+)", log.read_text())
        found = found or re.search(r"addr=127\.0\.0\.1:(\d+) name=http ", log.read_text())
        if found:
            return int(found.group(1))
        time.sleep(0.1)
    raise RuntimeError("no http listener in the log:\n" + log.read_text())


def measure(args: argparse.Namespace) -> None:
    missing = dovecot_missing(["imap"])
    if missing:
        raise SystemExit(missing)
    keep = Path(args.keep) if args.keep else None
    parent = Path(tempfile.mkdtemp(prefix="pochta-bench-jmap-imap-", dir=args.dir))
    parent.chmod(0o711)  # Dovecot's processes (another user) reach their directory through it
    data_dir = keep or parent / "pochta"
    try:
        if not (data_dir / "pochta.toml").exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            asyncio.run(prepare(data_dir, args.messages))
        with ExitStack() as stack:
            dovecot = stack.enter_context(
                dovecot_server(protocols=("imap",), users={USER: f"{{PLAIN}}{PASSWORD}"}, parent=parent)
            )
            print(f"writing Dovecot's Maildir INBOX with {args.messages} messages ...", flush=True)
            fill_maildir(dovecot.root / "mail" / USER, args.messages)
            server = Server(data_dir)
            stack.callback(server.stop)
            jmap = Jmap(http_port(server.log))
            pochta_imap = imap_session(server.port)
            dovecot_imap = imap_session(dovecot.imap)
            selects: dict[str, float] = {}
            exists: dict[str, int] = {}
            for name, client in (("pochta", pochta_imap), ("Dovecot", dovecot_imap)):
                started = time.perf_counter()
                lines = client.command("SELECT INBOX")
                selects[name] = (time.perf_counter() - started) * 1000
                exists[name] = next(int(line.split()[1]) for line in lines if line.endswith(b" EXISTS"))
            series: dict[str, list[float]] = {}
            counts: dict[str, int] = {}
            cases: list[tuple[str, Callable[[], int]]] = [
                ("pochta JMAP Email/query + Email/get, 1 request", jmap.newest_50),
                ("pochta IMAP UID SORT + UID FETCH 50", lambda: imap_sort_then_fetch(pochta_imap)),
                ("Dovecot IMAP UID SORT + UID FETCH 50", lambda: imap_sort_then_fetch(dovecot_imap)),
                ("pochta IMAP FETCH N-49:*", lambda: imap_range(pochta_imap, exists["pochta"])),
                ("Dovecot IMAP FETCH N-49:*", lambda: imap_range(dovecot_imap, exists["Dovecot"])),
            ]
            for _ in range(args.rounds):
                for name, case in cases:
                    elapsed, counts[name] = timed(case)
                    series.setdefault(name, []).append(elapsed)
            for client in (pochta_imap, dovecot_imap):
                client.command("LOGOUT")
                client.close()
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    reference = statistics.median(series["Dovecot IMAP FETCH N-49:*"][1:])
    print(f"\njmap_vs_imap: newest 50 of {args.messages:,} messages in INBOX, {os.cpu_count()} CPUs, "
          f"{args.rounds} rounds (ms)")  # fmt: skip
    print(f"  first SELECT INBOX: pochta {selects['pochta']:.0f} ms, Dovecot {selects['Dovecot']:.0f} ms "
          "(Dovecot indexes its Maildir then)")  # fmt: skip
    print(f"  {'case':52} {'first':>8} {'median':>8} {'vs Dovecot range':>17} {'messages':>9}")
    for name, times in series.items():
        median = statistics.median(times[1:])
        print(f"  {name:52} {times[0]:8.1f} {median:8.1f} {median / reference:17.2f} {counts[name]:9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dir", default=None, help="parent of the temporary directories")
    parser.add_argument("--keep", default=None, help="keep (or reuse) pochta's filled data directory")
    measure(parser.parse_args())


if __name__ == "__main__":
    main()
