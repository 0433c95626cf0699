"""Captured traffic as rows for drift and accuracy: one reader for every cloud's capture format.

`read_captures(source, feature_names, output_name)` reads a local file or folder (recursive), an
`s3://bucket/prefix` or a `gs://bucket/prefix`, and returns a `CaptureTable`: per row the features
(floats, NaN for a missing or non-numeric value), the prediction (NaN when the record has none),
the inference id (None when the format has none) and the timestamp (NaT when unknown), plus
counters: files read, records read, rows, and records skipped by reason. Nothing is dropped
silently: every record that gives no row is counted under a reason, with a few examples.

Formats, detected per file (by suffix) and, in JSON Lines, per line (by keys):

- SageMaker data capture (and modelstage's local capture, the same format; see
  container/runtime/capture.py): {"captureData": {"endpointInput": {"observedContentType", "mode",
  "data", "encoding"}, "endpointOutput": {...}}, "eventMetadata": {"eventId", "inferenceId",
  "inferenceTime"}, "eventVersion"}. `encoding` is JSON, CSV or BASE64 (the body in base64, read
  as JSON or CSV by its content type). One record may hold several rows: CSV lines (a first line of
  feature names is a header), JSON Lines bodies, or any request envelope the runtime accepts
  (model/envelope.py: a row, a list of rows, {"input": row-or-rows}, {"instances"|"inputs"|"data": rows}).
  The inference id is eventMetadata.inferenceId, else eventId; the timestamp is inferenceTime.
- Vertex AI request-response logging (the BigQuery table `request_response_logging`, exported as
  JSON Lines): columns endpoint, deployed_model_id, logging_time, request_id, request_payload
  (REPEATED STRING: one JSON string per instance) and response_payload (REPEATED STRING: one JSON
  string per prediction). A payload given as one JSON string of the whole request
  ({"instances": [...]}) or response ({"predictions": [...]}) is read too. Vertex gives no inference
  id for joining labels (request_id is per request, not per row): the id is None.
- Legacy AI Platform request logging (model, model_version, time, raw_data, raw_prediction).
- Azure ML data collection (blobs `<endpoint>/<deployment>/<collection>/<yyyy>/<MM>/<dd>/<HH>/<id>.jsonl`;
  learn.microsoft.com "Collect production data from models deployed for real-time inferencing"):
  CloudEvents-shaped lines {"specversion", "id", "type": "azureml.inference.<collection>", "time",
  "data", "correlationid", ...}. Payload logging's `request` / `response` records hold the HTTP bodies;
  custom logging's `model_inputs` / `model_outputs` (any *inputs / *outputs collection) hold a
  DataFrame's records. Inputs and outputs are separate records, paired by correlationid in the order
  read (the collector may batch several requests into one record: its rows pair with the output's rows
  in order). The id is a `correlationid` (or `inference_id`) column of the logged rows when there is
  one, as Azure advises for joining labels, else the record's correlationid. A payload over 4 MB is
  stored elsewhere (`datainblob`) and counted, not fetched; an output whose input never came is counted.
- Plain rows: CSV or Parquet files with a header of feature names, optionally the output column, a
  `timestamp` column and an `inference_id` column; JSON Lines rows keyed by feature name.

Any of these may be gzipped (`.jsonl.gz`, `.csv.gz`, ...): it is decompressed into a temporary file,
never past `max_file_bytes` (a gzip bomb stops there and is counted as too large).

Sources: a local path, `s3://`, `gs://` or an Azure blob URL (forms and credentials in
model/capture_azure.py). Bounded: files over `max_file_bytes` are skipped (counted, by file) before any
byte is read, and a download that grows past it is stopped; lines are streamed; a cloud object is
spooled to a temporary file and read as a local one.
pyarrow is imported only for CSV and Parquet, boto3 only for s3://, google-cloud-storage only for gs://,
azure-storage-blob only for Azure.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import math
import os
import tempfile
import zlib
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from model import capture_azure
from model.envelope import EnvelopeError, split_csv, unwrap
from model.errors import ModelstageError

DEFAULT_MAX_FILE_BYTES = 1 << 30  # 1 GiB
MAX_LINE_BYTES = 64 << 20  # a JSON Lines record longer than this is skipped unread
MAX_EXAMPLES = 3  # examples kept per skip reason
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines", ".json")
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
READABLE = JSONL_SUFFIXES + CSV_SUFFIXES + PARQUET_SUFFIXES
GZIP_SUFFIX = ".gz"  # any of the above, gzipped (decompressed with the same size limit)
GZIP_CHUNK_BYTES = 1 << 20
TIMESTAMP_COLUMN = "timestamp"
ID_COLUMN = "inference_id"

# skip reasons (the keys of CaptureTable.skipped)
MALFORMED_JSON = "malformed JSON line"
UNKNOWN_FORMAT = "unknown format"
MISSING_FEATURES = "missing features"
WRONG_WIDTH = "wrong number of values"
UNDECODABLE = "undecodable data"
LINE_TOO_LONG = "line too long"
FILE_TOO_LARGE = "file too large"
UNREADABLE_FILE = "unreadable file"
UNMATCHED_OUTPUT = "output without its input"
PAYLOAD_ELSEWHERE = "payload stored in a separate blob"
AZURE_FORMAT = "azureml"
_AZURE_TYPE = "azureml.inference."
_AZURE_ROW_IDS = ("correlationid", ID_COLUMN)  # a per-row id column in a logged DataFrame, as Azure advises


class CaptureError(ModelstageError):
    """The source cannot be read at all (missing, unsupported URL scheme, no access)."""

    exit_code = 2


@dataclass
class CaptureTable:
    """Rows read from captures. `X` is (rows, features) float64; `prediction` (rows,) float64;
    `inference_id` (rows,) object (str or None); `timestamp` (rows,) datetime64[ms] (UTC, NaT unknown).
    `records` counts records read (a JSONL line, a CSV/Parquet row); `skipped` counts records that
    gave no row, by reason; `unpaired` records kept with NaN predictions (the response had none, or
    not one per row), and `skipped_files` files that were not read, by reason; `examples`
    keeps the first few "file:line: detail" per reason."""

    feature_names: tuple[str, ...]
    output_name: str
    X: np.ndarray
    prediction: np.ndarray
    inference_id: np.ndarray
    timestamp: np.ndarray
    files: int = 0
    records: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_files: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    formats: Counter[str] = field(default_factory=Counter)  # records read per detected format
    unpaired: int = 0  # records kept whose response gave no prediction per row (predictions NaN)

    @property
    def rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def skipped_records(self) -> int:
        return sum(self.skipped.values())

    def column(self, name: str) -> np.ndarray:
        return self.X[:, self.feature_names.index(name)]

    def to_arrow(self) -> Any:
        """A pyarrow Table: the features, the output, `inference_id` and `timestamp`."""
        import pyarrow as pa

        columns: dict[str, Any] = {name: self.X[:, i] for i, name in enumerate(self.feature_names)}
        columns[self.output_name] = self.prediction
        columns[ID_COLUMN] = pa.array(list(self.inference_id), type=pa.string())
        columns[TIMESTAMP_COLUMN] = pa.array(self.timestamp, type=pa.timestamp("ms", tz="UTC"))
        return pa.table(columns)

    def summary(self) -> str:
        text = f"{self.rows} rows from {self.records} records in {self.files} files"
        if self.skipped:
            text += "; skipped records: " + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
        if self.unpaired:
            text += f"; {self.unpaired} records without a prediction per row"
        if self.skipped_files:
            text += "; skipped files: " + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped_files.items()))
        return text


class _Skip(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class _Builder:
    def __init__(self, feature_names: Sequence[str], output_name: str) -> None:
        self.names = tuple(feature_names)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.output_name = output_name
        self.values: list[list[float]] = []
        self.predictions: list[float] = []
        self.ids: list[str | None] = []
        self.times: list[np.datetime64] = []
        self.files = 0
        self.records = 0
        self.skipped: Counter[str] = Counter()
        self.skipped_files: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}
        self.formats: Counter[str] = Counter()
        self.unpaired = 0
        # Azure ML's inputs and outputs are separate records (often separate files): halves wait here, by
        # correlation id, for their other half; in order, so the i-th input pairs with the i-th output
        self.azure_inputs: dict[str, deque[_AzureInput]] = {}
        self.azure_outputs: dict[str, deque[tuple[list[float], str]]] = {}

    def skip(self, reason: str, where: str, detail: str = "", file: bool = False) -> None:
        (self.skipped_files if file else self.skipped)[reason] += 1
        kept = self.examples.setdefault(reason, [])
        if len(kept) < MAX_EXAMPLES:
            kept.append(f"{where}: {detail}"[:300] if detail else where)

    def row(self, row: object) -> list[float]:
        """A row (values by position or an object keyed by feature name) -> floats; _Skip if unusable."""
        if isinstance(row, dict):
            missing = [n for n in self.names if n not in row]
            if missing:
                raise _Skip(MISSING_FEATURES, ", ".join(missing[:5]))
            return [_float(row[n]) for n in self.names]
        if isinstance(row, list):
            if len(row) != len(self.names):
                raise _Skip(WRONG_WIDTH, f"{len(row)} values for {len(self.names)} features")
            return [_float(v) for v in row]
        raise _Skip(UNKNOWN_FORMAT, f"a row that is a {type(row).__name__}")

    def add(self, rows: list[list[float]], predictions: list[float], ident: str | list[str | None] | None,
            when: np.datetime64, fmt: str) -> None:
        """One record's rows; `ident` is the record's id, or one id per row."""
        if len(predictions) != len(rows):
            self.unpaired += 1
            predictions = [math.nan] * len(rows)  # cannot pair them: features kept, predictions unknown
        self.values.extend(rows)
        self.predictions.extend(predictions)
        self.ids.extend(ident if isinstance(ident, list) else [ident] * len(rows))
        self.times.extend([when] * len(rows))
        self.formats[fmt] += 1

    def finish(self) -> None:
        """Azure halves left unpaired: inputs are kept without predictions, outputs are counted."""
        for pending in self.azure_inputs.values():
            for half in pending:
                self.add(half.rows, [], half.ids, half.when, AZURE_FORMAT)
        for outputs in self.azure_outputs.values():
            for _, where in outputs:
                self.skip(UNMATCHED_OUTPUT, where, "no input record with its correlationid")
        self.azure_inputs.clear()
        self.azure_outputs.clear()

    def table(self) -> CaptureTable:
        k = len(self.names)
        X = np.array(self.values, dtype=np.float64).reshape(len(self.values), k)
        ids = np.empty(len(self.ids), dtype=object)
        ids[:] = self.ids
        return CaptureTable(self.names, self.output_name, X, np.array(self.predictions, dtype=np.float64), ids,
                            np.array(self.times, dtype="datetime64[ms]"), self.files, self.records,
                            self.skipped, self.skipped_files, self.examples, self.formats,
                            self.unpaired)


# -- values ------------------------------------------------------------------------------------------
_NAT = np.datetime64("NaT", "ms")


def _float(value: object) -> float:
    if isinstance(value, bool) or value is None:
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return math.nan
    return math.nan


def _timestamp(value: object) -> np.datetime64:
    """ISO 8601 ("2026-12-03T07:45:01Z"), BigQuery's export ("2026-12-03 07:45:01.123 UTC") or epoch seconds."""
    if value is None or value == "":
        return _NAT
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.datetime64(int(value * 1000), "ms")
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(" UTC"):
            text = text[:-4] + "+00:00"
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return _NAT
        if when.tzinfo is not None:
            when = when.astimezone(UTC).replace(tzinfo=None)
        return np.datetime64(when, "ms")
    return _NAT


