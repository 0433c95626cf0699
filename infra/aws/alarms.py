"""The endpoint's alarms (which also roll a bad model back), their topic, and its log group.

Created before the endpoint: the endpoint's deployment config names these alarms, and the log group
must exist (with retention and encryption) before SageMaker writes to it.
"""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.common import AwsCommon
from infra.aws.names import METRICS_NAMESPACE, VARIANT, endpoint_log_group, error_rate_alarm, latency_alarm
from infra.aws.spec import ALARM_DATAPOINTS, ALARM_EVALUATION_PERIODS, ALARM_PERIOD_SECONDS
from infra.components import child
from infra.spec import Monitoring

# Two bad minutes out of three: one slow cold start does not roll back (the spec checks bakes against it).
PERIOD_SECONDS = ALARM_PERIOD_SECONDS
EVALUATION_PERIODS = ALARM_EVALUATION_PERIODS
DATAPOINTS_TO_ALARM = ALARM_DATAPOINTS


@dataclass(frozen=True)
class EndpointAlarmsArgs:
    common: AwsCommon
    endpoint: str
    key_arn: pulumi.Output[str]
    monitoring: Monitoring
    log_retention_days: int
    alarm_email: str | None


class EndpointAlarms(pulumi.ComponentResource):
    topic: aws.sns.Topic
    log_group: aws.cloudwatch.LogGroup
    error_rate: aws.cloudwatch.MetricAlarm
    latency: aws.cloudwatch.MetricAlarm

    def __init__(self, name: str, args: EndpointAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:aws:EndpointAlarms", name, None, opts)
        c, m, ep = args.common, args.monitoring, args.endpoint
        self.topic = aws.sns.Topic(f"{name}-topic", display_name=f"modelstage {c.name} alarms",
                                   kms_master_key_id=args.key_arn, tags=c.tags, opts=child(self))
        if args.alarm_email is not None:
            aws.sns.TopicSubscription(f"{name}-email", topic=self.topic.arn, protocol="email",
                                      endpoint=args.alarm_email, opts=child(self))
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-endpoint-logs", name=endpoint_log_group(ep), retention_in_days=args.log_retention_days,
            kms_key_id=args.key_arn, tags=c.tags, opts=child(self))

        dimensions = {"EndpointName": ep, "VariantName": VARIANT}
        actions = [self.topic.arn]

        def metric(query_id: str, metric_name: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
            return aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=query_id, return_data=False,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    metric_name=metric_name, namespace=METRICS_NAMESPACE, period=PERIOD_SECONDS, stat="Sum",
                    dimensions=dimensions))

        self.error_rate = aws.cloudwatch.MetricAlarm(
            f"{name}-error-rate",
            name=error_rate_alarm(ep),
            alarm_description=f"More than {m.error_rate_percent}% of {ep}'s invocations failed with 5xx "
                              "(rolls back a rollout in progress)",
            comparison_operator="GreaterThanThreshold",
            threshold=m.error_rate_percent,
            evaluation_periods=EVALUATION_PERIODS,
            datapoints_to_alarm=DATAPOINTS_TO_ALARM,
            treat_missing_data="notBreaching",  # no traffic is not an outage
            metric_queries=[
                metric("errors", "Invocation5XXErrors"),
                metric("invocations", "Invocations"),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="error_rate", expression="IF(invocations > 0, 100 * errors / invocations, 0)",
                    label="5xx errors, % of invocations", return_data=True),
            ],
            alarm_actions=actions, ok_actions=actions, tags=c.tags, opts=child(self))
        self.latency = aws.cloudwatch.MetricAlarm(
            f"{name}-latency",
            name=latency_alarm(ep),
            alarm_description=f"{ep}'s p99 model latency is above {m.latency_p99_ms} ms "
                              "(rolls back a rollout in progress)",
            namespace=METRICS_NAMESPACE,
            metric_name="ModelLatency",
            dimensions=dimensions,
            extended_statistic="p99",
            period=PERIOD_SECONDS,
            comparison_operator="GreaterThanThreshold",
            threshold=m.latency_p99_ms * 1000,  # ModelLatency is in microseconds
            evaluation_periods=EVALUATION_PERIODS,
            datapoints_to_alarm=DATAPOINTS_TO_ALARM,
            treat_missing_data="notBreaching",
            alarm_actions=actions, ok_actions=actions, tags=c.tags, opts=child(self))
        self.register_outputs({"topic_arn": self.topic.arn, "rollback_alarms": self.rollback_alarm_names})

    @property
    def rollback_alarm_names(self) -> list[pulumi.Output[str]]:
        return [self.error_rate.name, self.latency.name]
