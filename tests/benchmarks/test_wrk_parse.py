"""The benchmark's wrk-output parser and Lua script (pure functions; wrk itself is not run)."""

from __future__ import annotations

import pytest

from benchmarks.results import percentile
from benchmarks.wrk import MARKER, lua_script, parse_wrk_output

WRK_STDOUT = """\
Running 10s test @ http://127.0.0.1:8080/invocations
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.08ms  750.21us  11.09ms   86.32%
    Req/Sec     3.88k   692.41     5.05k    48.33%
  38650 requests in 10.00s, 4.68MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   3865.30
Transfer/sec:    479.40KB
modelstage-wrk requests=38650 duration_us=10000000 bytes=4907520 p50_us=1950.0 p90_us=2800.5 p99_us=5120.0 \
max_us=11090.0 mean_us=2080.2 connect=0 read=1 write=0 status=3 timeout=2
"""


def test_parses_the_done_line() -> None:
    r = parse_wrk_output(WRK_STDOUT, generator="wrk -t1")
    assert r.generator == "wrk -t1"
    assert r.requests == 38650
    assert r.seconds == pytest.approx(10.0)
    assert r.rps == pytest.approx(3865.0)
    assert (r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms) == pytest.approx((1.95, 2.8005, 5.12, 11.09))
    assert r.mean_ms == pytest.approx(2.0802)
    assert (r.status_errors, r.socket_errors, r.errors) == (3, 3, 6)


def test_the_last_result_line_wins() -> None:
    first = WRK_STDOUT.replace("requests=38650", "requests=1")
    r = parse_wrk_output(first + WRK_STDOUT.splitlines()[-1] + "\n")
    assert r.requests == 38650


def test_missing_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="no 'modelstage-wrk' line"):
        parse_wrk_output(WRK_STDOUT.split(MARKER)[0])


def test_missing_field_is_an_error() -> None:
    with pytest.raises(ValueError, match="lacks p99_us"):
        parse_wrk_output(WRK_STDOUT.replace(" p99_us=5120.0", ""))


def test_malformed_token_is_an_error() -> None:
    with pytest.raises(ValueError, match="malformed token"):
        parse_wrk_output(WRK_STDOUT.replace("timeout=2", "timeout 2"))


def test_zero_duration_gives_zero_rate() -> None:
    assert parse_wrk_output(WRK_STDOUT.replace("duration_us=10000000", "duration_us=0")).rps == 0.0


def test_lua_script_embeds_body_and_prints_the_marker() -> None:
    script = lua_script(b'{"input": [1200, 3, 2]}')
    assert 'wrk.body = [==[{"input": [1200, 3, 2]}]==]' in script
    assert f'"{MARKER} requests=%d' in script
    for key in ("p50_us", "p99_us", "connect", "read", "write", "status", "timeout"):
        assert f"{key}=" in script
    with pytest.raises(ValueError):
        lua_script(b'"]==]"')


def test_nearest_rank_percentile() -> None:
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50.0, 99.0, 100.0)
    assert percentile([7], 99) == 7.0
