"""The whole GCP Vertex AI deployment of one bundle: every concern's component, built in order.

services -> store -> image -> identity -> registration -> alarms -> endpoint (+ deployed model)
-> drift monitor -> batch scoring. The project and region live in the spec only: an explicit pulumi-gcp provider
takes them from there, so the stack file needs no `gcp:` provider keys.
"""

# pyright: strict

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.gcp import names
from infra.gcp.alarms import EndpointAlarms, EndpointAlarmsArgs
from infra.gcp.artifact_store import ArtifactStore, ArtifactStoreArgs
from infra.gcp.batch import BatchScoring, BatchScoringArgs
from infra.gcp.common import GcpCommon
from infra.gcp.drift_monitor import DriftMonitor, DriftMonitorArgs
from infra.gcp.endpoint import ServingEndpoint, ServingEndpointArgs
from infra.gcp.identity import Identity, IdentityArgs
from infra.gcp.registration import ModelRegistration, ModelRegistrationArgs
from infra.gcp.services import ProjectServices, ProjectServicesArgs
from infra.gcp.serving_image import ServingImage, ServingImageArgs
from infra.gcp.spec import GcpDeploymentSpec
from infra.layout import Layout
from infra.outputs import StackOutputs
from model.bundle import Bundle


@dataclass(frozen=True)
class ModelDeploymentArgs:
    spec: GcpDeploymentSpec
    bundle: Bundle


class ModelDeployment(pulumi.ComponentResource):
    outputs: StackOutputs

    def __init__(self, name: str, args: ModelDeploymentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:gcp:ModelDeployment", name, None, opts)
        spec, bundle, section = args.spec, args.bundle, args.spec.section
        project = section.project
        provider = gcp.Provider(f"{name}-gcp", project=project, region=spec.region,
                                opts=pulumi.ResourceOptions(parent=self))
        comp = pulumi.ResourceOptions(parent=self, providers={"gcp": provider})
        number = gcp.organizations.get_project_output(
            project_id=project, opts=pulumi.InvokeOutputOptions(parent=self, provider=provider)).number
        c = GcpCommon(
            name=name, project=project, region=spec.region, project_number=number,
            labels={"modelstage-deployment": name, "modelstage-environment": spec.environment,
                    "modelstage-model": names.label_value(bundle.name)},
            protected=spec.protected,
        )
        layout = Layout(name=name, model=bundle.name, archive_sha256=bundle.archive_sha256())
        endpoint_id = names.endpoint_id(project, spec.region, name)

        services = ProjectServices(name, ProjectServicesArgs(
            common=c, customer_key=section.customer_key, capture=spec.monitoring.capture_enabled), comp)
        after: list[pulumi.Resource] = [services]
        store = ArtifactStore(name, ArtifactStoreArgs(
            common=c, layout=layout, archive=bundle.archive, metrics_report=json.dumps(bundle.metrics, indent=2),
            retention=spec.retention, customer_key=section.customer_key, after=after), comp)
        image = ServingImage(name, ServingImageArgs(
            common=c, key_name=store.key_name, prebuilt=spec.image,
            runtime_extras="skops" if bundle.model_format == "skops" else "", after=after), comp)
        identity = Identity(name, IdentityArgs(
            common=c, layout=layout, bucket=store.bucket.name,
            repository=image.repository.repository_id if image.repository is not None else None,
            batch=spec.batch, after=after), comp)
        registration = ModelRegistration(name, ModelRegistrationArgs(
            common=c, bundle=bundle, image_ref=image.image_ref, artifact_uri=store.artifact_uri), comp)
        EndpointAlarms(name, EndpointAlarmsArgs(
            common=c, endpoint_id=endpoint_id, monitoring=spec.monitoring,
            log_retention_days=spec.retention.log_days, alarm_email=section.alarm_email, after=after), comp)
        endpoint = ServingEndpoint(name, ServingEndpointArgs(
            common=c, spec=spec, endpoint_id=endpoint_id, key_name=store.key_name,
            model_version=registration.model.versioned_name, serving_account=identity.serving.email,
            after=[*after, identity]), comp)
        hours = section.monitor_interval_hours
        if hours is not None:
            DriftMonitor(name, DriftMonitorArgs(
                common=c, layout=layout, bucket=store.bucket.name, endpoint=endpoint.endpoint.id,
                deployed_model_id=endpoint.deployment.deployed_model_id,
                features=[f.name for f in bundle.schema.features],
                drift_threshold=spec.monitoring.drift_threshold_percent / 100, interval_hours=hours,
                sample_rate=spec.monitoring.data_capture_percent / 100, alert_email=section.alarm_email,
                log_ttl_days=spec.retention.capture_days), comp)
        if spec.batch.enabled and identity.scheduler is not None:
            BatchScoring(name, BatchScoringArgs(
                common=c, batch=spec.batch, model_version=registration.model.versioned_name,
                bucket=store.bucket.name, serving_account=identity.serving.email,
                scheduler_account=identity.scheduler.email), comp)

        self.outputs = StackOutputs(
            endpoint_name=endpoint.endpoint.id,
            invoke_url=pulumi.Output.from_input(names.invoke_url(project, spec.region, endpoint_id)),
            model_version_id=registration.model.versioned_name,
            image_digest=image.image_ref,
            artifact_uri=store.artifact_uri,
            region=spec.region,
            cloud="gcp",
            extra={"project": pulumi.Output.from_input(project), "endpoint_id": pulumi.Output.from_input(endpoint_id)},
        )
        self.register_outputs({"endpoint_name": self.outputs.endpoint_name,
                               "model_version_id": self.outputs.model_version_id})
