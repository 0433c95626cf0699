"""The spec of a GCP stack: the shared values in Vertex AI's forms, the `gcp*` keys, and their errors."""

from __future__ import annotations

import pytest

from infra.errors import SpecError
from infra.gcp.spec import GcpSpec
from infra.spec import DeploymentSpec, parse_spec

BASE = {"cloud": "gcp", "environment": "dev", "region": "europe-west4", "gcpProject": "my-ml-dev"}
DIGEST = "a" * 64


def spec(**overrides: object) -> DeploymentSpec[GcpSpec]:
    return parse_spec({**BASE, **overrides})


def test_defaults_are_vertex_ones_not_aws_ones() -> None:
    s = spec()
    assert (s.instance_type, s.batch.instance_type) == ("n1-standard-2", "n1-standard-2")
    assert s.section == GcpSpec(project="my-ml-dev", alarm_email=None, customer_key=False,
                                autoscaling_cpu_percent=60, deploy_timeout_seconds=1800, monitor_interval_hours=None)


def test_what_aws_refuses_and_gcp_accepts() -> None:
    s = spec(logRetentionDays="10", batchSchedule="0 3 * * *", rolloutStrategy="canary", rolloutStepPercent="80",
             rolloutBakeSeconds="30", dataCapturePercent="5", monitorSchedule="6h")
    assert (s.retention.log_days, s.batch.schedule, s.rollout.step_percent) == (10, "0 3 * * *", 80)
    assert s.section.monitor_interval_hours == 6


BAD = [
    ({"gcpProject": ""}, "modelstage:gcpProject: required on GCP"),
    ({"gcpProject": "My_Project"}, "'My_Project' is not a GCP project id"),
    ({"region": "eu-west-1"}, "modelstage:region: 'eu-west-1' is not a Vertex AI region"),
    ({"endpointKind": "serverless"}, "Vertex AI has no serverless endpoints for custom containers"),
    ({"instanceType": "ml.m5.large"}, "'ml.m5.large' is not a Compute Engine machine type"),
    ({"instanceType": "t2a-standard-4"}, "'t2a-standard-4' is an Arm machine"),
    ({"batchInstanceType": "c4a-standard-8"}, "modelstage:batchInstanceType: 'c4a-standard-8' is an Arm machine"),
    ({"rolloutStrategy": "linear"}, "modelstage:rolloutStrategy: Vertex AI splits traffic between deployed models"),
    ({"rolloutStrategy": "canary", "rolloutStepPercent": "100"}, "100 leaves nothing on the old model"),
    ({"batchSchedule": "cron(0 3 * * ? *)"}, "'cron(0 3 * * ? *)' is not a unix cron expression (Cloud Scheduler)"),
    ({"monitorSchedule": "0 * * * *", "dataCapturePercent": "10"}, "is not a Vertex model monitoring interval"),
    ({"monitorSchedule": "200h", "dataCapturePercent": "10"}, "expected whole hours from 1h to 168h"),
    ({"logRetentionDays": "4000"}, "4000 is more than Cloud Logging keeps; expected 1 to 3650"),
    ({"image": f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/x@sha256:{DIGEST}"},
     "may pull only from Artifact Registry in the endpoint's region; expected europe-west4-docker.pkg.dev"),
    ({"environment": "prod", "protected": "true"}, "a prod stack on GCP must set gcpCustomerKey: true"),
    ({"gcpAlarmEmail": "oncall"}, "modelstage:gcpAlarmEmail: 'oncall' is not an e-mail address"),
    ({"name": "a" * 25}, "at most 24 characters"),
    ({"targetInvocationsPerInstance": "500"}, "Vertex AI autoscales on CPU here; leave targetInvocationsPerInstance"),
    ({"awsAlarmEmail": "x@example.com"}, "modelstage:awsAlarmEmail: a aws key, but this stack deploys to gcp"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD, ids=[next(iter(o)) + f"-{i}" for i, (o, _) in enumerate(BAD)])
def test_each_bad_value_is_named_with_what_is_allowed(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError) as err:
        spec(**overrides)
    assert message in str(err.value)
    assert "SageMaker" not in str(err.value) and "CloudWatch" not in str(err.value)


def test_a_prebuilt_image_from_the_regions_registry_is_accepted() -> None:
    image = f"europe-west4-docker.pkg.dev/my-ml-dev/team/runtime@sha256:{DIGEST}"
    assert spec(image=image).image == image
