"""The ``vs_dovecot.py`` POP3 row, quicker and with server CPU: pochta (this tree and optionally an
older one) and Dovecot maildir in turns, the same poplib download of one maildrop each round.

    .venv/bin/python bench/pop3_vs_dovecot.py [--runs 5] [--messages 2000] [--workers 2]
                                              [--base OLD_TREE/src] [--no-dovecot] [--raw]

Every server gets the same ``realistic_mailbox`` over LMTP (not timed); then each round downloads it
from every server in turn with ``workloads.pop3_download`` (USER/PASS, LIST, RETR of every message,
QUIT). Printed per server: msgs/s (median and range) and the server's CPU per message (user +
system summed over the server's processes: pochta's supervisor and workers; Dovecot's master and
every child, including the pop3 processes it has reaped), which moves far less with the machine's
load than the rate. ``--base DIR`` runs a second pochta from another tree's ``src`` (put first on
PYTHONPATH), e.g. main's, for a before/after in the same run. ``--raw`` adds, after each poplib
download, one by a raw socket client that sends each RETR when the last reply has arrived
(``workloads.pop3_round_trips``): the median RETR round trip is the server's latency per message
(plus the loopback's), where poplib's rate is mostly poplib parsing each reply in Python.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from proc_stats import tree_cpu_seconds  # noqa: E402
from turns import Series, print_summary  # noqa: E402
from vs_dovecot import POP_USER, dovecot_peer, pochta_server, serve_args  # noqa: E402
from workloads import deliver, pop3_download, pop3_round_trips, realistic_mailbox  # noqa: E402

PASSWORD = "bench password 1"  # vs_dovecot's


def _round_trips(port: int) -> list[float]:
    """``pop3_round_trips``, once the maildrop lock of the poplib session just ended is free (a
    session's lock goes after its QUIT's reply has been sent)."""
    for _ in range(50):
        try:
            return pop3_round_trips(port, POP_USER, PASSWORD)
        except ConnectionError as exc:
            if "IN-USE" not in str(exc):
                raise
            time.sleep(0.05)
    raise ConnectionError("the maildrop stayed locked")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--base", type=Path, default=None, help="another tree's src, run as a second pochta")
    parser.add_argument("--no-dovecot", action="store_true")
    parser.add_argument(
        "--raw",
        action="store_true",
        help="after each poplib download, one with a raw client: the median RETR round trip",
    )
    args = parser.parse_args()
    parent = Path(tempfile.mkdtemp(prefix="pochta-pop3-vs-"))
    parent.chmod(0o755)
    messages = realistic_mailbox(args.messages, POP_USER, seed=2)
    print(f"{len(messages)} messages, {sum(map(len, messages)) / 2**20:.1f} MB; load {os.getloadavg()}")
    series: list[Series] = []
    try:
        with ExitStack() as stack:
            workers = serve_args(args.workers)
            listeners = ["lmtp", "pop3"]
            trees: list[tuple[str, Path | None]] = [("pochta", None)]
            if args.base is not None:
                trees.append(("pochta base", args.base.resolve()))
            for name, src in trees:
                saved = os.environ.get("PYTHONPATH")
                if src is not None:
                    os.environ["PYTHONPATH"] = str(src)
                try:
                    target = stack.enter_context(pochta_server(parent, listeners, [POP_USER], workers))
                finally:
                    if saved is None:
                        os.environ.pop("PYTHONPATH", None)
                    else:
                        os.environ["PYTHONPATH"] = saved
                series.append(Series(name, target.pid, target.ports["pop3"]))
                filled = deliver(target.ports["lmtp"], messages, [POP_USER], 10)
                print(f"filled {name} (pid {target.pid}): {filled.accepted}, errors {len(filled.errors)}")
            if not args.no_dovecot:
                peer = stack.enter_context(dovecot_peer(parent, ["pop3", "lmtp"], "maildir", False))
                series.append(Series(peer.name, peer.pid, peer.ports["pop3"]))
                filled = deliver(peer.ports["lmtp"], messages, [POP_USER], 10)
                print(f"filled {peer.name} (pid {peer.pid}): {filled.accepted}, errors {len(filled.errors)}")
            measure: Callable[[Series], None]

            round_trips: dict[str, list[float]] = {}

            def measure(one: Series) -> None:
                before = tree_cpu_seconds(one.pid)
                listed, _, seconds = pop3_download(one.port, POP_USER, PASSWORD)
                used = tree_cpu_seconds(one.pid) - before
                one.rates.append(listed / seconds)
                one.cpu.append(used / listed * 1e6)
                raw = ""
                if args.raw:
                    median = statistics.median(_round_trips(one.port))
                    round_trips.setdefault(one.name, []).append(median)
                    raw = f" RETR round trip {median:5.1f} us"
                print(
                    f"  {one.name:16} {listed / seconds:8.0f} msgs/s {used / listed * 1e6:6.0f} us/msg"
                    f"{raw}  load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )

            for _ in range(args.runs):
                for one in series:
                    measure(one)
        print_summary(series, "us", 0, with_peer=not args.no_dovecot)
        for name, medians in round_trips.items():
            print(
                f"{name}: RETR round trip with a raw client, median of the runs' medians "
                f"{statistics.median(medians):.1f} us ({min(medians):.1f}-{max(medians):.1f})"
            )
    finally:
        shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    main()
