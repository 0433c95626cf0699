"""IAM, KMS, S3 and ECR policy documents as pure functions of resolved ARNs.

Least privilege: every statement names the exact bucket prefix, repository, log group, key or
pipeline it needs. The only `*` resources are the two actions IAM cannot scope to a resource:
`ecr:GetAuthorizationToken` and `cloudwatch:PutMetricData`. Tests parse these documents and check
them action by action.
"""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.aws.names import endpoint_log_group
from infra.layout import Layout

Doc = dict[str, Any]
VERSION = "2012-10-17"
ECR_PULL = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
LOG_WRITE = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
UNSCOPABLE = frozenset({"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"})


@dataclass(frozen=True)
class Scope:
    """The resolved identifiers a deployment's policies are scoped to."""

    partition: str
    region: str
    account: str
    bucket_arn: str
    key_arn: str
    endpoint: str
    layout: Layout

    def objects(self, prefix: str) -> str:
        return f"{self.bucket_arn}/{prefix}*"

    def log_group(self, name: str) -> list[str]:
        base = f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:{name}"
        return [base, f"{base}:log-stream:*"]

    def sagemaker(self, kind: str, name: str) -> str:
        return f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:{kind}/{name}"

    def alarm(self, name: str) -> str:
        return f"arn:{self.partition}:cloudwatch:{self.region}:{self.account}:alarm:{name}"


def _statement(sid: str, actions: list[str], resources: str | list[str], condition: Doc | None = None) -> Doc:
    out: Doc = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if condition:
        out["Condition"] = condition
    return out


def _policy(*statements: Doc) -> Doc:
    return {"Version": VERSION, "Statement": list(statements)}


def trust(service: str, source_account: str | None = None) -> Doc:
    """Who may assume a role: one AWS service, optionally only on behalf of this account."""
    statement: Doc = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if source_account is not None:  # confused-deputy guard, supported by EventBridge Scheduler
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return _policy(statement)


def _list_prefixes(scope: Scope, sid: str, prefixes: list[str]) -> Doc:
    return _statement(sid, ["s3:ListBucket"], scope.bucket_arn,
                      {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}})


def execution_policy(scope: Scope, repository_arn: str, *, capture: bool,
                     batch: tuple[str, str] | None, rollback_alarms: list[str]) -> Doc:
    """The SageMaker model's role: serve the endpoint, run batch transform jobs over the model, and
    (deployment guardrails) read the alarms a rollout watches, without which it cannot roll back."""
    log_groups = scope.log_group(endpoint_log_group(scope.endpoint))
    statements = [
        _statement("ReadModelArtifacts", ["s3:GetObject"], scope.objects(scope.layout.model_prefix)),
        _statement("PullServingImage", ECR_PULL, repository_arn),
        _statement("EcrLogin", ["ecr:GetAuthorizationToken"], "*"),
        _statement("WriteEndpointLogs", LOG_WRITE, log_groups),
        _statement("PublishMetrics", ["cloudwatch:PutMetricData"], "*"),
        _statement("UseDeploymentKey", ["kms:Decrypt", "kms:GenerateDataKey"], scope.key_arn),
    ]
    if rollback_alarms:
        statements.append(_statement("ReadRollbackAlarms", ["cloudwatch:DescribeAlarms"],
                                     [scope.alarm(n) for n in rollback_alarms]))
    if capture:
        statements.append(_statement("WriteCapturedRequests", ["s3:PutObject"],
                                     scope.objects(scope.layout.capture_prefix)))
    if batch is not None:
        input_prefix, output_prefix = batch
        statements += [
            _statement("ReadBatchInput", ["s3:GetObject"], scope.objects(input_prefix)),
            _list_prefixes(scope, "ListBatchInput", [input_prefix]),
            _statement("WriteBatchOutput", ["s3:PutObject"], scope.objects(output_prefix)),
            _statement("WriteTransformJobLogs", ["logs:CreateLogGroup", *LOG_WRITE],
                       scope.log_group("/aws/sagemaker/TransformJobs")),
        ]
    return _policy(*statements)


