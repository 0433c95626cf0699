"""`modelstage local --as CLOUD`: start the serving image the way that cloud starts it.

- sagemaker: `IMAGE serve`, model.tar.gz unpacked into /opt/ml/model, port 8080 published on 127.0.0.1.
- vertex: the AIP_* variables; the bundle is uploaded to a local GCS emulator and the container
  downloads it from AIP_STORAGE_URI itself. The container shares the host's network so it can reach
  the emulator on 127.0.0.1 (this workplace allows loopback only), and binds 127.0.0.1 for that reason.
- azure: the bundle mounted at /var/azureml-app/azureml-models/<name>/<version>, AZUREML_MODEL_DIR set.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from container.local import LocalRunError, free_port, request, wait_healthy
from container.runtime import protocols
from container.runtime.model_source import _safe_extract
from container.runtime.protocols import Protocol
from container.runtime.settings import AZUREML_MOUNT_ROOT, SAGEMAKER_MODEL_DIR
from model.bundle import Bundle, load_bundle

Say = Callable[[str], None]
CLOUDS = ("sagemaker", "vertex", "azure")
GCS_BUCKET = "modelstage-local"


@dataclass
class CloudRun:
    """How one cloud starts the container, and how to talk to it (its protocol's routes and envelope)."""

    protocol: Protocol
    run_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def health_path(self) -> str:
        return self.protocol.health_path

    @property
    def predict_path(self) -> str:
        return self.protocol.predict_path

    def envelope(self, sample: dict[str, Any]) -> dict[str, Any]:
        return self.protocol.wrap(sample)


def _publish(port: int) -> dict[str, Any]:
    return {"ports": {"8080/tcp": ("127.0.0.1", port)}}


@contextlib.contextmanager
def _gcs_emulator(bundle: Bundle) -> Iterator[tuple[str, str]]:
    """A GCS emulator on 127.0.0.1 holding the bundle; yields (emulator URL, gs:// URI)."""
    try:
        from gcp_storage_emulator.server import create_server
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage
    except ImportError as exc:
        raise LocalRunError(f"--as vertex needs gcp-storage-emulator on this machine ({exc}); "
                            "install modelstage with the 'build' extra") from exc
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    host = f"http://127.0.0.1:{port}"
    try:
        client = storage.Client(project="local", credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                                client_options={"api_endpoint": host})
        bucket = client.create_bucket(GCS_BUCKET)
        prefix = f"{bundle.name}/{bundle.version}"
        for name in ["bundle.json", *bundle.manifest["files"]]:
            bucket.blob(f"{prefix}/{name}").upload_from_filename(str(bundle.path / name))
        yield host, f"gs://{GCS_BUCKET}/{prefix}"
    finally:
        server.stop()


def _sagemaker(bundle: Bundle, port: int, stack: contextlib.ExitStack) -> CloudRun:
    unpacked = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="modelstage-opt-ml-model-")))
    _safe_extract(bundle.archive, unpacked)  # what SageMaker does with ModelDataUrl
    unpacked.chmod(0o755)
    return CloudRun(protocols.SAGEMAKER, {
        "command": ["serve"], **_publish(port),
        "volumes": {str(unpacked): {"bind": SAGEMAKER_MODEL_DIR, "mode": "ro"}},
    })


def _vertex(bundle: Bundle, port: int, stack: contextlib.ExitStack) -> CloudRun:
    emulator, uri = stack.enter_context(_gcs_emulator(bundle))
    deployed = f"/v1/endpoints/local/deployedModels/{bundle.name}"  # Vertex AI's default routes
    protocol = protocols.vertex(deployed, f"{deployed}:predict")
    env = {
        "AIP_MODE": "PREDICTION", "AIP_MODE_VERSION": "1.0.0", "AIP_FRAMEWORK": "CUSTOM_CONTAINER",
        protocol.port_variable: str(port), "AIP_HEALTH_ROUTE": protocol.health_path,
        "AIP_PREDICT_ROUTE": protocol.predict_path,
        "AIP_STORAGE_URI": uri, "AIP_MODEL_NAME": "local", "AIP_ENDPOINT_ID": "local",
        "AIP_DEPLOYED_MODEL_ID": bundle.name, "AIP_VERSION_NAME": bundle.version, "AIP_PROJECT_NUMBER": "0",
        "AIP_MACHINE_TYPE": "local", "STORAGE_EMULATOR_HOST": emulator, "MODELSTAGE_HOST": "127.0.0.1",
    }
    return CloudRun(protocol, {"environment": env, "network_mode": "host"})


def _azure(bundle: Bundle, port: int, stack: contextlib.ExitStack) -> CloudRun:
    mounted = f"{AZUREML_MOUNT_ROOT}/{bundle.name}/{bundle.version}"
    return CloudRun(protocols.AZURE, {
        **_publish(port), "environment": {"AZUREML_MODEL_DIR": mounted},
        "volumes": {str(bundle.path.resolve()): {"bind": mounted, "mode": "ro"}},
    })


_CLOUDS = {"sagemaker": _sagemaker, "vertex": _vertex, "azure": _azure}


