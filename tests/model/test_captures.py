"""Reading captured traffic (model/captures.py): the runtime's own capture files, SageMaker data
capture records (CSV, JSON, multi-row, BASE64), Vertex request-response logging exported from
BigQuery, plain CSV/Parquet, skipped records counted by reason, and the same files from moto's S3
and the GCS emulator."""

from __future__ import annotations

import base64
import gzip
import json
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer

from container.runtime.capture import Capture, CaptureSettings
from container.runtime.capture_record import line as capture_line
from model.captures import (
    FILE_TOO_LARGE,
    MALFORMED_JSON,
    MISSING_FEATURES,
    UNKNOWN_FORMAT,
    UNREADABLE_FILE,
    WRONG_WIDTH,
    CaptureError,
    CaptureTable,
    read_captures,
)
from tests.gcs import gcs_emulator

NAMES = ["sqft", "bedrooms", "age"]
OUT = "price"
REGION = "eu-west-1"


def side(data: str, encoding: str, content_type: str, mode: str) -> dict[str, str]:
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def sagemaker(inp: dict[str, str], out: dict[str, str], event_id: str, inference_id: str | None = None,
              when: str = "2026-12-03T07:45:01Z") -> str:
    meta: dict[str, str] = {"eventId": event_id, "inferenceTime": when}
    if inference_id is not None:
        meta["inferenceId"] = inference_id
    return json.dumps({"captureData": {"endpointInput": inp, "endpointOutput": out}, "eventMetadata": meta,
                       "eventVersion": "0"})


def sagemaker_lines() -> list[str]:
    b64_in = base64.b64encode(b'{"instances": [[900, 2, 30]]}').decode()
    b64_out = base64.b64encode(b'{"predictions": [150000.0]}').decode()
    return [
        # CSV, one row, client inference id
        sagemaker(side("1200,3,2", "CSV", "text/csv", "INPUT"), side("277577.88\n", "CSV", "text/csv", "OUTPUT"),
                  "e1", "client-1"),
        # CSV, two rows with a header, JSON output
        sagemaker(side("sqft,bedrooms,age\n1000,2,5\n2000,4,1", "CSV", "text/csv", "INPUT"),
                  side('{"predictions": [200000, 400000]}', "JSON", "application/json", "OUTPUT"), "e2"),
        # JSON {"input": row} keyed by name, named output
        sagemaker(side('{"input": {"sqft": 1500, "bedrooms": 3, "age": 10}}', "JSON", "application/json", "INPUT"),
                  side('{"price": 300000.5}', "JSON", "application/json", "OUTPUT"), "e3", "client-3"),
        # JSON list of rows
        sagemaker(side("[[1, 2, 3], [4, 5, 6], [7, 8, null]]", "JSON", "application/json", "INPUT"),
                  side("[10, 20, 30]", "JSON", "application/json", "OUTPUT"), "e4"),
        # BASE64 (content type not declared as JSON/CSV to the capture config)
        sagemaker(side(b64_in, "BASE64", "application/json", "INPUT"),
                  side(b64_out, "BASE64", "application/json", "OUTPUT"), "e5",
                  when="2026-12-03T08:00:00Z"),
        # JSON Lines body (Batch Transform style): one prediction object per line
        sagemaker(side('{"input": [11, 1, 1]}\n{"input": [22, 2, 2]}\n', "JSON", "application/jsonlines", "INPUT"),
                  side('{"price": 1.5}\n{"price": 2.5}\n', "JSON", "application/jsonlines", "OUTPUT"), "e6"),
    ]


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def by_id(table: CaptureTable) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, ident in enumerate(table.inference_id):
        out.setdefault(str(ident), []).append(i)
    return out


