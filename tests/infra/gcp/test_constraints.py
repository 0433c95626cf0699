"""Every recorded input of the GCP stacks against GCP's own published constraints (the aiplatform_v1
protos and the Vertex API's documented rules, Google's API discovery documents with the rules the API
references state in prose, the IAM roles catalogue), with the names pulumi-gcp makes; and, for each
rule family, a recorded value GCP would refuse that the checks refuse. No network: every catalogue is
package data."""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Mapping
from typing import Any

import pytest

from infra import clouds
from infra.gcp.constraints import gcp_checks
from infra.gcp.constraints.names import AUTO_SUFFIX, MOCK_SUFFIX
from infra.offline.constraints import CheckResult, Violation, format_unchecked, format_violations, run_checks
from infra.offline.recording import Registration
from infra.offline.runner import Recording
from infra.offline.stack_config import load_stack_config
from tests.infra.conftest import ROOT, Run

REGION = "europe-west4"
ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
MODEL = "pulumi-python:dynamic/vertex:Model"
DEPLOYMENT = "pulumi-python:dynamic/vertex:Deployment"
MONITORING_JOB = "pulumi-python:dynamic/vertex:MonitoringJob"
BUCKET = "gcp:storage/bucket:Bucket"

# What the checks may leave unchecked in the real stacks: the providers' own settings.
NOT_CHECKED = {
    ("gcp:bigquery/dataset:Dataset", "deleteContentsOnDestroy"),
    ("gcp:projects/service:Service", "disableDependentServices"),
    ("gcp:projects/service:Service", "disableOnDestroy"),
    ("gcp:storage/bucket:Bucket", "forceDestroy"),
    ("gcp:storage/bucketObject:BucketObject", "content"),
    ("gcp:storage/bucketObject:BucketObject", "source"),
    (MODEL, "bundle_sha256"),
    (DEPLOYMENT, "bake_seconds"),
    (DEPLOYMENT, "display_name"),
    (DEPLOYMENT, "rollout"),
    (DEPLOYMENT, "step_percent"),
}

def _region(stack: str) -> str:
    return load_stack_config(ROOT, stack)["modelstage:region"]


def _check(recording: Recording) -> CheckResult:
    """The checks the stack's cloud plugs into the offline harness (Cloud.constraint_checks)."""
    return run_checks(clouds.get(recording.cloud).constraint_checks(_region(recording.stack)), recording)


def resource(typ: str, logical: str, /, **inputs: Any) -> Registration:
    return Registration(typ=typ, name=logical, urn=f"urn:pulumi:t::modelstage::{typ}::{logical}", parent="",
                        inputs=inputs, custom=True, protect=False, retain_on_delete=False, provider="")


def recording_of(*resources: Registration) -> Recording:
    return Recording(stack="t", cloud="gcp", resources=list(resources), outputs={}, calls=[])


def violations(*resources: Registration) -> list[Violation]:
    return run_checks(gcp_checks(REGION), recording_of(*resources)).violations


def rules(found: list[Violation]) -> set[tuple[str, str]]:
    return {(v.path, v.rule) for v in found}


def _inputs(recording: Recording, typ: str) -> dict[str, Any]:
    return dict(recording.of_type(typ)[0].inputs)


# -- the real stacks ------------------------------------------------------------------------------


def test_every_recorded_input_passes(gcp_recording: Recording) -> None:
    result = _check(gcp_recording)
    assert result.ok, format_violations(result.violations, heading=f"{gcp_recording.stack}: ")


def test_a_ten_digit_endpoint_id_is_refused(gcp_recording: Recording) -> None:
    """pulumi-gcp's docs allow 10 digits; the Vertex API takes at most 9 for an id starting with a digit
    (the old infra/gcp/names.endpoint_id made 10)."""
    endpoint = copy.deepcopy(gcp_recording.of_type(ENDPOINT)[0])
    endpoint.inputs["name"] = "1315729018"
    assert ("name", "pattern") in rules(run_checks(gcp_checks(REGION), recording_of(endpoint)).violations)


@pytest.mark.parametrize("overrides", [
    {"dataCapturePercent": "0"},
    {"rolloutStrategy": "canary", "rolloutStepPercent": "20", "minInstances": "2", "maxInstances": "4"},
    {"gcpCustomerKey": "true"},
], ids=["capture-off", "canary", "customer-key"])
def test_the_other_shapes_of_a_stack_pass_too(run_stack: Run, overrides: dict[str, str]) -> None:
    recording = run_stack("gcp-dev", **overrides)
    result = _check(recording)
    assert result.ok, format_violations(result.violations)
    assert {(u.resource_type, u.path) for u in result.unchecked} <= NOT_CHECKED, format_unchecked(result.unchecked)