MAX_RESPONSE_DEPTH = 4  # {"predictions": [{"price": x}]} is 3 deep; a body nested deeper holds no prediction


def _predictions(doc: object, output_name: str, depth: int = 0) -> list[float]:
    """A response body -> one prediction per row: a number, {"<output>": x or [x...]},
    {"predictions": [...]}, a list of numbers or of {"<output>": x}. [] past MAX_RESPONSE_DEPTH, so a
    hostile body nested a thousand deep costs nothing (and no RecursionError)."""
    if depth > MAX_RESPONSE_DEPTH:
        return []
    if isinstance(doc, dict):
        for key in (output_name, "predictions", "prediction", "outputs", "output"):
            if key in doc:
                return _predictions(doc[key], output_name, depth + 1)
        return []
    if isinstance(doc, list):
        out: list[float] = []
        for item in doc:
            if isinstance(item, dict):
                found = _predictions(item, output_name, depth + 1)
                if not found and len(item) == 1:  # a one-column DataFrame's records, whatever the name
                    found = [_float(next(iter(item.values())))]
                out.append(found[0] if len(found) == 1 else math.nan)
            elif isinstance(item, list):
                out.append(_float(item[0]) if len(item) == 1 else math.nan)
            else:
                out.append(_float(item))
        return out
    return [_float(doc)]


