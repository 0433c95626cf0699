"""The model bundle on disk: `bundle.json` + the model file + `model.tar.gz`, and verifying it.

Layout of a bundle directory:
    bundle.json           manifest: schema, metrics, baseline, sha256 of every other file, sample request
    model.onnx|model.skops
    sample_request.json   the sample request, as a file to curl
    bundle.json.sig       optional: an Ed25519 signature of bundle.json (model/signing.py)
    model.tar.gz          the files above, byte-for-byte reproducible (what SageMaker unpacks)

Loading verifies the format, every checksum and the schema, and refuses anything else with an
error that names the file. Only the files bundle.json lists are read, and each must be a regular
file inside the bundle: names that are absolute or climb out, and symlinks anywhere in the bundle,
are refused; other files are ignored and reported in `Bundle.extra_files`, never loaded.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import stat
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from model.archive import relative_parts
from model.baseline import FeatureBaseline
from model.errors import BundleError
from model.schema import Schema
from model.signing import SIGNATURE

FORMAT = "modelstage.bundle/1"
MANIFEST = "bundle.json"
ARCHIVE = "model.tar.gz"
SAMPLE = "sample_request.json"
MAX_MANIFEST_BYTES = 16 << 20  # bundle.json is read whole; a real one is tens of KB
MAX_BUNDLE_ENTRIES = 10_000  # entries walked in a bundle folder when looking for symlinks and extras
_RESERVED = (MANIFEST, SIGNATURE, ARCHIVE)  # never listed in 'files': they are not model content
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_REQUIRED_KEYS = ("format", "name", "version", "model", "schema", "metrics", "baseline", "files", "sample_request")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def canonical_json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: Mapping[str, Any]
    schema: Schema
    extra_files: tuple[str, ...] = ()  # present in the folder, not listed in bundle.json: never read

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def model_format(self) -> str:
        return str(self.manifest["model"]["format"])

    @property
    def model_path(self) -> Path:
        return self.path / str(self.manifest["model"]["file"])

    @property
    def trusted_types(self) -> list[str]:
        return [str(t) for t in self.manifest["model"].get("trusted_types", [])]

    @property
    def metrics(self) -> dict[str, float]:
        return {str(k): float(v) for k, v in self.manifest["metrics"].items()}

    @property
    def baselines(self) -> list[FeatureBaseline]:
        features = self.manifest["baseline"].get("features") if isinstance(self.manifest["baseline"], dict) else None
        if not isinstance(features, list) or len(features) != len(self.schema.features):
            raise BundleError(f"{MANIFEST}: baseline.features: expected one entry per schema feature "
                              f"({len(self.schema.features)})")
        return [_baseline(f, f"baseline.features[{i}]") for i, f in enumerate(features)]

    @property
    def prediction_baseline(self) -> FeatureBaseline | None:
        """The baseline of the model's predictions on the reference rows (None in older bundles)."""
        baseline = self.manifest["baseline"]
        entry = baseline.get("prediction") if isinstance(baseline, dict) else None
        return None if entry is None else _baseline(entry, "baseline.prediction")

    @property
    def sample_request(self) -> dict[str, Any]:
        return dict(self.manifest["sample_request"])

    @property
    def archive(self) -> Path:
        return self.path / ARCHIVE

    def archive_sha256(self) -> str:
        return sha256_file(self.archive)

    def manifest_sha256(self) -> str:
        """What a deployment pins when the container gets only the unpacked files (model/pins.py)."""
        return sha256_file(self.path / MANIFEST)

    @property
    def signed(self) -> bool:
        return _is_regular(self.path / SIGNATURE)


