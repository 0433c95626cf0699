"""Serving-image benchmark: prints figures (it is not a test) and checks the issue's targets.

    .venv/bin/python benchmarks/image.py [--starts 5] [--duration 10] [--image TAG] [--json out/image.json]

Needs a Docker engine (`bash scripts/engine.sh`). Measures, on this machine's engine:
- the image size (what `docker images` shows: the uncompressed layers);
- cold start per cloud: from `docker run` (container create + start, as each cloud starts it) to the
  first 200 on that cloud's health route, repeated --starts times;
- idle RSS after health (before any request) and RSS after load: the resident set of every process
  in the container (VmRSS from /proc, the engine is local) and the container's cgroup memory;
- 1-row throughput, p50 and p99 through the container's published port (SageMaker contract), with
  wrk when installed, else the slower Python load generator;
- the malloc comparison (--malloc-variants, docs/image.md): for each variant a fresh container (as
  SageMaker starts it: `IMAGE serve`, the bundle read-only at /opt/ml/model), RSS idle, after 1-row
  load, after 1,000-row bodies, after ~5 MB bodies (--large-seconds each) and after 5 s idle. Variants:
  `glibc` (the image's MALLOC_* variables removed: glibc's defaults, as before docs/image.md's
  settings), `arena2` (MALLOC_ARENA_MAX=2 only), `image` (the image's ENV as shipped).

    .venv/bin/python benchmarks/image.py --only malloc --malloc-variants glibc,arena2,image
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
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
MALLOC_VARS = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
ENTRYPOINT = ["/opt/venv/bin/python", "-m", "container.runtime"]
# name -> (variables set with -e, variables removed from the image's ENV with `env -u`)
MALLOC_VARIANTS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "glibc": ({}, MALLOC_VARS),
    "arena2": ({"MALLOC_ARENA_MAX": "2"}, MALLOC_VARS[1:]),
    "mmap128k": ({"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"},
                 ()),
    "image": ({}, ()),
}


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", help="an existing image tag or id (default: build it with container/image_build.py)")
    p.add_argument("--bundle", type=Path, help="an existing bundle directory (default: package the example)")
    p.add_argument("--starts", type=int, default=5, help="cold starts per cloud (default 5)")
    p.add_argument("--clouds", default="sagemaker,vertex,azure", help="clouds to cold-start (default: all)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of load (default 10)")
    p.add_argument("--concurrency", type=int, default=8, help="connections under load (default 8)")
    p.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    p.add_argument("--only", choices=("all", "malloc"), default="all",
                   help="'malloc': only the malloc comparison (no size, cold-start or 1-row sections)")
    p.add_argument("--malloc-variants", default="glibc,image",
                   help=f"comma-separated, from {', '.join(MALLOC_VARIANTS)}; '' skips (default glibc,image)")
    p.add_argument("--large-seconds", type=float, default=10.0,
                   help="seconds of each large-body load in the malloc comparison (default 10)")
    p.add_argument("--large-concurrency", type=int, default=4,
                   help="connections of the large-body loads (default 4)")
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


def load(url: str, body: bytes, connections: int, seconds: float, timeout_s: float = 5.0) -> LoadResult:
    if wrk.wrk_path():
        return wrk.run_wrk(url, body, connections, seconds, threads=1)
    return run_python_load(url, body, connections, seconds, timeout_s=timeout_s)


def rows_body(rows: int, min_bytes: int = 0) -> bytes:
    """`{"instances": [[area, bedrooms, bathrooms], ...]}` with `rows` rows. With `min_bytes`, each area
    is written with enough zero decimals that the body reaches it: a body of that size within the
    runtime's row limit (10,000 rows per call), which is what a client sending wide values does."""
    pad = max(0, min_bytes // rows - 15) if min_bytes else 0

    def row(i: int) -> str:
        return f"[{600 + (i * 37) % 3400}.{'0' * pad}{i % 10}, {1 + i % 5}, {1 + i % 3}]"

    return ('{"instances": [' + ", ".join(row(i) for i in range(rows)) + "]}").encode()


def serving_ids(container: Any) -> str:
    """'uid:gid' of every process in the container, from /proc (the engine is local)."""
    container.reload()
    ids = []
    for pid in servers.process_tree(int(container.attrs["State"]["Pid"])):
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        fields = {ln.split(":", 1)[0]: ln.split(":", 1)[1].split() for ln in lines if ":" in ln}
        ids.append(f"{fields['Uid'][1]}:{fields['Gid'][1]}")
    return ",".join(sorted(set(ids)))


def start_sagemaker(client: Any, image: str, bundle_dir: Path, env: dict[str, str],
                    unset: tuple[str, ...]) -> tuple[Any, str]:
    """`IMAGE serve` with the bundle read-only at /opt/ml/model; `unset` variables are removed from the
    image's ENV (docker run can only override them) by starting the entry point under `env -u`."""
    port = servers.free_port()
    entrypoint = ["/usr/bin/env", *(a for v in unset for a in ("-u", v)), *ENTRYPOINT] if unset else None
    container = client.containers.run(
        image, command=["serve"], entrypoint=entrypoint, environment=env, detach=True,
        ports={"8080/tcp": ("127.0.0.1", port)},
        volumes={str(bundle_dir.resolve()): {"bind": "/opt/ml/model", "mode": "ro"}})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2) as r:
                if r.status == 200:
                    return container, url
        except OSError:
            pass
        container.reload()
        if container.status not in ("created", "running") or time.monotonic() > deadline:
            logs = container.logs(tail=20).decode(errors="replace")
            container.remove(force=True)
            raise RuntimeError(f"container never answered /ping 200:\n{logs}")
        time.sleep(0.1)


