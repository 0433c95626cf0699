"""Drift of recent inputs and predictions against a bundle's baseline.

Per feature and for the prediction: PSI over the baseline's bins, the KS distance and p-value,
the missing-value rate against the baseline's, and (features) the share of values outside the
schema's range. A column has drifted when any of them passes its threshold (`Thresholds`); the
reasons say which. With timestamps, PSI is also computed per time window (or per N rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from model.baseline import FeatureBaseline
from model.bundle import Bundle
from model.drift_stats import KsResult, ks_against, missing_rate, out_of_range_rate, proportions, psi_against
from model.errors import ModelstageError

MAX_WINDOWS = 1000
Kind = Literal["feature", "prediction"]


@dataclass(frozen=True)
class Thresholds:
    """Above any of these a column has drifted. `ks_distance` is the stack's driftThresholdPercent / 100:
    the same distance the clouds' monitors alarm on (SageMaker Model Monitor compares CDFs too)."""

    psi: float = 0.2
    ks_distance: float = 0.1
    missing_increase: float = 0.05  # missing rate above the baseline's by more than this (absolute)
    out_of_range: float = 0.01  # share of values outside the schema's range

    def to_dict(self) -> dict[str, float]:
        return {"psi": self.psi, "ks_distance": self.ks_distance, "missing_increase": self.missing_increase,
                "out_of_range": self.out_of_range}


@dataclass(frozen=True)
class ColumnDrift:
    name: str
    kind: Kind
    values: int  # finite values compared
    psi: float | None
    ks: KsResult | None
    missing_rate: float
    baseline_missing_rate: float
    out_of_range_rate: float | None  # None for the prediction (it has no schema range)
    edges: tuple[float, ...]
    baseline_share: tuple[float, ...]
    current_share: tuple[float, ...]
    reasons: tuple[str, ...]

    @property
    def drifted(self) -> bool:
        return bool(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "values": self.values, "psi": _round(self.psi),
            "ks_distance": None if self.ks is None else _round(self.ks.distance),
            "ks_p_value": None if self.ks is None else float(f"{self.ks.p_value:.6g}"),
            "missing_rate": _round(self.missing_rate), "baseline_missing_rate": _round(self.baseline_missing_rate),
            "out_of_range_rate": _round(self.out_of_range_rate), "drifted": self.drifted,
            "reasons": list(self.reasons),
            "bins": {"edges": list(self.edges), "baseline": _rounded(self.baseline_share),
                     "current": _rounded(self.current_share)},
        }


@dataclass(frozen=True)
class Window:
    start: str  # ISO 8601 (UTC), or the first row number for row windows
    end: str
    rows: int
    psi: dict[str, float | None]  # per column (features, then the prediction)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "rows": self.rows,
                "psi": {k: _round(v) for k, v in self.psi.items()}}


