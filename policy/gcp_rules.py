"""The GCP rules of the policy pack, each named after the checkov checks it enforces."""

from __future__ import annotations

import re

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy.common import ResourceRule, StackRule

PRIMITIVE = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
PUBLIC = frozenset({"allUsers", "allAuthenticatedUsers"})
IMPERSONATION = frozenset({"roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator"})
IAM_MEMBERS = frozenset({
    "gcp:storage/bucketIAMMember:BucketIAMMember", "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
    "gcp:projects/iAMMember:IAMMember", "gcp:serviceaccount/iAMMember:IAMMember",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "gcp:vertex/aiEndpointIamMember:AiEndpointIamMember",
})
MAX_ROTATION_S = 90 * 86400


def gcs_bucket_private(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """CKV_GCP_114 public access prevention, CKV_GCP_29 uniform bucket-level access, CKV_GCP_78 versioning."""
    if args.resource_type != "gcp:storage/bucket:Bucket":
        return
    if args.props.get("publicAccessPrevention") != "enforced":
        report("public access prevention must be enforced (CKV_GCP_114)", None)
    if args.props.get("uniformBucketLevelAccess") is not True:
        report("uniform bucket-level access must be on: IAM only, no object ACLs (CKV_GCP_29)", None)
    if not (args.props.get("versioning") or {}).get("enabled"):
        report("versioning must be enabled (CKV_GCP_78)", None)


def gcp_iam_least_privilege(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """CKV_GCP_28 nothing public, no primitive roles, CKV_GCP_41/CKV_GCP_49 no project-wide impersonation."""
    if args.resource_type not in IAM_MEMBERS:
        return
    role, member = str(args.props.get("role", "")), str(args.props.get("member", ""))
    if member in PUBLIC:
        report(f"{role} is granted to {member}: nothing of a deployment is public (CKV_GCP_28)", None)
    if role in PRIMITIVE:
        report(f"{role} is a primitive role; grant a predefined or custom role on the resource", None)
    if args.resource_type == "gcp:projects/iAMMember:IAMMember" and role in IMPERSONATION:
        report(f"{role} on the project lets {member} act as every service account; grant it on one "
               "service account (CKV_GCP_41, CKV_GCP_49)", None)


def kms_key_rotates(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """CKV_GCP_43: customer keys rotate at least every 90 days."""
    if args.resource_type != "gcp:kms/cryptoKey:CryptoKey":
        return
    period = re.fullmatch(r"(\d+)s", str(args.props.get("rotationPeriod", "")))
    if period is None or int(period.group(1)) > MAX_ROTATION_S:
        report("the key must rotate at least every 90 days (rotationPeriod <= 7776000s) (CKV_GCP_43)", None)


RESOURCE_RULES: dict[str, ResourceRule] = {
    "gcs-bucket-private": gcs_bucket_private,
    "gcp-iam-least-privilege": gcp_iam_least_privilege,
    "gcp-kms-key-rotates": kms_key_rotates,
}
STACK_RULES: dict[str, StackRule] = {}
