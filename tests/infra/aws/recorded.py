"""Small readers over a recorded run: resources by type and role, and embedded JSON documents."""

from __future__ import annotations

import json
from typing import Any

from infra.offline.recording import Registration
from infra.offline.runner import Recording

BUCKET = "aws:s3/bucket:Bucket"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
KEY = "aws:kms/key:Key"
REPOSITORY = "aws:ecr/repository:Repository"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
MODEL = "aws:sagemaker/model:Model"
CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws-native:sagemaker:Endpoint"
PACKAGE = "aws-native:sagemaker:ModelPackage"
GROUP = "aws:sagemaker/modelPackageGroup:ModelPackageGroup"
DYNAMIC = "pulumi-python:dynamic:Resource"


def name(rec: Recording) -> str:
    return "house-prices-dev" if rec.stack == "aws-dev" else "house-prices-prod"


def named(rec: Recording, typ: str, suffix: str) -> Registration:
    return rec.one(typ, f"{name(rec)}-{suffix}")


def doc(r: Registration, key: str) -> Any:
    return json.loads(r.inputs[key])


def statements(rec: Recording, role_suffix: str) -> dict[str, dict[str, Any]]:
    """Sid -> statement of the inline policy of role `<name>-<role_suffix>`."""
    policy = doc(named(rec, ROLE_POLICY, role_suffix), "policy")
    assert policy["Version"] == "2012-10-17"
    return {s["Sid"]: s for s in policy["Statement"]}


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def component_types(rec: Recording) -> set[str]:
    return {r.typ for r in rec.resources if not r.custom}
