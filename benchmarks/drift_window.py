"""--drift-window, in process: what the window costs one 1-row request, without the noise of a shared machine.

Two ServingApps (MODELSTAGE_DRIFT_WINDOW at its default and 0) take the request path a connection
takes (open, handle, finish, observe: everything but the socket and the HTTP parser) in alternating
blocks, so a change of the machine's load weighs on both; the figure is the median per block.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from container.runtime.app import ServingApp
from container.runtime.contracts import Reply


def _serving_app(bundle_dir: Path, env: dict[str, str]) -> ServingApp:
    from container.runtime.settings import Settings
    from model.bundle import load_bundle
    from model.scoring import Scorer

    app = ServingApp(Settings.from_env({"MODEL_DIR": str(bundle_dir), **env}), lambda: Scorer(load_bundle(bundle_dir)))
    app.start_loading().join(60)
    if app.scorer is None:
        raise RuntimeError("ServingApp did not load the bundle")
    return app


def _block(app: ServingApp, body: bytes, calls: int) -> float:
    """Microseconds per request over `calls` requests."""
    started = time.perf_counter_ns()
    for _ in range(calls):
        ex = app.open("POST", "/invocations", "application/json", None, len(body))
        result = app.handle(ex, body)
        reply = result if isinstance(result, Reply) else result()
        app.finish(ex, reply.status)
        app.observe(reply, ex)
    return (time.perf_counter_ns() - started) / calls / 1000


def measure_envs(bundle_dir: Path, body: bytes, on_env: dict[str, str], off_env: dict[str, str],
                 blocks: int = 30, calls: int = 2000,
                 check: Callable[[ServingApp, ServingApp], bool] = lambda on, off: True) -> tuple[float, float]:
    """(us per request with on_env, with off_env): medians of interleaved blocks. `check(on, off)` says
    the two apps really differ as intended (a misspelt variable would measure nothing)."""
    on, off = _serving_app(bundle_dir, on_env), _serving_app(bundle_dir, off_env)
    try:
        _block(on, body, calls)
        _block(off, body, calls)
        times: dict[bool, list[float]] = {True: [], False: []}
        for i in range(blocks):
            for is_on in ((True, False) if i % 2 else (False, True)):
                times[is_on].append(_block(on if is_on else off, body, calls))
        if not check(on, off):
            raise RuntimeError("the on and off apps did not differ as intended")
        return statistics.median(times[True]), statistics.median(times[False])
    finally:
        on.close()
        off.close()


def measure(bundle_dir: Path, body: bytes, blocks: int = 30, calls: int = 2000) -> tuple[float, float]:
    """(us per request with the window on, off)."""
    return measure_envs(bundle_dir, body, {"MODELSTAGE_DRIFT_WINDOW": "10000"}, {"MODELSTAGE_DRIFT_WINDOW": "0"},
                        blocks, calls, lambda on, off: on.metrics.window is not None and on.metrics.window.seen > 0
                        and off.metrics.window is None)