# -- SageMaker data capture ----------------------------------------------------------------------------
def test_sagemaker_records_csv_json_multirow_base64(tmp_path: Path) -> None:
    path = write(tmp_path / "AllTraffic" / "2026" / "12" / "03" / "07" / "a.jsonl", sagemaker_lines())
    table = read_captures(str(tmp_path), NAMES, OUT)
    assert (table.files, table.records, table.rows, table.skipped_records, table.unpaired) == (1, 6, 10, 0, 0)
    ids = by_id(table)
    assert table.X[ids["client-1"][0]].tolist() == [1200, 3, 2]
    assert table.prediction[ids["client-1"][0]] == pytest.approx(277577.88)
    assert table.X[ids["e2"]].tolist() == [[1000, 2, 5], [2000, 4, 1]]
    assert table.prediction[ids["e2"]].tolist() == [200000, 400000]
    assert table.prediction[ids["client-3"][0]] == 300000.5 and table.X[ids["client-3"][0]].tolist() == [1500, 3, 10]
    e4 = table.X[ids["e4"]]
    assert e4[:2].tolist() == [[1, 2, 3], [4, 5, 6]] and math.isnan(e4[2, 2])
    assert table.prediction[ids["e4"]].tolist() == [10, 20, 30]
    assert table.X[ids["e5"][0]].tolist() == [900, 2, 30] and table.prediction[ids["e5"][0]] == 150000
    assert table.timestamp[ids["e5"][0]] == np.datetime64("2026-12-03T08:00:00", "ms")
    assert table.timestamp[ids["client-1"][0]] == np.datetime64("2026-12-03T07:45:01", "ms")
    assert table.X[ids["e6"]].tolist() == [[11, 1, 1], [22, 2, 2]]
    assert table.prediction[ids["e6"]].tolist() == [1.5, 2.5]
    assert table.formats["sagemaker"] == 6
    assert read_captures(str(path), NAMES, OUT).rows == 10  # one file given directly


def test_the_runtimes_own_capture_files(tmp_path: Path) -> None:
    """Records written by container/runtime/capture.py's writer, in its folder layout."""
    capture = Capture(CaptureSettings(directory=str(tmp_path / "cap")))
    assert capture.put_nowait("client-a", None, "text/csv", b"1200,3,2\n800,1,40", "text/csv", b"1.0\n2.0\n")
    assert capture.put_nowait(None, "ev-b", "application/json", b'{"input": [5, 6, 7]}', "application/json",
                              b'{"price": 3.0}')
    assert capture.put_nowait(None, "ev-c", "application/octet-stream", b"\xff\xfe", "application/json", b"{}")
    capture.close()
    files = list((tmp_path / "cap").rglob("*.jsonl"))
    assert len(files) == 1 and capture.records == 3
    table = read_captures(str(tmp_path / "cap"), NAMES, OUT)
    assert (table.records, table.rows) == (3, 3)
    assert table.skipped == {"undecodable data": 1}  # a binary body: counted, not dropped silently
    ids = by_id(table)
    assert table.X[ids["client-a"]].tolist() == [[1200, 3, 2], [800, 1, 40]]
    assert table.prediction[ids["client-a"]].tolist() == [1.0, 2.0]
    assert table.X[ids["ev-b"]].tolist() == [[5, 6, 7]] and table.prediction[ids["ev-b"]].tolist() == [3.0]
    assert not np.isnat(table.timestamp).any()
    # and capture_record.line, the function the writer uses, on its own
    line = capture_line((0.0, None, "ev-d", "text/csv", b"1,2,3", "text/csv", b"9\n", 7), b"2026-12-03T00:00:00Z",
                 lambda: "unused")
    write(tmp_path / "one" / "x.jsonl", [line.decode().strip()])
    one = read_captures(str(tmp_path / "one"), NAMES, OUT)
    assert one.X.tolist() == [[1, 2, 3]] and one.prediction.tolist() == [9] and one.inference_id.tolist() == ["ev-d"]


