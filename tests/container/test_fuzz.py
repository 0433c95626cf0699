"""Fuzzing request bodies: never a 5xx, always the documented error shape.

10,000+ seeded bodies through the pure contract functions of both route kinds (fast, so every class
of hostile body gets many tries), then property-based bodies against a live server, which must be
alive after.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from container.local import ServerProcess, free_port, request
from container.runtime.contracts import Reply, invocations, vertex_predict
from container.runtime.errors import STATUS_BY_CODE
from model.bundle import Bundle
from model.scoring import Scorer
from tests.container.bodies import requests

FUZZ_BODIES = 10_000
SEED = 20261201
STACK_IN_USE = 120  # frames under the contract call in the server (event loop, connection, app): a
# recursion that fits in a bare test run can still overflow there, as the 980-deep body did
DEEP_980 = b'{"input": ' + b"[" * 980 + b"1200" + b"]" * 980 + b"}"


def _at_depth(frames: int, call: Callable[[], Reply]) -> Reply:
    return call() if frames == 0 else _at_depth(frames - 1, call)


def _problem(reply: Reply, codes: set[str]) -> str | None:
    """What is wrong with a reply to a fuzzed body, or None. Adds the error code to `codes`."""
    if reply.status >= 500:
        return f"status {reply.status}"
    if reply.status >= 400:
        error = json.loads(reply.body)["error"]
        codes.add(str(error.get("code")))
        if not (isinstance(error.get("code"), str) and isinstance(error.get("message"), str) and error["message"]):
            return f"error shape {error}"
        if STATUS_BY_CODE.get(error["code"], 400) != reply.status:
            return f"status {reply.status} for code {error['code']}"
        if len(reply.body) > 4096:
            return f"an error reply of {len(reply.body)} bytes"
    elif reply.content_type == "application/json":
        json.loads(reply.body)
    return None


def test_ten_thousand_bodies_get_no_5xx_on_either_route_kind(bundle: Bundle) -> None:
    scorer = Scorer(bundle)
    routes: dict[str, Callable[[bytes, str | None, str | None], Reply]] = {
        "predict": lambda b, c, a: invocations(scorer, b, c, a),
        "vertex": lambda b, c, a: vertex_predict(scorer, b, c, a),
    }
    started = time.perf_counter()
    problems: list[str] = []
    statuses: dict[int, int] = {}
    codes: set[str] = set()
    calls = 0
    for i, (body, ctype, accept) in enumerate(requests(SEED, FUZZ_BODIES)):
        for kind, route in routes.items():
            calls += 1
            try:
                reply = _at_depth(STACK_IN_USE, lambda: route(body, ctype, accept))  # noqa: B023
                problem = _problem(reply, codes)
                statuses[reply.status] = statuses.get(reply.status, 0) + 1
            except Exception as exc:  # the HTTP layer would answer 500
                problem = f"{type(exc).__name__}: {str(exc)[:200]}"
                statuses[500] = statuses.get(500, 0) + 1
            if problem:
                problems.append(f"body #{i} on {kind} ({ctype!r}, {accept!r}, {body[:80]!r}...): {problem}")
    fives = sum(n for status, n in statuses.items() if status >= 500)
    print(f"\nfuzz: {FUZZ_BODIES} bodies, {calls} requests (predict + vertex), {fives} 5xx, "
          f"statuses {dict(sorted(statuses.items()))}, {time.perf_counter() - started:.1f} s; codes {sorted(codes)}")
    assert not problems, "\n".join(problems[:20])
    # the generator reaches every kind of outcome, not one error over and over
    assert {200, 400, 406, 413, 415} <= set(statuses) and len(codes) >= 14, codes

ROUTES = ["/invocations", "/score", "/predict"]
CONTENT_TYPES = ["application/json", "text/csv", "application/json; charset=utf-8", "text/plain", "", "*/*"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=False), st.text(max_size=8))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=20), inner, max_size=5)), max_leaves=30)
feature_names = st.sampled_from(["living_area_sqft", "bedrooms", "bathrooms", "lot_size_sqft", "condition", "x"])
rows = st.one_of(st.lists(scalars, max_size=10), st.dictionaries(feature_names, scalars, max_size=8))
envelopes = st.one_of(
    st.builds(lambda r: {"input": r}, st.one_of(rows, st.lists(rows, max_size=4))),
    st.builds(lambda r: {"instances": r}, st.lists(rows, max_size=4)),
    st.builds(lambda r, p: {"instances": r, "parameters": p}, st.lists(rows, max_size=3), json_values),
    json_values,
)
bodies = st.one_of(
    envelopes.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.lists(st.lists(st.text("0123456789.,-e naN", max_size=6), max_size=5), max_size=5).map(
        lambda rs: "\n".join(",".join(r) for r in rs).encode()),
)


@pytest.fixture(scope="module")
def server(bundle: Bundle) -> Iterator[ServerProcess]:
    with ServerProcess(bundle.path, free_port()) as proc:
        proc.wait_healthy(30)
        yield proc


@example(route="/invocations", ctype="application/json", body=DEEP_980, accept=None)
@example(route="/predict", ctype="application/json", body=DEEP_980, accept=None)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), ctype=st.sampled_from(CONTENT_TYPES), body=bodies,
       accept=st.sampled_from([None, "application/json", "text/csv", "*/*", "image/png"]))
def test_no_body_makes_a_5xx(server: ServerProcess, route: str, ctype: str, body: bytes, accept: str | None) -> None:
    r = request(f"{server.url}{route}", body, ctype, accept, timeout=10)
    assert r.status < 500, (r.status, r.body[:300])
    if body == DEEP_980:
        assert json.loads(r.body)["error"]["code"] == "too_deep"
    if r.status >= 400:
        error = json.loads(r.body)["error"]
        assert error["message"] and "Traceback" not in r.body.decode()


def test_server_is_alive_after_fuzzing(server: ServerProcess) -> None:
    assert server.alive() and request(f"{server.url}/ping").status == 200
