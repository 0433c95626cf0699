"""The spec of an AWS stack: the shared values in AWS's forms, the `aws*` keys, and their errors."""

from __future__ import annotations

import pytest

from infra.aws.spec import KEYS, AwsSpec, rollout_seconds
from infra.errors import SpecError
from infra.spec import DeploymentSpec, parse_spec

BASE = {"cloud": "aws", "environment": "dev", "region": "eu-west-1"}
DIGEST = "a" * 64


def spec(**overrides: object) -> DeploymentSpec[AwsSpec]:
    return parse_spec({**BASE, **overrides})


def test_defaults_come_from_the_key_tables_and_aws() -> None:
    s = spec()
    assert (s.cloud, s.environment, s.region, s.bundle_path) == ("aws", "dev", "eu-west-1", "out/bundle")
    assert (s.scaling.min_instances, s.scaling.max_instances) == (1, 2)
    assert s.rollout.strategy == "all-at-once" and s.rollout.rollback_on_alarms is True
    assert s.image is None and s.name is None and not s.protected
    assert not s.monitoring.capture_enabled and not s.batch.enabled
    assert s.section.approval_status == "Approved" and s.section.alarm_email is None
    assert (s.instance_type, s.batch.instance_type) == ("ml.m5.large", "ml.m5.large")  # AWS's defaults


def test_an_empty_instance_type_means_the_clouds_default() -> None:
    assert spec(instanceType="", batchInstanceType="").instance_type == "ml.m5.large"
    assert spec(instanceType="ml.c5.xlarge").instance_type == "ml.c5.xlarge"


def test_cli_strings_and_namespaced_keys_are_read_like_native_values() -> None:
    # The CLI passes every value as a string, with the project namespace; other namespaces are not ours.
    s = parse_spec({"modelstage:cloud": "aws", "modelstage:environment": "prod", "modelstage:region": "us-east-1",
                    "modelstage:protected": "true",
                    "modelstage:minInstances": "2", "modelstage:maxInstances": "4", "aws:region": "ignored",
                    "modelstage:rolloutStrategy": "linear", "modelstage:rolloutStepPercent": "25",
                    "modelstage:dataCapturePercent": "20", "modelstage:monitorSchedule": "cron(0 * ? * * *)"})
    assert s.protected is True and s.scaling.min_instances == 2 and s.scaling.max_instances == 4
    assert (s.rollout.strategy, s.rollout.step_percent) == ("linear", 25)
    assert s.monitoring.monitor_schedule == "cron(0 * ? * * *)" and s.monitoring.data_capture_percent == 20


def test_a_prebuilt_image_by_digest_in_the_region_is_accepted() -> None:
    image = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/modelstage/house-prices@sha256:{DIGEST}"
    assert spec(image=image).image == image


