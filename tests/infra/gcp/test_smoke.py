"""`modelstage smoke` on GCP: the Vertex AI predict call against a local stand-in of the predict API
(it checks the path, the envelope and the bearer token, and answers, refuses or never answers)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials, Credentials

from infra import clouds
from infra.errors import SmokeError, SmokeFailed
from infra.gcp import smoke as gcp_smoke
from infra.gcp.smoke import invoker
from infra.smoke import check_answer, run_smoke
from model.bundle import Bundle

TOKEN = "ya29.test-token-must-never-leak"
REGION = "europe-west4"
PATH = f"/v1/projects/ms-test/locations/{REGION}/endpoints/4455667788:predict"
OUTPUTS: dict[str, Any] = {"endpoint_name": "house-prices-dev", "region": REGION, "cloud": "gcp",
                           "invoke_url": f"https://{REGION}-aiplatform.googleapis.com{PATH}"}
SAMPLE = {"input": [1799.5, 3.0, 2.0]}
BODY = json.dumps(SAMPLE).encode()


class FakeCredentials(Credentials):
    """A credential whose access token is known (and must never show in an error)."""

    def refresh(self, request: Any) -> None:
        self.token = TOKEN


@dataclass
class Seen:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class StandIn:
    """The predict API on 127.0.0.1: what it answers next, and every request it saw."""

    url: str
    token: str | None = TOKEN  # the bearer token it requires; None: no Authorization header at all
    status: int = 200
    answer: object = field(default_factory=lambda: {"predictions": [312456.5], "deployedModelId": "998877"})
    hang: bool = False  # never answer (until the fixture stops it)
    seen: list[Seen] = field(default_factory=list[Seen])
    release: threading.Event = field(default_factory=threading.Event)

    def refuse(self, status: int, code: str, message: str) -> None:
        self.status, self.answer = status, {"error": {"code": status, "message": message, "status": code}}

    def reply(self, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        self.seen.append(Seen(path, dict(headers), body))
        if self.hang:
            self.release.wait(30)
            return 503, b""
        auth = headers.get("authorization")
        expected_auth = None if self.token is None else f"Bearer {self.token}"
        problems = [p for p, bad in [
            (f"path {path!r}, expected {PATH!r}", path != PATH),
            (f"Authorization {auth!r}, expected {expected_auth!r}", auth != expected_auth),
            (f"Content-Type {headers.get('content-type')!r}", headers.get("content-type") != "application/json"),
            (f"body {body[:200]!r}, expected {{'instances': [row]}}", not _is_envelope(body)),
        ] if bad]
        if problems:
            return 400, json.dumps({"error": {"code": 400, "status": "STAND_IN_MISMATCH",
                                              "message": "; ".join(problems)}}).encode()
        return self.status, self.answer if isinstance(self.answer, bytes) else json.dumps(self.answer).encode()


def _is_envelope(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and set(doc) == {"instances"} and isinstance(doc["instances"], list)


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    state = StandIn(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}  # names are case-insensitive
            status, payload = state.reply(self.path, headers, body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a hang test)
                pass

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def send_to(stand_in: StandIn, timeout_s: float = 5.0, credentials: Credentials | None = None,
            outputs: Mapping[str, Any] = OUTPUTS) -> Callable[[bytes], bytes]:
    return invoker(outputs, output_name="price", timeout_s=timeout_s, endpoint_url=stand_in.url,
                   credentials=credentials if credentials is not None else FakeCredentials())


def test_a_single_prediction_is_unwrapped_to_the_output_name(stand_in: StandIn) -> None:
    answer = send_to(stand_in)(BODY)
    assert json.loads(answer) == {"price": 312456.5}
    assert check_answer(answer, "price") == 312456.5
    assert [s.path for s in stand_in.seen] == [PATH]


def test_the_request_is_exactly_vertex_envelope_with_the_bearer_token(stand_in: StandIn) -> None:
    send_to(stand_in)(BODY)
    (seen,) = stand_in.seen
    assert json.loads(seen.body) == {"instances": [[1799.5, 3.0, 2.0]]}
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["content-type"] == "application/json"


def test_anonymous_credentials_send_no_authorization(stand_in: StandIn) -> None:
    stand_in.token = None
    answer = send_to(stand_in, credentials=AnonymousCredentials())(BODY)
    assert json.loads(answer) == {"price": 312456.5}
    assert "authorization" not in stand_in.seen[0].headers


def test_the_default_credentials_are_used_when_none_are_given(stand_in: StandIn,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gcp_smoke, "default_credentials", FakeCredentials)
    send = invoker(OUTPUTS, output_name="price", timeout_s=5, endpoint_url=stand_in.url + "/")
    assert json.loads(send(BODY)) == {"price": 312456.5}


def test_missing_application_default_credentials_are_a_smoke_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    def no_credentials(**_: object) -> Any:
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    with pytest.raises(SmokeError) as err:
        invoker(OUTPUTS, output_name="price", timeout_s=5, endpoint_url=None)
    assert not isinstance(err.value, SmokeFailed)
    assert "no Google credentials" in str(err.value) and "gcloud auth application-default login" in str(err.value)


def test_credentials_that_cannot_get_a_token_are_a_smoke_error(stand_in: StandIn) -> None:
    from google.auth.exceptions import RefreshError

    class Revoked(Credentials):
        def refresh(self, request: Any) -> None:
            raise RefreshError("invalid_grant: Token has been expired or revoked.")

    with pytest.raises(SmokeError) as err:
        send_to(stand_in, credentials=Revoked())(BODY)
    assert not isinstance(err.value, SmokeFailed)
    assert "could not get a Google access token to call house-prices-dev: invalid_grant" in str(err.value)
    assert stand_in.seen == []


@pytest.mark.parametrize(("status", "code", "message"), [
    (400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unknown name \"input\"."),
    (403, "PERMISSION_DENIED", "Permission 'aiplatform.endpoints.predict' denied on resource."),
    (429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests."),
    (404, "NOT_FOUND", "Endpoint `projects/ms-test/locations/europe-west4/endpoints/4455667788` not found."),
])
def test_a_refusal_is_named_with_googles_status_and_message(stand_in: StandIn, status: int, code: str,
                                                            message: str) -> None:
    stand_in.refuse(status, code, message)
    with pytest.raises(SmokeFailed) as err:
        send_to(stand_in)(BODY)
    assert f"house-prices-dev refused the sample request: {code}: {message} (HTTP {status})" in str(err.value)
    assert len(stand_in.seen) == 1  # one attempt: no retry


def test_a_refusal_without_googles_error_json_shows_the_http_status(stand_in: StandIn) -> None:
    stand_in.status, stand_in.answer = 503, b"<html>upstream connect error</html>"
    with pytest.raises(SmokeFailed) as err:
        send_to(stand_in)(BODY)
    assert "refused the sample request: HTTP 503: <html>upstream connect error</html>" in str(err.value)


def test_a_401_is_not_retried_with_a_refreshed_token(stand_in: StandIn) -> None:
    stand_in.refuse(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    with pytest.raises(SmokeFailed) as err:
        send_to(stand_in)(BODY)
    assert "UNAUTHENTICATED: Request had invalid authentication credentials." in str(err.value)
    assert len(stand_in.seen) == 1


def test_no_answer_fails_within_the_timeout(stand_in: StandIn) -> None:
    stand_in.hang = True
    send = send_to(stand_in, timeout_s=0.5)
    started = time.perf_counter()
    with pytest.raises(SmokeFailed) as err:
        send(BODY)
    assert time.perf_counter() - started < 3
    assert "house-prices-dev did not answer within the read timeout (0.5 s)" in str(err.value)
    assert len(stand_in.seen) == 1


def test_an_endpoint_nothing_listens_on_could_not_be_reached() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: connections are refused
    send = invoker(OUTPUTS, output_name="price", timeout_s=2, endpoint_url=f"http://127.0.0.1:{port}",
                   credentials=FakeCredentials())
    with pytest.raises(SmokeFailed) as err:
        send(BODY)
    assert "house-prices-dev could not be reached at" in str(err.value)


@pytest.mark.parametrize("answer", [
    {"predictions": [1.0, 2.0], "deployedModelId": "998877"},
    {"predictions": [], "deployedModelId": "998877"},
    {"price": 1.0},
    [1.0],
])
def test_any_other_answer_is_passed_on_for_the_check_to_name(stand_in: StandIn, answer: object) -> None:
    stand_in.answer = answer
    received = send_to(stand_in)(BODY)
    assert json.loads(received) == answer
    if not (isinstance(answer, dict) and "price" in answer):
        with pytest.raises(SmokeFailed, match="the endpoint answered without 'price'"):
            check_answer(received, "price")


def test_a_non_json_answer_is_passed_on_as_received(stand_in: StandIn) -> None:
    stand_in.answer = b"not json"
    assert send_to(stand_in)(BODY) == b"not json"


def test_the_token_never_appears_in_an_error(stand_in: StandIn) -> None:
    failures: list[str] = []
    # an error body that echoes the Authorization header it received
    stand_in.refuse(401, "UNAUTHENTICATED", f"token Bearer {TOKEN} is not valid; raw {TOKEN}")
    with pytest.raises(SmokeFailed) as err:
        send_to(stand_in)(BODY)
    failures.append(str(err.value))
    stand_in.status, stand_in.answer = 500, f"Authorization: Bearer {TOKEN}".encode()
    with pytest.raises(SmokeFailed) as err:
        send_to(stand_in)(BODY)
    failures.append(str(err.value))
    stand_in.hang = True
    with pytest.raises(SmokeFailed) as err:
        send_to(stand_in, timeout_s=0.3)(BODY)
    failures.append(str(err.value))
    with pytest.raises(SmokeFailed) as err:
        invoker(OUTPUTS, output_name="price", timeout_s=1, endpoint_url="http://127.0.0.1:9",
                credentials=FakeCredentials())(BODY)
    failures.append(str(err.value))
    assert len(failures) == 4
    for message in failures:
        assert TOKEN not in message and "ya29." not in message, message
    assert "<access token>" in failures[0]


@pytest.mark.parametrize(("outputs", "message"), [
    ({k: v for k, v in OUTPUTS.items() if k != "invoke_url"}, "the stack has no 'invoke_url' output (got None)"),
    ({**OUTPUTS, "invoke_url": 42}, "the stack has no 'invoke_url' output (got 42)"),
    ({**OUTPUTS, "invoke_url": f"http://{REGION}-aiplatform.googleapis.com{PATH}"}, "'invoke_url' output is"),
    ({**OUTPUTS, "invoke_url": f"https://{REGION}-aiplatform.googleapis.com/v1/projects/p/endpoints/1:predict"},
     "'invoke_url' output is"),
    ({**OUTPUTS, "invoke_url": f"https://{REGION}-aiplatform.googleapis.com{PATH}?alt=json"}, "'invoke_url' output is"),
])
def test_a_missing_or_invalid_invoke_url_is_named(outputs: dict[str, Any], message: str) -> None:
    with pytest.raises(SmokeError) as err:
        invoker(outputs, output_name="price", timeout_s=1, endpoint_url=None, credentials=FakeCredentials())
    assert not isinstance(err.value, SmokeFailed)
    assert message in str(err.value)
    assert "expected the endpoint's predict URL, https://REGION-aiplatform.googleapis.com/v1/projects/" \
        in str(err.value)


def test_an_invalid_endpoint_url_is_named() -> None:
    with pytest.raises(SmokeError, match="expected http\\(s\\)://HOST\\[:PORT\\]"):
        invoker(OUTPUTS, output_name="price", timeout_s=1, endpoint_url="127.0.0.1:8080",
                credentials=FakeCredentials())


def test_without_an_endpoint_url_the_invoke_url_is_called() -> None:
    assert gcp_smoke.predict_url(OUTPUTS, None) == OUTPUTS["invoke_url"]
    assert gcp_smoke.predict_url(OUTPUTS, "http://127.0.0.1:8080/") == f"http://127.0.0.1:8080{PATH}"


def test_a_sample_request_without_input_is_a_smoke_error(stand_in: StandIn) -> None:
    with pytest.raises(SmokeError, match="has no 'input'"):
        send_to(stand_in)(b'{"instances": [[1.0]]}')
    assert stand_in.seen == []


class Gcp:
    """Just enough of a cloud named gcp for `run_smoke` to find this invoker (not the GCP cloud package)."""

    name = "gcp"
    keys = ()
    defaults: Mapping[str, Any] = {}
    name_max = 40
    masked: Mapping[tuple[str, str], str] = {}

    def parse_section(self, r: Any, spec: Any) -> None:
        raise NotImplementedError

    def deploy(self, name: str, spec: Any, bundle: Bundle) -> Any:
        raise NotImplementedError

    def invoker(self, outputs: Mapping[str, Any], *, output_name: str, timeout_s: float,
                endpoint_url: str | None) -> Callable[[bytes], bytes]:
        return invoker(outputs, output_name=output_name, timeout_s=timeout_s, endpoint_url=endpoint_url,
                       credentials=FakeCredentials())

    def mock_resource(self, typ: str, name: str, inputs: Mapping[str, Any], region: str
                      ) -> tuple[str | None, dict[str, Any]] | None:
        return None

    def mock_call(self, token: str, args: Mapping[str, Any], region: str) -> dict[str, Any] | None:
        return None

    def constraint_checks(self, region: str) -> list[Any]:
        return []


@pytest.fixture
def gcp_outputs(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(OUTPUTS))
    with clouds.registered(Gcp()):
        yield path


def test_run_smoke_passes_end_to_end_on_gcp(stand_in: StandIn, gcp_outputs: Path, bundle: Bundle) -> None:
    result = run_smoke("gcp-dev", outputs_file=gcp_outputs, bundle_dir=bundle.path, max_latency_ms=5000,
                       endpoint_url=stand_in.url)
    assert (result.endpoint_name, result.region, result.output_name) == ("house-prices-dev", REGION, "price")
    assert result.prediction == 312456.5 and 0 < result.latency_ms < 5000
    assert len(stand_in.seen) == 2  # the warm-up and the timed call
    assert json.loads(stand_in.seen[0].body) == {"instances": [bundle.sample_request["input"]]}


def test_run_smoke_fails_two_predictions_on_gcp(stand_in: StandIn, gcp_outputs: Path, bundle: Bundle) -> None:
    stand_in.answer = {"predictions": [1.0, 2.0], "deployedModelId": "998877"}
    with pytest.raises(SmokeFailed) as err:
        run_smoke("gcp-dev", outputs_file=gcp_outputs, bundle_dir=bundle.path, max_latency_ms=5000,
                  endpoint_url=stand_in.url)
    assert "the endpoint answered without 'price' (got ['deployedModelId', 'predictions'])" in str(err.value)


def test_run_smoke_names_a_refusal_on_gcp(stand_in: StandIn, gcp_outputs: Path, bundle: Bundle) -> None:
    stand_in.refuse(403, "PERMISSION_DENIED", "Permission 'aiplatform.endpoints.predict' denied.")
    with pytest.raises(SmokeFailed) as err:
        run_smoke("gcp-dev", outputs_file=gcp_outputs, bundle_dir=bundle.path, max_latency_ms=5000,
                  endpoint_url=stand_in.url)
    assert "house-prices-dev refused the sample request: PERMISSION_DENIED: Permission" in str(err.value)
    assert TOKEN not in str(err.value)
