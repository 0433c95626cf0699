"""Fallback load generator when wrk is absent: asyncio, raw sockets, one keep-alive connection per slot.

Slower than wrk (it is Python, and it shares the 2 cores with the server), so its req/s figures are
a lower bound; prefer wrk.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from benchmarks.results import LoadResult, percentile

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a runtime dependency on Linux
    uvloop = None


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response; return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _worker(host: str, port: int, request: bytes, deadline: float, timeout_s: float,
                  latencies: list[int], counts: dict[str, int]) -> None:
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    while time.perf_counter() < deadline:
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
            started = time.perf_counter_ns()
            writer.write(request)
            status = await asyncio.wait_for(_read_response(reader), timeout_s)
            latencies.append(time.perf_counter_ns() - started)
            counts["requests"] += 1
            if not 200 <= status < 300:
                counts["status"] += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, TimeoutError):
            counts["socket"] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _run(url: str, body: bytes, connections: int, duration: float, timeout_s: float) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    latencies: list[int] = []
    counts = {"requests": 0, "status": 0, "socket": 0}
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.wait_for(asyncio.gather(*(
        _worker(host, port, request, deadline, timeout_s, latencies, counts) for _ in range(connections))),
        duration + 2 * timeout_s + 5)
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    ms = [x / 1e6 for x in ordered]
    return LoadResult(
        generator="python-asyncio", requests=counts["requests"], seconds=seconds,
        rps=counts["requests"] / seconds,
        p50_ms=percentile(ms, 50), p90_ms=percentile(ms, 90), p99_ms=percentile(ms, 99),
        max_ms=ms[-1] if ms else float("nan"), mean_ms=sum(ms) / len(ms) if ms else float("nan"),
        status_errors=counts["status"], socket_errors=counts["socket"],
    )


def run_python_load(url: str, body: bytes, connections: int, duration: float,
                    timeout_s: float = 5.0) -> LoadResult:
    if uvloop is not None:
        return uvloop.run(_run(url, body, connections, duration, timeout_s))
    return asyncio.run(_run(url, body, connections, duration, timeout_s))
