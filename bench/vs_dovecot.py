"""pochta and Dovecot side by side: the same client against both, in turns, on this machine.

    .venv/bin/python bench/vs_dovecot.py [--only lmtp,pop3,imaptest,smtp,big] [--runs 3] [--big 20000]
                                         [--workers N] [--imaptest PATH] [--keep DIR]

Installs nothing. Dovecot is Debian's (``apt-get install dovecot-imapd dovecot-pop3d dovecot-lmtpd``);
when it is absent its rows are printed without it. It runs with its own configuration in a
temporary directory (tests/dovecot_env.py: ``dovecot -F -c CONF``, mail as maildir or sdbox with the
default fsync settings, a passwd-file with the same argon2id hash pochta keeps, so that a login
costs both servers the same, and for imaptest also users with {PLAIN} passwords, which spare Dovecot
the hash). pochta is a real ``pochta serve`` subprocess on a data directory made
by ``pochta init`` (tests/serve_process.py), with ``--workers`` when its ``serve`` has that option.
Every server binds 127.0.0.1 on free ports and is stopped by its PID; the directories are removed
(kept under ``--keep DIR``).

Rows (each run alternates pochta, Dovecot, pochta, ...; the figure is the median of ``--runs``):
- ``lmtp``: 10 LMTP sessions deliver 2,000 4 KiB messages, 1 recipient each (over 10 accounts): msgs/s;
- ``smtp``: the same over pochta's SMTP MX listener; Dovecot has no MX, so Postfix's smtp-sink (reads
  and discards) is the reference when installed: a ceiling, not a peer;
- ``pop3``: one maildrop of 2,000 realistic messages (filled over LMTP, not timed) downloaded with
  poplib (LIST, RETR each, QUIT): msgs/s;
- ``imaptest``: Dovecot's imaptest (``--imaptest`` or .tools/bin/imaptest, built by
  ``sh tests/interop/imaptest/build.sh .tools``), default mix, 10 clients, 20 s, users
  user1..user10, APPENDing from a generated mbox: commands/s and ``Error:`` lines; against Dovecot
  twice per round, with argon2id and with {PLAIN} passwords (the mix logs in every ~9 commands);
- ``big``: one INBOX of ``--big`` realistic messages filled over 10 LMTP sessions into pochta and into
  Dovecot's sdbox (fill rate), then a raw-socket IMAP client on a new connection per run: SELECT,
  UID FETCH 1:* (UID FLAGS), FETCH of 100 ENVELOPEs spread over the box, UID SEARCH TEXT of a word
  in one message, UID SEARCH SUBJECT "meeting", UID SORT (SUBJECT), UID SORT (DATE) and UID THREAD
  REFERENCES over the whole box (ms; the parallel fill stores the messages in another order in each
  server, so only the count of numbers answered is compared: tests/interop/test_dovecot_sort.py
  compares the answers themselves).

Ratios are pochta/Dovecot for rates and Dovecot/pochta for times: above 1.0 pochta is ahead.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

from smtp_accept import SINK, make_messages, start_sink, stop  # noqa: E402
from workloads import (  # noqa: E402
    DOMAIN,
    RARE,
    SUBJECT_WORD,
    ImapClient,
    ImaptestResult,
    deliver,
    distinct_errors,
    pop3_download,
    realistic_mailbox,
    run_imaptest,
    search_exists,
    search_hits,
    write_mbox,
)

from dovecot_env import APT_LINE, DovecotServer, dovecot_missing, dovecot_server  # noqa: E402
from pochta.auth.passwords import hash_password  # noqa: E402
from serve_process import ServeProcess, init_data_dir, run_pochta  # noqa: E402

PASSWORD = "bench password 1"
IMAPTEST_USERS = [f"user{i}@{DOMAIN}" for i in range(1, 11)]
PLAIN_USERS = [f"user{i}@{DOMAIN}" for i in range(11, 21)]  # Dovecot only: {PLAIN} passwords
BOXES = [f"box{i}@{DOMAIN}" for i in range(1, 11)]
POP_USER, BIG_USER = f"pop@{DOMAIN}", f"big@{DOMAIN}"
ROWS = ("lmtp", "smtp", "pop3", "imaptest", "big")
SESSIONS, SIZE = 10, 4096


@dataclass
class Row:
    name: str
    unit: str
    higher_is_better: bool
    pochta: list[float] = field(default_factory=list)
    peer: list[float] = field(default_factory=list)
    peer_name: str = "Dovecot"
    note: str = ""

    def cells(self) -> tuple[str, str, str]:
        ours = statistics.median(self.pochta) if self.pochta else None
        theirs = statistics.median(self.peer) if self.peer else None
        if ours is None or theirs is None or not ours or not theirs:
            ratio = "n/a"
        else:
            ratio = f"{(ours / theirs if self.higher_is_better else theirs / ours):.2f}"
        return _fmt(ours, self.unit), _fmt(theirs, self.unit), ratio

    def line(self) -> str:
        ours, theirs, ratio = self.cells()
        return f"| {self.name} | {ours} | {theirs} | {ratio} | {self.note} |"


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if not unit:
        return f"{value:g}"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.1f} {unit}" if value >= 10 else f"{value:.2f} {unit}"


def say(text: str) -> None:
    print(text, flush=True)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- the servers ------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    ports: dict[str, int]
    pid: int


def serve_args(workers: int) -> list[str]:
    """``--workers N`` when this pochta's ``serve`` has that option (issue 10), otherwise nothing."""
    help_text = run_pochta("serve", "--help").stdout
    return ["--workers", str(workers)] if "--workers" in help_text else []


