"""Finding the bundle the way each cloud hands it over, and refusing one that is not the deployed one.

Order: MODEL_DIR (explicit) -> AIP_STORAGE_URI (Vertex AI: a gs:// folder we download ourselves, or
a local folder that Vertex's local-endpoint tooling mounts) -> AZUREML_MODEL_DIR (Azure ML's mount)
-> /opt/ml/model (SageMaker's unpacked model.tar.gz) -> the Azure ML default mount root. A folder
holding only model.tar.gz is unpacked first.

Everything the runtime writes (downloads, unpacked archives) goes into private folders (0700,
tempfile.mkdtemp) that are removed at exit: `cleanup_unpacked()` runs from atexit, and the server
may call it on its own shutdown path. `resolve_model_dir` verifies the bundle it returns: pinned
digests, the signature when a public key is set, and every check of `load_bundle`.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from container.runtime.settings import AZUREML_MOUNT_ROOT, SAGEMAKER_MODEL_DIR, Settings
from model.archive import ArchiveLimits, Budget, relative_parts, unpack_archive
from model.bundle import ARCHIVE, MANIFEST, Bundle, load_bundle, sha256_file
from model.errors import ArchiveLimitError, BundleError
from model.pins import Pins, check_pins
from model.signing import load_public_key, verify_manifest_signature

log = logging.getLogger("modelstage.runtime")
_MAX_SEARCH_DEPTH = 3  # <mount>/<name>/<version>/bundle.json on Azure ML
_LIMIT_VARS = {"bytes": "MODELSTAGE_MAX_BUNDLE_BYTES", "files": "MODELSTAGE_MAX_BUNDLE_FILES"}

_private: list[tuple[int, Path]] = []  # (creating pid, folder): a forked child never removes its parent's


def _private_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))  # mode 0700, a fresh name: nobody else can plant files in it
    _private.append((os.getpid(), path))
    return path


def cleanup_unpacked() -> None:
    """Remove every folder this process downloaded or unpacked a bundle into. Idempotent; safe to call
    from a shutdown path and again from atexit."""
    pid = os.getpid()
    for owner, path in list(_private):
        if owner == pid:
            shutil.rmtree(path, ignore_errors=True)
            _private.remove((owner, path))


atexit.register(cleanup_unpacked)


def _discard(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if (os.getpid(), path) in _private:
        _private.remove((os.getpid(), path))


def limits(settings: Settings) -> ArchiveLimits:
    return ArchiveLimits(max_bytes=settings.max_bundle_bytes, max_files=settings.max_bundle_files)


def _with_setting(exc: ArchiveLimitError) -> BundleError:
    return BundleError(f"{exc} (set {_LIMIT_VARS[exc.limit]} to allow more)")


@dataclass(frozen=True)
class Received:
    path: Path  # the folder holding bundle.json
    archive_sha256: str | None = None  # of the archive it was unpacked from (the outermost one)


def _is_regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _unpack(archive: Path, settings: Settings, depth: int) -> tuple[Path, str]:
    """Unpack one archive into a private folder; `depth` archives were unpacked before it."""
    if archive.is_symlink():
        raise BundleError(f"{archive}: is a symlink; expected the archive itself")
    if depth >= settings.max_archive_depth:
        what = "archives are not accepted" if depth == 0 else f"a nested archive, {depth + 1} levels deep"
        raise BundleError(f"{archive}: {what}; MODELSTAGE_MAX_ARCHIVE_DEPTH={settings.max_archive_depth} allows "
                          f"{settings.max_archive_depth} level(s), and a bundle's model.tar.gz holds the files itself")
    dest = _private_dir("modelstage-model-")
    try:
        return dest, unpack_archive(archive, dest, limits(settings))
    except ArchiveLimitError as exc:
        _discard(dest)
        raise _with_setting(exc) from None
    except BundleError:
        _discard(dest)
        raise


def _safe_extract(archive: Path, dest: Path) -> None:
    """Unpack as SageMaker does, for `modelstage local --as sagemaker`: within the default limits, and
    left readable (0755/0644) for a container user other than ours."""
    unpack_archive(archive, dest, ArchiveLimits())
    for root, folders, files in os.walk(dest):
        for name in folders:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def _search(folder: Path) -> list[Path]:
    """Folders up to 3 levels below `folder` holding bundle.json or model.tar.gz. Folder links are
    followed: this walks the platform's mount (which may link versions), never a bundle's insides;
    the folder found is then loaded with no symlinks allowed in it."""
    level = [folder]
    for _ in range(_MAX_SEARCH_DEPTH):
        below: list[Path] = []
        for parent in level:
            with os.scandir(parent) as it:
                below.extend(Path(e.path) for e in it if e.is_dir())
        found = sorted(p for p in below if os.path.lexists(p / MANIFEST) or os.path.lexists(p / ARCHIVE))
        if found:
            return found
        level = below[:10_000]  # a mount root with more folders than this is not a model mount
    return []


def _find(folder: Path, settings: Settings, depth: int = 0) -> Received | None:
    """The bundle at or below `folder`, unpacking a lone model.tar.gz (each archive counts a level)."""
    if os.path.lexists(folder / MANIFEST):
        return Received(folder)  # load_bundle refuses a symlinked or unreadable bundle.json
    if os.path.lexists(folder / ARCHIVE):
        dest, digest = _unpack(folder / ARCHIVE, settings, depth)
        inner = _find(dest, settings, depth + 1)
        if inner is None:
            raise BundleError(f"{folder / ARCHIVE}: holds no bundle.json; expected a model bundle archive "
                              "(`modelstage package` writes one)")
        return replace(inner, archive_sha256=digest)  # the outermost archive is what the deployment pinned
    found = _search(folder)
    if len(found) > 1:
        raise BundleError(f"{folder}: holds several bundles ({', '.join(map(str, found[:3]))}); set MODEL_DIR")
    return _find(found[0], settings, depth) if found else None


class _LimitedFile:
    """A new file that counts what a download writes into it and stops at the budget."""

    def __init__(self, target: Path, budget: Budget) -> None:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        self._f: IO[bytes] = os.fdopen(fd, "wb")
        self._budget, self._written = budget, 0

    def write(self, data: bytes) -> int:
        self._budget.add_bytes(len(data))
        self._written += len(data)
        return self._f.write(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        # The client rewinds to 0 when GCS serves a gzip-encoded object decompressed; nothing else.
        if (offset, whence) != (0, 0):
            raise OSError("only a rewind to the start is supported")
        self._budget.bytes -= self._written
        self._written = 0
        self._f.seek(0)
        self._f.truncate()
        return 0

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def _parse_gs(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://"):
        raise BundleError(f"AIP_STORAGE_URI={uri!r}: expected gs://BUCKET/PREFIX, file:///PATH or an absolute path")
    bucket_name, _, prefix = uri[len("gs://"):].partition("/")
    if not bucket_name:
        raise BundleError(f"AIP_STORAGE_URI={uri!r}: no bucket name; expected gs://BUCKET/PREFIX")
    return bucket_name, prefix.strip("/")


def _planned(uri: str, prefix: str, blobs: Any, dest: Path, lim: ArchiveLimits) -> list[tuple[Any, Path]]:
    """Which object goes where; refuses unsafe names and too many objects or bytes before any download."""
    declared = Budget(uri, lim)
    plan: list[tuple[Any, Path]] = []
    for blob in blobs:
        name = blob.name[len(prefix) + 1:] if prefix else blob.name
        if not name or (name.endswith("/") and not blob.size):
            continue  # a folder placeholder
        parts = relative_parts(name, f"{uri}: object {blob.name!r}")
        target = dest.joinpath(*parts)
        if not target.resolve().is_relative_to(dest.resolve()):
            raise BundleError(f"{uri}: object {blob.name!r} would be written outside {dest}; refusing it")
        declared.add_file()
        declared.add_bytes(int(blob.size or 0))
        plan.append((blob, target))
    return plan


def download_gcs(uri: str, dest: Path, lim: ArchiveLimits | None = None) -> Path:
    """Copy every object under the gs:// prefix into `dest` (honours STORAGE_EMULATOR_HOST).

    Object names must be relative paths that stay inside `dest`; the object count and the bytes
    written are bounded by `lim` (counted while writing: GCS may serve a gzip-encoded object larger)."""
    lim = lim or ArchiveLimits()
    bucket_name, prefix = _parse_gs(uri)
    from google.cloud import storage  # only Vertex AI needs it

    client = storage.Client()
    plan = _planned(uri, prefix, client.list_blobs(bucket_name, prefix=f"{prefix}/" if prefix else None), dest, lim)
    if not plan:
        raise BundleError(f"{uri}: no objects found under this prefix")
    written = Budget(uri, lim)
    for blob, target in plan:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        out = _LimitedFile(target, written)
        try:
            blob.download_to_file(out)
        finally:
            out.close()
    log.info("downloaded %d files (%d bytes) from %s", len(plan), written.bytes, uri)
    return dest


def _from_gcs(uri: str, settings: Settings) -> Path:
    dest = _private_dir("modelstage-gcs-")
    try:
        return download_gcs(uri, dest, limits(settings))
    except ArchiveLimitError as exc:
        _discard(dest)
        raise _with_setting(exc) from None
    except FileExistsError as exc:
        _discard(dest)
        raise BundleError(f"{uri}: two objects map to the same file ({exc.filename}); expected unique names") from None
    except BundleError:
        _discard(dest)
        raise


def _aip_storage(uri: str, settings: Settings) -> Path:
    """AIP_STORAGE_URI: gs:// is downloaded; a local folder (absolute path or file:///path) is read in place."""
    if uri.startswith("gs://"):
        return _from_gcs(uri, settings)
    local = uri[len("file://"):] if uri.startswith("file://") else uri
    if not local.startswith("/"):
        raise BundleError(f"AIP_STORAGE_URI={uri!r}: expected gs://BUCKET/PREFIX, file:///PATH or an absolute path")
    return Path(local)


