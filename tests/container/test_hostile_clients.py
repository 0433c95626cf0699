"""Clients that behave badly, against the real server process on 127.0.0.1 (issue 8, items 1 and 2).

Black-box: raw sockets (tests/hostile.py), limits set through the documented MODELSTAGE_* variables
with short timeouts so the suite stays fast. Resource figures are printed (`pytest -s` shows them);
the only timing asserts are generous bounds that prove a slot is not held for good.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from container.local import ServerProcess
from model.bundle import Bundle
from tests import hostile as h

# Short limits: a slow client is cut off after 1-2 s, so a bound of 10 s proves "not held forever".
SHORT = {"MODELSTAGE_HEADER_TIMEOUT": "1", "MODELSTAGE_BODY_TIMEOUT": "2", "MODELSTAGE_KEEPALIVE_TIMEOUT": "2"}
BOUND = 10.0


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-logs")


@pytest.fixture(scope="module")
def short(bundle: Bundle, logs: Path) -> Iterator[ServerProcess]:
    """One worker with short header, body and keep-alive timeouts."""
    proc = h.start_server(bundle.path, logs, SHORT, name="short")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def default(bundle: Bundle, logs: Path) -> Iterator[ServerProcess]:
    """One worker with every limit at its default."""
    proc = h.start_server(bundle.path, logs, name="default")
    yield proc
    proc.stop()


def assert_serves(server: ServerProcess, timeout: float = BOUND) -> None:
    """A well-behaved client still gets /ping and a 1-row /invocations, each on a fresh connection."""
    port = h.port_of(server)
    ping = h.exchange(port, h.ping_request(), timeout)
    assert ping.status == 200, f"/ping: {ping}"
    score = h.exchange(port, h.invocations_request(), timeout)
    assert score.response is not None and score.status == 200 and "price" in score.response.json(), \
        f"/invocations: {score}"


def assert_cut_off(result: h.Result, what: str) -> None:
    """A slow client got a 408 JSON `request_timeout`, or a close, within the bound: never a held slot."""
    print(f"{what}: {result}")
    assert result.outcome != h.TIMEOUT, f"{what}: the server still held the connection after {result.seconds:.1f} s"
    if result.response is not None:
        r = result.response
        assert r.status == 408 and r.is_json and r.error_code == "request_timeout", f"{what}: {result}"
    else:
        assert result.outcome in (h.CLOSED, h.RESET), f"{what}: {result}"


def assert_error_then_close(sock: socket.socket, result: h.Result, status: int, code: str) -> None:
    assert result.response is not None, f"expected {status} {code}, got {result}"
    r = result.response
    assert (r.status, r.error_code) == (status, code), f"expected {status} {code}, got {result}"
    assert r.is_json and isinstance(r.json()["error"].get("message"), str), f"not the JSON error shape: {result}"
    after = h.wait_closed(sock, 5.0)
    assert after.outcome in (h.CLOSED, h.RESET), f"the connection stayed open after the {status}: {after}"


# -- 1. slow headers -----------------------------------------------------------------------------------
@pytest.mark.parametrize("partial", [b"POST /invocations HTTP/1.1\r\nHost: x\r\n", b"GET /pi"],
                         ids=["headers-never-end", "half-request-line"])
def test_slow_headers_get_408_or_close(short: ServerProcess, partial: bytes) -> None:
    with h.connect(h.port_of(short)) as sock:
        assert h.send(sock, partial) is None
        assert_cut_off(h.wait_closed(sock, BOUND), f"headers stopped after {partial!r}")
    assert_serves(short)


def test_slowloris_trickling_header_bytes_is_cut_off(short: ServerProcess) -> None:
    """One byte every 0.2 s keeps the connection busy but never finishes the headers."""
    request = b"POST /invocations HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 500
    with h.connect(h.port_of(short)) as sock:
        assert_cut_off(h.trickle(sock, request, 0.2, BOUND), "slowloris, 1 byte / 0.2 s")
    assert_serves(short)


def test_stalled_body_gets_408_or_close(short: ServerProcess) -> None:
    head = h.http_request("POST", "/invocations", length=1000)
    with h.connect(h.port_of(short)) as sock:
        assert h.send(sock, head + b'{"instances": [') is None
        assert_cut_off(h.wait_closed(sock, BOUND), "body stalled after 15 of 1000 bytes")
    assert_serves(short)


# -- 2. idle sockets past the limit --------------------------------------------------------------------
def test_idle_sockets_past_the_connection_cap(bundle: Bundle, logs: Path) -> None:
    """MODELSTAGE_MAX_CONNECTIONS=100 and 150 idle sockets: the oldest idle ones make room."""
    with h.start_server(bundle.path, logs, {"MODELSTAGE_MAX_CONNECTIONS": "100"}, name="cap100") as server, \
            h.open_sockets(h.port_of(server), 150) as idle:
        time.sleep(0.5)
        assert_serves(server)
        closed = h.count_closed(idle)
        print(f"150 idle sockets at MAX_CONNECTIONS=100: {len(idle)} connected, {len(closed)} closed by the server "
              f"(first {closed[:5]}, last {closed[-5:]})")
        assert len(closed) >= 40, f"only {len(closed)} of 150 idle sockets were closed at a cap of 100"
        assert sum(i < 75 for i in closed) >= 0.8 * len(closed), f"not the oldest idle ones: {closed}"


def test_idle_sockets_past_the_fd_limit(bundle: Bundle, logs: Path) -> None:
    """RLIMIT_NOFILE 256 in the server (its connection cap clamps below it) and 400 idle sockets."""
    with h.start_server(bundle.path, logs, nofile=256, name="nofile256") as server, \
            h.open_sockets(h.port_of(server), 400) as idle:
        time.sleep(0.5)
        assert_serves(server)
        closed = h.count_closed(idle)
        print(f"400 idle sockets at RLIMIT_NOFILE=256: {len(idle)} connected, {len(closed)} closed by the server")


def test_thousand_slow_and_idle_clients_do_not_delay_ping(default: ServerProcess) -> None:
    """500 idle sockets and 500 that sent half a request line, limits at their defaults."""
    soft = h.raise_fd_limit(2200)
    if soft < 2200:
        pytest.skip(f"this test process may open only {soft} files (hard limit); 2200 needed")
    port = h.port_of(default)
    with h.open_sockets(port, 500) as idle, h.open_sockets(port, 500, b"POST /invocations HT") as slow:
        time.sleep(0.5)
        pings = [h.exchange(port, h.ping_request(), BOUND) for _ in range(20)]
        bad = [str(p) for p in pings if p.status != 200]
        lat = [p.seconds for p in pings if p.status == 200]
        print(f"/ping with {len(idle)} idle + {len(slow)} slow clients connected: p50 "
              f"{h.percentile(lat, 50) * 1000:.1f} ms, max {max(lat, default=float('nan')) * 1000:.1f} ms")
        assert not bad, f"{len(bad)} of 20 pings failed: {bad[:3]}"
    assert_serves(default)


# -- 3. oversized headers ------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [[("X-Big", "a" * 20_000)], [(f"X-H{i}", "v") for i in range(200)]],
                         ids=["one-20KB-header", "200-headers"])
def test_oversized_headers_get_431(short: ServerProcess, headers: list[tuple[str, str]]) -> None:
    with h.connect(h.port_of(short)) as sock:
        h.send(sock, h.http_request("POST", "/invocations", h.ONE_ROW, headers))
        assert_error_then_close(sock, h.read_response(sock, BOUND), 431, "headers_too_large")
    assert_serves(short)


# -- 4. stalled uploads and RSS ------------------------------------------------------------------------
STALLED = 100
STALLED_BODY = 5 << 20  # of a Content-Length of 6,000,000: close to SageMaker's limit, as in the issue


def test_stalled_uploads_do_not_grow_memory(bundle: Bundle, logs: Path) -> None:
    """100 uploads announce 6,000,000 bytes, send 5 MiB and stall: the server buffers a bounded total."""
    with h.start_server(bundle.path, logs, name="stalled") as server:
        port = h.port_of(server)
        before = h.rss_bytes(server.proc.pid)
        head = h.http_request("POST", "/invocations", length=6_000_000)
        with h.open_sockets(port, STALLED) as socks:
            sent = h.push_all(socks, head + b" " * STALLED_BODY, 15.0)
            after = h.settled_rss(server.proc.pid)
            early = [h.read_response(s, 0.01) for s in socks if select.select([s], [], [], 0)[0]]
            print(f"RSS with {len(socks)} stalled uploads: {before / 2**20:.0f} MiB before, {after / 2**20:.0f} MiB "
                  f"after (+{(after - before) / 2**20:.0f} MiB); sends completed {sent.count(None)}, reset "
                  f"{sent.count(h.RESET)}, blocked {sent.count(h.TIMEOUT)}; "
                  f"answered early: {sorted(str(r.status or r.outcome) for r in early)}")
            for r in early:
                if r.response is not None:
                    assert (r.status, r.response.error_code) in ((503, "overloaded"), (408, "request_timeout")), r
            ping = h.exchange(port, h.ping_request(), BOUND)
            assert ping.status == 200, f"/ping beside the stalled uploads: {ping}"
            score = h.exchange(port, h.invocations_request(), BOUND)
            assert score.status == 200 or (score.status, score.response and score.response.error_code) == (
                503, "overloaded"), f"/invocations beside the stalled uploads: {score}"
            assert after - before < 300 << 20, f"RSS grew {(after - before) / 2**20:.0f} MiB"
        deadline = time.perf_counter() + BOUND  # the stalled uploads are gone: their budget comes back
        while (score := h.exchange(port, h.invocations_request(), BOUND)).status != 200:
            assert time.perf_counter() < deadline, f"/invocations after the stalled uploads left: {score}"
            time.sleep(0.1)


# -- 5. concurrency limit ------------------------------------------------------------------------------
def test_concurrency_limit_answers_503_with_retry_after(bundle: Bundle, logs: Path) -> None:
    """MAX_CONCURRENCY=2 and 10 requests of 5,000 rows at once: the excess gets 503 `overloaded`."""
    body = h.rows_body(5000)
    head = h.http_request("POST", "/invocations", length=len(body))
    with h.start_server(bundle.path, logs, {"MODELSTAGE_MAX_CONCURRENCY": "2"}, name="conc2") as server, \
            h.PingPoller(h.port_of(server), 0.02, BOUND) as pings, h.open_sockets(h.port_of(server), 10) as socks:
        for s in socks:  # every request's headers are in before any body: 10 in progress at once
            h.send(s, head)
        time.sleep(0.5)
        results: list[h.Result] = []
        for s in socks:
            if select.select([s], [], [], 0)[0]:  # already refused at its headers
                results.append(h.read_response(s, BOUND))
            else:
                failed = h.send(s, body)
                result = h.read_response(s, 30.0)
                results.append(result if result.response or not failed else h.Result(failed, None, result.raw))
    print(f"10 x 5,000 rows at MAX_CONCURRENCY=2: {sorted(str(r.status or r.outcome) for r in results)}; "
          f"/ping meanwhile: {pings.summary()}")
    assert all(r.response is not None for r in results), [str(r) for r in results if r.response is None]
    statuses = [r.status for r in results]
    assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses, statuses
    for r in results:
        if r.response is not None and r.status == 503:
            assert r.response.error_code == "overloaded" and r.response.is_json, str(r)
            assert r.response.headers.get("retry-after") == "1", r.response.headers
    assert not pings.failures, [str(f) for f in pings.failures[:3]]


# -- 6. malformed HTTP ---------------------------------------------------------------------------------
MALFORMED = {
    "garbage-request-line": b"\x16\x03\x01 hello there\r\n\r\n",
    "header-without-colon": b"GET /ping HTTP/1.1\r\nHost: x\r\nThis is not a header\r\n\r\n",
    "bad-content-length": b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    "bad-chunk-size": (b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_http_gets_400_json_then_close(short: ServerProcess, raw: bytes) -> None:
    with h.connect(h.port_of(short)) as sock:
        h.send(sock, raw)
        assert_error_then_close(sock, h.read_response(sock, BOUND), 400, "bad_request")
    assert_serves(short)


# -- 7. expensive small bodies vs /ping ----------------------------------------------------------------
def test_expensive_small_bodies_do_not_delay_ping(default: ServerProcess) -> None:
    """16 connections post 10,000 one-feature rows (60 KB: under the old 64 KiB offload threshold) for
    3 s while /ping is asked every 20 ms on fresh connections."""
    body = h.rows_body(10_000, [120])
    port = h.port_of(default)
    with h.PingPoller(port, 0.02, 15.0) as pings:
        counts = h.hammer(port, h.invocations_request(body), 16, 3.0)
    print(f"{len(body)}-byte bodies x 16 connections for 3 s: {counts}; /ping meanwhile: {pings.summary()}")
    assert not pings.failures, [str(f) for f in pings.failures[:3]]
    assert set(counts) == {"200"}, counts
    assert max(pings.latencies) < 2.0, pings.summary()
