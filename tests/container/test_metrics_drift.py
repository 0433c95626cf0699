"""/metrics for watching (issue 11, item 7): the prediction histogram and the drift window's gauges,
against the real server process on 127.0.0.1 and a plain HTTP client.

Expected values are computed here from the rows sent, with the functions `modelstage drift` uses
(model/baseline.py, model/drift.py), so "the gauge equals what drift reports" is checked exactly.
"""

from __future__ import annotations

import http.client
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from container.local import ServerProcess, free_port
from container.runtime.settings import MAX_DRIFT_WINDOW, Settings, SettingsError
from model.baseline import psi
from model.bundle import Bundle
from model.dataset import make_house_prices
from model.drift import compute_drift
from model.scoring import Scorer
from tests.container.exposition import Family, parse

FEATURES = ["living_area_sqft", "bedrooms", "bathrooms", "lot_size_sqft", "year_built", "garage_spaces", "condition",
            "distance_to_city_km"]
SHIFTED = {"living_area_sqft": 1.7, "distance_to_city_km": 2.5}  # feature -> factor


class Client:
    def __init__(self, server: ServerProcess) -> None:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def score(self, rows: np.ndarray) -> list[float]:
        """POST the rows (NaN sent as null); the predictions answered, one per row."""
        one = len(rows) == 1
        cells = [[None if math.isnan(v) else v for v in row] for row in rows.tolist()]
        body = json.dumps({"input": cells[0]} if one else {"instances": cells}).encode()
        self.conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        doc = json.loads(resp.read())
        assert resp.status == 200, doc
        return [doc["price"]] if one else doc["predictions"]

    def metrics(self) -> dict[str, Family]:
        self.conn.request("GET", "/metrics")
        resp = self.conn.getresponse()
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(resp.read().decode())


Start = Callable[[int | None], Client]  # a server with MODELSTAGE_DRIFT_WINDOW (None: unset), and a client of it


@pytest.fixture
def serve(bundle: Bundle, tmp_path: Path) -> Iterator[Start]:
    started: list[tuple[ServerProcess, Client]] = []

    def start(window: int | None) -> Client:
        env = {} if window is None else {"MODELSTAGE_DRIFT_WINDOW": str(window)}
        proc = ServerProcess(bundle.path, free_port(), env=env, log_file=tmp_path / "server.log")
        started.append((proc, Client(proc)))
        proc.wait_healthy(30)
        return started[-1][1]

    yield start
    for proc, client in started:
        client.conn.close()
        assert proc.stop(20) == 0


def rows(n: int, seed: int, shifted: bool = False) -> np.ndarray:
    X = make_house_prices(n_rows=n, seed=seed).X
    if shifted:
        for name, factor in SHIFTED.items():
            X[:, FEATURES.index(name)] *= factor
    return X


def gauges(families: dict[str, Family], name: str) -> dict[str, float]:
    return {labels["feature"]: value for _, labels, value in families[name].samples}


def send(client: Client, X: np.ndarray, batch: int) -> list[float]:
    out: list[float] = []
    for i in range(0, len(X), batch):
        out += client.score(X[i:i + batch])
    return out


def assert_window_is(families: dict[str, Family], bundle: Bundle, X: np.ndarray, predictions: list[float]) -> None:
    """The gauges equal model.baseline.psi and `modelstage drift`'s figures for exactly these rows."""
    assert families["modelstage_drift_window_rows"].value() == len(X)
    found = gauges(families, "modelstage_feature_drift_psi")
    expected = {b.name: psi(b, X[:, i]) for i, b in enumerate(bundle.baselines)}
    assert found == expected  # exact: the same function on the same float64 values, printed with repr
    p = np.asarray(predictions)
    summary = compute_drift(bundle, X, p)
    reported = {c.name: c.psi for c in summary.columns}
    assert found == {k: v for k, v in reported.items() if k in found}
    prediction_baseline = bundle.prediction_baseline
    assert prediction_baseline is not None
    assert families["modelstage_prediction_drift_psi"].value() == psi(prediction_baseline, p)
    assert families["modelstage_prediction_drift_psi"].value() == reported[prediction_baseline.name]
    missing = gauges(families, "modelstage_feature_missing_ratio")
    assert missing == {b.name: float(np.mean(np.isnan(X[:, i]))) for i, b in enumerate(bundle.baselines)}
    assert missing == {c.name: c.missing_rate for c in summary.columns if c.kind == "feature"}


def test_rows_like_the_baseline_drift_little_and_shifted_rows_equal_drifts_psi(serve: Start, bundle: Bundle) -> None:
    client = serve(2000)
    assert client.metrics()["modelstage_drift_window_rows"].value() == 0  # loaded, nothing scored yet
    alike = rows(2000, seed=7)
    assert np.isnan(alike).any(), "the test needs missing values"
    predictions = send(client, alike, 200)
    families = client.metrics()
    assert_window_is(families, bundle, alike, predictions)
    assert max(gauges(families, "modelstage_feature_drift_psi").values()) < 0.05
    assert families["modelstage_prediction_drift_psi"].value() < 0.05

    shifted = rows(2000, seed=8, shifted=True)
    predictions = send(client, shifted, 250)
    families = client.metrics()
    assert_window_is(families, bundle, shifted, predictions)  # the 2,000 alike rows have all fallen out
    found = gauges(families, "modelstage_feature_drift_psi")
    assert all(found[name] > 0.5 for name in SHIFTED), found
    assert all(v < 0.05 for name, v in found.items() if name not in SHIFTED), found
    assert families["modelstage_prediction_drift_psi"].value() > 0.1  # the two shifts partly cancel


