"""FETCH ENVELOPE / BODYSTRUCTURE on a big INBOX: pochta before and after a change, and Dovecot, in turns.

    .venv/bin/python bench/fetch_envelope.py [--messages 20000] [--before SRC] [--rounds 3]
                                             [--repeat 30] [--workers 1] [--no-dovecot] [--keep DIR]

One INBOX of ``--messages`` realistic messages (``workloads.realistic_mailbox``, the same as
``vs_dovecot.py --only big``) is filled into pochta through the store (in a child process, parsing
each message as delivery does) and over LMTP into Dovecot's sdbox. With ``--before SRC`` (a
``src`` directory of another checkout, e.g. a copy of main's) the fill runs with that code, a copy
of the data directory is served by it as "before", and the original is opened by this checkout
(migrated) and ``pochta reconstruct``-ed, which writes what this version keeps at delivery.

Then, ``--rounds`` times, each server in turn gets a new connection (LOGIN, SELECT INBOX) and each
command below ``--repeat`` times, read to its tagged OK with a raw socket client: the median wall
time, and the server's CPU time per command (user + system from /proc, summed over the server's
process tree: pochta's supervisor and workers, Dovecot's master and its imap processes), which moves
far less than the wall time when the machine is shared. ``--keep DIR`` keeps the servers' directories.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))
from proc_stats import tree_cpu_seconds
from workloads import DOMAIN, ImapClient, deliver, realistic_mailbox

from dovecot_env import dovecot_missing, dovecot_server
from serve_process import POCHTA, ServeProcess, init_data_dir, pochta_env

USER, PASSWORD = f"big@{DOMAIN}", "bench password 1"


@dataclass
class Target:
    name: str
    port: int
    pid: int
    wall: dict[str, list[float]] = field(default_factory=dict)  # command -> ms per run
    cpu: dict[str, list[float]] = field(default_factory=dict)  # command -> ms of server CPU per command


def settle(target: Target, limit: float = 300.0) -> None:
    """Wait until the server is quiet (less than 5 % of a core over a second): pochta's background
    indexer catches up after ``reconstruct`` queued every message, which is not what is measured."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = tree_cpu_seconds(target.pid)
        time.sleep(1.0)
        if tree_cpu_seconds(target.pid) - before < 0.05:
            return
    print(f"  {target.name} still busy after {limit:.0f} s")


def commands(count: int) -> dict[str, str]:
    step = count // 100
    spread = ",".join(str(1 + i * step) for i in range(100))
    return {
        "100 ENVELOPEs spread over the box": f"FETCH {spread} ENVELOPE",
        "FETCH 1:100 ENVELOPE": "FETCH 1:100 ENVELOPE",
        "100 spread (UID RFC822.SIZE FLAGS INTERNALDATE ENVELOPE)": (
            f"FETCH {spread} (UID RFC822.SIZE FLAGS INTERNALDATE ENVELOPE)"
        ),
        "100 spread BODYSTRUCTURE": f"FETCH {spread} BODYSTRUCTURE",
        "FETCH 1:1000 (FLAGS ENVELOPE BODYSTRUCTURE)": "FETCH 1:1000 (FLAGS ENVELOPE BODYSTRUCTURE)",
    }


def measure(target: Target, wanted: dict[str, str], repeat: int) -> None:
    client = ImapClient(target.port)
    try:
        client.command(f'LOGIN {USER} "{PASSWORD}"')
        client.command("SELECT INBOX")
        for name, command in wanted.items():
            client.command(command)  # warm: the first answer reads pages from disk
            times = []
            cpu_before = tree_cpu_seconds(target.pid)
            for _ in range(repeat):
                started = time.perf_counter()
                client.command(command)
                times.append((time.perf_counter() - started) * 1000)
            cpu = (tree_cpu_seconds(target.pid) - cpu_before) * 1000 / repeat
            target.wall.setdefault(name, []).append(statistics.median(times))
            target.cpu.setdefault(name, []).append(cpu)
    finally:
        client.close()


# -- filling ------------------------------------------------------------------------------------------


