"""Each cloud's serving protocol, described once: routes, body limit, envelope, model source, port.

The runtime builds its route table from these (`build_routes`), and `modelstage local --as CLOUD`
talks to the container through them. Vertex AI names its own routes (AIP_HEALTH_ROUTE,
AIP_PREDICT_ROUTE), so its description is built from them (`vertex`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from container.runtime.settings import (
    AZURE_MAX_BODY,
    AZUREML_MOUNT_ROOT,
    SAGEMAKER_MAX_BODY,
    SAGEMAKER_MODEL_DIR,
    VERTEX_MAX_BODY,
    Settings,
)

# Route kinds: how the runtime answers a path.
HEALTH, LIVE, METRICS = "health", "live", "metrics"
PREDICT = "predict"  # SageMaker's and Azure ML's bodies (contracts.invocations)
VERTEX = "vertex"  # Vertex AI's {"instances": ...}, and rawPredict bodies as PREDICT answers them

__all__ = ["AZURE", "AZURE_MAX_BODY", "SAGEMAKER", "SAGEMAKER_MAX_BODY", "VERTEX_MAX_BODY", "Endpoint",
           "Protocol", "Route", "build_routes", "protocols", "vertex"]


@dataclass(frozen=True)
class Endpoint:
    path: str
    name: str  # the metrics label


@dataclass(frozen=True)
class Protocol:
    name: str  # sagemaker | vertex | azure
    health: tuple[Endpoint, ...]  # answers 503 until the model is loaded
    predict: Endpoint
    live: Endpoint | None  # answers 200 as soon as the process serves (Azure's liveness probe)
    max_body: int  # bytes: the cloud's own request limit
    envelope: str  # route kind of `predict`: PREDICT or VERTEX
    model_source: str  # where the cloud puts the model, for people and messages
    port_variable: str  # the environment variable that names the port (8080 when unset)

    @property
    def health_path(self) -> str:
        return self.health[0].path

    @property
    def predict_path(self) -> str:
        return self.predict.path

    def wrap(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The bundle's sample request ({"input": row}) as this cloud's own client sends it."""
        if self.envelope == VERTEX:
            return {"instances": [request["input"]]}
        return dict(request)


SAGEMAKER = Protocol(
    name="sagemaker", health=(Endpoint("/ping", "ping"),), predict=Endpoint("/invocations", "invocations"),
    live=None, max_body=SAGEMAKER_MAX_BODY, envelope=PREDICT,
    model_source=f"{SAGEMAKER_MODEL_DIR} (ModelDataUrl's model.tar.gz, unpacked by SageMaker)",
    port_variable="SAGEMAKER_BIND_TO_PORT",  # set only in multi-container endpoints and pipelines
)
AZURE = Protocol(
    name="azure", health=(Endpoint("/ready", "azure_ready"),), predict=Endpoint("/score", "azure_score"),
    live=Endpoint("/live", "azure_live"), max_body=AZURE_MAX_BODY, envelope=PREDICT,
    model_source=f"AZUREML_MODEL_DIR, else {AZUREML_MOUNT_ROOT}/<name>/<version> (mounted by Azure ML)",
    port_variable="PORT",  # Azure ML takes any port, declared per route in inference_config
)


def vertex(health_route: str = "/health", predict_route: str = "/predict") -> Protocol:
    return Protocol(
        name="vertex", health=(Endpoint(health_route, "vertex_health"),),
        predict=Endpoint(predict_route, "vertex_predict"), live=None, max_body=VERTEX_MAX_BODY, envelope=VERTEX,
        model_source="AIP_STORAGE_URI (a gs:// prefix downloaded at start, or a local directory)",
        port_variable="AIP_HTTP_PORT",
    )


def protocols(settings: Settings) -> tuple[Protocol, ...]:
    return SAGEMAKER, AZURE, vertex(settings.vertex_health_route, settings.vertex_predict_route)


@dataclass(frozen=True)
class Route:
    name: str  # the metrics label
    method: str
    kind: str  # health | live | predict | vertex | metrics
    max_body: int = 0


def _add(routes: dict[str, Route], protocol: Protocol) -> None:
    if protocol.live is not None:
        routes[protocol.live.path] = Route(protocol.live.name, "GET", LIVE)
    for endpoint in protocol.health:
        routes[endpoint.path] = Route(endpoint.name, "GET", HEALTH)
    routes[protocol.predict.path] = Route(protocol.predict.name, "POST", protocol.envelope, protocol.max_body)


def build_routes(settings: Settings) -> dict[str, Route]:
    """Path -> route of every protocol, plus /metrics."""
    sagemaker, azure, vertex_ = protocols(settings)
    routes: dict[str, Route] = {}
    _add(routes, sagemaker)
    _add(routes, azure)
    routes["/metrics"] = Route("metrics", "GET", METRICS)
    _add(routes, vertex_)  # Vertex AI names its own routes; they win when they coincide with ours
    return routes