def test_bad_records_are_counted_by_reason(tmp_path: Path) -> None:
    lines = [
        sagemaker_lines()[0],
        '{"captureData": {"endpointInput": ',  # malformed JSON
        '{"something": "else"}',  # unknown format
        sagemaker(side('{"input": {"sqft": 1}}', "JSON", "application/json", "INPUT"),
                  side("{}", "JSON", "application/json", "OUTPUT"), "m"),  # missing features
        sagemaker(side("1,2", "CSV", "text/csv", "INPUT"), side("1", "CSV", "text/csv", "OUTPUT"), "w"),  # width
        "",
        sagemaker(side("[1, 2, 3]", "JSON", "application/json", "INPUT"),
                  side('{"error": "x"}', "JSON", "application/json", "OUTPUT"), "nopred"),
    ]
    write(tmp_path / "c.jsonl", lines)
    table = read_captures(str(tmp_path), NAMES, OUT)
    assert table.records == 6 and table.rows == 2
    assert table.skipped == {MALFORMED_JSON: 1, UNKNOWN_FORMAT: 1, MISSING_FEATURES: 1, WRONG_WIDTH: 1}
    assert "c.jsonl:2" in table.examples[MALFORMED_JSON][0]
    assert "age" in table.examples[MISSING_FEATURES][0]
    assert math.isnan(table.prediction[by_id(table)["nopred"][0]])  # the row kept, the prediction unknown
    assert table.unpaired == 1 and "1 records without a prediction" in table.summary()
    assert "skipped records" in table.summary()


def test_files_over_the_size_limit_are_skipped_and_counted(tmp_path: Path) -> None:
    write(tmp_path / "small.jsonl", sagemaker_lines()[:1])
    write(tmp_path / "big.jsonl", sagemaker_lines() * 50)
    table = read_captures(str(tmp_path), NAMES, OUT, max_file_bytes=2000)
    assert table.files == 1 and table.rows == 1 and table.skipped_files == {FILE_TOO_LARGE: 1}
    assert "big.jsonl" in table.examples[FILE_TOO_LARGE][0]


# -- Vertex AI request-response logging (BigQuery export) -----------------------------------------------
def vertex_lines() -> list[str]:
    """Rows of the request_response_logging table (endpoint, deployed_model_id, logging_time,
    request_id, request_payload REPEATED STRING, response_payload REPEATED STRING), as
    `bq extract --destination_format NEWLINE_DELIMITED_JSON` writes them."""
    endpoint = "projects/1/locations/europe-west4/endpoints/42"
    return [
        json.dumps({"endpoint": endpoint, "deployed_model_id": "7", "logging_time": "2026-12-03 07:45:01.123456 UTC",
                    "request_id": "101", "request_payload": [json.dumps([1200, 3, 2]), json.dumps([900, 2, 30])],
                    "response_payload": [json.dumps(277577.88), json.dumps(150000.0)]}),
        json.dumps({"endpoint": endpoint, "deployed_model_id": "7", "logging_time": "2026-12-03T08:00:00Z",
                    "request_id": "102",
                    "request_payload": [json.dumps({"sqft": 1500, "bedrooms": 3, "age": 10})],
                    "response_payload": [json.dumps({"price": 300000.0})]}),
        json.dumps({"endpoint": endpoint, "deployed_model_id": "7", "logging_time": "2026-12-03T09:00:00Z",
                    "request_id": "103", "request_payload": [json.dumps([1, 2])], "response_payload": ["1"]}),
    ]


def test_vertex_bigquery_export(tmp_path: Path) -> None:
    write(tmp_path / "vertex.jsonl", vertex_lines())
    table = read_captures(str(tmp_path), NAMES, OUT)
    assert (table.records, table.rows) == (3, 3) and table.skipped == {WRONG_WIDTH: 1}
    assert table.X.tolist() == [[1200, 3, 2], [900, 2, 30], [1500, 3, 10]]
    assert table.prediction.tolist() == pytest.approx([277577.88, 150000.0, 300000.0])
    assert table.inference_id.tolist() == [None, None, None]
    assert table.timestamp[0] == np.datetime64("2026-12-03T07:45:01.123", "ms")
    assert table.formats["vertex"] == 2


def test_legacy_ai_platform_rows_plain_jsonl_and_long_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import model.captures as captures

    write(tmp_path / "mixed.jsonl", [
        json.dumps({"model": "m", "model_version": "v1", "time": "2026-12-03T07:00:00Z",
                    "raw_data": json.dumps({"instances": [[1, 2, 3], [4, 5, 6]]}),
                    "raw_prediction": json.dumps({"predictions": [7, 8]})}),
        json.dumps({"sqft": 9, "bedrooms": 8, "age": 7, "price": 6, "inference_id": "p1"}),
        json.dumps({"sqft": 1, "bedrooms": 1, "age": 1, "pad": "x" * 400}),
    ])
    monkeypatch.setattr(captures, "MAX_LINE_BYTES", 300)
    table = read_captures(str(tmp_path), NAMES, OUT)
    assert table.X.tolist() == [[1, 2, 3], [4, 5, 6], [9, 8, 7]] and table.prediction.tolist() == [7, 8, 6]
    assert table.inference_id.tolist() == [None, None, "p1"]
    assert table.records == 3 and table.skipped == {captures.LINE_TOO_LONG: 1}
    assert dict(table.formats) == {"ai-platform": 1, "rows": 1}


