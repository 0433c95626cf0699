"""Decoding request bodies (JSON, CSV) and encoding predictions (JSON, CSV). Pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import orjson

from container.runtime.errors import RequestError
from model.envelope import MAX_JSON_DEPTH, deeper_than, split_csv
from model.errors import SchemaError
from model.schema import wrong_feature_count

JSON = "application/json"
CSV = "text/csv"
_SHALLOW_BYTES = 2 * MAX_JSON_DEPTH  # JSON this short cannot nest deeper: each level takes 2 bytes
__all__ = ["CSV", "JSON", "MAX_JSON_DEPTH", "decode_csv", "decode_json", "deeper_than", "encode_csv", "encode_json",
           "media_type"]


def media_type(header: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return (header or "").split(";", 1)[0].strip().lower()


def _too_deep() -> RequestError:
    return RequestError("too_deep", f"the body nests arrays or objects more than {MAX_JSON_DEPTH} levels deep",
                        expected=f"JSON nested at most {MAX_JSON_DEPTH} levels deep")


def decode_json(body: bytes) -> object:
    """Strict JSON (no NaN or Infinity tokens, nesting at most MAX_JSON_DEPTH), or a 400 naming the
    problem. The depth is checked before anything recursive in Python sees the value.

    orjson rather than the json module: on the 1-row path JSON costs as much as the model."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError("bad_encoding", f"the body is not UTF-8 (byte {exc.start})", expected="UTF-8 JSON") from None
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion limit" in str(exc):  # orjson's own limit (1,024 levels)
            raise _too_deep() from None
        raise RequestError("malformed_json", f"the body is not valid JSON: {str(exc)[:200]}",
                           expected="a JSON document") from None
    if len(body) > _SHALLOW_BYTES and deeper_than(body, MAX_JSON_DEPTH):
        raise _too_deep()
    return doc


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
        raise RequestError("bad_encoding", f"the body is not UTF-8 (byte {exc.start})", expected="UTF-8 CSV") from None
    header, lines = split_csv(text, feature_names)
    width = len(feature_names) if header is None else len(header)
    rows: list[object] = []
    for r, texts in enumerate(lines):
        if header is None and len(texts) > width:  # refused before converting a megabyte of cells
            raise wrong_feature_count(r, len(texts), feature_names)
        if header is not None and len(texts) != width:
            raise SchemaError(f"row {r}: {len(texts)} values for {width} header columns", row=r,
                              code="wrong_feature_count", expected=f"{width} values")
        cells = [_csv_cell(c, r, i) for i, c in enumerate(texts)]
        rows.append(cells if header is None else dict(zip(header, cells, strict=True)))
    return rows


def encode_json(payload: object) -> bytes:
    """Compact JSON; a non-finite float becomes null (JSON has no NaN)."""
    return orjson.dumps(payload)


def encode_csv(values: Sequence[float]) -> bytes:
    return ("\n".join(repr(v) for v in values) + "\n").encode()
