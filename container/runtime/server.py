"""Starting the server: one asyncio (uvloop) process, or a supervisor over worker processes.

The HTTP server is modelstage's own (connection.py, listener.py over httptools) rather than an ASGI
server, because the limits that keep a production endpoint alive under hostile clients (header and
body deadlines, a connection cap that evicts idle clients, a body-memory budget, a drain that
accepts the backlog on SIGTERM) need control of every connection's phase.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys

import uvloop

from container.runtime.app import ServingApp
from container.runtime.listener import Listener
from container.runtime.model_source import cleanup_unpacked, resolve_model_dir, worker_env
from container.runtime.settings import Settings
from model.bundle import load_bundle
from model.errors import ModelstageError
from model.scoring import Scorer

log = logging.getLogger("modelstage.runtime")
_LEVELS = {"10": "debug", "20": "info", "30": "warning", "40": "error", "50": "critical"}
BACKLOG = 2048
SWITCH_INTERVAL_S = 0.001
EXIT_MODEL_FAILED = 2
EXIT_WORKER_MODEL_FAILED = 3  # a worker could not load what its supervisor verified


def _log_level(settings: Settings) -> str:
    level = _LEVELS.get(settings.log_level, settings.log_level)
    return level if level in ("debug", "info", "warning", "error", "critical") else "info"


def bind(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


async def _run(app: ServingApp, sock: socket.socket, graceful_timeout: float, failures: list[BaseException]) -> int:
    loop = asyncio.get_running_loop()
    if app.load_before_serving:
        await asyncio.to_thread(app.start_loading().join)
        if app.scorer is None:
            return EXIT_WORKER_MODEL_FAILED
    listener = Listener(app, sock, graceful_timeout)
    await listener.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, listener.stop)

    def fatal(exc: BaseException) -> None:  # called from the loader thread
        failures.append(exc)
        loop.call_soon_threadsafe(listener.stop)

    app.on_fatal = fatal
    if not app.load_before_serving:
        app.start_loading()
    log.info("listening on %s:%d", *sock.getsockname()[:2])
    await listener.serve_until_drained()
    app.close()
    return EXIT_MODEL_FAILED if failures else 0


def run(app: ServingApp, sock: socket.socket, graceful_timeout: float) -> int:
    """Serve `app` on `sock` until SIGTERM/SIGINT has drained it. Returns the exit code."""
    # The event loop shares the GIL with the scoring threads; a shorter switch interval than the
    # default 5 ms gets it back sooner, which is what keeps health answering during heavy scoring.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    failures: list[BaseException] = []
    return uvloop.run(_run(app, sock, graceful_timeout, failures))


def _loader(settings: Settings) -> Scorer:
    return Scorer(load_bundle(resolve_model_dir(settings)))


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=_log_level(settings).upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT. Returns the process exit code (non-zero when the model failed)."""
    _configure_logging(settings)
    try:
        if settings.listen_fd is not None:  # a worker under the supervisor: the socket is inherited
            sock = socket.socket(fileno=settings.listen_fd)
            sock.setblocking(False)
            app = ServingApp(settings, lambda: _loader(settings), load_before_serving=True)
            return run(app, sock, settings.graceful_timeout)
        if settings.workers > 1:
            return _supervise(settings)
        app = ServingApp(settings, lambda: _loader(settings))
        return run(app, bind(settings), settings.graceful_timeout)
    finally:
        cleanup_unpacked()


def _supervise(settings: Settings) -> int:
    from container.runtime.supervisor import Supervisor

    # Verify once up front: a bad bundle must stop the container, not make workers respawn forever.
    try:
        model_dir = resolve_model_dir(settings)
        load_bundle(model_dir)
    except ModelstageError as exc:
        log.error("model failed to load: %s", exc)
        return EXIT_MODEL_FAILED
    sock = bind(settings)
    env = {**os.environ, **worker_env(model_dir, settings), "MODELSTAGE_LISTEN_FD": str(sock.fileno())}
    return Supervisor(sock, settings.workers, env, settings.graceful_timeout).run()
