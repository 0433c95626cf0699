"""Which AWS API call each recorded pulumi-aws resource type becomes, and how its inputs are named there.

A type's inputs are converted member by member: camelCase -> the API's member of the same name
whatever its case (so `kmsMasterKeyId` finds `KMSMasterKeyID` and the logs API's `logGroupName`), a
map where the API wants a list of key/value structures becomes that list (tags, dimensions), and a
small per-type table covers what pulumi-aws (Terraform-derived) names or shapes differently:
`renames` (an input path, list items written `[]`, to the API member at that level; dots in the
target nest it, e.g. the public-access-block flags under `PublicAccessBlockConfiguration`) and
`adapt` (a reshaping the renames cannot express). Inputs one call does not take can go to another
(`Call.inputs`): the KMS key's deletion window is `ScheduleKeyDeletion`'s, a log group's retention
`PutRetentionPolicy`'s.

`provider_only` lists the inputs that are the provider's own settings and reach no API member.
"""

# pyright: strict

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlencode

Adapt = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Call:
    service: str  # botocore service name
    operation: str
    inputs: frozenset[str] | None = None  # the top-level inputs this call takes; None: all the others
    provided: frozenset[str] = frozenset()  # required members the provider fills in itself
    partial: bool = False  # the call's required top-level members come from elsewhere (not checked)


@dataclass(frozen=True)
class TypeMap:
    calls: tuple[Call, ...]
    renames: Mapping[str, str] = field(default_factory=dict[str, str])
    adapt: Adapt | None = None
    provider_only: Mapping[str, str] = field(default_factory=dict[str, str])


def _only(*inputs: str) -> frozenset[str]:
    return frozenset(inputs)


def _alarm(inputs: dict[str, Any]) -> dict[str, Any]:
    """pulumi-aws flattens MetricStat: metric {namespace, metricName, dimensions, period, stat, unit}."""
    out = dict(inputs)
    queries: list[dict[str, Any]] = []
    for query in cast(list[dict[str, Any]], inputs.get("metricQueries") or []):
        q = dict(query)
        metric: Any = q.pop("metric", None)
        if isinstance(metric, dict):
            m = dict(cast(dict[str, Any], metric))
            stat = {k: m.pop(k) for k in ("period", "stat", "unit") if k in m}
            q["metricStat"] = {"metric": m, **stat}
        queries.append(q)
    if queries:
        out["metricQueries"] = queries
    return out


def _first(key: str) -> Adapt:
    """pulumi-aws holds a single structure as a one-item list."""

    def adapt(inputs: dict[str, Any]) -> dict[str, Any]:
        out = dict(inputs)
        value: Any = out.get(key)
        if isinstance(value, list) and len(cast(list[Any], value)) == 1:
            out[key] = cast(list[Any], value)[0]
        return out

    return adapt


def _wrap(path: tuple[str, ...]) -> Adapt:
    """pulumi-aws holds a list of one structure as that structure."""

    def adapt(inputs: dict[str, Any]) -> dict[str, Any]:
        out = dict(inputs)
        node: dict[str, Any] = out
        for key in path[:-1]:
            child: Any = node.get(key)
            if not isinstance(child, dict):
                return out
            node[key] = node = dict(cast(dict[str, Any], child))
        if isinstance(node.get(path[-1]), dict):
            node[path[-1]] = [node[path[-1]]]
        return out

    return adapt


def _object_tags(inputs: dict[str, Any]) -> dict[str, Any]:
    """PutObject takes tags as a URL-encoded query string."""
    out = dict(inputs)
    tags: Any = out.pop("tags", None)
    if isinstance(tags, dict):
        out["tagging"] = urlencode(cast(dict[str, str], tags))
    return out


_BUCKET = "bucket"
_SAGEMAKER = "sagemaker"

