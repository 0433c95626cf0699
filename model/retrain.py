"""Champion/challenger retraining: train the bundle's pipeline on new labelled data, compare both models
on the same holdout of that data, and write a new bundle version only when the challenger is as good.

The champion is scored through the bundle's own model file (model/predictor.py: the ONNX the endpoint
serves); the challenger through scikit-learn, whose agreement with its exported ONNX packaging proves.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from model.bundle import Bundle, load_bundle, sha256_file
from model.challenger import DEFAULT_METRIC, RetrainError, estimator_training, unfitted_estimator
from model.drift import DriftSummary, compute_drift
from model.predictor import load_predictor
from model.retrain_data import HOLDOUT_FRACTION, holdout_split, read_labelled
from model.train import SEED, regression_metrics

METRICS = ("rmse", "mae", "mape", "r2")  # r2: higher is better; the others: lower is better


@dataclass(frozen=True)
class Rule:
    metric: str
    tolerance: float

    @property
    def higher_is_better(self) -> bool:
        return self.metric == "r2"

    def accepts(self, champion: float, challenger: float) -> bool:
        if self.higher_is_better:
            return challenger >= champion - self.tolerance
        return challenger <= champion * (1 + self.tolerance)

    def text(self) -> str:
        m = self.metric
        if self.higher_is_better:
            return f"challenger {m} >= champion {m} - {self.tolerance:g}"
        return f"challenger {m} <= champion {m} * (1 + {self.tolerance:g})"


@dataclass(frozen=True)
class RetrainResult:
    bundle: Bundle  # the champion
    rule: Rule
    champion: dict[str, float]
    challenger: dict[str, float]
    accepted: bool
    forced: bool
    written: Bundle | None
    drift: DriftSummary  # the new data (and the champion's predictions on it) against the old baseline
    report: dict[str, Any]
    identical: bool = False  # the challenger is the champion's very model file: nothing to roll out

    @property
    def decision(self) -> str:
        if self.identical:
            return "the challenger is the current model (same sha256): nothing written"
        if self.accepted:
            return "accepted"
        return "refused, written anyway (--force)" if self.written else "refused"


def _metric_of(bundle: Bundle, metric: str | None) -> str:
    training = bundle.manifest.get("training")
    chosen = metric or (training.get("metric") if isinstance(training, dict) else None) or DEFAULT_METRIC
    if chosen not in METRICS:
        raise RetrainError(f"metric {chosen!r}: expected one of {', '.join(METRICS)}")
    return str(chosen)


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    """bundle.json is strict JSON: a metric that is not finite (MAPE with a zero label) is left out."""
    return {k: v for k, v in metrics.items() if math.isfinite(v)}


def _check_out(bundle_dir: Path, out: Path) -> None:
    b, o = bundle_dir.resolve(), out.resolve()
    if o == b or b in o.parents or o in b.parents:
        raise RetrainError(f"--out {out}: must be a new directory outside the current bundle {bundle_dir}; "
                           "retrain never overwrites the bundle it compares against")
    if o.exists():
        raise RetrainError(f"--out {out}: already exists; retrain writes a new bundle version into a new directory")


def _score_champion(bundle: Bundle, X: np.ndarray) -> np.ndarray:
    predictions = load_predictor(bundle.model_path, bundle.model_format, bundle.trusted_types).predict(X)
    if not np.all(np.isfinite(predictions)):
        raise RetrainError(f"{bundle.path}: the current model returns non-finite predictions for "
                           f"{int((~np.isfinite(predictions)).sum())} holdout rows (missing values it cannot impute?)")
    return predictions


def rows_outside_schema(bundle: Bundle, X: np.ndarray) -> int:
    """Rows with a value outside the schema's range: the new bundle keeps that schema, so the endpoint
    would refuse such requests (missing values are not counted)."""
    lo = np.array([f.minimum for f in bundle.schema.features])
    hi = np.array([f.maximum for f in bundle.schema.features])
    return int((np.less(X, lo) | np.greater(X, hi)).any(axis=1).sum())  # NaN compares False


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically: a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=2, allow_nan=False) + "\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def is_current_model(bundle: Bundle, estimator: Any, n_features: int) -> bool:
    """The fitted challenger exports to the champion's ONNX, byte for byte (retrained on the same data):
    writing it would give a second bundle with the same version label."""
    from model.errors import PackagingError
    from model.onnx_export import to_onnx_bytes

    if bundle.model_format != "onnx":
        return False
    try:
        exported = to_onnx_bytes(estimator, n_features)
    except PackagingError:
        return False
    return hashlib.sha256(exported).hexdigest() == bundle.manifest["files"].get(bundle.manifest["model"]["file"])


def _write_challenger(bundle: Bundle, estimator: Any, training: dict[str, Any], out: Path, *,
                      X_train: np.ndarray, X_holdout: np.ndarray, metrics: dict[str, float], version: str | None,
                      sign_key: Path | None) -> Bundle:
    from model.package import PackageInputs, write_bundle

    # The serving contract (schema: names, ranges, defaults) stays the champion's: clients keep working.
    # write_bundle writes into a temporary folder beside `out` and renames it: never half a bundle.
    return write_bundle(PackageInputs(
        name=bundle.name, estimator=estimator, schema=bundle.schema, X_reference=X_train, X_check=X_holdout,
        metrics=_finite(metrics), version=version,
        prefer=bundle.model_format if bundle.model_format in ("onnx", "skops") else "onnx",
        training=training), out, sign_key)


def _json_metrics(metrics: dict[str, float]) -> dict[str, float | None]:
    return {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}


def retrain(bundle_dir: Path, data: Path, out: Path, *, target: str | None = None, tolerance: float = 0.0,
            force: bool = False, model_file: Path | None = None, version: str | None = None,
            metric: str | None = None, report_path: Path | None = None, sign_key: Path | None = None,
            seed: int = SEED) -> RetrainResult:
    from model.package import _load_user_estimator

    if not bundle_dir.exists():
        raise RetrainError(f"--bundle {bundle_dir}: no bundle here")
    bundle = load_bundle(bundle_dir, verify_archive=True)
    _check_out(bundle_dir, out)
    if sign_key is not None:
        from model.signing import public_key_for

        public_key_for(sign_key)  # a bad key fails before training, not after
    if version is not None and version == bundle.version:
        raise RetrainError(f"--version {version}: the current bundle already has it; choose a new label")
    rule = Rule(_metric_of(bundle, metric), tolerance)
    training = bundle.manifest.get("training")
    training = training if isinstance(training, dict) else None
    estimator, source = unfitted_estimator(training, model_file, _load_user_estimator, sha256_file)
    target = target or (training or {}).get("target") or bundle.schema.output.name
    names = bundle.schema.names
    X, y = read_labelled(data, names, str(target))
    X_train, X_holdout, y_train, y_holdout = holdout_split(X, y, names, data, seed)

    champion = regression_metrics(y_holdout, _score_champion(bundle, X_holdout))
    estimator.fit(X_train, y_train)
    challenger = regression_metrics(y_holdout, np.asarray(estimator.predict(X_holdout), dtype=np.float64))
    if not (math.isfinite(champion[rule.metric]) and math.isfinite(challenger[rule.metric])):
        raise RetrainError(f"{data}: {rule.metric} is not finite on the holdout (a zero label for mape?); "
                           "pass --metric rmse")
    accepted = rule.accepts(champion[rule.metric], challenger[rule.metric])
    drift = compute_drift(bundle, X, load_predictor(bundle.model_path, bundle.model_format, bundle.trusted_types)
                          .predict(X), source=str(data))

    written = None
    identical = (accepted or force) and version is None and is_current_model(bundle, estimator, len(names))
    if (accepted or force) and not identical:
        new_training = dict(training or {})  # how to retrain it next time: the same recipe or estimator
        if model_file is not None and not isinstance(new_training.get("estimator"), dict):
            new_training = estimator_training(estimator, sha256_file(model_file), str(target)) or {}
        new_training.update(target=str(target), metric=rule.metric, retrained_from={
            "name": bundle.name, "version": bundle.version, "manifest_sha256": bundle.manifest_sha256(),
            "data_sha256": sha256_file(data), "rows": len(y), "holdout_rows": len(y_holdout), "seed": seed})
        written = _write_challenger(bundle, estimator, new_training, out, X_train=X_train, X_holdout=X_holdout,
                                    metrics=challenger, version=version, sign_key=sign_key)

    result = RetrainResult(bundle=bundle, rule=rule, champion=champion, challenger=challenger, accepted=accepted,
                           forced=force and not accepted and written is not None, written=written, drift=drift,
                           report={}, identical=identical)
    report = _report(result, data, out, source, len(y), len(y_holdout), seed)
    report["data"]["rows_outside_schema"] = rows_outside_schema(bundle, X)
    if report_path is not None:
        _write_json(report_path, report)
    return replace(result, report=report)


def _report(r: RetrainResult, data: Path, out: Path, source: str, rows: int, holdout: int,
            seed: int) -> dict[str, Any]:
    return {
        "champion": {"path": str(r.bundle.path), "name": r.bundle.name, "version": r.bundle.version},
        "challenger": {"path": str(out) if r.written else None,
                       "version": r.written.version if r.written else None, "pipeline": source},
        "data": {"path": str(data), "rows": rows, "train_rows": rows - holdout, "holdout_rows": holdout,
                 "holdout_fraction": HOLDOUT_FRACTION, "seed": seed},
        "metrics": {"champion": _json_metrics(r.champion), "challenger": _json_metrics(r.challenger)},
        "rule": {"metric": r.rule.metric, "tolerance": r.rule.tolerance, "higher_is_better": r.rule.higher_is_better,
                 "text": r.rule.text()},
        "accepted": r.accepted,
        "forced": r.forced,
        "identical": r.identical,
        "decision": r.decision,
        "drift": {"against": f"{r.bundle.name}@{r.bundle.version}", **r.drift.to_dict(),
                  "psi": {c.name: c.psi for c in r.drift.columns if c.kind == "feature"}},
    }


def render(r: RetrainResult) -> str:
    """Champion and challenger side by side, the decision and the drift of the new data."""
    head = f"{'metric':<8} {'champion':>14} {'challenger':>14}"
    lines = [f"holdout of the new data: {r.report['data']['holdout_rows']} rows "
             f"(trained on {r.report['data']['train_rows']})", head, "-" * len(head)]
    for m in METRICS:
        mark = "  <- decides" if m == r.rule.metric else ""
        lines.append(f"{m:<8} {r.champion[m]:>14,.6g} {r.challenger[m]:>14,.6g}{mark}")
    lines.append(f"rule: {r.rule.text()}: {r.decision}")
    outside = r.report["data"].get("rows_outside_schema", 0)
    if outside:
        lines.append(f"note: {outside} rows of the new data are outside the schema's ranges; the endpoint refuses "
                     "such requests (the new bundle keeps the current schema)")
    lines.append("")
    lines.append(f"drift of the new data against {r.bundle.name}@{r.bundle.version}'s baseline:")
    lines.append(r.drift.render())
    return "\n".join(lines)
