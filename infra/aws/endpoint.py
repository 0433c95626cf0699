"""The SageMaker model, endpoint configuration and endpoint, with blue/green rollout, automatic
rollback on the alarms, and autoscaling.

A new bundle or image replaces the Model (auto-named) and the EndpointConfiguration (`name_prefix`,
so every change gets a new name, which is what makes the Endpoint notice it); the Endpoint itself
keeps its name and is updated in place by SageMaker's blue/green deployment.

Autoscaling survives model updates: the Endpoint is the aws-native (Cloud Control) resource because
it exposes UpdateEndpoint's `RetainAllVariantProperties` and `ExcludeRetainedVariantProperties`.
With them, an update keeps the variant's current DesiredInstanceCount (the autoscaled one) instead
of resetting it to the new config's initial count, while the weight and the data capture settings
come from the new config (retaining those too would keep capture off, or at its old percentage).
pulumi-aws's Endpoint cannot express this, and `ignore_changes` on the config's initial count would
not help because each config is a new resource. The scalable target keeps its
id across updates (`endpoint/<name>/variant/AllTraffic`). Limit: SageMaker refuses an update that
changes the instance type of an autoscaled variant; see docs/aws.md for the two-step change.
"""

# pyright: strict

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from infra.aws.common import AwsCommon
from infra.aws.names import SCALABLE_DIMENSION, SCALING_METRIC, VARIANT
from infra.aws.spec import MAX_ROLLOUT_SECONDS, MIN_ROLLOUT_SECONDS, AwsDeploymentSpec, rollout_seconds
from infra.components import child
from infra.layout import Layout

