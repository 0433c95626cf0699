"""GCP under mocks: what GCP would compute for new resources and provider calls, and what plans mask.

Deterministic values (a fixed project number, names derived from the inputs), so a recording of the
program is the same on every run.
"""

# pyright: strict

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PROJECT_NUMBER = "210987654321"
SUFFIX = "0000000"  # what Pulumi's auto-naming would append
DYNAMIC = "pulumi-python:dynamic:Resource"
VERTEX = "pulumi-python:dynamic/vertex:"
MASKED: dict[tuple[str, str], str] = {(DYNAMIC, "password"): "<secret: the provider's OAuth access token>"}


def _computed(typ: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    project = str(inputs.get("project", "project"))
    region = str(inputs.get("location") or inputs.get("region") or "region").lower()
    if typ == "gcp:storage/bucket:Bucket":
        bucket = inputs.get("name") or f"{name}-{SUFFIX}"
        return {"name": bucket, "url": f"gs://{bucket}", "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}"}
    if typ == "gcp:kms/keyRing:KeyRing":
        return {"id": f"projects/{project}/locations/{region}/keyRings/{inputs.get('name', name)}"}
    if typ == "gcp:kms/cryptoKey:CryptoKey":
        return {"id": f"{inputs.get('keyRing', 'ring')}/cryptoKeys/{inputs.get('name', name)}"}
    if typ == "gcp:artifactregistry/repository:Repository":
        repo = inputs.get("repositoryId", name)
        return {"name": f"projects/{project}/locations/{region}/repositories/{repo}"}
    if typ == "gcp:serviceaccount/account:Account":
        email = f"{inputs.get('accountId', name)}@{project}.iam.gserviceaccount.com"
        return {"email": email, "name": f"projects/{project}/serviceAccounts/{email}",
                "member": f"serviceAccount:{email}", "uniqueId": "100000000000000000001"}
    if typ == "gcp:projects/iAMCustomRole:IAMCustomRole":
        return {"name": f"projects/{project}/roles/{inputs.get('roleId', name)}"}
    if typ == "gcp:monitoring/alertPolicy:AlertPolicy":
        return {"name": f"projects/{project}/alertPolicies/{name}"}
    if typ == "gcp:monitoring/notificationChannel:NotificationChannel":
        return {"name": f"projects/{project}/notificationChannels/{name}"}
    if typ == "gcp:logging/projectBucketConfig:ProjectBucketConfig":
        bucket = f"projects/{project}/locations/{region}/buckets/{inputs.get('bucketId', name)}"
        return {"id": bucket, "name": bucket}
    if typ == "gcp:vertex/aiEndpoint:AiEndpoint":
        return {"id": f"projects/{project}/locations/{region}/endpoints/{inputs.get('name', name)}"}
    return {}


def _vertex(typ: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The dynamic Vertex resources' outputs, as infra/gcp/vertex would return them."""
    if typ == f"{VERTEX}Model":
        model = f"projects/{inputs.get('project')}/locations/{inputs.get('region')}/models/{inputs.get('model_id')}"
        return {"model_name": model, "version_id": "1", "versioned_name": f"{model}@1"}
    if typ == f"{VERTEX}Deployment":
        return {"deployed_model_id": "1000000000000000001"}
    if typ == f"{VERTEX}MonitoringJob":
        endpoint = str(inputs.get("endpoint", "projects/p/locations/r/endpoints/e"))
        location = endpoint.split("/endpoints/")[0]
        return {"job_name": f"{location}/modelDeploymentMonitoringJobs/1000000000000000002"}
    return {}


def mock_resource(typ: str, name: str, inputs: Mapping[str, Any], region: str
                  ) -> tuple[str | None, dict[str, Any]] | None:
    """The id and state GCP would give a new resource of `typ`; None for a type that is not GCP's."""
    if typ.startswith(VERTEX):
        return None, {**inputs, **_vertex(typ, inputs)}
    if not typ.startswith("gcp:"):
        return None
    state = {**inputs, **_computed(typ, name, inputs)}
    rid = state.get("id")
    return (str(rid) if rid else None), state


def mock_call(token: str, args: Mapping[str, Any], region: str) -> dict[str, Any] | None:
    if token == "gcp:organizations/getProject:getProject":
        project = str(args.get("projectId", "project"))
        return {"number": PROJECT_NUMBER, "projectId": project, "name": project, "id": f"projects/{project}"}
    if token == "gcp:organizations/getClientConfig:getClientConfig":
        return {"accessToken": "mock-access-token", "project": "", "region": region, "zone": "", "id": "config"}
    return None
