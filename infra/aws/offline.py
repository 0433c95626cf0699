"""AWS under mocks: what AWS would compute for new resources and provider calls, and what plans mask.

The values are deterministic (a fixed account, the stack's region), so a recording of the program is
the same on every run.
"""

# pyright: strict

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ACCOUNT = "123456789012"
SUFFIX = "0000000"  # what Pulumi's auto-naming would append
DYNAMIC = "pulumi-python:dynamic:Resource"
MASKED: dict[tuple[str, str], str] = {(DYNAMIC, "password"): "<secret: ECR authorization token>"}
# A bucket's and a role's id is its name, as in AWS; other ids are never read by the program.
ID_FIELDS = {"aws:s3/bucket:Bucket": "bucket", "aws:iam/role:Role": "name"}


def mock_resource(typ: str, name: str, inputs: Mapping[str, Any], region: str
                  ) -> tuple[str | None, dict[str, Any]] | None:
    """The id and state AWS would give a new resource of `typ`; None for a type that is not AWS's."""
    if not typ.startswith(("aws:", "aws-native:")):
        return None
    state = {**inputs, **_computed(typ, name, inputs, region)}
    field = ID_FIELDS.get(typ)
    return (str(state[field]) if field else None), state


def _computed(typ: str, name: str, inputs: Mapping[str, Any], region: str) -> dict[str, Any]:
    arn = f"arn:aws:{{}}:{region}:{ACCOUNT}:{{}}"
    state: dict[str, Any] = {}
    if typ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or f"{name}-{SUFFIX}"
        state = {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    elif typ == "aws:kms/key:Key":
        state = {"arn": arn.format("kms", f"key/{name}"), "keyId": name}
    elif typ == "aws:ecr/repository:Repository":
        repo = inputs.get("name") or name
        state = {"arn": arn.format("ecr", f"repository/{repo}"), "registryId": ACCOUNT,
                 "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{repo}"}
    elif typ == "aws:iam/role:Role":
        role = inputs.get("name") or f"{name}-{SUFFIX}"
        state = {"arn": f"arn:aws:iam::{ACCOUNT}:role/{role}", "name": role}
    elif typ == "aws:sagemaker/model:Model":
        model = inputs.get("name") or f"{name}-{SUFFIX}"
        state = {"name": model, "arn": arn.format("sagemaker", f"model/{model}")}
    elif typ == "aws:sagemaker/endpointConfiguration:EndpointConfiguration":
        config = inputs.get("name") or f"{inputs.get('namePrefix', name + '-')}{SUFFIX}"
        state = {"name": config, "arn": arn.format("sagemaker", f"endpoint-config/{config}")}
    elif typ == "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition":
        definition = inputs.get("name") or f"{name}-{SUFFIX}"
        state = {"name": definition, "arn": arn.format("sagemaker", f"data-quality-job-definition/{definition}")}
    elif typ == "aws:sagemaker/pipeline:Pipeline":
        state = {"arn": arn.format("sagemaker", f"pipeline/{inputs.get('pipelineName', name)}")}
    elif typ == "aws:sagemaker/modelPackageGroup:ModelPackageGroup":
        group = inputs.get("modelPackageGroupName", name)
        state = {"arn": arn.format("sagemaker", f"model-package-group/{group}")}
    elif typ == "aws-native:sagemaker:ModelPackage":
        group = inputs.get("modelPackageGroupName", name)
        state = {"modelPackageArn": arn.format("sagemaker", f"model-package/{group}/1"), "modelPackageVersion": 1}
    elif typ == "aws-native:sagemaker:Endpoint":
        state = {"endpointArn": arn.format("sagemaker", f"endpoint/{inputs.get('endpointName', name)}")}
    elif typ in ("aws:sns/topic:Topic", "aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/logGroup:LogGroup",
                 "aws:scheduler/schedule:Schedule", "aws:sagemaker/monitoringSchedule:MonitoringSchedule"):
        resource = inputs.get("name") or f"{name}-{SUFFIX}"
        state = {"name": resource, "arn": arn.format(typ.split(":")[1].split("/")[0], resource)}
    return state


def mock_call(token: str, args: Mapping[str, Any], region: str) -> dict[str, Any] | None:
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "userId": "ci", "id": ACCOUNT}
    if token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
        return {"authorizationToken": "QVdTOm1vY2s=", "userName": "AWS", "password": "mock-password",
                "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{region}.amazonaws.com",
                "expiresAt": "2030-01-01T00:00:00Z", "id": region}
    return None
