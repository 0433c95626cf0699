"""Raw-socket HTTP/1.1 clients that behave badly on purpose, shared by the hostile-client and shutdown
tests and by `benchmarks/hostile.py`.

Every read has a deadline and tells apart the ways a response can fail to arrive: a complete
response, a reset, a clean close (EOF) with no byte of the response, a close in the middle of one,
and a timeout (the server held the connection). Nothing here retries.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.servers import proc_status_bytes, process_tree
from container.local import ServerProcess, free_port

HOST = "127.0.0.1"
ONE_ROW = b'{"input": [1200, 3, 2]}'

RESPONSE, RESET, CLOSED, PARTIAL, TIMEOUT = "response", "reset", "closed", "partial", "timeout"
_RESET_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}


# -- requests ------------------------------------------------------------------------------------------
def http_request(method: str, path: str, body: bytes = b"", headers: Sequence[tuple[str, str]] = (),
                 content_type: str = "application/json", host: str = "x", length: int | None = None) -> bytes:
    """The bytes of one request. `length` overrides Content-Length (e.g. to announce more than is sent)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if body or length is not None or method in ("POST", "PUT"):
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body) if length is None else length}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def ping_request() -> bytes:
    return http_request("GET", "/ping")


def invocations_request(body: bytes = ONE_ROW) -> bytes:
    return http_request("POST", "/invocations", body)


def rows_body(rows: int, row: Sequence[float] = (1200, 3, 2)) -> bytes:
    """{"instances": [row] * rows}, compact: 10,000 one-feature rows of [120] are 60 KB, under the old
    64 KiB threshold that decided inline scoring by body bytes."""
    return json.dumps({"instances": [list(row)] * rows}, separators=(",", ":")).encode()


# -- responses -----------------------------------------------------------------------------------------
@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        """The `error.code` of a JSON error body, else None."""
        try:
            doc = self.json()
        except ValueError:
            return None
        error = doc.get("error") if isinstance(doc, dict) else None
        return error.get("code") if isinstance(error, dict) else None

    @property
    def is_json(self) -> bool:
        return self.headers.get("content-type", "").split(";")[0].strip() == "application/json"

    @property
    def closes(self) -> bool:
        return "close" in self.headers.get("connection", "").lower()


@dataclass
class Result:
    outcome: str  # RESPONSE | RESET | CLOSED | PARTIAL | TIMEOUT
    response: Response | None = None
    raw: bytes = b""  # bytes received (all of them when there was no complete response)
    seconds: float = 0.0

    @property
    def status(self) -> int | None:
        return self.response.status if self.response else None

    def __str__(self) -> str:
        if self.response is not None:
            r = self.response
            return f"{r.status} {r.reason} {r.body[:200]!r} after {self.seconds:.2f} s"
        return f"{self.outcome} after {self.seconds:.2f} s (received {self.raw[:200]!r})"


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not a status line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers


def _dechunk(data: bytes) -> bytes | None:
    """The body of a complete chunked message, or None while it is incomplete."""
    out, pos = b"", 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return None
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return out if data.find(b"\r\n\r\n", end) >= 0 else None
        if len(data) < end + 2 + size + 2:
            return None
        out += data[end + 2:end + 2 + size]
        pos = end + 2 + size + 2


def _complete(data: bytes, eof: bool, head_request: bool) -> Response | None:
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    status, reason, headers = _parse_head(data[:end])
    rest = data[end + 4:]
    if head_request or status in (204, 304) or 100 <= status < 200:
        return Response(status, reason, headers, b"")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(rest)
        return None if body is None else Response(status, reason, headers, body)
    if "content-length" in headers:
        length = int(headers["content-length"])
        return Response(status, reason, headers, rest[:length]) if len(rest) >= length else None
    return Response(status, reason, headers, rest) if eof else None  # delimited by the close


def read_response(sock: socket.socket, timeout: float, head_request: bool = False,
                  started: float | None = None) -> Result:
    """Read one response with a deadline of `timeout` seconds from now. Never raises for socket errors."""
    started = time.perf_counter() if started is None else started
    deadline = time.perf_counter() + timeout
    data = b""
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return Result(TIMEOUT, None, data, time.perf_counter() - started)
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return Result(TIMEOUT, None, data, time.perf_counter() - started)
        except OSError as exc:
            if exc.errno in _RESET_ERRNOS:
                done = _complete(data, True, head_request) if data else None
                if done is not None:
                    return Result(RESPONSE, done, data, time.perf_counter() - started)
                return Result(RESET, None, data, time.perf_counter() - started)
            raise
        eof = not chunk
        data += chunk
        try:
            done = _complete(data, eof, head_request)
        except ValueError:
            done = None
            if eof:
                return Result(PARTIAL, None, data, time.perf_counter() - started)
        if done is not None:
            return Result(RESPONSE, done, data, time.perf_counter() - started)
        if eof:
            return Result(CLOSED if not data else PARTIAL, None, data, time.perf_counter() - started)


