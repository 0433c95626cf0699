"""Where the runtime finds the bundle on each cloud, including Vertex AI's gs:// download against a
real GCS emulator (gcp-storage-emulator on 127.0.0.1)."""

from __future__ import annotations

import re
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from container.local import ServerProcess, free_port, request
from container.runtime.model_source import resolve_model_dir
from container.runtime.settings import Settings, SettingsError
from model.bundle import ARCHIVE, Bundle, load_bundle
from model.errors import BundleError
from tests.gcs import gcs_emulator


@pytest.fixture(scope="module")
def gcs() -> Iterator[str]:
    with gcs_emulator() as host:
        yield host


def _upload(bundle: Bundle, bucket_name: str, prefix: str, names: list[str]) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    bucket = client.bucket(bucket_name)
    if not bucket.exists():
        client.create_bucket(bucket_name)
    for name in names:
        bucket.blob(f"{prefix}/{name}").upload_from_filename(str(bundle.path / name))


def test_vertex_downloads_the_bundle_from_gcs(gcs: str, bundle: Bundle) -> None:
    _upload(bundle, "models", "house/v1", ["bundle.json", "model.onnx", "sample_request.json"])
    found = resolve_model_dir(Settings.from_env({"AIP_STORAGE_URI": "gs://models/house/v1"}))
    assert load_bundle(found).version == bundle.version


def test_vertex_unpacks_a_model_tar_gz_from_gcs(gcs: str, bundle: Bundle) -> None:
    _upload(bundle, "models", "house/archive", [ARCHIVE])
    found = resolve_model_dir(Settings.from_env({"AIP_STORAGE_URI": "gs://models/house/archive"}))
    assert load_bundle(found).version == bundle.version


def test_empty_gcs_prefix_is_a_clear_error(gcs: str) -> None:
    with pytest.raises(BundleError, match="no objects found"):
        resolve_model_dir(Settings.from_env({"AIP_STORAGE_URI": "gs://models/nothing-here"}))


def test_vertex_server_end_to_end_from_gcs(gcs: str, bundle: Bundle, tmp_path: Path) -> None:
    _upload(bundle, "models", "house/e2e", ["bundle.json", "model.onnx", "sample_request.json"])
    port = free_port()
    env = {"AIP_MODE": "PREDICTION", "AIP_STORAGE_URI": "gs://models/house/e2e", "AIP_HTTP_PORT": str(port),
           "AIP_HEALTH_ROUTE": "/health", "AIP_PREDICT_ROUTE": "/predict", "STORAGE_EMULATOR_HOST": gcs}
    with ServerProcess(None, port, env=env, log_file=tmp_path / "log") as proc:
        proc.wait_healthy(30)
        r = request(f"{proc.url}/predict", b'{"instances": [[1200, 3, 2]]}')
        assert r.status == 200 and len(r.json()["predictions"]) == 1


def test_sagemaker_layout_unpacked_tar(bundle: Bundle, tmp_path: Path) -> None:
    with tarfile.open(bundle.archive) as tar:
        tar.extractall(tmp_path / "opt-ml-model")
    found = resolve_model_dir(Settings.from_env({"MODEL_DIR": str(tmp_path / "opt-ml-model")}))
    assert found == tmp_path / "opt-ml-model"


def test_azure_mount_is_searched_for_the_bundle(bundle: Bundle, tmp_path: Path) -> None:
    mount = tmp_path / "azureml-models"
    shutil.copytree(bundle.path, mount / "house-prices" / "3")
    assert resolve_model_dir(Settings.from_env({"AZUREML_MODEL_DIR": str(mount)})) == mount / "house-prices" / "3"


def test_a_folder_with_only_the_archive_is_unpacked(bundle: Bundle, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    shutil.copy(bundle.archive, tmp_path / "m" / ARCHIVE)
    found = resolve_model_dir(Settings.from_env({"MODEL_DIR": str(tmp_path / "m")}))
    assert load_bundle(found).version == bundle.version


def test_missing_model_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="MODEL_DIR"):
        resolve_model_dir(Settings.from_env({"MODEL_DIR": str(tmp_path / "none")}))


