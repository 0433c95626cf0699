"""Push a built image to a registry by digest (docker SDK), skipping the push when it is already there.

Refusals become one-line errors that say what to do (log in, create the repository, start a registry).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import docker
import docker.errors

from container.build_errors import BuildError, Progress, PushError, quiet
from container.engine_client import connect


@dataclass(frozen=True)
class PushResult:
    ref: str  # repository@sha256:...
    pushed: bool  # False: the registry already had this tag at this digest


def _split_repository(repository: str) -> tuple[str, str | None]:
    if "@" in repository:
        raise PushError(f"{repository!r}: push to a repository (optionally :tag), not to a digest")
    head, _, last = repository.rpartition("/")
    if ":" in last:
        name, tag = last.split(":", 1)
        return f"{head}/{name}" if head else name, tag
    return repository, None


def _push_hint(message: str, repository: str) -> str:
    low = message.lower()
    host = repository.split("/", 1)[0]
    if any(s in low for s in ("denied", "unauthorized", "authentication required", "no basic auth")):
        return (f"the registry refused the credentials: `docker login {host}` (ECR: "
                "`aws ecr get-login-password | docker login --username AWS --password-stdin HOST`) "
                "or pass auth_config")
    if "name unknown" in low or "name_unknown" in low or ("repository" in low and "not found" in low):
        return "the repository does not exist: create it first (ECR and Artifact Registry do not auto-create)"
    if "connection refused" in low or "no such host" in low or "i/o timeout" in low:
        return f"the registry {host} is unreachable (scripts/engine.sh starts one on 127.0.0.1:5000)"
    if "invalid reference" in low:
        return "the repository name is not a valid image reference (lowercase, host[:port]/path)"
    return "see the message above"


def _remote_digest(api: docker.APIClient, ref: str, auth_config: Mapping[str, str] | None) -> str | None:
    try:
        info = api.inspect_distribution(ref, auth_config=dict(auth_config) if auth_config else None)
    except docker.errors.APIError:
        return None  # no such tag (or not visible to us): push decides
    return str(info.get("Descriptor", {}).get("digest") or "") or None


def push_image_detailed(image: str, repository: str, auth_config: Mapping[str, str] | None = None, *,
                        progress: Progress = quiet, api: docker.APIClient | None = None) -> PushResult:
    """Tag `image` into `repository` (its own tag unless repository has one) and push, unless the
    registry already has that tag at the digest this engine last pushed or pulled for it."""
    api = api or connect()
    repo, tag = _split_repository(repository)
    try:
        local = api.inspect_image(image)
    except docker.errors.ImageNotFound as exc:
        raise BuildError(f"image {image!r} is not in the engine: build it first") from exc
    tag = tag or (image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else "latest")
    try:
        api.tag(image, repo, tag)
    except docker.errors.APIError as exc:
        raise PushError(f"cannot tag {image} as {repo}:{tag}: {exc.explanation or exc}. "
                        f"{_push_hint(str(exc), repo)}") from exc

    remote = _remote_digest(api, f"{repo}:{tag}", auth_config)
    if remote and f"{repo}@{remote}" in (local.get("RepoDigests") or []):
        progress(f"no push: {repo}:{tag} is already at {remote}")
        return PushResult(f"{repo}@{remote}", pushed=False)

    digest = None
    try:
        for chunk in api.push(repo, tag=tag, stream=True, decode=True,
                              auth_config=dict(auth_config) if auth_config else None):
            if "error" in chunk or "errorDetail" in chunk:
                msg = (chunk.get("errorDetail") or {}).get("message") or chunk.get("error")
                raise PushError(f"push of {repo}:{tag} refused: {msg}. {_push_hint(str(msg), repo)}")
            if chunk.get("status"):
                progress(" ".join(str(chunk[k]) for k in ("id", "status", "progress") if chunk.get(k)))
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
    except docker.errors.APIError as exc:
        raise PushError(f"push of {repo}:{tag} failed: {exc.explanation or exc}. "
                        f"{_push_hint(str(exc), repo)}") from exc
    if digest is None:
        raise PushError(f"push of {repo}:{tag} reported no digest")
    progress(f"pushed {repo}:{tag} as {repo}@{digest}")
    return PushResult(f"{repo}@{digest}", pushed=True)


def push_image(image: str, repository: str, auth_config: Mapping[str, str] | None = None, *,
               progress: Progress = quiet, api: docker.APIClient | None = None) -> str:
    """Push and return `repository@sha256:...`; prints "no push" when the registry already has it."""
    return push_image_detailed(image, repository, auth_config, progress=progress, api=api).ref