def send(sock: socket.socket, data: bytes, timeout: float = 10.0) -> str | None:
    """sendall with a deadline; None when sent, else RESET (the peer reset or closed) or TIMEOUT."""
    sock.settimeout(timeout)
    try:
        sock.sendall(data)
    except TimeoutError:
        return TIMEOUT
    except OSError as exc:
        if exc.errno in _RESET_ERRNOS:
            return RESET
        raise
    return None


def push_all(socks: Sequence[socket.socket], data: bytes, timeout: float) -> list[str | None]:
    """Send `data` on every socket at once (non-blocking, round robin) within one overall deadline, so a
    server that stops reading cannot stall the sender socket by socket. Per socket: None when all was
    sent, RESET when the server closed or reset it, TIMEOUT when it stopped reading."""
    sent = [0] * len(socks)
    state: list[str | None] = [TIMEOUT] * len(socks)
    deadline = time.perf_counter() + timeout
    view = memoryview(data)
    pending = set(range(len(socks)))
    for s in socks:
        s.setblocking(False)
    try:
        while pending and (left := deadline - time.perf_counter()) > 0:
            _, writable, _ = select.select([], [socks[i] for i in pending], [], min(left, 0.5))
            for sock in writable:
                i = socks.index(sock)
                try:
                    sent[i] += sock.send(view[sent[i]:sent[i] + (1 << 20)])
                except BlockingIOError:
                    continue
                except OSError as exc:
                    if exc.errno not in _RESET_ERRNOS:
                        raise
                    state[i] = RESET
                    pending.discard(i)
                    continue
                if sent[i] >= len(data):
                    state[i] = None
                    pending.discard(i)
    finally:
        for s in socks:
            s.setblocking(True)
    return state


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def exchange(port: int, data: bytes, timeout: float = 10.0, head_request: bool = False) -> Result:
    """Connect, send `data`, read one response, close. A refused or failed connect is a RESET."""
    started = time.perf_counter()
    try:
        sock = connect(port, timeout)
    except (TimeoutError, OSError):
        return Result(RESET, None, b"", time.perf_counter() - started)
    with sock:
        failed = send(sock, data, timeout)
        result = read_response(sock, max(0.0, timeout - (time.perf_counter() - started)), head_request, started)
        if failed and result.outcome != RESPONSE:
            return Result(failed, None, result.raw, result.seconds)
        return result


def peer_closed(sock: socket.socket) -> bool:
    """True when the server has closed (EOF or reset is pending); reads nothing that is not an EOF."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def wait_closed(sock: socket.socket, timeout: float) -> Result:
    """Wait (sending nothing) until the server answers or closes; TIMEOUT when it did neither."""
    return read_response(sock, timeout)


def trickle(sock: socket.socket, data: bytes, interval: float, timeout: float) -> Result:
    """Send `data` one byte every `interval` s until the server answers or closes, or `timeout` passes."""
    started = time.perf_counter()
    received = b""
    for i in range(len(data)):
        if time.perf_counter() - started > timeout:
            break
        failed = send(sock, data[i:i + 1], 2.0)
        if failed == RESET:
            return Result(RESET, None, received, time.perf_counter() - started)
        readable, _, _ = select.select([sock], [], [], interval)
        if readable:
            return read_response(sock, max(0.5, timeout - (time.perf_counter() - started)), started=started)
    return Result(TIMEOUT, None, received, time.perf_counter() - started)


@contextlib.contextmanager
def open_sockets(port: int, n: int, first_bytes: bytes = b"", timeout: float = 5.0) -> Iterator[list[socket.socket]]:
    """`n` connections (each sends `first_bytes`, e.g. half a request line), closed on exit.
    A connection the server refuses or resets is left out; the list may be shorter than `n`."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            try:
                sock = connect(port, timeout)
            except (TimeoutError, OSError):
                continue
            socks.append(sock)
            if first_bytes:
                send(sock, first_bytes, timeout)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def count_closed(socks: Sequence[socket.socket]) -> list[int]:
    """Indices of the sockets the server has closed."""
    return [i for i, s in enumerate(socks) if peer_closed(s)]