@pytest.mark.parametrize(("env", "message"), [
    ({"PORT": "eighty"}, "PORT='eighty': expected a whole number"),
    ({"AIP_HTTP_PORT": "70000"}, "AIP_HTTP_PORT=70000"),
    ({"MODELSTAGE_WORKERS": "0"}, "MODELSTAGE_WORKERS=0"),
    ({"AIP_PREDICT_ROUTE": "predict"}, "expected a path starting with '/'"),
])
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_port_precedence() -> None:
    assert Settings.from_env({}).port == 8080
    assert Settings.from_env({"AIP_HTTP_PORT": "9000", "PORT": "1"}).port == 9000
    assert Settings.from_env({"SAGEMAKER_BIND_TO_PORT": "9100"}).port == 9100


@pytest.fixture
def dotted_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real GCS accepts object names with '..' segments; the emulator refuses to *store* them on its
    own disk. Map them to a safe key inside the emulator only, so the names reach the runtime as GCS
    would send them."""
    from gcp_storage_emulator.storage import _FileStore

    norm = _FileStore._norm
    monkeypatch.setattr(_FileStore, "_norm", staticmethod(lambda path: norm(path.replace("..", "%2E%2E"))))


def _put(bucket_name: str, objects: dict[str, bytes]) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    bucket = client.bucket(bucket_name)
    if not bucket.exists():
        client.create_bucket(bucket_name)
    for name, data in objects.items():
        bucket.blob(name).upload_from_string(data)


@pytest.mark.parametrize(("uri", "name", "reason"), [
    ("gs://abs-bucket", "/etc/modelstage-owned", "it is absolute"),
    ("gs://abs-prefix/house", "house//etc/modelstage-owned", "it is absolute"),
    ("gs://dots/house", "house/../../modelstage-owned", r"climbs out of the folder \('\.\.'\)"),
    ("gs://dots-top", "../modelstage-owned", r"climbs out"),
])
def test_gcs_object_names_outside_the_folder_are_refused(gcs: str, bundle: Bundle, dotted_names: None,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         uri: str, name: str, reason: str) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "deep" / "tmp"))
    (tmp_path / "deep" / "tmp").mkdir(parents=True)
    monkeypatch.setattr("tempfile.tempdir", None)
    bucket_name = uri[len("gs://"):].partition("/")[0]
    prefix = uri[len("gs://") + len(bucket_name) + 1:]
    _put(bucket_name, {f"{prefix}/bundle.json" if prefix else "bundle.json": (bundle.path / "bundle.json").read_bytes(),
                       name: b"overwritten"})
    with pytest.raises(BundleError, match=rf"object {re.escape(repr(name))}: refusing the name .*{reason}"):
        resolve_model_dir(Settings.from_env({"AIP_STORAGE_URI": uri}))
    assert not Path("/etc/modelstage-owned").exists()
    assert not list(tmp_path.rglob("modelstage-owned")) and not list(tmp_path.rglob("modelstage-gcs-*"))


def test_gcs_download_limits(gcs: str) -> None:
    _put("limits", {f"many/f{i}": b"x" for i in range(5)} | {"big/blob": bytes(4096)})
    with pytest.raises(BundleError, match=r"more than 3 files.*MODELSTAGE_MAX_BUNDLE_FILES"):
        resolve_model_dir(Settings.from_env({"AIP_STORAGE_URI": "gs://limits/many",
                                             "MODELSTAGE_MAX_BUNDLE_FILES": "3"}))
    with pytest.raises(BundleError, match=r"more than 1000 bytes.*MODELSTAGE_MAX_BUNDLE_BYTES"):
        resolve_model_dir(Settings.from_env({"AIP_STORAGE_URI": "gs://limits/big",
                                             "MODELSTAGE_MAX_BUNDLE_BYTES": "1000"}))


def test_gcs_download_folder_is_removed_on_refusal(gcs: str, bundle: Bundle, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    _put("refused", {"x/bundle.json": b"{}", "x//abs": b"!"})
    with pytest.raises(BundleError, match="absolute"):
        resolve_model_dir(Settings.from_env({"AIP_STORAGE_URI": "gs://refused/x"}))
    assert not list(tmp_path.glob("modelstage-gcs-*"))
