"""Capture in the real image on the real engine: the writer process starts under the serving user (after
the image's privilege drop), writes the records, and `docker stop` (SIGTERM to PID 1) loses none."""

from __future__ import annotations

import io
import json
import tarfile
import time
import urllib.request
from typing import Any

import docker
import pytest
from docker.models.containers import Container

from container.image_build import build_image
from container.local import free_port
from model.bundle import Bundle

CAPTURE = "/tmp/capture"


def _post(port: int, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body,
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        r.read()
        return r.status, r.headers["X-Modelstage-Inference-Id"]


def _records(container: Container) -> list[dict[str, Any]]:
    stream, _ = container.get_archive(CAPTURE)
    found = []
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".jsonl"):
                data = tar.extractfile(member)
                assert data is not None
                found += [json.loads(line) for line in data.read().splitlines()]
    return found


@pytest.mark.docker
def test_capture_in_the_image_survives_docker_stop(bundle: Bundle, docker_client: docker.DockerClient) -> None:
    image = build_image(api=docker_client.api).tag  # content-tagged: reused when already built
    port = free_port()
    container = docker_client.containers.run(
        image, command=["serve"], detach=True, ports={"8080/tcp": ("127.0.0.1", port)},
        environment={"MODELSTAGE_CAPTURE_DIR": CAPTURE, "MODELSTAGE_CAPTURE_FLUSH_INTERVAL": "30"},
        volumes={str(bundle.path.resolve()): {"bind": "/opt/ml/model", "mode": "ro"}})
    try:
        deadline, ids = time.monotonic() + 60, []
        while not ids and time.monotonic() < deadline:
            try:
                status, first = _post(port, b'{"input": [1200, 3, 2]}')
                ids.append(first)
            except OSError:
                container.reload()
                assert container.status in ("created", "running"), container.logs().decode(errors="replace")
                time.sleep(0.2)
        assert ids, container.logs().decode(errors="replace")
        for _ in range(19):
            status, ident = _post(port, b'{"input": [1200, 3, 2]}')
            assert status == 200
            ids.append(ident)
        top = container.top(ps_args="-eo user,pid,ppid,args")
        writers = [p for p in top["Processes"] if "capture_writer" in p[-1]]
        assert len(writers) == 1 and writers[0][0] not in ("root", "0"), top["Processes"]
        container.stop(timeout=20)  # the flush interval is 30 s: the records are written by the SIGTERM flush
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0, container.logs().decode(errors="replace")
        found = _records(container)
    finally:
        container.remove(force=True)
    assert sorted(r["eventMetadata"]["eventId"] for r in found) == sorted(ids)
