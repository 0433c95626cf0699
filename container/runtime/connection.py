"""One client connection: HTTP/1.1 parsing (httptools), deadlines, ordered responses, lingering close.

Each connection is in one phase, and each phase has a deadline the listener's sweeper enforces:
IDLE (keep-alive, nothing received) closes quietly, HEAD (headers arriving) and BODY (body arriving)
answer 408, a client that stops reading its response is cut off, LINGER (after an error reply that
left a body unread) waits briefly for the client to finish sending so that closing does not reset
the connection before the client has read the reply.

Requests are answered in the order they arrived; reading pauses while one is being answered, so a
client that pipelines cannot queue more than one read buffer of requests.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from urllib.parse import unquote

import httptools

from container.runtime import contracts
from container.runtime.app import Exchange, ServingApp, Work, too_large
from container.runtime.capture import CLIENT_HEADER, valid_client_id
from container.runtime.responses import CONTINUE, encode_response

if TYPE_CHECKING:
    from container.runtime.listener import Listener

log = logging.getLogger("modelstage.runtime")
LINGER_S = 2.0  # after an early error reply: how long unread request bytes are drained before closing
DRAIN_IDLE_S = 1.0  # on SIGTERM: an idle keep-alive connection stays open this long for a last request


class Phase(enum.Enum):
    IDLE = "idle"
    HEAD = "head"
    BODY = "body"
    LINGER = "linger"
    CLOSED = "closed"


class _Halt(Exception):
    """Raised inside a parser callback: stop parsing this connection, an error reply is queued."""


@dataclass(eq=False, slots=True)
class _Request:
    ex: Exchange
    body: bytes
    keep_alive: bool
    http_1_0: bool
    head_only: bool
    last: bool = False  # close the connection after this response


class HttpConnection(asyncio.Protocol):
    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.app: ServingApp = listener.app
        self.limits = listener.app.limits
        self.loop = listener.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.phase = Phase.IDLE
        self.deadline = self.loop.time() + self.limits.keepalive_timeout
        self.idle_since = self.deadline
        self.queue: deque[_Request] = deque()  # complete requests waiting for their turn
        self.busy = False  # a response is being produced
        self.write_paused = False
        self.read_paused = False
        self.halted = False  # no more requests are read from this connection
        self._reset_message()

    def _reset_message(self) -> None:
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0
        self._raw_head = 0  # bytes received while the headers are incomplete (bounds httptools' buffer)
        self._began_in_chunk = False
        self._ex: Exchange | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._chunked = False

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if not self.listener.admit(self):
            self.transport.close()
            self.phase = Phase.CLOSED
            return
        if self.listener.draining:
            self.drain()

    def connection_lost(self, exc: Exception | None) -> None:
        self.phase = Phase.CLOSED
        self.listener.forget(self)
        if self._ex is not None:
            self.app.finish(self._ex, None)
        for request in self.queue:
            self.app.finish(request.ex, None)
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.halted:
            return  # LINGER: discard what the client still sends
        if self.phase is Phase.IDLE:
            self.phase = Phase.HEAD  # the parser reports the message begin below; the deadline starts now
            self.deadline = self.loop.time() + self.limits.header_timeout
        self._began_in_chunk = False
        try:
            self.parser.feed_data(data)
        except _Halt:
            return
        except httptools.HttpParserUpgrade:
            self._halt_after_queue()  # the request itself was complete; upgrades are not offered
            return
        except httptools.HttpParserCallbackError as exc:  # a _Halt raised in a callback arrives wrapped
            if isinstance(exc.__context__, _Halt):
                return
            log.exception("parser callback failed")
            self._reject(contracts.error("internal_error", "internal error"))
            return
        except httptools.HttpParserError as exc:
            self._reject(contracts.error("bad_request", f"malformed HTTP request: {exc}",
                                         "an HTTP/1.1 request (RFC 9112)"))
            return
        if self.phase is Phase.HEAD and self._ex is None and not self._began_in_chunk:
            self._raw_head += len(data)
            if self._raw_head > self.limits.max_header_bytes:
                self._reject(_headers_too_large(self.limits.max_header_bytes, "bytes"))

    def eof_received(self) -> bool | None:
        if self.phase is Phase.LINGER or (not self.busy and not self.queue):
            return None  # close now
        self.halted = True  # half-close: answer what was received, then close
        return True

    def pause_writing(self) -> None:
        self.write_paused = True
        self.deadline = self.loop.time() + self.limits.body_timeout

    def resume_writing(self) -> None:
        self.write_paused = False
        self._next()

    # -- httptools callbacks --------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._reset_message()
        self._began_in_chunk = True
        if self.phase is not Phase.HEAD:
            self.phase = Phase.HEAD
            self.deadline = self.loop.time() + self.limits.header_timeout

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if self._head_size > self.limits.max_header_bytes:
            self._reject(_headers_too_large(self.limits.max_header_bytes, "bytes"))
            raise _Halt

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        if self._head_size > self.limits.max_header_bytes:
            self._reject(_headers_too_large(self.limits.max_header_bytes, "bytes"))
            raise _Halt
        if len(self._headers) >= self.limits.max_headers:
            self._reject(_headers_too_large(self.limits.max_headers, "header fields"))
            raise _Halt
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if self.parser.get_http_version() == "0.9":  # llhttp's leniency; no client of ours speaks it
            self._reject(contracts.error("bad_request", "malformed HTTP request: no HTTP version",
                                         "an HTTP/1.1 request (RFC 9112)"))
            raise _Halt
        content_type = accept = expect = None
        length: int | None = 0
        for name, value in self._headers:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
            elif name == b"content-length":
                length = int(value) if value.isdigit() else 0  # llhttp already refused a malformed one
            elif name == b"transfer-encoding":
                self._chunked = True
            elif name == b"expect":
                expect = value.lower()
        if self._chunked:
            length = None
        method = self.parser.get_method().decode("latin-1")
        ex = self._ex = self.app.open(method, _path(self._url), content_type, accept, length)
        if self.app.capture is not None and ex.scoring:
            ex.client_id = _client_inference_id(self._headers)
        if ex.reply is not None and (length is None or length > 0):
            self._reject_exchange(ex)  # answer without reading a body nobody will use
            raise _Halt
        self.phase = Phase.BODY
        self.deadline = self.loop.time() + self.limits.body_timeout
        if self.listener.draining:
            self.deadline = min(self.deadline, self.listener.upload_deadline)
        if expect == b"100-continue" and not self.busy and not self.queue and self.transport is not None:
            self.transport.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        ex = self._ex
        assert ex is not None
        self._body_size += len(body)
        if self._body_size > ex.max_body:
            ex.reply = too_large(ex.max_body)
            self._reject_exchange(ex)
            raise _Halt
        if self._chunked and not self.app.reserve(ex, self._body_size):
            ex.reply = contracts.error("overloaded", "the server is at capacity: request bodies fill this "
                                       "worker's memory budget (MODELSTAGE_MAX_BUFFERED_BYTES)", "retry after a second")
            ex.headers = ((b"retry-after", b"1"),)
            self._reject_exchange(ex)
            raise _Halt
        self._body.append(body)

    def on_message_complete(self) -> None:
        ex = self._ex
        assert ex is not None
        parser = self.parser
        request = _Request(ex, b"".join(self._body), parser.should_keep_alive(),
                           parser.get_http_version() == "1.0", ex.method == "HEAD")
        self._reset_message()
        self.phase = Phase.IDLE
        self.idle_since = self.loop.time()
        self.deadline = self.idle_since + self.limits.keepalive_timeout
        self.queue.append(request)
        self._next()

    # -- answering --------------------------------------------------------------------------------
    def _next(self) -> None:
        if self.busy or self.write_paused or not self.queue or self.phase is Phase.CLOSED:
            if self.queue and not self.read_paused and self.transport is not None and not self.halted:
                self.read_paused = True  # one request at a time: let TCP push back on the client
                self.transport.pause_reading()
            return
        request = self.queue.popleft()
        self.busy = True
        try:
            result = self.app.handle(request.ex, request.body)
        except Exception:  # a bug must cost one 500, not the connection or the worker
            log.exception("unhandled error on %s", request.ex.label)
            result = contracts.error("internal_error", "internal error")
        if isinstance(result, contracts.Reply):
            self._send(request, result)
            return
        future = self.loop.run_in_executor(self.app.executor, _guarded(result))
        future.add_done_callback(lambda f: self._send(request, _result(f)))

    def _send(self, request: _Request, reply: contracts.Reply) -> None:
        ex = request.ex
        self.busy = False
        if self.phase is Phase.CLOSED or self.transport is None:
            self.app.finish(ex, None)
            return
        last = request.last or not request.keep_alive or self.listener.draining
        if self.halted and not self.queue:
            last = True
        self.transport.write(encode_response(reply.status, reply.content_type, reply.body, ex.headers,
                                             close=last, keep_alive_1_0=request.http_1_0 and not last,
                                             head_only=request.head_only))
        self.app.finish(ex, reply.status)
        self.app.observe(reply, ex)
        if last:
            self._close_after_reply()
            return
        if self.queue:
            self._next()
            return
        if self.read_paused and self.transport is not None:
            self.read_paused = False
            self.transport.resume_reading()
        now = self.loop.time()
        if self.phase is Phase.IDLE:
            self.idle_since = now
            self.deadline = now + (DRAIN_IDLE_S if self.listener.draining else self.limits.keepalive_timeout)
        elif self.phase is Phase.HEAD:  # a pipelined request was waiting on the paused socket
            self.deadline = now + self.limits.header_timeout
        elif self.phase is Phase.BODY:
            self.deadline = now + self.limits.body_timeout

    def _close_after_reply(self) -> None:
        transport = self.transport
        assert transport is not None
        if self.halted and transport.can_write_eof():
            # Unread request bytes would turn close() into a reset that can destroy the reply in
            # flight: send FIN, then drain until the client closes or LINGER_S passes.
            transport.write_eof()
            self.phase = Phase.LINGER
            self.deadline = self.loop.time() + LINGER_S
            if self.read_paused:
                self.read_paused = False
                transport.resume_reading()
            return
        self.phase = Phase.CLOSED
        transport.close()

    # -- errors, deadlines, shutdown --------------------------------------------------------------
    def _reject(self, reply: contracts.Reply) -> None:
        """Queue `reply` for the request being read (or a request-less error) and stop reading."""
        ex = self._ex
        if ex is None:
            ex = self.app.open_error()
        ex.reply = reply
        self._reject_exchange(ex)

    def _reject_exchange(self, ex: Exchange) -> None:
        assert ex.reply is not None
        self._ex = None
        self.halted = True
        self.phase = Phase.IDLE
        self.queue.append(_Request(ex, b"", keep_alive=False, http_1_0=False, head_only=False, last=True))
        self._next()

    def _halt_after_queue(self) -> None:
        self.halted = True
        if self.queue:
            self.queue[-1].last = True
        elif not self.busy:
            self._close_after_reply()

    def check(self, now: float) -> None:
        """Called by the listener's sweeper: enforce the current phase's deadline."""
        if now < self.deadline or self.phase is Phase.CLOSED or self.transport is None:
            return
        if self.write_paused:
            self.transport.abort()  # the client stopped reading its responses
        elif self.busy or self.queue:
            return  # scoring is bounded by the model; its response resets the deadline
        elif self.phase is Phase.IDLE or self.phase is Phase.LINGER:
            lingering = self.phase is Phase.LINGER
            self.phase = Phase.CLOSED
            if lingering:
                self.transport.abort()
            else:
                self.transport.close()
        elif self.phase is Phase.BODY and self.listener.draining:
            self._reject(contracts.error("shutting_down", "the server is shutting down and the body did not "
                                         "arrive in time (MODELSTAGE_UPLOAD_GRACE)", "retry on another instance"))
        else:
            what = "headers" if self.phase is Phase.HEAD else "body"
            timeout = self.limits.header_timeout if self.phase is Phase.HEAD else self.limits.body_timeout
            var = "MODELSTAGE_HEADER_TIMEOUT" if self.phase is Phase.HEAD else "MODELSTAGE_BODY_TIMEOUT"
            self._reject(contracts.error("request_timeout", f"the request {what} did not arrive within "
                                         f"{timeout:g} s ({var})", "send the whole request without pausing"))

    def drain(self) -> None:
        """SIGTERM: finish what was received; idle connections get DRAIN_IDLE_S for a last request."""
        now = self.loop.time()
        if self.phase is Phase.IDLE and not self.busy and not self.queue:
            self.deadline = min(self.deadline, now + DRAIN_IDLE_S)
        elif self.phase is Phase.BODY:
            self.deadline = min(self.deadline, self.listener.upload_deadline)

    def idle(self) -> bool:
        return self.phase is Phase.IDLE and not self.busy and not self.queue and not self.halted

    def abort(self) -> None:
        if self.transport is not None and self.phase is not Phase.CLOSED:
            self.phase = Phase.CLOSED
            self.transport.abort()


def _path(url: bytes) -> str:
    if url[:1] != b"/":  # absolute-form (proxies) or garbage: let the URL parser find the path
        try:
            url = httptools.parse_url(url).path or b"/"
        except httptools.HttpParserInvalidURLError:
            return url.decode("latin-1")
    path = url.split(b"?", 1)[0].decode("latin-1")
    return unquote(path, errors="replace") if "%" in path else path


def _client_inference_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """InvokeEndpoint's X-Amzn-SageMaker-Inference-Id, when valid (capture.valid_client_id); else None."""
    for name, value in headers:
        if name == CLIENT_HEADER:
            value = value.strip()
            return value.decode("ascii") if valid_client_id(value) else None
    return None


def _headers_too_large(limit: int, unit: str) -> contracts.Reply:
    var = "MODELSTAGE_MAX_HEADER_BYTES" if unit == "bytes" else "MODELSTAGE_MAX_HEADERS"
    return contracts.error("headers_too_large", f"the request head is larger than {limit} {unit} ({var})",
                           f"at most {limit} {unit}")


def _guarded(work: Work) -> Work:
    def run() -> contracts.Reply:
        try:
            return work()
        except Exception:
            log.exception("unhandled error while scoring")
            return contracts.error("internal_error", "internal error")

    return run


def _result(future: Future[contracts.Reply] | asyncio.Future[contracts.Reply]) -> contracts.Reply:
    if future.cancelled():
        return contracts.error("shutting_down", "the server shut down before the request was scored",
                               "retry on another instance")
    return future.result()