# -- plain CSV / Parquet ---------------------------------------------------------------------------------
def write_tables(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rows.csv").write_text("sqft,bedrooms,age,price,timestamp,inference_id\n"
                                     "1000,2,5,100.5,2026-12-03T07:00:00Z,r1\n"
                                     "2000,,1,,2026-12-03T08:00:00Z,r2\n")
    pq.write_table(pa.table({"sqft": [3000.0], "bedrooms": [5], "age": [2], "extra": ["x"]}), folder / "rows.parquet")
    (folder / "other.csv").write_text("a,b\n1,2\n")  # no feature columns
    pq.write_table(pa.table({"a": [1, 2]}), folder / "other.parquet")  # nor here
    (folder / "notes.txt").write_text("not a capture")  # not read


def test_csv_and_parquet(tmp_path: Path) -> None:
    write_tables(tmp_path)
    table = read_captures(str(tmp_path), NAMES, OUT)
    assert table.files == 4 and table.records == 6 and table.rows == 3
    assert table.skipped == {MISSING_FEATURES: 3}
    order = np.argsort(table.X[:, 0])
    X, pred = table.X[order], table.prediction[order]
    assert X[0].tolist() == [1000, 2, 5] and math.isnan(X[1, 1]) and X[2].tolist() == [3000, 5, 2]
    assert pred[0] == 100.5 and math.isnan(pred[1]) and math.isnan(pred[2])
    assert sorted(str(i) for i in table.inference_id) == ["None", "r1", "r2"]
    assert np.datetime64("2026-12-03T07:00:00", "ms") in table.timestamp
    arrow = table.to_arrow()
    assert arrow.num_rows == 3 and arrow.column_names == [*NAMES, OUT, "inference_id", "timestamp"]


def test_unsupported_sources(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="resolved by the workspace; give the blob URL"):
        read_captures("azureml://datastores/workspaceblobstore/paths/modelDataCollector", NAMES, OUT)
    with pytest.raises(CaptureError, match="no such file"):
        read_captures(str(tmp_path / "missing"), NAMES, OUT)
    for url in ("ftp://x/y", "https://example.com/captures/"):
        with pytest.raises(CaptureError, match="unsupported URL: expected a local path, s3://, gs:// or an Azure"):
            read_captures(url, NAMES, OUT)


# -- the same files from S3 (moto) and GCS (the emulator) ----------------------------------------------
def fixture_files(folder: Path) -> Path:
    write(folder / "ep" / "AllTraffic" / "2026" / "12" / "03" / "07" / "a.jsonl", sagemaker_lines())
    write(folder / "vertex" / "v.jsonl", vertex_lines())
    write_tables(folder / "tables")
    return folder


def local_expectation(folder: Path) -> CaptureTable:
    return read_captures(str(folder), NAMES, OUT)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def same(a: CaptureTable, b: CaptureTable) -> None:
    assert (a.rows, a.records, a.files, dict(a.skipped)) == (b.rows, b.records, b.files, dict(b.skipped))
    key = np.lexsort(a.X.T[::-1])
    key_b = np.lexsort(b.X.T[::-1])
    np.testing.assert_array_equal(a.X[key], b.X[key_b])
    np.testing.assert_array_equal(a.prediction[key], b.prediction[key_b])


