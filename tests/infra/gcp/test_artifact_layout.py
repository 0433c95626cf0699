"""The contract between what the GCP stack uploads and what the serving container reads, against a
real GCS emulator (gcp-storage-emulator on 127.0.0.1): the archive at the recorded object name, the
recorded `artifact_uri` as AIP_STORAGE_URI, the recorded routes and pinned digests as the container's
environment, as Vertex AI would start it. Only the upload itself (pulumi-gcp's BucketObject) is
replaced by the storage client, because no provider plugin runs here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from container.local import ServerProcess, free_port, request
from infra.offline.runner import Recording
from model.bundle import Bundle
from tests.gcs import gcs_emulator

BUCKET = "gcp:storage/bucket:Bucket"
OBJECT = "gcp:storage/bucketObject:BucketObject"
MODEL = "pulumi-python:dynamic/vertex:Model"


@pytest.fixture(scope="module")
def gcs() -> Iterator[str]:
    with gcs_emulator() as host:
        yield host


def _upload_as_recorded(rec: Recording, bundle: Bundle) -> str:
    """Upload the archive where the stack's BucketObject puts it; the bucket's name as recorded."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket_name = rec.one(BUCKET).inputs.get("name") or "house-prices-dev-artifacts-0000000"
    archive = next(r for r in rec.of_type(OBJECT) if r.inputs["name"].endswith("model.tar.gz"))
    client = storage.Client(project="test", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    bucket = client.bucket(bucket_name)
    if not bucket.exists():
        client.create_bucket(bucket_name)
    bucket.blob(archive.inputs["name"]).upload_from_filename(str(bundle.archive))
    return bucket_name


def test_vertex_serves_the_bundle_from_what_the_stack_uploads(gcs: str, gcp_recordings: dict[str, Recording],
                                                              bundle: Bundle, tmp_path: Path) -> None:
    rec = gcp_recordings["gcp-dev"]
    bucket = _upload_as_recorded(rec, bundle)
    model = rec.one(MODEL).inputs
    assert model["artifact_uri"].startswith(f"gs://{bucket}/")
    port = free_port()
    env = {"AIP_MODE": "PREDICTION", "AIP_STORAGE_URI": model["artifact_uri"], "AIP_HTTP_PORT": str(port),
           "AIP_HEALTH_ROUTE": model["health_route"], "AIP_PREDICT_ROUTE": model["predict_route"],
           "STORAGE_EMULATOR_HOST": gcs, **model["env"]}
    with ServerProcess(None, port, env=env, log_file=tmp_path / "log") as proc:
        proc.wait_healthy(30)
        r = request(f"{proc.url}{model['predict_route']}", b'{"instances": [[1200, 3, 2]]}')
        assert r.status == 200 and len(r.json()["predictions"]) == 1


def test_a_swapped_archive_under_the_recorded_prefix_is_refused(gcs: str, gcp_recordings: dict[str, Recording],
                                                                bundle: Bundle, tmp_path: Path) -> None:
    """The pinned digest in the model's environment: a different archive at the same place never serves."""
    rec = gcp_recordings["gcp-dev"]
    _upload_as_recorded(rec, bundle)
    model = rec.one(MODEL).inputs
    port = free_port()
    env = {"AIP_MODE": "PREDICTION", "AIP_STORAGE_URI": model["artifact_uri"], "AIP_HTTP_PORT": str(port),
           "STORAGE_EMULATOR_HOST": gcs, **model["env"], "MODELSTAGE_BUNDLE_SHA256": "0" * 64}
    with ServerProcess(None, port, env=env, log_file=tmp_path / "log") as proc:
        code = proc.proc.wait(timeout=60)
    assert code != 0
    assert "0" * 64 in (tmp_path / "log").read_text()
