"""IAM roles: the SageMaker execution role, and the roles batch scoring and Model Monitor run as.

Inline policies only (no AWS managed *FullAccess policies); their documents come from
infra/aws/policies.py, scoped to this deployment's bucket prefixes, repository, key and log groups.
"""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws import policies
from infra.aws.common import AwsCommon, json_document
from infra.aws.names import ecr_repository_arn
from infra.components import child
from infra.layout import Layout
from infra.spec import Batch


@dataclass(frozen=True)
class IdentityArgs:
    common: AwsCommon
    layout: Layout
    endpoint: str
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    repository_arn: pulumi.Output[str]
    capture: bool
    rollback_alarms: list[str]  # names; empty when rollouts do not roll back on alarms
    batch: Batch
    pipeline_name: str
    analyzer_image: str | None  # Model Monitor's image; None: no monitoring role


class Identity(pulumi.ComponentResource):
    execution_role: aws.iam.Role
    pipeline_role: aws.iam.Role | None
    scheduler_role: aws.iam.Role | None
    monitor_role: aws.iam.Role | None

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:aws:Identity", name, None, opts)
        c = args.common

        def resolve(account: str, bucket_arn: str, key_arn: str) -> policies.Scope:
            return policies.Scope(c.partition, c.region, account, bucket_arn, key_arn, args.endpoint, args.layout)

        scope = pulumi.Output.all(c.account_id, args.bucket_arn, args.key_arn).apply(lambda v: resolve(*v))
        batch = (args.batch.input_prefix, args.batch.output_prefix) if args.batch.enabled else None

        def execution(s: policies.Scope, repository_arn: str) -> str:
            return json_document(policies.execution_policy(s, repository_arn, capture=args.capture, batch=batch,
                                                           rollback_alarms=args.rollback_alarms))

        self.execution_role = self._role(f"{name}-execution", "sagemaker.amazonaws.com", None,
                                         pulumi.Output.all(scope, args.repository_arn).apply(lambda v: execution(*v)),
                                         "SageMaker runs the endpoint and batch transform jobs as this role", c)

        self.pipeline_role = self.scheduler_role = self.monitor_role = None
        if args.batch.enabled:
            self.pipeline_role = self._role(
                f"{name}-batch-pipeline", "sagemaker.amazonaws.com", None,
                scope.apply(lambda s: json_document(policies.pipeline_policy(s))),
                "The batch scoring pipeline starts transform jobs as this role", c)
            pipeline_arn = scope.apply(lambda s: s.sagemaker("pipeline", args.pipeline_name))
            self.scheduler_role = self._role(
                f"{name}-batch-scheduler", "scheduler.amazonaws.com", c.account_id,
                pipeline_arn.apply(lambda arn: json_document(policies.scheduler_policy(arn))),
                "EventBridge Scheduler starts the batch scoring pipeline as this role", c)
        if args.analyzer_image is not None:
            analyzer = ecr_repository_arn(args.analyzer_image, c.partition)
            self.monitor_role = self._role(
                f"{name}-monitor", "sagemaker.amazonaws.com", None,
                scope.apply(lambda s: json_document(policies.monitor_policy(s, analyzer))),
                "Model Monitor checks captured requests against the bundle's baseline as this role", c)
        self.register_outputs({"execution_role_arn": self.execution_role.arn})

    def _role(self, name: str, service: str, source_account: pulumi.Output[str] | None,
              policy: pulumi.Output[str], description: str, c: AwsCommon) -> aws.iam.Role:
        trust = (source_account.apply(lambda a: json_document(policies.trust(service, a)))
                 if source_account is not None else json_document(policies.trust(service)))
        role = aws.iam.Role(name, assume_role_policy=trust, description=description, max_session_duration=3600,
                            tags=c.tags, opts=child(self))
        aws.iam.RolePolicy(name, role=role.id, policy=policy, opts=child(self))
        return role