def _candidates(settings: Settings) -> list[tuple[str, Path]]:
    if settings.model_dir:
        return [("MODEL_DIR", Path(settings.model_dir))]
    if settings.aip_storage_uri:
        return [("AIP_STORAGE_URI", _aip_storage(settings.aip_storage_uri, settings))]
    if settings.azureml_model_dir:
        return [("AZUREML_MODEL_DIR", Path(settings.azureml_model_dir))]
    return [("SageMaker model dir", Path(SAGEMAKER_MODEL_DIR)), ("Azure ML mount", Path(AZUREML_MOUNT_ROOT))]


def _verify(received: Received, settings: Settings, source: str) -> Bundle:
    """Every check before anything is loaded: layout and checksums, pins, signature."""
    bundle = load_bundle(received.path, max_entries=settings.max_bundle_files)
    if bundle.extra_files:
        log.warning("bundle %s: ignoring %d file(s) bundle.json does not list (never loaded): %s", received.path,
                    len(bundle.extra_files), ", ".join(bundle.extra_files[:20]))
    pins = Pins(archive_sha256=settings.bundle_sha256, manifest_sha256=settings.bundle_manifest_sha256)
    checked = check_pins(bundle, pins, received_archive_sha256=received.archive_sha256)
    if settings.bundle_public_key:
        key = load_public_key(settings.bundle_public_key, "MODELSTAGE_BUNDLE_PUBLIC_KEY")
        verify_manifest_signature(bundle.path, key)
        checked.append("Ed25519 signature of bundle.json")
    log.info("model bundle from %s: %s (%s %s); verified: %s", source, bundle.path, bundle.name, bundle.version,
             ", ".join(["checksums", *checked]))
    return bundle


