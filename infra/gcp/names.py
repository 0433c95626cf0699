"""Names, ids and URLs of the GCP deployment, as pure functions of the deployment name, project and region.

The endpoint's id is a number derived from the deployment (Vertex wants numeric ids, and a fixed one
lets alert policies, the log sink and the smoke test name the endpoint before it exists).
"""

# pyright: strict

from __future__ import annotations

import hashlib
import re

API = "aiplatform.googleapis.com"
ENDPOINT_RESOURCE = "aiplatform.googleapis.com/Endpoint"  # the monitored resource type of endpoint metrics
LATENCY_METRIC = "aiplatform.googleapis.com/prediction/online/prediction_latencies"
RESPONSES_METRIC = "aiplatform.googleapis.com/prediction/online/response_count"
REQUESTS_METRIC = "aiplatform.googleapis.com/prediction/online/request_count"
CPU_METRIC = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
IMAGE_NAME = "modelstage-runtime"
PREDICT_ROUTE = "/predict"
HEALTH_ROUTE = "/health"
PORT = 8080
_LABEL_BAD = re.compile(r"[^a-z0-9_-]")


def endpoint_id(project: str, region: str, name: str) -> str:
    """A stable 9-digit id without a leading zero. CreateEndpointRequest.endpoint_id: an id starting
    with a digit "may be up to 9 characters" (pulumi-gcp's docs say 10; the API's own text wins)."""
    digest = int(hashlib.sha256(f"{project}/{region}/{name}".encode()).hexdigest(), 16)
    return str(100_000_000 + digest % 900_000_000)


def location(project: str, region: str) -> str:
    return f"projects/{project}/locations/{region}"


def endpoint_path(project: str, region: str, endpoint: str) -> str:
    return f"{location(project, region)}/endpoints/{endpoint}"


def api_host(region: str) -> str:
    return f"{region}-{API}"


def invoke_url(project: str, region: str, endpoint: str) -> str:
    return f"https://{api_host(region)}/v1/{endpoint_path(project, region, endpoint)}:predict"


def batch_jobs_url(project: str, region: str) -> str:
    return f"https://{api_host(region)}/v1/{location(project, region)}/batchPredictionJobs"


def registry_host(region: str) -> str:
    return f"{region}-docker.pkg.dev"


def label_value(value: str) -> str:
    """A GCP label value: lowercase letters, digits, `_` and `-`, at most 63 characters."""
    return _LABEL_BAD.sub("_", value.lower())[:63]


def vertex_agent(project_number: str) -> str:
    return f"service-{project_number}@gcp-sa-aiplatform.iam.gserviceaccount.com"


def account_id(name: str, role: str) -> str:
    """`<name>-serve`, `<name>-batch`: service account ids (6-30 characters; NAME_MAX keeps them short)."""
    return f"{name}-{role}"
