"""The model store: a private GCS bucket in the Vertex region (uniform access, public access
prevention enforced, versioned, noncurrent versions expiring), the bundle's archive under a
content-addressed prefix (Vertex's `artifact_uri` is a folder), and, where the stack asks for one,
the Cloud KMS key that encrypts the bucket, the registry, the endpoint and the captured requests."""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

from infra.components import child
from infra.gcp.common import GcpCommon
from infra.layout import Layout
from infra.protection import model_version, store_of_record
from infra.spec import Retention

KEY_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
ROTATION = "7776000s"  # 90 days
# The Google-managed service agents that encrypt on the stack's behalf (project number filled in).
KEY_USERS = (
    "serviceAccount:service-{number}@gs-project-accounts.iam.gserviceaccount.com",  # Cloud Storage
    "serviceAccount:service-{number}@gcp-sa-aiplatform.iam.gserviceaccount.com",  # Vertex AI (names.vertex_agent)
    "serviceAccount:service-{number}@gcp-sa-artifactregistry.iam.gserviceaccount.com",  # Artifact Registry
    "serviceAccount:bq-{number}@bigquery-encryption.iam.gserviceaccount.com",  # BigQuery (captures)
)


@dataclass(frozen=True)
class ArtifactStoreArgs:
    common: GcpCommon
    layout: Layout
    archive: Path  # the bundle's reproducible model.tar.gz
    metrics_report: str  # the bundle's metrics as JSON
    retention: Retention
    customer_key: bool
    after: list[pulumi.Resource]  # the project services


class ArtifactStore(pulumi.ComponentResource):
    key: gcp.kms.CryptoKey | None
    key_name: pulumi.Output[str] | None  # the key's resource id, for the other components
    bucket: gcp.storage.Bucket
    archive: gcp.storage.BucketObject
    artifact_uri: pulumi.Output[str]  # gs://bucket/models/<bundle>/<sha256>/ (a folder, as Vertex wants)

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:gcp:ArtifactStore", name, None, opts)
        c, layout = args.common, args.layout
        after = pulumi.ResourceOptions(depends_on=args.after)
        self.key = self.key_name = None
        grants: list[pulumi.Resource] = []
        if args.customer_key:
            # GCP never deletes a key ring (destroy only forgets it), and destroying a key schedules its
            # versions for destruction: prod protects the key, so data it encrypts stays readable.
            ring = gcp.kms.KeyRing(f"{name}-keyring", name=f"modelstage-{c.name}", location=c.region,
                                   project=c.project, opts=child(self, after))
            self.key = gcp.kms.CryptoKey(
                f"{name}-key", name="artifacts", key_ring=ring.id, purpose="ENCRYPT_DECRYPT",
                rotation_period=ROTATION, labels=c.labels, opts=child(self, store_of_record(c.protected)))
            self.key_name = self.key.id
            for i, member in enumerate(KEY_USERS):
                grants.append(gcp.kms.CryptoKeyIAMMember(
                    f"{name}-key-user-{i}", crypto_key_id=self.key.id, role=KEY_ROLE,
                    member=c.project_number.apply(lambda n, m=member: m.format(number=n)), opts=child(self)))

        self.bucket = gcp.storage.Bucket(
            f"{name}-artifacts",
            project=c.project,
            location=c.region.upper(),
            uniform_bucket_level_access=True,  # IAM only, no object ACLs
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=[gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                    days_since_noncurrent_time=args.retention.artifact_noncurrent_days, with_state="ARCHIVED"))],
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=self.key.id) if self.key else None,
            force_destroy=not c.protected,  # dev: `pulumi destroy` empties it first
            labels=c.labels,
            opts=child(self, after, store_of_record(c.protected), pulumi.ResourceOptions(depends_on=grants)),
        )
        keep = model_version(c.protected)
        self.archive = gcp.storage.BucketObject(
            f"{name}-model-archive", bucket=self.bucket.name, name=layout.archive_key,
            source=pulumi.FileAsset(str(args.archive)), content_type="application/gzip", opts=child(self, keep))
        gcp.storage.BucketObject(
            f"{name}-model-metrics", bucket=self.bucket.name, name=layout.metrics_key,
            content=args.metrics_report, content_type="application/json", opts=child(self, keep))
        self.artifact_uri = pulumi.Output.concat("gs://", self.bucket.name, "/", layout.version_prefix)
        self.register_outputs({"bucket": self.bucket.name, "artifact_uri": self.artifact_uri})