# -- SageMaker data capture ----------------------------------------------------------------------------
def _side_text(side: object) -> tuple[str, str]:
    """One side of a record -> (its body as text, "json" | "csv")."""
    if not isinstance(side, dict):
        raise _Skip(UNKNOWN_FORMAT, "endpointInput is not an object")
    data = side.get("data")
    if not isinstance(data, str):
        raise _Skip(UNKNOWN_FORMAT, "no data")
    encoding = str(side.get("encoding", "")).upper()
    content_type = str(side.get("observedContentType", "")).lower()
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _Skip(UNDECODABLE, f"BASE64 data: {exc}") from None
        kind = "csv" if "csv" in content_type else "json" if "json" in content_type else ""
    else:
        kind = {"CSV": "csv", "JSON": "json"}.get(encoding, "")
    if not kind:  # not told: JSON if it parses, else CSV
        kind = "json" if data.lstrip()[:1] in ("{", "[") else "csv"
    return data, kind


def _json_docs(text: str) -> list[object]:
    """A JSON body, or a JSON Lines body (several documents, one a line)."""
    try:
        return [orjson.loads(text)]
    except orjson.JSONDecodeError:
        pass
    try:
        return [orjson.loads(line) for line in text.splitlines() if line.strip()]
    except orjson.JSONDecodeError as exc:
        raise _Skip(UNDECODABLE, f"data is not JSON: {exc}") from None


