"""Each cloud's protocol, described once, and the route table and local runs built from it."""

from __future__ import annotations

import contextlib

import pytest

from container import local_cloud
from container.runtime import protocols
from container.runtime.protocols import Route, build_routes
from container.runtime.settings import Settings
from model.bundle import Bundle

SAMPLE = {"input": [1200, 3, 2]}


def _settings(**env: str) -> Settings:
    return Settings.from_env(env)


def test_the_route_table_is_every_protocols_routes_plus_metrics() -> None:
    routes = build_routes(_settings())
    assert routes == {
        "/ping": Route("ping", "GET", "health"),
        "/invocations": Route("invocations", "POST", "predict", 6_291_456),
        "/live": Route("azure_live", "GET", "live"),
        "/ready": Route("azure_ready", "GET", "health"),
        "/score": Route("azure_score", "POST", "predict", 6_291_456),
        "/metrics": Route("metrics", "GET", "metrics"),
        "/health": Route("vertex_health", "GET", "health"),
        "/predict": Route("vertex_predict", "POST", "vertex", 1_500_000),
    }


def test_vertex_routes_come_from_its_variables_and_win_on_collision() -> None:
    routes = build_routes(_settings(AIP_HEALTH_ROUTE="/ping", AIP_PREDICT_ROUTE="/invocations"))
    assert routes["/ping"] == Route("vertex_health", "GET", "health")
    assert routes["/invocations"] == Route("vertex_predict", "POST", "vertex", 1_500_000)
    deployed = "/v1/endpoints/e/deployedModels/m"
    routes = build_routes(_settings(AIP_HEALTH_ROUTE=deployed, AIP_PREDICT_ROUTE=f"{deployed}:predict"))
    assert routes[deployed].name == "vertex_health" and routes[f"{deployed}:predict"].kind == "vertex"
    assert "/health" not in routes and "/predict" not in routes


def test_each_protocol_says_where_the_model_and_port_come_from() -> None:
    sagemaker, azure, vertex = protocols.protocols(_settings())
    assert [p.name for p in (sagemaker, azure, vertex)] == ["sagemaker", "azure", "vertex"]
    assert "/opt/ml/model" in sagemaker.model_source and "AZUREML_MODEL_DIR" in azure.model_source
    assert "AIP_STORAGE_URI" in vertex.model_source
    assert (sagemaker.port_variable, vertex.port_variable) == ("SAGEMAKER_BIND_TO_PORT", "AIP_HTTP_PORT")
    port = Settings.from_env({vertex.port_variable: "9001"}).port
    assert port == 9001  # the variable the description names is the one the runtime reads
    assert (sagemaker.max_body, azure.max_body, vertex.max_body) == (6_291_456, 6_291_456, 1_500_000)


def test_each_protocol_wraps_the_sample_request_as_its_client_does() -> None:
    assert protocols.SAGEMAKER.wrap(SAMPLE) == protocols.AZURE.wrap(SAMPLE) == SAMPLE
    assert protocols.vertex().wrap(SAMPLE) == {"instances": [[1200, 3, 2]]}


@pytest.mark.parametrize("cloud", ["sagemaker", "azure", "vertex"])
def test_local_runs_talk_to_the_container_through_the_protocol(cloud: str, bundle: Bundle) -> None:
    """`modelstage local --as CLOUD` (no container here: the run's description only)."""
    with contextlib.ExitStack() as stack:
        run = local_cloud._CLOUDS[cloud](bundle, 8080, stack)  # vertex: starts the GCS emulator
        protocol = run.protocol
        assert protocol.name == cloud
        assert (run.health_path, run.predict_path) == (protocol.health_path, protocol.predict_path)
        assert run.envelope(dict(SAMPLE)) == protocol.wrap(SAMPLE)
        if cloud == "vertex":
            env = run.run_kwargs["environment"]
            assert (env["AIP_HEALTH_ROUTE"], env["AIP_PREDICT_ROUTE"]) == (run.health_path, run.predict_path)
            assert env[protocol.port_variable] == "8080"
            assert build_routes(Settings.from_env(env))[run.predict_path].kind == "vertex"
        else:
            assert protocol is {"sagemaker": protocols.SAGEMAKER, "azure": protocols.AZURE}[cloud]
