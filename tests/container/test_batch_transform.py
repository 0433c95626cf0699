"""The clouds' batch jobs through the real server (and, with an engine, the image).

SageMaker Batch Transform with SplitType Line, BatchStrategy MultiRecord and AssembleWith Line posts
as many lines of the input file as fit in MaxPayloadInMB in one request (ContentType text/csv or
application/jsonlines, Accept from TransformOutput) and writes one output line per input line.
Vertex AI batch prediction from a JSON Lines file sends {"instances": [one value per line]}.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import docker
import numpy as np
import pytest

from container.local import HttpResult, ServerProcess, free_port, request
from container.runtime.contracts import invocations, vertex_predict
from model.bundle import Bundle
from model.scoring import Scorer

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def scorer(bundle: Bundle) -> Scorer:
    return Scorer(bundle)


@pytest.fixture(scope="module")
def server(bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The runtime as a Batch Transform job would run it: MODELSTAGE_MAX_ROWS raised in the model's
    Environment so a full MaxPayloadInMB=6 of short CSV lines (about 150,000) fits in one request."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with ServerProcess(bundle.path, free_port(), env={"MODELSTAGE_MAX_ROWS": "1000000"}, log_file=log) as proc:
        proc.wait_healthy(60)
        yield proc


def _rows(n: int, seed: int = 1) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return [[float(a), float(b), float(c)] for a, b, c in zip(rng.integers(500, 6000, n), rng.integers(1, 6, n),
                                                            rng.integers(1, 4, n), strict=True)]


def _csv_lines(rows: list[list[float]]) -> bytes:
    return "".join(",".join(f"{v:g}" for v in r) + "\n" for r in rows).encode()


def _jsonl(rows: list[list[float]]) -> bytes:
    return "".join(json.dumps(dict(zip(("living_area_sqft", "bedrooms", "bathrooms"), r, strict=True))) + "\n"
                   for r in rows).encode()


def _post(url: str, body: bytes, ctype: str, accept: str | None) -> HttpResult:
    return request(url, body, ctype, accept, timeout=120)


def test_multi_record_csv_answers_one_line_per_line_in_order(server: ServerProcess, scorer: Scorer) -> None:
    rng = np.random.default_rng(7)
    n = 200_000
    full = np.column_stack([rng.integers(500, 6000, n), rng.integers(1, 6, n), rng.integers(1, 4, n),
                            rng.integers(2000, 9000, n), rng.integers(1950, 2020, n), rng.integers(0, 3, n),
                            rng.integers(1, 6, n), rng.integers(1, 60, n)]).astype(float)
    lines = [",".join(f"{v:g}" for v in r) + "\n" for r in full.tolist()]
    ends = np.cumsum([len(line) for line in lines])
    count = int(np.searchsorted(ends, 6 * 10**6, side="right"))  # MaxPayloadInMB=6: as many lines as fit
    body = "".join(lines[:count]).encode()
    assert len(body) <= 6 * 10**6 and count > 100_000
    r = _post(f"{server.url}/invocations", body, "text/csv", "text/csv")
    assert r.status == 200, r.body[:300]
    answers = r.body.decode().splitlines()
    assert len(answers) == count
    rows = full[:count].tolist()
    assert [float(v) for v in answers[:500]] == scorer.score(rows[:500])
    assert [float(v) for v in answers[-500:]] == scorer.score(rows[-500:])


@pytest.mark.parametrize("ctype", ["application/jsonlines", "application/x-jsonlines"])
def test_multi_record_json_lines_answer_one_object_per_line(server: ServerProcess, scorer: Scorer,
                                                            ctype: str) -> None:
    rows = _rows(5_000, seed=2)
    r = _post(f"{server.url}/invocations", _jsonl(rows), ctype, ctype)
    assert r.status == 200, r.body[:300]
    answers = [json.loads(line) for line in r.body.decode().splitlines()]
    assert answers == [{"price": p} for p in scorer.score(rows)]


@pytest.mark.parametrize(("ctype", "accept", "answer_type"), [
    ("application/jsonlines", None, "application/jsonlines"),  # no TransformOutput.Accept: in kind
    ("application/jsonlines", "text/csv", "text/csv"),
    ("text/csv", "application/jsonlines", "application/jsonlines"),
])
def test_accept_is_honoured_as_batch_transform_sends_it(server: ServerProcess, scorer: Scorer, ctype: str,
                                                        accept: str | None, answer_type: str) -> None:
    rows = _rows(50, seed=3)
    body = _jsonl(rows) if "json" in ctype else _csv_lines(rows)
    r = request(f"{server.url}/invocations", body, ctype, accept, timeout=60)
    assert r.status == 200
    expected = scorer.score(rows)
    lines = r.body.decode().splitlines()
    if answer_type == "text/csv":
        assert [float(v) for v in lines] == expected
    else:
        assert [json.loads(line) for line in lines] == [{"price": p} for p in expected]


def test_a_bad_line_is_a_400_naming_its_line(server: ServerProcess) -> None:
    good = _jsonl(_rows(3)).decode()
    r = _post(f"{server.url}/invocations", (good + '{"living_area_sqft": 900, "bedrooms": 99}\n').encode(),
              "application/jsonlines", "application/jsonlines")
    assert r.status == 400
    error = r.json()["error"]  # type: ignore[index]
    assert error["code"] == "out_of_range" and error["row"] == 3 and "(line 4)" in error["message"]
    r = _post(f"{server.url}/invocations", (good + "{oops\n").encode(), "application/jsonlines", None)
    error = r.json()["error"]  # type: ignore[index]
    assert r.status == 400 and error["code"] == "malformed_json" and "(line 4)" in error["message"]
    r = _post(f"{server.url}/invocations", b"1200,3,2\n1200,x,2\n", "text/csv", "text/csv")
    assert r.status == 400 and r.json()["error"]["row"] == 1  # type: ignore[index]


def test_a_payload_over_the_route_limit_is_413(server: ServerProcess) -> None:
    body = _csv_lines(_rows(10)) * (7 * MIB // len(_csv_lines(_rows(10))))
    r = _post(f"{server.url}/invocations", body, "text/csv", "text/csv")
    assert r.status == 413


def test_vertex_batch_prediction_instances_from_a_jsonl_file(server: ServerProcess, scorer: Scorer,
                                                             tmp_path: Path) -> None:
    """Vertex batch prediction reads a JSON Lines file and sends each line's value as one instance."""
    source = tmp_path / "instances.jsonl"
    rows = _rows(300, seed=4)
    source.write_text("".join(json.dumps(r) + "\n" for r in rows[:150]) + _jsonl(rows[150:]).decode())
    instances = [json.loads(line) for line in source.read_text().splitlines()]
    r = request(f"{server.url}/predict", json.dumps({"instances": instances}).encode(), "application/json",
                timeout=60)
    assert r.status == 200
    assert r.json() == {"predictions": scorer.score(rows)}