def docker_client() -> Any:
    """A high-level docker client to the project's engine; a clear error when none answers."""
    import docker

    from container.engine import engine_environment
    from container.engine_client import connect

    connect(timeout=30)  # raises the clear "no engine" error
    return docker.from_env(version="auto", timeout=120, environment=engine_environment())


def _logs_tail(container: Any, lines: int = 15) -> str:
    try:
        return container.logs(tail=lines).decode(errors="replace").strip()
    except Exception:  # the container may be gone already
        return "(no logs)"


@dataclass(frozen=True)
class RunningCloud:
    url: str
    run: CloudRun
    container: Any
    healthy_after: float  # seconds from `docker run` to the first 200 on health


@contextlib.contextmanager
def start_cloud(cloud: str, bundle: Bundle, image: str, *, client: Any, port: int | None = None,
                say: Say = lambda _: None) -> Iterator[RunningCloud]:
    """Start `image` as `cloud` would, wait for health, and stop and remove the container on exit."""
    if cloud not in _CLOUDS:
        raise LocalRunError(f"--as {cloud!r}: expected one of {', '.join(CLOUDS)}")
    port = port or free_port()
    with contextlib.ExitStack() as stack:
        run = _CLOUDS[cloud](bundle, port, stack)
        started = time.perf_counter()
        container = _run(client, cloud, image, port, run)
        stack.callback(_stop, container, say)
        url = f"http://127.0.0.1:{port}"

        def alive() -> bool:
            container.reload()
            return container.status in ("created", "running")

        try:
            wait_healthy(f"{url}{run.health_path}", 60, alive)
        except LocalRunError as exc:
            raise LocalRunError(f"{exc}; container log:\n{_logs_tail(container)}") from None
        yield RunningCloud(url, run, container, time.perf_counter() - started)


def _run(client: Any, cloud: str, image: str, port: int, run: CloudRun) -> Any:
    """`docker run` as the cloud would; engine refusals become one clear error, and a container that
    was created but could not start (a port in use) is removed rather than left behind."""
    import docker.errors

    name = f"modelstage-{cloud}-{port}"
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        try:  # a registry reference (repo@sha256:...) is pulled, as the cloud would
            client.images.pull(image)
        except docker.errors.DockerException as exc:
            reason = getattr(exc, "explanation", None) or str(exc)
            raise LocalRunError(f"image {image!r} is not in the engine and could not be pulled ({reason}): "
                                "build it with `modelstage build`, or leave out --image to build it now") from None
    try:
        return client.containers.run(image, detach=True, name=name, labels={"dev.modelstage.local": cloud},
                                     **run.run_kwargs)
    except docker.errors.DockerException as exc:
        with contextlib.suppress(docker.errors.DockerException):
            client.containers.get(name).remove(force=True)
        message = getattr(exc, "explanation", None) or str(exc)
        hint = f"; port {port} may be in use: pick another --port" if "port" in message.lower() else ""
        raise LocalRunError(f"the engine could not start {image} as {cloud}: {message}{hint}") from None


def run_as_cloud(cloud: str, bundle_dir: Path, *, port: int | None, image: str | None, keep: bool, say: Say,
                 extra_requests: Sequence[tuple[str, dict[str, Any]]] = ()) -> int:
    if cloud not in _CLOUDS:
        raise LocalRunError(f"--as {cloud!r}: expected one of {', '.join(CLOUDS)}")
    bundle = load_bundle(bundle_dir, verify_archive=True)
    client = docker_client()
    if image is None:
        from container.image_build import build_image

        say("building the serving image (unchanged inputs reuse the cached image)...")
        # A skops bundle needs scikit-learn in the image; ONNX bundles get the small image.
        result = build_image(api=client.api, runtime_extras="skops" if bundle.model_format == "skops" else "")
        image = result.tag
        say(f"image {image}{' (built)' if result.built else ' (cached)'}")
    with start_cloud(cloud, bundle, image, client=client, port=port, say=say) as live:
        say(f"{cloud}: container {live.container.short_id} healthy {live.healthy_after * 1000:.0f} ms after "
            f"docker run; predict URL {live.url}{live.run.predict_path}")
        for label, payload in [("sample request", bundle.sample_request), *extra_requests]:
            body = live.run.envelope(payload)
            r = request(f"{live.url}{live.run.predict_path}", json.dumps(body).encode())
            say(f"{label}: POST {live.url}{live.run.predict_path} {json.dumps(body)} -> {r.status} "
                f"{r.body.decode(errors='replace')} ({r.seconds * 1000:.1f} ms)")
            if r.status != 200:
                return 1
        if keep:
            say("serving until Ctrl+C")
            with contextlib.suppress(KeyboardInterrupt):
                while live.container.reload() is None and live.container.status == "running":
                    time.sleep(1)
    return 0


def _stop(container: Any, say: Say) -> None:
    started = time.perf_counter()
    with contextlib.suppress(Exception):
        container.stop(timeout=30)
    code = "?"
    with contextlib.suppress(Exception):
        code = str(container.wait(timeout=35).get("StatusCode"))
    with contextlib.suppress(Exception):
        container.remove(force=True)
    say(f"stopped the container in {time.perf_counter() - started:.1f} s (exit code {code})")


__all__ = ["CLOUDS", "run_as_cloud"]
