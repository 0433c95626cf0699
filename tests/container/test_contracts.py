"""Every envelope of every contract, and every class of bad input, as pure function calls."""

from __future__ import annotations

import json

import pytest

from container.runtime.contracts import Parsed, invocations, parse, respond, vertex_predict
from container.runtime.errors import RequestError
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


@pytest.mark.parametrize(("body", "ctype", "status", "code"), [
    (b'{"instances": [[1200, 3, 2]], "parameters": 3}', "application/json", 400, "invalid_input"),
    (b'{"instances": {"a": 1}}', "application/json", 400, "invalid_input"),
    (b'{"instances": [[1200, "x"]]}', "application/json", 400, "not_a_number"),
    (b'{"instances": []}', "application/json", 400, "empty_batch"),
    (b'{"hello": 1}', "application/json", 400, "invalid_envelope"),
    (b"1200,3,2", "application/xml", 415, "unsupported_media_type"),
    (b"{", "application/json", 400, "malformed_json"),
])
def test_vertex_bad_requests(scorer: Scorer, body: bytes, ctype: str, status: int, code: str) -> None:
    reply = vertex_predict(scorer, body, ctype)
    assert reply.status == status and _json(reply.body)["error"]["code"] == code  # type: ignore[index]


RAW_PREDICT = [  # (body, content type, accept): Vertex rawPredict passes these through untouched
    (b'{"input": [1200, 3, 2]}', "application/json", None),  # the seed request
    (b'{"input": {"living_area_sqft": 2500, "bedrooms": 4}}', "application/json", None),
    (b'{"input": [[1200, 3, 2], [2400, 4, 3]]}', "application/json", None),
    (b'{"inputs": [[1200, 3, 2]]}', "application/json", None),
    (b'{"data": [[1200, 3, 2]]}', None, "*/*"),
    (b"[1200, 3, 2]", "application/json", None),
    (b"[[1200, 3, 2], [1300, 3, 2]]", "application/json", None),
    (b'{"living_area_sqft": 1200, "bedrooms": 3}', "application/json", None),
    (b"1200,3,2\n2400,4,3\n", "text/csv", None),
    (b"1200,3,2\n2400,4,3\n", "text/csv", "text/csv"),
    (b"bedrooms,living_area_sqft\n3,1200\n", "text/csv", None),
    (b'{"input": [1200, 3, 2]}', "application/json", "text/csv"),
    # and the errors, the same too: the Accept check comes first, even before a malformed body
    (b'{"input": [1200, "three", 2]}', "application/json", None),
    (b'{"input": [1200, 3, 2]}', "application/json", "image/png"),
    (b"{not json", "application/json", "image/png"),
    (b"1200,abc,2", "text/csv", None),
    (b'{"input": "abc"}', "application/json", None),
]


@pytest.mark.parametrize(("body", "ctype", "accept"), RAW_PREDICT)
def test_vertex_route_answers_raw_predict_bodies_as_invocations_does(scorer: Scorer, body: bytes, ctype: str | None,
                                                                     accept: str | None) -> None:
    ours, sagemakers = vertex_predict(scorer, body, ctype, accept), invocations(scorer, body, ctype, accept)
    assert (ours.status, ours.content_type, ours.body) == (sagemakers.status, sagemakers.content_type, sagemakers.body)


def test_the_seed_request_on_the_vertex_route_answers_a_price(scorer: Scorer) -> None:
    reply = vertex_predict(scorer, b'{"input": [1200, 3, 2]}', "application/json")
    assert reply.status == 200 and _json(reply.body) == {"price": scorer.score([[1200, 3, 2]])[0]}


@pytest.mark.parametrize("accept", [None, "text/csv", "image/png"])
def test_vertex_instances_always_answer_json_predictions(scorer: Scorer, accept: str | None) -> None:
    reply = vertex_predict(scorer, b'{"instances": [[1200, 3, 2]], "parameters": {}}', "application/json", accept)
    assert reply.status == 200 and reply.content_type == "application/json"
    assert _json(reply.body) == {"predictions": scorer.score([[1200, 3, 2]])}


def test_parse_measures_the_work_and_respond_scores_it(scorer: Scorer) -> None:
    names = scorer.encoder.names
    parsed = parse("predict", names, b'{"instances": [[1200], [1300, 3]]}', None, None, "application/json")
    assert parsed == Parsed([[1200], [1300, 3]], len(names))
    assert parsed.cells == 2 * len(names)  # features a row leaves out are filled: the work is the full row
    single = parse("predict", names, b'{"input": [1200, 3, 2]}', None, "text/csv", "application/json")
    assert (single.named_output, single.single, single.answer_as, single.cells) == (True, True, "text/csv",
                                                                                    len(names))
    vertex = parse("vertex", names, b'{"instances": [[1200, 3, 2]]}', None, None, "application/json")
    assert vertex.vertex and not vertex.named_output
    assert respond(scorer, single).body == f"{scorer.score([[1200, 3, 2]])[0]!r}\n".encode()


def test_parse_raises_request_errors_and_leaves_row_checks_to_respond(scorer: Scorer) -> None:
    names = scorer.encoder.names
    with pytest.raises(RequestError) as info:
        parse("predict", names, b'{"input": [1200, 3, 2]}', "application/xml", None, "application/json")
    assert (info.value.status, info.value.code) == (415, "unsupported_media_type")
    parsed = parse("predict", names, b'{"input": [1200, "three", 2]}', None, None, "application/json")
    with pytest.raises(RequestError) as info:
        respond(scorer, parsed)
    assert (info.value.status, info.value.code, info.value.row, info.value.field) == (400, "not_a_number", 0,
                                                                                       "bedrooms")
    with pytest.raises(ValueError, match="route kind"):
        parse("azure", names, b"[1]", None, None, "application/json")
