"""The model bundle on disk: `bundle.json` + the model file + `model.tar.gz`, and verifying it.

Layout of a bundle directory:
    bundle.json           manifest: schema, metrics, baseline, sha256 of every other file, sample request
    model.onnx|model.skops
    sample_request.json   the sample request, as a file to curl
    model.tar.gz          the files above, byte-for-byte reproducible (what SageMaker unpacks)

Loading verifies the format, every checksum and the schema, and refuses anything else with an
error that names the file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.baseline import FeatureBaseline
from model.errors import BundleError
from model.schema import Schema

FORMAT = "modelstage.bundle/1"
MANIFEST = "bundle.json"
ARCHIVE = "model.tar.gz"
SAMPLE = "sample_request.json"
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
        return [FeatureBaseline.from_dict(f) for f in self.manifest["baseline"]["features"]]

    @property
    def sample_request(self) -> dict[str, Any]:
        return dict(self.manifest["sample_request"])

    @property
    def archive(self) -> Path:
        return self.path / ARCHIVE

    def archive_sha256(self) -> str:
        return sha256_file(self.archive)


def write_reproducible_tar_gz(src: Path, names: list[str], dest: Path) -> None:
    """Tar `names` from `src` with fixed metadata so the same files always give the same bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(names):
            data = (src / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    with dest.open("wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())


def _read_manifest(root: Path) -> dict[str, Any]:
    manifest_path = root / MANIFEST
    if not root.is_dir():
        raise BundleError(f"{root}: no bundle directory here (run `modelstage package --out {root}`)")
    if not manifest_path.is_file():
        raise BundleError(f"{manifest_path}: missing; this is not a complete bundle (run `modelstage package`)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{manifest_path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"{manifest_path}: expected a JSON object")
    missing = [k for k in _REQUIRED_KEYS if k not in manifest]
    if missing:
        raise BundleError(f"{manifest_path}: missing keys {', '.join(missing)}")
    if manifest["format"] != FORMAT:
        raise BundleError(f"{manifest_path}: format {manifest['format']!r} is not supported; expected {FORMAT!r}")
    return manifest


def load_bundle(path: str | Path, *, verify_archive: bool = False) -> Bundle:
    """Load and verify a bundle directory (or an unpacked model.tar.gz, which has no archive).

    `verify_archive` also checks that model.tar.gz holds exactly the verified files.
    """
    root = Path(path)
    manifest = _read_manifest(root)
    files: Mapping[str, str] = manifest["files"]
    for name, expected in sorted(files.items()):
        f = root / name
        if not f.is_file():
            raise BundleError(f"{f}: listed in bundle.json but missing; the bundle is incomplete")
        actual = sha256_file(f)
        if actual != expected:
            raise BundleError(f"{f}: checksum mismatch (sha256 {actual[:12]}..., bundle.json says {expected[:12]}...); "
                              "the file was modified or corrupted")
    model_file = str(manifest["model"].get("file", ""))
    if model_file not in files:
        raise BundleError(f"{root / MANIFEST}: the model file {model_file!r} has no checksum in 'files'")
    try:
        schema = Schema.from_dict(manifest["schema"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{root / MANIFEST}: invalid schema ({exc!r})") from exc
    if not schema.features:
        raise BundleError(f"{root / MANIFEST}: the schema has no features")
    bundle = Bundle(path=root, manifest=manifest, schema=schema)
    if verify_archive:
        verify_archive_matches(bundle)
    return bundle


def verify_archive_matches(bundle: Bundle) -> None:
    archive = bundle.archive
    if not archive.is_file():
        raise BundleError(f"{archive}: missing; run `modelstage package` again")
    expected = {MANIFEST: sha256_file(bundle.path / MANIFEST), **dict(bundle.manifest["files"])}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            found = {}
            for member in tar.getmembers():
                fileobj = tar.extractfile(member)
                if fileobj is not None:
                    found[member.name] = hashlib.sha256(fileobj.read()).hexdigest()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleError(f"{archive}: not a readable tar.gz ({exc})") from exc
    if found != expected:
        raise BundleError(f"{archive}: does not hold exactly the bundle's verified files")