def _input_rows(b: _Builder, text: str, kind: str) -> list[list[float]]:
    if kind == "csv":
        header, lines = split_csv(text, b.names)
        if header is not None:
            missing = [n for n in b.names if n not in header]
            if missing:
                raise _Skip(MISSING_FEATURES, ", ".join(missing[:5]))
            return [b.row(dict(zip(header, cells, strict=False))) for cells in lines]
        return [b.row(cells) for cells in lines]
    out: list[list[float]] = []
    for doc in _json_docs(text):  # one document, or a JSON Lines body's lines ({"input": row} among them)
        out.extend(_doc_rows(b, doc))
    return out


def _doc_rows(b: _Builder, doc: object) -> list[list[float]]:
    """A parsed request body (any envelope model/envelope.py accepts) -> rows of floats."""
    try:
        found, _, _ = unwrap(doc, b.names)
    except EnvelopeError as exc:
        raise _Skip(UNKNOWN_FORMAT, f"request body: {exc.message}") from None
    return [b.row(r) for r in found]


def _output_predictions(b: _Builder, side: object) -> list[float]:
    try:
        text, kind = _side_text(side)
    except _Skip:
        return []  # no usable output: predictions unknown, the features still count
    return _text_predictions(b, text, kind)


def _text_predictions(b: _Builder, text: str, kind: str) -> list[float]:
    """A response body as text -> one prediction per row ([] when it cannot be read)."""
    if kind == "csv":
        return [_float(line.split(",")[0]) for line in text.splitlines() if line.strip()]
    try:
        docs = _json_docs(text)
    except _Skip:
        return []
    return [p for doc in docs for p in _predictions(doc, b.output_name)]


def _sagemaker(b: _Builder, doc: dict[str, Any]) -> None:
    capture = doc["captureData"]
    if not isinstance(capture, dict):
        raise _Skip(UNKNOWN_FORMAT, "captureData is not an object")
    text, kind = _side_text(capture.get("endpointInput"))
    rows = _input_rows(b, text, kind)
    predictions = _output_predictions(b, capture.get("endpointOutput"))
    meta = doc.get("eventMetadata")
    meta = meta if isinstance(meta, dict) else {}
    ident = meta.get("inferenceId") or meta.get("eventId")
    b.add(rows, predictions, str(ident) if ident is not None else None, _timestamp(meta.get("inferenceTime")),
          "sagemaker")


# -- Vertex AI request-response logging ---------------------------------------------------------------
def _payload_docs(value: object) -> list[object]:
    """A REPEATED STRING column as exported (a list of JSON strings), or one JSON string."""
    items = value if isinstance(value, list) else [value]
    out: list[object] = []
    for item in items:
        if isinstance(item, str):
            try:
                out.append(orjson.loads(item))
            except orjson.JSONDecodeError as exc:
                raise _Skip(UNDECODABLE, f"payload is not JSON: {exc}") from None
        elif item is not None:
            out.append(item)
    return out


def _vertex(b: _Builder, doc: dict[str, Any], request_key: str, response_key: str, time_key: str,
            fmt: str) -> None:
    rows: list[object] = []
    for item in _payload_docs(doc.get(request_key)):
        if isinstance(item, dict) and ("instances" in item or "input" in item):
            try:
                found, _, _ = unwrap(item, b.names)
            except EnvelopeError as exc:
                raise _Skip(UNKNOWN_FORMAT, f"request payload: {exc.message}") from None
            rows.extend(found)
        else:
            rows.append(item)  # one instance
    if not rows:
        raise _Skip(MISSING_FEATURES, "empty request payload")
    values = [b.row(r) for r in rows]
    predictions: list[float] = []
    try:
        responses = _payload_docs(doc.get(response_key))
    except _Skip:
        responses = []
    for item in responses:
        if isinstance(item, dict) and "predictions" in item:
            predictions.extend(_predictions(item["predictions"], b.output_name))
        else:
            found = _predictions(item, b.output_name)
            predictions.extend(found if len(found) == 1 else [math.nan])
    b.add(values, predictions, None, _timestamp(doc.get(time_key)), fmt)


