"""Health before and after the model loads, driven through the ASGI interface directly."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import MutableMapping
from typing import Any

from container.runtime.app import ServingApp
from container.runtime.settings import Settings
from model.bundle import Bundle
from model.scoring import Scorer


async def _get(app: ServingApp, path: str, method: str = "GET", body: bytes = b"") -> tuple[int, bytes]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [(b"content-type", b"application/json")]}
    await app(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


def test_health_is_503_until_the_model_is_loaded_then_200(bundle: Bundle) -> None:
    gate = threading.Event()

    def slow_load() -> Scorer:
        gate.wait(10)
        return Scorer(bundle)

    app = ServingApp(Settings.from_env({}), slow_load)
    app.start_loading()
    assert asyncio.run(_get(app, "/ping"))[0] == 503
    assert asyncio.run(_get(app, "/ready"))[0] == 503
    assert asyncio.run(_get(app, "/live"))[0] == 200  # Azure liveness: the process is up
    status, _ = asyncio.run(_get(app, "/invocations", "POST", b'{"input": [1200, 3, 2]}'))
    assert status == 503
    gate.set()
    assert app._loader is not None
    app._loader.join(10)
    assert asyncio.run(_get(app, "/ping"))[0] == 200
    assert asyncio.run(_get(app, "/invocations", "POST", b'{"input": [1200, 3, 2]}'))[0] == 200


def test_a_failing_load_reports_fatal_and_stays_unhealthy(bundle: Bundle) -> None:
    failures: list[BaseException] = []

    def broken() -> Scorer:
        raise RuntimeError("disk on fire")

    app = ServingApp(Settings.from_env({}), broken, on_fatal=failures.append)
    app.start_loading()
    assert app._loader is not None
    app._loader.join(10)
    assert [str(f) for f in failures] == ["disk on fire"]
    assert asyncio.run(_get(app, "/ping"))[0] == 503
