"""Fetch a 2,000-message POP3 or IMAP mailbox into pochta with the fetcher: messages/s
(docs/fetch.md).

    .venv/bin/python bench/fetch_pop3.py [--protocol pop3|imap] [--messages 2000] [--size 8000]
                                         [--delete] [--dir /tmp]

The remote is Debian's Dovecot (tests/dovecot_env.py: its own processes, so the remote does not
share this process's GIL), filled over its LMTP with ``--messages`` messages of about ``--size``
octets, and fetched over POP3 or IMAP (its INBOX). This process is the local side: a fresh
data directory with one account, the normal delivery and a ``Fetcher`` (pochta.fetch), as
``pochta fetch run`` has them. One run fetches the whole mailbox (fetch.max_messages_per_run is
raised to the count); a second run, with nothing new, measures the listing alone. Printed: the
seconds and messages/s of each run, the server CPU time of this process per message, and
/proc/loadavg before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import smtplib
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from dovecot_env import dovecot_missing, dovecot_server  # noqa: E402
from fetch_env import fetch_settings, local_side  # noqa: E402

USER = "bench@example.org"
PASSWORD = "bench-password"


def fill(port: int, count: int, size: int) -> None:
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n"
    with smtplib.LMTP("127.0.0.1", port, timeout=60) as lmtp:
        for n in range(count):
            head = (
                f"From: s{n}@example.net\r\nTo: {USER}\r\nSubject: bench {n}\r\n"
                f"Message-ID: <bench-{n}@example.net>\r\n\r\n"
            ).encode()
            body = line * max(1, (size - len(head)) // len(line))
            lmtp.sendmail(f"s{n}@example.net", [USER], head + body)


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(port: int, args: argparse.Namespace, workdir: Path) -> None:
    settings = fetch_settings("", fetch={"max_messages_per_run": args.messages, "ca_file": ""})
    async with local_side(workdir, settings) as local:
        account = await local.add(
            port, USER, PASSWORD, tls=args.tls, keep=not args.delete, protocol=args.protocol
        )
        for label in ("full", "nothing new"):
            started, cpu0 = time.perf_counter(), cpu()
            report = await local.fetcher.run(account)
            seconds, used = time.perf_counter() - started, cpu() - cpu0
            if report.error is not None:
                raise SystemExit(f"the run failed: {report.summary()}")
            listed = max(report.listed, 1)
            rate = f"{report.fetched / seconds:8.1f} msgs/s fetched" if report.fetched else "listing only"
            print(
                f"{label:12} {report.fetched:5} fetched of {report.listed:5} listed in {seconds:6.2f} s: "
                f"{rate}, {used / listed * 1000:.2f} ms CPU per listed message here"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--protocol", choices=["pop3", "imap"], default="pop3")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=8000)
    parser.add_argument("--tls", choices=["none"], default="none", help="loopback plain text")
    parser.add_argument(
        "--delete", action="store_true", help="delete mode (DELE, or \\Deleted and UID EXPUNGE)"
    )
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    missing = dovecot_missing((args.protocol, "lmtp"))
    if missing:
        raise SystemExit(missing)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        Path(tmp).chmod(0o755)  # Dovecot's processes must reach its directory (tests/dovecot_env.py)
        with dovecot_server(
            protocols=(args.protocol, "lmtp"), password=PASSWORD, parent=Path(tmp)
        ) as dovecot:
            port = dovecot.imap if args.protocol == "imap" else dovecot.pop3
            run(dovecot.lmtp, port, args, Path(tmp))


def run(lmtp: int, port: int, args: argparse.Namespace, tmp: Path) -> None:
    started = time.perf_counter()
    fill(lmtp, args.messages, args.size)
    seconds = time.perf_counter() - started
    print(f"filled Dovecot with {args.messages} messages of ~{args.size} octets in {seconds:.1f} s")
    print("load before:", Path("/proc/loadavg").read_text().strip())
    work = tmp / "local"
    work.mkdir()
    asyncio.run(measure(port, args, work))
    print("load after: ", Path("/proc/loadavg").read_text().strip())


if __name__ == "__main__":
    main()
