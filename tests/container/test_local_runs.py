"""`modelstage local --as CLOUD` as a user runs it, and the engine's refusals as clear errors, on the
real Docker engine and local registry (scripts/engine.sh)."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import docker
import pytest

from container.build_errors import PushError
from container.image_build import build_image
from container.image_push import push_image
from container.local import LocalRunError, free_port
from container.local_cloud import start_cloud
from model.bundle import Bundle
from modelstage.cli import main

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def runtime_image(docker_client: docker.DockerClient) -> str:
    return build_image(api=docker_client.api).tag


def _left_behind(client: docker.DockerClient, cloud: str, port: int) -> list[str]:
    """Containers this test's run left (other tests may share the engine: match the name)."""
    return [str(c.name) for c in client.containers.list(all=True, filters={"name": f"modelstage-{cloud}-{port}"})]


@pytest.mark.parametrize("cloud", ["sagemaker", "vertex", "azure"])
def test_local_as_a_cloud_prints_the_prediction_and_url_and_stops(
        cloud: str, bundle: Bundle, runtime_image: str, docker_client: docker.DockerClient,
        capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    code = main(["local", "--as", cloud, "--bundle", str(bundle.path), "--image", runtime_image,
                 "--port", str(port)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert f"{cloud}: container" in out and "healthy" in out and f"http://127.0.0.1:{port}" in out
    assert "sample request: POST" in out and "-> 200 {" in out and " ms)" in out
    assert "stopped the container" in out
    assert _left_behind(docker_client, cloud, port) == []


def test_an_image_that_is_not_there_is_a_clear_error(
        bundle: Bundle, docker_engine: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """Needs the engine (the fixture skips locally, and fails in CI, when none can be started)."""
    code = main(["local", "--as", "azure", "--bundle", str(bundle.path), "--image", "modelstage-runtime:missing"])
    err = capsys.readouterr().err
    assert code == 2 and "'modelstage-runtime:missing' is not in the engine" in err and "modelstage build" in err
    assert "Traceback" not in err


def test_a_port_in_use_is_a_clear_error_and_leaves_no_container(
        bundle: Bundle, runtime_image: str, docker_client: docker.DockerClient) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LocalRunError) as err, start_cloud("sagemaker", bundle, runtime_image,
                                                              client=docker_client, port=port):
            pass
    assert "could not start" in str(err.value) and str(port) in str(err.value)
    assert _left_behind(docker_client, "sagemaker", port) == []


def test_pushing_to_an_invalid_repository_name_says_what_is_valid(runtime_image: str) -> None:
    with pytest.raises(PushError) as err:
        push_image(runtime_image, "127.0.0.1:5000/Not_A/Valid Name")
    assert "Not_A/Valid Name" in str(err.value) and "lowercase" in str(err.value)


class _RefusingRegistry(BaseHTTPRequestHandler):
    """Answers every registry API call 401 with a Basic challenge, as a registry that wants a login does."""

    def _refuse(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="modelstage-test"')
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _refuse

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def refusing_registry() -> Iterator[str]:
    """A stand-in for a registry with authentication (the local registry runs without it). The engine
    talks to it over HTTP exactly as it would to a real one: 127.0.0.0/8 is an insecure registry."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_registry_refusing_the_credentials_says_how_to_log_in(runtime_image: str, refusing_registry: str) -> None:
    with pytest.raises(PushError) as err:
        push_image(runtime_image, f"{refusing_registry}/modelstage", {"username": "u", "password": "wrong"})
    message = str(err.value)
    assert "refused the credentials" in message and f"docker login {refusing_registry}" in message


def test_build_pushes_with_the_credentials_read_from_stdin(
        runtime_image: str, refusing_registry: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("not-the-password\n"))
    code = main(["build", "--push", f"{refusing_registry}/modelstage", "--registry-username", "AWS",
                 "--registry-password-stdin"])
    err = capsys.readouterr().err
    assert code == 2 and "refused the credentials" in err and "not-the-password" not in err
