"""How long a JMAP event stream (RFC 8620 section 7.3) waits for the state event of a delivery.

Starts ``pochta serve --workers N`` (default 2) with JMAP on, opens ``--clients`` event streams
(plain HTTP on loopback, Basic login, ``types=*&closeafter=state``: the streams are spread over
the workers by the kernel), delivers one message over LMTP, and measures from the LMTP 250 reply
to the ``state`` event read in each stream; ``--rounds`` times. Prints how many streams got the
event and the median, p90 and max latency over all rounds. Nothing is asserted (the test
tests/e2e/jmap/test_jmap_push_load.py asserts that all streams get it).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

from jmap_push_client import fan_out  # noqa: E402
from serve_process import ServeProcess, init_data_dir  # noqa: E402

ACCOUNT = "alice@example.org"
PASSWORD = "correct horse battery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    config = f"[jmap]\nenabled = true\nmax_push_connections = {args.clients}\n"
    token = base64.b64encode(f"{ACCOUNT}:{PASSWORD}".encode()).decode()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        init_data_dir(data, listeners=("http", "lmtp"), accounts={ACCOUNT: PASSWORD}, config=config)
        server = ServeProcess(data, Path(tmp) / "serve.log", [f"--workers={args.workers}"])
        try:
            ports = server.wait_listening(["http", "lmtp"])
            latencies: list[float] = []
            received = 0
            for _ in range(args.rounds):
                found = fan_out(
                    ports["http"], ports["lmtp"], {"Authorization": f"Basic {token}"}, ACCOUNT, args.clients
                )
                received += len(found)
                latencies.extend(found)
        finally:
            server.stop()
    total = args.clients * args.rounds
    print(f"jmap event source: {args.clients} streams x {args.rounds} deliveries, {args.workers} workers")
    print(f"received {received}/{total} state events")
    if latencies:
        ms = sorted(value * 1000 for value in latencies)
        p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
        print(
            f"delivery acknowledged -> event read: median {statistics.median(ms):.1f} ms, "
            f"p90 {p90:.1f} ms, max {ms[-1]:.1f} ms, min {ms[0]:.1f} ms"
        )


if __name__ == "__main__":
    main()
