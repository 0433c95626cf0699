"""`modelstage smoke`: the endpoint called through the SageMaker runtime API, against moto's runtime
(canned answers) and local stand-ins that refuse or never answer."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from moto.server import ThreadedMotoServer

from infra.errors import SmokeError
from infra.smoke import SmokeResult, run_smoke
from model.bundle import Bundle

REGION = "eu-west-1"
OUTPUTS = {"endpoint_name": "house-prices-dev", "region": REGION, "cloud": "aws",
           "invoke_url": f"https://runtime.sagemaker.{REGION}.amazonaws.com/endpoints/house-prices-dev/invocations"}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def endpoint(moto_url: str) -> Iterator[str]:
    requests.post(f"{moto_url}/moto-api/reset", timeout=5).raise_for_status()
    yield moto_url


def answer(moto_url: str, body: str) -> None:
    """Moto's invoke_endpoint answers `body` (for every call with the same request)."""
    requests.post(f"{moto_url}/moto-api/static/sagemaker/endpoint-results", timeout=5, json={
        "region": REGION, "results": [{"Body": body, "ContentType": "application/json",
                                       "InvokedProductionVariant": "AllTraffic", "CustomAttributes": ""}]},
                  ).raise_for_status()


@pytest.fixture
def outputs_file(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(OUTPUTS))
    return path


def smoke(outputs_file: Path | None, bundle: Bundle, url: str, max_latency_ms: float = 5000,
          timeout_s: float | None = None) -> SmokeResult:
    return run_smoke("aws-dev", outputs_file=outputs_file, bundle_dir=bundle.path, max_latency_ms=max_latency_ms,
                     endpoint_url=url, timeout_s=timeout_s)


def test_a_correct_answer_within_the_budget_passes(endpoint: str, outputs_file: Path, bundle: Bundle) -> None:
    answer(endpoint, '{"price": 312456.5}')
    result = run_smoke("aws-dev", outputs_file=outputs_file, bundle_dir=bundle.path, max_latency_ms=5000,
                       endpoint_url=endpoint)
    assert (result.endpoint_name, result.region, result.output_name) == ("house-prices-dev", REGION, "price")
    assert result.prediction == 312456.5 and 0 < result.latency_ms < 5000
    assert "price=312456" in result.summary()


@pytest.mark.parametrize(("body", "message"), [
    ("<html>busy</html>", "which is not JSON; expected {\"price\": <number>}"),
    ('{"prediction": 1.0}', "the endpoint answered without 'price' (got ['prediction'])"),
    ('{"predictions": [1.0]}', "without 'price'"),
    ('{"price": "cheap"}', "answered price='cheap'; expected {\"price\": <number>} (a finite number)"),
    ('{"price": true}', "a finite number"),
    ("[1.0]", "without 'price' (got list)"),
])
def test_a_wrong_answer_fails_with_what_was_expected(endpoint: str, outputs_file: Path, bundle: Bundle, body: str,
                                                     message: str) -> None:
    answer(endpoint, body)
    with pytest.raises(SmokeError) as err:
        smoke(outputs_file, bundle, endpoint)
    assert message in str(err.value)


