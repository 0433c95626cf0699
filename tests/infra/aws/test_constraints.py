"""Every recorded input of the AWS stacks against AWS's own published constraints (botocore's service
models, cfn-lint's CloudFormation schemas, the IAM action catalogue), with the names the real
providers make; and, for each rule family, a recorded value AWS would refuse that the checks refuse.
No network: every catalogue is package data."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import pytest

from infra import clouds
from infra.aws.constraints import aws_checks
from infra.aws.constraints.api import compile_pattern, java_to_python
from infra.aws.constraints.names import AUTO_SUFFIX, MOCK_SUFFIX, PREFIX_SUFFIX
from infra.offline.constraints import (
    CheckResult,
    Violation,
    format_unchecked,
    format_violations,
    run_checks,
)
from infra.offline.recording import Registration
from infra.offline.runner import Recording
from infra.offline.stack_config import load_stack_config
from tests.infra.conftest import ROOT, Run

REGION = "eu-west-1"

# What the checks may leave unchecked in the real stacks: provider-only settings and a blob.
NOT_CHECKED = {
    ("aws:ecr/repository:Repository", "forceDelete"),
    ("aws:kms/key:Key", "enableKeyRotation"),
    ("aws:s3/bucket:Bucket", "forceDestroy"),
    ("aws:s3/bucketObjectv2:BucketObjectv2", "Body"),
    ("aws:s3/bucketObjectv2:BucketObjectv2", "sourceHash"),
}


def _region(stack: str) -> str:
    return load_stack_config(ROOT, stack)["modelstage:region"]


def _check(recording: Recording) -> CheckResult:
    """The checks the stack's cloud plugs into the offline harness (Cloud.constraint_checks)."""
    return run_checks(clouds.get(recording.cloud).constraint_checks(_region(recording.stack)), recording)


def resource(typ: str, logical: str, /, **inputs: Any) -> Registration:
    return Registration(typ=typ, name=logical, urn=f"urn:pulumi:t::modelstage::{typ}::{logical}", parent="",
                        inputs=inputs,
                        custom=True, protect=False, retain_on_delete=False, provider="")


def violations(*resources: Registration) -> list[Violation]:
    recording = Recording(stack="t", cloud="aws", resources=list(resources), outputs={}, calls=[])
    return run_checks(aws_checks(REGION), recording).violations


def rules(found: list[Violation]) -> set[tuple[str, str]]:
    return {(v.path, v.rule) for v in found}


# -- the real stacks ------------------------------------------------------------------------------


def test_every_recorded_input_passes(recording: Recording) -> None:
    result = _check(recording)
    assert result.ok, format_violations(result.violations, heading=f"{recording.stack}: ")


@pytest.mark.parametrize("overrides", [
    {"endpointKind": "serverless", "dataCapturePercent": "0"},
    {"rolloutStrategy": "linear", "rolloutStepPercent": "20", "minInstances": "2", "maxInstances": "4"},
    {"monitorSchedule": "cron(0 * ? * * *)"},
], ids=["serverless", "linear", "monitored"])
def test_the_other_shapes_of_a_stack_pass_too(run_stack: Run, overrides: dict[str, str]) -> None:
    recording = run_stack("aws-dev", **overrides)
    result = _check(recording)
    assert result.ok, format_violations(result.violations)
    assert {(u.resource_type, u.path) for u in result.unchecked} <= NOT_CHECKED, format_unchecked(result.unchecked)


def test_the_not_checked_members_stay_few(recording: Recording) -> None:
    result = _check(recording)
    print(format_unchecked(result.unchecked))
    assert {(u.resource_type, u.path) for u in result.unchecked} <= NOT_CHECKED, format_unchecked(result.unchecked)


def test_every_recorded_type_is_covered(recording: Recording) -> None:
    result = _check(recording)
    assert not [u for u in result.unchecked if u.path == "*"], format_unchecked(result.unchecked)


def test_one_stack_is_checked_quickly(recordings: Mapping[str, Recording]) -> None:
    start = time.perf_counter()
    _check(recordings["aws-prod"])
    assert time.perf_counter() - start < 10


# -- botocore: enums, lengths, ranges, patterns, required members ------------------------------


def test_an_enum_value_aws_refuses_is_a_violation() -> None:
    model = resource("aws:sagemaker/model:Model", "m", name="m", executionRoleArn="arn:aws:iam::123456789012:role/r",
                     primaryContainer={"image": "img", "mode": "SingleModels"})
    found = violations(model)
    assert rules(found) == {("primaryContainer.mode", "enum")}
    assert "SingleModel, MultiModel" in found[0].allowed
    assert "sagemaker CreateModel" in found[0].source


