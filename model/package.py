"""Writing a bundle: the example model or the user's own fitted estimator.

Packaging runs on the user's machine and is the one place their pickle (joblib) may be read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from model.baseline import describe, describe_matrix
from model.bundle import (
    ARCHIVE,
    FORMAT,
    MANIFEST,
    SAMPLE,
    Bundle,
    canonical_json,
    load_bundle,
    sha256_file,
    write_reproducible_tar_gz,
)
from model.challenger import EXAMPLE_RECIPE, estimator_training, recipe_training
from model.dataset import TARGET
from model.errors import PackagingError
from model.onnx_export import check_parity, to_onnx_bytes
from model.schema import Feature, Output, Schema
from model.signing import SIGNATURE, sign_manifest
from model.train import TrainedModel, regression_metrics, train_example

SEED_REQUEST: dict[str, Any] = {"input": [1200, 3, 2]}
# Reproducible builds: a bundle's `created` comes from SOURCE_DATE_EPOCH (the reproducible-builds
# convention), else this fixed instant, so the same inputs always give the same model.tar.gz.
DEFAULT_EPOCH = 315532800  # 1980-01-01T00:00:00Z, as in wheels and zip files


@dataclass(frozen=True)
class PackageInputs:
    name: str
    estimator: Any
    schema: Schema
    X_reference: np.ndarray  # rows for baselines (training data)
    X_check: np.ndarray  # held-out rows for the ONNX parity check
    metrics: dict[str, float]
    version: str | None = None
    prefer: str = "onnx"  # or "skops"
    # How to train this model again (model/challenger.py): written as bundle.json "training"; optional,
    # so bundles packaged before `modelstage retrain` existed still load.
    training: dict[str, Any] | None = None


def _created() -> str:
    raw = os.environ.get("SOURCE_DATE_EPOCH", str(DEFAULT_EPOCH))
    try:
        epoch = int(raw)
    except ValueError as exc:
        raise PackagingError(f"SOURCE_DATE_EPOCH={raw!r}: expected whole seconds since 1970") from exc
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "skops", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _write_model(inputs: PackageInputs, workdir: Path) -> dict[str, Any]:
    """Write model.onnx (proven equal to scikit-learn) or fall back to model.skops."""
    expected = np.asarray(inputs.estimator.predict(inputs.X_check), dtype=np.float64).reshape(-1)
    if inputs.prefer == "onnx":
        try:
            onnx_bytes = to_onnx_bytes(inputs.estimator, inputs.X_check.shape[1])
        except PackagingError as exc:
            print(f"note: {exc}; falling back to skops")
        else:
            (workdir / "model.onnx").write_bytes(onnx_bytes)
            from model.predictor import OnnxPredictor

            parity = check_parity(expected, OnnxPredictor(workdir / "model.onnx").predict(inputs.X_check))
            return {"file": "model.onnx", "format": "onnx", "parity": parity.to_dict()}
    import skops.io as sio

    path = workdir / "model.skops"
    sio.dump(inputs.estimator, str(path))
    trusted = sorted(sio.get_untrusted_types(file=str(path)))
    return {"file": "model.skops", "format": "skops", "trusted_types": trusted}


def write_bundle(inputs: PackageInputs, out: Path, sign_key: Path | None = None) -> Bundle:
    """Write the bundle into `out` atomically (a half-written bundle never replaces a good one).

    `sign_key`: an Ed25519 private key (PEM); bundle.json.sig is written and archived with the rest."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".bundle-", dir=out.parent))
    work.chmod(0o755)
    try:
        model_entry = _write_model(inputs, work)
        model_sha = sha256_file(work / model_entry["file"])
        sample = {"input": [float(f.default) for f in inputs.schema.features[:3]]}
        predictions = np.asarray(inputs.estimator.predict(inputs.X_reference), dtype=np.float64)
        (work / SAMPLE).write_bytes(canonical_json(sample))
        manifest = {
            "format": FORMAT,
            "name": inputs.name,
            "version": inputs.version or model_sha[:12],
            "created": _created(),
            "libraries": _versions(),
            "model": model_entry,
            "schema": inputs.schema.to_dict(),
            "metrics": inputs.metrics,
            "baseline": {
                "rows": len(inputs.X_reference),
                "features": [b.to_dict() for b in describe_matrix(inputs.schema.names, inputs.X_reference)],
                "prediction": describe(inputs.schema.output.name, predictions).to_dict(),
            },
            "files": {model_entry["file"]: model_sha, SAMPLE: sha256_file(work / SAMPLE)},
            "sample_request": sample,
        }
        if inputs.training is not None:
            manifest["training"] = inputs.training
        (work / MANIFEST).write_bytes(canonical_json(manifest))
        signature: list[str] = []
        if sign_key is not None:
            sign_manifest(work, sign_key)
            signature = [SIGNATURE]
        write_reproducible_tar_gz(work, [MANIFEST, *signature, *manifest["files"]], work / ARCHIVE)
        load_bundle(work, verify_archive=True)
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    finally:
        if work.exists():
            shutil.rmtree(work)
    return load_bundle(out, verify_archive=True)


