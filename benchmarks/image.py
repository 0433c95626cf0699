"""Serving-image benchmark: prints figures (it is not a test) and checks the issue's targets.

    .venv/bin/python benchmarks/image.py [--starts 5] [--duration 10] [--image TAG] [--json out/image.json]

Needs a Docker engine (`bash scripts/engine.sh`). Measures, on this machine's engine:
- the image size (what `docker images` shows: the uncompressed layers);
- cold start per cloud: from `docker run` (container create + start, as each cloud starts it) to the
  first 200 on that cloud's health route, repeated --starts times;
- idle RSS after health (before any request) and RSS after load: the resident set of every process
  in the container (VmRSS from /proc, the engine is local) and the container's cgroup memory;
- 1-row throughput, p50 and p99 through the container's published port (SageMaker contract), with
  wrk when installed, else the slower Python load generator.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: make `benchmarks`, `model`, `container` importable

from benchmarks import servers, wrk  # noqa: E402
from benchmarks.pyload import run_python_load  # noqa: E402
from benchmarks.results import LoadResult  # noqa: E402

MIB = 1024 * 1024
SIZE_TARGET_BYTES = 300 * 1000 * 1000  # "300 MB", read strictly as decimal megabytes
COLD_START_TARGET_S = 1.5
IDLE_RSS_TARGET_BYTES = 80 * MIB
SEED_BODY = b'{"input": [1200, 3, 2]}'


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", help="an existing image tag or id (default: build it with container/build.py)")
    p.add_argument("--bundle", type=Path, help="an existing bundle directory (default: package the example)")
    p.add_argument("--starts", type=int, default=5, help="cold starts per cloud (default 5)")
    p.add_argument("--clouds", default="sagemaker,vertex,azure", help="clouds to cold-start (default: all)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of load (default 10)")
    p.add_argument("--concurrency", type=int, default=8, help="connections under load (default 8)")
    p.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    return p.parse_args(argv)


def container_rss(container: Any) -> tuple[int, int, int]:
    """(VmRSS summed, VmHWM summed, cgroup memory usage) of a running container, in bytes."""
    container.reload()
    pid = int(container.attrs["State"]["Pid"])
    tree = servers.process_tree(pid)
    rss = sum(servers.proc_status_bytes(p, "VmRSS") for p in tree)
    hwm = sum(servers.proc_status_bytes(p, "VmHWM") for p in tree)
    stats = container.stats(stream=False)
    memory = stats.get("memory_stats", {})
    # `docker stats` subtracts the page cache (inactive_file on cgroup v2) from usage.
    cache = memory.get("stats", {}).get("inactive_file", 0)
    return rss, hwm, int(memory.get("usage", 0)) - int(cache)


def load(url: str, body: bytes, connections: int, seconds: float) -> LoadResult:
    if wrk.wrk_path():
        return wrk.run_wrk(url, body, connections, seconds, threads=1)
    return run_python_load(url, body, connections, seconds)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from container.build import build_image, connect
    from container.local_cloud import docker_client, start_cloud
    from model.bundle import load_bundle
    from model.package import package_example

    started = time.perf_counter()
    api = connect()
    with tempfile.TemporaryDirectory(prefix="modelstage-image-bench-") as tmp:
        image = args.image
        if image is None:
            say("building the image (content-tagged: reused when it exists)")
            image = build_image(progress=lambda line: None, api=api).tag
        size = int(api.inspect_image(image)["Size"])
        bundle_dir = args.bundle
        if bundle_dir is None:
            say("packaging the example bundle")
            bundle_dir = Path(tmp) / "bundle"
            package_example(bundle_dir)
        bundle = load_bundle(bundle_dir)
        client = docker_client()

        cold: dict[str, list[float]] = {}
        for cloud in args.clouds.split(","):
            cold[cloud] = []
            for i in range(args.starts):
                say(f"cold start {i + 1}/{args.starts} as {cloud}")
                with start_cloud(cloud, bundle, image, client=client) as running:
                    cold[cloud].append(running.healthy_after)

        say(f"idle and loaded RSS, {args.concurrency} connections of 1-row requests for {args.duration:g} s")
        with start_cloud("sagemaker", bundle, image, client=client) as running:
            time.sleep(1.0)  # let the background load settle before reading idle memory
            idle_rss, idle_hwm, idle_cgroup = container_rss(running.container)
            url = running.url + "/invocations"
            load(url, SEED_BODY, args.concurrency, 2.0)  # warm-up, unmeasured
            result = load(url, SEED_BODY, args.concurrency, args.duration)
            loaded_rss, loaded_hwm, loaded_cgroup = container_rss(running.container)

    generator = result.generator
    print(f"\nmodelstage image benchmark: image {image}, load generator {generator}\n")
    print(f"image size                {size / 1e6:8.1f} MB  ({size / MIB:.1f} MiB)")
    for cloud, times in cold.items():
        ordered = sorted(times)
        print(f"cold start as {cloud:<10}  median {statistics.median(ordered) * 1000:6.0f} ms, "
              f"min {ordered[0] * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms  ({len(ordered)} runs, "
              "docker run -> first 200 on health)")
    print(f"idle   RSS (processes)    {idle_rss / MIB:8.1f} MiB  (cgroup {idle_cgroup / MIB:.1f} MiB, "
          f"peak {idle_hwm / MIB:.1f} MiB)")
    print(f"loaded RSS (processes)    {loaded_rss / MIB:8.1f} MiB  (cgroup {loaded_cgroup / MIB:.1f} MiB, "
          f"peak {loaded_hwm / MIB:.1f} MiB)")
    print(f"1-row requests, c={args.concurrency:<3}     {result.rps:8.0f} req/s, p50 {result.p50_ms:.2f} ms, "
          f"p99 {result.p99_ms:.2f} ms, errors {result.errors} of {result.requests}")

    worst_cold = max(statistics.median(t) for t in cold.values()) if cold else float("nan")
    checks = [
        ("image size <= 300 MB", f"{size / 1e6:.1f} MB", size <= SIZE_TARGET_BYTES),
        ("cold start <= 1.5 s (slowest cloud's median)", f"{worst_cold:.2f} s", worst_cold <= COLD_START_TARGET_S),
        ("idle RSS <= 80 MiB", f"{idle_rss / MIB:.1f} MiB", idle_rss <= IDLE_RSS_TARGET_BYTES),
        ("no errors under load", f"{result.errors}", result.errors == 0),
    ]
    print()
    for name, got, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name:<48} {got}")
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "image": image, "size_bytes": size, "cold_start_s": cold, "generator": generator,
            "idle": {"rss": idle_rss, "hwm": idle_hwm, "cgroup": idle_cgroup},
            "loaded": {"rss": loaded_rss, "hwm": loaded_hwm, "cgroup": loaded_cgroup},
            "load": {"rps": result.rps, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms,
                     "errors": result.errors, "requests": result.requests},
            "checks": [{"name": n, "got": g, "ok": ok} for n, g, ok in checks],
        }, indent=2) + "\n")
    return 0 if all(ok for _, _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
