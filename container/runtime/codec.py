"""Decoding request bodies (JSON, CSV) and encoding predictions (JSON, CSV). Pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import orjson

from model.errors import SchemaError

JSON = "application/json"
CSV = "text/csv"


class BadRequest(Exception):
    """The request cannot be served; `status` is the 4xx to answer with."""

    def __init__(self, status: int, code: str, message: str, expected: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.expected = expected

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code, "message": self.message}
        if self.expected:
            out["expected"] = self.expected
        return out


def media_type(header: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return (header or "").split(";", 1)[0].strip().lower()


def decode_json(body: bytes) -> object:
    """Strict JSON (no NaN or Infinity tokens, nesting at most 1024 deep), or a 400 naming the position.

    orjson rather than the json module: on the 1-row path JSON costs as much as the model."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(400, "bad_encoding", f"the body is not UTF-8 (byte {exc.start})", "UTF-8 JSON") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, "malformed_json", f"the body is not valid JSON: {exc}", "a JSON document") from None


def _csv_cell(text: str, line: int, col: int) -> float | None:
    text = text.strip()
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise SchemaError(f"row {line}, column {col}: expected a number, got {text[:40]!r}", row=line,
                          code="not_a_number", expected="comma-separated numbers") from None
    return None if math.isnan(value) else value


def decode_csv(body: bytes, feature_names: Sequence[str]) -> list[object]:
    """CSV rows by position; a first line made of feature names is a header and maps columns by name."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(400, "bad_encoding", f"the body is not UTF-8 (byte {exc.start})", "UTF-8 CSV") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header: list[str] | None = None
    first = [c.strip().strip('"') for c in lines[0].split(",")]
    if first and all(c in feature_names for c in first):
        header, lines = first, lines[1:]
    rows: list[object] = []
    for r, line in enumerate(lines):
        cells = [_csv_cell(c, r, i) for i, c in enumerate(line.split(","))]
        if header is None:
            rows.append(cells)
        elif len(cells) != len(header):
            raise SchemaError(f"row {r}: {len(cells)} values for {len(header)} header columns", row=r,
                              code="wrong_feature_count", expected=f"{len(header)} values")
        else:
            rows.append(dict(zip(header, cells, strict=True)))
    return rows


def encode_json(payload: object) -> bytes:
    """Compact JSON; a non-finite float becomes null (JSON has no NaN)."""
    return orjson.dumps(payload)


def encode_csv(values: Sequence[float]) -> bytes:
    return ("\n".join(repr(v) for v in values) + "\n").encode()