# -- Azure ML data collection ---------------------------------------------------------------------------
@dataclass
class _AzureInput:
    rows: list[list[float]]
    ids: list[str | None]
    when: np.datetime64


def _azure_data(doc: dict[str, Any]) -> object:
    if str(doc.get("datainblob", "")).lower() == "true":  # over 4 MB: the record holds the payload's URL
        raise _Skip(PAYLOAD_ELSEWHERE, str(doc.get("data", ""))[:200])
    if "data" not in doc:
        raise _Skip(UNKNOWN_FORMAT, "an Azure ML record without data")
    return doc["data"]


def _azure_text_kind(doc: dict[str, Any], text: str) -> str:
    content_type = str(doc.get("datacontenttype", "")).lower()
    if "csv" in content_type:
        return "csv"
    return "json" if "json" in content_type or text.lstrip()[:1] in ("{", "[") else "csv"


def _azure(b: _Builder, doc: dict[str, Any], where: str) -> None:
    """One Azure ML data collector record (CloudEvents-shaped: specversion, id, type, time, data,
    correlationid). Payload logging writes `azureml.inference.request` / `.response` (data: the HTTP
    body); custom logging writes `azureml.inference.<collection>` (data: a DataFrame's records), where
    modelstage reads collections named *inputs and *outputs (model_inputs, model_outputs)."""
    kind = str(doc["type"])[len(_AZURE_TYPE):]
    if kind == "request" or kind.endswith("inputs"):
        _azure_input(b, doc)
    elif kind == "response" or kind.endswith("outputs"):
        _azure_output(b, doc, where)
    else:
        raise _Skip(UNKNOWN_FORMAT, f"Azure ML collection {kind!r}: neither a request/inputs nor a "
                                    "response/outputs collection")


def _correlation(doc: dict[str, Any]) -> str | None:
    value = doc.get("correlationid")
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "" else None


def _azure_input(b: _Builder, doc: dict[str, Any]) -> None:
    data = _azure_data(doc)
    rows = _input_rows(b, data, _azure_text_kind(doc, data)) if isinstance(data, str) else _doc_rows(b, data)
    cid = _correlation(doc)
    ids: list[str | None] = [cid] * len(rows)
    if isinstance(data, list) and len(data) == len(rows):  # a per-row id logged as a column wins
        for i, item in enumerate(data):
            if isinstance(item, dict):
                own = next((item[k] for k in _AZURE_ROW_IDS if isinstance(item.get(k), (str, int))), None)
                if own is not None and not isinstance(own, bool):
                    ids[i] = str(own)
    half = _AzureInput(rows, ids, _timestamp(doc.get("time")))
    outputs = b.azure_outputs.get(cid) if cid is not None else None
    if outputs:
        predictions, _ = outputs.popleft()
        b.add(half.rows, predictions, half.ids, half.when, AZURE_FORMAT)
    elif cid is None:
        b.add(half.rows, [], half.ids, half.when, AZURE_FORMAT)  # nothing to pair it by
    else:
        b.azure_inputs.setdefault(cid, deque()).append(half)


def _azure_output(b: _Builder, doc: dict[str, Any], where: str) -> None:
    data = _azure_data(doc)
    predictions = (_text_predictions(b, data, _azure_text_kind(doc, data)) if isinstance(data, str)
                   else _predictions(data, b.output_name))
    cid = _correlation(doc)
    if cid is None:
        raise _Skip(UNMATCHED_OUTPUT, "no correlationid")
    inputs = b.azure_inputs.get(cid)
    if inputs:
        half = inputs.popleft()
        b.add(half.rows, predictions, half.ids, half.when, AZURE_FORMAT)
    else:
        b.azure_outputs.setdefault(cid, deque()).append((predictions, where))