# -- the contract as pure function calls -------------------------------------------------------------
def test_json_lines_rows_are_request_rows(scorer: Scorer) -> None:
    body = b'[1200, 3, 2]\n{"living_area_sqft": 2000}\n\n{"input": [1500, 3, 2]}\n'
    reply = invocations(scorer, body, "application/jsonlines", None)
    assert (reply.status, reply.content_type) == (200, "application/jsonlines")
    expected = scorer.score([[1200, 3, 2], {"living_area_sqft": 2000}, [1500, 3, 2]])
    assert reply.body == b"".join(json.dumps({"price": p}, separators=(",", ":")).encode() + b"\n"
                                  for p in expected)
    as_json = invocations(scorer, body, "application/x-jsonlines; charset=utf-8", "application/json")
    assert json.loads(as_json.body) == {"predictions": expected}
    star = invocations(scorer, b"[1200, 3, 2]", "application/jsonlines", "*/*")
    assert star.content_type == "application/jsonlines"
    raw = vertex_predict(scorer, b"[1200, 3, 2]\n[1300, 3, 2]", "application/jsonlines", "application/jsonlines")
    assert raw.status == 200 and len(raw.body.splitlines()) == 2  # rawPredict on the Vertex route


@pytest.mark.parametrize(("body", "status", "code", "fragment"), [
    (b"[1200, 3, 2]\n[1200, 3", 400, "malformed_json", "row 1 (line 2): the line is not valid JSON"),
    (b"[1200, 3, 2]\n\n[1200, true, 2]\n", 400, "not_a_number", "row 1 (line 3), field 'bedrooms'"),
    (b'{"colour": 1}', 400, "unknown_feature", "row 0 (line 1): unknown feature 'colour'"),
    (b"\n \n", 400, "empty_batch", "no rows"),
    (b"[1200, 3, 2]\n\xff\n", 400, "bad_encoding", "(line 2)"),
    (b"[" * 40 + b"]" * 40, 400, "too_deep", "(line 1)"),
    (b"[1200, 3, 2]\n" * 10_001, 413, "too_many_rows", "10001 rows"),
])
def test_json_lines_bad_input_has_the_api_error_shape(scorer: Scorer, body: bytes, status: int, code: str,
                                                      fragment: str) -> None:
    reply = invocations(scorer, body, "application/jsonlines", "application/jsonlines")
    assert reply.status == status and reply.content_type == "application/json"
    error = json.loads(reply.body)["error"]
    assert error["code"] == code and fragment in error["message"] and error["expected"], error


def test_unanswerable_accept_names_json_lines(scorer: Scorer) -> None:
    reply = invocations(scorer, b"1200,3,2", "text/csv", "image/png")
    assert reply.status == 406 and "application/jsonlines" in json.loads(reply.body)["error"]["expected"]


@pytest.mark.docker
def test_batch_transform_requests_through_the_image(bundle: Bundle, scorer: Scorer,
                                                    docker_client: docker.DockerClient) -> None:
    from container.image_build import build_image
    from container.local_cloud import start_cloud

    image = build_image(api=docker_client.api).tag
    rows = _rows(8_000, seed=5)  # within the default 10,000 rows per request
    with start_cloud("sagemaker", bundle, image, client=docker_client) as live:
        url = f"{live.url}{live.run.predict_path}"
        csv_answer = _post(url, _csv_lines(rows), "text/csv", "text/csv")
        assert csv_answer.status == 200
        assert [float(v) for v in csv_answer.body.decode().splitlines()] == scorer.score(rows)
        jsonl_answer = _post(url, _jsonl(rows), "application/jsonlines", "application/jsonlines")
        assert jsonl_answer.status == 200
        assert [json.loads(line) for line in jsonl_answer.body.decode().splitlines()] == \
            [{"price": p} for p in scorer.score(rows)]
