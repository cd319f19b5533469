"""What the servers-in-turns scripts (``lmtp_vs_dovecot.py``, ``pop3_vs_dovecot.py``) share: one
series of measurements per server, and the summary they print after the turns (median rate, its
range, median server CPU per message, and each pochta's ratio to the last series, Dovecot)."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field


@dataclass
class Series:
    name: str
    pid: int
    port: int
    rates: list[float] = field(default_factory=list)  # messages per second, one per turn
    cpu: list[float] = field(default_factory=list)  # server CPU per message, in the script's unit
    shares: list[str] = field(default_factory=list)  # per worker, when the script measures them


def print_summary(series: list[Series], cpu_unit: str, cpu_digits: int, with_peer: bool) -> None:
    """The table of every series, then (``with_peer``: the last series is the reference server)
    each other series' median rate over the reference's."""
    print(f"| server | msgs/s median | range | server CPU {cpu_unit}/msg median |")
    print("|---|---:|---:|---:|")
    for one in series:
        print(
            f"| {one.name} | {statistics.median(one.rates):,.0f} | {min(one.rates):,.0f}-"
            f"{max(one.rates):,.0f} | {statistics.median(one.cpu):.{cpu_digits}f} |"
        )
    if len(series) > 1 and with_peer:
        peer_rate = statistics.median(series[-1].rates)
        for one in series[:-1]:
            print(f"ratio {one.name} / {series[-1].name}: {statistics.median(one.rates) / peer_rate:.2f}")
    print(f"load at end {os.getloadavg()}")
