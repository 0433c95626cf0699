"""Accuracy over time: delayed ground truth joined to captured predictions by inference id.

A captured request may hold several rows under one inference id; a label names its row with a `row`
column (0-based position in the request, 0 when absent). Every row and label that cannot be used is
counted by reason, never dropped silently: captured rows without an id, without a prediction or
without a label; labels whose id was never captured; duplicate labels (the same value twice is used
once; different values for one row are both left out, as "conflicting").

Metrics (MAE, RMSE, MAPE, R2) are computed overall and per window (day, hour or N rows) and compared
with the bundle's held-out metrics: an error metric is degraded above bundle * (1 + tolerance), R2
below bundle - tolerance; windows with fewer than `min_rows` labelled rows are shown, not judged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.drift import window_rows, windows_for
from model.errors import ModelstageError

ERROR_METRICS = ("mae", "rmse", "mape")
METRICS = (*ERROR_METRICS, "r2")
ID_COLUMN = "inference_id"
ROW_COLUMN = "row"


class LabelsError(ModelstageError):
    exit_code = 2


@dataclass(frozen=True)
class Labels:
    ids: list[str]
    rows: np.ndarray  # int64
    values: np.ndarray  # float64
    unusable: int  # labels with no id or no numeric value


def _read_table(path: Path) -> Any:
    import pyarrow as pa

    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    try:
        if suffix.startswith(".parquet") or suffix.startswith(".pq"):
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if suffix.startswith((".jsonl", ".ndjson", ".json")):
            import pyarrow.json as pj

            return pj.read_json(path)
        if suffix.startswith(".csv"):
            import pyarrow.csv as pc

            # ids are text even when they look like numbers (a leading zero must survive)
            return pc.read_csv(path, convert_options=pc.ConvertOptions(column_types={ID_COLUMN: pa.string()}))
    except (pa.ArrowInvalid, OSError) as exc:
        raise LabelsError(f"{path}: not a readable {suffix[1:]} file ({str(exc).splitlines()[0][:200]})") from None
    raise LabelsError(f"{path}: unknown format {suffix or '(no suffix)'}: expected .csv, .parquet or .jsonl")


def read_labels(path: Path, label_column: str) -> Labels:
    """`inference_id`, the label column and optionally `row` from a CSV, Parquet or JSON Lines file."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not path.is_file():
        raise LabelsError(f"{path}: no such file")
    table = _read_table(path)
    missing = [c for c in (ID_COLUMN, label_column) if c not in table.column_names]
    if missing:
        raise LabelsError(f"{path}: missing columns {missing}; expected {ID_COLUMN!r} and the label column "
                          f"{label_column!r} (--label-column), got {table.column_names}")
    if table.num_rows == 0:
        raise LabelsError(f"{path}: no labels")
    ids = table.column(ID_COLUMN).cast(pa.string()).to_pylist()
    try:
        values = table.column(label_column).cast(pa.float64(), safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = pa.array([_number(v) for v in table.column(label_column).to_pylist()], type=pa.float64())
    value_list = pc.fill_null(values, math.nan).to_numpy(zero_copy_only=False).astype(np.float64)
    rows = np.zeros(len(ids), dtype=np.int64)
    if ROW_COLUMN in table.column_names:
        try:
            row_values = table.column(ROW_COLUMN).cast(pa.int64()).to_pylist()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise LabelsError(f"{path}: column {ROW_COLUMN!r}: expected whole numbers (the row's position in "
                              "its request, from 0)") from None
        rows = np.array([-1 if r is None else r for r in row_values], dtype=np.int64)
    usable = np.array([i is not None and i != "" for i in ids]) & np.isfinite(value_list) & (rows >= 0)
    keep = np.flatnonzero(usable)
    return Labels([str(ids[k]) for k in keep], rows[keep], value_list[keep], int(len(ids) - keep.size))


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def regression_metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    """MAE, RMSE, MAPE (over labels that are not 0) and R2 (None for fewer than 2 distinct labels)."""
    err = predicted - y
    nonzero = y != 0
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mape": float(np.mean(np.abs(err[nonzero]) / np.abs(y[nonzero]))) if nonzero.any() else None,
        "r2": 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else None,
    }


def degraded(metrics: Mapping[str, float | None], reference: Mapping[str, float], tolerance: float) -> list[str]:
    """Which metrics are worse than the reference beyond the tolerance, as readable reasons."""
    reasons: list[str] = []
    for name in METRICS:
        value, ref = metrics.get(name), reference.get(name)
        if value is None or ref is None:
            continue
        if name in ERROR_METRICS and value > ref * (1 + tolerance):
            reasons.append(f"{name} {value:.4g} > {ref:.4g} x {1 + tolerance:g}")
        elif name == "r2" and value < ref - tolerance:
            reasons.append(f"r2 {value:.4f} < {ref:.4f} - {tolerance:g}")
    return reasons


@dataclass(frozen=True)
class AccuracyWindow:
    start: str
    end: str
    rows: int
    metrics: dict[str, float | None]
    reasons: tuple[str, ...]  # empty when fine, or when the window has too few rows to judge
    judged: bool

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "rows": self.rows, "judged": self.judged,
                "metrics": _rounded(self.metrics), "degraded": list(self.reasons)}


