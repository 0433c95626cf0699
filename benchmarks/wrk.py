"""Driving `wrk` with a Lua script that prints one parseable result line, and parsing it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks.results import LoadResult

MARKER = "modelstage-wrk"
INSTALL_HINT = "wrk is not installed: `apt-get update && apt-get install -y wrk` (Debian/Ubuntu)"

# `done` runs once after all threads finished; latencies are microseconds. wrk counts a response
# with status > 399 as a status error, and connect/read/write/timeout as socket errors.
_LUA = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "{content_type}"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "{marker} requests=%d duration_us=%d bytes=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f "
    .. "max_us=%.1f mean_us=%.1f connect=%d read=%d write=%d status=%d timeout=%d\\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""

_INT_KEYS = ("requests", "duration_us", "bytes", "connect", "read", "write", "status", "timeout")
_FLOAT_KEYS = ("p50_us", "p90_us", "p99_us", "max_us", "mean_us")


def wrk_path() -> str | None:
    return shutil.which("wrk")


def lua_script(body: bytes, content_type: str = "application/json") -> str:
    text = body.decode()
    if "]==]" in text:
        raise ValueError("the body cannot be embedded in a Lua long string")
    return _LUA.format(body=text, content_type=content_type, marker=MARKER)


def parse_wrk_output(stdout: str, generator: str = "wrk") -> LoadResult:
    """The figures from wrk's stdout: the last `modelstage-wrk key=value ...` line printed by `done`."""
    lines = [line for line in stdout.splitlines() if line.startswith(MARKER + " ")]
    if not lines:
        raise ValueError(f"no '{MARKER}' line in wrk's output (did the Lua `done` run?): {stdout[-300:]!r}")
    fields: dict[str, str] = {}
    for token in lines[-1].split()[1:]:
        key, sep, value = token.partition("=")
        if not sep:
            raise ValueError(f"malformed token {token!r} in {lines[-1]!r}")
        fields[key] = value
    missing = [k for k in (*_INT_KEYS, *_FLOAT_KEYS) if k not in fields]
    if missing:
        raise ValueError(f"wrk result line lacks {', '.join(missing)}: {lines[-1]!r}")
    n = {k: int(fields[k]) for k in _INT_KEYS}
    f = {k: float(fields[k]) for k in _FLOAT_KEYS}
    seconds = n["duration_us"] / 1e6
    return LoadResult(
        generator=generator, requests=n["requests"], seconds=seconds,
        rps=n["requests"] / seconds if seconds > 0 else 0.0,
        p50_ms=f["p50_us"] / 1000, p90_ms=f["p90_us"] / 1000, p99_ms=f["p99_us"] / 1000,
        max_ms=f["max_us"] / 1000, mean_ms=f["mean_us"] / 1000,
        status_errors=n["status"], socket_errors=n["connect"] + n["read"] + n["write"] + n["timeout"],
    )


def run_wrk(url: str, body: bytes, connections: int, duration: float, threads: int,
            timeout_s: float = 5.0) -> LoadResult:
    threads = max(1, min(threads, connections))
    with tempfile.TemporaryDirectory(prefix="modelstage-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(lua_script(body))
        cmd = [wrk_path() or "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
               f"--timeout={timeout_s:g}s", "-s", str(script), url]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + timeout_s + 30,
                              check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return parse_wrk_output(proc.stdout, generator=f"wrk -t{threads}")
