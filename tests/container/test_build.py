"""The serving image against a real engine and registry: content tags, caching, push by digest, size."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from container.build_errors import BaseImageError, BuildError, EngineUnavailableError, PushError
from container.engine_client import connect
from container.image_build import BuildResult, build_image
from container.image_push import push_image, push_image_detailed
from tests.container.conftest import copy_sources

pytestmark = [pytest.mark.docker, pytest.mark.slow]

MAX_IMAGE_BYTES = 300 * 10**6
DIGEST_REF = r"127\.0\.0\.1:\d+/modelstage-test-[0-9a-f]+@sha256:[0-9a-f]{64}"


def _build(tree: Path, wheelhouse: Path, *, base_image: str | None = None, revision: str | None = None,
           no_cache: bool = False) -> BuildResult:
    return build_image(source_root=tree, wheelhouse=wheelhouse, base_image=base_image, revision=revision,
                       no_cache=no_cache)


@pytest.fixture(scope="session")
def built(docker_engine: dict[str, str], source_tree: Path, wheelhouse: Path) -> BuildResult:
    t0 = time.monotonic()
    result = _build(source_tree, wheelhouse)
    print(f"\nimage {result.tag} {'built' if result.built else 'already present'} "
          f"in {time.monotonic() - t0:.1f} s")
    return result


@pytest.fixture(scope="session")
def repository(docker_engine: dict[str, str], docker_client: docker.DockerClient) -> Iterator[str]:
    repo = f"{docker_engine['MODELSTAGE_REGISTRY']}/modelstage-test-{uuid.uuid4().hex[:8]}"
    yield repo
    _untag(docker_client, repo)


def _untag(client: docker.DockerClient, repo: str) -> None:
    """Drop this session's registry tags from the engine; the images stay (they are the build cache)."""
    for image in client.images.list(name=repo):
        for tag in image.tags:
            if tag.startswith(f"{repo}:"):
                client.images.remove(tag, noprune=True)


@pytest.fixture(scope="session")
def pushed(built: BuildResult, repository: str) -> str:
    return push_image(built.tag, repository)