@dataclass(frozen=True)
class AccuracySummary:
    bundle: str
    reference: dict[str, float]  # the bundle's held-out metrics
    tolerance: float
    min_rows: int
    matched: int
    overall: dict[str, float | None]
    overall_reasons: tuple[str, ...]
    window_unit: str
    windows: tuple[AccuracyWindow, ...]
    counts: dict[str, int] = field(default_factory=dict)  # unusable rows and labels, by reason

    @property
    def degraded(self) -> bool:
        return bool(self.overall_reasons) or any(w.reasons for w in self.windows)

    def to_dict(self) -> dict[str, Any]:
        return {"bundle": self.bundle, "reference": self.reference, "tolerance": self.tolerance,
                "min_rows": self.min_rows, "matched": self.matched, "overall": _rounded(self.overall),
                "degraded": self.degraded, "overall_degraded": list(self.overall_reasons),
                "window_unit": self.window_unit, "windows": [w.to_dict() for w in self.windows],
                "counts": dict(self.counts)}

    def render(self) -> str:
        head = f"{'window':<34} {'rows':>7} " + " ".join(f"{m:>10}" for m in METRICS) + "  status"
        lines = [head, "-" * len(head)]

        def line(label: str, rows: int, metrics: Mapping[str, float | None], status: str) -> str:
            cells = " ".join(f"{'-' if metrics.get(m) is None else format(metrics[m], '.4g'):>10}" for m in METRICS)
            return f"{label:<34} {rows:>7} {cells}  {status}"

        lines.append(line("bundle (held-out)", 0, self.reference, "reference"))
        for w in self.windows:
            status = ("DEGRADED: " + "; ".join(w.reasons)) if w.reasons else ("ok" if w.judged else "too few rows")
            lines.append(line(f"{w.start} .. {w.end}", w.rows, w.metrics, status))
        lines.append(line("all", self.matched, self.overall,
                          ("DEGRADED: " + "; ".join(self.overall_reasons)) if self.overall_reasons else "ok"))
        counted = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v)
        lines.append(f"{self.matched} labelled rows; tolerance {self.tolerance:g}"
                     + (f"; not used: {counted}" if counted else ""))
        return "\n".join(lines)


def _rounded(metrics: Mapping[str, float | None]) -> dict[str, float | None]:
    return {k: None if v is None else round(v, 6) for k, v in metrics.items()}


def join(ids: np.ndarray, predictions: np.ndarray, labels: Labels) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(captured row index, label) pairs for the captured rows that have one usable label, and the counts."""
    label_of: dict[tuple[str, int], float] = {}
    conflicting: set[tuple[str, int]] = set()
    duplicates = 0
    for ident, row, value in zip(labels.ids, labels.rows.tolist(), labels.values.tolist(), strict=True):
        key = (ident, row)
        if key in label_of or key in conflicting:
            duplicates += 1
            if key in label_of and label_of[key] != value:
                conflicting.add(key)
                del label_of[key]
            continue
        label_of[key] = value
    seen: dict[str, int] = {}
    matched_rows: list[int] = []
    matched_labels: list[float] = []
    no_id = no_prediction = unlabelled = 0
    used: set[tuple[str, int]] = set()
    for index, ident in enumerate(ids.tolist()):
        if ident is None or ident == "":
            no_id += 1
            continue
        position = seen.get(ident, 0)
        seen[ident] = position + 1
        key = (str(ident), position)
        if key not in label_of:
            unlabelled += 1
            continue
        used.add(key)
        if not math.isfinite(float(predictions[index])):
            no_prediction += 1
            continue
        matched_rows.append(index)
        matched_labels.append(label_of[key])
    unknown = sum(1 for key in label_of if key not in used)
    counts = {"captured rows without an inference id": no_id, "captured rows without a prediction": no_prediction,
              "captured rows without a label": unlabelled, "labels for rows never captured": unknown,
              "duplicate labels": duplicates, "conflicting labels (rows left out)": len(conflicting),
              "labels without an id or a numeric value": labels.unusable}
    return np.array(matched_rows, dtype=np.int64), np.array(matched_labels, dtype=np.float64), counts


def compute_accuracy(bundle_name: str, reference: Mapping[str, float], ids: np.ndarray, predictions: np.ndarray,
                     timestamps: np.ndarray, labels: Labels, *, tolerance: float = 0.1, every: str = "auto",
                     min_rows: int = 30) -> AccuracySummary:
    rows, y, counts = join(ids, predictions, labels)
    if rows.size == 0:
        detail = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        raise LabelsError(f"no captured prediction has a label ({detail}); expected labels whose "
                          f"{ID_COLUMN!r} is the X-Modelstage-Inference-Id (or the capture's inferenceId)")
    predicted = predictions[rows]
    overall = regression_metrics(y, predicted)
    ref = {k: float(v) for k, v in reference.items() if k in METRICS}
    unit, labels_, codes = windows_for(timestamps[rows], every)
    windows: list[AccuracyWindow] = []
    for (start, end), members in zip(labels_, window_rows(codes, len(labels_)), strict=True):
        if members.size == 0:
            continue
        metrics = regression_metrics(y[members], predicted[members])
        judged = members.size >= min_rows
        windows.append(AccuracyWindow(start, end, int(members.size), metrics,
                                      tuple(degraded(metrics, ref, tolerance)) if judged else (), judged))
    return AccuracySummary(bundle=bundle_name, reference=ref, tolerance=tolerance, min_rows=min_rows,
                           matched=int(rows.size), overall=overall,
                           overall_reasons=tuple(degraded(overall, ref, tolerance)), window_unit=unit,
                           windows=tuple(windows), counts=counts)
