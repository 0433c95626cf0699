"""compute_drift over the example bundle's baseline: which columns drift and why, windows over time,
and a bundle whose baseline was written by someone else."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from model.bundle import Bundle, load_bundle
from model.dataset import make_house_prices
from model.drift import Thresholds, compute_drift, windows_for
from model.errors import BundleError, ModelstageError
from model.predictor import load_predictor


def _rows(bundle: Bundle, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    X = make_house_prices(n_rows=n, seed=seed).X
    predictor = load_predictor(bundle.model_path, bundle.model_format)
    return X, predictor.predict(X)


def test_data_like_the_training_data_does_not_drift(bundle: Bundle) -> None:
    X, predictions = _rows(bundle, 3000, seed=101)
    summary = compute_drift(bundle, X, predictions)
    assert summary.drifted == [], summary.render()
    assert [c.name for c in summary.columns] == [*bundle.schema.names, bundle.schema.output.name]
    for column in summary.columns:
        assert column.psi is not None and column.psi < 0.05
        assert column.ks is not None and column.ks.distance < 0.05
    assert summary.windows == () and summary.window_unit == ""


def test_a_shifted_feature_and_the_prediction_drift_with_reasons(bundle: Bundle) -> None:
    X, _ = _rows(bundle, 3000, seed=102)
    X[:, 0] *= 1.5
    predictions = load_predictor(bundle.model_path, bundle.model_format).predict(X)
    summary = compute_drift(bundle, X, predictions)
    assert summary.drifted == ["living_area_sqft", "price"]
    area = summary.columns[0]
    assert any(r.startswith("PSI") for r in area.reasons) and any(r.startswith("KS D") for r in area.reasons)
    assert area.ks is not None and area.ks.p_value < 1e-6
    assert "drift in living_area_sqft, price" in summary.render()


def test_missing_values_and_values_out_of_range_are_drift(bundle: Bundle) -> None:
    X, predictions = _rows(bundle, 2000, seed=103)
    X[:400, 1] = np.nan  # bedrooms: never missing in training
    X[:100, 7] = 900.0  # distance_to_city_km: the schema allows 0..500
    summary = compute_drift(bundle, X, predictions, thresholds=Thresholds(psi=10, ks_distance=1))
    by_name = {c.name: c for c in summary.columns}
    assert by_name["bedrooms"].missing_rate == pytest.approx(0.2)
    assert by_name["bedrooms"].reasons == ("missing 20.0% (baseline 0.0%)",)
    assert by_name["distance_to_city_km"].out_of_range_rate == pytest.approx(0.05)
    assert by_name["distance_to_city_km"].reasons == ("5.0% out of range",)
    assert summary.drifted == ["bedrooms", "distance_to_city_km"]


def test_windows_by_day_hour_and_rows(bundle: Bundle) -> None:
    X, predictions = _rows(bundle, 2400, seed=104)
    start = np.datetime64("2026-11-01T00:00:00", "ms")
    timestamps = start + np.arange(2400).astype("timedelta64[m]") * 3  # 5 days
    timestamps[7] = np.datetime64("NaT")
    X[timestamps >= np.datetime64("2026-11-04", "ms"), 0] *= 2  # drift from day 4
    summary = compute_drift(bundle, X, predictions, timestamps=timestamps)
    assert summary.window_unit == "day"
    assert [w.start for w in summary.windows] == [f"2026-11-0{d}" for d in range(1, 6)]
    assert [w.rows for w in summary.windows] == [479, 480, 480, 480, 480]  # the NaT row is in none
    area = [w.psi["living_area_sqft"] or 0.0 for w in summary.windows]
    assert max(area[:3]) < 0.2 < min(area[3:])
    hourly = compute_drift(bundle, X[:200], predictions[:200], timestamps=timestamps[:200])
    assert hourly.window_unit == "hour" and len(hourly.windows) == 10
    by_rows = compute_drift(bundle, X, predictions, every="500")
    assert by_rows.window_unit == "500 rows" and [w.rows for w in by_rows.windows] == [500] * 4 + [400]
    assert (by_rows.windows[-1].start, by_rows.windows[-1].end) == ("2001", "2400")
    json.dumps(summary.to_dict(), allow_nan=False)  # the JSON report has no NaN


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ModelstageError, match="expected day, hour, auto or a number"):
        windows_for(np.array([], dtype="datetime64[ms]"), "week")
    with pytest.raises(ModelstageError, match="more than 1000 windows"):
        windows_for(np.full(5000, np.datetime64("NaT"), "datetime64[ms]"), "2")
    many = np.datetime64("2026-01-01", "ms") + np.arange(2000).astype("timedelta64[h]")
    with pytest.raises(ModelstageError, match="pass a coarser --every"):
        windows_for(many, "hour")


def test_no_rows_and_wrong_width_are_refused(bundle: Bundle) -> None:
    with pytest.raises(ModelstageError, match="no rows"):
        compute_drift(bundle, np.empty((0, 8)), None)
    with pytest.raises(ModelstageError, match="expected 8 feature columns"):
        compute_drift(bundle, np.zeros((3, 5)), None)


def _edited_copy(bundle: Bundle, tmp_path: Path, edit: str) -> Path:
    copy = tmp_path / "edited"
    shutil.copytree(bundle.path, copy)
    manifest = json.loads((copy / "bundle.json").read_text())
    if edit == "no-quantiles":
        for f in manifest["baseline"]["features"]:
            del f["quantiles"]
    elif edit == "bad-edges":
        manifest["baseline"]["features"][2]["edges"] = [3, 2, 1]
    elif edit == "not-an-object":
        manifest["baseline"]["features"][0] = "edges"
    (copy / "bundle.json").write_text(json.dumps(manifest))
    return copy


def test_a_bundle_from_before_the_sketch_reports_psi_without_ks(bundle: Bundle, tmp_path: Path) -> None:
    old = load_bundle(_edited_copy(bundle, tmp_path, "no-quantiles"))
    X, predictions = _rows(bundle, 500, seed=105)
    summary = compute_drift(old, X, predictions)
    features = [c for c in summary.columns if c.kind == "feature"]
    assert all(c.ks is None and c.psi is not None for c in features)
    assert "-" in summary.render().splitlines()[2]


@pytest.mark.parametrize(("edit", "message"), [
    ("bad-edges", r"baseline.features\[2\]: expected 11 bin edges"),
    ("not-an-object", r"baseline.features\[0\]: malformed baseline"),
])
def test_a_malformed_baseline_is_refused_with_its_place(bundle: Bundle, tmp_path: Path, edit: str,
                                                        message: str) -> None:
    edited = load_bundle(_edited_copy(bundle, tmp_path, edit))
    with pytest.raises(BundleError, match=message):
        compute_drift(edited, np.zeros((2, 8)), None)