# -- the server process --------------------------------------------------------------------------------
class HostileServer(ServerProcess):
    """ServerProcess (same command and environment), optionally with RLIMIT_NOFILE lowered in the child
    before exec (soft and hard), and a stop() that also kills whatever is left of its process group
    (a worker that outlived its parent)."""

    def __init__(self, bundle: Path, port: int, nofile: int | None = None, workers: int = 1,
                 env: dict[str, str] | None = None, log_file: Path | None = None) -> None:
        self.url = f"http://{HOST}:{port}"
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("MODEL_DIR", "AIP_HTTP_PORT", "SAGEMAKER_BIND_TO_PORT")}
        full_env.update({"MODELSTAGE_HOST": HOST, "PORT": str(port), "MODELSTAGE_WORKERS": str(workers),
                         "MODEL_DIR": str(bundle)})
        full_env.update(env or {})
        self.log_file = log_file

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        out = log_file.open("ab") if log_file else None
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "container.runtime", "serve"], env=full_env,
                                         stdout=out or subprocess.DEVNULL, stderr=out or subprocess.DEVNULL,
                                         start_new_session=True, preexec_fn=limit if nofile is not None else None)
        finally:
            if out is not None:
                out.close()

    def stop(self, timeout: float = 30.0) -> int:
        code = super().stop(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group id is the leader's pid (start_new_session)
        return code

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:] if self.log_file else ""
        except OSError:
            return ""


def port_of(server: ServerProcess) -> int:
    return int(server.url.rsplit(":", 1)[1])


def start_server(bundle: Path, log_dir: Path, env: dict[str, str] | None = None, workers: int = 1,
                 nofile: int | None = None, name: str = "server") -> HostileServer:
    """A healthy server on a free port (stopped again if it does not become healthy)."""
    proc = HostileServer(bundle, free_port(), nofile, workers=workers, env=env, log_file=log_dir / f"{name}.log")
    try:
        proc.wait_healthy(30)
    except BaseException as exc:
        proc.stop()
        raise RuntimeError(f"the server did not become healthy: {exc}\n{proc.log_tail()}") from exc
    return proc


def rss_bytes(pid: int) -> int:
    """VmRSS of `pid` and all its descendants (the workers), in bytes."""
    return sum(proc_status_bytes(p, "VmRSS") for p in process_tree(pid))


def settled_rss(pid: int, timeout: float = 15.0, interval: float = 0.5, slack: int = 2 << 20) -> int:
    """rss_bytes once it stops growing (two readings `interval` apart within `slack`), or after
    `timeout`: bytes still in the kernel's socket buffers reach the server's heap only as it reads them."""
    deadline = time.perf_counter() + timeout
    last = rss_bytes(pid)
    while time.perf_counter() < deadline:
        time.sleep(interval)
        now = rss_bytes(pid)
        if abs(now - last) <= slack:
            return now
        last = now
    return last


def raise_fd_limit(need: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards its hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- latency and load ----------------------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


@dataclass
class PingPoller:
    """A thread that asks /ping on a fresh connection every `interval` s and records each latency
    (a ping that fails records its outcome instead)."""

    port: int
    interval: float = 0.02
    timeout: float = 15.0
    latencies: list[float] = field(default_factory=list)
    failures: list[Result] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            result = exchange(self.port, ping_request(), self.timeout)
            if result.status == 200:
                self.latencies.append(result.seconds)
            else:
                self.failures.append(result)
            self._stop.wait(self.interval)

    def __enter__(self) -> PingPoller:
        self._thread = threading.Thread(target=self._run, name="ping-poller", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 5)

    def summary(self) -> str:
        lat = self.latencies
        return (f"{len(lat)} pings, p50 {percentile(lat, 50) * 1000:.1f} ms, p99 {percentile(lat, 99) * 1000:.1f} ms,"
                f" max {max(lat, default=float('nan')) * 1000:.1f} ms, {len(self.failures)} failed")


def hammer(port: int, request: bytes, connections: int, seconds: float, timeout: float = 60.0) -> dict[str, int]:
    """`connections` threads sending `request` on keep-alive connections for `seconds`; status counts
    (socket failures under their outcome name)."""
    counts: dict[str, int] = {}
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def run() -> None:
        sock: socket.socket | None = None
        try:
            while time.perf_counter() < stop_at:
                if sock is None:
                    sock = connect(port, 10)
                failed = send(sock, request, timeout)
                result = read_response(sock, timeout)
                key = str(result.status) if result.response else (failed or result.outcome)
                with lock:
                    counts[key] = counts.get(key, 0) + 1
                if result.response is None or result.response.closes:
                    sock.close()
                    sock = None
        except OSError as exc:
            with lock:
                counts[type(exc).__name__] = counts.get(type(exc).__name__, 0) + 1
        finally:
            if sock is not None:
                sock.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + timeout + 10)
    return counts