# Instance types with local NVMe storage reject a volume KMS key: those with a "d" in the family
# (ml.m5d, ml.g4dn, ml.p4d) and the accelerated families that always carry instance storage.
_LOCAL_STORAGE_RE = re.compile(r"^ml\.([a-z]+\d+[a-z]*d[a-z]*|g5|g6|g6e|p5|p5e|p5en|trn1|trn1n)\.")
_TRAFFIC_TYPE = {"all-at-once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}
# UpdateEndpoint's VariantPropertyType values other than DesiredInstanceCount: taken from the new config.
NOT_RETAINED = ("DesiredWeight", "DataCaptureConfig")


@dataclass(frozen=True)
class ServingEndpointArgs:
    common: AwsCommon
    endpoint: str
    spec: AwsDeploymentSpec
    layout: Layout
    image_ref: pulumi.Output[str]
    artifact_uri: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    bucket: pulumi.Output[str]
    rollback_alarms: list[pulumi.Output[str]]
    after: list[pulumi.Resource]  # e.g. the log group, which must exist before SageMaker writes to it
    bundle_env: dict[str, str]  # the pinned bundle digests (common.pinned_bundle_env)


class ServingEndpoint(pulumi.ComponentResource):
    model: aws.sagemaker.Model
    config: aws.sagemaker.EndpointConfiguration
    endpoint: aws_native.sagemaker.Endpoint
    endpoint_name: pulumi.Output[str]

    def __init__(self, name: str, args: ServingEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:aws:ServingEndpoint", name, None, opts)
        c, spec = args.common, args.spec
        self.model = aws.sagemaker.Model(
            f"{name}-model",
            execution_role_arn=args.execution_role_arn,
            primary_container=aws.sagemaker.ModelPrimaryContainerArgs(
                image=args.image_ref,
                model_data_url=args.artifact_uri,  # unpacked into /opt/ml/model before the container starts
                mode="SingleModel",
                # One worker per serverless container, as AWS recommends; realtime lets the runtime decide.
                environment={**args.bundle_env, **({"MODELSTAGE_WORKERS": "1"} if spec.serverless else {})},
            ),
            # The runtime needs no network (the model comes from /opt/ml/model), but SageMaker Serverless
            # Inference does not offer network isolation and refuses the model (docs/aws.md).
            enable_network_isolation=not spec.serverless,
            tags=c.tags,
            opts=child(self),
        )
        self.config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config",
            name_prefix=f"{args.endpoint}-",
            production_variants=[self._variant(spec, self.model.name)],
            data_capture_config=self._capture(args),
            kms_key_arn=None if spec.serverless or _LOCAL_STORAGE_RE.match(spec.instance_type) else args.key_arn,
            tags=c.tags,
            opts=child(self),
        )
        self.endpoint = aws_native.sagemaker.Endpoint(
            f"{name}-endpoint",
            endpoint_name=args.endpoint,
            endpoint_config_name=self.config.name,
            deployment_config=self._deployment(args),
            # Keep the autoscaled instance count across updates (see the module docstring), and only it:
            # the new config's capture settings and weight must reach the live endpoint.
            retain_all_variant_properties=not spec.serverless,
            exclude_retained_variant_properties=None if spec.serverless else [
                aws_native.sagemaker.EndpointVariantPropertyArgs(variant_property_type=kind)
                for kind in NOT_RETAINED],
            tags=[aws_native.TagArgs(key=k, value=v) for k, v in sorted(c.tags.items())],
            opts=child(self, pulumi.ResourceOptions(depends_on=args.after)),
        )
        self.endpoint_name = self.endpoint.endpoint_name.apply(lambda n: n or args.endpoint)
        if not spec.serverless and spec.scaling.max_instances > spec.scaling.min_instances:
            self._autoscaling(name, spec)  # a fixed-size fleet (max == min) has nothing to scale
        self.register_outputs({"endpoint_name": self.endpoint_name})

    @staticmethod
    def _variant(spec: AwsDeploymentSpec, model: pulumi.Output[str]
                 ) -> aws.sagemaker.EndpointConfigurationProductionVariantArgs:
        if spec.serverless:
            return aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                variant_name=VARIANT, model_name=model, initial_variant_weight=1,
                serverless_config=aws.sagemaker.EndpointConfigurationProductionVariantServerlessConfigArgs(
                    memory_size_in_mb=spec.section.serverless_memory_mb,
                    max_concurrency=spec.section.serverless_max_concurrency))
        return aws.sagemaker.EndpointConfigurationProductionVariantArgs(
            variant_name=VARIANT, model_name=model, initial_variant_weight=1,
            instance_type=spec.instance_type,
            initial_instance_count=spec.scaling.min_instances,
            container_startup_health_check_timeout_in_seconds=spec.section.startup_timeout_seconds,
            model_data_download_timeout_in_seconds=spec.section.startup_timeout_seconds)

    @staticmethod
    def _capture(args: ServingEndpointArgs) -> aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs | None:
        percent = args.spec.monitoring.data_capture_percent
        if percent == 0:
            return None
        return aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs(
            enable_capture=True,
            initial_sampling_percentage=percent,
            destination_s3_uri=pulumi.Output.concat("s3://", args.bucket, "/", args.layout.capture_prefix.rstrip("/")),
            kms_key_id=args.key_arn,
            capture_options=[aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode=mode)
                             for mode in ("Input", "Output")],
            capture_content_type_header=aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureContentTypeHeaderArgs(
                json_content_types=["application/json"], csv_content_types=["text/csv"]),
        )

    @staticmethod
    def _deployment(args: ServingEndpointArgs) -> aws_native.sagemaker.EndpointDeploymentConfigArgs:
        rollout = args.spec.rollout
        size = aws_native.sagemaker.EndpointCapacitySizeArgs(type="CAPACITY_PERCENT", value=rollout.step_percent)
        routing = aws_native.sagemaker.EndpointTrafficRoutingConfigArgs(
            type=_TRAFFIC_TYPE[rollout.strategy],
            wait_interval_in_seconds=rollout.bake_seconds,
            canary_size=size if rollout.strategy == "canary" else None,
            linear_step_size=size if rollout.strategy == "linear" else None,
        )
        timeout = rollout_seconds(rollout, args.spec.section.startup_timeout_seconds)
        rollback = (aws_native.sagemaker.EndpointAutoRollbackConfigArgs(
            alarms=[aws_native.sagemaker.EndpointAlarmArgs(alarm_name=n) for n in args.rollback_alarms])
            if rollout.rollback_on_alarms else None)
        return aws_native.sagemaker.EndpointDeploymentConfigArgs(
            blue_green_update_policy=aws_native.sagemaker.EndpointBlueGreenUpdatePolicyArgs(
                traffic_routing_configuration=routing,
                termination_wait_in_seconds=rollout.bake_seconds,  # old fleet kept for a fast rollback
                maximum_execution_timeout_in_seconds=min(max(timeout, MIN_ROLLOUT_SECONDS), MAX_ROLLOUT_SECONDS),
            ),
            auto_rollback_configuration=rollback,
        )

    def _autoscaling(self, name: str, spec: AwsDeploymentSpec) -> None:
        target = aws.appautoscaling.Target(
            f"{name}-scaling-target",
            service_namespace="sagemaker",
            resource_id=pulumi.Output.concat("endpoint/", self.endpoint_name, "/variant/", VARIANT),
            scalable_dimension=SCALABLE_DIMENSION,
            min_capacity=spec.scaling.min_instances,
            max_capacity=spec.scaling.max_instances,
            opts=child(self),
        )
        aws.appautoscaling.Policy(
            f"{name}-scaling-policy",
            name=pulumi.Output.concat(self.endpoint_name, "-invocations-per-instance"),
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=float(spec.scaling.target_invocations_per_instance),
                predefined_metric_specification=(
                    aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                        predefined_metric_type=SCALING_METRIC)),
                scale_out_cooldown=60,  # add capacity quickly
                scale_in_cooldown=300,  # remove it slowly
            ),
            opts=child(self),
        )