def test_tag_is_derived_from_content_and_labels_say_what_it_is(
        built: BuildResult, docker_client: docker.DockerClient) -> None:
    assert re.fullmatch(r"modelstage-runtime:[0-9a-f]{16}", built.tag)
    assert built.tag.endswith(built.content_hash[:16])
    attrs = docker_client.images.get(built.tag).attrs
    config = attrs["Config"]
    labels = config["Labels"]
    assert labels["dev.modelstage.bundle.format"] == "modelstage.bundle/1"
    assert labels["dev.modelstage.content-hash"] == built.content_hash
    assert labels["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    assert {"org.opencontainers.image.source", "org.opencontainers.image.revision",
            "org.opencontainers.image.version", "dev.modelstage.runtime.version"} <= set(labels)
    assert config["Entrypoint"] == ["/opt/venv/bin/python", "-m", "container.runtime"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["User"] in ("", "root", "0")  # SageMaker requires root
    assert "/ping" in " ".join(config["Healthcheck"]["Test"])
    assert {"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"} <= set(config["Env"])


def test_second_build_reuses_the_image(built: BuildResult, source_tree: Path, wheelhouse: Path) -> None:
    t0 = time.monotonic()
    again = _build(source_tree, wheelhouse)
    print(f"\nwarm build (tag exists) in {time.monotonic() - t0:.2f} s")
    assert again == BuildResult(built.image_id, built.tag, built.content_hash, built=False)


def test_image_has_no_sklearn_scipy_or_uvicorn_and_imports_the_runtime(
        built: BuildResult, docker_client: docker.DockerClient) -> None:
    run = docker_client.containers.run
    for module in ("sklearn", "scipy", "uvicorn"):  # the runtime serves HTTP itself (container/runtime/server.py)
        with pytest.raises(docker.errors.ContainerError):
            run(built.tag, ["-c", f"import {module}"], entrypoint="/opt/venv/bin/python", remove=True)
    out = run(built.tag, ["-c", "import numpy, onnxruntime, orjson, uvloop, httptools, google.cloud.storage,"
                          " model.scoring; print(onnxruntime.__version__)"],
              entrypoint="/opt/venv/bin/python", remove=True)
    assert re.match(rb"\d+\.\d+", out)


def test_skops_extras_add_scikit_learn_under_another_tag(
        built: BuildResult, source_tree: Path, wheelhouse: Path, docker_client: docker.DockerClient) -> None:
    skops = build_image(source_root=source_tree, wheelhouse=wheelhouse, runtime_extras="skops")
    assert skops.tag != built.tag
    out = docker_client.containers.run(
        skops.tag, ["-c", "import sklearn, scipy, skops; print(sklearn.__version__)"],
        entrypoint="/opt/venv/bin/python", remove=True)
    assert re.match(rb"\d+\.\d+", out)


def test_image_size_is_at_most_300_mb(built: BuildResult, docker_client: docker.DockerClient) -> None:
    size = int(docker_client.images.get(built.tag).attrs["Size"])
    print(f"\nimage size {size / 1e6:.0f} MB")
    assert size <= MAX_IMAGE_BYTES


def test_push_returns_a_digest_ref_that_pulls(
        pushed: str, repository: str, docker_client: docker.DockerClient,
        docker_engine: dict[str, str]) -> None:
    assert re.fullmatch(DIGEST_REF, pushed)
    name, digest = pushed.split("@")
    # The registry itself serves that manifest...
    req = urllib.request.Request(
        f"http://{docker_engine['MODELSTAGE_REGISTRY']}/v2/{name.split('/', 1)[1]}/manifests/{digest}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}, method="HEAD")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Docker-Content-Digest"] == digest
    # ...and the engine pulls it by digest.
    image = docker_client.images.pull(pushed)
    assert pushed in image.attrs["RepoDigests"]


def test_pushing_the_same_inputs_again_is_a_no_op(built: BuildResult, pushed: str, repository: str) -> None:
    lines: list[str] = []
    again = push_image_detailed(built.tag, repository, progress=lines.append)
    assert again.ref == pushed
    assert not again.pushed
    assert any(line.startswith("no push") for line in lines)


def test_changed_inputs_give_a_new_tag_and_digest(
        built: BuildResult, pushed: str, repository: str, wheelhouse: Path,
        tmp_path: Path) -> None:
    tree = copy_sources(tmp_path / "src")
    (tree / "model" / "EXTRA_INPUT.txt").write_text("an extra file changes the image content\n")
    extra_file = _build(tree, wheelhouse)
    shutil.rmtree(tree)
    new_arg = _build(copy_sources(tmp_path / "src2"), wheelhouse, revision="test-revision-1")
    tags = {built.tag, extra_file.tag, new_arg.tag}
    assert len(tags) == 3
    refs = {pushed, push_image(extra_file.tag, repository), push_image(new_arg.tag, repository)}
    assert len({ref.split("@")[1] for ref in refs}) == 3


def test_unknown_base_image_says_how_to_get_one(
        docker_engine: dict[str, str], source_tree: Path, wheelhouse: Path) -> None:
    with pytest.raises(BaseImageError, match=r"scripts/engine\.sh"):
        _build(source_tree, wheelhouse, base_image="modelstage/no-such-base:nope")


def test_failed_build_names_the_step_and_its_output(
        built: BuildResult, wheelhouse: Path, tmp_path: Path) -> None:
    tree = copy_sources(tmp_path / "src")
    with (tree / "container" / "Dockerfile").open("a") as f:
        f.write('RUN echo "modelstage-test: about to fail" && exit 3\n')
    with pytest.raises(BuildError) as info:
        _build(tree, wheelhouse)
    message = str(info.value)
    assert "RUN echo" in message and "modelstage-test: about to fail" in message
    assert "non-zero code: 3" in message


def test_push_to_an_unreachable_registry_is_a_clear_error(
        built: BuildResult, docker_client: docker.DockerClient) -> None:
    try:
        with pytest.raises(PushError, match="unreachable"):
            push_image(built.tag, "127.0.0.1:9/modelstage-test-nowhere")
    finally:
        _untag(docker_client, "127.0.0.1:9/modelstage-test-nowhere")


def test_no_engine_says_how_to_start_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(EngineUnavailableError, match=r"scripts/engine\.sh.*DOCKER_HOST"):
        connect()


def test_build_args_are_json_stable() -> None:
    # content_hash feeds build args through json with sorted keys: dict order must not matter.
    from container.build_context import content_hash

    a = content_hash({"x": b"1"}, {"A": "1", "B": "2"}, "sha256:base")
    b = content_hash({"x": b"1"}, json.loads('{"B": "2", "A": "1"}'), "sha256:base")
    assert a == b != content_hash({"x": b"1"}, {"A": "1", "B": "3"}, "sha256:base")
