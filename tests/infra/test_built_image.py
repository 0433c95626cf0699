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
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider

import container.build
import container.image_build
import container.image_push
from container.image_build import BuildResult
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


# ---------------------------------------------------------------- what preview and up call on the provider

BUILD_FUNCTIONS = ((container.image_build, "build_image"), (container.image_push, "push_image"),
                   (container.image_push, "push_image_detailed"), (container.build, "build_and_maybe_push"))
PROPS = {k: v for k, v in OLD.items() if k != "image_ref"}
DIGEST = "sha256:" + "1" * 64


@pytest.fixture
def refuse_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every function that builds or pushes raises: a preview path that calls one fails the test."""

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the provider built or pushed outside create/update")

    for module, name in BUILD_FUNCTIONS:
        monkeypatch.setattr(module, name, refuse)


def _providers() -> list[ResourceProvider]:
    """The provider as the program makes it, and as the engine runs it (restored from the state)."""
    restored = dill.loads(__import__("base64").b64decode(serialize_provider(ImageBuildProvider())))
    return [ImageBuildProvider(), restored]


@pytest.mark.usefixtures("refuse_builds")
def test_the_refusal_is_armed() -> None:
    # Without this the tests below could pass with a monkeypatch the provider never sees.
    for provider in _providers():
        with pytest.raises(AssertionError, match="outside create/update"):
            provider.create(PROPS)


@pytest.mark.usefixtures("refuse_builds")
def test_preview_checks_and_diffs_without_building_or_pushing() -> None:
    news = {**PROPS, "password": "token-2"}
    for provider in _providers():
        for olds in ({}, OLD):  # a new resource, then an existing one
            checked = provider.check(olds, news)  # ImageBuildProvider inherits ResourceProvider.check
            assert checked.inputs == news and not checked.failures
        assert provider.diff("id", OLD, news).changes is False
        assert provider.diff("id", OLD, {**news, "source_hash": "b" * 64}).changes is True
        assert provider.read("id", OLD).outs == OLD  # refresh reads the state, builds nothing


Calls = list[tuple[str, tuple[object, ...], dict[str, object]]]


@pytest.fixture
def fake_builds(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """build_image and push_image record their arguments and answer as a build and a push would."""
    calls: Calls = []

    def build_image(*args: object, **kwargs: object) -> BuildResult:
        calls.append(("build", args, kwargs))
        return BuildResult("sha256:" + "9" * 64, "modelstage-runtime:0123456789abcdef", "c" * 64, built=True)

    def push_image(*args: object, **kwargs: object) -> str:
        calls.append(("push", args, kwargs))
        return f"{args[1]}@{DIGEST}"

    monkeypatch.setattr(container.image_build, "build_image", build_image)
    monkeypatch.setattr(container.image_push, "push_image", push_image)
    return calls


def _assert_built_and_pushed(calls: Calls, props: dict[str, Any], outs: dict[str, Any]) -> None:
    auth = {"username": props["username"], "password": props["password"], "serveraddress": props["registry"]}
    assert calls == [
        ("build", (), {"base_image": props["base_image"], "runtime_extras": props["runtime_extras"]}),
        ("push", ("modelstage-runtime:0123456789abcdef", props["repository"]), {"auth_config": auth}),
    ]
    assert outs["image_ref"] == f"{props['repository']}@{DIGEST}" and outs["digest"] == DIGEST
    assert (outs["tag"], outs["content_hash"]) == ("modelstage-runtime:0123456789abcdef", "c" * 64)
    assert "password" not in outs and "username" not in outs


def test_create_builds_and_pushes_the_given_inputs(fake_builds: Calls) -> None:
    props = {**PROPS, "runtime_extras": "skops", "base_image": "modelstage/base:bookworm"}
    created = ImageBuildProvider().create(props)
    assert created.outs is not None and created.id == created.outs["image_ref"]
    _assert_built_and_pushed(fake_builds, props, created.outs)


def test_update_builds_and_pushes_the_new_inputs(fake_builds: Calls) -> None:
    news = {**PROPS, "repository": "127.0.0.1:5000/y", "password": "token-2"}
    updated = ImageBuildProvider().update("id", OLD, news)
    assert updated.outs is not None
    _assert_built_and_pushed(fake_builds, news, updated.outs)


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
    from container.build_errors import EngineUnavailableError
    from container.engine_client import connect

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


@pytest.mark.docker
@pytest.mark.slow
def test_an_artifact_registry_shaped_repository_is_pushed_by_digest(registry_repository: tuple[Any, str]) -> None:
    """GCP's repositories are REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE: three path levels, pushed
    with `oauth2accesstoken` and the provider's token (infra/gcp/serving_image.py); the local registry
    stands in for Artifact Registry."""
    api, flat = registry_repository
    host, name = flat.split("/", 1)
    repository = f"{host}/my-ml-dev/{name}/modelstage-runtime"
    base_image = resolve_base_image()
    props = {"source_hash": source_hash(base_image, ""), "repository": repository, "base_image": base_image,
             "runtime_extras": "", "registry": _registry(), "username": "oauth2accesstoken", "password": "token"}
    outs = ImageBuildProvider().create(props).outs or {}
    try:
        assert outs["image_ref"].startswith(f"{repository}@sha256:")
        assert _manifest_status(repository, outs["digest"]) == 200
    finally:
        if outs:
            _manifest_status(repository, outs["digest"], method="DELETE")
        for image in api.images(name=repository):
            for tag in image.get("RepoTags") or []:
                if tag.startswith(repository + ":"):
                    api.remove_image(tag)