def malloc_comparison(client: Any, image: str, bundle_dir: Path, variants: list[str], args: argparse.Namespace,
                      ) -> dict[str, dict[str, Any]]:
    """RSS per variant after each phase (see the module docstring)."""
    bodies = [("1,000-row", rows_body(1000)), ("5 MB", rows_body(10_000, min_bytes=5_000_000))]
    out: dict[str, dict[str, Any]] = {}
    for name in variants:
        env, unset = MALLOC_VARIANTS[name]
        say(f"malloc variant {name}: set {env or '-'}, unset {', '.join(unset) or '-'}")
        container, url = start_sagemaker(client, image, bundle_dir, env, unset)
        try:
            time.sleep(1.0)
            phases: dict[str, Any] = {"ids": serving_ids(container), "idle": container_rss(container)[0]}
            load(url + "/invocations", SEED_BODY, args.concurrency, min(args.duration, 5.0))
            phases["1-row"] = container_rss(container)[0]
            loads: dict[str, Any] = {}
            for label, body in bodies:
                say(f"  {label} bodies ({len(body) / 1e6:.2f} MB) for {args.large_seconds:g} s, "
                    f"c={args.large_concurrency}")
                r = load(url + "/invocations", body, args.large_concurrency, args.large_seconds, timeout_s=60)
                loads[label] = {"requests": r.requests, "errors": r.errors, "p50_ms": r.p50_ms}
                phases[label] = container_rss(container)[0]
            time.sleep(5.0)
            rss, hwm, cgroup = container_rss(container)
            phases.update({"settled": rss, "peak": hwm, "cgroup": cgroup, "loads": loads})
            out[name] = phases
        finally:
            container.remove(force=True)
    return out


def print_malloc(results: dict[str, dict[str, Any]]) -> None:
    if not results:
        return
    phases = ["idle", "1-row", "1,000-row", "5 MB", "settled", "peak"]
    print("\nRSS of the container's processes (MiB) after each phase; one fresh container per variant")
    print(f"{'variant':<8} {'uid:gid':<12}" + "".join(f"{p:>11}" for p in phases) + "   requests (errors)")
    for name, r in results.items():
        reqs = ", ".join(f"{k} {v['requests']} ({v['errors']})" for k, v in r["loads"].items())
        print(f"{name:<8} {r['ids']:<12}" + "".join(f"{r[p] / MIB:11.1f}" for p in phases) + f"   {reqs}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    variants = [v for v in args.malloc_variants.split(",") if v]
    unknown = sorted(set(variants) - set(MALLOC_VARIANTS))
    if unknown:
        print(f"--malloc-variants: unknown {', '.join(unknown)}; expected {', '.join(MALLOC_VARIANTS)}",
              file=sys.stderr)
        return 2
    from container.engine_client import connect
    from container.image_build import build_image
    from container.local_cloud import docker_client
    from model.bundle import load_bundle
    from model.package import package_example

    started = time.perf_counter()
    api = connect()
    with tempfile.TemporaryDirectory(prefix="modelstage-image-bench-") as tmp:
        image = args.image
        if image is None:
            say("building the image (content-tagged: reused when it exists)")
            image = build_image(progress=lambda line: None, api=api).tag
        bundle_dir = args.bundle
        if bundle_dir is None:
            say("packaging the example bundle")
            bundle_dir = Path(tmp) / "bundle"
            package_example(bundle_dir)
        bundle_dir.chmod(0o755)  # the serving user (uid 10001) reads the mount
        bundle = load_bundle(bundle_dir)
        client = docker_client()
        figures: dict[str, Any] = {"image": image}
        checks: list[tuple[str, str, bool]] = []
        if args.only == "all":
            checks = general_sections(api, client, image, bundle, args, figures)
        figures["malloc"] = malloc_comparison(client, image, bundle_dir, variants, args)
    print_malloc(figures["malloc"])
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if all(ok for _, _, ok in checks) else 1


def general_sections(api: Any, client: Any, image: str, bundle: Any, args: argparse.Namespace,
                     figures: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Size, cold starts, idle and 1-row loaded RSS, throughput: printed, and the targets checked."""
    from container.local_cloud import start_cloud

    size = int(api.inspect_image(image)["Size"])
    cold: dict[str, list[float]] = {}
    for cloud in [c for c in args.clouds.split(",") if c]:
        cold[cloud] = []
        for i in range(args.starts):
            say(f"cold start {i + 1}/{args.starts} as {cloud}")
            with start_cloud(cloud, bundle, image, client=client) as running:
                cold[cloud].append(running.healthy_after)
    cold = {k: v for k, v in cold.items() if v}

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
        ("cold start <= 1.5 s (slowest cloud's median)", f"{worst_cold:.2f} s",
         not cold or worst_cold <= COLD_START_TARGET_S),
        ("idle RSS <= 80 MiB", f"{idle_rss / MIB:.1f} MiB", idle_rss <= IDLE_RSS_TARGET_BYTES),
        ("no errors under load", f"{result.errors}", result.errors == 0),
    ]
    print()
    for name, got, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name:<48} {got}")
    figures.update({
        "size_bytes": size, "cold_start_s": cold, "generator": generator,
        "idle": {"rss": idle_rss, "hwm": idle_hwm, "cgroup": idle_cgroup},
        "loaded": {"rss": loaded_rss, "hwm": loaded_hwm, "cgroup": loaded_cgroup},
        "load": {"rps": result.rps, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms,
                 "errors": result.errors, "requests": result.requests},
        "checks": [{"name": n, "got": g, "ok": ok} for n, g, ok in checks],
    })
    return checks


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