BAD = [
    ({"region": "mars-north-1x"}, "modelstage:region: 'mars-north-1x' is not an AWS region"),
    ({"endpointKind": "serverless", "dataCapturePercent": "10"},
     "modelstage:dataCapturePercent: 10: serverless endpoints cannot capture data"),
    ({"rolloutStrategy": "canary", "rolloutStepPercent": "60", "minInstances": "2", "maxInstances": "4"},
     "modelstage:rolloutStepPercent: 60 is out of range for a canary; expected 1 to 50"),
    ({"rolloutStrategy": "linear", "rolloutStepPercent": "5", "minInstances": "2", "maxInstances": "4"},
     "modelstage:rolloutStepPercent: 5 is out of range for a linear rollout; expected 10 to 50"),
    ({"rolloutStrategy": "canary"}, "canary with minInstances 1: a step must be at most half the fleet"),
    ({"rolloutStrategy": "canary", "endpointKind": "serverless"}, "serverless endpoints roll out all-at-once"),
    ({"rolloutStrategy": "linear", "rolloutStepPercent": "10", "rolloutBakeSeconds": "3600", "minInstances": "2"},
     "more than SageMaker's 14400 s limit"),
    ({"rolloutBakeSeconds": "60"},
     "modelstage:rolloutBakeSeconds: 60 s is shorter than the rollback alarms' 180 s window"),
    ({"instanceType": "ml.t2.medium"},
     "modelstage:instanceType: ml.t2.medium is a burstable instance, which SageMaker cannot autoscale"),
    ({"awsMonitorInstanceType": "m5.large"},
     "modelstage:awsMonitorInstanceType: 'm5.large' is not a SageMaker instance type; expected e.g. ml.m5.large"),
    ({"awsModelMonitorImage": "sagemaker-model-monitor-analyzer"},
     "modelstage:awsModelMonitorImage: 'sagemaker-model-monitor-analyzer' is not an image URI"),
    ({"rolloutBakeSeconds": "7200"},
     "modelstage:rolloutBakeSeconds: 7200 is out of range; expected between 0 and 3600"),
    ({"monitorSchedule": "hourly", "dataCapturePercent": "10"}, "'hourly' is not a schedule; expected cron(...)"),
    ({"batchSchedule": "daily"}, "'daily' is not a schedule; expected cron(...) or rate(...) or at(...)"),
    ({"logRetentionDays": "10"}, "modelstage:logRetentionDays: 10 is not a retention CloudWatch Logs offers"),
    ({"instanceType": "ml.c7g.large"}, "'ml.c7g.large' is a Graviton (arm64) instance"),
    ({"instanceType": "m5.large"}, "modelstage:instanceType: 'm5.large' is not a SageMaker instance type"),
    ({"batchInstanceType": "ml.m6g.xlarge"}, "modelstage:batchInstanceType: 'ml.m6g.xlarge' is a Graviton"),
    ({"image": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/x@sha256:{DIGEST}"},
     "SageMaker pulls only from ECR in the endpoint's region; expected <account>.dkr.ecr.eu-west-1"),
    ({"image": f"ghcr.io/acme/x@sha256:{DIGEST}"}, "got registry 'ghcr.io'"),
    ({"name": "a" * 37}, "at most 36 characters"),
    ({"awsServerlessMemoryMb": "1500"}, "modelstage:awsServerlessMemoryMb: 1500 is not a serverless memory size"),
    ({"awsApprovalStatus": "Yes"}, "expected one of Approved, PendingManualApproval"),
    ({"awsAlarmEmail": "oncall"}, "modelstage:awsAlarmEmail: 'oncall' is not an e-mail address"),
    ({"awsStartupTimeoutSeconds": "30"}, "modelstage:awsStartupTimeoutSeconds: 30 is out of range"),
    ({"awsAlarmEmial": "x@example.com"},
     "modelstage:awsAlarmEmial: unknown config key; did you mean modelstage:awsAlarmEmail?"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD, ids=[next(iter(o)) + f"-{i}" for i, (o, _) in enumerate(BAD)])
def test_each_bad_value_is_named_with_what_is_allowed(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError) as err:
        spec(**overrides)
    assert message in str(err.value)


def test_shared_and_aws_problems_are_reported_at_once() -> None:
    with pytest.raises(SpecError) as err:
        spec(minInstances="x", environment="prod", region="nowhere", logRetentionDays="10")
    text = str(err.value)
    assert text.startswith("the stack configuration has 4 problem(s):")
    for key in ("minInstances", "protected", "region", "logRetentionDays"):
        assert f"modelstage:{key}:" in text


def test_every_aws_key_is_namespaced_and_has_a_typed_default() -> None:
    for key in KEYS:
        assert key.name.startswith("aws") and key.name[3].isupper(), key.name
        assert key.default is not None, key.name  # Pulumi.yaml must not make a cloud's key required
        assert type(key.default) is {"string": str, "integer": int, "boolean": bool}[key.type], key.name


@pytest.mark.parametrize(("strategy", "step", "bake", "seconds"), [
    ("all-at-once", 10, 300, 600 + 300 + 600),
    ("canary", 25, 600, 600 + 600 + 600 + 600),
    ("linear", 25, 300, 600 + 3 * 300 + 300 + 600),
])
def test_rollout_time_budget_counts_every_bake(strategy: str, step: int, bake: int, seconds: int) -> None:
    s = spec(rolloutStrategy=strategy, rolloutStepPercent=str(step), rolloutBakeSeconds=str(bake),
             minInstances="2", maxInstances="4")
    assert rollout_seconds(s.rollout, s.section.startup_timeout_seconds) == seconds
