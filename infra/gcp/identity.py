"""Service accounts and their grants, on the resources wherever GCP allows it.

- Vertex AI's service agent: reads the bundle's prefix and pulls the repository (upload, deploy).
- The serving account (the deployed model runs as it, and batch jobs too): reads exactly the
  bundle's prefix of the bucket (an IAM condition on the object name, and on the list prefix), pulls
  exactly the repository, writes logs and metrics (project-level roles: GCP has no narrower scope for
  them); with batch, reads the input prefix and creates objects under the output prefix.
- The scheduler account (batch only): a custom role holding only
  `aiplatform.batchPredictionJobs.create` on the project (the job cannot be scoped to a resource),
  and `iam.serviceAccountUser` on the serving account alone, so the job it starts runs as that.
No primitive roles, no allUsers.
"""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components import child
from infra.gcp import names
from infra.gcp.common import GcpCommon
from infra.layout import Layout
from infra.spec import Batch

PROJECT_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")
BATCH_PERMISSIONS = ["aiplatform.batchPredictionJobs.create"]


def prefix_condition(bucket: str, prefix: str) -> str:
    """CEL granting objects under `prefix`, and listing with a prefix inside it."""
    return (f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}") || '
            f'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{prefix}")')


@dataclass(frozen=True)
class IdentityArgs:
    common: GcpCommon
    layout: Layout
    bucket: pulumi.Output[str]
    repository: pulumi.Output[str] | None  # None: a prebuilt image from elsewhere
    batch: Batch
    after: list[pulumi.Resource]


class Identity(pulumi.ComponentResource):
    serving: gcp.serviceaccount.Account
    scheduler: gcp.serviceaccount.Account | None

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:gcp:Identity", name, None, opts)
        c = args.common
        self.serving = gcp.serviceaccount.Account(
            f"{name}-serving", project=c.project, account_id=names.account_id(c.name, "serve"),
            display_name=f"modelstage {c.name}: the deployed model and batch jobs",
            opts=child(self, pulumi.ResourceOptions(depends_on=args.after)))
        member = self.serving.email.apply(lambda e: f"serviceAccount:{e}")
        # Vertex's service agent copies the artifacts and pulls the image when a model is uploaded and
        # deployed; granted here too, so an organization that trims the agent's default role still works.
        agent = c.project_number.apply(lambda n: f"serviceAccount:{names.vertex_agent(n)}")
        for who, principal in (("", member), ("agent-", agent)):
            self._object_grant(name, f"{who}read-model", "roles/storage.objectViewer", args, principal,
                               args.layout.model_prefix)
            if args.repository is not None:
                gcp.artifactregistry.RepositoryIamMember(
                    f"{name}-{who}pull-image", project=c.project, location=c.region, repository=args.repository,
                    role="roles/artifactregistry.reader", member=principal, opts=child(self))
        for role in PROJECT_ROLES:
            gcp.projects.IAMMember(f"{name}-{role.split('.')[-1].lower()}", project=c.project, role=role,
                                   member=member, opts=child(self))
        self.scheduler = None
        if args.batch.enabled:
            self._object_grant(name, "read-batch-input", "roles/storage.objectViewer", args, member,
                               args.batch.input_prefix)
            self._object_grant(name, "write-batch-output", "roles/storage.objectCreator", args, member,
                               args.batch.output_prefix)
            self.scheduler = gcp.serviceaccount.Account(
                f"{name}-scheduler", project=c.project, account_id=names.account_id(c.name, "batch"),
                display_name=f"modelstage {c.name}: Cloud Scheduler starts batch prediction as this account",
                opts=child(self, pulumi.ResourceOptions(depends_on=args.after)))
            scheduler = self.scheduler.email.apply(lambda e: f"serviceAccount:{e}")
            role = gcp.projects.IAMCustomRole(
                f"{name}-batch-role", project=c.project, role_id=f"modelstage_{c.name.replace('-', '_')}_batch",
                title=f"modelstage {c.name}: start batch prediction", permissions=BATCH_PERMISSIONS,
                opts=child(self))
            gcp.projects.IAMMember(f"{name}-start-batch", project=c.project, role=role.name, member=scheduler,
                                   opts=child(self))
            gcp.serviceaccount.IAMMember(f"{name}-batch-acts-as-serving", service_account_id=self.serving.name,
                                         role="roles/iam.serviceAccountUser", member=scheduler, opts=child(self))
        self.register_outputs({"serving": self.serving.email})

    def _object_grant(self, name: str, what: str, role: str, args: IdentityArgs, member: pulumi.Output[str],
                      prefix: str) -> None:
        gcp.storage.BucketIAMMember(
            f"{name}-{what}", bucket=args.bucket, role=role, member=member,
            condition=gcp.storage.BucketIAMMemberConditionArgs(
                title=what, description=f"objects under {prefix} only",
                expression=args.bucket.apply(lambda b: prefix_condition(b, prefix))),
            opts=child(self))
