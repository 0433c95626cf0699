"""The three clouds' request/response envelopes as pure functions over one scorer.

`invocations` serves SageMaker's /invocations and Azure ML's scoring route (Azure passes the body
through untouched); `vertex_predict` serves Vertex AI's {"instances": [...]} contract. Each takes
the raw body and headers and returns a `Reply`; no HTTP framework is involved, so every envelope
is testable without a server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from container.runtime.codec import CSV, JSON, BadRequest, decode_csv, decode_json, encode_csv, encode_json, media_type
from model.errors import SchemaError
from model.scoring import Scorer

BATCH_KEYS = ("instances", "inputs", "data")
_CURL_HINT = {
    "application/x-www-form-urlencoded": " (curl -d sends this by default: add -H 'Content-Type: application/json')",
}


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = JSON
    predictions: Sequence[float] = field(default=())  # for metrics


def error_reply(status: int, error: Mapping[str, object]) -> Reply:
    return Reply(status, encode_json({"error": dict(error)}))


def _is_scalar_row(value: object) -> bool:
    """[1200, 3, 2] is one row, [[...], ...] or [{...}, ...] are rows. The first item decides; a
    list mixing both is refused later by the encoder, naming the item."""
    return isinstance(value, list) and len(value) > 0 and not isinstance(value[0], list | dict)


def _unwrap(doc: object, feature_names: Sequence[str]) -> tuple[list[object], str | None, bool]:
    """-> (rows, key to answer under (None = {"predictions": [...]}) , single row?)."""
    if isinstance(doc, dict):
        if "input" in doc:
            value = doc["input"]
            if isinstance(value, dict) or _is_scalar_row(value):  # the seed's {"input": [1200, 3, 2]}
                return [value], "output", True
            if isinstance(value, list):
                return value, "output", False
            raise BadRequest(400, "invalid_input",
                             f"'input' must be a row or a list of rows, got {type(value).__name__}",
                             "a list of numbers, an object keyed by feature name, or a list of those")
        for key in BATCH_KEYS:
            if key in doc:
                rows = doc[key]
                if not isinstance(rows, list):
                    raise BadRequest(400, "invalid_input", f"{key!r} must be a list of rows", "a JSON array of rows")
                return rows, None, False
        if doc and all(k in feature_names for k in doc):
            return [doc], "output", True
        raise BadRequest(400, "invalid_envelope",
                         f"unrecognised request keys {sorted(doc)[:5]}",
                         "{\"input\": row-or-rows}, {\"instances\": rows}, {\"inputs\": rows}, {\"data\": rows}, "
                         "or an object keyed by feature name")
    if isinstance(doc, list):
        if _is_scalar_row(doc):
            return [doc], None, False
        return doc, None, False
    raise BadRequest(400, "invalid_envelope", f"expected a JSON object or array, got {type(doc).__name__}",
                     "a JSON object or array")


def _accept(header: str | None, default: str) -> str:
    if not header:
        return default
    for part in header.split(","):
        kind = media_type(part)
        if kind in (JSON, CSV):
            return kind
        if kind in ("*/*", "application/*"):
            return default if default in (JSON, CSV) else JSON
        if kind == "text/*":
            return CSV
    raise BadRequest(406, "not_acceptable", f"cannot answer with Accept: {header[:100]}",
                     "application/json or text/csv")


def invocations(scorer: Scorer, body: bytes, content_type: str | None, accept: str | None,
                default_accept: str = JSON) -> Reply:
    """SageMaker /invocations and Azure ML scoring: JSON or CSV in, JSON or CSV out."""
    try:
        answer_as = _accept(accept, default_accept)
        kind = media_type(content_type) or JSON  # SageMaker's toolkits default a missing type to JSON
        names = scorer.encoder.names
        if kind == JSON:
            rows, key, single = _unwrap(decode_json(body), names)
        elif kind == CSV:
            rows, key, single = decode_csv(body, names), None, False
        else:
            raise BadRequest(415, "unsupported_media_type", f"cannot read Content-Type {kind[:100]!r}"
                             + _CURL_HINT.get(kind, ""), "application/json or text/csv")
        predictions = scorer.score(rows)
    except BadRequest as exc:
        return error_reply(exc.status, exc.to_dict())
    except SchemaError as exc:
        return error_reply(413 if exc.code == "too_many_rows" else 400, exc.to_dict())
    if answer_as == CSV:
        return Reply(200, encode_csv(predictions), CSV, predictions)
    if key is None:
        payload: object = {"predictions": predictions}
    else:
        payload = {scorer.output_name: predictions[0] if single else predictions}
    return Reply(200, encode_json(payload), JSON, predictions)


def vertex_predict(scorer: Scorer, body: bytes, content_type: str | None) -> Reply:
    """Vertex AI: {"instances": [...], "parameters": {...}} in, {"predictions": [...]} out."""
    try:
        kind = media_type(content_type) or JSON
        if kind != JSON:
            raise BadRequest(415, "unsupported_media_type", f"Vertex AI requests are JSON, got {kind[:100]!r}"
                             + _CURL_HINT.get(kind, ""), "application/json")
        doc = decode_json(body)
        if not isinstance(doc, dict) or "instances" not in doc:
            raise BadRequest(400, "invalid_envelope", "the body has no 'instances'",
                             "{\"instances\": [row, ...], \"parameters\": {...}}")
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise BadRequest(400, "invalid_input", "'instances' must be a list of rows", "a JSON array of rows")
        parameters = doc.get("parameters", {})
        if parameters is not None and not isinstance(parameters, dict):
            raise BadRequest(400, "invalid_input", "'parameters' must be an object", "a JSON object")
        predictions = scorer.score(instances)
    except BadRequest as exc:
        return error_reply(exc.status, exc.to_dict())
    except SchemaError as exc:
        return error_reply(413 if exc.code == "too_many_rows" else 400, exc.to_dict())
    return Reply(200, encode_json({"predictions": predictions}), JSON, predictions)
