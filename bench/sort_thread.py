"""SORT and THREAD on a big INBOX: pochta (and optionally another checkout of it) against Dovecot,
in turns, without filling the box again for every run as ``vs_dovecot.py --only big`` does.

    .venv/bin/python bench/sort_thread.py [--big 20000] [--rounds 5] [--repeat 3] [--workers 2]
                                          [--baseline /work/main/.venv/bin/python]

One INBOX of ``--big`` realistic messages (``workloads.realistic_mailbox``, seed 1, as vs_dovecot.py)
is filled over LMTP into pochta and into Dovecot's sdbox once. With ``--baseline PYTHON`` pochta is
then stopped, its data directory copied, and a second pochta (``PYTHON -m pochta``, another
checkout's venv) serves the copy, so that two versions answer from the same stored mailbox. Each
round opens a new connection to every server in turn, SELECTs INBOX and sends each command
``--repeat`` times: the figures are the medians of wall milliseconds per command and of the
server's CPU milliseconds per command (time on a CPU of every thread of its process tree,
``proc_stats.tree_sched_ns``), first command of a connection apart from the repeats. The servers
bind 127.0.0.1 on free ports and are stopped by their PIDs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from proc_stats import tree_sched_ns  # noqa: E402
from vs_dovecot import BIG_USER, PASSWORD, SESSIONS, Target, dovecot_peer, load, say, serve_args  # noqa: E402
from workloads import ImapClient, deliver, realistic_mailbox  # noqa: E402

from dovecot_env import dovecot_missing  # noqa: E402
from serve_process import POCHTA, ServeProcess, init_data_dir  # noqa: E402

COMMANDS = {
    "sort_subject": "UID SORT (SUBJECT) UTF-8 ALL",
    "sort_date": "UID SORT (DATE) UTF-8 ALL",
    "thread": "UID THREAD REFERENCES UTF-8 ALL",
    "sort_reverse": "SORT (REVERSE FROM) UTF-8 ALL",
    "thread_subject": "UID THREAD ORDEREDSUBJECT UTF-8 ALL",
}


def _cpu_ns(pid: int) -> int:
    return tree_sched_ns(pid)[0]


def measure(target: Target, repeat: int, names: list[str]) -> dict[str, tuple[float, float, float, float]]:
    """Per command: (first wall ms, first CPU ms, median wall ms of the repeats, their CPU ms)."""
    client = ImapClient(target.ports["imap"])
    out = {}
    try:
        client.command(f'LOGIN {BIG_USER} "{PASSWORD}"')
        client.command("SELECT INBOX")
        for name in names:
            walls, cpus = [], []
            for _ in range(1 + repeat):
                cpu = _cpu_ns(target.pid)
                started = time.perf_counter()
                client.command(COMMANDS[name])
                walls.append((time.perf_counter() - started) * 1000)
                cpus.append((_cpu_ns(target.pid) - cpu) / 1e6)
            rest_wall = statistics.median(walls[1:]) if repeat else float("nan")
            rest_cpu = statistics.median(cpus[1:]) if repeat else float("nan")
            out[name] = (walls[0], cpus[0], rest_wall, rest_cpu)
    finally:
        client.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--big", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="commands after the first, per connection")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", default="", help="python of another checkout to compare")
    parser.add_argument("--commands", default=",".join(COMMANDS), help=f"of {','.join(COMMANDS)}")
    args = parser.parse_args()
    names = [name for name in args.commands.split(",") if name]
    say(f"sort_thread.py {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load {load()}")
    parent = Path(tempfile.mkdtemp(prefix="pochta-sort-"))
    parent.chmod(0o755)
    workers = serve_args(args.workers)
    messages = realistic_mailbox(args.big, BIG_USER, seed=1)
    results: dict[str, dict[str, list[tuple[float, float, float, float]]]] = {}
    try:
        with ExitStack() as stack:
            data = parent / "branch"
            init_data_dir(data, listeners=["lmtp", "imap"], accounts={BIG_USER: PASSWORD})
            server = ServeProcess(data, parent / "branch.log", workers)
            stack.callback(lambda: server.stop())
            ports = server.wait_listening(["lmtp", "imap"])
            result = deliver(ports["lmtp"], messages, [BIG_USER], SESSIONS)
            say(f"  filled pochta: {result.accepted} accepted, {len(result.errors)} errors")
            targets = []
            if args.baseline:
                time.sleep(5)  # the indexer's last batches
                server.stop()
                shutil.copytree(data, parent / "baseline")
                base = ServeProcess(
                    parent / "baseline", parent / "baseline.log", workers, [args.baseline, "-m", "pochta"]
                )
                stack.callback(lambda: base.stop())
                server = ServeProcess(data, parent / "branch.log", workers)
                targets.append(Target("baseline", base.wait_listening(["imap"]), base.pid))
            targets.insert(0, Target("pochta", server.wait_listening(["imap"]), server.pid))
            if not dovecot_missing(("imap", "lmtp")):
                peer = stack.enter_context(dovecot_peer(parent, ["imap", "lmtp"], "sdbox", False))
                result = deliver(peer.ports["lmtp"], messages, [BIG_USER], SESSIONS)
                say(f"  filled Dovecot: {result.accepted} accepted, {len(result.errors)} errors")
                targets.append(peer)
            time.sleep(5)
            for round_ in range(args.rounds):
                for target in targets:
                    figures = measure(target, args.repeat, names)
                    for name, cells in figures.items():
                        results.setdefault(name, {}).setdefault(target.name, []).append(cells)
                    say(
                        f"  round {round_ + 1} {target.name}: "
                        + ", ".join(f"{n} {c[0]:.1f}/{c[2]:.1f} ms" for n, c in figures.items())
                        + f"; load {load()}"
                    )
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    say("")
    say("| command | server | first on a connection: wall / CPU ms | repeated: wall / CPU ms |")
    say("|---|---|---:|---:|")
    for name, by_target in results.items():
        for target_name, cells in by_target.items():
            med = [statistics.median(c[i] for c in cells) for i in range(4)]
            first, repeated = f"{med[0]:.1f} / {med[1]:.1f}", f"{med[2]:.1f} / {med[3]:.1f}"
            say(f"| {COMMANDS[name]} | {target_name} | {first} | {repeated} |")
    say(f"load at end {load()}; medians of {args.rounds} rounds; POCHTA={' '.join(POCHTA)}")


if __name__ == "__main__":
    main()