def test_a_slow_answer_fails_the_latency_budget(endpoint: str, outputs_file: Path, bundle: Bundle) -> None:
    answer(endpoint, '{"price": 1.0}')
    with pytest.raises(SmokeError) as err:
        smoke(outputs_file, bundle, endpoint, max_latency_ms=0.001)
    assert "answered correctly but in" in str(err.value) and "more than the 0.001 ms allowed" in str(err.value)


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """Accepts connections (the kernel completes them) and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_no_answer_within_the_timeout_fails(silent_endpoint: str, outputs_file: Path, bundle: Bundle) -> None:
    with pytest.raises(SmokeError) as err:
        smoke(outputs_file, bundle, silent_endpoint, timeout_s=0.5)
    assert "did not answer within the read timeout" in str(err.value)


class _Refusing(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"message": "Endpoint house-prices-dev of account 123456789012 not found."}'
        self.send_response(400)
        self.send_header("x-amzn-ErrorType", "ValidationError")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def refusing_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=5)


def test_an_endpoint_the_api_refuses_fails_with_the_apis_reason(refusing_endpoint: str, outputs_file: Path,
                                                                 bundle: Bundle) -> None:
    with pytest.raises(SmokeError) as err:
        smoke(outputs_file, bundle, refusing_endpoint)
    assert "refused the sample request: ValidationError: Endpoint house-prices-dev" in str(err.value)


@pytest.mark.parametrize(("content", "message"), [
    ("{}", "stack aws-dev has no 'endpoint_name' output (outputs: none); was `pulumi up` run"),
    (json.dumps({"endpoint_name": "house-prices-dev"}), "has no 'region' output"),
    ("not json", "not JSON"),
    ("[1, 2]", "expected a JSON object of stack outputs, got list"),
    (json.dumps({k: v for k, v in OUTPUTS.items() if k != "cloud"}), "has no 'cloud' output"),
    (json.dumps({**OUTPUTS, "cloud": "openstack"}), "is on 'openstack', which modelstage cannot call; expected one of"),
])
def test_bad_outputs_fail_before_any_call(tmp_path: Path, bundle: Bundle, content: str, message: str) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(content)
    with pytest.raises(SmokeError) as err:
        smoke(path, bundle, "http://127.0.0.1:9")
    assert message in str(err.value)


def test_a_missing_outputs_file_is_named(tmp_path: Path, bundle: Bundle) -> None:
    with pytest.raises(SmokeError) as err:
        smoke(tmp_path / "nope.json", bundle, "http://127.0.0.1:9")
    assert "nope.json: cannot read the stack outputs" in str(err.value)


def test_without_a_file_or_the_pulumi_cli_it_says_how_to_pass_outputs(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path, bundle: Bundle) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SmokeError) as err:
        smoke(None, bundle, "http://127.0.0.1:9")
    assert "pulumi stack output --json --stack aws-dev > outputs.json" in str(err.value)


def test_outputs_come_from_the_pulumi_cli_when_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         endpoint: str, bundle: Bundle) -> None:
    fake = tmp_path / "pulumi"
    log = tmp_path / "args"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {log}\ncat <<'EOF'\n{json.dumps(OUTPUTS)}\nEOF\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    answer(endpoint, '{"price": 2.5}')
    assert smoke(None, bundle, endpoint).prediction == 2.5
    assert log.read_text().split() == ["stack", "output", "--json", "--stack", "aws-dev"]


def test_a_missing_bundle_is_named(outputs_file: Path, tmp_path: Path) -> None:
    with pytest.raises(SmokeError) as err:
        run_smoke("aws-dev", outputs_file=outputs_file, bundle_dir=tmp_path / "none", max_latency_ms=100)
    assert "the smoke test sends the bundle's sample request" in str(err.value)


def test_the_command_prints_the_answer_and_exits_0(endpoint: str, outputs_file: Path, bundle: Bundle,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from modelstage.cli import main

    answer(endpoint, '{"price": 250000}')
    code = main(["smoke", "aws-dev", "--outputs", str(outputs_file), "--bundle", str(bundle.path),
                 "--endpoint-url", endpoint])
    assert code == 0
    assert "house-prices-dev" in capsys.readouterr().out


@pytest.mark.parametrize(("content", "code"), [('{"price": "cheap"}', 1), (None, 2)])
def test_the_command_exits_1_for_a_failed_check_and_2_for_bad_input(
        endpoint: str, outputs_file: Path, bundle: Bundle, capsys: pytest.CaptureFixture[str],
        content: str | None, code: int) -> None:
    from modelstage.cli import main

    if content is None:
        outputs_file.write_text("[]")  # bad input: not an object of outputs
    else:
        answer(endpoint, content)
    assert main(["smoke", "aws-dev", "--outputs", str(outputs_file), "--bundle", str(bundle.path),
                 "--endpoint-url", endpoint]) == code
    err = capsys.readouterr().err
    assert err.startswith("modelstage: error: ") and "Traceback" not in err


def test_the_budget_and_bundle_default_to_what_the_stack_declares(tmp_path: Path) -> None:
    from infra.smoke import FALLBACK, stack_defaults

    root = Path(__file__).resolve().parents[2]
    dev, prod = stack_defaults("aws-dev", root), stack_defaults("aws-prod", root)
    assert (dev.max_latency_ms, prod.max_latency_ms) == (1000.0, 200.0)  # their alarmLatencyP99Ms
    assert dev.bundle_path == root / "out" / "bundle"
    assert stack_defaults("aws-dev", tmp_path) == FALLBACK  # not a project folder
    assert stack_defaults("no-such-stack", root) == FALLBACK

