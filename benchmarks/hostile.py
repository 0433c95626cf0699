"""Hostile-client benchmark: prints the figures issue 8's closing note asks for (it is not a test).

    .venv/bin/python -m benchmarks.hostile [--quick] [--json out/hostile.json]

Each figure comes from its own `python -m container.runtime serve` on 127.0.0.1 with the limits at
their defaults (tests/hostile.py drives the raw sockets):

- RSS with 100 stalled uploads: each announces Content-Length 6,000,000, sends 5 MiB and stalls;
- /ping p50/p99/max on fresh connections every 20 ms while 32 connections post 10,000 one-feature
  rows each (60 KB bodies, expensive to score, small in bytes) for 10 s;
- /ping latency with 1,000 clients connected (500 idle, 500 stopped half-way through a request line);
- requests lost on SIGTERM with 1 and 2 workers: 256 keep-alive connections sending 1-row requests
  back to back, SIGTERM in the middle (lost = no complete response for a request sent before the
  signal or within 1 s after; clean closes of idle connections, which clients retry, are counted
  apart); and 256 requests held in flight (half their body sent), SIGTERM, then finished.

No asserts; the exit code is 0 unless a server could not start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: make `benchmarks`, `model`, `container`, `tests` importable

from container.local import ServerProcess  # noqa: E402
from tests import hostile as h  # noqa: E402
from tests.drain import start_half_sent  # noqa: E402

MIB = 1 << 20


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.hostile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="shorter and smaller runs (3 s of expensive load, 64 connections on SIGTERM)")
    p.add_argument("--bundle", type=Path, help="an existing bundle directory (default: package the example)")
    p.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    p.add_argument("--duration", type=float, help="seconds of expensive-body load (default 10, --quick 3)")
    p.add_argument("--stalled", type=int, default=100, help="stalled uploads (default 100)")
    p.add_argument("--stalled-mib", type=int, default=5, help="MiB each stalled upload sends (default 5)")
    p.add_argument("--idle", type=int, default=1000, help="slow and idle clients connected (default 1000)")
    p.add_argument("--in-flight", type=int, help="connections / requests in flight at SIGTERM (default 256)")
    p.add_argument("--workers", default="1,2", help="worker counts for the SIGTERM runs (default 1,2)")
    return p.parse_args(argv)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def latency(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), "p50_ms": _ms(h.percentile(values, 50)), "p99_ms": _ms(h.percentile(values, 99)),
            "max_ms": _ms(max(values, default=float("nan")))}


def stalled_uploads(bundle: Path, logs: Path, n: int, mib: int) -> dict[str, Any]:
    with h.start_server(bundle, logs, name="stalled") as server:
        port = h.port_of(server)
        before = h.rss_bytes(server.proc.pid)
        head = h.http_request("POST", "/invocations", length=6_000_000)
        with h.open_sockets(port, n) as socks:
            sent = h.push_all(socks, head + b" " * (mib * MIB), 30.0)
            after = h.settled_rss(server.proc.pid)
            ping = h.exchange(port, h.ping_request(), 10)
            score = h.exchange(port, h.invocations_request(), 10)
    return {"uploads": n, "body_sent_mib": mib, "content_length": 6_000_000, "rss_before_mib": round(before / MIB, 1),
            "rss_after_mib": round(after / MIB, 1), "growth_mib": round((after - before) / MIB, 1),
            "sends_completed": sent.count(None), "sends_reset": sent.count(h.RESET),
            "sends_blocked": sent.count(h.TIMEOUT), "ping_beside": ping.status or ping.outcome,
            "invocations_beside": score.status or score.outcome}


def expensive_bodies(bundle: Path, logs: Path, connections: int, seconds: float) -> dict[str, Any]:
    body = h.rows_body(10_000, [120])
    with h.start_server(bundle, logs, name="expensive") as server, \
            h.PingPoller(h.port_of(server), 0.02, 30.0) as pings:
        counts = h.hammer(h.port_of(server), h.invocations_request(body), connections, seconds)
    return {"connections": connections, "seconds": seconds, "body_bytes": len(body), "rows": 10_000,
            "responses": counts, "ping": latency(pings.latencies), "ping_failures": len(pings.failures)}


def idle_clients(bundle: Path, logs: Path, n: int) -> dict[str, Any]:
    soft = h.raise_fd_limit(n + 1200)
    with h.start_server(bundle, logs, name="idle") as server:
        port = h.port_of(server)
        with h.open_sockets(port, n // 2) as idle, h.open_sockets(port, n - n // 2, b"POST /invocations HT") as slow:
            time.sleep(0.5)
            pings = []
            for _ in range(50):
                pings.append(h.exchange(port, h.ping_request(), 15))
                time.sleep(0.02)
            connected = len(idle) + len(slow)
            closed = len(h.count_closed(idle)) + len(h.count_closed(slow))
    ok = [p.seconds for p in pings if p.status == 200]
    return {"clients": n, "connected": connected, "closed_by_server": closed, "client_fd_limit": soft,
            "ping": latency(ok), "ping_failures": len(pings) - len(ok)}


def sigterm_load(bundle: Path, logs: Path, workers: int, connections: int) -> dict[str, Any]:
    server = h.start_server(bundle, logs, workers=workers, name=f"sigterm-load-{workers}")
    try:
        stats = h.sigterm_under_load(server, connections, load_seconds=2.0, grace=1.0, wait_exit=35.0)
    finally:
        server.stop()
    return {"workers": workers, "connections": connections, "answered_before": stats.before,
            "answered_after": stats.after, "after_with_connection_close": stats.after_with_close,
            "closed_idle_fin": stats.fin_before_send, "lost": len(stats.lost),
            "late_failures": len(stats.late_failures),
            "non_200": {str(k): v for k, v in stats.non_200.items()}, "exit_code": stats.exit_code,
            "exit_s": round(stats.exit_seconds, 2), "lost_examples": stats.lost[:5]}


def sigterm_held(bundle: Path, logs: Path, workers: int, n: int) -> dict[str, Any]:
    """`n` requests with half their body sent, SIGTERM, then the rest of each body."""
    server: ServerProcess = h.start_server(bundle, logs, workers=workers, name=f"sigterm-held-{workers}")
    statuses: dict[str, int] = {}
    try:
        pending = start_half_sent(server.url, n)
        time.sleep(0.5)
        started = time.perf_counter()
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        for p in pending:
            try:
                key = str(p.finish(30.0))
            except OSError as exc:
                key = type(exc).__name__
            finally:
                p.sock.close()
            statuses[key] = statuses.get(key, 0) + 1
        try:
            code: int | None = server.proc.wait(35)
        except subprocess.TimeoutExpired:
            code = None
        exited = time.perf_counter() - started
    finally:
        server.stop()
    return {"workers": workers, "requests": n, "statuses": statuses, "lost": n - statuses.get("200", 0),
            "exit_code": code, "exit_s": round(exited, 2)}


def print_report(doc: dict[str, Any]) -> None:
    s = doc["stalled_uploads"]
    print(f"\nRSS with {s['uploads']} stalled uploads ({s['body_sent_mib']} MiB sent of {s['content_length']:,}): "
          f"{s['rss_before_mib']:.0f} MiB before, {s['rss_after_mib']:.0f} MiB after (+{s['growth_mib']:.0f} MiB); "
          f"sends completed {s['sends_completed']}, reset {s['sends_reset']}, blocked {s['sends_blocked']}; "
          f"/ping {s['ping_beside']}, /invocations {s['invocations_beside']} beside them")
    e = doc["expensive_bodies"]
    print(f"/ping during {e['connections']} connections x {e['rows']:,}-row bodies ({e['body_bytes']:,} B) for "
          f"{e['seconds']:.0f} s: p50 {e['ping']['p50_ms']} ms, p99 {e['ping']['p99_ms']} ms, "
          f"max {e['ping']['max_ms']} ms ({e['ping']['count']} pings, {e['ping_failures']} failed); "
          f"scoring responses {e['responses']}")
    i = doc["idle_clients"]
    print(f"/ping with {i['connected']} of {i['clients']} slow/idle clients connected: p50 {i['ping']['p50_ms']} ms, "
          f"p99 {i['ping']['p99_ms']} ms, max {i['ping']['max_ms']} ms ({i['ping_failures']} failed; "
          f"{i['closed_by_server']} of the clients closed by the server)")
    for r in doc["sigterm_load"]:
        print(f"SIGTERM under load, {r['workers']} worker(s), {r['connections']} keep-alive connections: lost "
              f"{r['lost']} (+{r['late_failures']} later), answered {r['answered_before']} before / "
              f"{r['answered_after']} after ({r['after_with_connection_close']} with Connection: close), "
              f"{r['closed_idle_fin']} idle closes; non-200 {r['non_200']}; exit {r['exit_code']} in {r['exit_s']} s")
        for example in r["lost_examples"]:
            print(f"    {example}")
    for r in doc["sigterm_held"]:
        print(f"SIGTERM with {r['requests']} requests in flight, {r['workers']} worker(s): lost {r['lost']} "
              f"({r['statuses']}); exit {r['exit_code']} in {r['exit_s']} s")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    duration = args.duration or (3.0 if args.quick else 10.0)
    in_flight = args.in_flight or (64 if args.quick else 256)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="modelstage-hostile-") as tmp:
        logs = Path(tmp)
        bundle = args.bundle
        if bundle is None:
            from model.package import package_example

            say("packaging the example bundle")
            bundle = package_example(logs / "bundle").path
        doc: dict[str, Any] = {"argv": argv, "cores": os.cpu_count(), "python": platform.python_version(),
                               "quick": args.quick}
        say(f"{args.stalled} stalled uploads")
        doc["stalled_uploads"] = stalled_uploads(bundle, logs, args.stalled, args.stalled_mib)
        say(f"expensive bodies: 32 connections for {duration:.0f} s")
        doc["expensive_bodies"] = expensive_bodies(bundle, logs, 32, duration)
        say(f"{args.idle} slow and idle clients")
        doc["idle_clients"] = idle_clients(bundle, logs, args.idle)
        doc["sigterm_load"], doc["sigterm_held"] = [], []
        for workers in (int(w) for w in args.workers.split(",")):
            say(f"SIGTERM, {workers} worker(s), {in_flight} connections under load")
            doc["sigterm_load"].append(sigterm_load(bundle, logs, workers, in_flight))
            say(f"SIGTERM, {workers} worker(s), {in_flight} requests held in flight")
            doc["sigterm_held"].append(sigterm_held(bundle, logs, workers, in_flight))
    print_report(doc)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