def test_the_not_checked_members_stay_few(gcp_recording: Recording) -> None:
    result = _check(gcp_recording)
    print(format_unchecked(result.unchecked))
    assert {(u.resource_type, u.path) for u in result.unchecked} <= NOT_CHECKED, format_unchecked(result.unchecked)


def test_every_recorded_type_is_covered(gcp_recording: Recording) -> None:
    result = _check(gcp_recording)
    assert not [u for u in result.unchecked if u.path == "*"], format_unchecked(result.unchecked)


def test_one_stack_is_checked_quickly(gcp_recordings: Mapping[str, Recording]) -> None:
    start = time.perf_counter()
    _check(gcp_recordings["gcp-prod"])
    assert time.perf_counter() - start < 10


# -- labels ----------------------------------------------------------------------------------------


def test_a_label_value_with_an_uppercase_letter_is_a_violation() -> None:
    bucket = resource(BUCKET, "b", name="my-bucket", location="EUROPE-WEST4", labels={"team": "ML"})
    found = violations(bucket)
    assert rules(found) == {("labels.team", "label value")}
    assert "labels-overview" in found[0].source


def test_label_keys_and_counts_follow_gcp_rules() -> None:
    labels = {"Team": "ml", "9lives": "x", "k" * 64: "v", "ok": "v" * 64, "übung": "größe"}
    found = violations(resource(BUCKET, "b", name="my-bucket", labels=labels))
    assert rules(found) == {("labels key 'Team'", "label key"), ("labels key '9lives'", "label key"),
                            (f"labels key {'k' * 64!r}", "label key length"), ("labels.ok", "label value length")}
    many = {f"k{i}": "v" for i in range(65)}
    assert rules(violations(resource(BUCKET, "b", name="my-bucket", labels=many))) == {("labels", "max labels")}


def test_a_notification_channels_settings_are_not_labels() -> None:
    channel = resource("gcp:monitoring/notificationChannel:NotificationChannel", "c", type="email",
                       labels={"email_address": "On-Call@example.com"}, userLabels={"team": "ml"})
    assert violations(channel) == []


# -- discovery documents and the API references' rules ----------------------------------------------


def test_a_bucket_name_too_long_only_with_pulumis_suffix_is_a_violation() -> None:
    # Bucket names: at most 63 characters. The mock's "-0000000" is as long as the real suffix; the check
    # must use the real one, in the bucket's own input and where another resource quotes the bucket.
    fits, too_long = "b" * (63 - 1 - len(AUTO_SUFFIX)), "b" * (64 - 1 - len(AUTO_SUFFIX))
    assert violations(resource(BUCKET, fits, location="EUROPE-WEST4")) == []
    found = violations(resource(BUCKET, too_long, location="EUROPE-WEST4"),
                       resource("gcp:storage/bucketIAMMember:BucketIAMMember", "m", bucket=f"{too_long}-{MOCK_SUFFIX}",
                                role="roles/storage.objectViewer", member="user:a@example.com"))
    assert rules(found) == {("name", "length"), ("bucket", "length")}
    assert {v.value for v in found} == {f"{too_long}-{AUTO_SUFFIX}"}


def test_an_account_id_too_short_is_a_violation() -> None:
    found = violations(resource("gcp:serviceaccount/account:Account", "a", accountId="srv", project="p"))
    assert rules(found) == {("accountId", "min length")}
    assert "CreateServiceAccountRequest.accountId" in found[0].source
    assert rules(violations(resource("gcp:serviceaccount/account:Account", "a", accountId="serving-", project="p"))) \
        == {("accountId", "pattern")}


def test_an_unknown_enum_value_is_a_violation() -> None:
    key = resource("gcp:kms/cryptoKey:CryptoKey", "k", name="artifacts", keyRing="projects/p/locations/l/keyRings/r",
                   purpose="ENCRYPT_DECRYPT_ALL", rotationPeriod="7776000s")
    found = violations(key)
    assert rules(found) == {("purpose", "enum")}
    assert "ENCRYPT_DECRYPT" in found[0].allowed and "cloudkms.v1" in found[0].source


def test_types_durations_and_numbers_are_checked() -> None:
    key = resource("gcp:kms/cryptoKey:CryptoKey", "k", name="artifacts", keyRing="r", rotationPeriod="90d")
    assert rules(violations(key)) == {("rotationPeriod", "format")}
    job = resource("gcp:cloudscheduler/job:Job", "j", name="batch", schedule="0 3 * * *", attemptDeadline="3600s",
                   httpTarget={"uri": "https://example.com", "httpMethod": "POST"})
    assert rules(violations(job)) == {("attemptDeadline", "max value")}
    dataset = resource("gcp:bigquery/dataset:Dataset", "d", datasetId="capture-dev", defaultTableExpirationMs=1000.0,
                       isCaseInsensitive="yes")
    assert rules(violations(dataset)) == {("datasetReference.datasetId", "pattern"),
                                          ("defaultTableExpirationMs", "min value"), ("isCaseInsensitive", "type")}