@contextmanager
def pochta_server(
    parent: Path, listeners: list[str], accounts: list[str], args: list[str]
) -> Iterator[Target]:
    data = Path(tempfile.mkdtemp(prefix="pochta-", dir=parent))
    init_data_dir(data / "data", listeners=listeners, accounts=dict.fromkeys(accounts, PASSWORD))
    server = ServeProcess(data / "data", data / "serve.log", args)
    try:
        ports = server.wait_listening(listeners)
        yield Target("pochta", ports, server.pid)
        failures = server.failures()
        if failures:
            say(f"  pochta logged {len(failures)} failure lines, first: {failures[0][:200]}")
    finally:
        server.stop()


@contextmanager
def dovecot_peer(parent: Path, protocols: list[str], mail_format: str, keep: bool) -> Iterator[Target]:
    """Dovecot with a passwd-file: user1..user10 (and the other accounts) with pochta's own argon2id
    hash of the password, so that a login costs both servers the same, and user11..user20 with
    {PLAIN} passwords (no hashing, as a Dovecot with a static or plaintext passdb)."""
    hashed = f"{{ARGON2ID}}{hash_password(PASSWORD)}"
    users = dict.fromkeys([*IMAPTEST_USERS, *BOXES, POP_USER, BIG_USER], hashed)
    users |= dict.fromkeys(PLAIN_USERS, f"{{PLAIN}}{PASSWORD}")
    with dovecot_server(
        protocols=protocols, mail_format=mail_format, users=users, parent=parent, keep=keep
    ) as server:
        yield Target(f"Dovecot {mail_format}", server.ports, server.pid)
        _report_dovecot_errors(server)


def _report_dovecot_errors(server: DovecotServer) -> None:
    errors = [line for line in server.log_text().splitlines() if "Error:" in line or "Fatal:" in line]
    if errors:
        say(f"  Dovecot logged {len(errors)} error lines, first: {errors[0][:200]}")


def alternate(row: Row, runs: int, targets: list[Target], measure: Callable[[Target, int], float]) -> None:
    """``runs`` rounds; in each, every target in turn (the first target is pochta)."""
    for run in range(runs):
        for index, target in enumerate(targets):
            value = measure(target, run)
            (row.pochta if index == 0 else row.peer).append(value)
            say(f"  {row.name} run {run + 1} {target.name}: {_fmt(value, row.unit)}")


# -- the rows ---------------------------------------------------------------------------------------


def lmtp_row(runs: int, targets: list[Target], proto: str, name: str) -> Row:
    row = Row(name, "msgs/s", True, peer_name=targets[1].name if len(targets) > 1 else "")

    def measure(target: Target, run: int) -> float:
        messages = make_messages(2000, SIZE, [BOXES[0]], f"{proto}{run}{target.name[:3]}")
        result = deliver(target.ports[proto], messages, BOXES, SESSIONS, lmtp=proto == "lmtp")
        if result.errors or result.refused:
            say(
                f"    {target.name}: {len(result.errors)} errors, refused {result.refused}: "
                f"{result.errors[:2]}"
            )
        return result.accepted / result.wall

    alternate(row, runs, targets, measure)
    return row


