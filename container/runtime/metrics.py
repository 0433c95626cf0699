"""Prometheus metrics in the text exposition format, kept in plain dicts (one process each).

Counting is on the hot path of every request, so it is a dict increment and a bisect; rendering
happens only when /metrics is scraped. Each worker process counts and answers for itself: nothing is
aggregated across workers (the supervisor only starts them), so a scrape sees the one worker that
accepted its connection, and its counters restart with that worker.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from container.runtime.drift_window import DriftWindow

_BATCH = 16  # predictions per reply above which one numpy pass is cheaper than a bisect each
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        # Deciles of a discrete value repeat; a repeated bound would repeat an `le` label.
        self.buckets = tuple(sorted(set(buckets)))
        self._bounds = np.asarray(self.buckets, dtype=np.float64)
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.total += value
        self.n += 1

    def observe_many(self, values: Sequence[float]) -> None:
        """A batch at once: one numpy pass in place of a bisect per value (same bins as `observe`)."""
        array = np.asarray(values, dtype=np.float64)
        found = np.bincount(np.searchsorted(self._bounds, array, side="left"), minlength=len(self.counts))
        for i, count in enumerate(found.tolist()):
            self.counts[i] += count
        self.total += float(array.sum())
        self.n += array.size

    def render(self, name: str, labels: str) -> list[str]:
        sep = "," if labels else ""
        lines, running = [], 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            lines.append(f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {running}')
        lines.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.n}')
        suffix = f"{{{labels}}}" if labels else ""
        lines.append(f"{name}_sum{suffix} {self.total!r}")
        lines.append(f"{name}_count{suffix} {self.n}")
        return lines


class CaptureCounters(Protocol):
    @property
    def records(self) -> int: ...
    @property
    def dropped_queue_full(self) -> int: ...
    @property
    def dropped_write_error(self) -> int: ...


class Metrics:
    def __init__(self, prediction_buckets: Sequence[float] = ()) -> None:
        self.requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.predictions = Histogram(prediction_buckets)
        self.rows = 0
        self.model_loaded = 0
        self.in_flight = 0
        self.capture: CaptureCounters | None = None  # set when MODELSTAGE_CAPTURE_DIR is
        self.window: DriftWindow | None = None  # set once the model is loaded, unless MODELSTAGE_DRIFT_WINDOW=0

    def set_prediction_buckets(self, buckets: Sequence[float]) -> None:
        self.predictions = Histogram(buckets)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests[(route, status)] += 1
        hist = self.latency.get(route)
        if hist is None:
            hist = self.latency[route] = Histogram(LATENCY_BUCKETS)
        hist.observe(seconds)

    def observe_predictions(self, values: Sequence[float]) -> None:
        self.rows += len(values)
        if len(values) > _BATCH:
            self.predictions.observe_many(values)
            return
        for v in values:
            self.predictions.observe(v)

    def render(self) -> bytes:
        out = [
            "# HELP modelstage_requests_total Requests by route and HTTP status.",
            "# TYPE modelstage_requests_total counter",
        ]
        for (route, status), n in sorted(self.requests.items()):
            out.append(f'modelstage_requests_total{{route="{route}",status="{status}"}} {n}')
        out += [
            "# HELP modelstage_request_duration_seconds Time from the request's start to its response.",
            "# TYPE modelstage_request_duration_seconds histogram",
        ]
        for route, hist in sorted(self.latency.items()):
            out += hist.render("modelstage_request_duration_seconds", f'route="{route}"')
        out += [
            "# HELP modelstage_prediction Distribution of predicted values (buckets: the bundle's baseline deciles).",
            "# TYPE modelstage_prediction histogram",
            *self.predictions.render("modelstage_prediction", ""),
            "# HELP modelstage_rows_total Rows scored.",
            "# TYPE modelstage_rows_total counter",
            f"modelstage_rows_total {self.rows}",
            "# HELP modelstage_requests_in_flight Requests received and not yet answered.",
            "# TYPE modelstage_requests_in_flight gauge",
            f"modelstage_requests_in_flight {self.in_flight}",
            "# HELP modelstage_model_loaded 1 once the model is loaded and verified.",
            "# TYPE modelstage_model_loaded gauge",
            f"modelstage_model_loaded {self.model_loaded}",
        ]
        capture = self.capture
        written, full, failed = (capture.records, capture.dropped_queue_full,
                                 capture.dropped_write_error) if capture is not None else (0, 0, 0)
        out += [
            "# HELP modelstage_capture_records_total Captured records written (MODELSTAGE_CAPTURE_DIR).",
            "# TYPE modelstage_capture_records_total counter",
            f"modelstage_capture_records_total {written}",
            "# HELP modelstage_capture_dropped_total Captured records dropped: the queue or the disk was full.",
            "# TYPE modelstage_capture_dropped_total counter",
            f'modelstage_capture_dropped_total{{reason="queue_full"}} {full}',
            f'modelstage_capture_dropped_total{{reason="write_error"}} {failed}',
        ]
        if self.window is not None:
            out += self.window.render()
        return ("\n".join(out) + "\n").encode()
