"""Which Google API schema each recorded pulumi-gcp type becomes, and how its inputs are named there.

`api` and `schema` name the discovery document and the request body's schema; `params` are the
inputs that go into the URL (the project, the location, the resource's own id), each with the
documented rule of its id where the API has one (`rules`); `renames` (an input to a body path,
dots nest it) and `adapt` (a reshaping the renames cannot express) cover what pulumi-gcp
(Terraform-derived) names or shapes differently; `body_rules` are documented rules at body paths that
discovery states only in prose; `labels` the body paths that hold resource labels (a notification
channel's `labels` are its type's settings, e.g. the email address, not resource labels).

`provider_only` lists the inputs that are the provider's own settings and reach no API member.
"""

# pyright: strict

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from infra.gcp.constraints import rules
from infra.gcp.constraints.rules import Documented

Adapt = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class TypeMap:
    api: str  # the discovery document, e.g. "storage.v1"
    schema: str  # the request body's schema
    params: Mapping[str, Documented | None] = field(default_factory=dict[str, "Documented | None"])
    renames: Mapping[str, str] = field(default_factory=dict[str, str])
    adapt: Adapt | None = None
    body_rules: Mapping[str, Documented] = field(default_factory=dict[str, Documented])
    labels: tuple[str, ...] = ()
    label_rules: rules.LabelRules = rules.GCP_LABELS
    provider_only: Mapping[str, str] = field(default_factory=dict[str, str])