def pop3_row(runs: int, targets: list[Target], count: int) -> Row:
    row = Row(f"POP3 download of {count:,} messages with poplib", "msgs/s", True)
    messages = realistic_mailbox(count, POP_USER, seed=2)
    for target in targets:
        filled = deliver(target.ports["lmtp"], messages, [POP_USER], SESSIONS)
        say(f"  filled {target.name} maildrop: {filled.accepted} messages, {len(filled.errors)} errors")
    megabytes = sum(len(message) for message in messages) / 2**20
    row.note = f"{megabytes:.1f} MB, realistic sizes"

    def measure(target: Target, run: int) -> float:
        listed, _, seconds = pop3_download(target.ports["pop3"], POP_USER, PASSWORD)
        if listed != count:
            say(f"    {target.name}: the maildrop listed {listed} messages, not {count}")
        return listed / seconds

    alternate(row, runs, targets, measure)
    return row


def imaptest_rows(runs: int, targets: list[Target], binary: Path, mbox: Path, secs: int) -> list[Row]:
    """imaptest in turns against pochta (user1..user10), Dovecot with the same argon2id logins
    (user1..user10) and Dovecot with {PLAIN} passwords (user11..user20): imaptest's default mix logs
    out and in again every ~9 commands, so the password hash weighs on commands/s."""
    runs_of = [(targets[0], "1-10", "pochta")]
    if len(targets) > 1:
        runs_of += [(targets[1], "1-10", "argon2id"), (targets[1], "11-20", "PLAIN")]
    results: dict[str, list[ImaptestResult]] = {}
    for run in range(runs):
        for target, users, label in runs_of:
            result = run_imaptest(binary, target.ports["imap"], mbox, PASSWORD, users, 10, secs)
            results.setdefault(label, []).append(result)
            say(
                f"  imaptest run {run + 1} {target.name} ({label} logins): {result.per_second:.0f} cmds/s, "
                f"{len(result.errors)} errors, {result.totals}"
            )
    pochta_errors = [line for result in results["pochta"] for line in result.errors]
    if pochta_errors:
        say(f"  distinct imaptest errors pochta showed ({len(pochta_errors)} in all):")
        for line in distinct_errors(pochta_errors, 20):
            say(f"    {line}")
    rows = []
    for label, how in (("argon2id", "same argon2id logins"), ("PLAIN", "Dovecot with PLAIN passwords")):
        rate = Row(f"imaptest default mix, 10 clients, {secs} s ({how})", "cmds/s", True)
        errors = Row(f"imaptest errors per run ({how})", "", False)
        rate.pochta = [result.per_second for result in results["pochta"]]
        errors.pochta = [float(len(result.errors)) for result in results["pochta"]]
        rate.peer = [result.per_second for result in results.get(label, [])]
        errors.peer = [float(len(result.errors)) for result in results.get(label, [])]
        for line in distinct_errors([e for result in results.get(label, []) for e in result.errors], 5):
            say(f"    Dovecot ({label}): {line}")
        rows += [rate, errors]
        if len(targets) == 1:
            break
    return rows


