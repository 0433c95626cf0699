"""infra/aws/endpoint.py: model, endpoint config and endpoint; blue/green rollout, rollback on the
alarms, autoscaling."""

from __future__ import annotations

import pytest

from infra.aws.endpoint import _LOCAL_STORAGE_RE
from infra.offline.runner import Recording
from model.bundle import Bundle
from tests.infra.aws.recorded import ALARM, CONFIG, ENDPOINT, MODEL, as_list, name, named, statements
from tests.infra.conftest import Run

TARGET = "aws:appautoscaling/target:Target"
POLICY = "aws:appautoscaling/policy:Policy"


def test_rollback_alarms_are_the_created_alarms_on_this_endpoint(recording: Recording) -> None:
    ep = name(recording)
    endpoint = named(recording, ENDPOINT, "endpoint").inputs
    rollback = [a["alarmName"] for a in endpoint["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]]
    created = {r.inputs["name"]: r for r in recording.of_type(ALARM)}
    assert rollback == [f"{ep}-5xx-error-rate", f"{ep}-p99-model-latency"]
    for alarm_name in rollback:
        alarm = created[alarm_name].inputs
        dimensions = alarm.get("dimensions") or alarm["metricQueries"][0]["metric"]["dimensions"]
        assert dimensions == {"EndpointName": ep, "VariantName": "AllTraffic"}
    # The endpoint waits for the alarms and its log group to exist.
    reg = named(recording, ENDPOINT, "endpoint")
    deps = set(reg.dependencies) | {u for urns in reg.property_dependencies.values() for u in urns}
    assert {created[n].urn for n in rollback} <= deps
    assert named(recording, "aws:cloudwatch/logGroup:LogGroup", "endpoint-logs").urn in deps


def test_dev_shifts_all_at_once_and_prod_through_a_baked_canary(recordings: dict[str, Recording]) -> None:
    dev = named(recordings["aws-dev"], ENDPOINT, "endpoint").inputs["deploymentConfig"]["blueGreenUpdatePolicy"]
    prod = named(recordings["aws-prod"], ENDPOINT, "endpoint").inputs["deploymentConfig"]["blueGreenUpdatePolicy"]
    assert dev["trafficRoutingConfiguration"] == {"type": "ALL_AT_ONCE", "waitIntervalInSeconds": 180}
    assert prod["trafficRoutingConfiguration"] == {"type": "CANARY", "waitIntervalInSeconds": 600,
                                                   "canarySize": {"type": "CAPACITY_PERCENT", "value": 25}}
    assert prod["terminationWaitInSeconds"] == 600
    for policy in (dev, prod):
        assert 600 <= policy["maximumExecutionTimeoutInSeconds"] <= 14400


def test_a_model_update_is_a_new_config_on_the_same_endpoint(recording: Recording) -> None:
    ep = name(recording)
    config = named(recording, CONFIG, "config").inputs
    endpoint = named(recording, ENDPOINT, "endpoint").inputs
    model = named(recording, MODEL, "model").inputs
    assert "name" not in config and config["namePrefix"] == f"{ep}-"  # every change gets a new config name
    assert "name" not in model  # auto-named: a new image or artifact replaces it before the old one goes
    assert endpoint["endpointName"] == ep and endpoint["endpointConfigName"] == f"{ep}-0000000"
    (variant,) = config["productionVariants"]
    assert variant["modelName"] == f"{ep}-model-0000000" and variant["variantName"] == "AllTraffic"
    assert variant["containerStartupHealthCheckTimeoutInSeconds"] == 600
    assert variant["initialInstanceCount"] == {"aws-dev": 1, "aws-prod": 2}[recording.stack]
    # Autoscaled instance counts survive the update (UpdateEndpoint's RetainAllVariantProperties).
    assert endpoint["retainAllVariantProperties"] is True


def test_an_update_keeps_only_the_instance_count_so_capture_changes_reach_the_endpoint(
        recording: Recording) -> None:
    """UpdateEndpoint with RetainAllVariantProperties alone keeps the old DataCaptureConfig: every
    other retainable property (VariantPropertyType in SageMaker's API) must be excluded."""
    endpoint = named(recording, ENDPOINT, "endpoint").inputs
    excluded = [p["variantPropertyType"] for p in endpoint["excludeRetainedVariantProperties"]]
    assert sorted(excluded) == ["DataCaptureConfig", "DesiredWeight"]
    assert "DesiredInstanceCount" not in excluded  # the one property the flag is for


def test_the_model_serves_the_image_by_digest_and_the_bundle_archive(recording: Recording, bundle: Bundle) -> None:
    container = named(recording, MODEL, "model").inputs["primaryContainer"]
    assert container["image"] == recording.outputs["image_digest"]
    assert container["modelDataUrl"] == recording.outputs["artifact_uri"]
    # The runtime refuses any bundle but the deployed one (docs/bundle-hardening.md).
    assert container["mode"] == "SingleModel" and container["environment"] == {
        "MODELSTAGE_BUNDLE_SHA256": bundle.archive_sha256(),
        "MODELSTAGE_BUNDLE_MANIFEST_SHA256": bundle.manifest_sha256()}


def test_autoscaling_tracks_invocations_per_instance_on_the_variant(recording: Recording) -> None:
    ep = name(recording)
    target = recording.one(TARGET).inputs
    assert target == {"serviceNamespace": "sagemaker", "resourceId": f"endpoint/{ep}/variant/AllTraffic",
                      "scalableDimension": "sagemaker:variant:DesiredInstanceCount",
                      "minCapacity": {"aws-dev": 1, "aws-prod": 2}[recording.stack],
                      "maxCapacity": {"aws-dev": 2, "aws-prod": 6}[recording.stack]}
    policy = recording.one(POLICY).inputs
    assert policy["policyType"] == "TargetTrackingScaling"
    assert (policy["resourceId"], policy["scalableDimension"]) == (target["resourceId"], target["scalableDimension"])
    tracking = policy["targetTrackingScalingPolicyConfiguration"]
    assert tracking["predefinedMetricSpecification"] == {
        "predefinedMetricType": "SageMakerVariantInvocationsPerInstance"}
    assert tracking["targetValue"] == {"aws-dev": 100, "aws-prod": 500}[recording.stack]


def test_serverless_has_no_instances_capture_or_volume_key(run_stack: Run, bundle: Bundle) -> None:
    rec = run_stack("aws-dev", endpointKind="serverless", dataCapturePercent="0", awsServerlessMemoryMb="3072")
    config = rec.one(CONFIG).inputs
    (variant,) = config["productionVariants"]
    assert variant["serverlessConfig"] == {"memorySizeInMb": 3072, "maxConcurrency": 5}
    assert "initialInstanceCount" not in variant and "instanceType" not in variant
    assert "dataCaptureConfig" not in config and "kmsKeyArn" not in config
    assert rec.of_type(TARGET) == [] and rec.of_type(POLICY) == []
    assert rec.one(ENDPOINT).inputs["retainAllVariantProperties"] is False
    assert "excludeRetainedVariantProperties" not in rec.one(ENDPOINT).inputs
    # Serverless Inference offers no network isolation and refuses a model that asks for it.
    assert rec.one(MODEL).inputs["enableNetworkIsolation"] is False
    assert rec.one(MODEL).inputs["primaryContainer"]["environment"] == {
        "MODELSTAGE_WORKERS": "1", "MODELSTAGE_BUNDLE_SHA256": bundle.archive_sha256(),
        "MODELSTAGE_BUNDLE_MANIFEST_SHA256": bundle.manifest_sha256()}


def test_the_execution_role_may_read_exactly_the_rollback_alarms(recording: Recording) -> None:
    """Deployment guardrails: the execution role needs cloudwatch:DescribeAlarms on the auto-rollback
    alarms, or a blue/green rollout cannot read them and never rolls back."""
    endpoint = named(recording, ENDPOINT, "endpoint").inputs
    rollback = [a["alarmName"] for a in endpoint["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]]
    statement = statements(recording, "execution")["ReadRollbackAlarms"]
    assert as_list(statement["Action"]) == ["cloudwatch:DescribeAlarms"]
    assert as_list(statement["Resource"]) == [
        f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{alarm}" for alarm in rollback]


def test_rollback_can_be_turned_off_and_linear_steps_are_sized(run_stack: Run) -> None:
    rec = run_stack("aws-dev", rollbackOnAlarms="false", rolloutStrategy="linear", rolloutStepPercent="20",
                    minInstances="2", maxInstances="4")
    config = rec.one(ENDPOINT).inputs["deploymentConfig"]
    assert "autoRollbackConfiguration" not in config
    assert "ReadRollbackAlarms" not in statements(rec, "execution")  # nothing to read
    assert config["blueGreenUpdatePolicy"]["trafficRoutingConfiguration"]["linearStepSize"] == {
        "type": "CAPACITY_PERCENT", "value": 20}


@pytest.mark.parametrize(("instance_type", "local_storage"), [
    ("ml.m5.large", False), ("ml.c5.xlarge", False), ("ml.t2.medium", False), ("ml.inf2.xlarge", False),
    ("ml.m5d.large", True), ("ml.g4dn.xlarge", True), ("ml.p4d.24xlarge", True), ("ml.g5.xlarge", True),
    ("ml.g6.xlarge", True), ("ml.p5.48xlarge", True), ("ml.trn1.2xlarge", True),
])
def test_instances_with_local_storage_get_no_volume_key(instance_type: str, local_storage: bool) -> None:
    """SageMaker refuses a KmsKeyId for instance types with local (hardware-encrypted) storage."""
    assert (_LOCAL_STORAGE_RE.match(instance_type) is not None) is local_storage
