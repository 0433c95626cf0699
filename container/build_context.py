"""What goes into the serving image: the context's sources, their content hash, the context tar.

No docker SDK and no model training here, so `infra/` (preview, CI without an engine) can compute the
same content hash a build tags its image with. Wheels are not part of the sources: the locks pin each
one's sha256 and the build installs with --require-hashes.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from container.build_errors import BuildError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASE_IMAGE = "python:3.11-slim-bookworm"
RUNTIME_EXTRAS = ("", "skops")
# The files and trees of the repository the image is built from (the context has the same layout).
CONTAINER_FILES = ("Dockerfile", "requirements.txt", "requirements-skops.txt", "__init__.py")
SOURCE_TREES = ("container/runtime", "model")
CONTEXT_PATHS = (*(f"container/{name}" for name in CONTAINER_FILES), *SOURCE_TREES)
_MTIME = 0  # every context entry gets this mtime: identical inputs, identical context bytes
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}


def _tree(root: Path, base: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(base)
        if path.is_file() and not _SKIP_PARTS & set(rel.parts) and path.suffix != ".pyc":
            yield rel.as_posix(), path


def context_sources(source_root: Path) -> dict[str, bytes]:
    """Context path -> bytes of every input except wheels: Dockerfile, locks, runtime and model sources."""
    runtime = source_root / "container" / "runtime"
    if not runtime.is_dir():
        raise BuildError(f"{runtime} is missing: the serving runtime's sources are needed to build")
    files: dict[str, bytes] = {}
    for name in CONTAINER_FILES:
        files[f"container/{name}"] = (source_root / "container" / name).read_bytes()
    for tree in SOURCE_TREES:
        for rel, path in _tree(source_root / tree, source_root):
            files[rel] = path.read_bytes()
    return dict(sorted(files.items()))


def content_hash(sources: Mapping[str, bytes], build_args: Mapping[str, str], base_image_id: str) -> str:
    """sha256 over sorted (path, bytes), the build arguments and the base image ID: the image's tag."""
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


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._pos + n
        chunk, self._pos = self._data[self._pos:end], min(end, len(self._data))
        return chunk


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
