"""Per-request cost without a socket or HTTP parser: a constant ASGI app called directly, and
modelstage's handler called as its connection calls it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.results import Timing

if TYPE_CHECKING:
    from container.runtime.app import ServingApp

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Message, Receive, Send], Awaitable[None]]


def _scope(body: bytes) -> Message:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/invocations", "raw_path": b"/invocations", "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
            "headers": [(b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())]}


async def _time_app(app: App, body: bytes, calls: int, max_seconds: float) -> list[int]:
    message = {"type": "http.request", "body": body, "more_body": False}
    status: list[int] = []

    async def receive() -> Message:
        return message

    async def send(msg: Message) -> None:
        if msg["type"] == "http.response.start":
            status.append(msg["status"])

    samples: list[int] = []
    deadline = time.perf_counter() + max_seconds
    for i in range(calls + 50):
        started = time.perf_counter_ns()
        await app(_scope(body), receive, send)
        if i >= 50:  # warm-up calls are not counted
            samples.append(time.perf_counter_ns() - started)
        if time.perf_counter() > deadline:
            break
    if any(s != 200 for s in status):
        raise RuntimeError(f"the app answered {sorted(set(status))} to the benchmark body")
    return samples


def time_app(name: str, app: App, body: bytes, calls: int, max_seconds: float = 5.0) -> Timing:
    return Timing.of(name, asyncio.run(_time_app(app, body, calls, max_seconds)))


def call_handler(app: ServingApp, body: bytes, path: str = "/invocations") -> tuple[int, bytes]:
    """One POST through modelstage's handler as its connection calls it (open, handle, finish)."""
    from container.runtime.contracts import Reply

    ex = app.open("POST", path, "application/json", None, len(body))
    result = app.handle(ex, body)
    reply = result if isinstance(result, Reply) else result()
    app.finish(ex, reply.status)
    return reply.status, reply.body


def time_handler(name: str, app: ServingApp, body: bytes, calls: int, max_seconds: float = 5.0) -> Timing:
    """modelstage's handler called directly, without a socket or HTTP parser."""
    samples: list[int] = []
    statuses: set[int] = set()
    deadline = time.perf_counter() + max_seconds
    for i in range(calls + 50):
        started = time.perf_counter_ns()
        status, _ = call_handler(app, body)
        if i >= 50:  # warm-up calls are not counted
            samples.append(time.perf_counter_ns() - started)
        statuses.add(status)
        if time.perf_counter() > deadline:
            break
    if statuses != {200}:
        raise RuntimeError(f"the handler answered {sorted(statuses)} to the benchmark body")
    return Timing.of(name, samples)


def serving_app(bundle_dir: Path, timeout_s: float = 60.0) -> ServingApp:
    """modelstage's ServingApp with the bundle loaded (the same object the server runs)."""
    from container.runtime.app import ServingApp
    from container.runtime.settings import Settings
    from model.bundle import load_bundle
    from model.scoring import Scorer

    settings = Settings.from_env({"MODEL_DIR": str(bundle_dir)})
    app = ServingApp(settings, lambda: Scorer(load_bundle(bundle_dir)))
    app.start_loading()
    deadline = time.perf_counter() + timeout_s
    while app.scorer is None:
        if time.perf_counter() > deadline:
            raise RuntimeError("ServingApp did not load the bundle in time")
        time.sleep(0.01)
    return app
