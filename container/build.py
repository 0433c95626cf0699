"""Build the serving image from a content-addressed context and push it by digest.

The tag is derived from everything that goes into the image (Dockerfile, runtime and model sources,
locks, build arguments, the base image's ID), so the same inputs give the same tag and are built and
pushed once. Builds go through the engine's legacy builder (the docker SDK has no BuildKit), with a
context tar written in sorted order with fixed mtimes and owners, and no network during the build.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from container.engine import engine_environment
from model.bundle import sha256_file
from model.errors import ModelstageError

Progress = Callable[[str], None]

ROOT = Path(__file__).resolve().parents[1]
IMAGE_NAME = "modelstage-runtime"
DEFAULT_BASE_IMAGE = "python:3.11-slim-bookworm"
LOCAL_BASE_IMAGE = "modelstage/base:bookworm"
RUNTIME_EXTRAS = ("", "skops")
_MTIME = 0  # every context entry gets this mtime: identical inputs, identical context bytes
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
# The platform the image runs (scripts/pip-target.sh holds the same flags for the shell scripts).
_PIP_TARGET = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
               "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
               "--platform", "manylinux2014_x86_64", "--platform", "any"]


class BuildError(ModelstageError):
    """The serving image could not be built or pushed."""


class EngineUnavailableError(BuildError):
    """No Docker engine answers."""


class BaseImageError(BuildError):
    """The base image is neither in the engine nor pullable."""


class PushError(BuildError):
    """The registry refused the image or could not be reached."""


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    tag: str
    content_hash: str
    built: bool  # False: an image with this content tag already existed, nothing was built


@dataclass(frozen=True)
class PushResult:
    ref: str  # repository@sha256:...
    pushed: bool  # False: the registry already had this tag at this digest


def _quiet(_: str) -> None:
    pass


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


# ---------------------------------------------------------------- locks and wheelhouse


@dataclass(frozen=True)
class Pin:
    name: str  # normalized (PEP 503)
    version: str
    hashes: frozenset[str]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> list[Pin]:
    """`name==version --hash=sha256:...` entries of a pip requirements file (continuations joined)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins: list[Pin] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
        if not m or not hashes:
            raise BuildError(f"{path}: every entry must be `name==version --hash=sha256:...`, got {line!r}")
        pins.append(Pin(_normalize(m[1]), m[2], hashes))
    return pins


def _match_wheels(wheelhouse: Path, pins: list[Pin]) -> tuple[list[Path], list[Pin]]:
    by_key: dict[tuple[str, str], list[Path]] = {}
    for whl in sorted(wheelhouse.glob("*.whl")):
        name, version = whl.name.split("-")[:2]
        by_key.setdefault((_normalize(name), version), []).append(whl)
    found: list[Path] = []
    missing: list[Pin] = []
    for pin in pins:
        candidates = by_key.get((pin.name, pin.version), [])
        hit = next((w for w in candidates if sha256_file(w) in pin.hashes), None)
        if hit is None:
            missing.append(pin)
        else:
            found.append(hit)
    return found, missing


def ensure_wheelhouse(wheelhouse: Path, locks: list[Path], progress: Progress = _quiet) -> list[Path]:
    """The wheel files the locks name, downloading missing ones from PyPI (as scripts/wheelhouse.sh)."""
    pins = [pin for lock in locks for pin in read_lock(lock)]
    wheelhouse.mkdir(parents=True, exist_ok=True)
    found, missing = _match_wheels(wheelhouse, pins)
    if missing:
        progress(f"wheelhouse {wheelhouse}: downloading {len(missing)} wheels")
        for lock in locks:
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--require-hashes",
                   *_PIP_TARGET, "-d", str(wheelhouse), "-r", str(lock)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
            if proc.returncode != 0:
                raise BuildError(
                    f"could not fill the wheelhouse {wheelhouse} from {lock.name}: "
                    f"{proc.stderr.strip()[-800:]}\nRun scripts/wheelhouse.sh where PyPI is reachable."
                )
        found, missing = _match_wheels(wheelhouse, pins)
        if missing:
            names = ", ".join(f"{p.name}=={p.version}" for p in missing)
            raise BuildError(f"wheelhouse {wheelhouse} lacks wheels matching the lock hashes: {names}")
    return found


# ---------------------------------------------------------------- context


