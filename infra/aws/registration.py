"""The model registry: a Model Package Group per deployment and a versioned Model Package per bundle,
carrying the bundle's metrics, its baseline and an approval status.

pulumi-aws has no model package resource (the Terraform provider it bridges has none), so the version
is pulumi-aws-native's `sagemaker.ModelPackage` (CloudFormation's AWS::SageMaker::ModelPackage
through Cloud Control). Its inputs are create-only: a new bundle replaces it, and in a protected
stack the replaced version is retained, so the registry keeps every version ever deployed.
"""

# pyright: strict

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from infra.aws.common import AwsCommon
from infra.aws.monitor_baseline import CONSTRAINTS, STATISTICS
from infra.aws.spec import ApprovalStatus
from infra.components import child
from infra.protection import model_version, store_of_record
from model.bundle import Bundle

CONTENT_TYPES = ["application/json", "text/csv"]
sm = aws_native.sagemaker


def metrics_report(metrics: dict[str, float]) -> str:
    """The bundle's metrics in Model Monitor's model-quality layout, which the registry displays."""
    return json.dumps({"version": 0, "regression_metrics": {k: {"value": v} for k, v in sorted(metrics.items())}},
                      indent=2)


def description(bundle: Bundle) -> str:
    metrics = ", ".join(f"{k}={v:g}" for k, v in sorted(bundle.metrics.items()))
    return f"{bundle.name} {bundle.version} (sha256 {bundle.archive_sha256()[:12]}): {metrics}"[:1024]


@dataclass(frozen=True)
class ModelRegistrationArgs:
    common: AwsCommon
    bundle: Bundle
    approval_status: ApprovalStatus
    image_ref: pulumi.Output[str]
    artifact_uri: pulumi.Output[str]
    metrics_uri: pulumi.Output[str]
    baseline_uris: dict[str, pulumi.Output[str]]
    realtime_instance_types: list[str]
    transform_instance_types: list[str]


class ModelRegistration(pulumi.ComponentResource):
    group: aws.sagemaker.ModelPackageGroup
    package: aws_native.sagemaker.ModelPackage
    model_package_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ModelRegistrationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:aws:ModelRegistration", name, None, opts)
        c, bundle = args.common, args.bundle
        self.group = aws.sagemaker.ModelPackageGroup(
            f"{name}-model-group",
            model_package_group_name=c.name,
            model_package_group_description=f"Versions of {bundle.name} deployed by the {c.name} stack",
            tags=c.tags,
            opts=child(self, store_of_record(c.protected)),
        )

        def source(uri: pulumi.Output[str]) -> aws_native.sagemaker.ModelPackageMetricsSourceArgs:
            return sm.ModelPackageMetricsSourceArgs(content_type="application/json", s3_uri=uri)

        # The SDK types this string map as an empty object; CloudFormation takes {key: string}.
        metadata = cast(sm.ModelPackageCustomerMetadataPropertiesArgs, {
            "bundle_version": bundle.version, "archive_sha256": bundle.archive_sha256(),
            **{f"metric_{k}": repr(v) for k, v in sorted(bundle.metrics.items())},
        })
        self.package = sm.ModelPackage(
            f"{name}-model-version",
            model_package_group_name=self.group.model_package_group_name,
            model_package_description=description(bundle),
            model_approval_status=sm.ModelPackageModelApprovalStatus(args.approval_status),
            inference_specification=sm.ModelPackageInferenceSpecificationArgs(
                containers=[sm.ModelPackageContainerDefinitionArgs(image=args.image_ref,
                                                                    model_data_url=args.artifact_uri)],
                supported_content_types=CONTENT_TYPES,
                supported_response_mime_types=CONTENT_TYPES,
                supported_realtime_inference_instance_types=args.realtime_instance_types or None,
                supported_transform_instance_types=args.transform_instance_types,
            ),
            model_metrics=sm.ModelPackageModelMetricsArgs(
                model_quality=sm.ModelPackageModelQualityArgs(statistics=source(args.metrics_uri)),
                model_data_quality=sm.ModelPackageModelDataQualityArgs(
                    statistics=source(args.baseline_uris[STATISTICS]),
                    constraints=source(args.baseline_uris[CONSTRAINTS])),
            ),
            customer_metadata_properties=metadata,
            metadata_properties=sm.ModelPackageMetadataPropertiesArgs(generated_by="modelstage",
                                                                      commit_id=bundle.version),
            tags=[aws_native.TagArgs(key=k, value=v) for k, v in sorted(c.tags.items())],
            opts=child(self, model_version(c.protected)),
        )
        self.model_package_arn = self.package.model_package_arn
        self.register_outputs({"model_package_arn": self.model_package_arn})
