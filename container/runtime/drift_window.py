"""Drift of the last N scored rows against the bundle's baseline, as /metrics gauges (issue 11, item 7).

A request only copies its already-encoded rows and its predictions into a preallocated ring (one
row assignment for the common 1-row request, one or two block copies for a batch); the binning and
PSI run when /metrics is scraped. The numbers are those `modelstage drift` reports for the same
rows: the same functions (model/drift_stats.py) over the same encoded values.

Each worker process keeps its own window, as it keeps its own counters (metrics.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.baseline import FeatureBaseline
from model.drift_stats import missing_rate, psi_against


class DriftWindow:
    def __init__(self, size: int, features: Sequence[FeatureBaseline], prediction: FeatureBaseline | None) -> None:
        self.size = size
        self.features = tuple(features)
        self.prediction = prediction
        # Row-major: writing one row into it costs half of what it costs column-major (0.2 vs 0.5 us).
        self._x = np.full((size, len(self.features)), np.nan, dtype=np.float64)
        self._p = np.full(size, np.nan, dtype=np.float64)
        self._next = 0  # the slot the next row goes to (the oldest row once the ring is full)
        self.seen = 0  # rows appended since start; the window holds min(seen, size) of them

    def append(self, X: np.ndarray, predictions: Sequence[float]) -> None:
        """Rows `X` (rows x features, encoded) and their predictions; on the event loop, per reply."""
        n = len(X)
        i = self._next
        if n == 1:
            self._x[i] = X  # (1, features) into one row: the cheapest numpy assignment of it
            self._p[i] = predictions[0]
            i += 1
            self._next = 0 if i == self.size else i
            self.seen += 1
            return
        self._append_block(X, np.asarray(predictions, dtype=np.float64), n, i)

    def _append_block(self, X: np.ndarray, p: np.ndarray, n: int, i: int) -> None:
        size = self.size
        self.seen += n
        if n >= size:  # only the newest `size` rows can stay
            self._x[:] = X[n - size:]
            self._p[:] = p[n - size:]
            self._next = 0
            return
        head = min(n, size - i)  # up to the end of the ring, then the rest from its start
        self._x[i:i + head] = X[:head]
        self._p[i:i + head] = p[:head]
        if head < n:
            self._x[:n - head] = X[head:]
            self._p[:n - head] = p[head:]
        self._next = (i + n) % size

    @property
    def rows(self) -> int:
        return min(self.seen, self.size)

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows and predictions in the window (in ring order, not arrival order: PSI ignores order)."""
        rows = self.rows
        return self._x[:rows], self._p[:rows]

    def render(self) -> list[str]:
        X, p = self.contents()
        out = [
            "# HELP modelstage_drift_window_rows Rows in the drift window: the last MODELSTAGE_DRIFT_WINDOW scored.",
            "# TYPE modelstage_drift_window_rows gauge",
            f"modelstage_drift_window_rows {len(p)}",
            "# HELP modelstage_feature_drift_psi PSI of the window's values of a feature vs the bundle's baseline.",
            "# TYPE modelstage_feature_drift_psi gauge",
        ]
        missing = []
        for j, baseline in enumerate(self.features):
            column = X[:, j]
            value = psi_against(baseline, column)  # None: no finite value in the window
            label = _label(baseline.name)
            if value is not None:
                out.append(f'modelstage_feature_drift_psi{{feature="{label}"}} {value!r}')
            if len(column):
                missing.append(f'modelstage_feature_missing_ratio{{feature="{label}"}} {missing_rate(column)!r}')
        out += [
            "# HELP modelstage_feature_missing_ratio Share of the window's rows where a feature is missing.",
            "# TYPE modelstage_feature_missing_ratio gauge",
            *missing,
            "# HELP modelstage_prediction_drift_psi PSI of the window's predictions against the bundle's baseline.",
            "# TYPE modelstage_prediction_drift_psi gauge",
        ]
        value = psi_against(self.prediction, p) if self.prediction is not None else None
        if value is not None:
            out.append(f"modelstage_prediction_drift_psi {value!r}")
        return out


def _label(value: str) -> str:
    """A Prometheus label value: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
