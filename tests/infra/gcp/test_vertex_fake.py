"""The fake Vertex itself: it refuses a body with a field the API does not have (so a provider sending one
fails its test), answers operation polls on both /ui/ and /v1/, and wants the test credential's token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from google.cloud import aiplatform_v1 as v1
from google.longrunning import operations_pb2
from google.protobuf import json_format

from tests.infra.gcp.conftest import ENDPOINT, TOKEN
from tests.infra.gcp.fake_vertex import FakeVertex, FakeVertexServer


def send(server: FakeVertexServer, method: str, path: str, body: object | None = None,
         token: str = TOKEN) -> tuple[int, dict[str, object]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_field_the_api_does_not_have_is_refused(server: FakeVertexServer, fake: FakeVertex) -> None:
    body = {"deployedModel": {"model": "m", "trafficPercent": 100}, "trafficSplit": {"0": 100}}
    code, answer = send(server, "POST", f"/v1/{ENDPOINT}:deployModel", body)
    assert code == 400 and "trafficPercent" in str(answer)
    assert fake.violations and "DeployModelRequest" in fake.violations[0]
    fake.violations.clear()  # seen; the fixture's check would fail the test otherwise


def test_operations_answer_on_ui_and_v1(server: FakeVertexServer, fake: FakeVertex) -> None:
    parent = ENDPOINT.rsplit("/endpoints/", 1)[0]
    code, answer = send(server, "POST", f"/v1/{parent}/models:upload",
                        {"modelId": "m", "model": {"displayName": "m", "artifactUri": "gs://b/p/"}})
    assert code == 200
    name = str(answer["name"])
    for prefix in ("/ui/", "/v1/"):
        code, polled = send(server, "GET", prefix + name)
        assert code == 200
        op = json_format.ParseDict(polled, operations_pb2.Operation())
    assert op.done
    response = v1.UploadModelResponse.pb(v1.UploadModelResponse())
    assert op.response.Unpack(response) and response.model_version_id == "1"


@pytest.mark.parametrize("token", ["", "ya29.someone-else"])
def test_a_request_without_the_token_is_refused(server: FakeVertexServer, fake: FakeVertex, token: str) -> None:
    code, _ = send(server, "GET", f"/v1/{ENDPOINT}", token=token)
    assert code == 401
    fake.violations.clear()
