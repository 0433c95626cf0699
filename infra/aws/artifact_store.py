"""The model store: a KMS-encrypted, versioned, private S3 bucket holding content-addressed model
versions, captured requests and monitoring files."""

# pyright: strict

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra.aws import policies
from infra.aws.common import AwsCommon, document
from infra.components import child
from infra.layout import Layout
from infra.protection import model_version, store_of_record
from infra.spec import Retention


@dataclass(frozen=True)
class ArtifactStoreArgs:
    common: AwsCommon
    layout: Layout
    archive: Path  # the bundle's reproducible model.tar.gz
    archive_sha256: str
    metrics_report: str  # the bundle's metrics, as the model registry shows them
    retention: Retention
    endpoint: str  # the key policy lets CloudWatch Logs encrypt this endpoint's log group
    baseline_files: dict[str, str]  # Model Monitor's files made from the bundle (monitor_baseline.py)


class ArtifactStore(pulumi.ComponentResource):
    key: aws.kms.Key
    bucket: aws.s3.Bucket
    archive: aws.s3.BucketObjectv2
    artifact_uri: pulumi.Output[str]
    metrics_uri: pulumi.Output[str]
    baseline_uris: dict[str, pulumi.Output[str]]  # file name -> s3:// URI

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelstage:aws:ArtifactStore", name, None, opts)
        c = args.common
        keep = store_of_record(c.protected)

        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"modelstage {c.name}: model artifacts, captured requests, logs and alarms",
            enable_key_rotation=True,
            deletion_window_in_days=30 if c.protected else 7,
            policy=document(partial(policies.key_policy, c.partition, c.region, endpoint=args.endpoint),
                            c.account_id),
            tags=c.tags,
            opts=child(self, keep),
        )
        aws.kms.Alias(f"{name}-key-alias", name=f"alias/modelstage/{c.name}", target_key_id=self.key.key_id,
                      opts=child(self))

        self.bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=not c.protected, tags=c.tags,
                                    opts=child(self, keep))
        bucket = self.bucket.id
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),  # no ACLs
            opts=child(self))
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access", bucket=bucket, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child(self))
        aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child(self))
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=(
                    aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=self.key.arn)),
                bucket_key_enabled=True,  # one KMS call per bucket key, not per object
            )],
            opts=child(self))
        aws.s3.BucketPolicy(f"{name}-tls-only", bucket=bucket,
                            policy=document(policies.tls_only_bucket_policy, self.bucket.arn),
                            opts=child(self, pulumi.ResourceOptions(depends_on=[public_access])))
        aws.s3.BucketLifecycleConfiguration(f"{name}-bucket-lifecycle", bucket=bucket, rules=_lifecycle_rules(args),
                                            opts=child(self))

        # Content-addressed: a new bundle is a new key, so a stored model version never changes.
        layout = args.layout
        upload = child(self, model_version(c.protected), pulumi.ResourceOptions(depends_on=[encryption, ownership]))
        self.archive = aws.s3.BucketObjectv2(
            f"{name}-model-archive", bucket=bucket, key=layout.archive_key,
            source=pulumi.FileAsset(str(args.archive)), source_hash=args.archive_sha256,
            content_type="application/gzip", server_side_encryption="aws:kms", kms_key_id=self.key.arn,
            tags=c.tags, opts=upload)
        metrics = aws.s3.BucketObjectv2(
            f"{name}-model-metrics", bucket=bucket, key=layout.metrics_key,
            content=args.metrics_report, content_type="application/json",
            server_side_encryption="aws:kms", kms_key_id=self.key.arn, tags=c.tags, opts=upload)

        self.baseline_uris = {}
        for file_name, content in sorted(args.baseline_files.items()):
            stored = aws.s3.BucketObjectv2(
                f"{name}-baseline-{file_name.split('.')[0]}", bucket=bucket, key=layout.baseline_prefix + file_name,
                content=content, content_type="text/x-python" if file_name.endswith(".py") else "application/json",
                server_side_encryption="aws:kms", kms_key_id=self.key.arn, tags=c.tags,
                opts=child(self, pulumi.ResourceOptions(depends_on=[encryption, ownership])))
            self.baseline_uris[file_name] = pulumi.Output.concat("s3://", stored.bucket, "/", stored.key)

        self.artifact_uri = pulumi.Output.concat("s3://", self.archive.bucket, "/", self.archive.key)
        self.metrics_uri = pulumi.Output.concat("s3://", metrics.bucket, "/", metrics.key)
        self.register_outputs({"bucket": self.bucket.bucket, "key_arn": self.key.arn,
                               "artifact_uri": self.artifact_uri})


def _lifecycle_rules(args: ArtifactStoreArgs) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    rule = aws.s3.BucketLifecycleConfigurationRuleArgs
    days = args.retention
    return [
        rule(id="expire-superseded-versions", status="Enabled",
             filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
             noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                 noncurrent_days=days.artifact_noncurrent_days),
             abort_incomplete_multipart_upload=(
                 aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(days_after_initiation=7))),
        *(rule(id=f"expire-{prefix.split('/')[0]}", status="Enabled",
               filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
               expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days.capture_days))
          for prefix in (args.layout.capture_prefix, args.layout.reports_prefix)),
    ]
