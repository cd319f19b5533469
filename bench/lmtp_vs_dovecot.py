"""The ``vs_dovecot.py`` LMTP row, with server CPU and how the sessions spread over the workers: pochta
(this tree and optionally an older one) and Dovecot maildir in turns, the same delivery each round.

    .venv/bin/python bench/lmtp_vs_dovecot.py [--runs 5] [--messages 2000] [--workers 2]
                                              [--base OLD_TREE/src] [--no-dovecot]

Each round delivers ``--messages`` distinct 4 KiB messages over 10 LMTP sessions (the client of
``vs_dovecot.py``'s row: ``workloads.deliver``, one connection per session opened at once, 1
recipient each over 10 accounts) to every server in turn. Printed per server and round: msgs/s, the
server's CPU per message (user + system over its processes: pochta's supervisor and workers;
Dovecot's master and every child, including reaped lmtp processes), and for pochta the CPU of each
worker (an even split means the sessions were shared; one worker with all of it, that one worker
served them all). ``--base DIR`` runs a second pochta from another tree's ``src`` (first on
PYTHONPATH), e.g. main's, for a before/after in the same run. CPU moves far less with the machine's
load than the rates do.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from proc_stats import process_tree, tree_cpu_seconds  # noqa: E402
from smtp_accept import make_messages  # noqa: E402
from vs_dovecot import BOXES, SESSIONS, SIZE, dovecot_peer, pochta_server, serve_args  # noqa: E402
from workloads import deliver  # noqa: E402


@dataclass
class Series:
    name: str
    pid: int
    port: int
    rates: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # ms per message
    shares: list[str] = field(default_factory=list)  # per worker, ms per message


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--base", type=Path, default=None, help="another tree's src, run as a second pochta")
    parser.add_argument("--no-dovecot", action="store_true")
    args = parser.parse_args()
    parent = Path(tempfile.mkdtemp(prefix="pochta-lmtp-vs-"))
    parent.chmod(0o755)
    print(f"load {os.getloadavg()}", flush=True)
    series: list[Series] = []
    try:
        with ExitStack() as stack:
            workers = serve_args(args.workers)
            trees: list[tuple[str, Path | None]] = [("pochta", None)]
            if args.base is not None:
                trees.append(("pochta base", args.base.resolve()))
            for name, src in trees:
                saved = os.environ.get("PYTHONPATH")
                if src is not None:
                    os.environ["PYTHONPATH"] = str(src)
                try:
                    target = stack.enter_context(pochta_server(parent, ["lmtp"], BOXES, workers))
                finally:
                    if saved is None:
                        os.environ.pop("PYTHONPATH", None)
                    else:
                        os.environ["PYTHONPATH"] = saved
                series.append(Series(name, target.pid, target.ports["lmtp"]))
            if not args.no_dovecot:
                peer = stack.enter_context(dovecot_peer(parent, ["lmtp"], "maildir", False))
                series.append(Series(peer.name, peer.pid, peer.ports["lmtp"]))

            def measure(one: Series, run: int) -> None:
                messages = make_messages(args.messages, SIZE, [BOXES[0]], f"r{run}{one.name}")
                workers = [pid for pid in process_tree(one.pid) if pid != one.pid]
                before = tree_cpu_seconds(one.pid)
                each = [tree_cpu_seconds(pid) for pid in workers]
                result = deliver(one.port, messages, BOXES, SESSIONS)
                used = tree_cpu_seconds(one.pid) - before
                done = max(result.accepted, 1)
                rate = result.accepted / result.wall
                share = ""
                if one.name.startswith("pochta"):
                    spent = [tree_cpu_seconds(pid) - was for pid, was in zip(workers, each, strict=True)]
                    share = " / ".join(f"{s * 1000 / done:.2f}" for s in spent)
                one.rates.append(rate)
                one.cpu.append(used * 1000 / done)
                one.shares.append(share)
                errors = f", {len(result.errors)} errors" if result.errors else ""
                print(
                    f"  {one.name:16} {rate:7.0f} msgs/s {used * 1000 / done:5.2f} ms/msg"
                    f"{f' (workers {share})' if share else ''}{errors}  load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )

            for run in range(args.runs):
                for one in series:
                    measure(one, run)
        print("| server | msgs/s median | range | server CPU ms/msg median |")
        print("|---|---:|---:|---:|")
        for one in series:
            print(
                f"| {one.name} | {statistics.median(one.rates):,.0f} | {min(one.rates):,.0f}-"
                f"{max(one.rates):,.0f} | {statistics.median(one.cpu):.2f} |"
            )
        if len(series) > 1 and not args.no_dovecot:
            peer_rate = statistics.median(series[-1].rates)
            for one in series[:-1]:
                print(f"ratio {one.name} / {series[-1].name}: {statistics.median(one.rates) / peer_rate:.2f}")
        print(f"load at end {os.getloadavg()}")
    finally:
        shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    main()
