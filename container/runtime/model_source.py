"""Finding the bundle the way each cloud hands it over.

Order: MODEL_DIR (explicit) -> AIP_STORAGE_URI (Vertex AI: a gs:// folder we download ourselves)
-> AZUREML_MODEL_DIR (Azure ML's mount) -> /opt/ml/model (SageMaker's unpacked model.tar.gz)
-> the Azure ML default mount root. A folder holding only model.tar.gz is unpacked first.
"""

from __future__ import annotations

import logging
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from container.runtime.settings import AZUREML_MOUNT_ROOT, SAGEMAKER_MODEL_DIR, Settings
from model.bundle import ARCHIVE, MANIFEST
from model.errors import BundleError

log = logging.getLogger("modelstage.runtime")
_MAX_DOWNLOAD_FILES = 1000
_MAX_SEARCH_DEPTH = 3


def _safe_extract(archive: Path, dest: Path) -> None:
    """Unpack regular files only; refuse links and paths that leave `dest` (Python 3.11.2 has no filter=)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                parts = PurePosixPath(member.name).parts
                if member.name.startswith("/") or ".." in parts:
                    raise BundleError(f"{archive}: unsafe path {member.name!r} in the archive")
                if member.isdir():
                    continue
                if not member.isfile():
                    raise BundleError(f"{archive}: {member.name!r} is not a regular file")
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                if src is None:
                    raise BundleError(f"{archive}: cannot read {member.name!r}")
                target.write_bytes(src.read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BundleError(f"{archive}: not a readable tar.gz ({exc})") from exc


def _bundle_in(folder: Path) -> Path | None:
    """The folder holding bundle.json at or below `folder` (unpacking a lone model.tar.gz)."""
    if (folder / MANIFEST).is_file():
        return folder
    if (folder / ARCHIVE).is_file():
        dest = Path(tempfile.mkdtemp(prefix="modelstage-model-"))
        _safe_extract(folder / ARCHIVE, dest)
        return _bundle_in(dest)
    found: list[Path] = []
    for depth in range(1, _MAX_SEARCH_DEPTH + 1):
        pattern = "/".join(["*"] * depth)
        found = sorted({p.parent for name in (MANIFEST, ARCHIVE) for p in folder.glob(f"{pattern}/{name}")})
        if found:
            break
    if len(found) > 1:
        raise BundleError(f"{folder}: holds several bundles ({', '.join(map(str, found[:3]))}); set MODEL_DIR")
    return _bundle_in(found[0]) if found else None


def download_gcs(uri: str, dest: Path) -> Path:
    """Copy every object under the gs:// prefix into `dest` (honours STORAGE_EMULATOR_HOST)."""
    if not uri.startswith("gs://"):
        raise BundleError(f"AIP_STORAGE_URI={uri!r}: expected a gs:// URI")
    bucket_name, _, prefix = uri[len("gs://"):].partition("/")
    prefix = prefix.strip("/")
    from google.cloud import storage  # only Vertex AI needs it

    client = storage.Client()
    count = 0
    for blob in client.list_blobs(bucket_name, prefix=f"{prefix}/" if prefix else None):
        name = blob.name[len(prefix):].lstrip("/") if prefix else blob.name
        if not name or name.endswith("/"):
            continue
        parts = PurePosixPath(name).parts
        if ".." in parts:
            raise BundleError(f"{uri}: unsafe object name {blob.name!r}")
        target = dest.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(target))
        count += 1
        if count > _MAX_DOWNLOAD_FILES:
            raise BundleError(f"{uri}: more than {_MAX_DOWNLOAD_FILES} objects; point AIP_STORAGE_URI at the bundle")
    if count == 0:
        raise BundleError(f"{uri}: no objects found under this prefix")
    log.info("downloaded %d files from %s", count, uri)
    return dest


def resolve_model_dir(settings: Settings) -> Path:
    if settings.model_dir:
        candidates = [("MODEL_DIR", Path(settings.model_dir))]
    elif settings.aip_storage_uri:
        local = download_gcs(settings.aip_storage_uri, Path(tempfile.mkdtemp(prefix="modelstage-gcs-")))
        candidates = [("AIP_STORAGE_URI", local)]
    elif settings.azureml_model_dir:
        candidates = [("AZUREML_MODEL_DIR", Path(settings.azureml_model_dir))]
    else:
        candidates = [("SageMaker model dir", Path(SAGEMAKER_MODEL_DIR)), ("Azure ML mount", Path(AZUREML_MOUNT_ROOT))]
    for source, folder in candidates:
        if folder.is_dir():
            found = _bundle_in(folder)
            if found is not None:
                log.info("model bundle from %s: %s", source, found)
                return found
            if len(candidates) == 1:
                raise BundleError(f"{folder} ({source}): no bundle.json or model.tar.gz found in it")
        elif len(candidates) == 1:
            raise BundleError(f"{folder} ({source}): no such directory")
    raise BundleError(
        "no model found: set MODEL_DIR, or AIP_STORAGE_URI (Vertex AI), or AZUREML_MODEL_DIR (Azure ML), "
        f"or unpack model.tar.gz into {SAGEMAKER_MODEL_DIR} (SageMaker)"
    )