def _nest(out: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = out
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def _renamed(mapping: Mapping[str, str]) -> Adapt:
    """Top-level keys moved to nested body paths."""

    def adapt(body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in body.items():
            _nest(out, mapping.get(key, key), value)
        return out

    return adapt


_WITH_STATE = {"LIVE": True, "ARCHIVED": False}


def _bucket(body: dict[str, Any]) -> dict[str, Any]:
    """uniformBucketLevelAccess and publicAccessPrevention live under iamConfiguration; lifecycleRules is
    lifecycle.rule, and Terraform's condition.withState is the API's isLive (ANY: no condition)."""
    out = _renamed({"uniformBucketLevelAccess": "iamConfiguration.uniformBucketLevelAccess.enabled",
                    "publicAccessPrevention": "iamConfiguration.publicAccessPrevention"})(body)
    lifecycle: Any = out.pop("lifecycleRules", None)
    if isinstance(lifecycle, list):
        rules_: list[Any] = []
        for rule in cast(list[Any], lifecycle):
            if isinstance(rule, dict):
                rule = dict(cast(dict[str, Any], rule))
                cond: Any = rule.get("condition")
                if isinstance(cond, dict) and "withState" in cond:
                    cond = dict(cast(dict[str, Any], cond))
                    state = cond.pop("withState")
                    if state in _WITH_STATE:
                        cond["isLive"] = _WITH_STATE[state]
                    elif state != "ANY":
                        cond["withState"] = state  # left for the walk to list as not mapped
                    rule["condition"] = cond
            rules_.append(rule)
        out["lifecycle"] = {"rule": rules_}
    return out


def _repository(body: dict[str, Any]) -> dict[str, Any]:
    """pulumi-gcp's list of cleanup policies (each with its `id`) is the API's map from id to policy."""
    out = dict(body)
    policies: Any = out.get("cleanupPolicies")
    if isinstance(policies, list):
        as_map: dict[str, Any] = {}
        for policy in cast(list[Any], policies):
            if isinstance(policy, dict):
                p = dict(cast(dict[str, Any], policy))
                as_map[str(p.pop("id", ""))] = p
        out["cleanupPolicies"] = as_map
    return out


def _binding(body: dict[str, Any]) -> dict[str, Any]:
    """An IAM member resource adds one member to one binding of the resource's policy."""
    out = dict(body)
    if "member" in out:
        out["members"] = [out.pop("member")]
    return out


_PROJECT = {"project": None}
_REGIONAL = {"project": None, "location": None, "region": None}
_BINDING = TypeMap("cloudresourcemanager.v1", "Binding", adapt=_binding)

TYPES: Mapping[str, TypeMap] = {
    "gcp:storage/bucket:Bucket": TypeMap(
        "storage.v1", "Bucket", params=_PROJECT, adapt=_bucket, body_rules={"name": rules.BUCKET_NAME},
        labels=("labels",), provider_only={"forceDestroy": "deletes the objects before the bucket"}),
    "gcp:storage/bucketObject:BucketObject": TypeMap(
        "storage.v1", "Object", params={"bucket": rules.BUCKET_NAME}, body_rules={"name": rules.OBJECT_NAME},
        provider_only={"source": "the file uploaded as the object's content", "content": "uploaded as the object's "
                       "content", "detectMd5hash": "the provider's"}),
    "gcp:artifactregistry/repository:Repository": TypeMap(
        "artifactregistry.v1", "Repository", params={**_REGIONAL, "repositoryId": rules.AR_REPOSITORY_ID},
        adapt=_repository, labels=("labels",)),
    "gcp:kms/keyRing:KeyRing": TypeMap(
        "cloudkms.v1", "KeyRing", params={**_REGIONAL, "name": rules.KMS_ID}),
    "gcp:kms/cryptoKey:CryptoKey": TypeMap(
        "cloudkms.v1", "CryptoKey", params={"keyRing": None, "name": rules.KMS_ID},
        body_rules={"rotationPeriod": rules.KMS_ROTATION}, labels=("labels",),
        # rotationPeriod needs nextRotationTime too: the provider sets it (now + rotationPeriod)
        provider_only={"skipInitialVersionCreation": "a query parameter of cryptoKeys.create"}),
    "gcp:vertex/aiEndpoint:AiEndpoint": TypeMap(
        "aiplatform.v1", "GoogleCloudAiplatformV1Endpoint", params={**_REGIONAL, "name": rules.VERTEX_ENDPOINT_ID},
        body_rules={"displayName": rules.VERTEX_DISPLAY_NAME}, labels=("labels",), label_rules=rules.VERTEX_LABELS),
    "gcp:monitoring/alertPolicy:AlertPolicy": TypeMap(
        "monitoring.v3", "AlertPolicy", params=_PROJECT, body_rules={"displayName": rules.ALERT_DISPLAY_NAME},
        labels=("userLabels",)),
    "gcp:monitoring/notificationChannel:NotificationChannel": TypeMap(
        "monitoring.v3", "NotificationChannel", params=_PROJECT, labels=("userLabels",)),
    "gcp:cloudscheduler/job:Job": TypeMap(
        "cloudscheduler.v1", "Job", params={**_REGIONAL, "name": rules.SCHEDULER_JOB_ID},
        body_rules={"attemptDeadline": rules.SCHEDULER_HTTP_DEADLINE}),
    "gcp:bigquery/dataset:Dataset": TypeMap(
        "bigquery.v2", "Dataset", params=_PROJECT, renames={"datasetId": "datasetReference.datasetId"},
        adapt=_renamed({"datasetReference.datasetId": "datasetReference.datasetId"}),
        body_rules={"datasetReference.datasetId": rules.BQ_DATASET_ID,
                    "defaultTableExpirationMs": rules.BQ_TABLE_EXPIRATION},
        labels=("labels",),
        provider_only={"deleteContentsOnDestroy": "deletes the tables before the dataset"}),
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": TypeMap(
        "logging.v2", "LogBucket", params={**_REGIONAL, "bucketId": rules.LOG_BUCKET_ID},
        body_rules={"retentionDays": rules.LOG_RETENTION}),
    "gcp:logging/projectSink:ProjectSink": TypeMap(
        "logging.v2", "LogSink", params={"project": None, "uniqueWriterIdentity": None},
        body_rules={"name": rules.LOG_SINK_NAME}),
    "gcp:serviceaccount/account:Account": TypeMap(
        "iam.v1", "CreateServiceAccountRequest", params=_PROJECT,
        adapt=_renamed({"displayName": "serviceAccount.displayName", "description": "serviceAccount.description",
                        "disabled": "serviceAccount.disabled"}),
        body_rules={"accountId": rules.SERVICE_ACCOUNT_ID,
                    "serviceAccount.displayName": rules.SERVICE_ACCOUNT_DISPLAY_NAME,
                    "serviceAccount.description": rules.SERVICE_ACCOUNT_DESCRIPTION},
        provider_only={"createIgnoreAlreadyExists": "the provider's"}),
    "gcp:projects/iAMCustomRole:IAMCustomRole": TypeMap(
        "iam.v1", "CreateRoleRequest", params=_PROJECT,
        adapt=_renamed({"title": "role.title", "description": "role.description",
                        "permissions": "role.includedPermissions", "stage": "role.stage"}),
        body_rules={"roleId": rules.CUSTOM_ROLE_ID}),
    "gcp:projects/service:Service": TypeMap(
        "serviceusage.v1", "EnableServiceRequest", params={"project": None, "service": None},
        provider_only={"disableDependentServices": "used when the provider disables the service",
                       "disableOnDestroy": "whether the provider disables the service on destroy"}),
    "gcp:storage/bucketIAMMember:BucketIAMMember": TypeMap(
        _BINDING.api, _BINDING.schema, params={"bucket": rules.BUCKET_NAME}, adapt=_binding),
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": TypeMap(
        _BINDING.api, _BINDING.schema, params={**_REGIONAL, "repository": rules.AR_REPOSITORY_ID}, adapt=_binding),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": TypeMap(
        _BINDING.api, _BINDING.schema, params={"cryptoKeyId": None}, adapt=_binding),
    "gcp:projects/iAMMember:IAMMember": TypeMap(_BINDING.api, _BINDING.schema, params=_PROJECT, adapt=_binding),
    "gcp:serviceaccount/iAMMember:IAMMember": TypeMap(
        _BINDING.api, _BINDING.schema, params={"serviceAccountId": None}, adapt=_binding),
}
