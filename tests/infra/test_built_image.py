"""The image build step as a dynamic resource: what causes a rebuild, what survives serialization,
and create/diff/update against a real Docker engine and registry (scripts/engine.sh)."""

from __future__ import annotations

import os
import re
import shutil
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from infra.built_image import CONTENT_KEYS, ImageBuildProvider, resolve_base_image, source_hash
from tests.infra.conftest import ROOT

OLD = {"source_hash": "a" * 64, "repository": "127.0.0.1:5000/x", "base_image": "python:3.11-slim-bookworm",
       "runtime_extras": "", "registry": "https://r", "username": "AWS", "password": "token-1",
       "image_ref": "127.0.0.1:5000/x@sha256:" + "0" * 64}


def test_fresh_credentials_alone_cause_no_diff() -> None:
    news = {**OLD, "password": "token-2", "registry": "https://other", "image_ref": None}
    diff = ImageBuildProvider().diff("id", OLD, news)
    assert diff.changes is False


@pytest.mark.parametrize("key", CONTENT_KEYS)
def test_any_content_input_causes_an_in_place_update(key: str) -> None:
    diff = ImageBuildProvider().diff("id", OLD, {**OLD, key: "changed"})
    assert diff.changes is True and diff.replaces == []


def test_the_provider_serializes_without_clients_or_credentials() -> None:
    blob = serialize_provider(ImageBuildProvider())
    assert "token" not in blob and len(blob) < 20_000
    restored = dill.loads(__import__("base64").b64decode(blob))
    assert restored.diff("id", OLD, OLD).changes is False


def _copy_sources(dest: Path) -> Path:
    shutil.copytree(ROOT / "container", dest / "container", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "model", dest / "model", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_the_source_hash_follows_the_build_context_and_arguments(tmp_path: Path) -> None:
    root = _copy_sources(tmp_path)
    base = source_hash("python:3.11-slim-bookworm", "", root)
    assert re.fullmatch(r"[0-9a-f]{64}", base) and base == source_hash("python:3.11-slim-bookworm", "", root)
    assert source_hash("python:3.11-slim-bookworm", "skops", root) != base
    assert source_hash("modelstage/base:bookworm", "", root) != base
    (root / "README.md").write_text("not part of the image\n")
    assert source_hash("python:3.11-slim-bookworm", "", root) == base
    (root / "container" / "runtime" / "app.py").write_text("# changed\n", encoding="utf-8")
    assert source_hash("python:3.11-slim-bookworm", "", root) != base


# ---------------------------------------------------------------- against the real engine and registry


def _registry() -> str:
    from container.engine import engine_environment

    return engine_environment().get("MODELSTAGE_REGISTRY", "127.0.0.1:5000")


def _engine_or_skip() -> Any:
    from container.build import EngineUnavailableError, connect

    reason = None
    try:
        api = connect(timeout=900)
    except EngineUnavailableError as exc:
        api, reason = None, f"no Docker engine: {exc}"
    if api is not None:
        try:
            urllib.request.urlopen(f"http://{_registry()}/v2/", timeout=2).close()
        except (urllib.error.URLError, OSError) as exc:
            reason = f"no registry at {_registry()} ({exc}); scripts/engine.sh starts one"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs the engine and registry: {reason}")
        pytest.skip(reason)
    return api


@pytest.fixture
def registry_repository() -> Iterator[tuple[Any, str]]:
    api = _engine_or_skip()
    repository = f"{_registry()}/modelstage-infra-test-{uuid.uuid4().hex[:8]}"
    yield api, repository
    for image in api.images(name=repository):  # only the tags this test created
        for tag in image.get("RepoTags") or []:
            if tag.startswith(repository + ":"):
                api.remove_image(tag)


def _manifest_status(repository: str, digest: str, method: str = "HEAD") -> int:
    host, path = repository.split("/", 1)
    request = urllib.request.Request(f"http://{host}/v2/{path}/manifests/{digest}", method=method, headers={
        "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.mark.docker
@pytest.mark.slow
def test_create_pushes_by_digest_an_unchanged_update_pushes_nothing_and_a_change_pushes_anew(
        registry_repository: tuple[Any, str]) -> None:
    _, repository = registry_repository
    base_image = resolve_base_image()
    props = {"source_hash": source_hash(base_image, ""), "repository": repository, "base_image": base_image,
             "runtime_extras": "", "registry": _registry(), "username": "unused", "password": "unused-token"}
    provider = ImageBuildProvider()
    created = provider.create(props)
    outs = created.outs or {}
    ref = outs["image_ref"]
    assert re.fullmatch(rf"{re.escape(repository)}@sha256:[0-9a-f]{{64}}", ref) and created.id == ref
    assert "password" not in outs and "username" not in outs
    assert outs["digest"] == ref.rsplit("@", 1)[1]
    assert _manifest_status(repository, outs["digest"]) == 200

    olds = {**props, **outs}
    assert provider.diff(ref, olds, {**props, "password": "a-fresh-token"}).changes is False
    updated = provider.update(ref, olds, {**props, "password": "a-fresh-token"})
    assert updated.outs is not None and updated.outs["image_ref"] == ref  # same content, same digest

    assert updated.outs["tag"].startswith("modelstage-runtime:")

    # A changed input (here: the skops extras) is a new image, pushed under a new digest.
    changed = {**props, "runtime_extras": "skops", "source_hash": source_hash(base_image, "skops")}
    assert provider.diff(ref, {**olds, **updated.outs}, changed).changes is True
    rebuilt = provider.update(ref, {**olds, **updated.outs}, changed)
    assert rebuilt.outs is not None and rebuilt.outs["image_ref"] != ref
    assert rebuilt.outs["image_ref"].startswith(repository + "@sha256:")
    assert _manifest_status(repository, rebuilt.outs["digest"]) == 200

    for digest in (outs["digest"], rebuilt.outs["digest"]):  # leave the registry clean
        assert _manifest_status(repository, digest, method="DELETE") == 202