TYPES: Mapping[str, TypeMap] = {
    "aws:s3/bucket:Bucket": TypeMap(
        (Call("s3", "CreateBucket", inputs=_only("bucket")),
         Call("s3", "PutBucketTagging", inputs=_only("tags"), partial=True)),
        renames={"tags": "Tagging.TagSet"},
        provider_only={"forceDestroy": "deletes the objects before DeleteBucket"}),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": TypeMap(
        (Call("s3", "PutPublicAccessBlock"),),
        renames={k: f"PublicAccessBlockConfiguration.{k}" for k in
                 ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")},
        provider_only={"skipDestroy": "the provider's"}),
    "aws:s3/bucketVersioning:BucketVersioning": TypeMap((Call("s3", "PutBucketVersioning"),),
                                                        renames={"versioningConfiguration.mfaDelete": "MFADelete"}),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": TypeMap(
        (Call("s3", "PutBucketEncryption"),), renames={"rules": "ServerSideEncryptionConfiguration.Rules"}),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": TypeMap(
        (Call("s3", "PutBucketLifecycleConfiguration"),), renames={"rules": "LifecycleConfiguration.Rules"}),
    "aws:s3/bucketPolicy:BucketPolicy": TypeMap((Call("s3", "PutBucketPolicy"),)),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": TypeMap(
        (Call("s3", "PutBucketOwnershipControls"),), renames={"rule": "OwnershipControls.Rules"},
        adapt=_wrap(("rule",))),
    "aws:s3/bucketObjectv2:BucketObjectv2": TypeMap(
        (Call("s3", "PutObject"),), renames={"kmsKeyId": "SSEKMSKeyId", "source": "Body", "content": "Body"},
        adapt=_object_tags,
        provider_only={"sourceHash": "triggers an update", "etag": "triggers an update",
                       "forceDestroy": "the provider's"}),
    "aws:iam/role:Role": TypeMap(
        (Call("iam", "CreateRole"),),
        renames={"name": "RoleName", "assumeRolePolicy": "AssumeRolePolicyDocument"},
        provider_only={"forceDetachPolicies": "detaches policies before DeleteRole"}),
    "aws:iam/rolePolicy:RolePolicy": TypeMap(
        (Call("iam", "PutRolePolicy"),),
        renames={"role": "RoleName", "name": "PolicyName", "policy": "PolicyDocument"}),
    "aws:iam/policy:Policy": TypeMap(
        (Call("iam", "CreatePolicy"),), renames={"name": "PolicyName", "policy": "PolicyDocument"}),
    "aws:kms/key:Key": TypeMap(
        (Call("kms", "CreateKey", inputs=_only("policy", "description", "tags", "keyUsage", "customerMasterKeySpec",
                                                "multiRegion", "bypassPolicyLockoutSafetyCheck", "customKeyStoreId",
                                                "xksKeyId")),
         Call("kms", "ScheduleKeyDeletion", inputs=_only("deletionWindowInDays"), provided=_only("KeyId")),
         Call("kms", "EnableKeyRotation", inputs=_only("rotationPeriodInDays"), provided=_only("KeyId"))),
        renames={"deletionWindowInDays": "PendingWindowInDays", "customerMasterKeySpec": "KeySpec"},
        provider_only={"enableKeyRotation": "chooses EnableKeyRotation or DisableKeyRotation (no value sent)"}),
    "aws:kms/alias:Alias": TypeMap((Call("kms", "CreateAlias"),), renames={"name": "AliasName"}),
    "aws:ecr/repository:Repository": TypeMap(
        (Call("ecr", "CreateRepository"),),
        renames={"name": "repositoryName", "encryptionConfigurations": "encryptionConfiguration"},
        adapt=_first("encryptionConfigurations"),
        provider_only={"forceDelete": "deletes the images before DeleteRepository"}),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": TypeMap(
        (Call("ecr", "PutLifecyclePolicy"),),
        renames={"repository": "repositoryName", "policy": "lifecyclePolicyText"}),
    "aws:sns/topic:Topic": TypeMap(
        (Call("sns", "CreateTopic"),),
        renames={k: f"Attributes.{k[0].upper()}{k[1:]}" for k in
                 ("displayName", "kmsMasterKeyId", "policy", "deliveryPolicy", "fifoTopic", "signatureVersion",
                  "tracingConfig", "contentBasedDeduplication")}),
    "aws:sns/topicSubscription:TopicSubscription": TypeMap(
        (Call("sns", "Subscribe"),), renames={"topic": "TopicArn"}),
    "aws:cloudwatch/metricAlarm:MetricAlarm": TypeMap(
        (Call("cloudwatch", "PutMetricAlarm"),),
        renames={"name": "AlarmName", "metricQueries": "Metrics", "okActions": "OKActions"}, adapt=_alarm),
    "aws:cloudwatch/logGroup:LogGroup": TypeMap(
        (Call("logs", "CreateLogGroup", inputs=_only("name", "kmsKeyId", "tags", "logGroupClass",
                                                     "deletionProtectionEnabled")),
         Call("logs", "PutRetentionPolicy", inputs=_only("retentionInDays"), provided=_only("logGroupName"))),
        renames={"name": "logGroupName"},
        provider_only={"skipDestroy": "keeps the log group on delete"}),
    "aws:sagemaker/model:Model": TypeMap((Call(_SAGEMAKER, "CreateModel"),), renames={"name": "ModelName"}),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": TypeMap(
        (Call(_SAGEMAKER, "CreateEndpointConfig"),), renames={"name": "EndpointConfigName", "kmsKeyArn": "KmsKeyId"}),
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": TypeMap((Call(_SAGEMAKER, "CreateModelPackageGroup"),)),
    "aws:sagemaker/pipeline:Pipeline": TypeMap(
        (Call(_SAGEMAKER, "CreatePipeline", provided=_only("ClientRequestToken")),)),
    "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition": TypeMap(
        (Call(_SAGEMAKER, "CreateDataQualityJobDefinition"),),
        renames={"name": "JobDefinitionName", "jobResources.clusterConfig.volumeSizeInGb": "VolumeSizeInGB"},
        adapt=_wrap(("dataQualityJobOutputConfig", "monitoringOutputs"))),
    "aws:sagemaker/monitoringSchedule:MonitoringSchedule": TypeMap(
        (Call(_SAGEMAKER, "CreateMonitoringSchedule"),), renames={"name": "MonitoringScheduleName"}),
    "aws:scheduler/schedule:Schedule": TypeMap(
        (Call("scheduler", "CreateSchedule", provided=_only("ClientToken")),),
        renames={"target.sagemakerPipelineParameters": "SageMakerPipelineParameters",
                 "target.sagemakerPipelineParameters.pipelineParameters": "PipelineParameterList"}),
    "aws:appautoscaling/target:Target": TypeMap((Call("application-autoscaling", "RegisterScalableTarget"),)),
    "aws:appautoscaling/policy:Policy": TypeMap(
        (Call("application-autoscaling", "PutScalingPolicy"),), renames={"name": "PolicyName"}),
}