def resolve_model_dir(settings: Settings) -> Path:
    """The verified bundle folder the runtime should serve, or BundleError saying what is wrong."""
    candidates = _candidates(settings)
    for source, folder in candidates:
        if folder.is_dir():
            found = _find(folder, settings)
            if found is not None:
                return _verify(found, settings, source).path
            if len(candidates) == 1:
                raise BundleError(f"{folder} ({source}): no bundle.json or model.tar.gz found in it")
        elif len(candidates) == 1:
            raise BundleError(f"{folder} ({source}): no such directory")
    raise BundleError(
        "no model found: set MODEL_DIR, or AIP_STORAGE_URI (Vertex AI), or AZUREML_MODEL_DIR (Azure ML), "
        f"or unpack model.tar.gz into {SAGEMAKER_MODEL_DIR} (SageMaker)"
    )


def worker_env(model_dir: Path, settings: Settings) -> dict[str, str]:
    """Environment for worker processes that re-resolve a folder the parent already verified.

    The parent may have checked a pinned archive that the workers never see (it unpacked it into
    `model_dir`); pinning bundle.json's digest, taken right after that check, keeps the workers' check
    as strict without rebuilding the archive (which depends on zlib)."""
    env = {"MODEL_DIR": str(model_dir)}
    if settings.bundle_sha256 or settings.bundle_manifest_sha256:
        env["MODELSTAGE_BUNDLE_MANIFEST_SHA256"] = sha256_file(model_dir / MANIFEST)
    return env

