"""Serving benchmark: prints figures (it is not a test) and checks the issue's targets.

    .venv/bin/python benchmarks/serving.py [--duration 10] [--skip-mlflow] [--json out/bench.json]

One run measures: the in-process floor (Scorer, ONNX Runtime, scikit-learn, modelstage's handler
called directly), the HTTP floor (a constant ASGI app on uvicorn + uvloop + httptools), two reference
apps which split modelstage's cost in two (`reference_apps.py`: `model_only`, the model alone behind
the least possible parsing, on the same uvicorn stack; and modelstage's request path with a constant
model, on modelstage's own server), modelstage with 1 and 2 workers (1- and 100-row requests at
concurrency 1, 8, 32) and `mlflow models serve` on the same model. The target is modelstage's 1-row
req/s against `model_only` in the same run (report.py). Load comes from wrk (`apt-get install -y
wrk`), else from a slower Python asyncio generator.
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
from benchmarks.cpu import CpuUse, CpuWatch  # noqa: E402
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
    p.add_argument("--skip-split", action="store_true",
                   help="skip the two reference apps that split the cost in model and request path")
    p.add_argument("--python-load", action="store_true", help="use the Python load generator, not wrk")
    p.add_argument("--capture", action="store_true",
                   help="also run modelstage (1 worker, 1-row, concurrency 8) with capture off and at 100%%, "
                        "twice each in the order off, on, on, off, and print the ratio (target: >= 90%%)")
    p.add_argument("--drift-window", action="store_true",
                   help="also run modelstage (1 worker, 1-row, concurrency 8) with the /metrics drift window off "
                        "and at its default, in the order off, on, on, off, and print the ratio (target: >= 95%%)")
    return p.parse_args(argv)


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.load, self.generator = self._loader()

    def _loader(self) -> tuple[Load, str]:
        args = self.args
        if not args.python_load and wrk.wrk_path():
            out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False)
            version = ((out.stdout or out.stderr).splitlines() or ["wrk"])[0].split(" Copyright")[0]
            return (lambda url, body, c, d: wrk.run_wrk(url, body, c, d, args.wrk_threads),
                    f"{version}, -t{args.wrk_threads}")
        if not args.python_load:
            say(wrk.INSTALL_HINT + "; using the Python asyncio load generator (slower: a lower bound)")
        return (lambda url, body, c, d: run_python_load(url, body, c, d)), "python-asyncio (uvloop) fallback"

    def measure(self, pid: int, url: str, body: bytes, connections: int,
                seconds: float) -> tuple[LoadResult, CpuUse]:
        watch = CpuWatch(pid)
        result = self.load(url, body, connections, seconds)
        return result, watch.stop()

    def reference(self, name: str, app: str, body: bytes, bundle_dir: Path, factory: bool = False) -> report.Row:
        """A reference app (1 process), 1-row body at concurrency 8. An ASGI app runs on uvicorn + uvloop +
        httptools; `app` "modelstage-server:without_model" runs on modelstage's own server instead."""
        port = servers.free_port()
        if app == "modelstage-server:without_model":
            cmd = [sys.executable, "-m", "benchmarks.reference_apps", "without_model", str(port)]
        else:
            cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1",
                   "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                   "--workers", "1", "--log-level", "warning", "--no-server-header", "--no-proxy-headers",
                   "--timeout-keep-alive", "75", *(["--factory"] if factory else [])]
        env = {**os.environ, "MODEL_DIR": str(bundle_dir)}
        with servers.running(name, cmd, env, port, self.workdir, cwd=ROOT) as server:
            servers.wait_ready(server, "/ping", timeout_s=60)
            url = server.base + "/invocations"
            self.measure(server.proc.pid, url, body, 8, self.args.warmup)
            say(f"{name}: 1-row body, concurrency 8")
            result, cpu = self.measure(server.proc.pid, url, body, 8, self.args.duration)
            return report.Row(name, 1, 1, 8, result, cpu)

    def modelstage(self, workers: int, bundle_dir: Path, loads: list[tuple[int, bytes]],
                   concurrency: list[int], extra_env: dict[str, str] | None = None,
                   label: str = "modelstage") -> tuple[list[report.Row], dict[str, Any]]:
        port = servers.free_port()
        env = {**os.environ, "MODEL_DIR": str(bundle_dir), "MODELSTAGE_HOST": "127.0.0.1",
               "PORT": str(port), "MODELSTAGE_WORKERS": str(workers), "MODELSTAGE_LOG_LEVEL": "warning"}
        env.pop("MODELSTAGE_CAPTURE_DIR", None)
        env.pop("MODELSTAGE_DRIFT_WINDOW", None)
        env.update(extra_env or {})
        rows: list[report.Row] = []
        cmd = [sys.executable, "-m", "container.runtime"]
        with servers.running(f"{label}-{workers}w", cmd, env, port, self.workdir, cwd=ROOT) as server:
            ready = servers.wait_ready(server, "/ping", timeout_s=120)
            url, pid = server.base + "/invocations", server.proc.pid
            check_answer(url, SEED_BODY, "price")
            self.measure(pid, url, SEED_BODY, 8, self.args.warmup)
            for n, body in loads:
                for c in concurrency:
                    say(f"{label} {workers} worker(s): {n}-row requests, concurrency {c}")
                    rows.append(report.Row(label, workers, n, c,
                                           *self.measure(pid, url, body, c, self.args.duration)))
            rss = servers.peak_rss(pid)
        note = ""
        if workers > 1 and len(rss) < workers + 1:
            note = (f"MODELSTAGE_WORKERS={workers} but only {len(rss)} process(es) served: "
                    "the server is not running worker processes")
            say("WARNING: " + note)
        return rows, {"workers": workers, "ready_s": ready, "processes": len(rss),
                      "rss_bytes": sum(rss.values()), "rss_by_pid": rss, "note": note}


    def on_off(self, bundle_dir: Path, what: str, on_env: Callable[[int], dict[str, str]],
               off_env: dict[str, str]) -> tuple[list[report.Row], float, float]:
        """1 worker, 1-row, concurrency 8, a feature off and on in the order off, on, on, off (so a drift of
        the machine during the run weighs on both sides); the mean req/s of each side."""
        rows: list[report.Row] = []
        for i, on in enumerate((False, True, True, False)):
            label = f"{what}-on" if on else f"{what}-off"
            found, _ = self.modelstage(1, bundle_dir, [(1, SEED_BODY)], [8], on_env(i) if on else off_env, label)
            rows += found
        on_rows = [r for r in rows if r.server == f"{what}-on"]
        off_rows = [r for r in rows if r.server == f"{what}-off"]
        on_rps = sum(r.result.rps for r in on_rows) / len(on_rows)
        off_rps = sum(r.result.rps for r in off_rows) / len(off_rows)
        say(f"{what}: {on_rps:.0f} req/s on vs {off_rps:.0f} off = {on_rps / off_rps if off_rps else 0.0:.1%}")
        cpu = {name: [r.cpu.server_us_per_request(r.result.requests) for r in group if r.cpu]
               for name, group in (("on", on_rows), ("off", off_rows))}
        if cpu["on"] and cpu["off"]:  # server CPU per request moves less than req/s when other processes compete
            on_us, off_us = sum(cpu["on"]) / len(cpu["on"]), sum(cpu["off"]) / len(cpu["off"])
            say(f"{what}: server CPU {on_us:.1f} us/request on vs {off_us:.1f} off "
                f"(+{on_us - off_us:.1f} us, {off_us / on_us:.1%} of the throughput it predicts)")
        return rows, on_rps, off_rps

    def capture(self, bundle_dir: Path) -> tuple[list[report.Row], report.Target]:
        """--capture: capture off and at 100%; the ratio of req/s."""
        from benchmarks.drift_window import measure_envs

        on_us, off_us = measure_envs(  # in process (no socket, no HTTP parser): steadier than req/s
            bundle_dir, SEED_BODY, {"MODELSTAGE_CAPTURE_DIR": str(self.workdir / "capture-0")}, {},
            check=lambda on, off: on.capture is not None and off.capture is None)
        say(f"capture in process (open, handle, finish, observe): {on_us:.2f} us/request on vs {off_us:.2f} off "
            f"(+{on_us - off_us:.2f} us)")
        rows, on_rps, off_rps = self.on_off(
            bundle_dir, "cap", lambda i: {"MODELSTAGE_CAPTURE_DIR": str(self.workdir / f"capture-{i}"),
                                          "MODELSTAGE_CAPTURE_PERCENT": "100"}, {})
        written = sum(_captured_lines(self.workdir / f"capture-{i}") for i in (1, 2))
        ratio = on_rps / off_rps if off_rps else 0.0
        return rows, report.Target("capture 100% vs off", ">= 90% of capture off (1w, 1 row, c8)",
                                   f"{on_rps:.0f} / {off_rps:.0f} = {ratio:.1%} ({written} records); in process "
                                   f"+{on_us - off_us:.2f} us per request ({off_us:.2f} -> {on_us:.2f})",
                                   ratio >= 0.9)

    def drift_window(self, bundle_dir: Path) -> tuple[list[report.Row], report.Target]:
        """--drift-window: MODELSTAGE_DRIFT_WINDOW=0 against its default (10,000 rows); the ratio of req/s."""
        from benchmarks.drift_window import measure

        on_us, off_us = measure(bundle_dir, SEED_BODY)  # in process: steadier than req/s on a shared machine
        say(f"drift window in process (open, handle, finish, observe): {on_us:.2f} us/request on vs "
            f"{off_us:.2f} off (+{on_us - off_us:.2f} us)")
        rows, on_rps, off_rps = self.on_off(bundle_dir, "drift", lambda i: {}, {"MODELSTAGE_DRIFT_WINDOW": "0"})
        ratio = on_rps / off_rps if off_rps else 0.0
        return rows, report.Target("drift window vs off", ">= 95% of the window off (1w, 1 row, c8)",
                                   f"{on_rps:.0f} / {off_rps:.0f} = {ratio:.1%}; in process {on_us:.2f} / "
                                   f"{off_us:.2f} us per request", ratio >= 0.95)