# -- per line and per file -------------------------------------------------------------------------------
def _record(b: _Builder, doc: object, where: str) -> None:
    if not isinstance(doc, dict):
        raise _Skip(UNKNOWN_FORMAT, f"a line that is a {type(doc).__name__}")
    if "captureData" in doc:
        _sagemaker(b, doc)
    elif "specversion" in doc and str(doc.get("type", "")).startswith(_AZURE_TYPE):
        _azure(b, doc, where)
    elif "request_payload" in doc:
        _vertex(b, doc, "request_payload", "response_payload", "logging_time", "vertex")
    elif "raw_data" in doc:
        _vertex(b, doc, "raw_data", "raw_prediction", "time", "ai-platform")
    elif any(n in doc for n in b.names):
        prediction = [_float(doc[b.output_name])] if b.output_name in doc else [math.nan]
        ident = doc.get(ID_COLUMN)
        b.add([b.row(doc)], prediction, str(ident) if ident is not None else None,
              _timestamp(doc.get(TIMESTAMP_COLUMN)), "rows")
    else:
        keys = ", ".join(sorted(str(k) for k in doc)[:5])
        raise _Skip(UNKNOWN_FORMAT, f"keys [{keys}]")


def _read_jsonl(b: _Builder, stream: IO[bytes], name: str) -> None:
    number = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            b.records += 1
            b.skip(LINE_TOO_LONG, f"{name}:{number}", f"over {MAX_LINE_BYTES} bytes")
            while line and not line.endswith(b"\n"):  # the rest of the line, unread
                line = stream.readline(1 << 20)
            continue
        if not line.strip():
            continue
        b.records += 1
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            b.skip(MALFORMED_JSON, f"{name}:{number}", str(exc))
            continue
        where = f"{name}:{number}"
        try:
            _record(b, doc, where)
        except _Skip as skip:
            b.skip(skip.reason, where, skip.detail)