def pipeline_policy(scope: Scope) -> Doc:
    """The batch pipeline's role: start and watch the transform jobs its Transform step creates."""
    return _policy(
        _statement("RunTransformJobs", ["sagemaker:AddTags", "sagemaker:CreateTransformJob",
                                        "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"],
                   scope.sagemaker("transform-job", "pipelines-*")),
        _statement("EncryptJobVolumes", ["kms:CreateGrant"], scope.key_arn,
                   {"Bool": {"kms:GrantIsForAWSResource": "true"}}),
        _statement("DescribeDeploymentKey", ["kms:DescribeKey"], scope.key_arn),
    )


def scheduler_policy(pipeline_arn: str) -> Doc:
    """EventBridge Scheduler's role: start exactly this pipeline."""
    return _policy(_statement("StartBatchPipeline", ["sagemaker:StartPipelineExecution"], pipeline_arn))


def monitor_policy(scope: Scope, analyzer_repository_arn: str) -> Doc:
    """Model Monitor's role: read captured requests and the baseline, write reports and metrics."""
    layout = scope.layout
    return _policy(
        _statement("ReadCaptureAndBaseline", ["s3:GetObject"],
                   [scope.objects(layout.capture_prefix), scope.objects(layout.baseline_prefix)]),
        _list_prefixes(scope, "ListCaptureAndBaseline", [layout.capture_prefix, layout.baseline_prefix]),
        _statement("WriteReports", ["s3:PutObject"], scope.objects(layout.reports_prefix)),
        _statement("UseDeploymentKey", ["kms:Decrypt", "kms:GenerateDataKey"], scope.key_arn),
        _statement("EncryptJobVolumes", ["kms:CreateGrant"], scope.key_arn,
                   {"Bool": {"kms:GrantIsForAWSResource": "true"}}),
        _statement("PullAnalyzerImage", ECR_PULL, analyzer_repository_arn),
        _statement("EcrLogin", ["ecr:GetAuthorizationToken"], "*"),
        _statement("WriteProcessingJobLogs", ["logs:CreateLogGroup", *LOG_WRITE],
                   scope.log_group("/aws/sagemaker/ProcessingJobs")),
        _statement("PublishMetrics", ["cloudwatch:PutMetricData"], "*"),
    )


def key_policy(partition: str, region: str, account: str, endpoint: str) -> Doc:
    """The deployment key: administered by the account's IAM, usable by CloudWatch Logs for the
    endpoint's log group and by CloudWatch alarms publishing to the encrypted topic."""
    log_group_arn = f"arn:{partition}:logs:{region}:{account}:log-group:{endpoint_log_group(endpoint)}"
    return _policy(
        {"Sid": "AccountAdministersKeyThroughIam", "Effect": "Allow",
         "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"},
        # No kms:Describe* here, unlike AWS's sample: DescribeKey takes no encryption context, so under
        # this condition it could never be allowed (the IAM catalogue check in tests/infra/aws says so).
        {"Sid": "LogsEncryptEndpointLogGroup", "Effect": "Allow",
         "Principal": {"Service": f"logs.{region}.amazonaws.com"},
         "Action": ["kms:Decrypt*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
         "Resource": "*",
         "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": log_group_arn}}},
        {"Sid": "AlarmsPublishToEncryptedTopic", "Effect": "Allow",
         "Principal": {"Service": "cloudwatch.amazonaws.com"},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceAccount": account}}},
    )


def tls_only_bucket_policy(bucket_arn: str) -> Doc:
    return _policy({
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    })


def ecr_lifecycle_policy(keep_images: int | None = 30, untagged_days: int = 7) -> Doc:
    """Untagged layers go after a week. keep_images: the newest builds that stay; None keeps every
    tagged image (protected stacks: a retained model package must still find its image)."""
    rules: list[dict[str, Any]] = [
        {"rulePriority": 1, "description": f"expire untagged images after {untagged_days} days",
         "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                       "countNumber": untagged_days},
         "action": {"type": "expire"}},
    ]
    if keep_images is not None:
        rules.append(
            {"rulePriority": 2, "description": f"keep the newest {keep_images} images",
             "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_images},
             "action": {"type": "expire"}})
    return {"rules": rules}