def _captured_lines(directory: Path) -> int:
    return sum(f.read_bytes().count(b"\n") for f in directory.rglob("*.jsonl"))


def bodies(bundle_dir: Path) -> tuple[list[float], list[list[float]], bytes, bytes]:
    """The seed's row, 100 full rows, the 100-row body, and the seed row in MLflow's fastest form."""
    from model.bundle import load_bundle
    from model.dataset import make_house_prices
    from model.schema import RowEncoder

    encoder = RowEncoder(load_bundle(bundle_dir).schema)
    full_row = [float(v) for v in encoder.encode([[1200, 3, 2]])[0]]  # defaults filled: MLflow needs all 8
    rows = [[float(v) for v in row] for row in make_house_prices(n_rows=100, seed=7, missing_rate=0.0).X]
    body_mlflow = json.dumps({"inputs": [full_row]}).encode()
    return full_row, rows, json.dumps({"instances": rows}).encode(), body_mlflow


def check_answer(url: str, body: bytes, key: str) -> None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        doc = json.loads(response.read())
    if key not in doc:
        raise RuntimeError(f"{url} answered {doc!r}, expected a {key!r} key")


def inprocess(bundle_dir: Path, rows: list[list[float]], body_100: bytes, calls: int) -> list[Timing]:
    from benchmarks.asgi_inprocess import serving_app, time_app, time_handler
    from benchmarks.const_app import app as const_app
    from benchmarks.inprocess import measure_inprocess

    timings = measure_inprocess(bundle_dir, [1200, 3, 2], rows, calls, SEED_BODY, body_100)
    app = serving_app(bundle_dir)
    timings.append(time_app("constant ASGI app called directly, 1 row", const_app, SEED_BODY, calls))
    timings.append(time_handler("modelstage handler called directly, 1 row", app, SEED_BODY, calls))
    timings.append(time_handler("modelstage handler called directly, 100 rows", app, body_100, calls))
    app.close()
    return timings