def _read_table(b: _Builder, path: Path, name: str, parquet: bool) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted = {*b.names, b.output_name, ID_COLUMN, TIMESTAMP_COLUMN}
    if parquet:  # only the columns read: a wide file costs what the features cost
        import pyarrow.parquet as pq

        present = pq.read_schema(path).names
        table = pq.read_table(path, columns=[c for c in present if c in wanted])
        if not table.column_names:
            table = pa.table({"_": pa.nulls(pq.ParquetFile(path).metadata.num_rows)})
    else:
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(path)
        table = table.select([c for c in table.column_names if c in wanted] or table.column_names[:1])
    b.records += table.num_rows
    missing = [n for n in b.names if n not in table.column_names]
    if missing:
        b.skipped[MISSING_FEATURES] += table.num_rows
        kept = b.examples.setdefault(MISSING_FEATURES, [])
        if len(kept) < MAX_EXAMPLES:
            kept.append(f"{name}: no column {', '.join(missing[:5])} ({table.num_rows} rows)")
        return

    def floats(column: str) -> np.ndarray:
        arr = table.column(column)
        try:
            arr = pc.cast(arr, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return np.array([_float(v) for v in arr.to_pylist()], dtype=np.float64)
        return arr.to_numpy(zero_copy_only=False).astype(np.float64)

    n = table.num_rows
    X = np.column_stack([floats(c) for c in b.names]) if b.names else np.empty((n, 0))
    prediction = floats(b.output_name) if b.output_name in table.column_names else np.full(n, math.nan)
    ids: list[Any] = (table.column(ID_COLUMN).cast(pa.string()).to_pylist() if ID_COLUMN in table.column_names
                      else [None] * n)
    times = [_NAT] * n
    if TIMESTAMP_COLUMN in table.column_names:
        col = table.column(TIMESTAMP_COLUMN)
        if pa.types.is_timestamp(col.type):
            times = list(pc.cast(col, pa.timestamp("ms")).to_numpy(zero_copy_only=False).astype("datetime64[ms]"))
        else:
            times = [_timestamp(v) for v in col.to_pylist()]
    b.values.extend(X.tolist())
    b.predictions.extend(prediction.tolist())
    b.ids.extend(ids)
    b.times.extend(times)
    b.formats["parquet" if parquet else "csv"] += n


def _inner_suffix(name: str) -> str:
    """The suffix that says the format: of `x.jsonl.gz` it is `.jsonl`."""
    lowered = name.lower()
    return Path(lowered[:-len(GZIP_SUFFIX)] if lowered.endswith(GZIP_SUFFIX) else lowered).suffix


def _gunzip(b: _Builder, path: Path, name: str, max_file_bytes: int) -> Path | None:
    """Decompress into a temporary file, never more than `max_file_bytes` (a gzip bomb stops there and is
    counted as too large); None when it is over or not gzip at all."""
    fd, tmp = tempfile.mkstemp(suffix=_inner_suffix(name), prefix="modelstage-capture-")
    total = 0
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(path, "rb") as src:
            while chunk := src.read(GZIP_CHUNK_BYTES):
                total += len(chunk)
                if total > max_file_bytes:
                    b.skip(FILE_TOO_LARGE, name, f"over {max_file_bytes} bytes once decompressed", file=True)
                    break
                out.write(chunk)
            else:
                return Path(tmp)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        b.skip(UNREADABLE_FILE, name, f"not a readable gzip file ({exc})", file=True)
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    return None


def _read_file(b: _Builder, path: Path, name: str, size: int, max_file_bytes: int) -> None:
    if size > max_file_bytes:
        b.skip(FILE_TOO_LARGE, name, f"{size} bytes > {max_file_bytes}", file=True)
        return
    if not name.lower().endswith(GZIP_SUFFIX):
        _read_plain(b, path, name, _inner_suffix(name))
        return
    plain = _gunzip(b, path, name, max_file_bytes)
    if plain is not None:
        try:
            _read_plain(b, plain, name, _inner_suffix(name))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(plain)


def _read_plain(b: _Builder, path: Path, name: str, suffix: str) -> None:
    b.files += 1
    try:
        if suffix in CSV_SUFFIXES or suffix in PARQUET_SUFFIXES:
            _read_table(b, path, name, suffix in PARQUET_SUFFIXES)
        else:
            with path.open("rb") as stream:
                _read_jsonl(b, stream, name)
    except OSError as exc:
        b.files -= 1
        b.skip(UNREADABLE_FILE, name, str(exc), file=True)
    except Exception as exc:  # pyarrow's errors on a bad CSV/Parquet file: the file, not the run
        if type(exc).__module__.startswith("pyarrow"):
            b.files -= 1
            b.skip(UNREADABLE_FILE, name, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, file=True)
        else:
            raise


def _wanted(key: str) -> bool:
    return key.lower().endswith(READABLE) or key.lower().endswith(tuple(s + GZIP_SUFFIX for s in READABLE))


# -- sources ---------------------------------------------------------------------------------------------
def _split_url(source: str, scheme: str) -> tuple[str, str]:
    rest = source[len(scheme):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise CaptureError(f"{source}: no bucket in the URL (expected {scheme}bucket/prefix)")
    return bucket, prefix


class _TooLarge(Exception):
    pass


class _Bounded:
    """A file's `write`, refusing to go past `limit` bytes: a download never outgrows the size check."""

    def __init__(self, out: IO[bytes], limit: int) -> None:
        self.out, self.limit, self.written = out, limit, 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        if self.written > self.limit:
            raise _TooLarge
        return self.out.write(data)

    def tell(self) -> int:
        return self.written

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        self.out.flush()


def _spooled(b: _Builder, name: str, key: str, size: int, max_file_bytes: int, download: Any) -> None:
    """Download one object (already size-checked) into a temporary file and read it as a local one."""
    if size > max_file_bytes:
        b.skip(FILE_TOO_LARGE, name, f"{size} bytes > {max_file_bytes}", file=True)
        return
    suffix = Path(key).suffix
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix="modelstage-capture-")
    try:
        with os.fdopen(fd, "wb") as raw:
            out = _Bounded(raw, max_file_bytes)
            try:
                download(out)
            except _TooLarge:  # it grew after it was listed (someone else's bucket): the limit still holds
                b.skip(FILE_TOO_LARGE, name, f"over {max_file_bytes} bytes while downloading", file=True)
                return
        _read_file(b, Path(tmp), name, out.written, max_file_bytes)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _read_s3(b: _Builder, source: str, max_file_bytes: int, s3_client: Any, endpoint_url: str | None) -> None:
    bucket, prefix = _split_url(source, "s3://")
    client = s3_client
    if client is None:
        import boto3

        url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        client = boto3.client("s3", endpoint_url=url) if url else boto3.client("s3")
    import botocore.exceptions

    objects: list[tuple[str, int]] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects.extend((o["Key"], int(o["Size"])) for o in page.get("Contents", []))
    except botocore.exceptions.ClientError as exc:
        raise CaptureError(f"{source}: cannot list objects: {exc}") from None
    for key, size in sorted(objects):
        if key.endswith("/") or not (_wanted(key) or key == prefix):
            continue
        name = f"s3://{bucket}/{key}"

        def download(out: IO[bytes], key: str = key) -> None:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
            for chunk in body.iter_chunks(1 << 20):
                out.write(chunk)

        try:
            _spooled(b, name, key, size, max_file_bytes, download)
        except botocore.exceptions.ClientError as exc:
            b.skip(UNREADABLE_FILE, name, str(exc), file=True)


def _read_gcs(b: _Builder, source: str, max_file_bytes: int, gcs_client: Any) -> None:
    bucket_name, prefix = _split_url(source, "gs://")
    client = gcs_client
    if client is None:
        from google.cloud import storage

        if os.environ.get("STORAGE_EMULATOR_HOST"):
            from google.auth.credentials import AnonymousCredentials

            client = storage.Client(project="modelstage", credentials=AnonymousCredentials())
        else:
            client = storage.Client()
    from google.api_core import exceptions as gexc

    try:
        blobs = sorted(client.list_blobs(bucket_name, prefix=prefix or None), key=lambda blob: blob.name)
    except gexc.GoogleAPIError as exc:
        raise CaptureError(f"{source}: cannot list objects: {exc}") from None
    for blob in blobs:
        key = blob.name
        if key.endswith("/") or not (_wanted(key) or key == prefix):
            continue
        name = f"gs://{bucket_name}/{key}"
        try:
            _spooled(b, name, key, int(blob.size or 0), max_file_bytes, blob.download_to_file)
        except gexc.GoogleAPIError as exc:
            b.skip(UNREADABLE_FILE, name, str(exc), file=True)


def _read_local(b: _Builder, source: str, max_file_bytes: int) -> None:
    root = Path(source)
    if root.is_file():
        _read_file(b, root, str(root), root.stat().st_size, max_file_bytes)
        return
    if not root.is_dir():
        raise CaptureError(f"{source}: no such file or folder")
    for path in sorted(p for p in root.rglob("*") if p.is_file() and _wanted(p.name)):
        try:
            size = path.stat().st_size
        except OSError as exc:
            b.skip(UNREADABLE_FILE, str(path), str(exc), file=True)
            continue
        _read_file(b, path, str(path), size, max_file_bytes)


def _read_azure(b: _Builder, source: str, max_file_bytes: int, azure_client: Any) -> None:
    try:
        location = capture_azure.parse(source)
        client = azure_client or capture_azure.container_client(location, source)
    except capture_azure.AzureSourceError as exc:
        raise CaptureError(str(exc)) from None
    from azure.core.exceptions import AzureError

    prefix = location.prefix
    try:
        listed = client.list_blobs(name_starts_with=prefix or None)
        blobs = sorted((blob.name, int(blob.size or 0)) for blob in listed)
    except AzureError as exc:
        raise CaptureError(f"{location.name(prefix)}: cannot list blobs: {_azure_reason(exc)}") from None
    for key, size in blobs:
        if key.endswith("/") or not (_wanted(key) or key == prefix):
            continue
        name = location.name(key)

        def download(out: IO[bytes], key: str = key) -> None:
            client.download_blob(key).readinto(out)

        try:
            _spooled(b, name, key, size, max_file_bytes, download)
        except AzureError as exc:
            b.skip(UNREADABLE_FILE, name, _azure_reason(exc), file=True)


def _azure_reason(exc: Exception) -> str:
    """The first line of an Azure SDK error (its message carries the whole HTTP exchange after that)."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def read_captures(source: str, feature_names: Sequence[str], output_name: str, *,
                  max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, endpoint_url: str | None = None,
                  s3_client: Any = None, gcs_client: Any = None, azure_client: Any = None) -> CaptureTable:
    """Read every capture under `source` into a CaptureTable (see the module docstring).

    `endpoint_url` (else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL) points boto3 at another S3;
    `s3_client` / `gcs_client` / `azure_client` (a ContainerClient) inject ready clients. GCS honours
    STORAGE_EMULATOR_HOST; Azure's URL forms and credentials are in model/capture_azure.py."""
    b = _Builder(feature_names, output_name)
    if capture_azure.is_azure(source):
        _read_azure(b, source, max_file_bytes, azure_client)
    elif source.startswith("s3://"):
        _read_s3(b, source, max_file_bytes, s3_client, endpoint_url)
    elif source.startswith("gs://"):
        _read_gcs(b, source, max_file_bytes, gcs_client)
    elif "://" in source:
        raise CaptureError(f"{source}: unsupported URL: expected a local path, s3://, gs:// or an Azure blob "
                           "URL (https://<account>.blob.core.windows.net/<container>/<prefix>, az://)")
    else:
        _read_local(b, source, max_file_bytes)
    b.finish()
    return b.table()
