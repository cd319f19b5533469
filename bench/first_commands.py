"""The first commands of a new IMAP connection on a big INBOX: pochta and Dovecot, in turns.

    .venv/bin/python bench/first_commands.py [--messages 20000] [--rounds 20] [--workers 2]
                                             [--no-dovecot] [--keep DIR] [--settle SECONDS]

What ``vs_dovecot.py --only big`` times once per run (its "first SELECT on a new connection" and
"FETCH of 100 ENVELOPEs spread over the box" rows), many times over: one INBOX of ``--messages``
realistic messages (``workloads.realistic_mailbox``, the same seed) is filled over 10 LMTP sessions
into a ``pochta serve --workers N`` and into Dovecot's sdbox; the first connection to each after
both fills is printed on its own (``vs_dovecot.py``'s first run, "right after the fill"); then
``--rounds`` times, each server in turn gets a new connection:
LOGIN, SELECT INBOX, UID FETCH 1:* (UID FLAGS), FETCH of 100 ENVELOPEs spread over the box (the
order of ``vs_dovecot.py``), the same FETCH again, LOGOUT.
Printed per command, medians: the wall time (ms), the server's CPU time and the time its threads
waited for a CPU (run queue), both exact from ``/proc/PID/task/TID/schedstat`` over the server's
process tree (``proc_stats.tree_sched_ns``; pochta's supervisor and workers, Dovecot's master and
its login and imap processes). The CPU time moves far less than the wall time on a shared machine,
and the wait says how much of the wall time the machine's other load took.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from proc_stats import tree_sched_ns  # noqa: E402
from workloads import DOMAIN, ImapClient, deliver, realistic_mailbox  # noqa: E402

from dovecot_env import dovecot_missing, dovecot_server  # noqa: E402
from serve_process import ServeProcess, init_data_dir  # noqa: E402

USER, PASSWORD = f"big@{DOMAIN}", "bench password 1"
COMMANDS = ("SELECT", "UID FETCH 1:* (UID FLAGS)", "FETCH 100 ENVELOPE", "again")


@dataclass
class Target:
    name: str
    port: int
    pid: int
    lmtp: int
    wall: dict[str, list[float]] = field(default_factory=dict)  # command -> ms per round
    cpu: dict[str, list[float]] = field(default_factory=dict)  # command -> server CPU ms per round
    wait: dict[str, list[float]] = field(default_factory=dict)  # command -> ms waiting for a CPU


def timed(target: Target, client: ImapClient, name: str, command: str) -> float:
    running, waiting = tree_sched_ns(target.pid)
    started = time.perf_counter()
    client.command(command)
    wall = (time.perf_counter() - started) * 1000
    ran, waited = tree_sched_ns(target.pid)
    target.wall.setdefault(name, []).append(wall)
    target.cpu.setdefault(name, []).append((ran - running) / 1e6)
    target.wait.setdefault(name, []).append((waited - waiting) / 1e6)
    return wall


def first_connection(target: Target, spread: str) -> list[float]:
    client = ImapClient(target.port)
    try:
        client.command(f'LOGIN {USER} "{PASSWORD}"')
        figures = [timed(target, client, "SELECT", "SELECT INBOX")]
        figures.append(timed(target, client, COMMANDS[1], COMMANDS[1]))
        figures.append(timed(target, client, "FETCH 100 ENVELOPE", f"FETCH {spread} ENVELOPE"))
        figures.append(timed(target, client, "again", f"FETCH {spread} ENVELOPE"))
        return figures
    finally:
        client.close()


@contextmanager
def pochta(parent: Path, workers: int) -> Iterator[Target]:
    data = parent / "pochta" / "data"
    data.parent.mkdir()
    init_data_dir(data, listeners=["imap", "lmtp"], accounts={USER: PASSWORD})
    server = ServeProcess(data, data.parent / "serve.log", ["--workers", str(workers)])
    try:
        ports = server.wait_listening(["imap", "lmtp"])
        yield Target("pochta", ports["imap"], server.pid, ports["lmtp"])
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-dovecot", action="store_true")
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds to wait after the fills before the first connection (in vs_dovecot.py pochta's "
        "fill is followed by Dovecot's, some 40 s, before its first SELECT)",
    )
    args = parser.parse_args()
    parent = args.keep or Path(tempfile.mkdtemp(prefix="pfc-"))
    parent.mkdir(parents=True, exist_ok=True)
    parent.chmod(0o755)  # Dovecot's unprivileged processes walk into it
    print(f"first_commands.py {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
    print("2 cores SHARED by the client and the servers (and other users of this machine)")
    step = args.messages // 100
    spread = ",".join(str(1 + i * step) for i in range(100))
    messages = realistic_mailbox(args.messages, USER, seed=1)
    try:
        with ExitStack() as stack:
            ours = stack.enter_context(pochta(parent, args.workers))
            targets = [ours]
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
                targets.append(
                    Target("Dovecot sdbox", server.ports["imap"], server.pid, server.ports["lmtp"])
                )
            elif missing:
                print(f"no Dovecot: {missing}")
            for target in targets:
                result = deliver(target.lmtp, messages, [USER], 10)
                print(
                    f"filled {target.name}: {result.accepted / result.wall:.0f} msgs/s, "
                    f"{len(result.errors)} errors"
                )
            time.sleep(args.settle)
            # As vs_dovecot.py: both fills first, then a connection to each in turn.
            for target in targets:
                figures = first_connection(target, spread)
                print(
                    f"  {target.name} right after the fills (wall / server CPU ms): "
                    + ", ".join(
                        f"{c} {v:.2f} / {target.cpu[c][-1]:.2f} ms"
                        for c, v in zip(COMMANDS, figures, strict=True)
                    )
                )
                target.wall.clear()
                target.cpu.clear()
                target.wait.clear()
            for round_ in range(args.rounds):
                for target in targets:
                    first_connection(target, spread)
                if round_ < 2 or round_ % 5 == 4:
                    selects = ", ".join(f"{t.name} {t.wall['SELECT'][-1]:.2f} ms" for t in targets)
                    print(f"round {round_ + 1}: SELECT {selects}; load {os.getloadavg()}")
        print(
            f"\nmedians of {args.rounds} new connections, per command: wall ms / server CPU ms / ms the "
            "server's threads waited for a CPU"
        )
        print("| command | " + " | ".join(t.name for t in targets) + " |")
        print("|---|" + "---:|" * len(targets))
        for name in COMMANDS:
            cells = [
                f"{statistics.median(t.wall[name]):.2f} / {statistics.median(t.cpu[name]):.2f} / "
                f"{statistics.median(t.wait[name]):.2f}"
                for t in targets
            ]
            print(f"| {name} | " + " | ".join(cells) + " |")
        print(f"load at the end {os.getloadavg()}")
    finally:
        if args.keep is None:
            shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    main()
