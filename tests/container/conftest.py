"""Docker fixtures: a real engine, the local base image and registry (scripts/engine.sh).

Tests that use `docker_engine` are skipped only when no engine can be started, with the reason;
with the CI variable set they fail instead, so a broken engine never passes as "skipped".
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from container.engine import engine_dir, engine_environment, start_engine
from model.errors import ModelstageError

ROOT = Path(__file__).resolve().parents[2]
ENGINE_KEYS = ("DOCKER_HOST", "MODELSTAGE_REGISTRY", "MODELSTAGE_BASE_IMAGE")
# Used only when the real runtime has no __main__ yet: the build needs an entry module, not a server.
_PLACEHOLDER_MAIN = '"""Placeholder written by tests/container/conftest.py."""\nraise SystemExit(0)\n'


def _ready(env: dict[str, str]) -> str | None:
    """None when the engine answers, has the base image and the registry answers; else what is missing."""
    if not all(env.get(k) for k in ENGINE_KEYS):
        return "no engine environment"
    try:
        client = docker.from_env(environment=env, version="auto", timeout=10)
        client.ping()
        client.images.get(env["MODELSTAGE_BASE_IMAGE"])
        urllib.request.urlopen(f"http://{env['MODELSTAGE_REGISTRY']}/v2/", timeout=3).close()
    except (docker.errors.DockerException, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[dict[str, str]]:
    """DOCKER_HOST, MODELSTAGE_REGISTRY and MODELSTAGE_BASE_IMAGE of a working engine, also set in
    os.environ for the session. Reuses a running engine; otherwise runs scripts/engine.sh."""
    env = engine_environment()
    problem = _ready(env)
    if problem is not None:
        t0 = time.monotonic()
        try:
            env = {**os.environ, **start_engine()}
            problem = _ready(env)
        except ModelstageError as exc:
            problem = str(exc)
        print(f"\nscripts/engine.sh took {time.monotonic() - t0:.1f} s")
    if problem is not None:
        reason = f"no Docker engine could be started ({engine_dir()}): {problem}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with pytest.MonkeyPatch.context() as mp:
        for key in ENGINE_KEYS:
            mp.setenv(key, env[key])
        yield {k: env[k] for k in ENGINE_KEYS}


@pytest.fixture(scope="session")
def docker_client(docker_engine: dict[str, str]) -> docker.DockerClient:
    return docker.from_env(environment=docker_engine, version="auto", timeout=300)


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    return Path(os.environ.get("MODELSTAGE_WHEELHOUSE") or ROOT / ".modelstage" / "wheelhouse")


def copy_sources(dest: Path) -> Path:
    """A copy of what the image is built from (container/ Dockerfile, locks, runtime; model/), so a
    test can change an input without touching the repository."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    (dest / "container").mkdir(parents=True)
    for name in ("Dockerfile", "requirements.txt", "requirements-skops.txt", "__init__.py"):
        shutil.copy2(ROOT / "container" / name, dest / "container" / name)
    shutil.copytree(ROOT / "container" / "runtime", dest / "container" / "runtime", ignore=ignore)
    shutil.copytree(ROOT / "model", dest / "model", ignore=ignore)
    main = dest / "container" / "runtime" / "__main__.py"
    if not main.exists():
        main.write_text(_PLACEHOLDER_MAIN)
    return dest


@pytest.fixture(scope="session")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_sources(tmp_path_factory.mktemp("sources"))