# -- SIGTERM under load --------------------------------------------------------------------------------
@dataclass
class DrainStats:
    """What happened to each request of a SIGTERM-under-load run."""

    before: int = 0  # requests sent before the signal, answered
    after: int = 0  # requests sent after the signal, answered
    after_with_close: int = 0  # ... of which carried Connection: close
    fin_before_send: int = 0  # connections the server closed while idle, seen before a request was sent
    lost: list[str] = field(default_factory=list)  # requests with no complete response that must have had one
    late_failures: list[str] = field(default_factory=list)  # no response, sent more than `grace` after the signal
    non_200: dict[int, int] = field(default_factory=dict)
    signal_at: float = 0.0
    exit_code: int | None = None
    exit_seconds: float = 0.0

    def summary(self) -> str:
        return (f"answered {self.before} sent before SIGTERM and {self.after} after "
                f"({self.after_with_close} with Connection: close); {self.fin_before_send} closed idle (clean FIN "
                f"before the next request; a client retries those); lost {len(self.lost)}; "
                f"late failures {len(self.late_failures)}; non-200 {self.non_200}; exit {self.exit_code} "
                f"{self.exit_seconds:.1f} s after SIGTERM")


def sigterm_under_load(server: ServerProcess, connections: int, load_seconds: float = 1.5, grace: float = 1.0,
                       request: bytes | None = None, wait_exit: float = 30.0) -> DrainStats:
    """`connections` threads send 1-row requests back to back on kept-alive connections; after
    `load_seconds` the server gets SIGTERM. A request is lost when it got no complete response and was
    sent before the signal, or within `grace` s after it on a connection opened before it (unless the
    server's FIN was already there before the request went out: that is a retryable idle close)."""
    port = port_of(server)
    request = request or invocations_request()
    stats = DrainStats()
    lock = threading.Lock()
    ready = threading.Barrier(connections + 1, timeout=30)

    def run(n: int) -> None:
        sock: socket.socket | None = None
        try:
            sock = connect(port, 10)
            ready.wait()
            while True:
                if stats.signal_at and time.perf_counter() > stats.signal_at + grace + 5:
                    return
                if peer_closed(sock):
                    signalled = bool(stats.signal_at)
                    with lock:
                        if signalled:
                            stats.fin_before_send += 1
                        else:
                            stats.lost.append(f"conn {n}: closed by the server before SIGTERM")
                    if signalled:
                        return
                    sock.close()
                    sock = connect(port, 10)
                    continue
                sent_at = time.perf_counter()
                after = bool(stats.signal_at)
                failed = send(sock, request, 10)
                result = read_response(sock, wait_exit, started=sent_at)
                with lock:
                    if result.response is not None:
                        if result.response.status != 200:
                            stats.non_200[result.response.status] = stats.non_200.get(result.response.status, 0) + 1
                        if after:
                            stats.after += 1
                            stats.after_with_close += result.response.closes
                        else:
                            stats.before += 1
                    else:
                        what = (f"conn {n}: {failed or result.outcome} for a request sent "
                                f"{sent_at - stats.signal_at:+.3f} s from SIGTERM" if after
                                else f"conn {n}: {failed or result.outcome} for a request sent before SIGTERM")
                        if not after or sent_at - stats.signal_at <= grace:
                            stats.lost.append(what)
                        else:
                            stats.late_failures.append(what)
                if result.response is None or result.response.closes:
                    return
        except (OSError, threading.BrokenBarrierError) as exc:
            with lock:
                stats.lost.append(f"conn {n}: {type(exc).__name__}: {exc}")
        finally:
            if sock is not None:
                sock.close()

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(connections)]
    for t in threads:
        t.start()
    ready.wait()
    time.sleep(load_seconds)
    stats.signal_at = time.perf_counter()
    server.proc.send_signal(signal.SIGTERM)
    try:
        stats.exit_code = server.proc.wait(wait_exit)
    except subprocess.TimeoutExpired:
        stats.exit_code = None
    stats.exit_seconds = time.perf_counter() - stats.signal_at
    for t in threads:
        t.join(wait_exit + 15)
    return stats
