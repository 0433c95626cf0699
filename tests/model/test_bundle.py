"""The bundle: contents, reproducibility, verification and tamper detection."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from model.bundle import ARCHIVE, FORMAT, MANIFEST, Bundle, load_bundle, sha256_file
from model.errors import BundleError, PackagingError
from model.onnx_export import check_parity
from model.package import package_example


def _copy(bundle: Bundle, tmp_path: Path) -> Path:
    dest = tmp_path / "copy"
    shutil.copytree(bundle.path, dest)
    return dest


def test_manifest_holds_everything_a_consumer_needs(bundle: Bundle) -> None:
    m = bundle.manifest
    assert m["format"] == FORMAT and m["name"] == "house-prices"
    assert bundle.model_format == "onnx" and bundle.model_path.name == "model.onnx"
    assert bundle.schema.names[:3] == ("living_area_sqft", "bedrooms", "bathrooms")
    assert len(bundle.schema.names) >= 6
    assert bundle.schema.output.name == "price" and bundle.schema.output.unit == "USD"
    assert {"mae", "rmse", "r2", "mape"} <= set(bundle.metrics)
    assert bundle.metrics["r2"] > 0.85
    assert {"scikit-learn", "onnxruntime", "skl2onnx"} <= set(m["libraries"])
    assert m["model"]["parity"]["rows"] > 100 and m["model"]["parity"]["max_abs_error"] <= 1.0
    for b in bundle.baselines:
        assert len(b.edges) == 11 and len(b.counts) == 10 and sum(b.counts) + b.missing == m["baseline"]["rows"]
    assert set(m["files"]) == {"model.onnx", "sample_request.json"}
    assert json.loads((bundle.path / "sample_request.json").read_text()) == bundle.sample_request
    assert len(bundle.sample_request["input"]) == 3


def test_nan_policy_is_recorded_per_feature(bundle: Bundle) -> None:
    policies = {f.name: f.nan_policy for f in bundle.schema.features}
    assert policies["living_area_sqft"] == "reject" and policies["lot_size_sqft"] == "impute"


def test_archive_is_byte_for_byte_reproducible(bundle: Bundle, tmp_path: Path) -> None:
    again = package_example(tmp_path / "again")
    assert again.archive_sha256() == bundle.archive_sha256()
    assert sha256_file(again.path / MANIFEST) == sha256_file(bundle.path / MANIFEST)


def test_archive_holds_exactly_the_verified_files(bundle: Bundle) -> None:
    with tarfile.open(bundle.archive) as tar:
        members = tar.getmembers()
    assert sorted(m.name for m in members) == sorted([MANIFEST, *bundle.manifest["files"]])
    assert all(m.mtime == 0 and m.uid == 0 and m.isfile() for m in members)


def test_loading_refuses_a_tampered_model_naming_the_file(bundle: Bundle, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.onnx: checksum mismatch"):
        load_bundle(copy)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda p: (p / "model.onnx").unlink(), r"model\.onnx: listed in bundle.json but missing"),
    (lambda p: (p / MANIFEST).unlink(), r"bundle\.json: missing"),
    (lambda p: (p / MANIFEST).write_text("{not json"), r"bundle\.json: not valid JSON"),
    (lambda p: (p / MANIFEST).write_text("[]"), r"expected a JSON object"),
    (lambda p: (p / MANIFEST).write_text(json.dumps({"format": FORMAT})), r"missing keys name"),
    (lambda p: (p / "sample_request.json").write_text("{}"), r"sample_request\.json: checksum mismatch"),
])
def test_loading_refuses_incomplete_bundles(bundle: Bundle, tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    copy = _copy(bundle, tmp_path)
    mutate(copy)
    with pytest.raises(BundleError, match=message):
        load_bundle(copy)


def test_unknown_format_is_refused(bundle: Bundle, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["format"] = "modelstage.bundle/99"
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"not supported; expected 'modelstage\.bundle/1'"):
        load_bundle(copy)


def test_archive_verification_catches_a_swapped_archive(bundle: Bundle, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    (copy / ARCHIVE).write_bytes(b"\x1f\x8b not really gzip")
    load_bundle(copy)  # the files themselves are fine
    with pytest.raises(BundleError, match=r"model\.tar\.gz"):
        load_bundle(copy, verify_archive=True)


def test_missing_directory_says_to_package(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="modelstage package"):
        load_bundle(tmp_path / "nowhere")


def test_parity_check_names_the_worst_row() -> None:
    expected = np.array([100.0, 200.0, 300.0])
    with pytest.raises(PackagingError, match="worst row 1"):
        check_parity(expected, np.array([100.0, 250.0, 300.0]))
    assert check_parity(expected, expected + 1e-3).max_abs_error == pytest.approx(1e-3)