def test_a_name_over_the_limit_is_a_violation() -> None:
    role = resource("aws:iam/role:Role", "r", name="r" * 65, assumeRolePolicy="{}")
    assert rules(violations(role)) == {("RoleName", "max length")}


def test_a_name_too_long_only_with_pulumis_suffix_is_a_violation() -> None:
    # RoleName: at most 64. The mocks' name would be as long; the logical name itself is short enough.
    fits, too_long = "r" * (64 - 1 - len(AUTO_SUFFIX)), "r" * (64 - len(AUTO_SUFFIX))
    assert violations(resource("aws:iam/role:Role", fits, assumeRolePolicy="{}")) == []
    found = violations(resource("aws:iam/role:Role", too_long, assumeRolePolicy="{}"))
    assert rules(found) == {("RoleName", "max length")}
    assert found[0].value == f"{too_long}-{AUTO_SUFFIX}"


def test_a_prefix_too_long_only_with_terraforms_26_characters_is_a_violation() -> None:
    prefix = "p" * 40  # 40 <= 63, but 40 + 26 > 63
    config = resource("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "c", namePrefix=prefix,
                      productionVariants=[{"variantName": "AllTraffic", "modelName": "m", "instanceType": "ml.m5.large",
                                           "initialInstanceCount": 1.0}])
    found = violations(config)
    assert ("EndpointConfigName", "max length") in rules(found)
    assert {v.value for v in found} == {prefix + PREFIX_SUFFIX}


def test_a_mock_name_quoted_by_another_resource_gets_the_real_length() -> None:
    prefix = "p" * 40
    config = resource("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "c", namePrefix=prefix,
                      productionVariants=[{"variantName": "AllTraffic", "modelName": "m", "instanceType": "ml.m5.large",
                                           "initialInstanceCount": 1.0}])
    endpoint = resource("aws-native:sagemaker:Endpoint", "e", endpointName="e",
                        endpointConfigName=prefix + MOCK_SUFFIX)
    found = [v for v in violations(config, endpoint) if v.resource_type == "aws-native:sagemaker:Endpoint"]
    assert ("EndpointConfigName", "maxLength") in rules(found)
    assert {v.value for v in found} == {prefix + PREFIX_SUFFIX}


def test_a_missing_required_member_is_a_violation() -> None:
    schedule = resource("aws:scheduler/schedule:Schedule", "s", name="s", scheduleExpression="rate(1 hour)",
                        target={"arn": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/p",
                                "roleArn": "arn:aws:iam::123456789012:role/r"})
    found = violations(schedule)
    assert rules(found) == {("FlexibleTimeWindow", "required member")}


def test_a_value_out_of_range_is_a_violation() -> None:
    role = resource("aws:iam/role:Role", "r", name="r", assumeRolePolicy="{}", maxSessionDuration=60.0)
    assert rules(violations(role)) == {("maxSessionDuration", "min value")}


def test_java_patterns_are_translated() -> None:
    assert java_to_python(r"\p{Print}+") == r"[\x20-\x7E]+"
    assert java_to_python(r"[\p{Alnum}_]*") == r"[a-zA-Z0-9_]*"
    assert compile_pattern(r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF]*").fullmatch("a\U0001F600")
    policy = resource("aws:appautoscaling/policy:Policy", "p", name="bad\u0001name", resourceId="endpoint/e/variant/v",
                      scalableDimension="sagemaker:variant:DesiredInstanceCount", serviceNamespace="sagemaker")
    assert rules(violations(policy)) == {("PolicyName", "pattern")}


def test_a_member_that_cannot_be_mapped_is_not_checked_rather_than_refused() -> None:
    model = resource("aws:sagemaker/model:Model", "m", name="m", somethingNew={"x": 1})
    recording = Recording(stack="t", cloud="aws", resources=[model], outputs={}, calls=[])
    result = run_checks(aws_checks(REGION), recording)
    assert result.ok
    assert [(u.resource_type, u.path) for u in result.unchecked] == [("aws:sagemaker/model:Model", "somethingNew")]


# -- the IAM action catalogue ----------------------------------------------------------------


def _role_policy(*statements: dict[str, Any]) -> Registration:
    document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return resource("aws:iam/rolePolicy:RolePolicy", "rp", role="r", policy=document)


