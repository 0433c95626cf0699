"""VertexModel's provider through the real aiplatform ModelServiceClient (REST) against the fake Vertex:
upload and new versions, no diff on a second run, in-place label/alias updates, adoption after a failed run,
409/429/failed/timed-out operations, delete rules, and no token in errors, outputs or the pickled provider."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from infra.gcp.names import label_value
from infra.gcp.vertex.clients import VertexError, VertexSettings, VertexTimeout, redact
from infra.gcp.vertex.model import CONTENT_LABEL, OUTPUT_KEYS, VertexModelProvider, content_key
from tests.infra.gcp.conftest import PROJECT, REGION, TOKEN
from tests.infra.gcp.fake_vertex import FakeVertex

MODEL = f"projects/{PROJECT}/locations/{REGION}/models/iris"
IMAGE = "us-central1-docker.pkg.dev/proj-1/serving/modelstage@sha256:" + "a" * 64


def props(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "project": PROJECT, "region": REGION, "model_id": "iris", "display_name": "iris",
        "artifact_uri": "gs://bucket/bundles/" + "b" * 16 + "/", "image_uri": IMAGE, "bundle_sha256": "b" * 64,
        "predict_route": "/predict", "health_route": "/health", "env": {"MODELSTAGE_LOG": "info", "A": "1"},
        "labels": {"bundle_version": label_value("1.2.0"), "accuracy": label_value("0.97")},
        "version_aliases": ["champion"], "version_description": "bundle 1.2.0",
        "__provider": "opaque", **dict.fromkeys(OUTPUT_KEYS),
    }
    return {**base, **over}


def created(provider: VertexModelProvider, p: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    result = provider.create(p)
    assert result.outs is not None
    return str(result.id), dict(result.outs)


def no_token(*texts: object) -> None:
    for text in texts:
        assert TOKEN not in str(text)


def test_first_upload_creates_the_model_and_its_outputs(settings: VertexSettings, fake: FakeVertex) -> None:
    id_, outs = created(VertexModelProvider(settings), props())
    assert id_ == f"{MODEL}@1" == outs["versioned_name"]
    assert (outs["model_name"], outs["version_id"]) == (MODEL, "1")
    live = fake.versions(MODEL)["1"]
    spec = live.container_spec
    assert spec.image_uri == IMAGE and [p.container_port for p in spec.ports] == [8080]
    assert (spec.predict_route, spec.health_route) == ("/predict", "/health")
    assert {e.name: e.value for e in spec.env} == {"A": "1", "MODELSTAGE_LOG": "info"}
    assert live.artifact_uri.startswith("gs://") and live.artifact_uri.endswith("/")
    assert dict(live.labels) == {"accuracy": "0_97", "bundle_version": "1_2_0", CONTENT_LABEL: content_key(props())}
    assert set(live.version_aliases) == {"default", "champion"}
    assert any(m == "GET" and re.fullmatch(rf"/ui/{MODEL}/operations/\d+", p)
               for m, p in fake.requests)  # the client polled the operation, on /ui/
    no_token(json.dumps(outs))


def test_a_new_bundle_is_a_new_version_of_the_same_model(settings: VertexSettings, fake: FakeVertex) -> None:
    provider = VertexModelProvider(settings)
    _, first = created(provider, props())
    new = props(bundle_sha256="c" * 64, artifact_uri="gs://bucket/bundles/c/")
    diff = provider.diff(first["versioned_name"], first, new)
    assert diff.changes and set(diff.replaces or []) == {"artifact_uri", "bundle_sha256"}
    assert not diff.delete_before_replace  # the new version exists before the old one goes
    id2, second = created(provider, new)
    assert id2 == f"{MODEL}@2"
    versions = fake.versions(MODEL)
    assert set(versions["2"].version_aliases) == {"default", "champion"}  # the aliases moved
    assert list(versions["1"].version_aliases) == []
    provider.delete(first["versioned_name"], first)  # Pulumi deletes the replaced version
    assert set(fake.versions(MODEL)) == {"2"}
    assert provider.read(id2, second).id == id2


def test_second_run_shows_no_diff_and_refresh_reads_the_same(settings: VertexSettings) -> None:
    provider = VertexModelProvider(settings)
    id_, outs = created(provider, props())
    reordered = props(env={"A": "1", "MODELSTAGE_LOG": "info"}, version_aliases=["champion", "default"])
    assert provider.diff(id_, outs, reordered).changes is False
    read = provider.read(id_, outs)
    assert read.id == id_ and read.outs is not None
    assert provider.diff(id_, dict(read.outs), props()).changes is False
    assert {k: read.outs[k] for k in OUTPUT_KEYS} == {k: outs[k] for k in OUTPUT_KEYS}


@pytest.mark.parametrize("key", ["image_uri", "predict_route", "health_route", "env", "model_id"])
def test_container_or_identity_changes_replace(settings: VertexSettings, key: str) -> None:
    value: Any = {"env": {"A": "2"}}.get(key, "/other")
    diff = VertexModelProvider(settings).diff("x", props(), props(**{key: value}))
    assert diff.replaces == [key]


def test_labels_aliases_and_description_update_in_place(settings: VertexSettings, fake: FakeVertex) -> None:
    provider = VertexModelProvider(settings)
    id_, outs = created(provider, props())
    new = props(labels={"bundle_version": "1_2_0", "accuracy": "0_98"}, version_aliases=["challenger"],
                version_description="re-scored")
    diff = provider.diff(id_, outs, new)
    assert diff.changes and not diff.replaces
    updated = provider.update(id_, outs, new).outs
    assert updated is not None and updated["versioned_name"] == id_
    live = fake.versions(MODEL)["1"]
    assert live.labels["accuracy"] == "0_98" and live.labels[CONTENT_LABEL] == content_key(new)
    assert set(live.version_aliases) == {"default", "challenger"} and live.version_description == "re-scored"
    assert provider.diff(id_, dict(updated), new).changes is False


def test_create_after_a_lost_response_adopts_the_version_instead_of_uploading_again(
        settings: VertexSettings, fake: FakeVertex) -> None:
    provider = VertexModelProvider(settings)
    created(provider, props())
    # The earlier run uploaded version 2 and died before recording it; the re-run must find it.
    new = props(bundle_sha256="c" * 64)
    _, lost = created(provider, new)
    uploads = [r for r in fake.requests if r[1].endswith(":upload")]
    id_, outs = created(provider, new)
    assert id_ == lost["versioned_name"] == f"{MODEL}@2"
    assert [r for r in fake.requests if r[1].endswith(":upload")] == uploads  # no second upload
    assert set(fake.versions(MODEL)) == {"1", "2"} and outs["version_id"] == "2"


def test_going_back_to_a_retained_bundle_adopts_its_version_with_the_aliases(
        settings: VertexSettings, fake: FakeVertex) -> None:
    provider = VertexModelProvider(settings)
    created(provider, props())  # bundle A: version 1
    _, b = created(provider, props(bundle_sha256="c" * 64))  # bundle B: version 2 (prod retains version 1)
    id_, _ = created(provider, props())  # back to A
    assert id_ == f"{MODEL}@1"
    assert set(fake.versions(MODEL)["1"].version_aliases) == {"default", "champion"}
    assert list(fake.versions(MODEL)["2"].version_aliases) == []
    provider.delete(b["versioned_name"], b)  # B is no longer the default version, so it can go
    assert set(fake.versions(MODEL)) == {"1"}


def test_409_from_a_concurrent_first_upload_is_adopted(settings: VertexSettings, fake: FakeVertex) -> None:
    # A concurrent run finishes its first upload between our existence check and our upload.
    fake.inject("upload", "http409", before=lambda: _complete_upload(fake))
    id_, _ = created(VertexModelProvider(settings), props())
    assert id_ == f"{MODEL}@1" and set(fake.versions(MODEL)) == {"1"}


def _complete_upload(fake: FakeVertex) -> None:
    """Upload version 1 directly in the fake's state, as a concurrent run would have (no HTTP: we hold the lock)."""
    from google.cloud import aiplatform_v1 as v1

    norm_labels = {"bundle_version": "1_2_0", "accuracy": "0_97", CONTENT_LABEL: content_key(props())}
    fake.models[MODEL] = {"1": v1.Model(name=MODEL, version_id="1", version_aliases=["default"],
                                        labels=norm_labels, display_name="iris")}
    fake._next_version[MODEL] = 2  # pyright: ignore[reportPrivateUsage]