def machine_state() -> dict[str, str]:
    state = {"loadavg": Path("/proc/loadavg").read_text().strip()}
    if Path("/proc/pressure/cpu").exists():
        state["cpu_pressure"] = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    return state


def print_report(bench: Bench, timings: list[Timing], table: list[report.Row], memory: list[dict[str, Any]],
                 mlflow: dict[str, Any] | None, found: list[report.Target], before: dict[str, str]) -> None:
    args = bench.args
    print(f"\nmodelstage serving benchmark: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{args.duration:g} s per row; load generator: {bench.generator}; load average before: "
          f"{before['loadavg']}\n")
    print(report.timing_table(timings) + "\n")
    print(report.load_table(table) + "\n")
    for m in memory:
        parts = ", ".join(f"pid {pid}: {b / report.MIB:.1f}" for pid, b in m["rss_by_pid"].items())
        print(f"modelstage {m['workers']} worker(s): peak RSS (VmHWM, summed) "
              f"{m['rss_bytes'] / report.MIB:.1f} MiB [{parts}], {m['processes']} process(es), "
              f"ready in {m['ready_s']:.2f} s")
        if m["note"]:
            print(f"  WARNING: {m['note']}")
    if mlflow:
        print(f"mlflow {mlflow['version']}: peak RSS {mlflow['rss_bytes'] / report.MIB:.1f} MiB "
              f"(CLI + uvicorn processes), cold start {mlflow['cold_start_s']:.1f} s\n  {mlflow['command']}")
    print("\n" + report.target_table(found))


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    concurrency = [int(c) for c in args.concurrency.split(",")]
    started, before = time.perf_counter(), machine_state()
    with tempfile.TemporaryDirectory(prefix="modelstage-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        bundle_dir = args.bundle
        if bundle_dir is None:
            from model.package import package_example

            say("packaging the example bundle")
            bundle_dir = Path(tmp) / "bundle"
            package_example(bundle_dir)
        _, rows100, body_100, body_mlflow = bodies(bundle_dir)
        say(f"in-process timings ({args.calls} calls each)")
        timings = inprocess(bundle_dir, rows100, body_100, args.calls)
        say(f"load generator: {bench.generator}")
        table = [bench.reference("http-floor", "benchmarks.const_app:app", SEED_BODY, bundle_dir)]
        if not args.skip_split:
            table += [bench.reference("model-only", "benchmarks.reference_apps:model_only", SEED_BODY, bundle_dir,
                                      factory=True),
                      bench.reference("no-model", "modelstage-server:without_model", SEED_BODY, bundle_dir)]
        memory = []
        for workers in (int(w) for w in args.workers.split(",")):
            found_rows, mem = bench.modelstage(workers, bundle_dir, [(1, SEED_BODY), (100, body_100)],
                                               concurrency)
            table += found_rows
            memory.append(mem)
        extra_targets: list[report.Target] = []
        for wanted, run in ((args.capture, bench.capture), (args.drift_window, bench.drift_window)):
            if wanted:
                extra_rows, target = run(bundle_dir)
                table += extra_rows
                extra_targets.append(target)
        mlflow: dict[str, Any] | None = None
        if not args.skip_mlflow:
            from benchmarks.mlflow_baseline import measure_mlflow

            say('MLflow baseline: mlflow models serve, 1 worker, {"inputs": [row]}, concurrency 8')
            mlflow = measure_mlflow(Path(tmp), body_mlflow, 8, args.duration, args.warmup, bench.measure,
                                    say=say)
            table.append(report.Row("mlflow", 1, 1, 8, mlflow["result"], mlflow["cpu"]))

    rss_one = next((m["rss_bytes"] for m in memory if m["workers"] == 1), None)
    found = report.targets(table, rss_one)
    found += extra_targets
    print_report(bench, timings, table, memory, mlflow, found, before)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    if args.json:
        doc = {"argv": argv, "cores": os.cpu_count(), "python": platform.python_version(),
               "generator": bench.generator, "duration_s": args.duration, "machine_before": before,
               "machine_after": machine_state(), "inprocess": [asdict(t) for t in timings],
               "load": [r.to_dict() for r in table], "memory": memory,
               "mlflow": {k: v for k, v in (mlflow or {}).items() if k not in ("result", "cpu")} or None,
               "targets": [{**asdict(t), "verdict": t.verdict} for t in found]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0 if all(t.ok is not False for t in found) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
