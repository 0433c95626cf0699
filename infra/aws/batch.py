"""Scheduled batch scoring: a SageMaker Pipeline with one Transform step over the deployed Model,
started by an EventBridge Scheduler schedule.

Each run scores every CSV file under the input prefix (one row per line, the serving image's CSV
contract) and writes `<file>.out` under `<output prefix><execution id>/`, so runs never overwrite
each other.
"""

# pyright: strict

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.aws.common import AwsCommon
from infra.components import child
from infra.spec import Batch

CSV = "text/csv"
MAX_PAYLOAD_MB = 6  # the serving image's body limit on the SageMaker route (6 MiB)
# A MultiRecord mini-batch is up to MaxPayloadInMB of lines; the runtime's online default (10,000 rows
# a request) would refuse a full one, so the transform job raises it, for its own containers only, to
# the runtime's ceiling: every mini-batch whose lines average 6.3 bytes or more fits.
BATCH_MAX_ROWS = 1_000_000


@dataclass(frozen=True)
class BatchScoringArgs:
    common: AwsCommon
    batch: Batch
    pipeline_name: str
    model_name: pulumi.Output[str]
    bucket: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    pipeline_role_arn: pulumi.Output[str]
    scheduler_role_arn: pulumi.Output[str]


def pipeline_definition(batch: Batch, model_name: str, bucket: str, key_arn: str) -> dict[str, Any]:
    """The pipeline definition (SageMaker's JSON schema, version 2020-12-01): parameters for the input
    and output locations, and a Transform step whose arguments are a CreateTransformJob request."""
    return {
        "Version": "2020-12-01",
        "Metadata": {"GeneratedBy": "modelstage"},
        "Parameters": [
            {"Name": "InputUri", "Type": "String", "DefaultValue": f"s3://{bucket}/{batch.input_prefix}"},
            {"Name": "OutputUri", "Type": "String", "DefaultValue": f"s3://{bucket}/{batch.output_prefix}"},
        ],
        "Steps": [{
            "Name": "Score",
            "Type": "Transform",
            "Arguments": {
                "ModelName": model_name,
                "BatchStrategy": "MultiRecord",
                "MaxPayloadInMB": MAX_PAYLOAD_MB,
                "Environment": {"MODELSTAGE_MAX_ROWS": str(BATCH_MAX_ROWS)},
                "ModelClientConfig": {"InvocationsTimeoutInSeconds": 60, "InvocationsMaxRetries": 1},
                "TransformInput": {
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                    "S3Uri": {"Get": "Parameters.InputUri"}}},
                    "ContentType": CSV,
                    "SplitType": "Line",
                },
                "TransformOutput": {
                    "S3OutputPath": {"Std:Join": {"On": "", "Values": [
                        {"Get": "Parameters.OutputUri"}, {"Get": "Execution.PipelineExecutionId"}]}},
                    "Accept": CSV,
                    "AssembleWith": "Line",
                    "KmsKeyId": key_arn,
                },
                "TransformResources": {"InstanceType": batch.instance_type,
                                       "InstanceCount": batch.instance_count, "VolumeKmsKeyId": key_arn},
            },
        }],
    }


class BatchScoring(pulumi.ComponentResource):
    pipeline: aws.sagemaker.Pipeline
    schedule: aws.scheduler.Schedule

    def __init__(self, name: str, args: BatchScoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:aws:BatchScoring", name, None, opts)
        c, batch = args.common, args.batch
        if batch.schedule is None:
            raise ValueError("BatchScoring needs a schedule; the deployment skips it when batchSchedule is empty")

        def definition(model_name: str, bucket: str, key_arn: str) -> str:
            return json.dumps(pipeline_definition(batch, model_name, bucket, key_arn))

        self.pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline",
            pipeline_name=args.pipeline_name,
            pipeline_display_name=args.pipeline_name,
            pipeline_description=f"Scores s3://<bucket>/{batch.input_prefix} with {c.name}'s model",
            role_arn=args.pipeline_role_arn,
            pipeline_definition=pulumi.Output.all(args.model_name, args.bucket, args.key_arn).apply(
                lambda v: definition(*v)),
            tags=c.tags,
            opts=child(self),
        )
        self.schedule = aws.scheduler.Schedule(
            f"{name}-batch-schedule",
            name=f"{c.name}-batch",
            description=f"Starts {args.pipeline_name}",
            schedule_expression=batch.schedule,
            schedule_expression_timezone="UTC",
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            target=aws.scheduler.ScheduleTargetArgs(
                arn=self.pipeline.arn,  # templated target: SageMaker StartPipelineExecution
                role_arn=args.scheduler_role_arn,
                sagemaker_pipeline_parameters=aws.scheduler.ScheduleTargetSagemakerPipelineParametersArgs(
                    pipeline_parameters=[
                        aws.scheduler.ScheduleTargetSagemakerPipelineParametersPipelineParameterArgs(
                            name="InputUri", value=pulumi.Output.concat("s3://", args.bucket, "/", batch.input_prefix)),
                    ]),
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_retry_attempts=2, maximum_event_age_in_seconds=3600),
            ),
            opts=child(self),
        )
        self.register_outputs({"pipeline_arn": self.pipeline.arn})
