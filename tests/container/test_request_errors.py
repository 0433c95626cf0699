"""The bad-request path: one exception, one status table, bounded error messages, the JSON depth limit."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import pytest

from container.runtime.codec import MAX_JSON_DEPTH, decode_json, deeper_than
from container.runtime.contracts import Reply, error, error_reply, invocations, vertex_predict
from container.runtime.errors import STATUS_BY_CODE, RequestError, status_for
from model.bundle import Bundle
from model.envelope import EnvelopeError, describe
from model.errors import SchemaError
from model.scoring import Scorer

SERVER_STACK = 120  # frames the server already uses under the contract call (event loop, server, app)


@pytest.fixture(scope="module")
def scorer(bundle: Bundle) -> Scorer:
    return Scorer(bundle)


def _error(reply: Reply) -> dict[str, object]:
    return json.loads(reply.body)["error"]


def _at_depth(frames: int, call: Callable[[], Reply]) -> Reply:
    return call() if frames == 0 else _at_depth(frames - 1, call)


def _nested(depth: int, inner: bytes = b"1200") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize(("code", "status"), [
    ("too_many_rows", 413), ("payload_too_large", 413), ("unsupported_media_type", 415), ("not_acceptable", 406),
    ("not_found", 404), ("method_not_allowed", 405), ("loading", 503), ("overloaded", 503),
    ("request_timeout", 408), ("headers_too_large", 431), ("malformed_json", 400), ("too_deep", 400),
    ("out_of_range", 400), ("anything_else", 400),
])
def test_the_status_comes_from_the_one_table(code: str, status: int) -> None:
    assert status_for(code) == status == RequestError(code, "m").status
    reply = error(code, "the message", "what would do")
    assert reply.status == status
    assert _error(reply) == {"code": code, "message": "the message", "expected": "what would do"}


def test_model_errors_become_request_errors_in_one_place() -> None:
    schema = SchemaError("row 2, field 'bedrooms': no", row=2, field="bedrooms", expected="a number",
                         code="too_many_rows")
    reply = error_reply(schema)
    assert reply.status == 413
    assert _error(reply) == {"code": "too_many_rows", "message": "row 2, field 'bedrooms': no", "row": 2,
                             "field": "bedrooms", "expected": "a number"}
    envelope = error_reply(EnvelopeError("invalid_envelope", "no rows", "rows"))
    assert (envelope.status, _error(envelope)) == (400, {"code": "invalid_envelope", "message": "no rows",
                                                         "expected": "rows"})
    assert STATUS_BY_CODE["internal_error"] == 500  # for the HTTP layer's own last resort, not for a body


@pytest.mark.parametrize("depth", [980, 1000, 1100, 5000])
@pytest.mark.parametrize("route", ["invocations", "vertex"])
def test_a_deeply_nested_body_is_a_400_naming_the_limit(scorer: Scorer, depth: int, route: str) -> None:
    body = b'{"input": ' + _nested(depth) + b"}"
    call = (lambda: invocations(scorer, body, "application/json", None)) if route == "invocations" else (
        lambda: vertex_predict(scorer, body, "application/json"))
    reply = _at_depth(SERVER_STACK, call)  # 980 levels answered 500 (RecursionError) under a server's stack
    err = _error(reply)
    assert (reply.status, err["code"]) == (400, "too_deep")
    assert str(MAX_JSON_DEPTH) in str(err["message"]) and str(MAX_JSON_DEPTH) in str(err["expected"])


def test_the_depth_limit_is_exact_and_ignores_brackets_in_strings() -> None:
    limit = MAX_JSON_DEPTH
    assert not deeper_than(_nested(limit), limit) and deeper_than(_nested(limit + 1), limit)
    objects = b'{"a":' * (limit + 1) + b"1" + b"}" * (limit + 1)
    assert deeper_than(objects, limit) and not deeper_than(objects[5:-1], limit)
    mixed = b'[{"a":' * 20 + b"1" + b"}]" * 20  # 40 levels, alternating
    assert deeper_than(mixed, limit) and not deeper_than(b'[{"a":' * 16 + b"1" + b"}]" * 16, limit)
    in_strings = b'{"input": ["' + b"[{" * 500 + b'", "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\\"]}'
    assert not deeper_than(in_strings, limit)
    decode_json(in_strings)  # no too_deep: those brackets are text
    decode_json(b"[" * limit + b"]" * limit)  # the shortest bodies at the limit, and just past it
    with pytest.raises(RequestError):
        decode_json(b"[" * (limit + 1) + b"]" * (limit + 1))
    many_rows = json.dumps({"instances": [[1200, 3, 2]] * 10_000}).encode()  # many brackets, shallow
    assert not deeper_than(many_rows, limit)
    with pytest.raises(RequestError) as info:
        decode_json(json.dumps({"input": [1], "parameters": json.loads(_nested(40, b"1"))}).encode())
    assert info.value.code == "too_deep"


def test_every_value_is_described_in_bounded_text() -> None:
    deep: list[object] = []
    for _ in range(sys.getrecursionlimit() * 2):
        deep = [deep]
    for value in (deep, "x" * 1_000_000, 10**5000, {str(i): i for i in range(100_000)}, None, True, 2.5):
        assert len(describe(value)) <= 40
    assert describe("three") == "'three'" and describe(3) == "3" and describe([1, 2]) == "a list of 2 items"


def test_a_huge_unknown_key_or_string_is_quoted_in_part(scorer: Scorer) -> None:
    huge = "k" * 1_000_000
    for body in ({"input": {huge: 1}}, {"input": [1200, huge, 2]}, {huge: 1, "x" + huge: 2}):
        reply = invocations(scorer, json.dumps(body).encode(), "application/json", None)
        assert reply.status == 400 and len(reply.body) < 1000, reply.body[:200]


def test_an_integer_beyond_float_range_is_out_of_range(scorer: Scorer) -> None:
    with pytest.raises(SchemaError) as info:
        scorer.score([[10**400, 3, 2]])  # Python callers can pass what JSON cannot
    assert info.value.code == "out_of_range"