def test_409_with_nothing_to_adopt_fails_clearly_and_leaves_nothing(settings: VertexSettings, fake: FakeVertex) -> None:
    fake.inject("upload", "http409")
    with pytest.raises(VertexError, match=r"Conflict \(409\).*nothing was adopted") as err:
        VertexModelProvider(settings).create(props())
    assert fake.models == {}
    no_token(err.value)


def test_429_is_retried_by_the_client(settings: VertexSettings, fake: FakeVertex) -> None:
    fake.inject("upload", "http429")
    id_, _ = created(VertexModelProvider(settings), props())
    assert id_ == f"{MODEL}@1"
    assert sum(1 for _, p in fake.requests if p.endswith(":upload")) == 2
    assert set(fake.versions(MODEL)) == {"1"}


def test_a_failed_operation_raises_and_uploads_nothing(settings: VertexSettings, fake: FakeVertex) -> None:
    fake.inject("upload", "op_error")
    with pytest.raises(VertexError, match=r"upload_model for .*models/iris failed \(operation .*operations/\d+\)"):
        VertexModelProvider(settings).create(props())
    assert fake.models == {}


def test_an_operation_that_never_finishes_times_out_naming_it(settings: VertexSettings, fake: FakeVertex) -> None:
    fast = dataclasses.replace(settings, lro_timeout_s=0.3)
    fake.inject("upload", "op_never")
    with pytest.raises(VertexTimeout, match=r"upload_model for .*models/iris: operation .*/operations/\d+ "
                                            r"did not finish within 0.3s") as err:
        VertexModelProvider(fast).create(props())
    assert fake.models == {}
    no_token(err.value)


