"""Every IAM grant a recording holds, checked against GCP's roles and permissions.

No pip-installable catalogue of GCP's predefined roles exists (PyPI has API clients, not the roles
reference), so the catalogue is package data shipped here: `data/gcp_roles.json`, the predefined
roles the stacks grant with their included permissions (from the IAM roles reference, source URL and
retrieval date in the file), roles/aiplatform.user's permissions as the catalogue of Vertex AI
permissions, and, for a service whose predefined roles it lists in full (`complete_services`), every
role name of that service.

For each `gcp:*IAMMember` / `*IamMember` resource:

- the role is of a documented form (`roles/<service>.<name>`, a primitive role, or
  `projects/<p>/roles/<id>` / `organizations/<o>/roles/<id>`); a predefined role of a service the
  catalogue lists in full must be one of its roles (another service's role not in the catalogue is
  not checked); a custom role must be defined by the recording (else not checked);
- the member is of a documented form (`user:`, `serviceAccount:`, `group:`, `domain:`,
  `principal://`, `principalSet://`, `allUsers`, `allAuthenticatedUsers`, `deleted:`, and on buckets
  the convenience values `projectOwner:` / `projectEditor:` / `projectViewer:`);
- the role is grantable on the resource it is bound to: a role applies to a resource type when at
  least one of its permissions is of that type's service (storage on a bucket, artifactregistry on a
  repository, cloudkms on a key, iam.serviceAccounts on a service account; anything on a project).

For each `gcp:projects/iAMCustomRole:IAMCustomRole`, every permission is `service.resource.verb`,
and, where the catalogue knows the `service.resource` collection, its verb is one the catalogue lists.
"""

# pyright: strict

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

from infra.offline.constraints import Unchecked, Violation, WalkedCheck

if TYPE_CHECKING:
    from infra.offline.runner import Recording

CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
PRIMITIVE = ("roles/owner", "roles/editor", "roles/viewer", "roles/browser")
ROLES_DOC = "https://cloud.google.com/iam/docs/roles-overview"
MEMBERS_DOC = "https://cloud.google.com/iam/docs/principal-identifiers"

# The resource type each IAM member type binds on -> the permission prefix a role needs there (None: any).
BOUND_ON: Mapping[str, tuple[str, str | None]] = {
    "gcp:storage/bucketIAMMember:BucketIAMMember": ("a Cloud Storage bucket", "storage."),
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": ("an Artifact Registry repository",
                                                                     "artifactregistry."),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": ("a Cloud KMS key", "cloudkms."),
    "gcp:serviceaccount/iAMMember:IAMMember": ("a service account", "iam.serviceAccounts."),
    "gcp:projects/iAMMember:IAMMember": ("a project", None),
}
_PREDEFINED = re.compile(r"roles/([a-z][a-zA-Z0-9]*)\.[a-zA-Z][a-zA-Z0-9_]*")
_CUSTOM = re.compile(r"(projects|organizations)/[^/]+/roles/[a-zA-Z0-9_.]{3,64}")
_PERMISSION = re.compile(r"[a-z][a-zA-Z0-9]*\.[a-zA-Z][a-zA-Z0-9]*\.[a-zA-Z][a-zA-Z0-9]*")
_MEMBER = re.compile(r"(user|serviceAccount|group|domain|deleted:user|deleted:serviceAccount|deleted:group"
                     r"|projectOwner|projectEditor|projectViewer):.+|principal(Set)?://.+|allUsers|allAuthenticatedUsers")
_BUCKET_ONLY = ("projectOwner:", "projectEditor:", "projectViewer:")


@functools.cache
def catalogue() -> Mapping[str, Any]:
    node = resources.files("infra.gcp.constraints").joinpath("data", "gcp_roles.json")
    return cast(dict[str, Any], json.loads(node.read_text(encoding="utf-8")))


def catalogue_source() -> str:
    c = catalogue()
    return f"infra/gcp/constraints/data/gcp_roles.json (retrieved {c['retrieved']} from {c['source']})"


@functools.cache
def role_permissions() -> Mapping[str, frozenset[str]]:
    roles = cast(dict[str, Any], catalogue()["roles"])
    return {name: frozenset(cast(list[str], entry["includedPermissions"])) for name, entry in roles.items()}


@functools.cache
def complete_services() -> Mapping[str, frozenset[str]]:
    services = cast(dict[str, Any], catalogue()["complete_services"])
    return {name: frozenset(cast(list[str], entry["roles"])) for name, entry in services.items()}


@functools.cache
def known_verbs() -> Mapping[str, frozenset[str]]:
    """`service.resource` -> the verbs the catalogue lists for it."""
    verbs: dict[str, set[str]] = {}
    for permissions in role_permissions().values():
        for p in permissions:
            collection, _, verb = p.rpartition(".")
            verbs.setdefault(collection, set()).add(verb)
    return {k: frozenset(v) for k, v in verbs.items()}