@dataclass(frozen=True)
class DriftSummary:
    bundle: str  # name@version
    source: str
    rows: int
    thresholds: Thresholds
    columns: tuple[ColumnDrift, ...]
    window_unit: str  # "day", "hour", "N rows" or "" (no windows)
    windows: tuple[Window, ...]
    notes: tuple[str, ...] = field(default=())  # how the rows were read: skipped records, local predictions

    @property
    def drifted(self) -> list[str]:
        return [c.name for c in self.columns if c.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle, "source": self.source, "rows": self.rows, "thresholds": self.thresholds.to_dict(),
            "drifted": self.drifted, "columns": [c.to_dict() for c in self.columns],
            "window_unit": self.window_unit, "windows": [w.to_dict() for w in self.windows], "notes": list(self.notes),
        }

    def render(self) -> str:
        head = f"{'column':<24} {'PSI':>8} {'KS D':>7} {'KS p':>9} {'missing':>8} {'out of range':>12}  status"
        lines = [head, "-" * len(head)]
        for c in self.columns:
            lines.append(
                f"{c.name:<24} {_fmt(c.psi, '.4f'):>8} {_fmt(c.ks and c.ks.distance, '.4f'):>7} "
                f"{_fmt(c.ks and c.ks.p_value, '.2e'):>9} {c.missing_rate:>8.2%} "
                f"{_fmt(c.out_of_range_rate, '.2%'):>12}  {'DRIFT: ' + '; '.join(c.reasons) if c.drifted else 'ok'}")
        verdict = f"drift in {', '.join(self.drifted)}" if self.drifted else "no drift"
        t = self.thresholds
        lines.append(f"{self.rows} rows compared with {self.bundle}'s baseline (PSI > {t.psi:g}, KS D > "
                     f"{t.ks_distance:g}, missing +{t.missing_increase:g}, out of range > {t.out_of_range:g}): "
                     f"{verdict}")
        lines.extend(self.notes)
        return "\n".join(lines)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def _rounded(values: Sequence[float]) -> list[float]:
    return [round(float(v), 6) for v in values]


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def column_drift(baseline: FeatureBaseline, values: np.ndarray, kind: Kind, thresholds: Thresholds,
                 schema_range: tuple[float, float] | None) -> ColumnDrift:
    psi = psi_against(baseline, values)
    ks = ks_against(baseline, values)
    missing = missing_rate(values)
    out_of_range = None if schema_range is None else out_of_range_rate(values, *schema_range)
    base_share, cur_share = proportions(baseline, values)
    reasons: list[str] = []
    if psi is not None and psi > thresholds.psi:
        reasons.append(f"PSI {psi:.3f} > {thresholds.psi:g}")
    if ks is not None and ks.distance > thresholds.ks_distance:
        reasons.append(f"KS D {ks.distance:.3f} > {thresholds.ks_distance:g}")
    if missing > baseline.missing_rate + thresholds.missing_increase:
        reasons.append(f"missing {missing:.1%} (baseline {baseline.missing_rate:.1%})")
    if out_of_range is not None and out_of_range > thresholds.out_of_range:
        reasons.append(f"{out_of_range:.1%} out of range")
    return ColumnDrift(
        name=baseline.name, kind=kind, values=int(np.isfinite(values).sum()), psi=psi, ks=ks, missing_rate=missing,
        baseline_missing_rate=baseline.missing_rate, out_of_range_rate=out_of_range, edges=baseline.edges,
        baseline_share=tuple(base_share), current_share=tuple(cur_share), reasons=tuple(reasons))


WindowLabels = list[tuple[str, str]]


def _time_windows(timestamps: np.ndarray, every: str) -> tuple[str, WindowLabels, np.ndarray]:
    codes = np.full(timestamps.shape[0], -1, dtype=np.int64)
    known = ~np.isnat(timestamps)
    if not known.any():
        return "", [], codes
    ts = timestamps.astype("datetime64[ms]")
    if every == "auto":
        span = ts[known].max() - ts[known].min()
        every = "day" if span >= np.timedelta64(2, "D") else "hour"
    unit = "D" if every == "day" else "h"
    buckets = ts[known].astype(f"datetime64[{unit}]")
    starts, codes[known] = np.unique(buckets, return_inverse=True)
    if starts.size > MAX_WINDOWS:
        raise ModelstageError(f"the data spans {starts.size} {every}s: more than {MAX_WINDOWS} windows; "
                              "pass a coarser --every (day) or a number of rows")
    step = np.timedelta64(1, unit)
    return every, [(f"{s}", f"{s + step}") for s in starts], codes


def _row_windows(rows: int, size: int) -> tuple[str, WindowLabels, np.ndarray]:
    count = -(-rows // size)
    if count > MAX_WINDOWS:
        raise ModelstageError(f"{rows} rows in windows of {size} are more than {MAX_WINDOWS} windows; "
                              f"pass --every {-(-rows // MAX_WINDOWS)} or more")
    labels = [(str(k * size + 1), str(min((k + 1) * size, rows))) for k in range(count)]
    return f"{size} rows", labels, np.arange(rows, dtype=np.int64) // size


def windows_for(timestamps: np.ndarray, every: str) -> tuple[str, WindowLabels, np.ndarray]:
    """The windows' unit and (start, end) labels, and each row's window (-1: none). `every` is "auto"
    (day when the data spans two days or more, else hour; no windows without timestamps), "day",
    "hour" or a number of rows."""
    if every.isdigit() and int(every) > 0:
        return _row_windows(len(timestamps), int(every))
    if every not in ("auto", "day", "hour"):
        raise ModelstageError(f"--every {every!r}: expected day, hour, auto or a number of rows (at least 1)")
    return _time_windows(timestamps, every)


def window_rows(codes: np.ndarray, count: int) -> list[np.ndarray]:
    """Row indices of each window, from one sort (not one mask per window)."""
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(count + 1))
    return [order[bounds[k]:bounds[k + 1]] for k in range(count)]


