"""Every envelope of every contract, and every class of bad input, as pure function calls."""

from __future__ import annotations

import json

import pytest

from container.runtime.contracts import invocations, vertex_predict
from model.bundle import Bundle
from model.scoring import Scorer


@pytest.fixture(scope="module")
def scorer(bundle: Bundle) -> Scorer:
    return Scorer(bundle)


def _json(reply_body: bytes) -> object:
    return json.loads(reply_body)


def test_seed_request_answers_a_price(scorer: Scorer) -> None:
    reply = invocations(scorer, b'{"input": [1200, 3, 2]}', "application/json", None)
    assert reply.status == 200
    body = _json(reply.body)
    assert isinstance(body, dict) and set(body) == {"price"}
    assert body["price"] == scorer.score([[1200, 3, 2]])[0] and 50_000 < body["price"] < 1_000_000


@pytest.mark.parametrize(("body", "expected_key", "n"), [
    ({"input": {"living_area_sqft": 2500, "bedrooms": 4}}, "price", None),
    ({"input": [[1200, 3, 2], [2400, 4, 3]]}, "price", 2),
    ({"input": [{"living_area_sqft": 900}, [3000, 5, 3]]}, "price", 2),
    ({"instances": [[1200, 3, 2], [2400, 4, 3]]}, "predictions", 2),
    ({"inputs": [[1200, 3, 2]]}, "predictions", 1),
    ({"data": [[1200, 3, 2]]}, "predictions", 1),
    ([[1200, 3, 2], [1300, 3, 2]], "predictions", 2),
    ([1200, 3, 2], "predictions", 1),
    ({"living_area_sqft": 1200, "bedrooms": 3}, "price", None),
])
def test_json_envelopes(scorer: Scorer, body: object, expected_key: str, n: int | None) -> None:
    reply = invocations(scorer, json.dumps(body).encode(), "application/json; charset=utf-8", "application/json")
    assert reply.status == 200, reply.body
    out = _json(reply.body)
    assert isinstance(out, dict) and list(out) == [expected_key]
    value = out[expected_key]
    if n is None:
        assert isinstance(value, float)
    else:
        assert isinstance(value, list) and len(value) == n and all(isinstance(v, float) for v in value)


def test_csv_in_csv_out_and_header_rows(scorer: Scorer) -> None:
    reply = invocations(scorer, b"1200,3,2\n2400,4,3\n", "text/csv", "text/csv")
    assert reply.status == 200 and reply.content_type == "text/csv"
    values = [float(v) for v in reply.body.decode().split()]
    assert values == scorer.score([[1200, 3, 2], [2400, 4, 3]])
    with_header = invocations(scorer, b"bedrooms,living_area_sqft\n3,1200\n", "text/csv", None)
    assert _json(with_header.body) == {"predictions": scorer.score([{"bedrooms": 3, "living_area_sqft": 1200}])}


def test_missing_content_type_is_json_and_star_accept_is_json(scorer: Scorer) -> None:
    reply = invocations(scorer, b'{"input": [1200, 3, 2]}', None, "*/*")
    assert reply.status == 200 and reply.content_type == "application/json"


def test_default_accept_can_be_csv(scorer: Scorer) -> None:
    reply = invocations(scorer, b'{"input": [1200, 3, 2]}', "application/json", None, default_accept="text/csv")
    assert reply.content_type == "text/csv"


def test_vertex_envelope(scorer: Scorer) -> None:
    body = {"instances": [[1200, 3, 2], {"living_area_sqft": 2000, "bedrooms": 3}], "parameters": {"x": 1}}
    reply = vertex_predict(scorer, json.dumps(body).encode(), "application/json")
    assert reply.status == 200
    assert _json(reply.body) == {"predictions": scorer.score(body["instances"])}  # type: ignore[arg-type]


BAD_INVOCATIONS = [
    # (body, content type, accept, status, error code, field)
    (b'{"input": [1200, 3', "application/json", None, 400, "malformed_json", None),
    (b"\xff\xfe", "application/json", None, 400, "bad_encoding", None),
    (b'{"input": [1200, 3, 2], "x": NaN}', "application/json", None, 400, "malformed_json", None),
    (b'{"input": [1200, 3, 2, 1, 2, 3, 4, 5, 6]}', "application/json", None, 400, "wrong_feature_count", None),
    (b'{"input": {"rooms": 3}}', "application/json", None, 400, "unknown_feature", "rooms"),
    (b'{"input": [1200, "three", 2]}', "application/json", None, 400, "not_a_number", "bedrooms"),
    (b'{"input": [null, 3, 2]}', "application/json", None, 400, "missing_value", "living_area_sqft"),
    (b'{"input": []}', "application/json", None, 400, "empty_batch", None),
    (b'{"instances": []}', "application/json", None, 400, "empty_batch", None),
    (b'{"hello": 1}', "application/json", None, 400, "invalid_envelope", None),
    (b'"just a string"', "application/json", None, 400, "invalid_envelope", None),
    (b'{"input": "abc"}', "application/json", None, 400, "invalid_input", None),
    (b'{"instances": {"a": 1}}', "application/json", None, 400, "invalid_input", None),
    (b"1200,abc,2", "text/csv", None, 400, "not_a_number", None),
    (b'{"input": [1200, 3, 2]}', "application/xml", None, 415, "unsupported_media_type", None),
    (b'{"input": [1200, 3, 2]}', "application/x-www-form-urlencoded", None, 415, "unsupported_media_type", None),
    (b'{"input": [1200, 3, 2]}', "application/json", "image/png", 406, "not_acceptable", None),
    (b'{"input": [1e12, 3, 2]}', "application/json", None, 400, "out_of_range", "living_area_sqft"),
]


@pytest.mark.parametrize(("body", "ctype", "accept", "status", "code", "field"), BAD_INVOCATIONS)
def test_bad_requests_get_a_4xx_naming_the_problem(scorer: Scorer, body: bytes, ctype: str, accept: str | None,
                                                   status: int, code: str, field: str | None) -> None:
    reply = invocations(scorer, body, ctype, accept)
    assert reply.status == status
    error = _json(reply.body)["error"]  # type: ignore[index]
    assert error["code"] == code and error["message"] and error.get("expected")
    if field:
        assert error["field"] == field and field in error["message"]


def test_too_many_rows_is_413(scorer: Scorer) -> None:
    rows = [[1200, 3, 2]] * (scorer.encoder.max_rows + 1)
    reply = invocations(scorer, json.dumps({"instances": rows}).encode(), "application/json", None)
    assert reply.status == 413 and _json(reply.body)["error"]["code"] == "too_many_rows"  # type: ignore[index]


@pytest.mark.parametrize(("body", "ctype", "status"), [
    (b'{"input": [1200, 3, 2]}', "application/json", 400),  # Vertex speaks only {"instances": ...}
    (b'{"instances": [[1200, 3, 2]], "parameters": 3}', "application/json", 400),
    (b'{"instances": [[1200, "x"]]}', "application/json", 400),
    (b"1200,3,2", "text/csv", 415),
    (b"{", "application/json", 400),
])
def test_vertex_bad_requests(scorer: Scorer, body: bytes, ctype: str, status: int) -> None:
    reply = vertex_predict(scorer, body, ctype)
    assert reply.status == status and "error" in _json(reply.body)  # type: ignore[operator]
