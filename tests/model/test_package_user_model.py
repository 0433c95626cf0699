"""Packaging a user's own estimator: joblib in, ONNX out; skops when ONNX cannot express it."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeRegressor

from model.bundle import load_bundle
from model.errors import PackagingError
from model.package import package_user_model
from model.predictor import load_predictor
from model.scoring import Scorer


@pytest.fixture
def data(tmp_path: Path) -> tuple[np.ndarray, np.ndarray, Path]:
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 10, size=(300, 3))
    y = X @ np.array([3.0, -1.0, 0.5]) + 4
    csv = tmp_path / "data.csv"
    lines = [",".join(f"{v:.6f}" for v in [*row, t]) for row, t in zip(X, y, strict=True)]
    csv.write_text("a,b,c,y\n" + "\n".join(lines))
    return X, y, csv


def test_joblib_model_becomes_onnx(tmp_path: Path, data: tuple[np.ndarray, np.ndarray, Path]) -> None:
    X, y, csv = data
    joblib.dump(Ridge().fit(X, y), tmp_path / "m.joblib")
    bundle = package_user_model(tmp_path / "m.joblib", ["a", "b", "c"], csv, tmp_path / "out", name="lin", target="y")
    assert bundle.model_format == "onnx" and bundle.metrics["r2"] > 0.99
    assert Scorer(bundle).score([{"a": 1, "b": 2, "c": 3}])[0] == pytest.approx(3 - 2 + 1.5 + 4, abs=0.05)


def test_unconvertible_estimator_falls_back_to_skops_with_trusted_types(
        tmp_path: Path, data: tuple[np.ndarray, np.ndarray, Path]) -> None:
    X, y, csv = data
    estimator = TransformedTargetRegressor(regressor=DecisionTreeRegressor(max_depth=5, random_state=0),
                                           func=np.log1p, inverse_func=np.expm1).fit(X, np.abs(y))
    joblib.dump(estimator, tmp_path / "k.joblib")
    bundle = package_user_model(tmp_path / "k.joblib", ["a", "b", "c"], csv, tmp_path / "out", name="k")
    assert bundle.model_format == "skops" and bundle.model_path.suffix == ".skops"
    assert "sklearn.tree._tree.Tree" in bundle.trusted_types  # tree internals are refused unless listed
    reloaded = load_bundle(bundle.path)
    assert Scorer(reloaded).score([[1, 2, 3]])[0] == pytest.approx(float(estimator.predict([[1, 2, 3]])[0]), abs=0.01)
    # The loader re-checks the file against the trusted list: a list that omits a type is refused.
    with pytest.raises(Exception, match="not listed as trusted"):
        load_predictor(bundle.model_path, "skops", trusted_types=[])


@pytest.mark.parametrize(("features", "message"), [
    (["a", "b"], "names 2 features but the model expects 3"),
    (["a", "b", "zz"], r"columns \['zz'\] not found"),
    (["a", "a", "b"], "distinct"),
])
def test_feature_mistakes_are_named(tmp_path: Path, data: tuple[np.ndarray, np.ndarray, Path],
                                    features: list[str], message: str) -> None:
    X, y, csv = data
    joblib.dump(Ridge().fit(X, y), tmp_path / "m.joblib")
    with pytest.raises(PackagingError, match=message):
        package_user_model(tmp_path / "m.joblib", features, csv, tmp_path / "out", name="m")


def test_unreadable_model_file_is_named(tmp_path: Path, data: tuple[np.ndarray, np.ndarray, Path]) -> None:
    (tmp_path / "bad.joblib").write_bytes(b"not a pickle")
    with pytest.raises(PackagingError, match=r"bad\.joblib: could not be loaded"):
        package_user_model(tmp_path / "bad.joblib", ["a", "b", "c"], data[2], tmp_path / "out", name="m")
    with pytest.raises(PackagingError, match="unknown model file type"):
        (tmp_path / "m.txt").write_text("x")
        package_user_model(tmp_path / "m.txt", ["a", "b", "c"], data[2], tmp_path / "out", name="m")


def test_a_failed_package_leaves_the_previous_bundle_intact(tmp_path: Path,
                                                            data: tuple[np.ndarray, np.ndarray, Path]) -> None:
    X, y, csv = data
    joblib.dump(Ridge().fit(X, y), tmp_path / "m.joblib")
    good = package_user_model(tmp_path / "m.joblib", ["a", "b", "c"], csv, tmp_path / "out", name="lin")
    before = good.archive_sha256()
    (tmp_path / "bad.joblib").write_bytes(b"junk")
    with pytest.raises(PackagingError):
        package_user_model(tmp_path / "bad.joblib", ["a", "b", "c"], csv, tmp_path / "out", name="lin")
    assert load_bundle(tmp_path / "out", verify_archive=True).archive_sha256() == before
