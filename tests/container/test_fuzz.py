"""Property-based fuzzing of request bodies against a live server: never a 5xx, always alive after."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from container.local import ServerProcess, free_port, request
from model.bundle import Bundle

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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), ctype=st.sampled_from(CONTENT_TYPES), body=bodies,
       accept=st.sampled_from([None, "application/json", "text/csv", "*/*", "image/png"]))
def test_no_body_makes_a_5xx(server: ServerProcess, route: str, ctype: str, body: bytes, accept: str | None) -> None:
    r = request(f"{server.url}{route}", body, ctype, accept, timeout=10)
    assert r.status < 500, (r.status, r.body[:300])
    if r.status >= 400:
        error = json.loads(r.body)["error"]
        assert error["message"] and "Traceback" not in r.body.decode()


def test_server_is_alive_after_fuzzing(server: ServerProcess) -> None:
    assert server.alive() and request(f"{server.url}/ping").status == 200
