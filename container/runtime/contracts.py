"""The three clouds' request/response envelopes as pure functions over one scorer.

Two phases, so the HTTP layer can decide inline vs a thread by the work (rows x features), not bytes:
`parse` reads the body and headers into `Parsed` (cheap: C-level decoding, no scoring) and `respond`
scores and renders. Both raise `RequestError` for a bad request; `handle`, `invocations` and
`vertex_predict` wrap them and never raise for one. No HTTP framework is involved.

Route kinds: "predict" serves SageMaker's /invocations and Azure ML's /score (Azure passes the body
through untouched); "vertex" serves Vertex AI's predict route, where {"instances": [...]} answers
{"predictions": [...]} and any other body (rawPredict passes it through untouched) is answered
exactly as /invocations answers it.

SageMaker Batch Transform with SplitType Line and BatchStrategy MultiRecord posts as many input lines
as fit in MaxPayloadInMB in one request, with the job's ContentType, and expects one output record
per input line when AssembleWith is Line, in the job's Accept type (API_TransformInput.html and
API_TransformOutput.html in the SageMaker API reference, docs.aws.amazon.com/sagemaker/latest/APIReference/).
CSV lines already answer one prediction per line; JSON Lines (application/jsonlines, or
application/x-jsonlines) answer one {"<output name>": value} object per line, in input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import orjson

from container.runtime.codec import CSV, JSON, decode_csv, decode_json, encode_csv, encode_json, media_type
from container.runtime.errors import RequestError
from container.runtime.protocols import PREDICT, VERTEX
from model.envelope import EnvelopeError, is_row, unwrap
from model.errors import SchemaError
from model.scoring import Scorer

__all__ = ["Parsed", "Reply", "RequestError", "error", "error_reply", "handle", "invocations", "parse", "respond",
           "vertex_predict"]

_CURL_HINT = {
    "application/x-www-form-urlencoded": " (curl -d sends this by default: add -H 'Content-Type: application/json')",
}
_UNREAD = object()  # the JSON body has not been decoded yet
JSONL = "application/jsonlines"  # SageMaker's name for JSON Lines; the SDKs also send the x- form
JSONL_TYPES = frozenset({JSONL, "application/x-jsonlines"})
_READABLE = "application/json, text/csv or application/jsonlines"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = JSON
    predictions: Sequence[float] = field(default=())  # for metrics
    inputs: np.ndarray | None = None  # the encoded rows behind `predictions`, for the drift window


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~0.5 us, a tenth of the 1-row HTTP overhead
class Parsed:
    """A request read and ready to score (read-only by convention)."""

    rows: list[object]
    features: int  # the model's feature count: the work is rows x features whatever a row leaves out
    answer_as: str = JSON  # JSON, CSV, or one of JSONL_TYPES
    named_output: bool = False  # answer under the model's output name ({"price": ...}), else "predictions"
    single: bool = False  # the body was one row: answer one value, not a list
    vertex: bool = False  # a Vertex AI {"instances": ...} body: always {"predictions": [...]} as JSON
    lines: list[int] | None = None  # JSON Lines: the 1-based line of each row, named in errors

    @property
    def cells(self) -> int:
        return len(self.rows) * self.features


def error_reply(exc: RequestError | SchemaError | EnvelopeError) -> Reply:
    """The one conversion of a bad request into a reply: {"error": {...}} with the table's status."""
    err = exc if isinstance(exc, RequestError) else RequestError.from_model_error(exc)
    return Reply(err.status, encode_json({"error": err.to_dict()}))


def error(code: str, message: str, expected: str | None = None) -> Reply:
    """A reply for the HTTP layer's own errors (not_found, payload_too_large, loading, ...), status by code."""
    return error_reply(RequestError(code, message, expected=expected))


def _accept(header: str | None, default: str) -> str:
    if not header:
        return default
    for part in header.split(","):
        kind = media_type(part)
        if kind in (JSON, CSV) or kind in JSONL_TYPES:
            return kind
        if kind in ("*/*", "application/*"):
            return default if default in (JSON, CSV) or default in JSONL_TYPES else JSON
        if kind == "text/*":
            return CSV
    raise RequestError("not_acceptable", f"cannot answer with Accept: {header[:100]}", expected=_READABLE)


def _jsonl_row(doc: object) -> object:
    """One JSON Lines record: a row (values by position, or an object keyed by feature name), or
    {"input": row} as the single-row request body is written."""
    if isinstance(doc, dict) and "input" in doc and len(doc) == 1:
        value = doc["input"]
        if isinstance(value, dict) or is_row(value):
            return value
    return doc


