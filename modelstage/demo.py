"""The README's main command: train, package, serve locally, send two requests, print, stop."""

from __future__ import annotations

import json
from pathlib import Path

from container.local import ServerProcess, free_port, request
from model.bundle import Bundle
from model.package import SEED_REQUEST, package_example


def _engine_reason() -> str | None:
    """None when a Docker engine answers; otherwise why not."""
    try:
        from container.build_errors import BuildError
        from container.engine_client import connect
    except ImportError as exc:  # the build extra is not installed
        return f"the docker SDK is not available ({exc})"
    try:
        connect(timeout=10)
    except BuildError as exc:
        return str(exc)
    return None


def _show(label: str, url: str, payload: dict[str, object], body: bytes, status: int, seconds: float) -> None:
    print(f"{label}: POST {url} {json.dumps(payload)} -> {status} {body.decode(errors='replace')} "
          f"({seconds * 1000:.1f} ms)")


def _serve_in_process(bundle: Bundle, port: int, out: Path) -> int:
    with ServerProcess(bundle.path, port, log_file=out / "server.log") as server:
        took = server.wait_healthy(30)
        url = f"{server.url}/invocations"
        print(f"serving in a local process at {server.url} "
              f"(healthy after {took * 1000:.0f} ms; log: {out / 'server.log'})")
        for label, payload in (("sample request", bundle.sample_request), ("seed request", SEED_REQUEST)):
            r = request(url, json.dumps(payload).encode())
            _show(label, url, payload, r.body, r.status, r.seconds)
            if r.status != 200:
                return 1
        code = server.stop()
    print(f"stopped the server (exit code {code})")
    return 0 if code == 0 else 1


def run_demo(out: Path, *, port: int | None, engine: str) -> int:
    out.mkdir(parents=True, exist_ok=True)
    bundle = package_example(out / "bundle")
    print(f"packaged {bundle.name} version {bundle.version} at {bundle.path} "
          f"(model.tar.gz sha256 {bundle.archive_sha256()[:16]}...; metrics {json.dumps(bundle.metrics)})")
    port = port or free_port()
    if engine != "process":
        reason = _engine_reason()
        if reason is None:
            from container.local_cloud import run_as_cloud

            return run_as_cloud("sagemaker", bundle.path, port=port, image=None, keep=False, say=print,
                                extra_requests=[("seed request", SEED_REQUEST)])
        if engine == "docker":
            print(f"no Docker engine: {reason}")
            return 1
        print(f"notice: no Docker engine ({reason}); serving in a local process instead. "
              "Run scripts/engine.sh to start one.")
    return _serve_in_process(bundle, port, out)
