"""A checked connection to the Docker engine (docker SDK): the one place a build or push gets its client."""

from __future__ import annotations

import docker
import docker.errors

from container.build_errors import EngineUnavailableError
from container.engine import engine_environment


def connect(timeout: int = 900) -> docker.APIClient:
    """A low-level client to the engine of `container.engine.engine_environment()`, checked with a ping.

    The timeout is per socket read: long silent build steps must not cut the stream."""
    env = engine_environment()
    where = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        api = docker.from_env(version="auto", timeout=timeout, environment=env).api
        api.ping()
    except (docker.errors.DockerException, OSError) as exc:
        raise EngineUnavailableError(
            f"no Docker engine answers at {where} ({exc}). Start one with scripts/engine.sh "
            "(then `source /var/tmp/modelstage-engine/env`), or set DOCKER_HOST to a running engine."
        ) from exc
    return api
