"""Serving benchmark: prints figures (it is not a test) and checks the issue's targets.

    .venv/bin/python benchmarks/serving.py [--duration 10] [--skip-mlflow] [--json out/bench.json]

One run measures: the in-process floor (Scorer, ONNX Runtime, scikit-learn), the HTTP floor (a
constant ASGI app on the same uvicorn + uvloop + httptools stack), modelstage with 1 and 2 workers
(1- and 100-row requests at concurrency 1, 8, 32) and `mlflow models serve` on the same model.
Load comes from wrk (`apt-get install -y wrk`), else from a slower Python asyncio generator.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: make `benchmarks`, `model`, `container` importable

from benchmarks import report, servers, wrk  # noqa: E402
from benchmarks.pyload import run_python_load  # noqa: E402
from benchmarks.results import LoadResult, Timing  # noqa: E402

Load = Callable[[str, bytes, int, float], LoadResult]
SEED_BODY = b'{"input": [1200, 3, 2]}'


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=10.0, help="seconds per load run (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per server (default 2)")
    p.add_argument("--bundle", type=Path, help="an existing bundle directory (default: package the example)")
    p.add_argument("--skip-mlflow", action="store_true", help="skip the MLflow baseline (and its install)")
    p.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    p.add_argument("--calls", type=int, default=2000, help="in-process calls per timing (default 2000)")
    p.add_argument("--concurrency", default="1,8,32", help="connections per row (default 1,8,32)")
    p.add_argument("--workers", default="1,2", help="modelstage worker counts (default 1,2)")
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk -t (default 1: a core for the server)")
    p.add_argument("--python-load", action="store_true", help="use the Python load generator, not wrk")
    return p.parse_args(argv)


def make_loader(args: argparse.Namespace) -> tuple[Load, str]:
    if not args.python_load and wrk.wrk_path():
        version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False)
        return (lambda url, body, c, d: wrk.run_wrk(url, body, c, d, args.wrk_threads),
                (version.stdout or version.stderr).splitlines()[0] + f"; run with -t{args.wrk_threads}")
    if not args.python_load:
        say(wrk.INSTALL_HINT + "; falling back to the Python asyncio load generator (slower, a lower bound)")
    return (lambda url, body, c, d: run_python_load(url, body, c, d)), "python-asyncio (uvloop) fallback"


def bodies(bundle_dir: Path) -> tuple[list[float], list[list[float]], bytes, bytes, bytes]:
    """The seed's 1-row body, a 100-row body, and the same 1 row in MLflow's fastest form."""
    from model.bundle import load_bundle
    from model.dataset import make_house_prices
    from model.schema import RowEncoder

    encoder = RowEncoder(load_bundle(bundle_dir).schema)
    full_row = [float(v) for v in encoder.encode([[1200, 3, 2]])[0]]  # defaults filled: MLflow needs all 8
    rows = [[float(v) for v in row] for row in make_house_prices(n_rows=100, seed=7, missing_rate=0.0).X]
    body_100 = json.dumps({"instances": rows}).encode()
    return [1200, 3, 2], rows, SEED_BODY, body_100, json.dumps({"inputs": [full_row]}).encode()


def check_answer(url: str, body: bytes, key: str) -> None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        doc = json.loads(response.read())
    if key not in doc:
        raise RuntimeError(f"{url} answered {doc!r}, expected a {key!r} key")


def http_floor(load: Load, body: bytes, args: argparse.Namespace, workdir: Path) -> report.Row:
    port = servers.free_port()
    cmd = [sys.executable, "-m", "uvicorn", "benchmarks.const_app:app", "--host", "127.0.0.1",
           "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
           "--workers", "1", "--log-level", "warning", "--no-server-header", "--no-proxy-headers",
           "--timeout-keep-alive", "75"]
    with servers.running("http-floor", cmd, os.environ, port, workdir, cwd=ROOT) as server:
        servers.wait_ready(server, "/ping", timeout_s=30)
        url = server.base + "/invocations"
        load(url, body, 8, args.warmup)
        say("http-floor: concurrency 8")
        return report.Row("http-floor", 1, 1, 8, load(url, body, 8, args.duration))


def modelstage(load: Load, workers: int, bundle_dir: Path, loads: list[tuple[int, bytes]],
               concurrency: list[int], args: argparse.Namespace,
               workdir: Path) -> tuple[list[report.Row], dict[str, Any]]:
    port = servers.free_port()
    env = {**os.environ, "MODEL_DIR": str(bundle_dir), "MODELSTAGE_HOST": "127.0.0.1", "PORT": str(port),
           "MODELSTAGE_WORKERS": str(workers), "MODELSTAGE_LOG_LEVEL": "warning"}
    cmd = [sys.executable, "-m", "container.runtime"]
    rows: list[report.Row] = []
    with servers.running(f"modelstage-{workers}w", cmd, env, port, workdir, cwd=ROOT) as server:
        ready = servers.wait_ready(server, "/ping", timeout_s=120)
        url = server.base + "/invocations"
        check_answer(url, SEED_BODY, "price")
        load(url, SEED_BODY, 8, args.warmup)
        for n, body in loads:
            for c in concurrency:
                say(f"modelstage {workers} worker(s): {n}-row requests, concurrency {c}")
                rows.append(report.Row("modelstage", workers, n, c, load(url, body, c, args.duration)))
        rss = servers.peak_rss(server.proc.pid)
    return rows, {"workers": workers, "ready_s": ready, "rss_bytes": sum(rss.values()), "rss_by_pid": rss}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    load, generator = make_loader(args)
    concurrency = [int(c) for c in args.concurrency.split(",")]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="modelstage-bench-") as tmp:
        workdir = Path(tmp)
        bundle_dir = args.bundle
        if bundle_dir is None:
            from model.package import package_example

            say("packaging the example bundle")
            bundle_dir = workdir / "bundle"
            package_example(bundle_dir)
        one_row, rows100, body_1, body_100, body_mlflow = bodies(bundle_dir)

        from benchmarks.inprocess import measure_inprocess

        say(f"in-process timings ({args.calls} calls each)")
        timings: list[Timing] = measure_inprocess(bundle_dir, one_row, rows100, args.calls, body_1, body_100)
        say(f"load generator: {generator}")
        table = [http_floor(load, body_1, args, workdir)]
        memory = []
        for workers in (int(w) for w in args.workers.split(",")):
            found, mem = modelstage(load, workers, bundle_dir, [(1, body_1), (100, body_100)], concurrency,
                                    args, workdir)
            table += found
            memory.append(mem)
        mlflow: dict[str, Any] | None = None
        if not args.skip_mlflow:
            from benchmarks.mlflow_baseline import measure_mlflow

            say("MLflow baseline (mlflow models serve, 1 worker, {\"inputs\": ...}), concurrency 8")
            mlflow = measure_mlflow(workdir, body_mlflow, 8, args.duration, args.warmup, load, say=say)
            table.append(report.Row("mlflow", 1, 1, 8, mlflow["result"]))

    rss_one = next((m["rss_bytes"] for m in memory if m["workers"] == 1), None)
    found_targets = report.targets(table, rss_one)
    print(f"\nmodelstage serving benchmark: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{args.duration:g} s per row; load generator: {generator}\n")
    print(report.timing_table(timings) + "\n")
    print(report.load_table(table) + "\n")
    for m in memory:
        parts = ", ".join(f"{pid}: {b / report.MIB:.1f}" for pid, b in m["rss_by_pid"].items())
        print(f"modelstage {m['workers']} worker(s): peak RSS (VmHWM) {m['rss_bytes'] / report.MIB:.1f} MiB "
              f"[{parts}], ready in {m['ready_s']:.2f} s")
    if mlflow:
        print(f"mlflow {mlflow['version']}: peak RSS {mlflow['rss_bytes'] / report.MIB:.1f} MiB "
              f"(CLI + uvicorn), cold start {mlflow['cold_start_s']:.1f} s\n  {mlflow['command']}")
    print("\n" + report.target_table(found_targets))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    if args.json:
        doc = {"argv": argv, "cores": os.cpu_count(), "python": platform.python_version(),
               "generator": generator, "duration_s": args.duration, "inprocess": [asdict(t) for t in timings],
               "load": [r.to_dict() for r in table], "memory": memory,
               "mlflow": {k: v for k, v in (mlflow or {}).items() if k != "result"} or None,
               "targets": [{**asdict(t), "verdict": t.verdict} for t in found_targets]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0 if all(t.ok is not False for t in found_targets) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
