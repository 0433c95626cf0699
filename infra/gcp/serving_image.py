"""The Artifact Registry repository and the serving image built and pushed into it by digest.

Tags are immutable (a tag is the image's content hash). Cleanup policies delete untagged images in
dev; protected stacks keep every image, so a retained model version still finds its image. The push
uses the provider's own OAuth access token (`oauth2accesstoken`), which only the build step sees.
"""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.built_image import BuiltImage
from infra.components import child
from infra.gcp import names
from infra.gcp.common import GcpCommon
from infra.protection import store_of_record


@dataclass(frozen=True)
class ServingImageArgs:
    common: GcpCommon
    key_name: pulumi.Output[str] | None
    prebuilt: str | None  # repository@sha256:... from the stack config; None: build and push
    runtime_extras: str  # "skops" when the bundle's model is a skops file
    after: list[pulumi.Resource]


class ServingImage(pulumi.ComponentResource):
    repository: gcp.artifactregistry.Repository | None
    image_ref: pulumi.Output[str]  # region-docker.pkg.dev/project/repo/image@sha256:..., what Vertex pulls
    repository_id: str

    def __init__(self, name: str, args: ServingImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:gcp:ServingImage", name, None, opts)
        c = args.common
        self.repository_id = f"modelstage-{c.name}"
        if args.prebuilt is not None:
            self.repository = None
            self.image_ref = pulumi.Output.from_input(args.prebuilt)
            self.register_outputs({"image_ref": self.image_ref})
            return
        cleanup = [gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="keep-tagged", action="KEEP",
            condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(tag_state="TAGGED"))]
        if not c.protected:
            cleanup.append(gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                id="delete-untagged", action="DELETE",
                condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                    tag_state="UNTAGGED", older_than="604800s")))
        repository = gcp.artifactregistry.Repository(
            f"{name}-repository",
            project=c.project, location=c.region, repository_id=self.repository_id, format="DOCKER",
            description=f"modelstage {c.name}: the serving image",
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
            kms_key_name=args.key_name,
            cleanup_policies=cleanup,
            cleanup_policy_dry_run=False,
            labels=c.labels,
            opts=child(self, store_of_record(c.protected), pulumi.ResourceOptions(depends_on=args.after)),
        )
        token = gcp.organizations.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        host = names.registry_host(c.region)
        image = BuiltImage(
            f"{name}-build",
            repository=pulumi.Output.concat(host, "/", c.project, "/", repository.repository_id, "/",
                                            names.IMAGE_NAME),
            registry=f"https://{host}",
            username="oauth2accesstoken",
            password=token.access_token,
            runtime_extras=args.runtime_extras,
            opts=child(self),
        )
        self.repository = repository
        self.image_ref = image.image_ref
        self.register_outputs({"image_ref": self.image_ref, "repository": repository.name})
