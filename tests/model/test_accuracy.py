"""Joining delayed labels to captured predictions, and accuracy over time (model/accuracy.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn import metrics as skm

from model.accuracy import Labels, LabelsError, compute_accuracy, degraded, join, read_labels, regression_metrics


def _ids(*values: str | None) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def test_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.uniform(100, 500, 400)
    predicted = y + rng.normal(0, 30, 400)
    mine = regression_metrics(y, predicted)
    assert mine["mae"] == pytest.approx(skm.mean_absolute_error(y, predicted))
    assert mine["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, predicted)))
    assert mine["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, predicted))
    assert mine["r2"] == pytest.approx(skm.r2_score(y, predicted))


def test_mape_leaves_out_zero_labels_and_r2_needs_spread() -> None:
    got = regression_metrics(np.array([0.0, 10.0]), np.array([1.0, 12.0]))
    assert got["mape"] == pytest.approx(0.2)
    same = regression_metrics(np.array([5.0, 5.0]), np.array([4.0, 6.0]))
    assert same["r2"] is None


def test_join_counts_every_row_and_label_it_cannot_use() -> None:
    ids = _ids("a", "a", "b", None, "c", "d", "e")  # "a" is a two-row request
    predictions = np.array([1.0, 2.0, 3.0, 4.0, np.nan, 6.0, 7.0])
    labels = Labels(ids=["a", "a", "b", "b", "c", "d", "d", "z", "e"],
                    rows=np.array([0, 1, 0, 0, 0, 0, 0, 0, 0]),
                    values=np.array([10.0, 20.0, 30.0, 30.0, 40.0, 50.0, 51.0, 99.0, 70.0]), unusable=2)
    rows, y, counts = join(ids, predictions, labels)
    assert rows.tolist() == [0, 1, 2, 6] and y.tolist() == [10.0, 20.0, 30.0, 70.0]
    assert counts == {
        "captured rows without an inference id": 1,
        "captured rows without a prediction": 1,  # c
        "captured rows without a label": 1,  # d: its two labels disagree
        "labels for rows never captured": 1,  # z
        "duplicate labels": 2,  # b (same value, used once), d (different values)
        "conflicting labels (rows left out)": 1,
        "labels without an id or a numeric value": 2,
    }


def test_windows_are_judged_against_the_bundle_with_the_tolerance() -> None:
    n = 300
    ids = _ids(*[f"id-{i}" for i in range(n)])
    y = np.linspace(100, 400, n)
    predictions = y + np.where(np.arange(n) < 200, 5.0, 40.0)  # the third day is worse
    timestamps = np.datetime64("2026-11-01", "ms") + (np.arange(n) // 100).astype("timedelta64[D]")
    labels = Labels([f"id-{i}" for i in range(n)], np.zeros(n, dtype=np.int64), y, 0)
    summary = compute_accuracy("m@1", {"mae": 10.0, "rmse": 10.0, "r2": 0.9}, ids, predictions, timestamps, labels,
                               tolerance=0.5)
    assert summary.window_unit == "day" and [w.rows for w in summary.windows] == [100, 100, 100]
    assert [bool(w.reasons) for w in summary.windows] == [False, False, True]
    assert summary.windows[2].reasons[0] == "mae 40 > 10 x 1.5"
    assert summary.degraded and "DEGRADED" in summary.render()
    small = compute_accuracy("m@1", {"mae": 10.0}, ids, predictions, timestamps, labels, tolerance=0.5,
                             min_rows=101)
    assert not any(w.judged for w in small.windows) and small.overall_reasons  # overall mae 16.7 > 15


def test_degraded_rules() -> None:
    ref = {"mae": 10.0, "rmse": 20.0, "mape": 0.1, "r2": 0.8}
    assert degraded({"mae": 11.0, "rmse": 22.0, "mape": 0.11, "r2": 0.71}, ref, 0.1) == []
    assert degraded({"mae": 11.1, "r2": 0.69}, ref, 0.1) == ["mae 11.1 > 10 x 1.1", "r2 0.6900 < 0.8000 - 0.1"]


def test_no_match_at_all_is_a_clear_error() -> None:
    labels = Labels(["x"], np.zeros(1, dtype=np.int64), np.array([1.0]), 0)
    with pytest.raises(LabelsError, match="no captured prediction has a label"):
        compute_accuracy("m@1", {}, _ids("a"), np.array([1.0]), np.array(["NaT"], dtype="datetime64[ms]"), labels)


def test_labels_from_csv_parquet_and_json_lines(tmp_path: Path) -> None:
    csv = tmp_path / "labels.csv"
    csv.write_text("inference_id,price,row\n007,100.5,0\n8,,0\n9,abc,1\n,5,0\n10,7,\n")
    got = read_labels(csv, "price")
    assert got.ids == ["007"] and got.values.tolist() == [100.5] and got.unusable == 4
    table = pa.table({"inference_id": ["a", "b"], "y": [1.0, 2.0]})
    pq.write_table(table, tmp_path / "labels.parquet")
    assert read_labels(tmp_path / "labels.parquet", "y").ids == ["a", "b"]
    (tmp_path / "labels.jsonl").write_text('{"inference_id": "a", "y": 3}\n{"inference_id": "b", "y": 4}\n')
    got = read_labels(tmp_path / "labels.jsonl", "y")
    assert got.values.tolist() == [3.0, 4.0] and got.rows.tolist() == [0, 0]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("l.csv", "id,price\n1,2\n", "missing columns \\['inference_id'\\]"),
    ("l.csv", "inference_id,price\n", "no labels"),
    ("l.txt", "x", "unknown format .txt"),
    ("l.parquet", "not parquet", "not a readable parquet file"),
    ("l.csv", "inference_id,price,row\na,1,x\n", "column 'row': expected whole numbers"),
])
def test_bad_labels_files_are_refused(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(LabelsError, match=message):
        read_labels(path, "price")
    with pytest.raises(LabelsError, match="no such file"):
        read_labels(tmp_path / "missing.csv", "price")
