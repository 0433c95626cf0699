"""The serving image: an ECR repository and the image built and pushed into it during `pulumi up`,
or a pre-built image given by digest in the stack config."""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws import policies
from infra.aws.common import AwsCommon, json_document
from infra.aws.names import ecr_repository_arn
from infra.built_image import BuiltImage
from infra.components import child
from infra.protection import store_of_record


@dataclass(frozen=True)
class ServingImageArgs:
    common: AwsCommon
    key_arn: pulumi.Output[str]
    prebuilt: str | None  # repository@sha256:... from the stack config; None: build and push
    runtime_extras: str  # "skops" when the bundle's model is a skops file


class ServingImage(pulumi.ComponentResource):
    repository: aws.ecr.Repository | None
    image_ref: pulumi.Output[str]  # repository@sha256:..., what SageMaker pulls
    repository_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ServingImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:aws:ServingImage", name, None, opts)
        c = args.common
        if args.prebuilt is not None:
            self.repository = None
            self.image_ref = pulumi.Output.from_input(args.prebuilt)
            self.repository_arn = pulumi.Output.from_input(ecr_repository_arn(args.prebuilt, c.partition))
            self.register_outputs({"image_ref": self.image_ref})
            return

        repository = aws.ecr.Repository(
            f"{name}-repository",
            name=f"modelstage/{c.name}",
            image_tag_mutability="IMMUTABLE",  # a tag is a content hash: it must never move
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(
                encryption_type="KMS", kms_key=args.key_arn)],
            force_delete=not c.protected,
            tags=c.tags,
            opts=child(self, store_of_record(c.protected)),
        )
        # Protected stacks keep every tagged image: a retained model package must still find its image.
        keep = None if c.protected else 30
        lifecycle = aws.ecr.LifecyclePolicy(f"{name}-image-lifecycle", repository=repository.name,
                                            policy=json_document(policies.ecr_lifecycle_policy(keep)),
                                            opts=child(self))
        # Credentials come from the AWS provider (12-hour token); only the build step sees them.
        token = aws.ecr.get_authorization_token_output(registry_id=repository.registry_id,
                                                       opts=pulumi.InvokeOutputOptions(parent=self))
        image = BuiltImage(
            f"{name}-build",
            repository=repository.repository_url,
            registry=token.proxy_endpoint,
            username=token.user_name,
            password=token.password,
            runtime_extras=args.runtime_extras,
            opts=child(self, pulumi.ResourceOptions(depends_on=[lifecycle])),
        )
        self.repository = repository
        self.image_ref = image.image_ref
        self.repository_arn = repository.arn
        self.register_outputs({"image_ref": self.image_ref, "repository_url": repository.repository_url})
