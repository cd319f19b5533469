"""CPU time of a server's process tree, read from Linux /proc: the one helper every bench script uses
for its "server CPU per operation" column (rates move with the machine's load; CPU time much less).

A supervised ``pochta serve`` is a supervisor and its worker processes; Dovecot is a master that forks
a process per connection and reaps it: both are counted whole by adding, for the root and every live
descendant, its own user + system time and that of the children it has reaped.
"""

from __future__ import annotations

import os
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 on), or None if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_tree(root: int) -> list[int]:
    """``root`` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds so far of ``root``, its live descendants and the children they
    reaped (utime, stime, cutime, cstime); NaN when ``root`` is gone."""
    if _stat_fields(root) is None:
        return float("nan")
    ticks = 0
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_sched_ns(root: int) -> tuple[int, int]:
    """Nanoseconds on a CPU and waiting for one (run queue) so far, summed over every thread of
    ``root`` and its live descendants (``/proc/PID/task/TID/schedstat``: exact, where the clock-tick
    counts of ``tree_cpu_seconds`` are 10 ms coarse). Threads that ended are not counted: use it
    around a command, not across process exits."""
    running = waiting = 0
    for pid in process_tree(root):
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                fields = (task / "schedstat").read_text().split()
            except OSError:
                continue
            running += int(fields[0])
            waiting += int(fields[1])
    return running, waiting
