"""Drift monitoring on Vertex AI (when `monitorSchedule` is set, as `<N>h`): a model deployment
monitoring job over the endpoint's sampled requests with a drift threshold per feature, alerts by
e-mail, and the instance schema it reads, written next to the bundle. Vertex compares serving
windows with each other; the comparison with the bundle's own baseline is `modelstage drift` over
the captured BigQuery rows (docs/gcp.md)."""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components import child
from infra.gcp.common import GcpCommon
from infra.gcp.vertex.monitoring import VertexMonitoringJob, instance_schema_yaml
from infra.layout import Layout


@dataclass(frozen=True)
class DriftMonitorArgs:
    common: GcpCommon
    layout: Layout
    bucket: pulumi.Output[str]
    endpoint: pulumi.Output[str]  # projects/P/locations/R/endpoints/ID
    deployed_model_id: pulumi.Output[str]
    features: list[str]
    drift_threshold: float  # 0.1 for driftThresholdPercent 10
    interval_hours: int
    sample_rate: float  # the capture percentage as a fraction
    alert_email: str | None
    log_ttl_days: int


class DriftMonitor(pulumi.ComponentResource):
    job: VertexMonitoringJob

    def __init__(self, name: str, args: DriftMonitorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:gcp:DriftMonitor", name, None, opts)
        key = f"{args.layout.baseline_prefix}instance_schema.yaml"
        schema = gcp.storage.BucketObject(
            f"{name}-instance-schema", bucket=args.bucket, name=key, content=instance_schema_yaml(args.features),
            content_type="application/x-yaml", opts=child(self))
        self.job = VertexMonitoringJob(
            f"{name}-drift", endpoint=args.endpoint, deployed_model_id=args.deployed_model_id,
            feature_names=args.features, drift_threshold=args.drift_threshold,
            analysis_instance_schema_uri=pulumi.Output.concat("gs://", schema.bucket, "/", schema.name),
            monitor_interval_hours=args.interval_hours, sample_rate=args.sample_rate,
            alert_emails=[args.alert_email] if args.alert_email else [], log_ttl_days=args.log_ttl_days,
            display_name=f"{args.common.name}-drift", opts=child(self))
        self.register_outputs({"job": self.job.job_name})
