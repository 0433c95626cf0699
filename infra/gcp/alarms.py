"""Cloud Monitoring alert policies on the endpoint's p99 latency and 5xx error rate (Vertex's online
prediction metrics), an e-mail channel, and the endpoint's logs routed to a log bucket of the stack
with its retention. The same two policies are what a canary rollout watches during its bake."""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components import child
from infra.gcp import names
from infra.gcp.common import GcpCommon
from infra.spec import Monitoring

WINDOW = "60s"
DURATION = "120s"  # two bad minutes in a row


@dataclass(frozen=True)
class EndpointAlarmsArgs:
    common: GcpCommon
    endpoint_id: str
    monitoring: Monitoring
    log_retention_days: int
    alarm_email: str | None
    after: list[pulumi.Resource]


def endpoint_filter(endpoint_id: str, metric: str, extra: str = "") -> str:
    return (f'resource.type = "{names.ENDPOINT_RESOURCE}" AND resource.labels.endpoint_id = "{endpoint_id}" '
            f'AND metric.type = "{metric}"{extra}')


class EndpointAlarms(pulumi.ComponentResource):
    latency: gcp.monitoring.AlertPolicy
    error_rate: gcp.monitoring.AlertPolicy

    def __init__(self, name: str, args: EndpointAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:gcp:EndpointAlarms", name, None, opts)
        c, m, ep = args.common, args.monitoring, args.endpoint_id
        after = pulumi.ResourceOptions(depends_on=args.after)
        channels: list[pulumi.Output[str]] = []
        if args.alarm_email:
            channel = gcp.monitoring.NotificationChannel(
                f"{name}-email", project=c.project, type="email", display_name=f"modelstage {c.name} on-call",
                labels={"email_address": args.alarm_email}, user_labels=c.labels, opts=child(self, after))
            channels.append(channel.name)
        percentile = gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
            alignment_period=WINDOW, per_series_aligner="ALIGN_PERCENTILE_99", cross_series_reducer="REDUCE_MAX",
            group_by_fields=["resource.labels.endpoint_id"])
        self.latency = gcp.monitoring.AlertPolicy(
            f"{name}-p99-latency", project=c.project, display_name=f"{c.name} p99 prediction latency",
            combiner="OR", severity="ERROR", notification_channels=channels, user_labels=c.labels,
            conditions=[gcp.monitoring.AlertPolicyConditionArgs(
                display_name=f"p99 latency above {m.latency_p99_ms} ms",
                condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                    filter=endpoint_filter(ep, names.LATENCY_METRIC), aggregations=[percentile],
                    comparison="COMPARISON_GT", threshold_value=float(m.latency_p99_ms), duration=DURATION,
                    evaluation_missing_data="EVALUATION_MISSING_DATA_INACTIVE"))],
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                mime_type="text/markdown",
                content=f"Endpoint {ep} answers slower than {m.latency_p99_ms} ms at p99 (docs/gcp.md)."),
            opts=child(self, after))

        errors_per_second = gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
            alignment_period=WINDOW, per_series_aligner="ALIGN_RATE", cross_series_reducer="REDUCE_SUM",
            group_by_fields=["resource.labels.endpoint_id"])
        self.error_rate = gcp.monitoring.AlertPolicy(
            f"{name}-error-rate", project=c.project, display_name=f"{c.name} 5xx error rate",
            combiner="OR", severity="ERROR", notification_channels=channels, user_labels=c.labels,
            conditions=[gcp.monitoring.AlertPolicyConditionArgs(
                display_name=f"more than {m.error_rate_percent}% of predictions fail with 5xx",
                condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                    filter=endpoint_filter(ep, names.RESPONSES_METRIC,
                                           ' AND metric.labels.response_code = monitoring.regex.full_match("5.*")'),
                    aggregations=[errors_per_second],
                    denominator_filter=endpoint_filter(ep, names.RESPONSES_METRIC),
                    denominator_aggregations=[
                        gcp.monitoring.AlertPolicyConditionConditionThresholdDenominatorAggregationArgs(
                            alignment_period=WINDOW, per_series_aligner="ALIGN_RATE",
                            cross_series_reducer="REDUCE_SUM", group_by_fields=["resource.labels.endpoint_id"])],
                    comparison="COMPARISON_GT", threshold_value=m.error_rate_percent / 100, duration=DURATION,
                    evaluation_missing_data="EVALUATION_MISSING_DATA_INACTIVE"))],
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                mime_type="text/markdown",
                content=f"More than {m.error_rate_percent}% of endpoint {ep}'s predictions fail (docs/gcp.md)."),
            opts=child(self, after))

        bucket_id = f"modelstage-{c.name}"
        logs = gcp.logging.ProjectBucketConfig(
            f"{name}-log-bucket", project=c.project, location="global", bucket_id=bucket_id,
            retention_days=args.log_retention_days, description=f"modelstage {c.name}: endpoint logs",
            opts=child(self, after))
        gcp.logging.ProjectSink(
            f"{name}-log-sink", project=c.project, name=bucket_id,
            destination=pulumi.Output.concat("logging.googleapis.com/", logs.id),
            filter=f'resource.type = "{names.ENDPOINT_RESOURCE}" AND resource.labels.endpoint_id = "{ep}"',
            unique_writer_identity=True, opts=child(self))
        self.register_outputs({"latency": self.latency.name, "error_rate": self.error_rate.name})

    @property
    def policy_names(self) -> list[pulumi.Output[str]]:
        return [self.error_rate.name, self.latency.name]