def big_rows(runs: int, targets: list[Target], count: int) -> list[Row]:
    fill = Row(f"fill {count:,} messages over LMTP, 10 sessions", "msgs/s", True)
    say(f"  generating {count:,} realistic messages ...")
    messages = realistic_mailbox(count, BIG_USER, seed=1)
    say(f"  {sum(len(m) for m in messages) / 2**20:.0f} MB; {RARE!r} in one message")
    for index, target in enumerate(targets):
        result = deliver(target.ports["lmtp"], messages, [BIG_USER], SESSIONS)
        rate = result.accepted / result.wall
        (fill.pochta if index == 0 else fill.peer).append(rate)
        say(
            f"  fill {target.name}: {rate:.0f} msgs/s ({result.accepted} accepted, "
            f"{len(result.errors)} errors)"
        )
    fill.note = "one fill each, not a median"
    step = count // 100
    spread = ",".join(str(1 + i * step) for i in range(100))
    names = {
        "select": "first SELECT on a new connection",
        "flags": "UID FETCH 1:* (UID FLAGS)",
        "envelopes": "FETCH of 100 ENVELOPEs spread over the box",
        "text": "UID SEARCH TEXT, a word in one message",
        "subject": f'UID SEARCH SUBJECT "{SUBJECT_WORD}"',
        "sort_subject": "UID SORT (SUBJECT) UTF-8 ALL",
        "sort_date": "UID SORT (DATE) UTF-8 ALL",
        "thread": "UID THREAD REFERENCES UTF-8 ALL",
    }
    rows = {key: Row(name, "ms", False) for key, name in names.items()}
    answers: dict[str, set[str]] = {}

    def timed(client: ImapClient, command: str) -> tuple[float, bytes]:
        started = time.perf_counter()
        answer = client.command(command)
        return (time.perf_counter() - started) * 1000, answer

    for run in range(runs):
        for index, target in enumerate(targets):
            client = ImapClient(target.ports["imap"])
            try:
                client.command(f'LOGIN {BIG_USER} "{PASSWORD}"')
                figures = {}
                figures["select"], answer = timed(client, "SELECT INBOX")
                exists = search_exists(answer)
                figures["flags"], answer = timed(client, "UID FETCH 1:* (UID FLAGS)")
                fetched = answer.count(b" FETCH (")
                figures["envelopes"], _ = timed(client, f"FETCH {spread} ENVELOPE")
                figures["text"], answer = timed(client, f"UID SEARCH TEXT {RARE}")
                text_hits = search_hits(answer)
                figures["subject"], answer = timed(client, f"UID SEARCH SUBJECT {SUBJECT_WORD}")
                subject_hits = search_hits(answer)
                ordered = []
                for key in ("sort_subject", "sort_date", "thread"):
                    figures[key], answer = timed(client, names[key])
                    ordered.append(len(re.findall(rb"\d+", answer.split(b"\r\n", 1)[0])))
            finally:
                client.close()
            answers.setdefault(target.name, set()).add(
                f"{exists} exist, {fetched} fetched, TEXT {text_hits} hit(s), SUBJECT {subject_hits} hits, "
                f"SORT SUBJECT/DATE and THREAD numbers {'/'.join(map(str, ordered))}"
            )
            for key, value in figures.items():
                (rows[key].pochta if index == 0 else rows[key].peer).append(value)
            say(f"  run {run + 1} {target.name}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in figures.items()))
    for name, seen in answers.items():
        say(f"  answers {name}: {'; '.join(sorted(seen))}")
    for key in ("sort_subject", "sort_date", "thread"):
        rows[key].note = "first run (sort keys or Dovecot's caches built): " + ", ".join(
            f"{target.name} {(rows[key].pochta if i == 0 else rows[key].peer)[0]:.1f} ms"
            for i, target in enumerate(targets)
        )
    rows["select"].note = "first run (right after the fill): " + ", ".join(
        f"{target.name} {(rows['select'].pochta if i == 0 else rows['select'].peer)[0]:.1f} ms"
        for i, target in enumerate(targets)
    )
    return [fill, *rows.values()]


# -- main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(ROWS), help=f"rows to run, of {','.join(ROWS)}")
    parser.add_argument("--runs", type=int, default=3, help="runs per server per row (median)")
    parser.add_argument("--big", type=int, default=20_000, help="messages in the big INBOX")
    parser.add_argument("--pop3-messages", type=int, default=2000, help="messages in the POP3 maildrop")
    parser.add_argument("--imaptest-secs", type=int, default=20, help="seconds per imaptest run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="pochta serve --workers")
    parser.add_argument("--imaptest", type=Path, default=ROOT / ".tools" / "bin" / "imaptest")
    parser.add_argument("--keep", type=Path, default=None, help="keep the servers' directories under DIR")
    args = parser.parse_args()
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(only) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; rows are {','.join(ROWS)}")

    commit = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True, text=True
    ).stdout.strip()
    say(f"vs_dovecot.py {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit[:70]}")
    say(
        f"{os.cpu_count()} cores, SHARED by the client, pochta and Dovecot (and other users of this "
        f"machine): every figure includes the client's own CPU. Load average at start: {load()}"
    )
    # Dovecot takes part with the protocols installed (LMTP fills its mailboxes, so it is needed).
    missing = dovecot_missing(("lmtp",))
    peer_protocols = [proto for proto in ("imap", "pop3", "lmtp") if not dovecot_missing((proto,))]
    if missing:
        say(f"Dovecot rows skipped: {missing}")
    elif len(peer_protocols) < 3:
        say(f"Dovecot rows partly skipped: {dovecot_missing(('imap', 'pop3'))}")
    workers = serve_args(args.workers)
    say(f"pochta serve {' '.join(workers) or '(one process: this pochta has no --workers)'}")
    parent = args.keep or Path(tempfile.mkdtemp(prefix="pochta-vs-dovecot-"))
    parent.mkdir(parents=True, exist_ok=True)
    parent.chmod(0o755)  # Dovecot's unprivileged processes walk into it
    rows: list[Row] = []
    try:
        shared = [row for row in only if row != "big"]
        if shared:
            listeners = ["lmtp", "smtp", "pop3", "imap"]
            with ExitStack() as stack:
                ours = stack.enter_context(
                    pochta_server(parent, listeners, [*IMAPTEST_USERS, *BOXES, POP_USER], workers)
                )
                targets = [ours]
                if not missing:
                    targets.append(
                        stack.enter_context(dovecot_peer(parent, peer_protocols, "maildir", bool(args.keep)))
                    )
                say(
                    f"pochta pid {ours.pid} {ours.ports}; "
                    + "; ".join(f"{t.name} pid {t.pid} {t.ports}" for t in targets[1:])
                )
                if "lmtp" in only:
                    say("LMTP ...")
                    rows.append(lmtp_row(args.runs, targets, "lmtp", "LMTP, 10 sessions, 4 KiB, 1 recipient"))
                if "smtp" in only:
                    say("SMTP ...")
                    rows.append(smtp_row(args.runs, ours))
                if "pop3" in only:
                    say("POP3 ...")
                    pop3_targets = [target for target in targets if "pop3" in target.ports]
                    rows.append(pop3_row(args.runs, pop3_targets, args.pop3_messages))
                if "imaptest" in only:
                    if args.imaptest.exists():
                        say("imaptest ...")
                        mbox = parent / "imaptest.mbox"
                        write_mbox(mbox, realistic_mailbox(1000, "user1@example.org", seed=3))
                        imap_targets = [target for target in targets if "imap" in target.ports]
                        rows.extend(
                            imaptest_rows(args.runs, imap_targets, args.imaptest, mbox, args.imaptest_secs)
                        )
                    else:
                        say(
                            f"imaptest row skipped: no {args.imaptest} (build it: "
                            "sh tests/interop/imaptest/build.sh .tools)"
                        )
        if "big" in only:
            say(f"big INBOX of {args.big:,} messages ...")
            with ExitStack() as stack:
                ours = stack.enter_context(pochta_server(parent, ["lmtp", "imap"], [BIG_USER], workers))
                targets = [ours]
                if not missing and "imap" in peer_protocols:
                    targets.append(
                        stack.enter_context(dovecot_peer(parent, ["imap", "lmtp"], "sdbox", bool(args.keep)))
                    )
                rows.extend(big_rows(args.runs, targets, args.big))
    finally:
        say("")  # the table (of the rows done, also after an error), then the clean-up
        say(f"Load average at end: {load()}. Median of {args.runs} runs; ratio > 1.0: pochta ahead.")
        say(f"Dovecot: {f'absent ({APT_LINE})' if missing else dovecot_version()}")
        say("| workload | pochta | reference | ratio | note |\n|---|---:|---:|---:|---|")
        for row in rows:
            say(row.line())
        if args.keep is None:
            say(f"(removing {parent})")
            shutil.rmtree(parent, ignore_errors=True)


def smtp_row(runs: int, ours: Target) -> Row:
    row = Row("SMTP accept over the MX listener, 10 sessions, 4 KiB", "msgs/s", True)
    if not Path(SINK).exists():
        row.note = "no smtp-sink (apt-get install postfix): pochta alone"
        alternate(row, runs, [ours], lambda target, run: _smtp_once(target.ports["smtp"], run, "p"))
        return row
    row.note = "reference: Postfix smtp-sink (discards; a ceiling, not a peer)"

    def measure(target: Target, run: int) -> float:
        if target.name == "pochta":
            return _smtp_once(target.ports["smtp"], run, "p")
        sink, port = start_sink(lmtp=False)
        try:
            return _smtp_once(port, run, "s")
        finally:
            stop(sink)

    alternate(row, runs, [ours, Target("smtp-sink", {}, 0)], measure)
    return row


def _smtp_once(port: int, run: int, tag: str) -> float:
    messages = make_messages(2000, SIZE, [BOXES[0]], f"smtp{run}{tag}")
    result = deliver(port, messages, BOXES, SESSIONS, lmtp=False)
    if result.errors or result.refused:
        say(f"    {len(result.errors)} errors, refused {result.refused}: {result.errors[:2]}")
    return result.accepted / result.wall


def dovecot_version() -> str:
    completed = subprocess.run(["dovecot", "--version"], capture_output=True, text=True)
    return "dovecot " + completed.stdout.strip()


if __name__ == "__main__":
    main()