def package_trained(trained: TrainedModel, out: Path, name: str = "house-prices", version: str | None = None,
                    sign_key: Path | None = None) -> Bundle:
    return write_bundle(PackageInputs(name=name, estimator=trained.estimator, schema=trained.schema,
                                      X_reference=trained.X_train, X_check=trained.X_test,
                                      metrics=trained.metrics, version=version,
                                      training=recipe_training(EXAMPLE_RECIPE, TARGET)), out, sign_key)


def package_example(out: Path, version: str | None = None, sign_key: Path | None = None) -> Bundle:
    return package_trained(train_example(), out, version=version, sign_key=sign_key)


def _load_user_estimator(path: Path) -> Any:
    if not path.is_file():
        raise PackagingError(f"{path}: no such model file")
    if path.suffix == ".skops":
        import skops.io as sio

        try:
            untrusted = sio.get_untrusted_types(file=str(path))
            # The user vouches for their own file at packaging time; the bundle re-checks this list.
            return sio.load(str(path), trusted=untrusted)
        except Exception as exc:
            raise PackagingError(f"{path}: not a readable skops file ({exc})") from exc
    if path.suffix in (".joblib", ".pkl", ".pickle"):
        import joblib

        try:
            return joblib.load(path)
        except Exception as exc:
            raise PackagingError(f"{path}: could not be loaded with joblib ({type(exc).__name__}: {exc})") from exc
    raise PackagingError(f"{path}: unknown model file type {path.suffix!r}; expected .joblib, .pkl or .skops")


def _read_csv(path: Path, features: list[str], target: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    if not path.is_file():
        raise PackagingError(f"{path}: no such data file")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if len(lines) < 2:
        raise PackagingError(f"{path}: expected a header line and at least one row")
    header = [h.strip() for h in lines[0].split(",")]
    missing = [f for f in [*features, *([target] if target else [])] if f not in header]
    if missing:
        raise PackagingError(f"{path}: columns {missing} not found; the header has {header}")
    cols = [header.index(f) for f in features]
    rows, ys = [], []
    for n, line in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in line.split(",")]
        try:
            rows.append([float(cells[c]) if cells[c] else np.nan for c in cols])
            if target:
                ys.append(float(cells[header.index(target)]))
        except (ValueError, IndexError) as exc:
            raise PackagingError(f"{path}, line {n}: expected numbers in every feature column ({exc})") from exc
    return np.asarray(rows, dtype=np.float64), (np.asarray(ys) if target else None)


def schema_from_data(features: list[str], X: np.ndarray, output: str, unit: str) -> Schema:
    """A schema for a user's model: ranges widened from the data, medians as defaults."""
    specs = []
    for i, name in enumerate(features):
        col = X[:, i]
        finite = col[~np.isnan(col)]
        if finite.size == 0:
            raise PackagingError(f"feature {name!r}: the data has no values for it")
        lo, hi = float(finite.min()), float(finite.max())
        span = max(hi - lo, abs(hi), 1.0)
        integer = bool(np.all(finite == np.round(finite)))
        specs.append(Feature(name=name, dtype="integer" if integer else "float", minimum=lo - span, maximum=hi + span,
                             default=float(np.median(finite)),
                             nan_policy="impute" if finite.size < col.size else "reject"))
    return Schema(features=tuple(specs), output=Output(name=output, unit=unit))


def package_user_model(model_file: Path, features: list[str], data: Path, out: Path, *, name: str,
                       target: str | None = None, output: str = "prediction", unit: str = "",
                       version: str | None = None, sign_key: Path | None = None) -> Bundle:
    if not features or len(set(features)) != len(features):
        raise PackagingError(f"--features: expected distinct, non-empty names, got {features}")
    estimator = _load_user_estimator(model_file)
    if not hasattr(estimator, "predict"):
        raise PackagingError(f"{model_file}: holds a {type(estimator).__name__}, not a fitted estimator with predict()")
    X, y = _read_csv(data, features, target)
    n_in = getattr(estimator, "n_features_in_", len(features))
    if n_in != len(features):
        raise PackagingError(f"--features names {len(features)} features but the model expects {n_in}")
    metrics = regression_metrics(y, np.asarray(estimator.predict(X), dtype=np.float64)) if y is not None else {}
    schema = schema_from_data(features, X, output, unit)
    return write_bundle(PackageInputs(name=name, estimator=estimator, schema=schema,
                                      X_reference=X, X_check=X[:1000], metrics=metrics, version=version,
                                      training=estimator_training(estimator, sha256_file(model_file), target)),
                        out, sign_key)


def describe_bundle(bundle: Bundle) -> str:
    return json.dumps({"name": bundle.name, "version": bundle.version, "format": bundle.model_format,
                       "metrics": bundle.metrics, "path": str(bundle.path),
                       "archive_sha256": bundle.archive_sha256(), "manifest_sha256": bundle.manifest_sha256(),
                       "signed": bundle.signed}, indent=2)