def compute_drift(bundle: Bundle, X: np.ndarray, predictions: np.ndarray | None, *,
                  timestamps: np.ndarray | None = None, thresholds: Thresholds | None = None, every: str = "auto",
                  source: str = "", notes: Sequence[str] = ()) -> DriftSummary:
    """Drift of the rows `X` (columns in the schema's order) and their `predictions` (NaN: none)."""
    thresholds = thresholds or Thresholds()
    if X.ndim != 2 or X.shape[1] != len(bundle.schema.features):
        raise ModelstageError(f"expected {len(bundle.schema.features)} feature columns, got {X.shape}")
    if X.shape[0] == 0:
        raise ModelstageError(f"{source or 'the data'}: no rows to compare with the baseline")
    targets: list[tuple[FeatureBaseline, np.ndarray, Kind, tuple[float, float] | None]] = [
        (b, X[:, i], "feature", (f.minimum, f.maximum))
        for i, (b, f) in enumerate(zip(bundle.baselines, bundle.schema.features, strict=True))]
    prediction_baseline = bundle.prediction_baseline
    if prediction_baseline is not None and predictions is not None and np.isfinite(predictions).any():
        targets.append((prediction_baseline, predictions, "prediction", None))
    columns = tuple(column_drift(b, v, kind, thresholds, rng) for b, v, kind, rng in targets)
    times = np.full(X.shape[0], np.datetime64("NaT"), "datetime64[ms]") if timestamps is None else timestamps
    unit, labels, codes = windows_for(times, every)
    windows = tuple(Window(start, end, int(rows.size), {b.name: psi_against(b, v[rows]) for b, v, _, _ in targets})
                    for (start, end), rows in zip(labels, window_rows(codes, len(labels)), strict=True))
    return DriftSummary(bundle=f"{bundle.name}@{bundle.version}", source=source, rows=int(X.shape[0]),
                        thresholds=thresholds, columns=columns, window_unit=unit, windows=windows, notes=tuple(notes))


# --- the PSI-only check of a CSV (kept for `drift --data` and retrain's comparison report) ---

@dataclass(frozen=True)
class DriftReport:
    rows: int
    threshold: float
    scores: dict[str, float]

    @property
    def drifted(self) -> list[str]:
        return [name for name, score in self.scores.items() if score > self.threshold]

    def render(self) -> str:
        lines = [f"{'feature':<24} {'PSI':>8}  status", "-" * 42]
        for name, score in self.scores.items():
            lines.append(f"{name:<24} {score:>8.4f}  {'DRIFT' if score > self.threshold else 'ok'}")
        verdict = f"drift in {', '.join(self.drifted)}" if self.drifted else "no drift"
        lines.append(f"{self.rows} rows compared; PSI threshold {self.threshold}: {verdict}")
        return "\n".join(lines)


def read_feature_csv(path: Path, names: Sequence[str]) -> np.ndarray:
    """Columns named in `names` from a CSV with a header; empty cells are missing (NaN)."""
    if not path.is_file():
        raise ModelstageError(f"{path}: no such file")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if len(lines) < 2:
        raise ModelstageError(f"{path}: expected a header line and at least one row")
    header = [h.strip() for h in lines[0].split(",")]
    missing = [n for n in names if n not in header]
    if missing:
        raise ModelstageError(f"{path}: missing columns {missing}; the header has {header}")
    cols = [header.index(n) for n in names]
    out = np.full((len(lines) - 1, len(names)), np.nan)
    for r, line in enumerate(lines[1:]):
        cells = line.split(",")
        for j, c in enumerate(cols):
            text = cells[c].strip() if c < len(cells) else ""
            if text:
                try:
                    out[r, j] = float(text)
                except ValueError:
                    raise ModelstageError(f"{path}, line {r + 2}, column {names[j]!r}: expected a number, "
                                          f"got {text[:40]!r}") from None
    return out


def drift_report(bundle: Bundle, X: np.ndarray, threshold: float = 0.2) -> DriftReport:
    from model.baseline import psi

    scores = {b.name: round(psi(b, X[:, i]), 6) for i, b in enumerate(bundle.baselines)}
    return DriftReport(rows=len(X), threshold=threshold, scores=scores)
