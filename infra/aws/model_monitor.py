"""Scheduled drift checks: a Model Monitor data-quality job over the captured requests, compared with
the bundle's baseline, and one alarm per feature on its drift metric.

Only with data capture on (the spec refuses a monitor schedule without it). Note: AWS has closed
Model Monitor to new customers; accounts that never used it get an error creating the job
definition, so the shipped dev stack leaves the monitor off (docs/aws.md).
"""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.common import AwsCommon
from infra.aws.monitor_baseline import CONSTRAINTS, PREPROCESSOR, STATISTICS
from infra.aws.names import DATA_METRICS_NAMESPACE
from infra.components import child
from infra.layout import Layout

PROCESSING_INPUT = "/opt/ml/processing/input/endpoint"
PROCESSING_OUTPUT = "/opt/ml/processing/output"


@dataclass(frozen=True)
class DriftMonitorArgs:
    common: AwsCommon
    layout: Layout
    endpoint_name: pulumi.Output[str]
    schedule: str  # cron(...)
    analyzer_image: str
    instance_type: str
    role_arn: pulumi.Output[str]
    bucket: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    baseline_uris: dict[str, pulumi.Output[str]]
    features: list[str]
    drift_threshold: float  # the constraints' comparison threshold; the alarms fire above it
    alarm_topic_arn: pulumi.Output[str]


class DriftMonitor(pulumi.ComponentResource):
    job_definition: aws.sagemaker.DataQualityJobDefinition
    schedule: aws.sagemaker.MonitoringSchedule

    def __init__(self, name: str, args: DriftMonitorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:aws:DriftMonitor", name, None, opts)
        c, sm = args.common, aws.sagemaker
        reports = pulumi.Output.concat("s3://", args.bucket, "/", args.layout.reports_prefix.rstrip("/"))
        self.job_definition = sm.DataQualityJobDefinition(
            f"{name}-data-quality",
            role_arn=args.role_arn,
            data_quality_app_specification=sm.DataQualityJobDefinitionDataQualityAppSpecificationArgs(
                image_uri=args.analyzer_image,
                record_preprocessor_source_uri=args.baseline_uris[PREPROCESSOR]),
            data_quality_baseline_config=sm.DataQualityJobDefinitionDataQualityBaselineConfigArgs(
                constraints_resource=sm.DataQualityJobDefinitionDataQualityBaselineConfigConstraintsResourceArgs(
                    s3_uri=args.baseline_uris[CONSTRAINTS]),
                statistics_resource=sm.DataQualityJobDefinitionDataQualityBaselineConfigStatisticsResourceArgs(
                    s3_uri=args.baseline_uris[STATISTICS])),
            data_quality_job_input=sm.DataQualityJobDefinitionDataQualityJobInputArgs(
                endpoint_input=sm.DataQualityJobDefinitionDataQualityJobInputEndpointInputArgs(
                    endpoint_name=args.endpoint_name, local_path=PROCESSING_INPUT,
                    s3_data_distribution_type="FullyReplicated", s3_input_mode="File")),
            data_quality_job_output_config=sm.DataQualityJobDefinitionDataQualityJobOutputConfigArgs(
                kms_key_id=args.key_arn,
                monitoring_outputs=sm.DataQualityJobDefinitionDataQualityJobOutputConfigMonitoringOutputsArgs(
                    s3_output=sm.DataQualityJobDefinitionDataQualityJobOutputConfigMonitoringOutputsS3OutputArgs(
                        s3_uri=reports, local_path=PROCESSING_OUTPUT, s3_upload_mode="EndOfJob"))),
            job_resources=sm.DataQualityJobDefinitionJobResourcesArgs(
                cluster_config=sm.DataQualityJobDefinitionJobResourcesClusterConfigArgs(
                    instance_count=1, instance_type=args.instance_type, volume_size_in_gb=20,
                    volume_kms_key_id=args.key_arn)),
            network_config=sm.DataQualityJobDefinitionNetworkConfigArgs(
                enable_inter_container_traffic_encryption=True, enable_network_isolation=True),
            stopping_condition=sm.DataQualityJobDefinitionStoppingConditionArgs(max_runtime_in_seconds=1800),
            tags=c.tags,
            opts=child(self),
        )
        schedule_name = f"{c.name}-data-quality"
        self.schedule = sm.MonitoringSchedule(
            f"{name}-monitor-schedule",
            name=schedule_name,
            monitoring_schedule_config=sm.MonitoringScheduleMonitoringScheduleConfigArgs(
                monitoring_type="DataQuality",
                monitoring_job_definition_name=self.job_definition.name,
                schedule_config=sm.MonitoringScheduleMonitoringScheduleConfigScheduleConfigArgs(
                    schedule_expression=args.schedule)),
            tags=c.tags,
            opts=child(self),
        )
        for feature in args.features:
            aws.cloudwatch.MetricAlarm(
                f"{name}-drift-{feature.replace('_', '-')}",
                name=pulumi.Output.concat(args.endpoint_name, f"-drift-{feature}"),
                alarm_description=f"{feature}: live inputs drifted from the bundle's baseline "
                                  f"(distance above {args.drift_threshold:g})",
                namespace=DATA_METRICS_NAMESPACE,
                metric_name=f"feature_baseline_drift_{feature}",
                dimensions={"Endpoint": args.endpoint_name, "MonitoringSchedule": schedule_name},
                statistic="Maximum", period=3600, evaluation_periods=1,
                comparison_operator="GreaterThanThreshold", threshold=args.drift_threshold,
                treat_missing_data="notBreaching",  # no check ran in this hour
                alarm_actions=[args.alarm_topic_arn], tags=c.tags,
                opts=child(self, pulumi.ResourceOptions(depends_on=[self.schedule])),
            )
        self.register_outputs({"schedule": self.schedule.name})