def test_from_s3(tmp_path: Path, moto_url: str, aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = fixture_files(tmp_path / "src")
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name=REGION)
    s3.create_bucket(Bucket="captures", CreateBucketConfiguration={"LocationConstraint": REGION})
    for path in folder.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), "captures", f"datacapture/{path.relative_to(folder)}")
    expected = local_expectation(folder)
    same(read_captures("s3://captures/datacapture", NAMES, OUT, endpoint_url=moto_url), expected)
    same(read_captures("s3://captures/datacapture/", NAMES, OUT, s3_client=s3), expected)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)
    only = read_captures("s3://captures/datacapture/vertex/v.jsonl", NAMES, OUT)
    assert only.rows == 3 and only.skipped == {WRONG_WIDTH: 1}
    small = read_captures("s3://captures/datacapture/ep", NAMES, OUT, max_file_bytes=100)
    assert small.rows == 0 and small.skipped_files == {FILE_TOO_LARGE: 1}
    with pytest.raises(CaptureError, match="cannot list"):
        read_captures("s3://no-such-bucket/x", NAMES, OUT)


def test_from_gcs(tmp_path: Path) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    folder = fixture_files(tmp_path / "src")
    with gcs_emulator():
        client = storage.Client(project="test", credentials=AnonymousCredentials())
        bucket = client.create_bucket("captures")
        for path in folder.rglob("*"):
            if path.is_file():
                bucket.blob(f"logs/{path.relative_to(folder)}").upload_from_filename(str(path))
        expected = local_expectation(folder)
        same(read_captures("gs://captures/logs", NAMES, OUT), expected)
        same(read_captures("gs://captures/logs/", NAMES, OUT, gcs_client=client), expected)
        small = read_captures("gs://captures/logs/vertex", NAMES, OUT, max_file_bytes=10)
        assert small.rows == 0 and small.skipped_files == {FILE_TOO_LARGE: 1}


# -- gzipped files ------------------------------------------------------------------------------------------
def _gzip(path: Path) -> Path:
    out = path.with_name(path.name + ".gz")
    out.write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    return out


def test_gzipped_files_read_like_plain_ones(tmp_path: Path) -> None:
    plain = fixture_files(tmp_path / "plain")
    zipped = fixture_files(tmp_path / "zipped")
    for path in [p for p in zipped.rglob("*") if p.is_file()]:
        _gzip(path)
    assert {p.suffix for p in zipped.rglob("*") if p.is_file()} == {".gz"}
    same(read_captures(str(zipped), NAMES, OUT), local_expectation(plain))


def test_a_gzip_bomb_stops_at_the_size_limit(tmp_path: Path) -> None:
    """200 MB of one repeated record, about 0.3 MB compressed: read no further than the limit."""
    line = (sagemaker_lines()[0] + "\n").encode()
    bomb = tmp_path / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as out:
        block = line * (1_000_000 // len(line))
        for _ in range(200):
            out.write(block)
    assert bomb.stat().st_size < 2_000_000
    table = read_captures(str(tmp_path), NAMES, OUT, max_file_bytes=4 << 20)
    assert table.rows == 0 and table.skipped_files == {FILE_TOO_LARGE: 1}
    assert "once decompressed" in table.examples[FILE_TOO_LARGE][0]
    assert not list(Path(tempfile.gettempdir()).glob("modelstage-capture-*.jsonl"))  # nothing left behind


def test_a_broken_gzip_file_is_counted_not_fatal(tmp_path: Path) -> None:
    write(tmp_path / "ok.jsonl", sagemaker_lines()[:1])
    (tmp_path / "broken.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    rows = "sqft,bedrooms,age\n" + "".join(f"{i},{i % 7},{i % 50}\n" for i in range(5000))
    whole = gzip.compress(rows.encode())
    (tmp_path / "cut.csv.gz").write_bytes(whole[:len(whole) // 2])  # the end-of-stream marker is missing
    table = read_captures(str(tmp_path), NAMES, OUT)
    assert table.rows == 1 and table.skipped_files == {UNREADABLE_FILE: 2}


def test_gzipped_captures_from_s3(tmp_path: Path, moto_url: str, aws_credentials: None) -> None:
    path = _gzip(write(tmp_path / "a.jsonl", sagemaker_lines()))
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name=REGION)
    s3.create_bucket(Bucket="zipped", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.upload_file(str(path), "zipped", "capture/2026/12/03/07/a.jsonl.gz")
    got = read_captures("s3://zipped/capture", NAMES, OUT, s3_client=s3)
    expected = read_captures(str(write(tmp_path / "b.jsonl", sagemaker_lines())), NAMES, OUT)
    same(got, expected)
