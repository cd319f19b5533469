"""`pochta import` of one big mbox file: messages per second, end to end.

    .venv/bin/python bench/import_mbox.py [--messages 100000] [--dir /tmp] [--keep]

Builds, in a fresh temporary directory (removed afterwards unless ``--keep``), an mboxrd file of
``--messages`` distinct messages of realistic sizes (a log-normal spread of text bodies around 4 KB,
one in ten with a base64 attachment of 10-150 KB; some body lines start with "From " and get
quoted; a third read, some answered or flagged, a few with keywords), and a data directory made by
``pochta init`` with one account. Then it runs ``pochta import USER FILE`` as an administrator
would (a separate process, the command's own start-up included) and prints what the command
reported and the wall-clock figures: messages/s and MB/s, with ``/proc/loadavg`` before and after
(the machine is shared: read the figures with the load). A second run of the same command shows
the cost of a rerun that finds everything in the import journal.
"""

from __future__ import annotations

import argparse
import base64
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pochta.fetch.mbox import write_message

POCHTA = [sys.executable, "-m", "pochta"]
# fmt: off
WORDS = [
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
    "this", "are", "or", "from", "at", "which", "but", "have", "an", "they", "mail", "message", "meeting",
    "report", "budget", "schedule", "project", "review", "draft", "attached", "please", "thanks", "regards",
]
# fmt: on


def body_text(rng: random.Random, octets: int) -> str:
    lines = []
    size = 0
    while size < octets:
        if rng.random() < 0.01:
            line = "From the desk of the editor: " + " ".join(rng.choices(WORDS, k=6))
        else:
            line = " ".join(rng.choices(WORDS, k=rng.randint(6, 14)))
        lines.append(line)
        size += len(line) + 2
    return "\r\n".join(lines) + "\r\n"


def make_message(rng: random.Random, n: int, when: datetime) -> bytes:
    text = body_text(rng, int(min(200_000, rng.lognormvariate(8.3, 0.9))))
    head = (
        f"Return-Path: <sender{n % 97}@example.net>\r\n"
        f"Received: from mx.example.net by mail.example.org; {when:%a, %d %b %Y %H:%M:%S +0000}\r\n"
        f"From: Sender {n % 97} <sender{n % 97}@example.net>\r\nTo: alice@example.org\r\n"
        f"Subject: {' '.join(rng.choices(WORDS, k=5))} #{n}\r\n"
        f"Date: {when:%a, %d %b %Y %H:%M:%S +0000}\r\n"
        f"Message-ID: <{n}.{rng.getrandbits(48):x}@example.net>\r\n"
        "MIME-Version: 1.0\r\n"
    )
    if rng.random() < 0.1:
        blob = base64.encodebytes(rng.randbytes(rng.randint(10_000, 150_000))).decode().replace("\n", "\r\n")
        return (
            head + 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
            "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "--b1\r\n"
            'Content-Type: application/pdf; name="report.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + blob
            + "--b1--\r\n"
        ).encode()
    return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text).encode()


def flags_for(rng: random.Random) -> frozenset[str]:
    flags = set()
    if rng.random() < 0.33:
        flags.add("\\Seen")
    if rng.random() < 0.1:
        flags.add("\\Answered")
    if rng.random() < 0.05:
        flags.add("\\Flagged")
    if rng.random() < 0.03:
        flags.add(rng.choice(["$Label1", "work", "later"]))
    return frozenset(flags)


def build_mbox(path: Path, count: int, seed: int = 15) -> int:
    rng = random.Random(seed)
    start = datetime(2015, 1, 1, tzinfo=UTC)
    with open(path, "wb") as file:
        for n in range(count):
            when = start + timedelta(minutes=37 * n)
            file.write(write_message(make_message(rng, n, when), flags_for(rng), when))
    return path.stat().st_size


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def run(*args: str) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run([*POCHTA, *args], capture_output=True, text=True, check=True)
    return time.monotonic() - started, result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--dir", default=None, help="where the temporary directory goes")
    parser.add_argument("--keep", action="store_true", help="keep the mbox and the data directory")
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pochta-import-bench-", dir=options.dir))
    try:
        mbox = root / "archive.mbox"
        started = time.monotonic()
        octets = build_mbox(mbox, options.messages)
        took = time.monotonic() - started
        print(f"built {mbox}: {options.messages} messages, {octets / 1e6:.0f} MB in {took:.0f} s")
        data = root / "data"
        subprocess.run(
            [*POCHTA, "init", "--data", str(data), "--domain", "example.org"], check=True, capture_output=True
        )
        subprocess.run(
            [*POCHTA, "user", "add", "alice@example.org", "--password-stdin", "--data", str(data)],
            input="bench password\n",
            text=True,
            check=True,
            capture_output=True,
        )
        print(f"load before: {loadavg()}")
        seconds, output = run("import", "alice@example.org", str(mbox), "--data", str(data))
        print(f"load after:  {loadavg()}")
        print(output)
        print(
            f"wall clock (the command's start-up included): {seconds:.1f} s, "
            f"{options.messages / seconds:.0f} msgs/s, {octets / 1e6 / seconds:.1f} MB/s"
        )
        seconds, output = run("import", "alice@example.org", str(mbox), "--data", str(data))
        print(f"rerun (everything in the journal): {seconds:.1f} s; {output.splitlines()[-1]}")
    finally:
        if options.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