async def fill_store(data: Path, count: int) -> None:
    """Child process (``--fill``): deliver the mailbox through the store, 16 deliveries at a time."""
    from pochta.config import load_settings
    from pochta.mime import parse_message
    from pochta.store.model import Target as StoreTarget
    from pochta.store.sqlite.store import open_sqlite_store

    settings = load_settings(data / "pochta.toml")
    store = await open_sqlite_store(data, settings)
    try:
        account = await store.get_account(USER)
        assert account is not None
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        messages = realistic_mailbox(count, USER, seed=1)
        queue = iter(messages)

        async def worker() -> None:
            for data_ in queue:
                blob = await store.put_blob(data_)
                await store.deliver(blob, parse_message(data_, settings.mime), [StoreTarget(inbox.id)])

        await asyncio.gather(*(worker() for _ in range(16)))
    finally:
        await store.close()


@contextmanager
def code(src: Path | None) -> Iterator[None]:
    """pochta children started inside run the code in ``src`` (None: this checkout's)."""
    saved = os.environ.get("PYTHONPATH")
    if src is not None:
        os.environ["PYTHONPATH"] = str(src)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def run(*args: str) -> None:
    subprocess.run(args, check=True, env=pochta_env(), stdout=subprocess.DEVNULL)


@contextmanager
def pochta(name: str, data: Path, src: Path | None, workers: int) -> Iterator[Target]:
    with code(src):
        server = ServeProcess(data, data.parent / f"{name}.log", ["--workers", str(workers)])
    try:
        ports = server.wait_listening(["imap"])
        yield Target(name, ports["imap"], server.pid)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--before", type=Path, default=None, help="src directory of the code to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-dovecot", action="store_true")
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--fill", type=Path, default=None, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.fill is not None:
        asyncio.run(fill_store(args.fill, args.messages))
        return
    # A short name: Dovecot's UNIX sockets live under it (108 octets at most for their paths).
    parent = args.keep or Path(tempfile.mkdtemp(prefix="pfe-"))
    parent.mkdir(parents=True, exist_ok=True)
    parent.chmod(0o755)  # Dovecot's unprivileged processes walk into it (dovecot_env.write_config)
    print(f"fetch_envelope.py {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
    print("2 cores SHARED by the client and the servers (and other users of this machine)")
    try:
        after = parent / "after" / "data"
        after.parent.mkdir()
        started = time.perf_counter()
        with code(args.before):
            init_data_dir(after, listeners=["imap"], accounts={USER: PASSWORD})
            run(sys.executable, __file__, "--fill", str(after), "--messages", str(args.messages))
        print(f"filled {args.messages:,} messages through the store in {time.perf_counter() - started:.0f} s")
        before = None
        if args.before is not None:
            before = parent / "before" / "data"
            shutil.copytree(after.parent, before.parent)
            started = time.perf_counter()
            run(*POCHTA, "reconstruct", "--data", str(after))
            print(f"pochta reconstruct (this checkout): {time.perf_counter() - started:.0f} s")
        wanted = commands(args.messages)
        with ExitStack() as stack:
            targets: list[Target] = []
            if before is not None:
                targets.append(
                    stack.enter_context(pochta("pochta before", before, args.before, args.workers))
                )
            targets.append(stack.enter_context(pochta("pochta", after, None, args.workers)))
            missing = dovecot_missing(("imap", "lmtp"))
            if not args.no_dovecot and not missing:
                server = stack.enter_context(
                    dovecot_server(
                        protocols=("imap", "lmtp"),
                        mail_format="sdbox",
                        users={USER: f"{{PLAIN}}{PASSWORD}"},
                        parent=parent,
                        keep=args.keep is not None,
                    )
                )
                result = deliver(
                    server.ports["lmtp"], realistic_mailbox(args.messages, USER, seed=1), [USER], 10
                )
                print(
                    f"filled Dovecot sdbox over LMTP: {result.accepted} accepted, {len(result.errors)} errors"
                )
                targets.append(Target("Dovecot sdbox", server.ports["imap"], server.pid))
            elif missing:
                print(f"no Dovecot: {missing}")
            for target in targets:
                settle(target)
            for round_ in range(args.rounds):
                for target in targets:
                    measure(target, wanted, args.repeat)
                print(f"round {round_ + 1} done, load {os.getloadavg()}")
        print(f"\nmedians of {args.rounds} rounds of {args.repeat}; wall ms / server CPU ms per command")
        print("| command | " + " | ".join(t.name for t in targets) + " |")
        print("|---|" + "---:|" * len(targets))
        for name in wanted:
            cells = [
                f"{statistics.median(t.wall[name]):.2f} / {statistics.median(t.cpu[name]):.2f}"
                for t in targets
            ]
            print(f"| {name} | " + " | ".join(cells) + " |")
        print(f"load at the end {os.getloadavg()}")
    finally:
        if args.keep is None:
            shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    main()