def test_the_ids_of_each_api_are_checked() -> None:
    assert rules(violations(resource("gcp:artifactregistry/repository:Repository", "r", repositoryId="Images_1",
                                     format="DOCKER"))) == {("repositoryId", "pattern")}
    assert rules(violations(resource("gcp:kms/keyRing:KeyRing", "r", name="ring.1", location="l"))) == {
        ("name", "pattern")}
    assert rules(violations(resource("gcp:projects/iAMCustomRole:IAMCustomRole", "r", roleId="my-role",
                                     title="t", permissions=[]))) == {("roleId", "pattern")}
    assert rules(violations(resource("gcp:logging/projectBucketConfig:ProjectBucketConfig", "b",
                                     bucketId="-logs", location="global", retentionDays=0.0))) == {
        ("bucketId", "pattern"), ("retentionDays", "min value")}
    assert rules(violations(resource("gcp:cloudscheduler/job:Job", "j", name="batch job", schedule="x"))) == {
        ("name", "pattern")}
    assert rules(violations(resource(ENDPOINT, "e", name="0123", displayName="e", location="l"))) == {
        ("name", "pattern")}
    assert violations(resource(ENDPOINT, "e", name="123456789", displayName="e", location="l")) == []


def test_pulumi_gcp_shapes_become_the_apis() -> None:
    bucket = resource(BUCKET, "b", name="my-bucket", uniformBucketLevelAccess=True, publicAccessPrevention="enforced",
                      lifecycleRules=[{"action": {"type": "Delete"},
                                       "condition": {"withState": "ARCHIVED", "daysSinceNoncurrentTime": 7.0}}])
    repository = resource("gcp:artifactregistry/repository:Repository", "r", repositoryId="images", format="DOCKER",
                          cleanupPolicies=[{"id": "keep", "action": "KEEPS", "condition": {"tagState": "TAGGED"}}])
    assert rules(violations(bucket, repository)) == {("cleanupPolicies.keep.action", "enum")}


def test_a_member_that_cannot_be_mapped_is_not_checked_rather_than_refused() -> None:
    result = run_checks(gcp_checks(REGION), recording_of(resource(BUCKET, "b", name="my-bucket", somethingNew=1)))
    assert result.ok
    assert [(u.resource_type, u.path) for u in result.unchecked] == [(BUCKET, "somethingNew")]


# -- IAM: roles, grantability, custom role permissions ----------------------------------------------


def _member(typ: str, role: str, **inputs: Any) -> Registration:
    return resource(typ, "m", role=role, member="serviceAccount:s@p.iam.gserviceaccount.com", **inputs)


def test_a_role_that_does_not_exist_is_a_violation() -> None:
    found = violations(_member("gcp:storage/bucketIAMMember:BucketIAMMember", "roles/storage.objectReader",
                               bucket="my-bucket"))
    assert rules(found) == {("role", "unknown role")}
    assert "roles/storage.objectViewer" in found[0].allowed and "gcp_roles.json" in found[0].source
    assert rules(violations(_member("gcp:projects/iAMMember:IAMMember", "storage.objectViewer", project="p"))) == {
        ("role", "role format")}


def test_a_storage_role_bound_on_a_repository_is_a_violation() -> None:
    found = violations(_member("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
                               "roles/storage.objectViewer", repository="images", location="l"))
    assert rules(found) == {("role", "not grantable here")}
    assert violations(_member("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
                              "roles/artifactregistry.reader", repository="images", location="l")) == []


def test_a_custom_role_is_grantable_where_its_permissions_apply() -> None:
    role = resource("gcp:projects/iAMCustomRole:IAMCustomRole", "r", project="p", roleId="batch", title="t",
                    permissions=["aiplatform.batchPredictionJobs.create"])
    on_project = _member("gcp:projects/iAMMember:IAMMember", "projects/p/roles/batch", project="p")
    on_bucket = _member("gcp:storage/bucketIAMMember:BucketIAMMember", "projects/p/roles/batch", bucket="my-bucket")
    assert rules(violations(role, on_project, on_bucket)) == {("role", "not grantable here")}


