"""The GCP program under mocks, for each gcp stack file as the CLI loads it: the store, the registry,
the identities and their grants member by member, protection per environment, the endpoint, the
model version, batch scoring and the outputs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from google.cloud import aiplatform_v1
from google.protobuf import json_format

from infra.offline.runner import Recording, run_program
from model.bundle import Bundle
from tests.infra.conftest import GCP_STACKS, Run, stack_config

BUCKET = "gcp:storage/bucket:Bucket"
ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
MODEL = "pulumi-python:dynamic/vertex:Model"
KEY = "gcp:kms/cryptoKey:CryptoKey"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
DATASET = "gcp:bigquery/dataset:Dataset"
JOB = "gcp:cloudscheduler/job:Job"
IAM_TYPES = ("gcp:storage/bucketIAMMember:BucketIAMMember",
             "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
             "gcp:projects/iAMMember:IAMMember", "gcp:serviceaccount/iAMMember:IAMMember",
             "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
PRIMITIVE = {"roles/owner", "roles/editor", "roles/viewer"}


def grants(rec: Recording) -> list[tuple[str, str, str, str]]:
    """(resource type, role, member, condition expression) for every IAM grant the stack makes."""
    out = []
    for r in rec.resources:
        if r.typ in IAM_TYPES:
            condition: dict[str, Any] = r.inputs.get("condition") or {}
            out.append((r.typ.split(":")[1], r.inputs["role"], r.inputs["member"], condition.get("expression", "")))
    return out


def test_outputs_have_the_shape_every_cloud_exports(gcp_recording: Recording) -> None:
    out = gcp_recording.outputs
    project = {"gcp-dev": "my-ml-dev", "gcp-prod": "my-ml-prod"}[gcp_recording.stack]
    endpoint_id = out["endpoint_id"]
    assert endpoint_id.isdigit() and len(endpoint_id) == 9 and not endpoint_id.startswith("0")
    assert out["endpoint_name"] == f"projects/{project}/locations/europe-west4/endpoints/{endpoint_id}"
    assert out["invoke_url"] == (f"https://europe-west4-aiplatform.googleapis.com/v1/projects/{project}/locations/"
                                 f"europe-west4/endpoints/{endpoint_id}:predict")
    assert out["model_version_id"].endswith("@1") and out["cloud"] == "gcp" and out["region"] == "europe-west4"
    assert out["image_digest"].startswith(f"europe-west4-docker.pkg.dev/{project}/")
    assert "@sha256:" in out["image_digest"]
    assert out["artifact_uri"].startswith("gs://") and out["artifact_uri"].endswith("/")


def test_the_bucket_is_private_uniform_versioned_in_the_region(gcp_recording: Recording) -> None:
    bucket = gcp_recording.one(BUCKET).inputs
    assert bucket["publicAccessPrevention"] == "enforced" and bucket["uniformBucketLevelAccess"] is True
    assert bucket["versioning"] == {"enabled": True} and bucket["location"] == "EUROPE-WEST4"
    (rule,) = bucket["lifecycleRules"]
    assert rule["action"] == {"type": "Delete"} and rule["condition"]["withState"] == "ARCHIVED"
    assert rule["condition"]["daysSinceNoncurrentTime"] == {"gcp-dev": 7, "gcp-prod": 365}[gcp_recording.stack]


def test_prod_encrypts_with_its_own_key_and_dev_with_googles(gcp_recordings: dict[str, Recording]) -> None:
    dev, prod = gcp_recordings["gcp-dev"], gcp_recordings["gcp-prod"]
    assert dev.of_type(KEY) == [] and "encryption" not in dev.one(BUCKET).inputs
    key = prod.one(KEY)
    assert key.inputs["rotationPeriod"] == "7776000s" and key.protect
    key_id = prod.one(BUCKET).inputs["encryption"]["defaultKmsKeyName"]
    assert key_id.endswith("/cryptoKeys/artifacts")
    assert prod.one(ENDPOINT).inputs["encryptionSpec"] == {"kmsKeyName": key_id}
    assert prod.one(REPOSITORY).inputs["kmsKeyName"] == key_id
    assert prod.one(DATASET).inputs["defaultEncryptionConfiguration"] == {"kmsKeyName": key_id}
    users = sorted(m for _, role, m, _ in grants(prod) if role == "roles/cloudkms.cryptoKeyEncrypterDecrypter")
    assert [u.split("@")[1] for u in users] == [
        "bigquery-encryption.iam.gserviceaccount.com", "gcp-sa-aiplatform.iam.gserviceaccount.com",
        "gcp-sa-artifactregistry.iam.gserviceaccount.com", "gs-project-accounts.iam.gserviceaccount.com"]


def test_every_grant_is_least_privilege(gcp_recording: Recording) -> None:
    project = gcp_recording.outputs["project"]
    accounts = {f"serviceAccount:house-prices-{env}-{role}@{project}.iam.gserviceaccount.com"
                for env in ("dev", "prod") for role in ("serve", "batch")}
    for typ, role, member, condition in grants(gcp_recording):
        assert role not in PRIMITIVE and "allUsers" not in member and "allAuthenticatedUsers" not in member
        assert member in accounts or member.startswith("serviceAccount:service-") or member.startswith(
            "serviceAccount:bq-"), member
        if typ == "storage/bucketIAMMember":  # objects under one prefix only, listing included
            assert condition.startswith('resource.name.startsWith("projects/_/buckets/')
            assert 'api.getAttribute("storage.googleapis.com/objectListPrefix", "")' in condition
        if typ == "projects/iAMMember":  # only what GCP cannot scope to a resource
            assert role in ("roles/logging.logWriter", "roles/monitoring.metricWriter") or role.startswith(
                f"projects/{project}/roles/modelstage_")


def test_the_serving_account_reads_the_model_and_pulls_the_image_and_nothing_else(gcp_recording: Recording) -> None:
    serving = f"serviceAccount:house-prices-{gcp_recording.stack[4:]}-serve@"
    mine = sorted((typ, role, cond.split("/objects/")[1].split('"')[0] if "/objects/" in cond else "")
                  for typ, role, m, cond in grants(gcp_recording) if m.startswith(serving))
    assert mine == [
        ("artifactregistry/repositoryIamMember", "roles/artifactregistry.reader", ""),
        ("projects/iAMMember", "roles/logging.logWriter", ""),
        ("projects/iAMMember", "roles/monitoring.metricWriter", ""),
        ("storage/bucketIAMMember", "roles/storage.objectCreator", "batch/output/"),
        ("storage/bucketIAMMember", "roles/storage.objectViewer", "batch/input/"),
        ("storage/bucketIAMMember", "roles/storage.objectViewer", "models/house-prices/"),
    ]


def test_the_scheduler_may_only_start_batch_jobs_as_the_serving_account(gcp_recording: Recording) -> None:
    role = gcp_recording.one("gcp:projects/iAMCustomRole:IAMCustomRole").inputs
    assert role["permissions"] == ["aiplatform.batchPredictionJobs.create"]
    acts_as = gcp_recording.one("gcp:serviceaccount/iAMMember:IAMMember").inputs
    assert acts_as["role"] == "roles/iam.serviceAccountUser" and "-batch@" in acts_as["member"]
    serving = "-serve@" + gcp_recording.outputs["project"] + ".iam.gserviceaccount.com"
    assert acts_as["serviceAccountId"].endswith(serving)


def test_stores_of_record_are_protected_and_retained_in_prod_only(gcp_recordings: dict[str, Recording]) -> None:
    for stack, expected in (("gcp-dev", False), ("gcp-prod", True)):
        rec = gcp_recordings[stack]
        for typ in (BUCKET, REPOSITORY):
            r = rec.one(typ)
            assert (r.protect, r.retain_on_delete) == (expected, expected), (stack, typ)
        assert rec.one(BUCKET).inputs["forceDestroy"] is (not expected)  # dev empties it on destroy
        assert rec.one(MODEL).retain_on_delete is expected  # every model version stays in prod
        assert rec.one(DATASET).inputs["deleteContentsOnDestroy"] is (not expected)


def test_services_are_enabled_and_never_disabled_on_destroy(gcp_recording: Recording) -> None:
    services = {r.inputs["service"]: r.inputs for r in gcp_recording.of_type("gcp:projects/service:Service")}
    assert {"aiplatform.googleapis.com", "artifactregistry.googleapis.com", "storage.googleapis.com",
            "monitoring.googleapis.com", "logging.googleapis.com", "cloudscheduler.googleapis.com",
            "iam.googleapis.com"} <= set(services)
    assert all(s["disableOnDestroy"] is False for s in services.values())


def test_the_model_version_carries_the_container_contract(gcp_recording: Recording, bundle: Bundle) -> None:
    model = gcp_recording.one(MODEL).inputs
    assert model["image_uri"] == gcp_recording.outputs["image_digest"]
    assert model["artifact_uri"] == gcp_recording.outputs["artifact_uri"]
    assert (model["predict_route"], model["health_route"]) == ("/predict", "/health")
    assert model["env"] == {"MODELSTAGE_BUNDLE_SHA256": bundle.archive_sha256(),
                            "MODELSTAGE_BUNDLE_MANIFEST_SHA256": bundle.manifest_sha256()}
    assert model["version_aliases"] == ["champion"] and model["bundle_sha256"] == bundle.archive_sha256()
    labels = model["labels"]
    assert all(k.replace("-", "").replace("_", "").isalnum() and k == k.lower() for k in labels)
    assert all(len(v) <= 63 and v == v.lower() for v in labels.values())


def test_the_endpoint_logs_requests_to_bigquery_when_capture_is_on(gcp_recordings: dict[str, Recording]) -> None:
    for stack, rate in (("gcp-dev", 1.0), ("gcp-prod", 0.2)):
        rec = gcp_recordings[stack]
        logging = rec.one(ENDPOINT).inputs["predictRequestResponseLoggingConfig"]
        dataset = rec.one(DATASET).inputs
        assert logging["enabled"] is True and logging["samplingRate"] == pytest.approx(rate)
        assert logging["bigqueryDestination"]["outputUri"] == (
            f"bq://{rec.outputs['project']}.{dataset['datasetId']}.request_response_logging")
        days = {"gcp-dev": 7, "gcp-prod": 90}[stack]
        assert dataset["defaultTableExpirationMs"] == days * 86_400_000


def test_capture_off_means_no_dataset_and_no_logging(run_stack: Run) -> None:
    rec = run_stack("gcp-dev", dataCapturePercent="0")
    assert rec.of_type(DATASET) == [] and "predictRequestResponseLoggingConfig" not in rec.one(ENDPOINT).inputs


def test_the_batch_job_posts_a_batch_prediction_job_vertex_accepts(gcp_recording: Recording) -> None:
    job = gcp_recording.one(JOB).inputs
    target = job["httpTarget"]
    assert target["uri"].endswith(f"/v1/projects/{gcp_recording.outputs['project']}/locations/europe-west4/"
                                  "batchPredictionJobs")
    assert target["oauthToken"]["serviceAccountEmail"].endswith(".iam.gserviceaccount.com")
    body = base64.b64decode(target["body"])
    parsed = aiplatform_v1.BatchPredictionJob()
    json_format.Parse(body, parsed._pb, ignore_unknown_fields=False)  # a field Vertex lacks fails here
    assert parsed.model == gcp_recording.outputs["model_version_id"]
    assert parsed.input_config.gcs_source.uris[0].endswith("/batch/input/*")
    assert parsed.output_config.gcs_destination.output_uri_prefix.endswith("/batch/output/")
    assert parsed.service_account.endswith("-serve@" + gcp_recording.outputs["project"] + ".iam.gserviceaccount.com")
    assert job["schedule"] == {"gcp-dev": "0 6 * * 1", "gcp-prod": "0 3 * * *"}[gcp_recording.stack]


def test_alert_policies_watch_this_endpoint(gcp_recording: Recording) -> None:
    endpoint_id = gcp_recording.outputs["endpoint_id"]
    policies = gcp_recording.of_type("gcp:monitoring/alertPolicy:AlertPolicy")
    assert len(policies) == 2
    for policy in policies:
        (condition,) = policy.inputs["conditions"]
        threshold = condition["conditionThreshold"]
        assert f'resource.labels.endpoint_id = "{endpoint_id}"' in threshold["filter"]
        assert threshold["comparison"] == "COMPARISON_GT"
    sink = gcp_recording.one("gcp:logging/projectSink:ProjectSink").inputs
    assert f'resource.labels.endpoint_id = "{endpoint_id}"' in sink["filter"]
    retention = gcp_recording.one("gcp:logging/projectBucketConfig:ProjectBucketConfig").inputs["retentionDays"]
    assert retention == {"gcp-dev": 7, "gcp-prod": 90}[gcp_recording.stack]


def test_the_model_version_is_deployed_on_the_endpoint_with_the_stacks_rollout(gcp_recording: Recording) -> None:
    deployment = gcp_recording.one("pulumi-python:dynamic/vertex:Deployment").inputs
    prod = gcp_recording.stack == "gcp-prod"
    assert deployment["endpoint"] == gcp_recording.outputs["endpoint_name"]
    assert deployment["model"] == gcp_recording.outputs["model_version_id"]
    assert deployment["service_account"].startswith(f"house-prices-{gcp_recording.stack[4:]}-serve@")
    assert (deployment["machine_type"], deployment["min_replicas"], deployment["max_replicas"]) == (
        ("n1-standard-4", 2, 6) if prod else ("n1-standard-2", 1, 2))
    assert deployment["cpu_target"] == (50 if prod else 60)
    assert (deployment["rollout"], deployment["step_percent"], deployment["bake_seconds"]) == (
        ("canary", 25, 600.0) if prod else ("all-at-once", 10, 180.0))


def test_prod_monitors_drift_on_the_deployed_model_and_dev_does_not(gcp_recordings: dict[str, Recording],
                                                                    bundle: Bundle) -> None:
    assert gcp_recordings["gcp-dev"].of_type("pulumi-python:dynamic/vertex:MonitoringJob") == []
    rec = gcp_recordings["gcp-prod"]
    job = rec.one("pulumi-python:dynamic/vertex:MonitoringJob").inputs
    deployment = rec.one("pulumi-python:dynamic/vertex:Deployment")
    assert job["endpoint"] == rec.outputs["endpoint_name"]
    assert job["deployed_model_id"] == "1000000000000000001"  # the deployment's output (mocked)
    assert any(deployment.urn in urns for urns in rec.one("pulumi-python:dynamic/vertex:MonitoringJob")
               .property_dependencies.values())
    assert job["feature_names"] == [f.name for f in bundle.schema.features]
    assert (job["drift_threshold"], job["monitor_interval_hours"], job["sample_rate"]) == (0.1, 6, 0.2)
    assert job["alert_emails"] == ["ml-oncall@example.com"] and job["log_ttl_days"] == 90
    schema = next(r for r in rec.of_type("gcp:storage/bucketObject:BucketObject")
                  if r.inputs["name"].endswith("instance_schema.yaml"))
    assert job["analysis_instance_schema_uri"].endswith("/" + schema.inputs["name"])
    import yaml

    content = schema.inputs["content"]  # pulumi-gcp marks object contents secret
    parsed = yaml.safe_load(content["value"] if isinstance(content, dict) else content)
    assert parsed["type"] == "object" and set(parsed["properties"]) == set(job["feature_names"])


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_preview_declares_what_up_declares(bundle: Bundle, stack: str) -> None:
    config = stack_config(stack, bundle)
    up, preview = run_program(config, stack=stack), run_program(config, stack=stack, preview=True)
    assert sorted((r.typ, r.name) for r in preview.resources) == sorted((r.typ, r.name) for r in up.resources)


def test_no_aws_resource_in_a_gcp_stack(gcp_recording: Recording) -> None:
    assert not [r.typ for r in gcp_recording.resources if r.typ.startswith(("aws:", "aws-native:"))]
    assert json.dumps(gcp_recording.outputs).count("amazonaws") == 0
