"""The Vertex AI endpoint (pulumi-gcp's AiEndpoint, with its fixed numeric id), request-response
logging into a BigQuery table with retention when capture is on, and the bundle's model version
deployed on it with CPU autoscaling and the rollout (infra/gcp/vertex/deployment.py).

The deployment resource owns the traffic split, so the endpoint ignores changes to it: a second
`pulumi up` must not reset traffic that a rollout moved.
"""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components import child
from infra.gcp.common import GcpCommon
from infra.gcp.spec import GcpDeploymentSpec
from infra.gcp.vertex.clients import VertexSettings
from infra.gcp.vertex.deployment import VertexDeployment
from infra.gcp.vertex.health import MetricsHealthCheck
from infra.protection import store_of_record

CAPTURE_TABLE = "request_response_logging"
DAY_MS = 86_400_000


@dataclass(frozen=True)
class ServingEndpointArgs:
    common: GcpCommon
    spec: GcpDeploymentSpec
    endpoint_id: str
    key_name: pulumi.Output[str] | None
    model_version: pulumi.Output[str]  # projects/P/locations/R/models/ID@VERSION
    serving_account: pulumi.Output[str]  # email: the deployed model runs as it
    after: list[pulumi.Resource]


class ServingEndpoint(pulumi.ComponentResource):
    endpoint: gcp.vertex.AiEndpoint
    capture: gcp.bigquery.Dataset | None
    deployment: VertexDeployment

    def __init__(self, name: str, args: ServingEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:gcp:ServingEndpoint", name, None, opts)
        c, spec = args.common, args.spec
        after = pulumi.ResourceOptions(depends_on=args.after)
        self.capture = None
        logging = None
        if spec.monitoring.capture_enabled:
            self.capture = gcp.bigquery.Dataset(
                f"{name}-capture", project=c.project, location=c.region,
                dataset_id=f"modelstage_{c.name.replace('-', '_')}_capture",
                description=f"modelstage {c.name}: captured requests and responses",
                default_table_expiration_ms=spec.retention.capture_days * DAY_MS,
                default_partition_expiration_ms=spec.retention.capture_days * DAY_MS,
                default_encryption_configuration=(
                    gcp.bigquery.DatasetDefaultEncryptionConfigurationArgs(kms_key_name=args.key_name)
                    if args.key_name is not None else None),
                delete_contents_on_destroy=not c.protected, labels=c.labels,
                opts=child(self, after, store_of_record(c.protected)))
            logging = gcp.vertex.AiEndpointPredictRequestResponseLoggingConfigArgs(
                enabled=True, sampling_rate=spec.monitoring.data_capture_percent / 100,
                bigquery_destination=gcp.vertex.AiEndpointPredictRequestResponseLoggingConfigBigqueryDestinationArgs(
                    output_uri=pulumi.Output.concat("bq://", c.project, ".", self.capture.dataset_id, ".",
                                                    CAPTURE_TABLE)))
        self.endpoint = gcp.vertex.AiEndpoint(
            f"{name}-endpoint", project=c.project, location=c.region, region=c.region, name=args.endpoint_id,
            display_name=c.name, description=f"modelstage {c.name}", labels=c.labels,
            encryption_spec=(gcp.vertex.AiEndpointEncryptionSpecArgs(kms_key_name=args.key_name)
                             if args.key_name is not None else None),
            predict_request_response_logging_config=logging,
            opts=child(self, after, pulumi.ResourceOptions(ignore_changes=["trafficSplit"])))
        rollout, monitoring = spec.rollout, spec.monitoring
        # A canary bakes while the new model's own p99 latency and 5xx share stay under the alert
        # policies' thresholds (read from Cloud Monitoring); otherwise traffic goes back and up fails.
        health = (MetricsHealthCheck(project=c.project, latency_p99_ms=float(monitoring.latency_p99_ms),
                                     error_rate_percent=float(monitoring.error_rate_percent))
                  if rollout.strategy == "canary" and rollout.rollback_on_alarms else None)
        self.deployment = VertexDeployment(
            f"{name}-deployment", endpoint=self.endpoint.id, model=args.model_version,
            machine_type=spec.instance_type, service_account=args.serving_account,
            min_replicas=spec.scaling.min_instances, max_replicas=spec.scaling.max_instances,
            cpu_target=spec.section.autoscaling_cpu_percent, display_name=c.name, rollout=rollout.strategy,
            step_percent=rollout.step_percent, bake_seconds=float(rollout.bake_seconds),
            settings=VertexSettings(lro_timeout_s=float(spec.section.deploy_timeout_seconds)),
            health_check=health, opts=child(self))
        self.register_outputs({"endpoint": self.endpoint.id, "deployed_model_id": self.deployment.deployed_model_id})
