"""Encryption, public access, and least privilege, checked on what the program declares."""

from __future__ import annotations

from pulumi import FileAsset

from infra.aws.policies import UNSCOPABLE
from infra.offline.runner import Recording
from model.bundle import Bundle
from tests.infra.aws.recorded import (
    BUCKET,
    CONFIG,
    KEY,
    MODEL,
    OBJECT,
    REPOSITORY,
    ROLE,
    ROLE_POLICY,
    as_list,
    doc,
    name,
    named,
    statements,
)

ACCOUNT = "123456789012"


def _bucket_arn(rec: Recording) -> str:
    return f"arn:aws:s3:::{name(rec)}-bucket-0000000"


def _key_arn(rec: Recording) -> str:
    return f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{name(rec)}-key"


def test_the_bucket_is_private_owner_enforced_versioned_and_kms_encrypted(recording: Recording) -> None:
    bucket = named(recording, BUCKET, "bucket").inputs
    assert "acl" not in bucket and "policy" not in bucket  # no inline ACL or policy
    block = named(recording, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "public-access").inputs
    assert {k: block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                  "restrictPublicBuckets")} == dict.fromkeys(
        ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)
    ownership = named(recording, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "ownership").inputs
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    versioning = named(recording, "aws:s3/bucketVersioning:BucketVersioning", "versioning").inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    (rule,) = named(recording, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                    "encryption").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms",
                                                          "kmsMasterKeyId": _key_arn(recording)}
    assert rule["bucketKeyEnabled"] is True
    bucket_name = f"{name(recording)}-bucket-0000000"
    for typ in ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "aws:s3/bucketVersioning:BucketVersioning",
                "aws:s3/bucketPolicy:BucketPolicy", "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"):
        assert recording.one(typ).inputs["bucket"] == bucket_name, typ