def decode_jsonl(body: bytes) -> tuple[list[object], list[int]]:
    """JSON Lines: one row per non-blank line -> (rows, the line number of each). A line that is not
    JSON is a 400 naming its row and line; rows are checked against the schema later, by `respond`."""
    rows: list[object] = []
    lines: list[int] = []
    for number, line in enumerate(body.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            doc = decode_json(line)
        except RequestError as exc:
            r = len(rows)
            message = exc.message.replace("the body", "the line", 1)
            raise RequestError(exc.code, f"row {r} (line {number}): {message}", row=r,
                               expected=f"one JSON row per line ({exc.expected})") from None
        rows.append(_jsonl_row(doc))
        lines.append(number)
    return rows, lines


def encode_jsonl(name: str, values: Sequence[float]) -> bytes:
    """One {"<output name>": value} object per line: Batch Transform's AssembleWith Line output."""
    key = orjson.dumps(name)
    return b"".join(b"{" + key + b":" + orjson.dumps(v) + b"}\n" for v in values)


def _vertex_body(doc: dict[str, object], features: int) -> Parsed:
    instances = doc["instances"]
    if not isinstance(instances, list):
        raise RequestError("invalid_input", "'instances' must be a list of rows", expected="a JSON array of rows")
    parameters = doc.get("parameters", {})
    if parameters is not None and not isinstance(parameters, dict):
        raise RequestError("invalid_input", "'parameters' must be an object", expected="a JSON object")
    return Parsed(instances, features, vertex=True)


def parse(route_kind: str, names: Sequence[str], body: bytes, content_type: str | None, accept: str | None,
          default_accept: str) -> Parsed:
    """Read a request of `route_kind` ("predict" or "vertex") for a model with features `names`.
    Raises RequestError for a bad request; rows are checked against the schema later, by `respond`."""
    kind = media_type(content_type) or JSON  # SageMaker's toolkits default a missing type to JSON
    doc: object = _UNREAD
    if route_kind == VERTEX:
        if kind == JSON:
            try:
                doc = decode_json(body)
            except RequestError:
                doc = _UNREAD  # answered below, as /invocations answers it (a bad Accept comes first)
            if isinstance(doc, dict) and "instances" in doc:
                return _vertex_body(doc, len(names))
    elif route_kind != PREDICT:
        raise ValueError(f"unknown route kind {route_kind!r}: expected {PREDICT!r} or {VERTEX!r}")
    if kind in JSONL_TYPES:  # answered in kind unless Accept asks otherwise: one record per line
        answer_as = _accept(accept, kind)
        rows, lines = decode_jsonl(body)
        return Parsed(rows, len(names), answer_as, lines=lines)
    answer_as = _accept(accept, default_accept)
    try:
        if kind == JSON:
            rows, named, single = unwrap(decode_json(body) if doc is _UNREAD else doc, names)
            return Parsed(rows, len(names), answer_as, named, single)
        if kind == CSV:
            return Parsed(decode_csv(body, names), len(names), answer_as)
    except (EnvelopeError, SchemaError) as exc:
        raise RequestError.from_model_error(exc) from None
    raise RequestError("unsupported_media_type", f"cannot read Content-Type {kind[:100]!r}" + _CURL_HINT.get(kind, ""),
                       expected=_READABLE)


def respond(scorer: Scorer, parsed: Parsed) -> Reply:
    """Score `parsed` and render the answer. Raises RequestError when a row does not match the schema."""
    try:
        X = scorer.encoder.encode(parsed.rows)  # Scorer.score, in two steps: the drift window keeps X
    except SchemaError as exc:
        err = RequestError.from_model_error(exc)
        if parsed.lines is not None and exc.row is not None and 0 <= exc.row < len(parsed.lines):
            prefix = f"row {exc.row}"  # name the line too: Batch Transform users look for it in their file
            if err.message.startswith(prefix):
                err.message = f"{prefix} (line {parsed.lines[exc.row]}){err.message[len(prefix):]}"
        raise err from None
    predictions = scorer.predict_matrix(X)
    if parsed.answer_as == CSV:
        return Reply(200, encode_csv(predictions), CSV, predictions, X)
    if parsed.answer_as in JSONL_TYPES:
        return Reply(200, encode_jsonl(scorer.output_name, predictions), parsed.answer_as, predictions, X)
    if parsed.named_output:
        payload: object = {scorer.output_name: predictions[0] if parsed.single else predictions}
    else:
        payload = {"predictions": predictions}
    return Reply(200, encode_json(payload), JSON, predictions, X)


def handle(route_kind: str, scorer: Scorer, body: bytes, content_type: str | None, accept: str | None,
           default_accept: str = JSON) -> Reply:
    """parse + respond; a bad request becomes its error reply, never an exception."""
    try:
        return respond(scorer, parse(route_kind, scorer.encoder.names, body, content_type, accept, default_accept))
    except RequestError as exc:
        return error_reply(exc)


def invocations(scorer: Scorer, body: bytes, content_type: str | None, accept: str | None,
                default_accept: str = JSON) -> Reply:
    """SageMaker /invocations and Azure ML scoring: JSON or CSV in, JSON or CSV out."""
    return handle(PREDICT, scorer, body, content_type, accept, default_accept)


def vertex_predict(scorer: Scorer, body: bytes, content_type: str | None, accept: str | None = None,
                   default_accept: str = JSON) -> Reply:
    """Vertex AI: {"instances": [...], "parameters": {...}} in, {"predictions": [...]} out; any other
    body (rawPredict) as `invocations` answers it."""
    return handle(VERTEX, scorer, body, content_type, accept, default_accept)
