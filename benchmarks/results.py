"""Plain records of what was measured, shared by the load generators and the report."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadResult:
    generator: str  # "wrk -t1" or "python-asyncio"
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    status_errors: int  # responses wrk counts as errors (status >= 400); the fallback counts non-2xx
    socket_errors: int  # connect + read + write + timeout

    @property
    def errors(self) -> int:
        return self.status_errors + self.socket_errors


@dataclass(frozen=True)
class Timing:
    """Per-call wall time of an in-process function, in microseconds."""

    name: str
    calls: int
    median_us: float
    p99_us: float

    @staticmethod
    def of(name: str, samples_ns: list[int]) -> Timing:
        ordered = sorted(samples_ns)
        return Timing(name, len(ordered), statistics.median(ordered) / 1000, percentile(ordered, 99) / 1000)


def percentile(ordered: list[int] | list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1))
    return float(ordered[rank])
