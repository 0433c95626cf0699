"""Health before and after the model loads, driven through the handler's interface directly
(open -> handle -> finish, as the connection calls it), without a socket."""

from __future__ import annotations

import threading

from container.runtime.app import ServingApp
from container.runtime.contracts import Reply
from container.runtime.settings import Settings
from model.bundle import Bundle
from model.scoring import Scorer


def _get(app: ServingApp, path: str, method: str = "GET", body: bytes = b"") -> tuple[int, bytes]:
    ex = app.open(method, path, "application/json", None, len(body))
    result = app.handle(ex, body)
    reply = result if isinstance(result, Reply) else result()
    app.finish(ex, reply.status)
    return reply.status, reply.body


def test_health_is_503_until_the_model_is_loaded_then_200(bundle: Bundle) -> None:
    gate = threading.Event()

    def slow_load() -> Scorer:
        gate.wait(10)
        return Scorer(bundle)

    app = ServingApp(Settings.from_env({}), slow_load)
    app.start_loading()
    assert (_get(app, "/ping"))[0] == 503
    assert (_get(app, "/ready"))[0] == 503
    assert (_get(app, "/live"))[0] == 200  # Azure liveness: the process is up
    status, _ = (_get(app, "/invocations", "POST", b'{"input": [1200, 3, 2]}'))
    assert status == 503
    gate.set()
    assert app._loader is not None
    app._loader.join(10)
    assert (_get(app, "/ping"))[0] == 200
    assert (_get(app, "/invocations", "POST", b'{"input": [1200, 3, 2]}'))[0] == 200


def test_a_failing_load_reports_fatal_and_stays_unhealthy(bundle: Bundle) -> None:
    failures: list[BaseException] = []

    def broken() -> Scorer:
        raise RuntimeError("disk on fire")

    app = ServingApp(Settings.from_env({}), broken, on_fatal=failures.append)
    app.start_loading()
    assert app._loader is not None
    app._loader.join(10)
    assert [str(f) for f in failures] == ["disk on fire"]
    assert (_get(app, "/ping"))[0] == 503
