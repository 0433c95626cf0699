"""The ASGI app: routes of all three clouds over one scorer, health, limits and metrics.

Plain ASGI rather than a framework: the per-request path is a dict lookup, a body read and a
pure function from `contracts`, which keeps the HTTP overhead close to the server's own floor.
The model loads in a background thread after start-up, so the socket accepts at once (SageMaker
wants that within 250 ms) and health answers 503 until the model is ready.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from container.runtime import contracts
from container.runtime.codec import encode_json
from container.runtime.metrics import Metrics
from container.runtime.settings import AZURE_MAX_BODY, SAGEMAKER_MAX_BODY, VERTEX_MAX_BODY, Settings
from model.errors import ModelstageError
from model.scoring import Scorer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("modelstage.runtime")
_OFFLOAD_BYTES = 64 * 1024  # bodies this large are scored off the event loop, which keeps accepting
_DRAIN_LIMIT = 64 * 1024 * 1024  # an oversized body is read and dropped up to here, so the client sees the 413


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


@dataclass(frozen=True)
class Route:
    name: str  # the metrics label
    method: str
    kind: str  # health | live | predict | vertex | metrics
    max_body: int = 0


def build_routes(settings: Settings) -> dict[str, Route]:
    routes = {
        "/ping": Route("ping", "GET", "health"),
        "/invocations": Route("invocations", "POST", "predict", SAGEMAKER_MAX_BODY),
        "/live": Route("azure_live", "GET", "live"),
        "/ready": Route("azure_ready", "GET", "health"),
        "/score": Route("azure_score", "POST", "predict", AZURE_MAX_BODY),
        "/metrics": Route("metrics", "GET", "metrics"),
    }
    # Vertex AI names its own routes; they win when they coincide with ours.
    routes[settings.vertex_health_route] = Route("vertex_health", "GET", "health")
    routes[settings.vertex_predict_route] = Route("vertex_predict", "POST", "vertex", VERTEX_MAX_BODY)
    return routes


class ServingApp:
    def __init__(self, settings: Settings, load: Callable[[], Scorer],
                 on_fatal: Callable[[BaseException], None] | None = None, *, load_before_serving: bool = False) -> None:
        """load_before_serving: finish loading before the server accepts connections. Worker processes
        share one socket, so a worker still loading would answer 503 to requests a loaded one could serve."""
        self.settings = settings
        self._load_before_serving = load_before_serving
        self.routes = build_routes(settings)
        self.metrics = Metrics()
        self.scorer: Scorer | None = None
        self._load = load
        self._on_fatal = on_fatal
        self._loader: threading.Thread | None = None

    # -- model loading -------------------------------------------------------------------------
    def start_loading(self) -> None:
        if self._loader is None:
            self._loader = threading.Thread(target=self._load_model, name="model-loader", daemon=True)
            self._loader.start()

    def _load_model(self) -> None:
        started = time.perf_counter()
        try:
            scorer = self._load()
            if self.settings.max_rows:
                scorer.encoder.max_rows = self.settings.max_rows
            prediction = scorer.bundle.manifest.get("baseline", {}).get("prediction", {})
            self.metrics.set_prediction_buckets(prediction.get("edges", [])[1:-1])
            scorer.score([scorer.bundle.sample_request["input"]])  # warm up, and prove the model answers
        except BaseException as exc:
            message = str(exc) if isinstance(exc, ModelstageError) else f"{type(exc).__name__}: {exc}"
            log.error("model failed to load: %s", message)
            if self._on_fatal is not None:
                self._on_fatal(exc)
            return
        self.scorer = scorer
        self.metrics.model_loaded = 1
        log.info("model %s version %s ready in %.0f ms", scorer.bundle.name, scorer.bundle.version,
                 (time.perf_counter() - started) * 1000)

    # -- ASGI ------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start_loading()
                if self._load_before_serving and self._loader is not None:
                    await asyncio.to_thread(self._loader.join)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        route = self.routes.get(scope["path"])
        label = route.name if route else "unmatched"
        self.metrics.in_flight += 1
        try:
            try:
                reply, headers = await self._dispatch(route, scope, receive)
            except _Disconnected:
                return
            except Exception:  # never show a traceback to the caller
                log.exception("unhandled error on %s", scope["path"])
                reply = contracts.error_reply(500, {"code": "internal_error", "message": "internal error"})
                headers = []
            await send({
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(b"content-type", reply.content_type.encode()),
                            (b"content-length", str(len(reply.body)).encode()), *headers],
            })
            await send({"type": "http.response.body", "body": reply.body})
        finally:
            self.metrics.in_flight -= 1
        self.metrics.observe_request(label, reply.status, time.perf_counter() - started)
        if reply.predictions:
            self.metrics.observe_predictions(reply.predictions)

    async def _dispatch(self, route: Route | None, scope: Scope,
                        receive: Receive) -> tuple[contracts.Reply, list[tuple[bytes, bytes]]]:
        if route is None:
            return contracts.error_reply(404, {"code": "not_found", "message": f"no route {scope['path'][:200]}",
                                               "expected": ", ".join(sorted(self.routes))}), []
        method = scope["method"]
        if method != route.method and not (route.method == "GET" and method == "HEAD"):
            return contracts.error_reply(405, {"code": "method_not_allowed",
                                               "message": f"{method} is not allowed on {scope['path']}",
                                               "expected": route.method}), [(b"allow", route.method.encode())]
        if route.kind == "live":
            return contracts.Reply(200, encode_json({"status": "alive"})), []
        if route.kind == "health":
            ready = self.scorer is not None
            return contracts.Reply(200 if ready else 503, encode_json({"status": "ready" if ready else "loading"})), []
        if route.kind == "metrics":
            return contracts.Reply(200, self.metrics.render(), "text/plain; version=0.0.4; charset=utf-8"), []
        content_type = accept = None
        length = -1
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
            elif name == b"content-length" and value.isdigit():
                length = int(value)
        if length > _DRAIN_LIMIT:  # not worth reading at all
            return _too_large(route.max_body), [(b"connection", b"close")]
        try:
            body = await _read_body(receive, route.max_body)
        except _TooLarge:
            return _too_large(route.max_body), [(b"connection", b"close")]
        scorer = self.scorer
        if scorer is None:
            return contracts.error_reply(503, {"code": "loading", "message": "the model is still loading",
                                               "expected": "retry once health answers 200"}), [(b"retry-after", b"1")]
        if route.kind == "vertex":
            call = lambda: contracts.vertex_predict(scorer, body, content_type)  # noqa: E731
        else:
            call = lambda: contracts.invocations(scorer, body, content_type, accept,  # noqa: E731
                                                 self.settings.default_accept)
        reply = await asyncio.to_thread(call) if len(body) > _OFFLOAD_BYTES else call()
        return reply, []


def _too_large(limit: int) -> contracts.Reply:
    return contracts.error_reply(413, {
        "code": "payload_too_large", "message": f"the body is larger than {limit} bytes",
        "expected": f"at most {limit} bytes per request (use batch scoring for more)"})


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The body, or _TooLarge once it passes `limit` (after draining what the client still sends)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif chunks:
            chunks.clear()
        if not message.get("more_body", False) or size > _DRAIN_LIMIT:
            if size > limit:
                raise _TooLarge
            return b"".join(chunks)

