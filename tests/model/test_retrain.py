"""Champion/challenger retraining (model/retrain.py): real data files, real training, real bundles."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge

from model.bundle import Bundle, load_bundle
from model.challenger import EXAMPLE_RECIPE, RetrainError, params_sha256
from model.dataset import FEATURES, TARGET, Dataset, make_house_prices
from model.errors import ModelstageError
from model.package import PackageInputs, package_user_model, write_bundle
from model.predictor import load_predictor
from model.retrain import Rule, retrain
from model.retrain_data import read_labelled
from model.train import SEED, example_pipeline, regression_metrics, split, train_example


def write_csv(path: Path, X: np.ndarray, y: np.ndarray, names: tuple[str, ...] = FEATURES,
              target: str = TARGET) -> Path:
    lines = [",".join([*names, target])]
    lines += [",".join("" if np.isnan(v) else f"{v:g}" for v in [*row, label]) for row, label in zip(X, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def shifted_prices(path: Path, n_rows: int = 1500) -> Path:
    """The world changed: every house costs 50% more. The champion is wrong everywhere; a model trained
    on this data is not."""
    data = make_house_prices(n_rows=n_rows, seed=7)
    return write_csv(path, data.X, data.y * 1.5)


def broken_training_labels(path: Path, n_rows: int = 1000) -> Path:
    """Labels of the rows retrain trains on are shuffled (a broken join); the holdout's are right.
    The challenger can learn nothing, the champion is still right: refused by construction, whatever
    the training noise. The holdout rows are found with the same seeded split retrain uses."""
    data = make_house_prices(n_rows=n_rows, seed=11)
    rows = np.arange(n_rows, dtype=np.float64)
    train_rows, _, _, _ = split(Dataset(X=rows[:, None], y=rows), test_fraction=0.2, seed=SEED)
    train = train_rows[:, 0].astype(int)
    y = data.y.copy()
    y[train] = y[np.random.default_rng(3).permutation(train)]
    return write_csv(path, data.X, y)


def test_a_better_challenger_is_accepted_and_written_as_a_new_version(bundle: Bundle, tmp_path: Path) -> None:
    data = shifted_prices(tmp_path / "new.csv")
    result = retrain(bundle.path, data, tmp_path / "v2", report_path=tmp_path / "report.json")
    assert result.accepted and not result.forced and result.decision == "accepted"
    assert result.challenger["rmse"] < 0.5 * result.champion["rmse"]
    written = load_bundle(tmp_path / "v2", verify_archive=True)
    assert written.version != bundle.version and written.name == bundle.name
    assert written.metrics == result.challenger  # the challenger's holdout metrics, not the champion's
    assert written.schema == bundle.schema  # the serving contract is unchanged
    training = written.manifest["training"]
    assert training["recipe"] == EXAMPLE_RECIPE  # so it can be retrained again
    assert training["retrained_from"]["version"] == bundle.version
    # The written model file is the challenger: the ONNX scores the holdout as the challenger did.
    X, y = read_labelled(data, bundle.schema.names, TARGET)
    _, X_holdout, _, y_holdout = split(Dataset(X=X, y=y), test_fraction=0.2, seed=SEED)
    onnx = load_predictor(written.model_path, written.model_format, written.trusted_types).predict(X_holdout)
    assert regression_metrics(y_holdout, onnx)["rmse"] == pytest.approx(result.challenger["rmse"], rel=1e-3)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["metrics"] == {"champion": result.champion, "challenger": result.challenger}
    assert report["decision"] == "accepted" and report["rule"]["text"] == "challenger rmse <= champion rmse * (1 + 0)"
    assert report["challenger"]["version"] == written.version
    assert set(report["drift"]["psi"]) == set(bundle.schema.names)
    assert report["data"]["holdout_rows"] == 300 and report["data"]["train_rows"] == 1200
    assert bundle.path.is_dir() and load_bundle(bundle.path, verify_archive=True).version == bundle.version
    # Retraining the new bundle on the same data gives the same model: nothing new to write or roll out.
    again = retrain(written.path, data, tmp_path / "v3")
    assert again.identical and again.accepted and again.written is None and not (tmp_path / "v3").exists()
    assert again.challenger == result.challenger  # seeded: the same data trains the same model
    assert again.champion["rmse"] == pytest.approx(again.challenger["rmse"], rel=1e-3)  # its ONNX agrees
    assert retrain(written.path, data, tmp_path / "v3", version="3").written is not None  # a label is asked for


def test_a_worse_challenger_is_refused_and_nothing_is_written(bundle: Bundle, tmp_path: Path) -> None:
    data = broken_training_labels(tmp_path / "new.csv")
    result = retrain(bundle.path, data, tmp_path / "v2", report_path=tmp_path / "report.json")
    assert not result.accepted and result.written is None and result.decision == "refused"
    assert result.challenger["rmse"] > 2 * result.champion["rmse"]
    assert not (tmp_path / "v2").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no half-written bundle
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["accepted"] is False and report["challenger"]["path"] is None
    assert report["metrics"]["challenger"]["rmse"] == result.challenger["rmse"]


def test_force_writes_a_refused_challenger_and_says_so(bundle: Bundle, tmp_path: Path) -> None:
    result = retrain(bundle.path, broken_training_labels(tmp_path / "new.csv"), tmp_path / "v2", force=True,
                     version="forced-1")
    assert not result.accepted and result.forced and result.decision == "refused, written anyway (--force)"
    written = load_bundle(tmp_path / "v2", verify_archive=True)
    assert written.version == "forced-1" and written.metrics == result.challenger
    assert result.report["forced"] is True


def test_a_tolerance_accepts_a_worse_challenger(bundle: Bundle, tmp_path: Path) -> None:
    result = retrain(bundle.path, broken_training_labels(tmp_path / "new.csv"), tmp_path / "v2", tolerance=100.0)
    assert result.accepted and result.challenger["rmse"] > result.champion["rmse"]


def test_the_report_has_the_drift_against_the_old_baseline(bundle: Bundle, tmp_path: Path) -> None:
    data = make_house_prices(n_rows=500, seed=13)
    X = data.X.copy()
    X[:, FEATURES.index("living_area_sqft")] *= 1.8  # bigger houses than the champion was trained on
    X[:5, FEATURES.index("condition")] = 9  # outside the schema's 1..5
    result = retrain(bundle.path, write_csv(tmp_path / "new.csv", X, data.y), tmp_path / "v2", force=True)
    drift = result.report["drift"]
    assert "living_area_sqft" in drift["drifted"] and drift["psi"]["living_area_sqft"] > 0.2
    assert drift["psi"]["garage_spaces"] < 0.2 and drift["against"] == f"{bundle.name}@{bundle.version}"
    assert result.report["data"]["rows_outside_schema"] == 5


def test_sign_key_signs_the_new_bundle_and_a_bad_key_fails_before_training(bundle: Bundle, tmp_path: Path) -> None:
    from tests.model.test_bundle_hardening import _keypair

    key, _ = _keypair(tmp_path)
    data = shifted_prices(tmp_path / "new.csv", 300)
    assert retrain(bundle.path, data, tmp_path / "v2", sign_key=key).written.signed  # type: ignore[union-attr]
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(ModelstageError, match=r"bad\.pem: not a readable"):  # not "no such data file"
        retrain(bundle.path, tmp_path / "no-data-needed.csv", tmp_path / "v3", sign_key=tmp_path / "bad.pem")


def test_the_rule() -> None:
    rmse = Rule("rmse", 0.05)
    assert rmse.accepts(100.0, 105.0) and not rmse.accepts(100.0, 105.01) and rmse.accepts(100.0, 1.0)
    r2 = Rule("r2", 0.01)
    assert r2.accepts(0.9, 0.89) and not r2.accepts(0.9, 0.889) and r2.accepts(0.9, 0.95)
    assert r2.text() == "challenger r2 >= champion r2 - 0.01"
    assert Rule("rmse", 0.0).accepts(100.0, 100.0)  # as good is good enough


def test_r2_can_decide(bundle: Bundle, tmp_path: Path) -> None:
    result = retrain(bundle.path, shifted_prices(tmp_path / "new.csv", 600), tmp_path / "v2", metric="r2")
    assert result.rule.metric == "r2" and result.accepted
    assert result.report["rule"]["higher_is_better"] is True
    assert load_bundle(tmp_path / "v2").manifest["training"]["metric"] == "r2"


def test_the_recipe_is_the_pipeline_train_example_fits() -> None:
    from model.challenger import RECIPES

    trained = train_example(n_rows=200).estimator
    assert params_sha256(RECIPES[EXAMPLE_RECIPE]()) == params_sha256(clone(trained))
    assert repr(RECIPES[EXAMPLE_RECIPE]()) == repr(clone(trained))


def test_parquet_reads_like_csv(tmp_path: Path) -> None:
    data = make_house_prices(n_rows=120, seed=5)
    csv = write_csv(tmp_path / "d.csv", data.X, data.y)
    columns = {n: data.X[:, i] for i, n in enumerate(FEATURES)} | {TARGET: data.y}
    pq.write_table(pa.table(columns), tmp_path / "d.parquet")
    X_csv, y_csv = read_labelled(csv, FEATURES, TARGET)
    X_pq, y_pq = read_labelled(tmp_path / "d.parquet", FEATURES, TARGET)
    np.testing.assert_array_equal(y_csv, y_pq)
    np.testing.assert_allclose(X_csv, X_pq, equal_nan=True)
    assert np.isnan(X_csv).any()  # missing cells are NaN, for the pipeline's imputer


# --- a user's own model: retrain needs the original file, and checks it --------------------------

@pytest.fixture
def user_bundle(tmp_path: Path) -> tuple[Bundle, Path, Path]:
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 10, size=(400, 3))
    y = X @ np.array([3.0, -1.0, 0.5]) + 4
    data = write_csv(tmp_path / "data.csv", X, y, names=("a", "b", "c"), target="y")
    joblib.dump(Ridge(alpha=1.0).fit(X, y), tmp_path / "m.joblib")
    bundle = package_user_model(tmp_path / "m.joblib", ["a", "b", "c"], data, tmp_path / "b1", name="lin", target="y")
    # New data: the relationship changed sign on b.
    X2 = rng.uniform(0, 10, size=(400, 3))
    new = write_csv(tmp_path / "new.csv", X2, X2 @ np.array([3.0, 1.0, 0.5]) + 4, names=("a", "b", "c"), target="y")
    return bundle, tmp_path / "m.joblib", new


def test_a_user_model_is_cloned_from_the_file_passed(user_bundle: tuple[Bundle, Path, Path], tmp_path: Path) -> None:
    bundle, model, new = user_bundle
    entry = bundle.manifest["training"]["estimator"]
    assert entry["class"] == "sklearn.linear_model._ridge.Ridge" and entry["file_sha256"]
    assert bundle.manifest["training"]["target"] == "y"
    with pytest.raises(RetrainError, match="pass --model ORIGINAL"):
        retrain(bundle.path, new, tmp_path / "v2")
    # The same estimator saved again is a different file with the same class and parameters: accepted.
    joblib.dump(joblib.load(model), tmp_path / "again.joblib", compress=3)
    result = retrain(bundle.path, new, tmp_path / "v2", model_file=tmp_path / "again.joblib")
    assert result.accepted and result.challenger["r2"] > 0.99 > result.champion["r2"]
    assert load_bundle(tmp_path / "v2").manifest["training"]["estimator"] == entry  # retrain it again the same way


def test_a_different_user_model_is_refused(user_bundle: tuple[Bundle, Path, Path], tmp_path: Path) -> None:
    bundle, _, new = user_bundle
    joblib.dump(Ridge(alpha=5.0), tmp_path / "other.joblib")
    with pytest.raises(RetrainError, match="not the model this bundle was packaged from"):
        retrain(bundle.path, new, tmp_path / "v2", model_file=tmp_path / "other.joblib")
    assert not (tmp_path / "v2").exists()


def test_a_bundle_without_a_training_entry_needs_model(bundle: Bundle, tmp_path: Path) -> None:
    data = make_house_prices(n_rows=300, seed=1)
    old = write_bundle(PackageInputs(name="old", estimator=example_pipeline().fit(data.X, data.y),
                                     schema=bundle.schema, X_reference=data.X, X_check=data.X[:50],
                                     metrics={"rmse": 1.0}), tmp_path / "old")
    assert "training" not in old.manifest and load_bundle(old.path, verify_archive=True).version
    with pytest.raises(RetrainError, match="no 'training' entry"):
        retrain(old.path, shifted_prices(tmp_path / "new.csv", 300), tmp_path / "v2")


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"),
    (",".join([*FEATURES, TARGET]) + "\n", "no rows, only a header"),
    (",".join(FEATURES) + "\n" + ",".join(["1"] * 8) + "\n", "no target column 'price'"),
    (",".join([*FEATURES[1:], TARGET]) + "\n" + ",".join(["1"] * 8) + "\n", "missing feature column living_area"),
    (",".join([*FEATURES, TARGET]) + "\n" + ",".join(["1"] * 8 + ["9"]) + "\n" + ",".join(["x"] + ["1"] * 8) + "\n",
     r"data row 2, column 'living_area_sqft': expected a number, got 'x'"),
    (",".join([*FEATURES, TARGET]) + "\n" + ",".join(["1"] * 8 + [""]) + "\n", "every row needs a label"),
])
def test_bad_data_is_refused_naming_the_problem(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "d.csv").write_text(text)
    with pytest.raises(RetrainError, match=message):
        read_labelled(tmp_path / "d.csv", FEATURES, TARGET)


def test_too_few_rows_and_bad_destinations_are_refused(bundle: Bundle, tmp_path: Path) -> None:
    data = make_house_prices(n_rows=99, seed=2)
    small = write_csv(tmp_path / "small.csv", data.X, data.y)
    with pytest.raises(RetrainError, match=r"99 rows are too few.*at least 100 rows"):
        retrain(bundle.path, small, tmp_path / "v2")
    with pytest.raises(RetrainError, match="outside the current bundle"):
        retrain(bundle.path, small, bundle.path)
    with pytest.raises(RetrainError, match="outside the current bundle"):
        retrain(bundle.path, small, bundle.path / "inner")
    (tmp_path / "exists").mkdir()
    with pytest.raises(RetrainError, match="already exists"):
        retrain(bundle.path, small, tmp_path / "exists")
    with pytest.raises(RetrainError, match="already has it"):
        retrain(bundle.path, small, tmp_path / "v3", version=bundle.version)
    assert not (tmp_path / "v2").exists() and not (tmp_path / "v3").exists()