def test_an_action_that_does_not_exist_is_a_violation() -> None:
    found = violations(_role_policy({"Effect": "Allow", "Action": ["sagemaker:InvokeEndpoints"], "Resource": "*"}))
    assert rules(found) == {("policy.Statement[0].Action", "unknown action")}
    assert found[0].value == "sagemaker:InvokeEndpoints"


def test_an_unknown_service_and_a_wildcard_that_matches_nothing_are_violations() -> None:
    found = violations(_role_policy({"Effect": "Allow", "Action": ["sagemakr:InvokeEndpoint", "kms:Frobnicate*"],
                                     "Resource": "*"}))
    assert {(v.value, v.rule) for v in found} == {("sagemakr:InvokeEndpoint", "unknown service"),
                                                  ("kms:Frobnicate*", "unknown action")}


def test_existing_actions_and_their_condition_keys_pass() -> None:
    assert violations(_role_policy(
        {"Effect": "Allow", "Action": ["kms:CreateGrant"], "Resource": "*",
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
        {"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint", "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012", "aws:ResourceTag/team": "ml"}}},
        {"Effect": "Allow", "Action": "kms:Decrypt*", "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::b"}}},
    )) == []


def test_a_condition_key_that_does_not_apply_to_its_action_is_a_violation() -> None:
    found = violations(_role_policy({"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint", "Resource": "*",
                                     "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}))
    assert rules(found) == {("policy.Statement[0].Condition.Bool.kms:GrantIsForAWSResource",
                             "condition key not applicable")}


def test_policies_of_every_kind_are_read() -> None:
    statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObjects", "Resource": "*"}
    document = json.dumps({"Statement": [statement]})
    bucket_policy = resource("aws:s3/bucketPolicy:BucketPolicy", "bp", bucket="b", policy=document)
    key = resource("aws:kms/key:Key", "k", policy=document)
    assert {v.resource_type for v in violations(bucket_policy, key)} == {"aws:s3/bucketPolicy:BucketPolicy",
                                                                         "aws:kms/key:Key"}


# -- cfn-lint's CloudFormation schemas (aws-native) ------------------------------------------------


def _endpoint(**deployment: Any) -> Registration:
    return resource("aws-native:sagemaker:Endpoint", "e", endpointName="e", endpointConfigName="c",
                    deploymentConfig=deployment,
                    tags=[{"key": "modelstage:model", "value": "m"}])


def test_an_aws_native_input_the_schema_refuses_is_a_violation() -> None:
    good = {"type": "CANARY", "canarySize": {"type": "CAPACITY_PERCENT", "value": 25.0}, "waitIntervalInSeconds": 600.0}
    assert violations(_endpoint(blueGreenUpdatePolicy={"trafficRoutingConfiguration": good})) == []
    bad = {**good, "type": "CANARIES"}
    found = violations(_endpoint(blueGreenUpdatePolicy={"trafficRoutingConfiguration": bad,
                                                        "maximumExecutionTimeoutInSeconds": 60.0}))
    assert rules(found) == {
        ("DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.Type", "enum"),
        ("DeploymentConfig.BlueGreenUpdatePolicy.MaximumExecutionTimeoutInSeconds", "minimum"),
    }
    assert all("AWS::SageMaker::Endpoint (eu-west-1)" in v.source for v in found)


def test_an_aws_native_required_property_is_checked() -> None:
    package = resource("aws-native:sagemaker:ModelPackage", "mp", modelPackageGroupName="g",
                       inferenceSpecification={"containers": [{"modelDataUrl": "s3://b/k"}],
                                               "supportedContentTypes": ["text/csv"],
                                               "supportedResponseMimeTypes": ["text/csv"]})
    found = violations(package)
    assert [(v.path, v.rule) for v in found] == [("InferenceSpecification.Containers[0]", "required")]
    assert "'Image' is a required property" in found[0].allowed


def test_free_form_maps_keep_their_keys() -> None:
    package = resource("aws-native:sagemaker:ModelPackage", "mp", modelPackageGroupName="g",
                       customerMetadataProperties={"metric_r2": "0.9"})
    assert violations(package) == []


# -- the generic harness ------------------------------------------------------------------------


def test_violations_read_with_what_is_allowed_and_where_the_rule_comes_from() -> None:
    v = Violation("aws:iam/role:Role", "r", "RoleName", "x" * 200, "max length", "at most 64 characters", "botocore")
    text = format_violations([v], heading="aws-dev: ")
    assert text.startswith("aws-dev: 1 violation:")
    assert "aws:iam/role:Role 'r' RoleName" in text and "max length" in text and "[botocore]" in text
    assert "..." in text  # long values are shortened
    assert format_violations([]) == "no violations"
