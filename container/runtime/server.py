"""Starting the server: uvicorn on uvloop + httptools, graceful SIGTERM, optional worker processes.

uvicorn already does what SageMaker's stop contract needs on SIGTERM: stop accepting, finish the
requests in flight, exit; `timeout_graceful_shutdown` keeps that well inside the 30 s before SIGKILL.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

import uvicorn
from uvicorn.supervisors import Multiprocess

from container.runtime.app import ServingApp
from container.runtime.model_source import resolve_model_dir
from container.runtime.settings import Settings
from model.bundle import load_bundle
from model.errors import ModelstageError
from model.scoring import Scorer

log = logging.getLogger("modelstage.runtime")
_LEVELS = {"10": "debug", "20": "info", "30": "warning", "40": "error", "50": "critical"}


def _log_level(settings: Settings) -> str:
    level = _LEVELS.get(settings.log_level, settings.log_level)
    return level if level in ("debug", "info", "warning", "error", "critical") else "info"


class _Server(uvicorn.Server):
    """SIGTERM is the platforms' normal stop (scale-in, update): drain, then exit 0 instead of re-raising it."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM and sig in self._captured_signals:
            self._captured_signals.remove(sig)


def _loader(settings: Settings) -> Scorer:
    return Scorer(load_bundle(resolve_model_dir(settings)))


def create_app() -> ServingApp:
    """App factory for worker processes: each worker loads its own copy of the model."""
    settings = Settings.from_env()

    def fatal(_: BaseException) -> None:
        os._exit(3)  # the supervisor's parent already verified the bundle; a worker that cannot load is broken

    return ServingApp(settings, lambda: _loader(settings), on_fatal=fatal, load_before_serving=True)


def _uvicorn_config(app: object, settings: Settings, **extra: object) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.host, port=settings.port, loop="uvloop", http="httptools", lifespan="on",
        access_log=False, log_level=_log_level(settings), timeout_graceful_shutdown=settings.graceful_timeout,
        timeout_keep_alive=75, proxy_headers=False, server_header=False, **extra,  # type: ignore[arg-type]
    )


def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT. Returns the process exit code (non-zero when the model failed)."""
    logging.basicConfig(level=_log_level(settings).upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    if settings.workers > 1:
        # Verify once up front: a bad bundle must stop the container, not make workers respawn forever.
        try:
            model_dir = resolve_model_dir(settings)
            load_bundle(model_dir)
        except ModelstageError as exc:
            log.error("model failed to load: %s", exc)
            return 2
        os.environ["MODEL_DIR"] = str(model_dir)
        config = _uvicorn_config("container.runtime.server:create_app", settings, factory=True,
                                 workers=settings.workers)
        # Server.run() alone would ignore `workers`: the supervisor binds once and forks the workers,
        # and on SIGTERM lets each drain its own requests before it exits.
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return 0
    failures: list[BaseException] = []
    server: _Server | None = None

    def fatal(exc: BaseException) -> None:
        failures.append(exc)
        if server is not None:
            server.should_exit = True

    app = ServingApp(settings, lambda: _loader(settings), on_fatal=fatal)
    server = _Server(_uvicorn_config(app, settings))
    server.run()
    return 2 if failures else 0
