"""The policy pack, replayed on what the program registered under mocks (no CLI needed): the stacks
pass, and each rule catches what it is for."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

from infra.offline.recording import Registration
from infra.offline.runner import Recording
from policy.modelstage_rules import RESOURCE_RULES, STACK_RULES
from tests.infra.conftest import Run

Violation = tuple[str, str, str]  # rule, resource name, message


def _options(r: Registration) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=r.protect, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[])


def _policy_resources(rec: Recording) -> list[PolicyResource]:
    by_urn: dict[str, PolicyResource] = {}
    for r in rec.resources:
        by_urn[r.urn] = PolicyResource(r.typ, r.inputs, r.urn, r.name, _options(r), None, None, [], {})
    for r in rec.resources:
        resource = by_urn[r.urn]
        resource.parent = by_urn.get(r.parent)
        resource.dependencies = [by_urn[u] for u in r.dependencies if u in by_urn]
        resource.property_dependencies = {k: [by_urn[u] for u in urns if u in by_urn]
                                          for k, urns in r.property_dependencies.items()}
    return list(by_urn.values())


def violations(rec: Recording) -> list[Violation]:
    found: list[Violation] = []
    for r in rec.resources:
        args = ResourceValidationArgs(r.typ, r.inputs, r.urn, r.name, _options(r), None)
        for rule, validate in RESOURCE_RULES.items():
            validate(args, lambda message, _urn, rule=rule, name=r.name: found.append((rule, name, message)))
    resources = _policy_resources(rec)
    for rule, validate in STACK_RULES.items():
        validate(StackValidationArgs(resources),
                 lambda message, urn, rule=rule: found.append((rule, (urn or "").rsplit("::", 1)[-1], message)))
    return found


def test_both_stacks_pass_every_rule(recording: Recording) -> None:
    assert violations(recording) == []


@pytest.fixture
def mutable(recordings: dict[str, Recording]) -> Iterator[Recording]:
    yield copy.deepcopy(recordings["aws-prod"])


def _inputs(rec: Recording, typ: str) -> dict[str, Any]:
    return rec.one(typ).inputs


def test_an_unencrypted_instance_endpoint_and_capture_are_caught(mutable: Recording) -> None:
    config = _inputs(mutable, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    del config["kmsKeyArn"]
    del config["dataCaptureConfig"]["kmsKeyId"]
    assert violations(mutable) == [
        ("sagemaker-endpoint-encrypted", "house-prices-prod-config",
         "instance-backed endpoint configs must set kmsKeyArn (CKV_AWS_98)"),
        ("sagemaker-endpoint-encrypted", "house-prices-prod-config",
         "captured requests must be encrypted with kmsKeyId (CKV_AWS_98)")]


def test_a_wildcard_resource_on_a_scopable_action_is_caught(mutable: Recording) -> None:
    policy = mutable.one("aws:iam/rolePolicy:RolePolicy", "house-prices-prod-execution")
    doc = json.loads(policy.inputs["policy"])
    doc["Statement"][0]["Resource"] = "*"
    doc["Statement"].append({"Sid": "Everything", "Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    policy.inputs["policy"] = json.dumps(doc)
    messages = [m for rule, _, m in violations(mutable) if rule == "iam-least-privilege"]
    assert messages == [
        "statement ReadModelArtifacts grants ['s3:GetObject'] on every resource; name the resources "
        "(CKV_AWS_355, CKV_AWS_356)",
        "statement Everything allows wildcard actions ['s3:*'] (CKV_AWS_49, CKV_AWS_63)",
        "statement Everything grants ['s3:*'] on every resource; name the resources (CKV_AWS_355, CKV_AWS_356)",
    ]


def test_a_bucket_without_its_guards_is_caught(mutable: Recording) -> None:
    bucket = mutable.one("aws:s3/bucket:Bucket")
    mutable.resources.append(Registration(typ=bucket.typ, name="scratch", urn=bucket.urn + "-scratch", parent="",
                                          inputs={}, custom=True, protect=False, retain_on_delete=False, provider=""))
    caught = [(rule, name, m.split(": ", 1)[1]) for rule, name, m in violations(mutable)]
    assert ("s3-buckets-guarded", "house-prices-prod-bucket-scratch",
            "no BucketPublicAccessBlock (CKV2_AWS_6)") in caught
    assert len([c for c in caught if c[1].endswith("-scratch") and c[0] == "s3-buckets-guarded"]) == 5
    # Registered at the top of the stack, it would use the default provider, not the deployment's region.
    assert ("one-deployment-root", "house-prices-prod-bucket-scratch") in [(r, n) for r, n, _ in caught]


def test_mutable_tags_and_unrotated_keys_are_caught(mutable: Recording) -> None:
    _inputs(mutable, "aws:ecr/repository:Repository")["imageTagMutability"] = "MUTABLE"
    _inputs(mutable, "aws:kms/key:Key")["enableKeyRotation"] = False
    _inputs(mutable, "aws:sagemaker/model:Model")["enableNetworkIsolation"] = False
    assert sorted(rule for rule, _, _ in violations(mutable)) == [
        "ecr-immutable-scanned-encrypted", "kms-key-rotates", "sagemaker-model-isolated"]


def test_a_serverless_model_may_run_without_isolation_but_an_instance_model_may_not(run_stack: Run) -> None:
    """SageMaker Serverless Inference offers no network isolation; instance endpoints must have it."""
    serverless = run_stack("aws-dev", endpointKind="serverless", dataCapturePercent="0")
    assert violations(serverless) == []
    realtime = copy.deepcopy(run_stack("aws-dev"))
    realtime.one("aws:sagemaker/model:Model").inputs["enableNetworkIsolation"] = False
    assert [rule for rule, _, _ in violations(realtime)] == ["sagemaker-model-isolated"]


def test_both_gcp_stacks_pass_every_rule(gcp_recording: Recording) -> None:
    assert violations(gcp_recording) == []


def test_a_public_unversioned_bucket_and_broad_grants_are_caught_on_gcp(gcp_recordings: dict[str, Recording]) -> None:
    rec = copy.deepcopy(gcp_recordings["gcp-prod"])
    bucket = rec.one("gcp:storage/bucket:Bucket").inputs
    bucket["publicAccessPrevention"] = "inherited"
    bucket["versioning"] = {"enabled": False}
    rec.one("gcp:kms/cryptoKey:CryptoKey").inputs["rotationPeriod"] = "31536000s"
    grant = rec.one("gcp:serviceaccount/iAMMember:IAMMember")
    project_grant = copy.deepcopy(rec.of_type("gcp:projects/iAMMember:IAMMember")[0])
    project_grant.inputs.update(role="roles/iam.serviceAccountUser")
    project_grant.name += "-broad"
    rec.resources.append(project_grant)
    grant.inputs.update(role="roles/editor", member="allUsers")
    messages = sorted((rule, m.split(" (")[0]) for rule, _, m in violations(rec))
    broad = project_grant.inputs["member"]
    assert messages == [
        ("gcp-iam-least-privilege", "roles/editor is a primitive role; grant a predefined or custom role on the "
                                    "resource"),
        ("gcp-iam-least-privilege", "roles/editor is granted to allUsers: nothing of a deployment is public"),
        ("gcp-iam-least-privilege", f"roles/iam.serviceAccountUser on the project lets {broad} "
                                    "act as every service account; grant it on one service account"),
        ("gcp-kms-key-rotates", "the key must rotate at least every 90 days"),
        ("gcs-bucket-private", "public access prevention must be enforced"),
        ("gcs-bucket-private", "versioning must be enabled"),
    ]
