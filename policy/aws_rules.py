"""The AWS rules of the policy pack, each named after the checkov checks it enforces (checkov cannot
scan Pulumi programs, so its catalogue serves as the checklist)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policy.common import ResourceRule, StackRule, as_list, document

# Actions IAM cannot scope to a resource; `*` is their only valid resource.
UNSCOPABLE = frozenset({"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"})
BROAD_MANAGED = ("FullAccess", "AdministratorAccess", "PowerUserAccess")
BUCKET = "aws:s3/bucket:Bucket"
MODEL = "aws:sagemaker/model:Model"
ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"


# ---------------------------------------------------------------- resource rules


def s3_public_access_blocked(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """CKV_AWS_53, CKV_AWS_54, CKV_AWS_55, CKV_AWS_56: all four public-access flags on."""
    if args.resource_type != "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
        return
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    off = [f for f in flags if args.props.get(f) is not True]
    if off:
        report(f"public access is not blocked: {', '.join(off)} must be true (CKV_AWS_53-56)", None)


def ecr_immutable_scanned_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """CKV_AWS_51 immutable tags, CKV_AWS_163 scan on push, CKV_AWS_136 KMS encryption."""
    if args.resource_type != "aws:ecr/repository:Repository":
        return
    if args.props.get("imageTagMutability") != "IMMUTABLE":
        report("image tags must be IMMUTABLE: a deployed tag must never move (CKV_AWS_51)", None)
    if not (args.props.get("imageScanningConfiguration") or {}).get("scanOnPush"):
        report("images must be scanned on push (CKV_AWS_163)", None)
    if not any(c.get("encryptionType") == "KMS" for c in args.props.get("encryptionConfigurations") or []):
        report("the repository must be encrypted with KMS (CKV_AWS_136)", None)


def kms_key_rotates(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """CKV_AWS_7: customer keys rotate."""
    if args.resource_type == "aws:kms/key:Key" and args.props.get("enableKeyRotation") is not True:
        report("the KMS key must rotate (enableKeyRotation: true) (CKV_AWS_7)", None)


def sagemaker_endpoint_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """CKV_AWS_98: instance volumes and captured data are encrypted with the deployment's key.
    Serverless variants have no volume to encrypt."""
    if args.resource_type != "aws:sagemaker/endpointConfiguration:EndpointConfiguration":
        return
    variants = args.props.get("productionVariants") or []
    if any("serverlessConfig" not in v for v in variants) and not args.props.get("kmsKeyArn"):
        report("instance-backed endpoint configs must set kmsKeyArn (CKV_AWS_98)", None)
    capture = args.props.get("dataCaptureConfig")
    if capture and capture.get("enableCapture") and not capture.get("kmsKeyId"):
        report("captured requests must be encrypted with kmsKeyId (CKV_AWS_98)", None)


def iam_least_privilege(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """CKV_AWS_49/CKV_AWS_63 no wildcard actions, CKV_AWS_355/CKV_AWS_356 no `*` resource for actions
    that can be scoped, CKV_AWS_274 and friends: no broad AWS managed policies."""
    if args.resource_type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
        arn = str(args.props.get("policyArn", ""))
        if arn.startswith("arn:aws:iam::aws:policy/") and any(b in arn for b in BROAD_MANAGED):
            report(f"{arn} grants far more than a deployment needs; write a scoped inline policy (CKV_AWS_274)", None)
        return
    if args.resource_type not in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"):
        return
    for statement in as_list(document(args.props.get("policy")).get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        actions = [str(a) for a in as_list(statement.get("Action", []))]
        sid = statement.get("Sid", "?")
        wild = [a for a in actions if "*" in a]
        if wild:
            report(f"statement {sid} allows wildcard actions {wild} (CKV_AWS_49, CKV_AWS_63)", None)
        if "*" in as_list(statement.get("Resource", [])) and not set(actions) <= UNSCOPABLE:
            scopable = sorted(set(actions) - UNSCOPABLE)
            report(f"statement {sid} grants {scopable} on every resource; name the resources "
                   "(CKV_AWS_355, CKV_AWS_356)", None)


def monitoring_jobs_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """CKV_AWS_367 outputs with KMS, CKV_AWS_368 volumes with KMS, CKV_AWS_369 inter-container encryption."""
    if args.resource_type != "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition":
        return
    if not (args.props.get("dataQualityJobOutputConfig") or {}).get("kmsKeyId"):
        report("monitoring reports must be encrypted with KMS (CKV_AWS_367)", None)
    cluster = (args.props.get("jobResources") or {}).get("clusterConfig") or {}
    if not cluster.get("volumeKmsKeyId"):
        report("monitoring job volumes must be encrypted with KMS (CKV_AWS_368)", None)
    if not (args.props.get("networkConfig") or {}).get("enableInterContainerTrafficEncryption"):
        report("monitoring jobs must encrypt inter-container traffic (CKV_AWS_369)", None)


# ---------------------------------------------------------------- stack rules


def _guards(resources: Iterable[PolicyResource], typ: str, bucket: PolicyResource) -> list[PolicyResource]:
    """Resources of `typ` whose `bucket` input comes from `bucket`."""
    return [r for r in resources if r.resource_type == typ
            and any(d is bucket for d in r.property_dependencies.get("bucket", []))]


def sagemaker_model_isolated(args: StackValidationArgs, report: ReportViolation) -> None:
    """CKV_AWS_370: the model container runs without network access, unless it serves only serverless
    variants, for which SageMaker offers no network isolation (it refuses an isolated model there)."""
    configs = [r for r in args.resources if r.resource_type == ENDPOINT_CONFIG]
    for model in (r for r in args.resources if r.resource_type == MODEL):
        if model.props.get("enableNetworkIsolation") is True:
            continue
        users = [c for c in configs if any(d is model for d in c.property_dependencies.get("productionVariants", []))]
        serverless_only = bool(users) and all(
            all("serverlessConfig" in v for v in c.props.get("productionVariants") or []) for c in users)
        if not serverless_only:
            report(f"model {model.name}: the SageMaker model must use network isolation (CKV_AWS_370)", model.urn)


def s3_buckets_guarded(args: StackValidationArgs, report: ReportViolation) -> None:
    """CKV2_AWS_6 public access block, CKV_AWS_145 KMS by default, CKV_AWS_21 versioning,
    CKV2_AWS_65 ACLs disabled, CKV_AWS_379 TLS only: each bucket has the resources that do it."""
    for bucket in (r for r in args.resources if r.resource_type == BUCKET):
        def missing(typ: str, ok: Callable[[Mapping[str, Any]], bool], what: str, b: PolicyResource = bucket) -> None:
            if not any(ok(g.props) for g in _guards(args.resources, typ, b)):
                report(f"bucket {b.name}: {what}", b.urn)

        missing("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", lambda p: True,
                "no BucketPublicAccessBlock (CKV2_AWS_6)")
        missing("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                lambda p: any((r.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm") == "aws:kms"
                              for r in p.get("rules") or []),
                "not encrypted with KMS by default (CKV_AWS_145)")
        missing("aws:s3/bucketVersioning:BucketVersioning",
                lambda p: (p.get("versioningConfiguration") or {}).get("status") == "Enabled",
                "versioning is not enabled (CKV_AWS_21)")
        missing("aws:s3/bucketOwnershipControls:BucketOwnershipControls",
                lambda p: (p.get("rule") or {}).get("objectOwnership") == "BucketOwnerEnforced",
                "ACLs are not disabled with BucketOwnerEnforced (CKV2_AWS_65)")
        missing("aws:s3/bucketPolicy:BucketPolicy",
                lambda p: any(s.get("Effect") == "Deny"
                              and (s.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                              for s in as_list(document(p.get("policy")).get("Statement", []))),
                "no policy denying requests without TLS (CKV_AWS_379)")


RESOURCE_RULES: dict[str, ResourceRule] = {
    "s3-public-access-blocked": s3_public_access_blocked,
    "ecr-immutable-scanned-encrypted": ecr_immutable_scanned_encrypted,
    "kms-key-rotates": kms_key_rotates,
    "sagemaker-endpoint-encrypted": sagemaker_endpoint_encrypted,
    "iam-least-privilege": iam_least_privilege,
    "monitoring-jobs-encrypted": monitoring_jobs_encrypted,
}
STACK_RULES: dict[str, StackRule] = {
    "sagemaker-model-isolated": sagemaker_model_isolated,
    "s3-buckets-guarded": s3_buckets_guarded,
}
