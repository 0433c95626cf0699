"""The request handler: routes of all three clouds over one scorer, admission limits, metrics.

No HTTP framework: the connection (container/runtime/connection.py) calls `open` when a request's
headers are in, `handle` when its body is, and `finish` when the response is written. `handle`
answers cheap work inline and returns a callable for the rest, which the connection runs on the
scoring threads; the event loop keeps answering health checks meanwhile.

The model loads in a background thread after start-up, so the socket accepts at once (SageMaker
wants that within 250 ms) and health answers 503 until the model is ready.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from container.runtime import contracts
from container.runtime.capture import HEADER as CAPTURE_HEADER
from container.runtime.capture import Capture
from container.runtime.codec import CSV, encode_json, media_type
from container.runtime.drift_window import DriftWindow
from container.runtime.metrics import Metrics
from container.runtime.protocols import Route, build_routes
from container.runtime.responses import Header
from container.runtime.settings import Settings
from model.errors import BundleError, ModelstageError
from model.scoring import Scorer

log = logging.getLogger("modelstage.runtime")
MAX_DRIFT_CELLS = 10_000_000  # values held by the drift window (80 MB): 1,000,000 rows of 9 columns
# Decoding costs by the byte, scoring by the cell: bodies up to here are decoded on the loop
# (tens of microseconds) so the cell count can decide where the scoring runs.
_DECODE_INLINE_BYTES = {"application/json": 64 * 1024, CSV: 8 * 1024}
_RETRY = (b"retry-after", b"1")
Work = Callable[[], contracts.Reply]


@dataclass(eq=False, slots=True)
class Exchange:
    """One request, from its headers to its response."""

    route: Route | None
    label: str  # the metrics label
    method: str
    content_type: str | None
    accept: str | None
    started: float
    max_body: int = 0
    reply: contracts.Reply | None = None  # decided from the head alone: the body is not read
    headers: tuple[Header, ...] = ()  # extra response headers
    reserved: int = 0  # body bytes held against the worker's budget
    scoring: bool = False  # counted against the concurrency limit
    done: bool = False
    client_id: str | None = None  # a valid X-Amzn-SageMaker-Inference-Id (read only while capture is on)
    capture: tuple[str | None, str | None, bytes] | None = None  # sampled: (client id, event id, body)


class ServingApp:
    def __init__(self, settings: Settings, load: Callable[[], Scorer],
                 on_fatal: Callable[[BaseException], None] | None = None, *, load_before_serving: bool = False) -> None:
        """load_before_serving: finish loading before the server accepts connections. Worker processes
        share one socket, so a worker still loading would answer 503 to requests a loaded one could serve."""
        self.settings = settings
        self.limits = settings.limits
        self.load_before_serving = load_before_serving
        self.routes = build_routes(settings)
        self.metrics = Metrics()
        # None when MODELSTAGE_CAPTURE_DIR is unset: the request path then does no capture work at all.
        self.capture: Capture | None = None
        if settings.capture.directory is not None:
            self.capture = self.metrics.capture = Capture(settings.capture)
            self.capture.start()
        self.scorer: Scorer | None = None
        self.executor = ThreadPoolExecutor(self.limits.scoring_threads, thread_name_prefix="scoring")
        self.scoring = 0  # requests admitted to a scoring route and not yet answered
        self.buffered = 0  # body bytes reserved by those requests
        self._load = load
        self.on_fatal = on_fatal
        self._loader: threading.Thread | None = None

    # -- model loading -------------------------------------------------------------------------
    def start_loading(self) -> threading.Thread:
        if self._loader is None:
            self._loader = threading.Thread(target=self._load_model, name="model-loader", daemon=True)
            self._loader.start()
        return self._loader

    def _load_model(self) -> None:
        started = time.perf_counter()
        try:
            scorer = self._load()
            if self.settings.max_rows:
                scorer.encoder.max_rows = self.settings.max_rows
            prediction = scorer.bundle.manifest.get("baseline", {}).get("prediction", {})
            self.metrics.set_prediction_buckets(prediction.get("edges", [])[1:-1])
            window = self._drift_window(scorer)
            scorer.score([scorer.bundle.sample_request["input"]])  # warm up, and prove the model answers
        except BaseException as exc:
            message = str(exc) if isinstance(exc, ModelstageError) else f"{type(exc).__name__}: {exc}"
            log.error("model failed to load: %s", message)
            if self.on_fatal is not None:
                self.on_fatal(exc)
            return
        self.metrics.window = window  # before the scorer: every scored row lands in the window
        self.scorer = scorer
        self.metrics.model_loaded = 1
        log.info("model %s version %s ready in %.0f ms", scorer.bundle.name, scorer.bundle.version,
                 (time.perf_counter() - started) * 1000)

    def _drift_window(self, scorer: Scorer) -> DriftWindow | None:
        size = self.settings.drift_window
        if not size:
            return None
        width = len(scorer.bundle.schema.features) + 1
        if size * width > MAX_DRIFT_CELLS:  # a wide schema: keep the ring's memory and the scrape bounded
            size = max(1, MAX_DRIFT_CELLS // width)
            log.warning("drift window lowered to %d rows: %d features at most %d values in all", size, width - 1,
                        MAX_DRIFT_CELLS)
        try:
            return DriftWindow(size, scorer.bundle.baselines, scorer.bundle.prediction_baseline)
        except BundleError as exc:  # the model still serves; only its drift gauges are missing
            log.warning("no drift gauges on /metrics: %s", exc)
            return None

    # -- requests --------------------------------------------------------------------------------
    def open(self, method: str, path: str, content_type: str | None, accept: str | None,
             content_length: int | None) -> Exchange:
        """Admit a request from its head. content_length None: the body is chunked."""
        route = self.routes.get(path)
        ex = Exchange(route, route.name if route else "unmatched", method, content_type, accept,
                      time.perf_counter(), route.max_body if route else 0)
        self.metrics.in_flight += 1
        if route is None:
            ex.reply = contracts.error("not_found", f"no route {path[:200]}", ", ".join(sorted(self.routes)))
        elif method != route.method and not (route.method == "GET" and method == "HEAD"):
            ex.reply = contracts.error("method_not_allowed", f"{method[:20]} is not allowed on {path[:200]}",
                                       route.method)
            ex.headers = ((b"allow", route.method.encode()),)
        elif route.max_body:
            if content_length is not None and content_length > route.max_body:
                ex.reply = too_large(route.max_body)
            elif self.scoring >= self.limits.max_concurrency:
                ex.reply = overloaded(f"{self.scoring} requests are being scored (MODELSTAGE_MAX_CONCURRENCY)")
            elif not self.reserve(ex, content_length or 0):
                ex.reply = overloaded("request bodies already fill this worker's memory budget "
                                      "(MODELSTAGE_MAX_BUFFERED_BYTES)")
            else:
                ex.scoring = True
                self.scoring += 1
        if ex.reply is not None and ex.reply.status == 503:
            ex.headers = (_RETRY,)
        return ex

    def open_error(self) -> Exchange:
        """An exchange for a request too malformed to route (its reply is set by the caller)."""
        self.metrics.in_flight += 1
        return Exchange(None, "malformed", "", None, None, time.perf_counter())

    def reserve(self, ex: Exchange, size: int) -> bool:
        """Hold `size` body bytes in total for `ex`; False when the worker's budget would overflow."""
        extra = size - ex.reserved
        if extra <= 0:
            return True
        if self.buffered + extra > self.limits.max_buffered_bytes:
            return False
        self.buffered += extra
        ex.reserved = size
        return True

    def handle(self, ex: Exchange, body: bytes) -> contracts.Reply | Work:
        """The reply, or work to run off the event loop that returns it. Never raises."""
        if ex.reply is not None:
            return ex.reply
        route = ex.route
        assert route is not None  # no route means ex.reply was set by open()
        if route.kind == "live":
            return contracts.Reply(200, encode_json({"status": "alive"}))
        if route.kind == "health":
            ready = self.scorer is not None
            return contracts.Reply(200 if ready else 503, encode_json({"status": "ready" if ready else "loading"}))
        if route.kind == "metrics":
            return contracts.Reply(200, self.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
        scorer = self.scorer
        if scorer is None:
            ex.headers = (_RETRY,)
            return contracts.error("loading", "the model is still loading", "retry once health answers 200")
        if self.capture is not None:
            _tag(ex, body, self.capture)
        kind, content_type, accept, default = route.kind, ex.content_type, ex.accept, self.settings.default_accept
        if len(body) > _DECODE_INLINE_BYTES.get(media_type(content_type) or "application/json", 0):
            return lambda: contracts.handle(kind, scorer, body, content_type, accept, default)
        try:
            parsed = contracts.parse(kind, scorer.encoder.names, body, content_type, accept, default)
        except contracts.RequestError as exc:
            return contracts.error_reply(exc)
        if parsed.cells > self.limits.inline_cells:
            return lambda: _respond(scorer, parsed)
        return _respond(scorer, parsed)

    def finish(self, ex: Exchange, status: int | None) -> None:
        """The response is written (status) or the client went away first (None). Idempotent."""
        if ex.done:
            return
        ex.done = True
        self.metrics.in_flight -= 1
        self.buffered -= ex.reserved
        ex.reserved = 0
        if ex.scoring:
            self.scoring -= 1
        if status is not None:
            self.metrics.observe_request(ex.label, status, time.perf_counter() - ex.started)

    def observe(self, reply: contracts.Reply, ex: Exchange | None = None) -> None:
        """The reply was written (on the event loop, also for replies computed on the scoring threads)."""
        if reply.predictions:
            self.metrics.observe_predictions(reply.predictions)
            window = self.metrics.window
            if window is not None and reply.inputs is not None:
                window.append(reply.inputs, reply.predictions)
        if ex is not None and ex.capture is not None and reply.status == 200 and self.capture is not None:
            client_id, event_id, body = ex.capture
            self.capture.put_nowait(client_id, event_id, ex.content_type, body, reply.content_type, reply.body)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self.capture is not None:
            self.capture.close()  # flushes what is queued, bounded by capture.FLUSH_TIMEOUT_S


def _tag(ex: Exchange, body: bytes, capture: Capture) -> None:
    """Capture is on: give the request its inference id (returned whether or not it is sampled) and
    decide, per request, whether its reply is recorded."""
    client_id = ex.client_id
    event_id = None if client_id is not None else capture.new_id()
    ex.headers = ((CAPTURE_HEADER, (client_id or event_id or "").encode()),)
    if capture.sampled():
        ex.capture = (client_id, event_id, body)


def _respond(scorer: Scorer, parsed: contracts.Parsed) -> contracts.Reply:
    try:
        return contracts.respond(scorer, parsed)
    except contracts.RequestError as exc:
        return contracts.error_reply(exc)


def too_large(limit: int) -> contracts.Reply:
    return contracts.error("payload_too_large", f"the body is larger than {limit} bytes",
                           f"at most {limit} bytes per request (use batch scoring for more)")


def overloaded(why: str) -> contracts.Reply:
    return contracts.error("overloaded", f"the server is at capacity: {why}", "retry after a second")