def test_the_window_slides_over_single_rows_and_batches(serve: Start, bundle: Bundle) -> None:
    """Batches and 1-row requests that wrap the ring at odd places: the window is the last 250 rows sent."""
    client = serve(250)
    stream = np.concatenate([rows(150, seed=1), rows(130, seed=2, shifted=True), rows(100, seed=3),
                             rows(400, seed=4, shifted=True), rows(200, seed=5), rows(100, seed=6, shifted=True)])
    predictions = send(client, stream[:150], 150)  # one block from slot 0
    predictions += send(client, stream[150:280], 1)  # 1-row requests, wrapping at 250: next slot 30
    assert_window_is(client.metrics(), bundle, stream[280 - 250:280], predictions[280 - 250:])
    predictions += send(client, stream[280:380], 100)  # a block that does not wrap: next slot 130
    predictions += send(client, stream[380:780], 400)  # a block larger than the window: next slot 0
    predictions += send(client, stream[780:980], 200)  # next slot 200
    predictions += send(client, stream[980:], 100)  # a block that wraps: 50 rows at the end, 50 at the start
    families = client.metrics()
    # The ring keeps no order, so comparing as sets of rows would also pass; PSI needs only the multiset.
    assert_window_is(families, bundle, stream[-250:], predictions[-250:])


def test_the_prediction_histogram_counts_every_prediction_in_cumulative_buckets(serve: Start, bundle: Bundle) -> None:
    client = serve(None)  # the default window
    predictions = send(client, rows(40, seed=11), 1)  # bisect per value
    predictions += send(client, rows(300, seed=12), 100)  # one numpy pass per batch
    predictions += send(client, rows(5, seed=13, shifted=True), 5)
    families = client.metrics()
    hist = families["modelstage_prediction"]
    assert hist.type == "histogram"
    buckets = {labels["le"]: value for name, labels, value in hist.samples if name.endswith("_bucket")}
    prediction_baseline = bundle.prediction_baseline
    assert prediction_baseline is not None
    inner = sorted(set(prediction_baseline.edges[1:-1]))
    assert list(buckets) == [f"{b:g}" for b in inner] + ["+Inf"]
    p = np.asarray(predictions)
    for le, count in buckets.items():
        assert count == np.sum(p <= float(le.replace("+Inf", "inf"))), le  # le: less than or equal
    assert hist.value("modelstage_prediction_count") == len(p) == families["modelstage_rows_total"].value()
    assert hist.value("modelstage_prediction_sum") == pytest.approx(float(p.sum()), rel=1e-12)
    assert 0 < buckets[f"{inner[0]:g}"] < buckets[f"{inner[-1]:g}"] < len(p), "the test must fill several buckets"
    assert families["modelstage_drift_window_rows"].value() == len(p)  # on by default (10,000 rows)


def test_a_window_of_zero_turns_the_gauges_off(serve: Start, bundle: Bundle) -> None:
    client = serve(0)
    predictions = send(client, rows(50, seed=3), 25)
    families = client.metrics()
    assert not any("drift" in name or "missing_ratio" in name for name in families), sorted(families)
    assert families["modelstage_prediction"].value("modelstage_prediction_count") == len(predictions)


def test_the_window_setting_is_checked() -> None:
    assert Settings.from_env({}).drift_window == 10_000
    assert Settings.from_env({"MODELSTAGE_DRIFT_WINDOW": "0"}).drift_window == 0
    assert Settings.from_env({"MODELSTAGE_DRIFT_WINDOW": str(MAX_DRIFT_WINDOW)}).drift_window == MAX_DRIFT_WINDOW
    for bad in ("-1", "ten", "1.5", str(MAX_DRIFT_WINDOW + 1)):
        with pytest.raises(SettingsError, match="MODELSTAGE_DRIFT_WINDOW"):
            Settings.from_env({"MODELSTAGE_DRIFT_WINDOW": bad})


def test_the_exposition_parses_with_prometheus_client(serve: Start) -> None:
    """Our strict reader ran on every scrape above; this is Prometheus' own Python parser."""
    from prometheus_client import parser
    client = serve(100)
    send(client, rows(120, seed=9), 60)
    client.conn.request("GET", "/metrics")
    text = client.conn.getresponse().read().decode()
    names = {family.name for family in parser.text_string_to_metric_families(text)}
    assert {"modelstage_prediction", "modelstage_feature_drift_psi", "modelstage_drift_window_rows"} <= names


def test_a_wide_schema_gets_a_shorter_window(bundle: Bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ring holds at most MAX_DRIFT_CELLS values, whatever the number of features."""
    from container.runtime import app as app_module

    monkeypatch.setattr(app_module, "MAX_DRIFT_CELLS", 900)  # 9 columns (8 features and the prediction)
    serving = app_module.ServingApp(Settings.from_env({"MODELSTAGE_DRIFT_WINDOW": "5000"}), lambda: Scorer(bundle))
    window = serving._drift_window(Scorer(bundle))
    assert window is not None and window.size == 100