@dataclass
class IamRoleCheck(WalkedCheck):
    """Roles, members and custom-role permissions of a recording against the shipped roles catalogue."""

    @property
    def title(self) -> str:
        return f"GCP IAM roles catalogue ({catalogue_source()})"

    def walk(self, recording: Recording) -> tuple[list[Violation], list[Unchecked]]:
        custom: dict[str, list[str]] = {}
        for r in recording.resources:
            if r.typ == CUSTOM_ROLE:
                project, role_id = r.inputs.get("project"), r.inputs.get("roleId")
                perms = [str(p) for p in cast(list[Any], r.inputs.get("permissions") or [])]
                custom[f"projects/{project}/roles/{role_id}"] = perms
        violations: list[Violation] = []
        unchecked: list[Unchecked] = []
        for r in recording.resources:
            if r.typ == CUSTOM_ROLE:
                v, u = check_permissions(r.typ, r.name, cast(list[Any], r.inputs.get("permissions") or []))
            elif r.typ in BOUND_ON:
                v, u = check_grant(r.typ, r.name, r.inputs, custom)
            else:
                continue
            violations += v
            unchecked += u
        return violations, unchecked


def check_permissions(typ: str, name: str, permissions: list[Any]) -> tuple[list[Violation], list[Unchecked]]:
    found: list[Violation] = []
    skipped: list[Unchecked] = []
    for i, p in enumerate(permissions):
        at = f"permissions[{i}]"
        if not isinstance(p, str) or not _PERMISSION.fullmatch(p):
            found.append(Violation(typ, name, at, p, "permission format", "service.resource.verb",
                                   f"IAM permissions ({ROLES_DOC}#permissions)"))
            continue
        collection, _, verb = p.rpartition(".")
        verbs = known_verbs().get(collection)
        if verbs is None:
            skipped.append(Unchecked(typ, at, f"{collection}: a resource collection the roles catalogue does not "
                                              "list"))
        elif verb not in verbs:
            found.append(Violation(typ, name, at, p, "unknown permission",
                                   f"a permission of {collection}: {', '.join(sorted(verbs))}", catalogue_source()))
    return found, skipped


def check_grant(typ: str, name: str, inputs: Mapping[str, Any], custom: Mapping[str, list[str]],
                ) -> tuple[list[Violation], list[Unchecked]]:
    found: list[Violation] = []
    skipped: list[Unchecked] = []
    source = catalogue_source()
    role = str(inputs.get("role") or "")
    member = inputs.get("member")
    on_bucket = typ == "gcp:storage/bucketIAMMember:BucketIAMMember"
    if isinstance(member, str) and (not _MEMBER.fullmatch(member)
                                    or (member.startswith(_BUCKET_ONLY) and not on_bucket)):
        found.append(Violation(typ, name, "member", member, "principal format",
                               "user:, serviceAccount:, group:, domain:, principal://, principalSet://, "
                               "allUsers, allAuthenticatedUsers (projectOwner:/Editor:/Viewer: on buckets)",
                               f"IAM principal identifiers ({MEMBERS_DOC})"))
    permissions: frozenset[str] | None = None
    predefined = _PREDEFINED.fullmatch(role)
    if role in PRIMITIVE:
        permissions = None
        skipped.append(Unchecked(typ, "role", f"{role}: a basic role (its permissions are not in the catalogue)"))
    elif predefined:
        permissions = role_permissions().get(role)
        service = predefined.group(1)
        if permissions is None:
            listed = complete_services().get(service)
            if listed is not None and role not in listed:
                found.append(Violation(typ, name, "role", role, "unknown role",
                                       f"a predefined {service} role: {', '.join(sorted(listed))}", source))
                return found, skipped
            skipped.append(Unchecked(typ, "role", f"{role}: not in the shipped roles catalogue"))
    elif _CUSTOM.fullmatch(role):
        if role in custom:
            permissions = frozenset(custom[role])
        else:
            skipped.append(Unchecked(typ, "role", f"{role}: a custom role this recording does not define"))
    else:
        found.append(Violation(typ, name, "role", role, "role format",
                               "roles/<service>.<role>, or projects/<p>/roles/<id> / organizations/<o>/roles/<id>",
                               f"IAM roles ({ROLES_DOC})"))
        return found, skipped
    where, prefix = BOUND_ON[typ]
    if permissions is not None and prefix is not None and not any(p.startswith(prefix) for p in permissions):
        found.append(Violation(typ, name, "role", role, "not grantable here",
                               f"a role with a {prefix.rstrip('.')} permission (it is bound on {where})",
                               f"IAM: roles grantable on a resource (https://cloud.google.com/iam/docs/"
                               f"viewing-grantable-roles); permissions from {source}"))
    return found, skipped
