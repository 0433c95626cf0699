"""The runtime as a real server process (modelstage's own HTTP server on uvloop + httptools) on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from container.local import HttpResult, ServerProcess, free_port, request
from model.bundle import Bundle
from model.scoring import Scorer
from tests.drain import start_half_sent, wait_in_flight


@pytest.fixture(scope="module")
def server(bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("logs") / "server.log"
    env = {"AIP_HEALTH_ROUTE": "/v1/endpoints/e/deployedModels/m",
           "AIP_PREDICT_ROUTE": "/v1/endpoints/e/deployedModels/m:predict"}
    with ServerProcess(bundle.path, free_port(), env=env, log_file=log) as proc:
        proc.wait_healthy(30)
        yield proc


def _post(server: ServerProcess, path: str, body: object, ctype: str = "application/json",
          accept: str | None = None) -> HttpResult:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request(f"{server.url}{path}", raw, ctype, accept)


@pytest.mark.parametrize("path", ["/ping", "/ready", "/live", "/v1/endpoints/e/deployedModels/m"])
def test_health_routes(server: ServerProcess, path: str) -> None:
    r = request(f"{server.url}{path}")
    assert r.status == 200 and r.seconds < 1.0


def test_sagemaker_invocations_json_and_csv(server: ServerProcess, bundle: Bundle) -> None:
    expected = Scorer(bundle).score([[1200, 3, 2]])[0]
    assert _post(server, "/invocations", {"input": [1200, 3, 2]}).json() == {"price": expected}
    csv = _post(server, "/invocations", b"1200,3,2\n", "text/csv", "text/csv")
    assert csv.status == 200 and float(csv.body.decode()) == expected


def test_vertex_route_from_environment(server: ServerProcess, bundle: Bundle) -> None:
    r = _post(server, "/v1/endpoints/e/deployedModels/m:predict", {"instances": [[1200, 3, 2]], "parameters": {}})
    assert r.status == 200 and r.json() == {"predictions": Scorer(bundle).score([[1200, 3, 2]])}


def test_azure_score_route(server: ServerProcess) -> None:
    r = _post(server, "/score", {"input": {"living_area_sqft": 2000, "bedrooms": 3, "bathrooms": 2}})
    assert r.status == 200 and isinstance(r.json()["price"], float)


def test_unknown_route_and_wrong_method(server: ServerProcess) -> None:
    assert request(f"{server.url}/nope").status == 404
    r = request(f"{server.url}/invocations")  # GET
    assert r.status == 405 and r.json()["error"]["expected"] == "POST"


def test_body_limits_per_contract(server: ServerProcess) -> None:
    six_mib = 6 * 1024 * 1024
    big = b'{"input": [1200, 3, 2]}' + b" " * (six_mib - 20)
    r = _post(server, "/invocations", big)
    assert r.status == 413 and r.json()["error"]["code"] == "payload_too_large"
    padded = b'{"instances": [[1200, 3, 2]]}' + b" " * 1_400_000  # under Vertex's 1.5 MB
    assert _post(server, "/v1/endpoints/e/deployedModels/m:predict", padded).status == 200
    over = b'{"instances": [[1200, 3, 2]]}' + b" " * 1_500_000
    assert _post(server, "/v1/endpoints/e/deployedModels/m:predict", over).status == 413
    assert _post(server, "/invocations", over).status == 200  # SageMaker allows up to 6 MiB


def test_metrics_count_requests_and_predictions(server: ServerProcess) -> None:
    _post(server, "/invocations", {"input": [1200, 3, 2]})
    _post(server, "/invocations", {"input": [1200, "x", 2]})
    text = request(f"{server.url}/metrics").body.decode()
    assert 'modelstage_requests_total{route="invocations",status="200"}' in text
    assert 'modelstage_requests_total{route="invocations",status="400"}' in text
    assert 'modelstage_request_duration_seconds_bucket{route="invocations",le="+Inf"}' in text
    assert "modelstage_prediction_count" in text and "modelstage_model_loaded 1" in text


def test_sigterm_drains_in_flight_requests(bundle: Bundle, tmp_path: Path) -> None:
    proc = ServerProcess(bundle.path, free_port(), log_file=tmp_path / "log")
    proc.wait_healthy(30)
    pending = start_half_sent(proc.url, 4)
    wait_in_flight(proc.url, 4)
    started = time.perf_counter()
    proc.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # the server is shutting down: no new connections, these four still pending
    with pytest.raises(OSError):
        request(f"{proc.url}/ping", timeout=2)
    assert [p.finish() for p in pending] == [200] * 4
    assert proc.proc.wait(30) == 0 and time.perf_counter() - started < 30


def test_a_tampered_bundle_stops_the_server_naming_the_file(bundle: Bundle, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(bundle.path, copy)
    (copy / "model.onnx").write_bytes(b"tampered")
    log = tmp_path / "log"
    proc = ServerProcess(copy, free_port(), log_file=log)
    try:
        code = proc.proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.stop()
        raise
    assert code != 0
    assert "model.onnx: checksum mismatch" in log.read_text()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat and int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def test_multiple_workers_serve_from_separate_processes(bundle: Bundle, tmp_path: Path) -> None:
    with ServerProcess(bundle.path, free_port(), workers=2, log_file=tmp_path / "log") as proc:
        proc.wait_healthy(30)
        statuses = {_post(proc, "/invocations", {"input": [1200, 3, 2]}).status for _ in range(20)}
        assert statuses == {200}
        # multiprocessing's spawn adds a resource tracker beside the two workers
        workers = [pid for pid in _children(proc.proc.pid)
                   if "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
        assert len(workers) == 2, f"expected 2 worker processes under {proc.proc.pid}, found {workers}"
        assert proc.stop() == 0