def _baseline(entry: object, where: str) -> FeatureBaseline:
    """A baseline entry of bundle.json, refused with its place named when malformed (a bundle may come
    from anywhere)."""
    try:
        if not isinstance(entry, dict):
            raise TypeError("not an object")
        baseline = FeatureBaseline.from_dict(entry)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{MANIFEST}: {where}: malformed baseline ({exc}); expected name, edges, counts, "
                          "missing, mean, std, min, max (repackage the bundle)") from None
    if len(baseline.edges) != len(baseline.counts) + 1 or any(c < 0 for c in baseline.counts):
        raise BundleError(f"{MANIFEST}: {where}: expected {len(baseline.counts) + 1} bin edges for "
                          f"{len(baseline.counts)} non-negative counts, got {len(baseline.edges)}")
    for name, values in (("edges", baseline.edges), ("quantiles", baseline.quantiles)):
        points = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(points)) or np.any(np.diff(points) < 0):
            raise BundleError(f"{MANIFEST}: {where}: {name} must be finite and ascending")
    return baseline


def write_reproducible_tar_gz(src: Path, names: list[str], dest: Path) -> None:
    """Tar `names` from `src` with fixed metadata so the same files always give the same bytes."""
    with dest.open("wb") as f:
        write_reproducible_tar_gz_to(src, names, f)


class _HashingWriter:
    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return len(data)

    def flush(self) -> None:
        pass


def rebuilt_archive_sha256(bundle_dir: Path) -> str:
    """The sha256 model.tar.gz would have if packaged from these files here. Equal to the packaged
    archive's only when this zlib compresses exactly as the packaging machine's did."""
    names = [MANIFEST, *json.loads((bundle_dir / MANIFEST).read_bytes())["files"]]
    if _is_regular(bundle_dir / SIGNATURE):
        names.append(SIGNATURE)
    out = _HashingWriter()
    write_reproducible_tar_gz_to(bundle_dir, names, out)  # type: ignore[arg-type]
    return out.sha256.hexdigest()


