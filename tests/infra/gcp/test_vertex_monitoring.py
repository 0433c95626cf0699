"""VertexMonitoringJob's provider through the real aiplatform JobServiceClient (REST) against the fake Vertex:
create with the expected job, no diff on a second run, in-place updates with an exact update mask (a
threshold change, a blue/green swap's new deployed model id), adoption instead of a second job, delete
(also of a job the service wants paused first), gone on read, a failed and an endless operation, no token
in errors or in the pickled provider, and the analysis instance schema."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

import dill
import pytest
import yaml
from google.cloud import aiplatform_v1 as v1

from infra.gcp.vertex.clients import VertexError, VertexSettings, VertexTimeout
from infra.gcp.vertex.monitoring import OUTPUT_KEYS, VertexMonitoringJobProvider, instance_schema_yaml
from infra.offline.runner import run_program
from tests.infra.gcp.conftest import ENDPOINT, PROJECT, REGION, TOKEN
from tests.infra.gcp.fake_vertex import FakeVertex, FakeVertexServer
from tests.infra.gcp.test_vertex_fake import send

PARENT = f"projects/{PROJECT}/locations/{REGION}"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SCHEMA = "gs://bucket/bundles/" + "b" * 16 + "/instance_schema.yaml"


@pytest.fixture(autouse=True)
def deployed(fake: FakeVertex) -> None:
    """Two deployed models on the endpoint (as VertexDeployment would leave them during a swap)."""
    for id_ in ("77", "78"):
        fake.endpoints[ENDPOINT].deployed_models.append(v1.DeployedModel(id=id_, model=f"{PARENT}/models/iris"))


def props(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "endpoint": ENDPOINT, "deployed_model_id": "77", "feature_names": FEATURES, "drift_threshold": 0.1,
        "analysis_instance_schema_uri": SCHEMA, "monitor_interval_hours": 6, "sample_rate": 0.5,
        "alert_emails": ["ml-oncall@example.com"], "log_ttl_days": 30, "display_name": "iris-drift",
        "__provider": "opaque", **dict.fromkeys(OUTPUT_KEYS),
    }
    return {**base, **over}


def created(provider: VertexMonitoringJobProvider, p: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    result = provider.create(p)
    assert result.outs is not None and result.id == result.outs["job_name"]
    return str(result.id), dict(result.outs)


def no_token(*texts: object) -> None:
    for text in texts:
        assert TOKEN not in str(text)


def test_create_sends_the_drift_job(settings: VertexSettings, fake: FakeVertex) -> None:
    id_, outs = created(VertexMonitoringJobProvider(settings), props())
    assert id_.startswith(f"{PARENT}/modelDeploymentMonitoringJobs/")
    job = fake.monitoring_jobs[id_]
    assert (job.display_name, job.endpoint, job.analysis_instance_schema_uri) == ("iris-drift", ENDPOINT, SCHEMA)
    [objective] = job.model_deployment_monitoring_objective_configs
    assert objective.deployed_model_id == "77"
    config = objective.objective_config
    assert {k: v.value for k, v in config.prediction_drift_detection_config.drift_thresholds.items()} == \
        dict.fromkeys(FEATURES, 0.1)
    assert "training_prediction_skew_detection_config" not in config and "training_dataset" not in config
    assert job.model_deployment_monitoring_schedule_config.monitor_interval == datetime.timedelta(hours=6)
    assert job.logging_sampling_strategy.random_sample_config.sample_rate == 0.5
    assert list(job.model_monitoring_alert_config.email_alert_config.user_emails) == ["ml-oncall@example.com"]
    assert job.log_ttl == datetime.timedelta(days=30)
    assert outs["drift_thresholds"] == dict.fromkeys(sorted(FEATURES), 0.1)
    # create is synchronous in v1: no operation was polled
    assert not any("/operations/" in path for _, path in fake.requests)
    no_token(outs)


def test_no_alert_emails_and_no_log_ttl(settings: VertexSettings, fake: FakeVertex) -> None:
    id_, _ = created(VertexMonitoringJobProvider(settings), props(alert_emails=[], log_ttl_days=0))
    job = fake.monitoring_jobs[id_]
    assert list(job.model_monitoring_alert_config.email_alert_config.user_emails) == []
    assert "log_ttl" not in job


def test_second_run_shows_no_diff_and_refresh_reads_the_same(settings: VertexSettings) -> None:
    provider = VertexMonitoringJobProvider(settings)
    id_, outs = created(provider, props())
    reordered = props(feature_names=list(reversed(FEATURES)), alert_emails=["ml-oncall@example.com"] * 2)
    assert provider.diff(id_, outs, reordered).changes is False
    read = provider.read(id_, outs)
    assert read.id == id_ and read.outs is not None
    assert provider.diff(id_, dict(read.outs), props()).changes is False
    assert read.outs["job_name"] == id_


@pytest.mark.parametrize(("key", "value"), [
    ("deployed_model_id", "78"), ("drift_threshold", 0.2), ("feature_names", FEATURES[:2]),
    ("monitor_interval_hours", 24), ("sample_rate", 0.1), ("alert_emails", []), ("log_ttl_days", 7),
    ("display_name", "renamed"),
])
def test_what_changes_in_place(settings: VertexSettings, key: str, value: Any) -> None:
    diff = VertexMonitoringJobProvider(settings).diff("j", props(), props(**{key: value}))
    assert diff.changes and not diff.replaces, key


@pytest.mark.parametrize(("key", "value"), [
    ("endpoint", f"{PARENT}/endpoints/9"), ("analysis_instance_schema_uri", "gs://bucket/other/schema.yaml"),
])
def test_endpoint_or_schema_change_replaces_deleting_first(settings: VertexSettings, key: str, value: Any) -> None:
    diff = VertexMonitoringJobProvider(settings).diff("j", props(), props(**{key: value}))
    assert diff.replaces == [key] and diff.delete_before_replace


def test_a_threshold_change_updates_in_place_with_an_exact_mask(settings: VertexSettings, fake: FakeVertex) -> None:
    provider = VertexMonitoringJobProvider(settings)
    id_, outs = created(provider, props())
    new = props(drift_threshold=0.25)
    assert provider.diff(id_, outs, new).changes
    updated = provider.update(id_, outs, new).outs
    assert updated is not None and updated["job_name"] == id_
    drift = fake.monitoring_jobs[id_].model_deployment_monitoring_objective_configs[0].objective_config
    assert {v.value for v in drift.prediction_drift_detection_config.drift_thresholds.values()} == {0.25}
    assert fake.monitoring_updates == [["model_deployment_monitoring_objective_configs"]]
    assert any(path.startswith("/ui/") and "/operations/" in path for _, path in fake.requests)  # awaited
    assert provider.diff(id_, dict(updated), new).changes is False
    assert provider.diff(id_, dict(provider.read(id_, dict(updated)).outs or {}), new).changes is False


def test_a_swap_and_a_new_schedule_update_only_those_fields(settings: VertexSettings, fake: FakeVertex) -> None:
    provider = VertexMonitoringJobProvider(settings)
    id_, outs = created(provider, props())
    provider.update(id_, outs, props(deployed_model_id="78", monitor_interval_hours=12))
    job = fake.monitoring_jobs[id_]
    assert job.model_deployment_monitoring_objective_configs[0].deployed_model_id == "78"
    assert job.model_deployment_monitoring_schedule_config.monitor_interval == datetime.timedelta(hours=12)
    assert job.logging_sampling_strategy.random_sample_config.sample_rate == 0.5  # untouched
    assert fake.monitoring_updates == [["model_deployment_monitoring_objective_configs",
                                        "model_deployment_monitoring_schedule_config"]]


def test_re_create_adopts_the_job_instead_of_a_second_one(settings: VertexSettings, fake: FakeVertex) -> None:
    provider = VertexMonitoringJobProvider(settings)
    lost, _ = created(provider, props())  # an earlier run created it and died before recording it
    again, outs = created(provider, props(sample_rate=0.25))
    assert again == lost and list(fake.monitoring_jobs) == [lost]
    assert sum(1 for m, p in fake.requests if m == "POST" and p.endswith("/modelDeploymentMonitoringJobs")) == 1
    assert fake.monitoring_jobs[lost].logging_sampling_strategy.random_sample_config.sample_rate == 0.25
    assert outs["sample_rate"] == 0.25


def _job(name: str, display_name: str = "iris-drift") -> v1.ModelDeploymentMonitoringJob:
    """A job another run made (directly in the fake's state: no HTTP, the test may hold the fake's lock)."""
    return v1.ModelDeploymentMonitoringJob(
        name=name, display_name=display_name, endpoint=ENDPOINT, analysis_instance_schema_uri=SCHEMA,
        state=v1.JobState.JOB_STATE_RUNNING,
        model_deployment_monitoring_objective_configs=[v1.ModelDeploymentMonitoringObjectiveConfig(
            deployed_model_id="78")])


def test_a_409_from_a_concurrent_create_is_adopted(settings: VertexSettings, fake: FakeVertex) -> None:
    name = f"{PARENT}/modelDeploymentMonitoringJobs/9"

    def concurrent() -> None:  # another run's job appears between our list and our create
        fake.monitoring_jobs[name] = _job(name)

    fake.inject("create_monitoring_job", "http409", before=concurrent)
    id_, _ = created(VertexMonitoringJobProvider(settings), props())
    assert id_ == name and list(fake.monitoring_jobs) == [name]
    job = fake.monitoring_jobs[id_]
    assert job.model_deployment_monitoring_objective_configs[0].deployed_model_id == "77"  # converged
    assert job.model_deployment_monitoring_schedule_config.monitor_interval == datetime.timedelta(hours=6)


def test_another_job_on_the_endpoint_fails_clearly(settings: VertexSettings, fake: FakeVertex) -> None:
    other = f"{PARENT}/modelDeploymentMonitoringJobs/5"
    fake.monitoring_jobs[other] = _job(other, display_name="someone-else")
    with pytest.raises(VertexError, match=r"Conflict \(409\).*no monitoring job named 'iris-drift' is on "
                                          r".*endpoints/4242, so nothing was adopted") as err:
        VertexMonitoringJobProvider(settings).create(props())
    assert list(fake.monitoring_jobs) == [other]
    no_token(err.value)


def test_adopting_a_job_with_another_schema_fails_clearly(settings: VertexSettings, fake: FakeVertex) -> None:
    provider = VertexMonitoringJobProvider(settings)
    created(provider, props())
    with pytest.raises(VertexError, match=r"different analysis_instance_schema_uri .*cannot update"):
        provider.create(props(analysis_instance_schema_uri="gs://bucket/other.yaml"))


def test_delete_awaits_the_operation_and_read_then_reports_gone(settings: VertexSettings, fake: FakeVertex) -> None:
    provider = VertexMonitoringJobProvider(settings)
    id_, outs = created(provider, props())
    provider.delete(id_, outs)
    assert fake.monitoring_jobs == {}
    assert any(m == "DELETE" and p == f"/v1/{id_}" for m, p in fake.requests)
    assert not any(p.endswith(":pause") for _, p in fake.requests)  # the API does not ask for it
    read = provider.read(id_, outs)
    assert read.id == "" and read.outs == {}
    provider.delete(id_, outs)  # already gone: nothing to do


def test_delete_pauses_first_when_the_service_insists(settings: VertexSettings, fake: FakeVertex) -> None:
    provider = VertexMonitoringJobProvider(settings)
    id_, outs = created(provider, props())
    fake.pause_before_delete = True
    provider.delete(id_, outs)
    assert fake.monitoring_jobs == {}
    assert [p for m, p in fake.requests if m in ("POST", "DELETE") and id_ in p] == \
        [f"/v1/{id_}", f"/v1/{id_}:pause", f"/v1/{id_}"]


def test_a_failed_update_operation_raises_naming_it(settings: VertexSettings, fake: FakeVertex) -> None:
    provider = VertexMonitoringJobProvider(settings)
    id_, outs = created(provider, props())
    fake.inject("update_monitoring_job", "op_error")
    with pytest.raises(VertexError, match=r"update_model_deployment_monitoring_job .*modelDeploymentMonitoringJobs/"
                                          r"\d+ failed \(operation .*/operations/\d+\)") as err:
        provider.update(id_, outs, props(drift_threshold=0.3))
    drift = fake.monitoring_jobs[id_].model_deployment_monitoring_objective_configs[0].objective_config
    assert {v.value for v in drift.prediction_drift_detection_config.drift_thresholds.values()} == {0.1}
    no_token(err.value)


def test_a_delete_that_never_finishes_times_out_naming_it(settings: VertexSettings, fake: FakeVertex) -> None:
    provider = VertexMonitoringJobProvider(dataclasses.replace(settings, lro_timeout_s=0.3))
    id_, outs = created(provider, props())
    fake.inject("delete_monitoring_job", "op_never")
    with pytest.raises(VertexTimeout, match=r"delete_model_deployment_monitoring_job .*: operation .*/operations/"
                                            r"\d+ did not finish within 0.3s") as err:
        provider.delete(id_, outs)
    no_token(err.value)


def test_create_naming_an_undeployed_model_fails_clearly(settings: VertexSettings, fake: FakeVertex) -> None:
    with pytest.raises(VertexError, match=r"create monitoring job in .* failed: BadRequest \(400\).*'99' is not "
                                          r"deployed"):
        VertexMonitoringJobProvider(settings).create(props(deployed_model_id="99"))
    assert fake.monitoring_jobs == {}


def test_errors_never_carry_the_token(settings: VertexSettings, fake: FakeVertex) -> None:
    fake.inject("list_monitoring_jobs", "http500_echo_auth")
    with pytest.raises(VertexError) as err:
        VertexMonitoringJobProvider(settings).create(props())
    assert "[redacted]" in str(err.value) and "InternalServerError" in str(err.value)
    no_token(err.value, repr(err.value))


def test_check_rejects_bad_inputs_and_lets_unknowns_pass(settings: VertexSettings) -> None:
    provider = VertexMonitoringJobProvider(settings)
    bad = props(feature_names=[], drift_threshold=10, sample_rate=0, monitor_interval_hours=0,
                alert_emails=["not-an-email"], analysis_instance_schema_uri="/tmp/schema.yaml")
    assert sorted(f.property for f in provider.check({}, bad).failures) == [
        "alert_emails", "analysis_instance_schema_uri", "drift_threshold", "feature_names",
        "monitor_interval_hours", "sample_rate"]
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert provider.check({}, props(analysis_instance_schema_uri=unknown, deployed_model_id=unknown)).failures == []


def test_the_provider_pickles_without_a_client_or_a_token(settings: VertexSettings) -> None:
    provider = VertexMonitoringJobProvider(settings)
    created(provider, props())  # after use, too: clients live only inside the methods
    assert set(vars(provider)) == {"settings"}
    blob = dill.dumps(provider, recurse=True)
    assert b"Client" not in blob and TOKEN.encode() not in blob
    restored = dill.loads(blob)
    assert isinstance(restored, VertexMonitoringJobProvider) and restored.settings == settings


def test_instance_schema_yaml_parses_back() -> None:
    text = instance_schema_yaml([*FEATURES, "odd: name #1", FEATURES[0]])
    schema = yaml.safe_load(text)
    names = [*FEATURES, "odd: name #1"]
    assert schema == {"type": "object", "properties": {n: {"type": "number"} for n in names}, "required": names}
    with pytest.raises(VertexError, match="no feature names"):
        instance_schema_yaml([])


def test_the_resource_registers_under_its_type_token(tmp_path: Path) -> None:
    program = tmp_path / "program.py"
    program.write_text(
        "from infra.gcp.vertex.monitoring import VertexMonitoringJob\n"
        "VertexMonitoringJob('drift', endpoint='projects/p/locations/us-central1/endpoints/1',\n"
        "                    deployed_model_id='77', feature_names=['a', 'b'], drift_threshold=0.1,\n"
        "                    analysis_instance_schema_uri='gs://b/s.yaml', alert_emails=['x@example.com'])\n")
    recording = run_program({}, stack="test", program=program)
    [job] = [r for r in recording.resources if r.typ == "pulumi-python:dynamic/vertex:MonitoringJob"]
    assert {"endpoint", "deployed_model_id", "feature_names", "drift_threshold", "__provider"} <= set(job.inputs)
    assert not {"settings", "credentials"} & set(job.inputs)


def test_the_fake_refuses_what_the_api_refuses(settings: VertexSettings, server: FakeVertexServer,
                                               fake: FakeVertex) -> None:
    id_, _ = created(VertexMonitoringJobProvider(settings), props())
    code, answer = send(server, "PATCH", f"/v1/{id_}?updateMask=analysisInstanceSchemaUri",
                        {"name": id_, "analysisInstanceSchemaUri": "gs://b/x.yaml"})
    assert code == 400 and "cannot be updated" in str(answer)
    code, answer = send(server, "POST", f"/v1/{PARENT}/modelDeploymentMonitoringJobs",
                        {"displayName": "x", "endpoint": ENDPOINT, "trainingDataset": {}})
    assert code == 400 and "trainingDataset" in str(answer)
    assert fake.violations and "ModelDeploymentMonitoringJob" in fake.violations[0]
    fake.violations.clear()  # seen; the fixture's check would fail the test otherwise
