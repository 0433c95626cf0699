"""CPU accounting per load run: the server's, the load generator's, and everyone else's (noise).

On a shared 2-core machine other processes steal time from the run; `other_cores` says how much,
so a figure taken while something else was busy can be recognised as such.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.servers import process_tree

_TICK = os.sysconf("SC_CLK_TCK")


def _busy_ticks() -> int:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal; guest is inside user


def _tree_ticks(pid: int) -> int:
    total = 0
    for p in process_tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the man page)
    return total


def _own_seconds() -> float:
    t = os.times()  # this process and its reaped children (wrk)
    return t.user + t.system + t.children_user + t.children_system


@dataclass(frozen=True)
class CpuUse:
    """Average cores busy during a run."""

    server: float
    generator: float
    other: float
    seconds: float  # wall time watched

    def server_us_per_request(self, requests: int) -> float:
        """Server CPU per request: unlike req/s, barely moved by other processes competing for the CPU."""
        return self.server * self.seconds / requests * 1e6 if requests else float("nan")


class CpuWatch:
    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.started = time.perf_counter()
        self.busy = _busy_ticks()
        self.server = _tree_ticks(server_pid)
        self.own = _own_seconds()

    def stop(self) -> CpuUse:
        wall = time.perf_counter() - self.started
        busy = (_busy_ticks() - self.busy) / _TICK
        server = (_tree_ticks(self.pid) - self.server) / _TICK
        own = _own_seconds() - self.own
        return CpuUse(server / wall, own / wall, max(0.0, busy - server - own) / wall, wall)