def test_a_custom_role_permission_that_does_not_exist_is_a_violation() -> None:
    role = resource("gcp:projects/iAMCustomRole:IAMCustomRole", "r", project="p", roleId="batch", title="t",
                    permissions=["aiplatform.batchPredictionJobs.create", "aiplatform.batchPredictionJobs.launch",
                                 "aiplatform.batchPredictionJobs"])
    found = violations(role)
    assert rules(found) == {("permissions[1]", "unknown permission"), ("permissions[2]", "permission format")}


def test_a_principal_of_no_documented_form_is_a_violation() -> None:
    member = resource("gcp:projects/iAMMember:IAMMember", "m", project="p", role="roles/logging.logWriter",
                      member="s@p.iam.gserviceaccount.com")
    assert rules(violations(member)) == {("member", "principal format")}


# -- Vertex: the requests the dynamic resources send ------------------------------------------------


def _model(recording: Recording, **changes: Any) -> Registration:
    r = recording.of_type(MODEL)[0]
    return resource(MODEL, r.name, **{**r.inputs, **changes})


def _deployment(recording: Recording, **changes: Any) -> Registration:
    r = recording.of_type(DEPLOYMENT)[0]
    return resource(DEPLOYMENT, r.name, **{**r.inputs, **changes})


def test_the_real_vertex_requests_pass(gcp_recordings: Mapping[str, Recording]) -> None:
    dev = gcp_recordings["gcp-dev"]
    assert violations(_model(dev), _deployment(dev)) == []


def test_a_vertex_display_name_too_long_is_a_violation(gcp_recordings: Mapping[str, Recording]) -> None:
    found = violations(_model(gcp_recordings["gcp-dev"], display_name="m" * 129))
    assert rules(found) == {("display_name", "max length")}
    assert "Model.display_name" in found[0].source


def test_an_alias_vertex_refuses_is_a_violation(gcp_recordings: Mapping[str, Recording]) -> None:
    found = violations(_model(gcp_recordings["gcp-dev"], version_aliases=["champion", "Champion!", "default"]))
    assert rules(found) == {("version_aliases[1]", "pattern"), ("version_aliases[2]", "reserved alias")}
    assert {v.value for v in found} == {"Champion!", "default"}


def test_the_container_spec_is_checked(gcp_recordings: Mapping[str, Recording]) -> None:
    dev = gcp_recordings["gcp-dev"]
    tagged = _inputs(dev, MODEL)["image_uri"].split("@")[0] + ":latest"
    found = violations(_model(dev, image_uri=tagged, predict_route="predict", env={"BAD-NAME": "1"},
                              model_id="1model"))
    assert rules(found) == {("image_uri", "by digest"), ("predict_route", "pattern"), ("env.BAD-NAME", "pattern"),
                            ("model_id", "pattern")}


def test_the_monitoring_job_is_checked(gcp_recordings: Mapping[str, Recording]) -> None:
    prod = gcp_recordings["gcp-prod"]
    jobs = prod.of_type(MONITORING_JOB)
    if not jobs:
        pytest.skip("gcp-prod declares no Vertex monitoring job")
    job = jobs[0]
    assert violations(resource(job.typ, job.name, **job.inputs)) == []
    found = violations(resource(job.typ, job.name, **{**job.inputs, "sample_rate": 0.0, "drift_threshold": 0.0,
                                                      "display_name": "d" * 129}))
    assert {p for p, _ in rules(found)} >= {"sample_rate", "display_name"}
    assert any(p.startswith("drift_thresholds.") for p, _ in rules(found))


def test_replicas_autoscaling_and_machine_type_are_checked(gcp_recordings: Mapping[str, Recording]) -> None:
    dev = gcp_recordings["gcp-dev"]
    found = violations(_deployment(dev, min_replicas=3, max_replicas=2, cpu_target=150, machine_type=""))
    assert rules(found) == {("max_replicas", "min value"), ("cpu_target", "range"), ("machine_type", "required")}
    assert all("aiplatform_v1 proto comment" in v.source for v in found)


def test_the_batch_job_a_scheduler_creates_is_parsed_as_the_api_does(gcp_recordings: Mapping[str, Recording]) -> None:
    job = gcp_recordings["gcp-dev"].of_type("gcp:cloudscheduler/job:Job")[0]
    body = json.loads(base64.b64decode(job.inputs["httpTarget"]["body"]))
    assert violations(resource(job.typ, job.name, **job.inputs)) == []
    bad = base64.b64encode(json.dumps({**body, "replicaCount": 2}).encode()).decode()
    found = violations(resource(job.typ, job.name, **{**job.inputs, "httpTarget": {**job.inputs["httpTarget"],
                                                                                   "body": bad}}))
    assert rules(found) == {("httpTarget.body", "BatchPredictionJob")}