def write_reproducible_tar_gz_to(src: Path, names: list[str], fileobj: IO[bytes]) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(names):
            data = (src / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    with gzip.GzipFile(filename="", mode="wb", fileobj=fileobj, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())


def _is_regular(path: Path) -> bool:
    """A regular file that is not a symlink (lstat: a link is never followed)."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _read_manifest(root: Path) -> dict[str, Any]:
    manifest_path = root / MANIFEST
    if not root.is_dir():
        raise BundleError(f"{root}: no bundle directory here (run `modelstage package --out {root}`)")
    if manifest_path.is_symlink():
        raise BundleError(f"{manifest_path}: is a symlink; expected a regular file inside the bundle")
    if not manifest_path.is_file():
        raise BundleError(f"{manifest_path}: missing; this is not a complete bundle (run `modelstage package`)")
    if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
        raise BundleError(f"{manifest_path}: larger than {MAX_MANIFEST_BYTES} bytes; expected a manifest")
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise BundleError(f"{manifest_path}: not valid JSON ({reason})") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{manifest_path}: expected a JSON object")
    missing = [k for k in _REQUIRED_KEYS if k not in manifest]
    if missing:
        raise BundleError(f"{manifest_path}: missing keys {', '.join(missing)}")
    if manifest["format"] != FORMAT:
        raise BundleError(f"{manifest_path}: format {manifest['format']!r} is not supported; expected {FORMAT!r}")
    _check_entries(manifest, manifest_path)
    return manifest


def _check_entries(manifest: dict[str, Any], manifest_path: Path) -> None:
    """'files' maps safe relative names to sha256 digests, and the model file is one of them."""
    files, model = manifest["files"], manifest["model"]
    if not isinstance(files, dict) or not isinstance(model, dict):
        raise BundleError(f"{manifest_path}: 'files' and 'model' must be JSON objects")
    for name, digest in files.items():
        relative_parts(name, f"{manifest_path}: 'files'")
        if name in _RESERVED:
            raise BundleError(f"{manifest_path}: 'files' lists {name!r}, which is part of the bundle format, "
                              "not model content")
        if not isinstance(digest, str) or not _SHA256_RE.match(digest):
            raise BundleError(f"{manifest_path}: 'files' entry {name!r}: expected a sha256 (64 lowercase hex digits)")
    model_file = model.get("file", "")
    if not isinstance(model_file, str) or model_file not in files:
        raise BundleError(f"{manifest_path}: the model file {model_file!r} has no checksum in 'files'; expected "
                          "one of the listed files")


def _walk(root: Path, max_entries: int) -> list[str]:
    """Every entry below `root` as a relative name; refuses symlinks anywhere (never followed)."""
    found: list[str] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        with os.scandir(folder) as it:
            for entry in it:
                rel = Path(entry.path).relative_to(root).as_posix()
                if entry.is_symlink():
                    raise BundleError(f"{entry.path}: is a symlink; a bundle holds regular files only "
                                      "(a link could point outside it)")
                found.append(rel)
                if len(found) > max_entries:
                    raise BundleError(f"{root}: more than {max_entries} entries; expected a model bundle "
                                      "(point the runtime at the bundle's own folder)")
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
    return found


def _extras(root: Path, listed: Mapping[str, str], max_entries: int) -> tuple[str, ...]:
    known = {*listed, *_RESERVED}
    return tuple(sorted(e for e in _walk(root, max_entries) if e not in known and not (root / e).is_dir()))


def _check_listed_files(root: Path, files: Mapping[str, str]) -> None:
    for name, expected in sorted(files.items()):
        f = root.joinpath(*relative_parts(name, str(root / MANIFEST)))
        if not _is_regular(f):
            raise BundleError(f"{f}: listed in bundle.json but missing (or not a regular file); "
                              "the bundle is incomplete")
        actual = sha256_file(f)
        if actual != expected:
            raise BundleError(f"{f}: checksum mismatch (sha256 {actual[:12]}..., bundle.json says {expected[:12]}...); "
                              "the file was modified or corrupted")


def load_bundle(path: str | Path, *, verify_archive: bool = False, max_entries: int = MAX_BUNDLE_ENTRIES) -> Bundle:
    """Load and verify a bundle directory (or an unpacked model.tar.gz, which has no archive).

    `verify_archive` also checks that model.tar.gz holds exactly the verified files.
    """
    root = Path(path)
    manifest = _read_manifest(root)
    files: Mapping[str, str] = manifest["files"]
    extras = _extras(root, files, max_entries)  # before reading: a symlink is refused, never followed
    _check_listed_files(root, files)
    try:
        schema = Schema.from_dict(manifest["schema"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{root / MANIFEST}: invalid schema ({exc!r})") from exc
    if not schema.features:
        raise BundleError(f"{root / MANIFEST}: the schema has no features")
    bundle = Bundle(path=root, manifest=manifest, schema=schema, extra_files=extras)
    if verify_archive:
        verify_archive_matches(bundle)
    return bundle


def _archived_files(bundle: Bundle) -> dict[str, Path]:
    names = [MANIFEST, *bundle.manifest["files"], *([SIGNATURE] if _is_regular(bundle.path / SIGNATURE) else [])]
    return {n: bundle.path.joinpath(*n.split("/")) for n in names}


def _member_sha256(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    fileobj = tar.extractfile(member)
    if fileobj is None:
        raise BundleError(f"cannot read {member.name!r}")
    h = hashlib.sha256()
    while chunk := fileobj.read(1 << 20):
        h.update(chunk)
    return h.hexdigest()


def verify_archive_matches(bundle: Bundle) -> None:
    """model.tar.gz holds exactly the verified files (bundle.json, its signature, the listed files)."""
    archive = bundle.archive
    if not _is_regular(archive):
        raise BundleError(f"{archive}: missing; run `modelstage package` again")
    expected = _archived_files(bundle)
    mismatch = BundleError(f"{archive}: does not hold exactly the bundle's verified files")
    seen: set[str] = set()
    try:
        with tarfile.open(archive, "r|gz") as tar:
            for member in tar:
                path = expected.get(member.name)
                # Compare sizes before hashing, so a hostile archive costs no more than the real files.
                if path is None or member.name in seen or not member.isfile() or member.size != path.stat().st_size:
                    raise mismatch
                if _member_sha256(tar, member) != sha256_file(path):
                    raise mismatch
                seen.add(member.name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleError(f"{archive}: not a readable tar.gz ({exc})") from exc
    if seen != set(expected):
        raise mismatch
