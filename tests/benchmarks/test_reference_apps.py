"""The benchmark's reference apps, called in-process on a real bundle: the split they measure only
means something if `model_only` computes modelstage's prediction and `without_model` is modelstage's
own app minus the model. Also the target lines that report the split."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks import reference_apps, report
from benchmarks.asgi_inprocess import App, call_handler, serving_app
from benchmarks.cpu import CpuUse
from benchmarks.results import LoadResult
from model.bundle import Bundle

SEED = b'{"input": [1200, 3, 2]}'


def _post(app: App, body: bytes) -> tuple[int, Any]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/invocations",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}

    async def call() -> None:
        await app(scope, receive, send)

    asyncio.run(call())
    start, done = sent
    return start["status"], orjson.loads(done["body"])


@pytest.fixture
def model_dir(bundle: Bundle, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODEL_DIR", str(bundle.path))
    return bundle.path


def test_model_only_answers_what_modelstage_answers(model_dir: Path) -> None:
    status, answer = _post(reference_apps.model_only(), SEED)
    app = serving_app(model_dir)
    ours_status, body = call_handler(app, SEED)
    ours = orjson.loads(body)
    app.close()
    assert (status, ours_status) == (200, 200)
    assert answer["price"] == pytest.approx(ours["price"], abs=0.01)
    assert 20_000 < answer["price"] < 5_000_000  # a house price, not the constant or a zero


def test_without_model_is_modelstage_with_a_constant(model_dir: Path) -> None:
    app = reference_apps.without_model()
    app.start_loading().join(30)
    status, body = call_handler(app, SEED)
    assert (status, orjson.loads(body)) == (200, {"price": 250_000.0})
    status, error = call_handler(app, b'{"input": [1200, "three", 2]}')  # modelstage's validation still runs
    app.close()
    assert status == 400 and "bedrooms" in error.decode()


def _row(server: str, requests: int, server_cores: float) -> report.Row:
    result = LoadResult("wrk -t1", requests, 10.0, requests / 10.0, 0.5, 0.8, 1.0, 2.0, 0.5, 0, 0)
    return report.Row(server, 1, 1, 8, result, CpuUse(server_cores, 0.3, 0.0, 10.0))


def test_targets_report_the_split() -> None:
    rows = [_row("http-floor", 300_000, 1.0), _row("model-only", 150_000, 1.0),
            _row("no-model", 200_000, 1.0), _row("modelstage", 100_000, 1.0)]
    got = {t.name: t for t in report.targets(rows, rss_one_worker=None)}
    assert got["req/s vs model_only"].ok is False  # 100,000 < 90% of 150,000
    assert got["req/s vs model_only"].got == "10000 / 15000 = 67%"
    assert got["req/s vs HTTP floor"].info  # the model-free floor is read, not a target
    assert got["model-only vs floor"].got == "33 / 67 us = 50%"
    assert got["no-model vs floor"].got == "33 / 50 us = 67%"
    assert got["model-only vs floor"].info and got["no-model vs floor"].info


def test_split_lines_are_absent_when_not_measured() -> None:
    got = [t.name for t in report.targets([_row("http-floor", 300_000, 1.0), _row("modelstage", 200_000, 1.0)],
                                          rss_one_worker=None)]
    assert "req/s vs HTTP floor" in got
    assert "model-only vs floor" not in got and "no-model vs floor" not in got
    assert "req/s vs model_only" not in got


def test_modelstage_within_ten_percent_of_model_only_passes() -> None:
    rows = [_row("model-only", 100_000, 1.0), _row("modelstage", 90_000, 1.0)]
    got = {t.name: t for t in report.targets(rows, rss_one_worker=None)}
    assert got["req/s vs model_only"].verdict == "PASS"