def _tree(root: Path, base: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(base)
        if path.is_file() and not _SKIP_PARTS & set(rel.parts) and path.suffix != ".pyc":
            yield rel.as_posix(), path


def context_sources(source_root: Path) -> dict[str, bytes]:
    """Context path -> bytes of every input except wheels: Dockerfile, locks, runtime and model sources."""
    container = source_root / "container"
    runtime = container / "runtime"
    if not runtime.is_dir():
        raise BuildError(f"{runtime} is missing: the serving runtime's sources are needed to build")
    files: dict[str, bytes] = {}
    for name in ("Dockerfile", "requirements.txt", "requirements-skops.txt", "__init__.py"):
        files[f"container/{name}"] = (container / name).read_bytes()
    for rel, path in (*_tree(runtime, source_root), *_tree(source_root / "model", source_root)):
        files[rel] = path.read_bytes()
    return dict(sorted(files.items()))


def content_hash(sources: Mapping[str, bytes], build_args: Mapping[str, str], base_image_id: str) -> str:
    """sha256 over sorted (path, bytes), the build arguments and the base image ID. Wheels are not
    hashed: the locks pin each one's sha256 and the build installs with --require-hashes."""
    h = hashlib.sha256()
    for path in sorted(sources):
        data = sources[path]
        h.update(f"file {path} {len(data)}\n".encode())
        h.update(data)
    h.update(json.dumps(dict(sorted(build_args.items())), separators=(",", ":")).encode())
    h.update(f"\nbase {base_image_id}\n".encode())
    return h.hexdigest()


def _tarinfo(name: str, size: int = 0, *, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = _MTIME, 0, 0, "", ""
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.size = size
    return info


def write_context(out: Path, sources: Mapping[str, bytes], wheels: Iterable[Path]) -> None:
    """A build-context tar: sorted entries, explicit parent directories, fixed mtime/owner/mode."""
    entries: dict[str, bytes | Path] = dict(sources)
    entries.update({f".modelstage/wheelhouse/{w.name}": w for w in wheels})
    dirs = {str(Path(p).parents[i]) for p in entries for i in range(len(Path(p).parents) - 1)}
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        for d in sorted(dirs):
            tar.addfile(_tarinfo(d, directory=True))
        for name in sorted(entries):
            item = entries[name]
            if isinstance(item, bytes):
                tar.addfile(_tarinfo(name, len(item)), _BytesReader(item))
            else:
                with item.open("rb") as f:
                    tar.addfile(_tarinfo(name, item.stat().st_size), f)


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._pos + n
        chunk, self._pos = self._data[self._pos:end], min(end, len(self._data))
        return chunk


# ---------------------------------------------------------------- build


def _version() -> str:
    try:
        return importlib.metadata.version("modelstage")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _git(source_root: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(source_root), *args], capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def source_revision(source_root: Path) -> str:
    """The last commit that changed what goes into the image (so it changes only when the image
    does), with "-dirty" when those files have uncommitted changes; "" outside a git checkout."""
    paths = ["container/Dockerfile", "container/requirements.txt", "container/requirements-skops.txt",
             "container/__init__.py", "container/runtime", "model"]
    commit = _git(source_root, "log", "-1", "--format=%H", "--", *paths)
    if commit and _git(source_root, "status", "--porcelain", "--", *paths):
        commit += "-dirty"
    return commit


def source_url(source_root: Path) -> str:
    """The checkout's origin, without any credentials embedded in it; "" when there is none."""
    url = _git(source_root, "config", "--get", "remote.origin.url")
    return re.sub(r"^(\w+://)[^/@]+@", r"\1", url)


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
                no_cache: bool = False, progress: Progress = _quiet,
                api: docker.APIClient | None = None) -> BuildResult:
    """Build `modelstage-runtime:<content hash>` unless an image with that tag already exists.

    base_image: default $MODELSTAGE_BASE_IMAGE, else python:3.11-slim-bookworm. runtime_extras "skops"
    adds the skops lock. revision/source become OCI labels (default $MODELSTAGE_REVISION /
    $MODELSTAGE_SOURCE_URL, else from the git checkout: see source_revision and source_url).
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
    version = _version()
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


# ---------------------------------------------------------------- push


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
                        progress: Progress = _quiet, api: docker.APIClient | None = None) -> PushResult:
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
               progress: Progress = _quiet, api: docker.APIClient | None = None) -> str:
    """Push and return `repository@sha256:...`; prints "no push" when the registry already has it."""
    return push_image_detailed(image, repository, auth_config, progress=progress, api=api).ref


def build_and_maybe_push(push: str | None, base_image: str | None, progress: Progress = _quiet, *,
                         runtime_extras: str = "", auth_config: Mapping[str, str] | None = None,
                         ) -> tuple[BuildResult, str | None]:
    """What `modelstage build [--push REPO]` does: build (or reuse) the image, then push it by digest.
    auth_config (username, password) overrides the engine's stored `docker login` credentials."""
    api = connect()
    result = build_image(base_image=base_image, runtime_extras=runtime_extras, progress=progress, api=api)
    ref = push_image(result.tag, push, auth_config, progress=progress, api=api) if push else None
    return result, ref


if __name__ == "__main__":  # python -m container.build [REPO]: the same as the CLI, for scripts
    res, pushed = build_and_maybe_push(sys.argv[1] if len(sys.argv) > 1 else None,
                                       os.environ.get("MODELSTAGE_BASE_IMAGE"), print)
    print(res.tag, res.image_id, "built" if res.built else "cached", pushed or "")
