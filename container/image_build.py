"""Build the serving image from a content-addressed context (docker SDK, the engine's legacy builder).

The tag is the content hash of everything that goes into the image, so the same inputs are built once.
The docker SDK has no BuildKit; the context tar is deterministic and the build has no network.
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from container.build_context import (
    DEFAULT_BASE_IMAGE,
    ROOT,
    RUNTIME_EXTRAS,
    content_hash,
    context_sources,
    write_context,
)
from container.build_errors import BaseImageError, BuildError, Progress, quiet
from container.engine import engine_environment
from container.engine_client import connect
from container.source_labels import package_version, source_revision, source_url
from container.wheelhouse import ensure_wheelhouse

IMAGE_NAME = "modelstage-runtime"
LOCAL_BASE_IMAGE = "modelstage/base:bookworm"


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    tag: str
    content_hash: str
    built: bool  # False: an image with this content tag already existed, nothing was built


def _base_image_id(api: docker.APIClient, base_image: str, progress: Progress) -> str:
    hint = (f"On a machine without Docker Hub, run scripts/engine.sh (it builds {LOCAL_BASE_IMAGE} with "
            f"debootstrap) and build with --base-image {LOCAL_BASE_IMAGE} or MODELSTAGE_BASE_IMAGE="
            f"{LOCAL_BASE_IMAGE}; elsewhere `docker pull {base_image}` first.")
    try:
        return str(api.inspect_image(base_image)["Id"])
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise BaseImageError(f"base image {base_image!r} is not a usable image reference: "
                             f"{exc.explanation or exc}") from exc
    progress(f"base image {base_image} not in the engine: pulling")
    try:
        for chunk in api.pull(base_image, stream=True, decode=True):
            if "error" in chunk:
                raise BaseImageError(f"base image {base_image!r} could not be pulled: {chunk['error']}. "
                                     + hint)
        return str(api.inspect_image(base_image)["Id"])
    except (docker.errors.APIError, docker.errors.NotFound) as exc:
        raise BaseImageError(f"base image {base_image!r} is not in the engine and could not be pulled "
                             f"({exc.explanation or exc}). {hint}") from exc


def _stream_build(stream: Iterable[dict[str, Any]], progress: Progress) -> str | None:
    """Forward build output; raise BuildError naming the failing step with the output tail."""
    step, image_id = "", None
    tail: deque[str] = deque(maxlen=20)
    for chunk in stream:
        if "error" in chunk or "errorDetail" in chunk:
            msg = (chunk.get("errorDetail") or {}).get("message") or chunk.get("error") or "unknown error"
            out = "\n".join(f"  {line}" for line in tail)
            raise BuildError(f"image build failed at {step or 'the first step'}: {msg}\nlast output:\n{out}")
        for line in str(chunk.get("stream", "")).splitlines():
            if line.strip():
                progress(line)
                tail.append(line)
                if line.startswith("Step "):
                    step = line
        if "status" in chunk:
            progress(" ".join(str(chunk[k]) for k in ("id", "status", "progress") if chunk.get(k)))
        aux = chunk.get("aux")
        if isinstance(aux, dict) and "ID" in aux:
            image_id = str(aux["ID"])
    return image_id


def build_image(*, base_image: str | None = None, runtime_extras: str = "", revision: str | None = None,
                source: str | None = None, source_root: Path = ROOT, wheelhouse: Path | None = None,
                no_cache: bool = False, progress: Progress = quiet,
                api: docker.APIClient | None = None) -> BuildResult:
    """Build `modelstage-runtime:<content hash>` unless an image with that tag already exists.

    base_image: default $MODELSTAGE_BASE_IMAGE, else python:3.11-slim-bookworm. runtime_extras "skops"
    adds the skops lock. revision/source become OCI labels (default $MODELSTAGE_REVISION /
    $MODELSTAGE_SOURCE_URL, else from the git checkout: see container.source_labels).
    no_cache rebuilds every layer (an existing tag is still reused: remove it to force a rebuild).
    """
    if runtime_extras not in RUNTIME_EXTRAS:
        raise BuildError(f"runtime_extras={runtime_extras!r}: expected one of {RUNTIME_EXTRAS}")
    api = api or connect()
    env = engine_environment()
    base_image = base_image or env.get("MODELSTAGE_BASE_IMAGE") or DEFAULT_BASE_IMAGE
    wheelhouse = wheelhouse or Path(env.get("MODELSTAGE_WHEELHOUSE")
                                    or source_root / ".modelstage" / "wheelhouse")

    sources = context_sources(source_root)
    version = package_version()
    build_args = {
        "BASE_IMAGE": base_image,
        "RUNTIME_EXTRAS": runtime_extras,
        "VERSION": version,
        "RUNTIME_VERSION": version,
        "REVISION": revision if revision is not None else (env.get("MODELSTAGE_REVISION")
                                                            or source_revision(source_root)),
        "SOURCE": source if source is not None else (env.get("MODELSTAGE_SOURCE_URL") or source_url(source_root)),
    }
    base_id = _base_image_id(api, base_image, progress)
    digest = content_hash(sources, build_args, base_id)
    tag = f"{IMAGE_NAME}:{digest[:16]}"
    try:
        existing = api.inspect_image(tag)
        progress(f"{tag} exists ({existing['Id'][:19]}): not rebuilding")
        return BuildResult(str(existing["Id"]), tag, digest, built=False)
    except docker.errors.ImageNotFound:
        pass

    locks = [source_root / "container" / "requirements.txt"]
    if runtime_extras == "skops":
        locks.append(source_root / "container" / "requirements-skops.txt")
    wheels = ensure_wheelhouse(wheelhouse, locks, progress)
    progress(f"building {tag} from {base_image} ({len(sources)} source files, {len(wheels)} wheels)")
    with tempfile.TemporaryDirectory(prefix="modelstage-build-") as tmp:
        ctx = Path(tmp) / "context.tar"
        write_context(ctx, sources, wheels)
        with ctx.open("rb") as f:
            try:
                stream = api.build(fileobj=f, custom_context=True, dockerfile="container/Dockerfile", tag=tag,
                                   buildargs={**build_args, "CONTENT_HASH": digest}, rm=True, forcerm=True,
                                   pull=False, nocache=no_cache, decode=True,
                                   network_mode="none")  # offline by construction, not only by pip flags
                image_id = _stream_build(stream, progress)
            except docker.errors.APIError as exc:
                raise BuildError(f"the engine refused the build: {exc.explanation or exc}") from exc
    image_id = image_id or str(api.inspect_image(tag)["Id"])
    return BuildResult(image_id, tag, digest, built=True)