def test_errors_never_carry_the_token(settings: VertexSettings, fake: FakeVertex) -> None:
    fake.inject("upload", "http500_echo_auth")
    with pytest.raises(VertexError) as err:
        VertexModelProvider(settings).create(props())
    assert "[redacted]" in str(err.value) and "InternalServerError" in str(err.value)
    no_token(err.value, repr(err.value))
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer [redacted]"


def test_read_reports_a_deleted_version_as_gone(settings: VertexSettings, fake: FakeVertex) -> None:
    provider = VertexModelProvider(settings)
    id_, outs = created(provider, props())
    fake.models.clear()
    read = provider.read(id_, outs)
    assert read.id == "" and read.outs == {}
    provider.delete(id_, outs)  # already gone: nothing to do


def test_delete_of_the_last_version_deletes_the_model(settings: VertexSettings, fake: FakeVertex) -> None:
    provider = VertexModelProvider(settings)
    id_, outs = created(provider, props())
    provider.delete(id_, outs)
    assert fake.models == {}
    assert any(m == "DELETE" and p == f"/v1/{MODEL}" for m, p in fake.requests)


def test_delete_of_a_deployed_version_fails_saying_where(settings: VertexSettings, fake: FakeVertex) -> None:
    from google.cloud import aiplatform_v1 as v1

    provider = VertexModelProvider(settings)
    id_, outs = created(provider, props())
    fake.versions(MODEL)["1"].deployed_models.append(v1.DeployedModelRef(endpoint="projects/p/e/1",
                                                                         deployed_model_id="77"))
    with pytest.raises(VertexError, match=r"still deployed to projects/p/e/1 \(deployed model 77\)"):
        provider.delete(id_, outs)
    assert set(fake.versions(MODEL)) == {"1"}


def test_the_provider_pickles_without_a_client_or_a_token(settings: VertexSettings) -> None:
    provider = VertexModelProvider(settings)
    created(provider, props())  # after use, too: clients live only inside the methods
    assert set(vars(provider)) == {"settings"}
    blob = dill.dumps(provider, recurse=True)
    assert b"Client" not in blob and TOKEN.encode() not in blob
    restored = dill.loads(blob)
    assert isinstance(restored, VertexModelProvider) and restored.settings == settings
    assert serialize_provider(VertexModelProvider())  # what the engine stores for production


def test_a_call_that_hangs_hits_its_own_timeout(settings: VertexSettings, fake: FakeVertex) -> None:
    fake.inject("get_model", "slow")
    with pytest.raises(VertexError, match=r"get model .*models/iris failed: .*timeout per call 0.1s"):
        VertexModelProvider(dataclasses.replace(settings, rpc_timeout_s=0.1)).create(props())
    assert fake.models == {}
