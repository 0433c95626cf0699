"""Mocks that stand in for the Pulumi engine and the cloud providers, and record every registration.

`RecordingMonitor` sees what `Mocks.new_resource` does not: the parent, the protect and
retain-on-delete options, the provider and the dependencies of each resource. `RecordingMocks`
returns deterministic values for what the cloud would compute (ARNs, names, URLs), so a run of the
program always records the same thing.
"""

# pyright: strict

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs

ACCOUNT = "123456789012"
SUFFIX = "0000000"  # what Pulumi's auto-naming would append


@dataclass
class Registration:
    typ: str
    name: str
    urn: str
    parent: str
    inputs: dict[str, Any]
    custom: bool
    protect: bool
    retain_on_delete: bool
    provider: str
    dependencies: list[str] = field(default_factory=list[str])
    property_dependencies: dict[str, list[str]] = field(default_factory=dict[str, list[str]])


def _aws_state(typ: str, name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """What AWS would compute for a new resource of `typ`."""
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
    elif typ == "pulumi-python:dynamic:Resource" and "repository" in inputs:
        digest = "sha256:" + hashlib.sha256(f"{inputs['repository']}".encode()).hexdigest()
        state = {"image_ref": f"{inputs['repository']}@{digest}", "digest": digest, "tag": "modelstage-runtime:mock"}
    return state


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str = "eu-west-1") -> None:
        self.region = region
        self.calls: list[str] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        inputs: dict[str, Any] = dict(cast(Any, args).inputs)
        state = {**inputs, **_aws_state(args.typ, args.name, inputs, self.region)}
        state.setdefault("name", args.name)
        # A bucket's and a role's id is its name, as in AWS; other ids are never read by the program.
        id_field = {"aws:s3/bucket:Bucket": "bucket", "aws:iam/role:Role": "name"}.get(args.typ)
        return (str(state[id_field]) if id_field else f"{args.name}-id"), state

    def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        self.calls.append(args.token)
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "userId": "ci", "id": ACCOUNT}, []
        if args.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return {"authorizationToken": "QVdTOm1vY2s=", "userName": "AWS", "password": "mock-password",
                    "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com",
                    "expiresAt": "2030-01-01T00:00:00Z", "id": self.region}, []
        return {}, []  # no check failures; (dict, None) would make MockMonitor iterate None


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:
        response: Any = cast(Any, super()).RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = rpc.deserialize_properties(request.object)
            self.registrations.append(Registration(
                typ=request.type, name=request.name, urn=response.urn, parent=request.parent, inputs=dict(inputs),
                custom=bool(request.custom), protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete), provider=request.provider,
                dependencies=list(request.dependencies),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            ))
        return response