def test_the_bucket_policy_denies_every_request_without_tls(recording: Recording) -> None:
    (statement,) = doc(named(recording, "aws:s3/bucketPolicy:BucketPolicy", "tls-only"), "policy")["Statement"]
    arn = _bucket_arn(recording)
    assert statement == {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                         "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def test_superseded_versions_and_captures_expire(recording: Recording) -> None:
    rules = {r["id"]: r for r in recording.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
             .inputs["rules"]}
    days = {"aws-dev": (7, 7), "aws-prod": (365, 90)}[recording.stack]
    assert rules["expire-superseded-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": days[0]}
    assert rules["expire-superseded-versions"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    assert rules["expire-datacapture"]["filter"] == {"prefix": f"datacapture/{name(recording)}/"}
    assert rules["expire-datacapture"]["expiration"] == {"days": days[1]}
    assert all(r["status"] == "Enabled" for r in rules.values())


def test_the_key_rotates_and_only_the_account_and_two_log_and_alarm_services_may_use_it(recording: Recording) -> None:
    key = named(recording, KEY, "key")
    assert key.inputs["enableKeyRotation"] is True
    principals = [s["Principal"] for s in doc(key, "policy")["Statement"]]
    assert principals == [{"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, {"Service": "logs.eu-west-1.amazonaws.com"},
                          {"Service": "cloudwatch.amazonaws.com"}]


def test_the_model_is_uploaded_content_addressed_and_kms_encrypted(recording: Recording, bundle: Bundle) -> None:
    archive = named(recording, OBJECT, "model-archive").inputs
    assert archive["key"] == f"models/house-prices/{bundle.archive_sha256()}/model.tar.gz"
    assert isinstance(archive["source"], FileAsset) and archive["source"].path == str(bundle.archive)
    assert archive["sourceHash"] == bundle.archive_sha256()
    for obj in recording.of_type(OBJECT):
        assert obj.inputs["serverSideEncryption"] == "aws:kms", obj.name
        assert obj.inputs["kmsKeyId"] == _key_arn(recording), obj.name


def test_the_repository_is_immutable_scanned_and_kms_encrypted(recording: Recording) -> None:
    repo = named(recording, REPOSITORY, "repository").inputs
    assert repo["name"] == f"modelstage/{name(recording)}"
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": _key_arn(recording)}]
    rules = doc(named(recording, "aws:ecr/lifecyclePolicy:LifecyclePolicy", "image-lifecycle"), "policy")["rules"]
    # A protected stack never expires a tagged image: retained model packages still point at theirs.
    protected = named(recording, REPOSITORY, "repository").protect
    assert [r["selection"]["tagStatus"] for r in rules] == (["untagged"] if protected else ["untagged", "any"])


def test_the_endpoint_encrypts_its_volume_and_runs_without_network(recording: Recording) -> None:
    assert named(recording, CONFIG, "config").inputs["kmsKeyArn"] == _key_arn(recording)
    assert named(recording, MODEL, "model").inputs["enableNetworkIsolation"] is True


def test_no_policy_grants_a_wildcard_action_or_a_wildcard_resource_it_could_scope(recording: Recording) -> None:
    assert recording.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []
    for role in recording.of_type(ROLE):
        assert "managedPolicyArns" not in role.inputs, role.name
    policies = recording.of_type(ROLE_POLICY)
    assert len(policies) == (3 if recording.stack == "aws-dev" else 4)
    for policy in policies:
        for statement in doc(policy, "policy")["Statement"]:
            actions = as_list(statement["Action"])
            assert statement["Effect"] == "Allow"
            assert not any("*" in a for a in actions), (policy.name, actions)
            assert not any(a.endswith("FullAccess") for a in actions)
            if "*" in as_list(statement["Resource"]):
                assert set(actions) <= UNSCOPABLE, (policy.name, statement["Sid"])


def test_the_execution_role_reads_the_model_prefix_pulls_the_repository_and_writes_its_logs(
        recording: Recording) -> None:
    ep, bucket, key = name(recording), _bucket_arn(recording), _key_arn(recording)
    logs = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:"
    got = {sid: (as_list(s["Action"]), as_list(s["Resource"])) for sid, s in statements(recording, "execution").items()}
    assert got == {
        "ReadModelArtifacts": (["s3:GetObject"], [f"{bucket}/models/house-prices/*"]),
        "PullServingImage": (["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                             [f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/modelstage/{ep}"]),
        "EcrLogin": (["ecr:GetAuthorizationToken"], ["*"]),
        "WriteEndpointLogs": (["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                              [f"{logs}/aws/sagemaker/Endpoints/{ep}",
                               f"{logs}/aws/sagemaker/Endpoints/{ep}:log-stream:*"]),
        "PublishMetrics": (["cloudwatch:PutMetricData"], ["*"]),
        "UseDeploymentKey": (["kms:Decrypt", "kms:GenerateDataKey"], [key]),
        "ReadRollbackAlarms": (["cloudwatch:DescribeAlarms"],
                               [f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:{ep}-5xx-error-rate",
                                f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:{ep}-p99-model-latency"]),
        "WriteCapturedRequests": (["s3:PutObject"], [f"{bucket}/datacapture/{ep}/*"]),
        "ReadBatchInput": (["s3:GetObject"], [f"{bucket}/batch/input/*"]),
        "ListBatchInput": (["s3:ListBucket"], [bucket]),
        "WriteBatchOutput": (["s3:PutObject"], [f"{bucket}/batch/output/*"]),
        "WriteTransformJobLogs": (
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            [f"{logs}/aws/sagemaker/TransformJobs", f"{logs}/aws/sagemaker/TransformJobs:log-stream:*"]),
    }
    listing = statements(recording, "execution")["ListBatchInput"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["batch/input/*"]}}


def test_roles_trust_one_service_each(recording: Recording) -> None:
    def trust(suffix: str) -> dict[str, object]:
        (statement,) = doc(named(recording, ROLE, suffix), "assumeRolePolicy")["Statement"]
        return statement

    assert trust("execution")["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust("batch-pipeline")["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    scheduler = trust("batch-scheduler")
    assert scheduler["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert scheduler["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_the_scheduler_may_start_exactly_the_batch_pipeline(recording: Recording) -> None:
    (statement,) = statements(recording, "batch-scheduler").values()
    assert statement["Action"] == ["sagemaker:StartPipelineExecution"]
    assert statement["Resource"] == f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:pipeline/{name(recording)}-batch"


def test_the_pipeline_may_only_run_its_own_transform_jobs(recording: Recording) -> None:
    got = statements(recording, "batch-pipeline")
    assert got["RunTransformJobs"]["Resource"] == f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:transform-job/pipelines-*"
    assert got["EncryptJobVolumes"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
