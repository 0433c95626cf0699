"""`modelstage drift` and `modelstage accuracy`: read what was captured, compare it with the bundle,
write the JSON summary and the HTML report, and exit 1 when something is wrong (2 on bad input)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from model.bundle import Bundle, load_bundle
from model.captures import CaptureTable, read_captures
from model.drift import Thresholds, compute_drift
from model.errors import ModelstageError

PREDICT_CHUNK_ROWS = 65_536


@dataclass(frozen=True)
class ThresholdFlags:
    """What the command line gave; None: the stack's value (ks) or the default."""

    stack: str | None = None
    psi: float | None = None
    ks_distance: float | None = None
    missing_increase: float | None = None
    out_of_range: float | None = None


def thresholds_from(flags: ThresholdFlags, root: Path) -> Thresholds:
    base = Thresholds()
    if flags.stack is not None:
        from infra.offline.stack_config import stack_file
        from infra.smoke import stack_defaults

        if not (root / "Pulumi.yaml").is_file():
            raise ModelstageError(f"--stack {flags.stack}: no Pulumi.yaml in {root}; run from the project's folder")
        if not stack_file(root, flags.stack).is_file():
            raise ModelstageError(f"--stack {flags.stack}: no {stack_file(root, flags.stack).relative_to(root)} "
                                  f"here ({root}); expected a stack of this project")
        base = replace(base, ks_distance=stack_defaults(flags.stack, root).drift_distance)
    values = {"psi": flags.psi, "ks_distance": flags.ks_distance, "missing_increase": flags.missing_increase,
              "out_of_range": flags.out_of_range}
    return replace(base, **{k: v for k, v in values.items() if v is not None})


def _read(bundle: Bundle, source: str) -> CaptureTable:
    table = read_captures(source, bundle.schema.names, bundle.schema.output.name)
    if table.rows == 0:
        examples = "; ".join(e for kept in table.examples.values() for e in kept[:1])
        raise ModelstageError(f"{source}: no rows with the bundle's features ({', '.join(bundle.schema.names)}): "
                              f"{table.summary()}" + (f" (e.g. {examples})" if examples else ""))
    return table


def _predict_missing(bundle: Bundle, table: CaptureTable) -> tuple[np.ndarray, str | None]:
    """Predictions for the rows that came without one (plain CSV, unpaired records), by the bundle's model."""
    from model.predictor import load_predictor

    predictions = table.prediction.copy()
    todo = np.flatnonzero(~np.isfinite(predictions))
    if todo.size == 0:
        return predictions, None
    predictor = load_predictor(bundle.model_path, bundle.model_format, bundle.trusted_types)
    try:
        for start in range(0, todo.size, PREDICT_CHUNK_ROWS):
            rows = todo[start:start + PREDICT_CHUNK_ROWS]
            predictions[rows] = predictor.predict(table.X[rows])
    except Exception as exc:  # the model's own refusal (e.g. NaN it cannot impute) must not stop the report
        return table.prediction, f"{todo.size} rows had no prediction and the model could not score them ({exc})"
    return predictions, f"{todo.size} rows had no prediction: predicted here with {bundle.name}@{bundle.version}"


def _notes(table: CaptureTable) -> list[str]:
    notes = [f"read: {table.summary()}"]
    for reason, examples in table.examples.items():
        notes.append(f"skipped ({reason}), e.g. {examples[0]}")
    return notes


def _check_every(every: str) -> str:
    if not (every in ("auto", "day", "hour") or (every.isdigit() and int(every) > 0)):
        raise ModelstageError(f"--every {every!r}: expected day, hour, auto or a number of rows (at least 1)")
    return every


def drift(bundle_dir: Path, source: str, *, flags: ThresholdFlags, every: str, json_path: Path | None,
          html_path: Path | None) -> int:
    from model.report_html import write_reports

    every = _check_every(every)
    thresholds = thresholds_from(flags, Path.cwd())
    bundle = load_bundle(bundle_dir)
    table = _read(bundle, source)
    predictions, predicted = _predict_missing(bundle, table)
    notes = _notes(table) + ([predicted] if predicted else [])
    summary = compute_drift(bundle, table.X, predictions, timestamps=table.timestamp, thresholds=thresholds,
                            every=every, source=source, notes=notes)
    write_reports(f"Drift of {bundle.name}@{bundle.version}", json_path, html_path, drift=summary)
    print(summary.render())
    for path in (json_path, html_path):
        if path is not None:
            print(f"wrote {path}")
    return 1 if summary.drifted else 0


def accuracy(bundle_dir: Path, source: str, labels_path: Path, *, label_column: str | None, tolerance: float,
             every: str, min_rows: int, json_path: Path | None, html_path: Path | None) -> int:
    from model.accuracy import compute_accuracy, read_labels
    from model.report_html import write_reports

    every = _check_every(every)
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ModelstageError(f"--tolerance {tolerance}: expected a number of at least 0 (0.1 = 10% worse)")
    bundle = load_bundle(bundle_dir)
    if not bundle.metrics:
        raise ModelstageError(f"{bundle_dir}: the bundle has no held-out metrics to compare with; "
                              "package it with --data and --target")
    labels = read_labels(labels_path, label_column or bundle.schema.output.name)
    table = _read(bundle, source)
    summary = compute_accuracy(f"{bundle.name}@{bundle.version}", bundle.metrics, table.inference_id,
                               table.prediction, table.timestamp, labels, tolerance=tolerance, every=every,
                               min_rows=min_rows)
    # The drift of the same captured rows goes in the same report: the usual first question when accuracy drops.
    drift_summary = compute_drift(bundle, table.X, table.prediction, timestamps=table.timestamp, every=every,
                                  source=source, notes=_notes(table))
    write_reports(f"Accuracy of {bundle.name}@{bundle.version}", json_path, html_path, drift=drift_summary,
                  accuracy=summary)
    print(summary.render())
    for path in (json_path, html_path):
        if path is not None:
            print(f"wrote {path}")
    return 1 if summary.degraded else 0
