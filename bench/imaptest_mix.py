"""imaptest's default mix against pochta (and Dovecot with {PLAIN} passwords), in turns, with the
server's CPU time per command.

    .venv/bin/python bench/imaptest_mix.py [--runs 3] [--secs 20] [--workers 2] [--no-dovecot]
                                           [--clients 10] [--checkpoint N]
                                           [--imaptest PATH] [--profile DIR]

The same setup as ``vs_dovecot.py --only imaptest`` (10 clients, users user1..user10, APPENDing from a
generated mbox), but one row only, alternated with Dovecot's PLAIN row, and with the CPU seconds
(user + system from /proc) of each server's process tree per imaptest command: the CPU
figure moves far less with the machine's load than commands/s. ``--profile DIR`` records each pochta
worker with ``py-spy record --native --gil`` during the first pochta run (py-spy must be installed
in the venv). ``--clients`` sets imaptest's clients (still on 10 accounts each side) and
``--checkpoint N`` adds imaptest's ``checkpoint=N``: every N seconds the clients of a mailbox stop,
CHECK, and imaptest compares their views (messages, UIDs, flags, keywords, \\Recent); this needs the
imaptest built with our patches (``sh tests/interop/imaptest/build.sh .tools``). The errors of both
servers are counted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

from proc_stats import process_tree, tree_cpu_seconds  # noqa: E402
from vs_dovecot import (  # noqa: E402
    IMAPTEST_USERS,
    PASSWORD,
    Target,
    dovecot_peer,
    load,
    pochta_server,
    say,
    serve_args,
)
from workloads import distinct_errors, realistic_mailbox, run_imaptest, write_mbox  # noqa: E402

from dovecot_env import dovecot_missing  # noqa: E402


def spy(pid: int, output: Path, secs: int) -> subprocess.Popen[bytes]:
    """``py-spy record`` of one worker for ``secs`` seconds (speedscope format)."""
    args = [
        str(ROOT / ".venv" / "bin" / "py-spy"), "record", "--native", "--gil", "--rate", "200",
        "--pid", str(pid), "--duration", str(secs), "--format", "speedscope", "-o", str(output),
    ]  # fmt: skip
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--secs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--clients", type=int, default=10, help="imaptest clients (on 10 accounts)")
    parser.add_argument("--checkpoint", type=int, default=0, help="imaptest's checkpoint=N (seconds)")
    parser.add_argument("--no-dovecot", action="store_true")
    parser.add_argument("--imaptest", type=Path, default=ROOT / ".tools" / "bin" / "imaptest")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy records of the first run here")
    args = parser.parse_args()
    say(f"imaptest_mix.py, {os.cpu_count()} cores shared with the client; load at start: {load()}")
    parent = Path(tempfile.mkdtemp(prefix="pochta-imaptest-mix-"))
    parent.chmod(0o755)
    mbox = parent / "imaptest.mbox"
    write_mbox(mbox, realistic_mailbox(1000, "user1@example.org", seed=3))
    use_dovecot = not args.no_dovecot and not dovecot_missing(("imap", "lmtp"))
    rates: dict[str, list[float]] = {}
    per_command: dict[str, list[float]] = {}
    errors: list[str] = []
    their_errors: list[str] = []
    with ExitStack() as stack:
        ours = stack.enter_context(pochta_server(parent, ["imap"], IMAPTEST_USERS, serve_args(args.workers)))
        targets: list[tuple[Target, str, str]] = [(ours, "1-10", "pochta")]
        if use_dovecot:
            peer = stack.enter_context(dovecot_peer(parent, ["imap", "lmtp"], "maildir", False))
            targets.append((peer, "11-20", "Dovecot PLAIN"))
        for run in range(args.runs):
            for target, users, label in targets:
                pids = process_tree(target.pid) if target is ours else []
                spies: list[subprocess.Popen[bytes]] = []
                if args.profile and target is ours and run == 0:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    spies = [spy(pid, args.profile / f"worker-{pid}.json", args.secs) for pid in pids[1:]]
                before = tree_cpu_seconds(target.pid)
                port = target.ports["imap"]
                extra = [f"checkpoint={args.checkpoint}"] if args.checkpoint else []
                result = run_imaptest(
                    args.imaptest, port, mbox, PASSWORD, users, args.clients, args.secs, extra
                )
                used = tree_cpu_seconds(target.pid) - before
                for recorder in spies:
                    recorder.wait()
                rates.setdefault(label, []).append(result.per_second)
                cpu = per_command.setdefault(label, [])
                cpu.append(used * 1000 / max(result.commands, 1))
                cpu_note = f", server CPU {used:.1f} s = {cpu[-1]:.2f} ms/command"
                if target is ours:
                    errors += result.errors
                else:
                    their_errors += result.errors
                say(
                    f"  run {run + 1} {label}: {result.per_second:.0f} cmds/s, {len(result.errors)} errors"
                    f"{cpu_note}, load {load()}; {result.totals}"
                )
    for line in distinct_errors(errors, 10):
        say(f"    pochta error {line}")
    for line in distinct_errors(their_errors, 10):
        say(f"    Dovecot error {line}")
    ours_rate = statistics.median(rates["pochta"])
    summary = f"pochta {ours_rate:.0f} cmds/s, {statistics.median(per_command['pochta']):.2f} ms CPU/command"
    if "Dovecot PLAIN" in rates:
        theirs = statistics.median(rates["Dovecot PLAIN"])
        their_cpu = statistics.median(per_command["Dovecot PLAIN"])
        summary += f"; Dovecot PLAIN {theirs:.0f} cmds/s, {their_cpu:.2f} ms CPU/command"
        summary += f"; ratio {ours_rate / theirs:.2f}; {len(their_errors)} Dovecot errors"
    say(f"median of {args.runs}: {summary}; {len(errors)} pochta errors; load at end {load()}")


if __name__ == "__main__":
    main()
