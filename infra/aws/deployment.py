"""The whole AWS deployment of one bundle: every concern's component, built in order.

store -> image -> identity -> registration -> alarms -> endpoint -> drift monitor -> batch scoring.
The region lives in the spec only: explicit providers for pulumi-aws and pulumi-aws-native take it
from there (stack-file provider keys would configure only the default providers, and aws-native
needs a region of its own).
"""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from infra.aws import names
from infra.aws.alarms import EndpointAlarms, EndpointAlarmsArgs
from infra.aws.artifact_store import ArtifactStore, ArtifactStoreArgs
from infra.aws.batch import BatchScoring, BatchScoringArgs
from infra.aws.common import AwsCommon
from infra.aws.endpoint import ServingEndpoint, ServingEndpointArgs
from infra.aws.identity import Identity, IdentityArgs
from infra.aws.model_monitor import DriftMonitor, DriftMonitorArgs
from infra.aws.monitor_baseline import baseline_files
from infra.aws.registration import ModelRegistration, ModelRegistrationArgs, metrics_report
from infra.aws.serving_image import ServingImage, ServingImageArgs
from infra.aws.spec import AwsDeploymentSpec
from infra.components import pinned_bundle_env
from infra.errors import SpecError
from infra.layout import Layout
from infra.outputs import StackOutputs
from infra.spec_keys import qualified
from model.bundle import Bundle


@dataclass(frozen=True)
class ModelDeploymentArgs:
    spec: AwsDeploymentSpec
    bundle: Bundle


def analyzer_image(spec: AwsDeploymentSpec) -> str | None:
    """Model Monitor's image when a drift check is scheduled, else None."""
    if spec.monitoring.monitor_schedule is None:
        return None
    image = spec.section.model_monitor_image or names.model_monitor_image(spec.region)
    if image is None:
        raise SpecError(f"{qualified('monitorSchedule')}: no Model Monitor image is known for {spec.region}; "
                        f"set {qualified('awsModelMonitorImage')} to the region's analyzer image URI")
    return image


class ModelDeployment(pulumi.ComponentResource):
    outputs: StackOutputs

    def __init__(self, name: str, args: ModelDeploymentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:aws:ModelDeployment", name, None, opts)
        spec, bundle = args.spec, args.bundle
        provider = aws.Provider(f"{name}-aws", region=spec.region, opts=pulumi.ResourceOptions(parent=self))
        native = aws_native.Provider(f"{name}-aws-native", region=spec.region,
                                     opts=pulumi.ResourceOptions(parent=self))
        comp = pulumi.ResourceOptions(parent=self, providers={"aws": provider, "aws-native": native})
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self, provider=provider))
        c = AwsCommon(
            name=name, region=spec.region, partition=names.partition(spec.region), account_id=account.account_id,
            tags={"modelstage:deployment": name, "modelstage:environment": spec.environment,
                  "modelstage:model": bundle.name},
            protected=spec.protected,
        )
        endpoint_name = name
        sha = bundle.archive_sha256()
        layout = Layout(name=name, model=bundle.name, archive_sha256=sha)
        analyzer = analyzer_image(spec)
        pipeline_name = f"{name}-batch"

        store = ArtifactStore(name, ArtifactStoreArgs(
            common=c, layout=layout, archive=bundle.archive, archive_sha256=sha,
            metrics_report=metrics_report(bundle.metrics), retention=spec.retention, endpoint=endpoint_name,
            baseline_files=baseline_files(bundle, spec.monitoring.drift_threshold_percent)), comp)
        image = ServingImage(name, ServingImageArgs(
            common=c, key_arn=store.key.arn, prebuilt=spec.image,
            runtime_extras="skops" if bundle.model_format == "skops" else ""), comp)
        identity = Identity(name, IdentityArgs(
            common=c, layout=layout, endpoint=endpoint_name, bucket_arn=store.bucket.arn, key_arn=store.key.arn,
            repository_arn=image.repository_arn, capture=spec.monitoring.capture_enabled, batch=spec.batch,
            rollback_alarms=names.rollback_alarms(endpoint_name) if spec.rollout.rollback_on_alarms else [],
            pipeline_name=pipeline_name, analyzer_image=analyzer), comp)
        registration = ModelRegistration(name, ModelRegistrationArgs(
            common=c, bundle=bundle, approval_status=spec.section.approval_status, image_ref=image.image_ref,
            artifact_uri=store.artifact_uri, metrics_uri=store.metrics_uri, baseline_uris=store.baseline_uris,
            realtime_instance_types=[] if spec.serverless else [spec.instance_type],
            transform_instance_types=[spec.batch.instance_type]), comp)
        alarms = EndpointAlarms(name, EndpointAlarmsArgs(
            common=c, endpoint=endpoint_name, key_arn=store.key.arn, monitoring=spec.monitoring,
            log_retention_days=spec.retention.log_days, alarm_email=spec.section.alarm_email), comp)
        endpoint = ServingEndpoint(name, ServingEndpointArgs(
            common=c, endpoint=endpoint_name, spec=spec, layout=layout, image_ref=image.image_ref,
            artifact_uri=store.artifact_uri, execution_role_arn=identity.execution_role.arn, key_arn=store.key.arn,
            bucket=store.bucket.bucket, rollback_alarms=alarms.rollback_alarm_names,
            after=[alarms.log_group, identity], bundle_env=pinned_bundle_env(bundle)), comp)
        if analyzer is not None and identity.monitor_role is not None and spec.monitoring.monitor_schedule:
            DriftMonitor(name, DriftMonitorArgs(
                common=c, layout=layout, endpoint_name=endpoint.endpoint_name,
                schedule=spec.monitoring.monitor_schedule, analyzer_image=analyzer,
                instance_type=spec.section.monitor_instance_type, role_arn=identity.monitor_role.arn,
                bucket=store.bucket.bucket, key_arn=store.key.arn, baseline_uris=store.baseline_uris,
                features=[f.name for f in bundle.schema.features],
                drift_threshold=spec.monitoring.drift_threshold_percent / 100,
                alarm_topic_arn=alarms.topic.arn), comp)
        if identity.pipeline_role is not None and identity.scheduler_role is not None:
            BatchScoring(name, BatchScoringArgs(
                common=c, batch=spec.batch, pipeline_name=pipeline_name, model_name=endpoint.model.name,
                bucket=store.bucket.bucket, key_arn=store.key.arn, pipeline_role_arn=identity.pipeline_role.arn,
                scheduler_role_arn=identity.scheduler_role.arn), comp)

        self.outputs = StackOutputs(
            endpoint_name=endpoint.endpoint_name,
            invoke_url=endpoint.endpoint_name.apply(lambda n: names.invoke_url(spec.region, n)),
            model_version_id=registration.model_package_arn,
            image_digest=image.image_ref,
            artifact_uri=store.artifact_uri,
            region=spec.region,
            cloud="aws",
            extra={"model_package_arn": registration.model_package_arn},
        )
        self.register_outputs({"endpoint_name": self.outputs.endpoint_name,
                               "model_package_arn": registration.model_package_arn})
