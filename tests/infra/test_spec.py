"""The shared spec, proven with a fake cloud registered for the test: a stack for it is read with the
shared keys and the fake's own section, sees no AWS rule or default, and is refused only on the
shared rules and its own."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from infra import clouds
from infra.config_reader import ConfigReader
from infra.errors import SpecError
from infra.offline.constraints import ConstraintCheck
from infra.outputs import StackOutputs
from infra.spec import DeploymentSpec, parse_spec
from infra.spec_keys import KEYS, Key, Value
from model.bundle import Bundle
from model.errors import ModelstageError

CRON_5 = re.compile(r"^(\S+\s+){4}\S+$")  # unix cron, as Cloud Scheduler takes it


@dataclass(frozen=True)
class LabSpec:
    quota: int


class Lab:
    """A minimal cloud: one key of its own, a default machine, a region list and unix cron."""

    name = "lab"
    keys: tuple[Key, ...] = (Key("labQuota", "integer", 4, "Lab: machines the project may use."),)
    defaults: Mapping[str, Value] = {"instanceType": "lab-small", "batchInstanceType": "lab-batch"}
    name_max = 20
    masked: Mapping[tuple[str, str], str] = {}

    def parse_section(self, r: ConfigReader, spec: DeploymentSpec[None]) -> LabSpec:
        r.check("region", spec.region in ("lab-1", "lab-2"), f"{spec.region!r} is not a lab region")
        r.check("batchSchedule", spec.batch.schedule is None or CRON_5.match(spec.batch.schedule) is not None,
                f"{spec.batch.schedule!r} is not a unix cron expression")
        return LabSpec(quota=r.integer("labQuota", 1, 8))

    def deploy(self, name: str, spec: DeploymentSpec[LabSpec], bundle: Bundle) -> StackOutputs:
        raise NotImplementedError("not deployed in these tests")

    def invoker(self, outputs: Mapping[str, Any], *, output_name: str, timeout_s: float,
                endpoint_url: str | None) -> Callable[[bytes], bytes]:
        raise NotImplementedError("not called in these tests")

    def mock_resource(self, typ: str, name: str, inputs: Mapping[str, Any], region: str
                      ) -> tuple[str | None, dict[str, Any]] | None:
        return None

    def mock_call(self, token: str, args: Mapping[str, Any], region: str) -> dict[str, Any] | None:
        return None

    def constraint_checks(self, region: str) -> list[ConstraintCheck]:
        return []


BASE = {"cloud": "lab", "environment": "dev", "region": "lab-1"}


@pytest.fixture(autouse=True)
def lab() -> Iterator[None]:
    with clouds.registered(Lab()):
        yield


def spec(**overrides: object) -> DeploymentSpec[Any]:
    return parse_spec({**BASE, **overrides})


def problems(**overrides: object) -> str:
    with pytest.raises(SpecError) as err:
        spec(**overrides)
    return str(err.value)


def test_a_lab_stack_gets_the_shared_defaults_and_the_labs_own() -> None:
    s = spec()
    assert (s.cloud, s.environment, s.region, s.bundle_path) == ("lab", "dev", "lab-1", "out/bundle")
    assert (s.instance_type, s.batch.instance_type) == ("lab-small", "lab-batch")  # not ml.m5.large
    assert s.section == LabSpec(quota=4)
    assert s.rollout.strategy == "all-at-once" and not s.monitoring.capture_enabled


def test_values_aws_would_refuse_are_the_labs_to_judge() -> None:
    # CloudWatch has no 10-day retention, EventBridge wants cron(...), SageMaker allows canaries up to
    # 50% on two instances or more: none of that applies to another cloud.
    s = spec(logRetentionDays="10", batchSchedule="0 3 * * *", instanceType="big-box", rolloutStrategy="canary",
             rolloutStepPercent="80", rolloutBakeSeconds="30", endpointKind="serverless", dataCapturePercent="5")
    assert (s.retention.log_days, s.batch.schedule, s.instance_type) == (10, "0 3 * * *", "big-box")
    assert (s.rollout.step_percent, s.rollout.bake_seconds) == (80, 30)


def test_the_lab_refuses_on_its_own_rules() -> None:
    text = problems(region="eu-west-1", batchSchedule="cron(0 3 * * ? *)", labQuota="9")
    assert text.startswith("the stack configuration has 3 problem(s):")
    assert "modelstage:region: 'eu-west-1' is not a lab region" in text
    assert "modelstage:batchSchedule: 'cron(0 3 * * ? *)' is not a unix cron expression" in text
    assert "modelstage:labQuota: 9 is out of range; expected between 1 and 8" in text
    assert "AWS" not in text and "SageMaker" not in text and "CloudWatch" not in text


def test_aws_keys_at_their_defaults_are_ignored_but_a_set_one_is_named() -> None:
    # Pulumi.yaml gives every stack the aws* defaults; only a value someone set is a mistake.
    assert spec(awsServerlessMemoryMb="2048", awsAlarmEmail="").section == LabSpec(quota=4)
    assert ("modelstage:awsAlarmEmail: a aws key, but this stack deploys to lab; remove it or set "
            "modelstage:cloud: aws") in problems(awsAlarmEmail="oncall@example.com")


def test_the_deployment_name_limit_is_the_clouds() -> None:
    assert spec(name="a" * 20).name == "a" * 20
    assert "at most 20 characters" in problems(name="a" * 21)


SHARED_BAD = [
    ({"cloud": "openstack"},
     "modelstage:cloud: 'openstack' is not a cloud modelstage can deploy to; expected one of aws, gcp, lab"),
    ({"cloud": None}, "modelstage:cloud: required but not set"),
    ({"environment": None}, "modelstage:environment: required but not set"),
    ({"environment": "qa"}, "expected one of dev, staging, prod"),
    ({"minInstances": "three"}, "modelstage:minInstances: expected a whole number, got 'three'"),
    ({"minInstances": "3", "maxInstances": "2"}, "modelstage:maxInstances: 2 is below minInstances 3"),
    ({"endpointKind": "batch"},
     "modelstage:endpointKind: 'batch' is not allowed; expected one of realtime, serverless"),
    ({"rolloutBakeSeconds": "7200"},
     "modelstage:rolloutBakeSeconds: 7200 is out of range; expected between 0 and 3600"),
    ({"monitorSchedule": "0 * * * *"}, "modelstage:monitorSchedule: a drift check reads captured requests"),
    ({"batchInputPrefix": "/in"}, "modelstage:batchInputPrefix: '/in' must be a key prefix like 'batch/input/'"),
    ({"batchInputPrefix": "batch/", "batchOutputPrefix": "batch/out/"},
     "modelstage:batchOutputPrefix: 'batch/out/' overlaps batchInputPrefix 'batch/'"),
    ({"environment": "prod"}, "modelstage:protected: a prod stack must set protected: true"),
    ({"protected": "maybe"}, "modelstage:protected: expected true or false, got 'maybe'"),
    ({"image": "house-prices:latest"}, "modelstage:image: 'house-prices:latest' is not an image referenced by digest"),
    ({"name": "House_Prices"}, "modelstage:name: 'House_Prices' is not a usable name"),
    ({"alarmErrorRatePercent": "0"}, "modelstage:alarmErrorRatePercent: 0 is out of range; expected between 1 and 100"),
    ({"bundlePath": ""}, "modelstage:bundlePath: must name the bundle directory (run `modelstage package`"),
    ({"minInstnaces": "2"}, "modelstage:minInstnaces: unknown config key; did you mean modelstage:minInstances?"),
]


@pytest.mark.parametrize(("overrides", "message"), SHARED_BAD,
                         ids=[next(iter(o)) + f"-{i}" for i, (o, _) in enumerate(SHARED_BAD)])
def test_the_shared_rules_hold_on_every_cloud(overrides: dict[str, object], message: str) -> None:
    assert message in problems(**overrides)


def test_cli_strings_and_namespaced_keys_are_read_like_native_values() -> None:
    s = parse_spec({"modelstage:cloud": "lab", "modelstage:environment": "prod", "modelstage:region": "lab-2",
                    "modelstage:protected": "true", "modelstage:minInstances": "2", "lab:zone": "not ours",
                    "modelstage:labQuota": "6"})
    assert s.protected is True and s.scaling.min_instances == 2 and s.section == LabSpec(quota=6)


def test_no_shared_key_defaults_to_a_clouds_value() -> None:
    aws_values = {"ml.m5.large", "eu-west-1", "aws"}
    for key in KEYS:
        assert key.default not in aws_values, key.name
        assert key.description.endswith((".", ")")), key.name
        if key.default is not None:
            assert type(key.default) is {"string": str, "integer": int, "boolean": bool}[key.type], key.name


def test_spec_errors_are_modelstage_errors() -> None:
    assert issubclass(SpecError, ModelstageError)
