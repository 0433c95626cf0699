"""`modelstage smoke STACK`: call the deployed endpoint with the bundle's sample request and check it.

The stack's outputs come from `pulumi stack output --json --stack STACK` when the Pulumi CLI is
installed, or from a JSON file of the same shape. The call goes through the stack's cloud's own API
(as any client would; `Cloud.invoker`, e.g. the SageMaker runtime on AWS); the answer must be
`{"<output name>": number}` for the sample's single row, within the latency budget. One warm-up call
comes first, so a cold start is not judged as latency. Every failure is a SmokeError saying what was
expected.
"""

# pyright: strict

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from infra import clouds
from infra.errors import SmokeError, SmokeFailed
from infra.outputs import CLOUD, ENDPOINT_NAME, REGION
from model.bundle import Bundle, load_bundle
from model.errors import BundleError

PULUMI_TIMEOUT_S = 120


@dataclass(frozen=True)
class SmokeResult:
    stack: str
    endpoint_name: str
    region: str
    output_name: str
    prediction: float
    latency_ms: float
    max_latency_ms: float

    def summary(self) -> str:
        return (f"{self.stack}: {self.endpoint_name} ({self.region}) answered {self.output_name}="
                f"{self.prediction:g} in {self.latency_ms:.0f} ms (budget {self.max_latency_ms:.0f} ms)")


@dataclass(frozen=True)
class StackDefaults:
    bundle_path: Path
    max_latency_ms: float
    drift_distance: float = 0.1  # driftThresholdPercent / 100: what the cloud's drift monitor alarms above


FALLBACK = StackDefaults(Path("out/bundle"), 2000.0)


def stack_defaults(stack: str, root: Path) -> StackDefaults:
    """The bundle, the latency budget and the drift threshold the stack itself declares (bundlePath,
    alarmLatencyP99Ms, driftThresholdPercent, read from Pulumi.yaml and stacks/ as `pulumi up` does);
    FALLBACK outside a project."""
    from infra.offline.stack_config import load_stack_config, stack_file
    from infra.spec import parse_spec

    if not (root / "Pulumi.yaml").is_file() or not stack_file(root, stack).is_file():
        return FALLBACK
    spec = parse_spec(load_stack_config(root, stack))  # a SpecError names the bad key
    bundle = Path(spec.bundle_path)
    return StackDefaults(bundle if bundle.is_absolute() else root / bundle, float(spec.monitoring.latency_p99_ms),
                         spec.monitoring.drift_threshold_percent / 100)


def read_outputs(stack: str, outputs_file: Path | None) -> dict[str, Any]:
    """The stack's outputs: from `outputs_file`, else from the Pulumi CLI."""
    if outputs_file is not None:
        try:
            text = outputs_file.read_text()
        except OSError as exc:
            raise SmokeError(f"{outputs_file}: cannot read the stack outputs ({exc.strerror or exc})") from exc
        source = str(outputs_file)
    else:
        pulumi = shutil.which("pulumi")
        if pulumi is None:
            raise SmokeError("no `pulumi` CLI on PATH to read the stack's outputs; pass the outputs as a file "
                             f"(`pulumi stack output --json --stack {stack} > outputs.json`)")
        try:
            proc = subprocess.run([pulumi, "stack", "output", "--json", "--stack", stack], capture_output=True,
                                  text=True, timeout=PULUMI_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise SmokeError(f"`pulumi stack output --stack {stack}` did not finish in {PULUMI_TIMEOUT_S} s") from exc
        if proc.returncode != 0:
            raise SmokeError(f"`pulumi stack output --json --stack {stack}` failed: {proc.stderr.strip()[-500:]}")
        text, source = proc.stdout, f"`pulumi stack output --stack {stack}`"
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SmokeError(f"{source}: not JSON ({exc}); expected the output of `pulumi stack output --json`") from exc
    if not isinstance(outputs, dict):
        raise SmokeError(f"{source}: expected a JSON object of stack outputs, got {type(outputs).__name__}")
    return cast(dict[str, Any], outputs)


def _required(outputs: dict[str, Any], key: str, stack: str) -> str:
    value = outputs.get(key)
    if not isinstance(value, str) or not value:
        present = ", ".join(sorted(outputs)) or "none"
        raise SmokeError(f"stack {stack} has no {key!r} output (outputs: {present}); was `pulumi up` run "
                         "for this stack?")
    return value


def _load(bundle_dir: Path) -> Bundle:
    try:
        return load_bundle(bundle_dir, verify_archive=True)
    except BundleError as exc:
        raise SmokeError(f"the smoke test sends the bundle's sample request: {exc}") from exc


def check_answer(body: bytes, output_name: str) -> float:
    """The prediction in a single-row answer `{"<output name>": number}`, or a SmokeError."""
    expected = f'{{"{output_name}": <number>}}'
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SmokeFailed(f"the endpoint answered {body[:200]!r}, which is not JSON; expected {expected}") from None
    if not isinstance(doc, dict) or output_name not in doc:
        keys = sorted(cast(dict[str, Any], doc)) if isinstance(doc, dict) else type(doc).__name__
        raise SmokeFailed(f"the endpoint answered without {output_name!r} (got {keys}); expected {expected}")
    value = cast(dict[str, Any], doc)[output_name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SmokeFailed(f"the endpoint answered {output_name}={value!r}; expected {expected} (a finite number)")
    return float(value)


def run_smoke(stack: str, *, outputs_file: Path | None, bundle_dir: Path, max_latency_ms: float,
              endpoint_url: str | None = None, timeout_s: float | None = None) -> SmokeResult:
    """Invoke the stack's endpoint once to warm it, then once timed; raise SmokeError on any failure.

    endpoint_url overrides the cloud API's URL (tests, private endpoints); timeout_s bounds each call
    (default: twice the latency budget, at least 2 s, at most 70 s)."""
    if max_latency_ms <= 0:
        raise SmokeError(f"max latency {max_latency_ms} ms: expected a positive number of milliseconds")
    outputs = read_outputs(stack, outputs_file)
    endpoint = _required(outputs, ENDPOINT_NAME, stack)
    region = _required(outputs, REGION, stack)
    name = _required(outputs, CLOUD, stack)
    if name not in clouds.names():
        raise SmokeError(f"stack {stack} is on {name!r}, which modelstage cannot call; expected one of "
                         f"{', '.join(clouds.names())}")
    bundle = _load(bundle_dir)
    output_name = bundle.schema.output.name
    body = json.dumps(bundle.sample_request).encode()
    timeout = timeout_s if timeout_s is not None else min(max(2 * max_latency_ms / 1000, 2.0), 70.0)
    send = clouds.get(name).invoker(outputs, output_name=output_name, timeout_s=timeout, endpoint_url=endpoint_url)
    check_answer(send(body), output_name)  # warm-up: a cold start is not judged as latency
    started = time.perf_counter()
    payload = send(body)
    latency_ms = (time.perf_counter() - started) * 1000
    prediction = check_answer(payload, output_name)
    if latency_ms > max_latency_ms:
        raise SmokeFailed(f"{endpoint} answered correctly but in {latency_ms:.0f} ms, more than the "
                         f"{max_latency_ms:g} ms allowed")
    return SmokeResult(stack=stack, endpoint_name=endpoint, region=region, output_name=output_name,
                       prediction=prediction, latency_ms=latency_ms, max_latency_ms=max_latency_ms)
