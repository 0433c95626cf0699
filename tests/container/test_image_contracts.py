"""The serving image under each cloud's contract, on the real Docker engine (scripts/engine.sh):
every route and envelope, bad input, SIGTERM drain and a tampered bundle, through the container."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from container.image_build import build_image
from container.local import request
from container.local_cloud import RunningCloud, start_cloud
from model.bundle import Bundle
from model.scoring import Scorer
from tests.drain import start_half_sent, wait_in_flight

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def runtime_image(docker_client: docker.DockerClient) -> str:
    return build_image(api=docker_client.api).tag


@pytest.fixture(scope="module", params=["sagemaker", "vertex", "azure"])
def live(request: pytest.FixtureRequest, bundle: Bundle, runtime_image: str,
         docker_client: docker.DockerClient) -> Iterator[RunningCloud]:
    with start_cloud(request.param, bundle, runtime_image, client=docker_client) as running:
        yield running


def _post(live: RunningCloud, body: object, ctype: str = "application/json", accept: str | None = None) -> object:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request(f"{live.url}{live.run.predict_path}", raw, ctype, accept)


def test_sample_request_through_the_cloud_envelope(live: RunningCloud, bundle: Bundle) -> None:
    r = request(f"{live.url}{live.run.predict_path}", json.dumps(live.run.envelope(bundle.sample_request)).encode())
    assert r.status == 200
    expected = Scorer(bundle).score([bundle.sample_request["input"]])
    body = r.json()
    assert body in ({"price": expected[0]}, {"predictions": expected})
    assert request(f"{live.url}{live.run.health_path}").status == 200


def test_every_route_answers(live: RunningCloud) -> None:
    if live.run.predict_path.endswith(":predict"):  # Vertex: only its own envelope on its route
        assert _post(live, {"instances": [[1200, 3, 2], {"living_area_sqft": 900}]}).json()["predictions"]  # type: ignore[attr-defined]
    else:
        assert set(_post(live, {"input": [1200, 3, 2]}).json()) == {"price"}  # type: ignore[attr-defined]
        assert len(_post(live, {"instances": [[1200, 3, 2]] * 3}).json()["predictions"]) == 3  # type: ignore[attr-defined]
        csv = _post(live, b"1200,3,2\n900,2,1\n", "text/csv", "text/csv")
        assert csv.status == 200 and len(csv.body.split()) == 2  # type: ignore[attr-defined]
    for path in ("/ping", "/live", "/ready"):
        assert request(f"{live.url}{path}").status == 200
    metrics = request(f"{live.url}/metrics").body.decode()
    assert "modelstage_requests_total" in metrics and "modelstage_model_loaded 1" in metrics


def test_every_envelope_answers(live: RunningCloud) -> None:
    """Each request shape the README documents, through the container's port."""
    rows = [[1200, 3, 2], {"living_area_sqft": 900, "bedrooms": 2}]
    if live.run.predict_path.endswith(":predict"):
        bodies: list[object] = [{"instances": rows, "parameters": {}}, {"instances": rows, "parameters": None}]
    else:
        bodies = [{"instances": rows}, {"inputs": rows}, {"data": rows}, rows, {"input": rows}]
    for body in bodies:
        r = _post(live, body)
        assert r.status == 200, (body, r.body)  # type: ignore[attr-defined]
        doc = r.json()  # type: ignore[attr-defined]
        assert len(doc.get("predictions", doc.get("price", []))) == 2, (body, doc)


@pytest.mark.parametrize(("body", "status"), [
    (b"{not json", 400),
    (b'{"instances": [[1200, "three", 2]], "input": [1200, "three", 2]}', 400),
    (b'{"instances": [], "input": []}', 400),
])
def test_bad_input_through_the_container(live: RunningCloud, body: bytes, status: int) -> None:
    r = _post(live, body)
    assert r.status == status  # type: ignore[attr-defined]
    assert r.json()["error"]["message"]  # type: ignore[attr-defined]


def test_sigterm_drains_in_flight_requests(bundle: Bundle, runtime_image: str,
                                           docker_client: docker.DockerClient) -> None:
    with start_cloud("sagemaker", bundle, runtime_image, client=docker_client) as live:
        pending = start_half_sent(live.url, 4)
        wait_in_flight(live.url, 4)
        started = time.perf_counter()
        live.container.kill(signal="SIGTERM")  # what SageMaker sends first; SIGKILL follows 30 s later
        time.sleep(0.5)
        assert [p.finish() for p in pending] == [200] * 4
        code = live.container.wait(timeout=30)["StatusCode"]
        took = time.perf_counter() - started
    assert code == 0 and took < 30


def test_a_tampered_bundle_makes_the_container_exit_naming_the_file(
        bundle: Bundle, runtime_image: str, docker_client: docker.DockerClient, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle.path, copy)
    (copy / "model.onnx").write_bytes(b"not the model")
    container = docker_client.containers.run(
        runtime_image, command=["serve"], detach=True,
        volumes={str(copy): {"bind": "/opt/ml/model", "mode": "ro"}})
    try:
        code = container.wait(timeout=60)["StatusCode"]
        logs = container.logs().decode()
    finally:
        container.remove(force=True)
    assert code != 0
    assert "model.onnx: checksum mismatch" in logs
