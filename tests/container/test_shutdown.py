"""SIGTERM without loss, and the idle keep-alive timeout, against the real server process (issue 8, item 4).

SIGTERM is how SageMaker, Vertex AI and Azure ML stop a container (scale-in, update): every request
already received is answered, kept-alive connections are told `Connection: close`, uploads still
arriving get a bounded grace and then a 503, and the process exits 0 within 25 s.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from model.bundle import Bundle
from tests import hostile as h

GRACEFUL = 25.0  # the promise: exit within MODELSTAGE_GRACEFUL_TIMEOUT's default


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_under_load_loses_no_request(bundle: Bundle, tmp_path: Path, workers: int) -> None:
    """32 keep-alive connections send 1-row requests back to back; SIGTERM arrives in the middle."""
    server = h.start_server(bundle.path, tmp_path, workers=workers)
    try:
        stats = h.sigterm_under_load(server, 32, load_seconds=1.5, grace=1.0, wait_exit=GRACEFUL + 5)
    finally:
        server.stop()
    print(f"SIGTERM under load, {workers} worker(s): {stats.summary()}")
    assert stats.before > 0, "no request was answered before the signal: the load never ran"
    assert not stats.lost, f"{len(stats.lost)} requests lost: {stats.lost[:5]}"
    assert not stats.late_failures, f"after SIGTERM, neither answered nor refused cleanly: {stats.late_failures[:5]}"
    assert not stats.non_200, f"answers other than 200: {stats.non_200}"
    assert stats.exit_code == 0, f"exit code {stats.exit_code}"
    assert stats.exit_seconds < GRACEFUL, f"exited {stats.exit_seconds:.1f} s after SIGTERM"


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_with_a_stalled_upload_exits_in_time(bundle: Bundle, tmp_path: Path, workers: int) -> None:
    """Headers and half a body, never finished: MODELSTAGE_UPLOAD_GRACE=2 s, then 503 and exit 0."""
    body = h.rows_body(200)
    head = h.http_request("POST", "/invocations", length=len(body))
    server = h.start_server(bundle.path, tmp_path, {"MODELSTAGE_UPLOAD_GRACE": "2"}, workers=workers)
    try:
        with h.connect(h.port_of(server)) as sock:
            assert h.send(sock, head + body[: len(body) // 2]) is None
            time.sleep(0.5)  # the server has the headers: the upload is in progress
            started = time.perf_counter()
            server.proc.send_signal(signal.SIGTERM)
            result = h.read_response(sock, GRACEFUL + 5)
        try:
            code: int | None = server.proc.wait(max(1.0, GRACEFUL + 5 - (time.perf_counter() - started)))
        except subprocess.TimeoutExpired:
            code = None
        exited = time.perf_counter() - started
    finally:
        server.stop()
    print(f"SIGTERM with a stalled upload, {workers} worker(s): the upload got {result}; exit {code} after "
          f"{exited:.1f} s")
    assert result.outcome != h.TIMEOUT, "the stalled upload was held until the client gave up"
    if result.response is not None:
        r = result.response
        assert (r.status, r.error_code) == (503, "shutting_down") and r.is_json, str(result)
    else:
        assert result.outcome in (h.CLOSED, h.RESET), str(result)
    assert result.seconds < 10.0, f"the upload grace is 2 s, the answer came after {result.seconds:.1f} s"
    assert code == 0, f"exit code {code}"
    assert exited < GRACEFUL, f"exited {exited:.1f} s after SIGTERM"


def test_idle_keepalive_timeout_closes_idle_connections(bundle: Bundle, tmp_path: Path) -> None:
    """MODELSTAGE_KEEPALIVE_TIMEOUT=1: a fresh connection that sends nothing, and one idle after a
    response, are both closed within 5 s."""
    with h.start_server(bundle.path, tmp_path, {"MODELSTAGE_KEEPALIVE_TIMEOUT": "1"}) as server:
        port = h.port_of(server)
        with h.connect(port) as fresh, h.connect(port) as used:
            assert h.send(used, h.ping_request()) is None
            first = h.read_response(used, 5.0)
            assert first.response is not None and first.status == 200 and not first.response.closes, str(first)
            idle_fresh, idle_used = h.wait_closed(fresh, 5.0), h.wait_closed(used, 5.0)
        print(f"KEEPALIVE_TIMEOUT=1: fresh connection {idle_fresh.outcome} after {idle_fresh.seconds:.2f} s, "
              f"kept-alive one {idle_used.outcome} after {idle_used.seconds:.2f} s more")
        assert idle_fresh.outcome == h.CLOSED, f"fresh idle connection: {idle_fresh}"
        assert idle_used.outcome == h.CLOSED, f"kept-alive idle connection: {idle_used}"
