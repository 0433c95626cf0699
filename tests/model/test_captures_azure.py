"""Azure ML data collection read by model/captures.py, and Azure blob URLs (model/capture_azure.py):
the record shapes of Microsoft's "Collect production data" page (payload logging's request/response,
custom logging's model_inputs/model_outputs, batched records, per-row ids, payloads stored elsewhere),
the URL forms, and the same files from a real Azurite, uploaded with the vendor's own client."""

from __future__ import annotations

import gzip
import json
import math
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from model.capture_azure import AzureLocation, parse
from model.captures import (
    AZURE_FORMAT,
    FILE_TOO_LARGE,
    PAYLOAD_ELSEWHERE,
    UNKNOWN_FORMAT,
    UNMATCHED_OUTPUT,
    CaptureError,
    CaptureTable,
    read_captures,
)
from tests.azurite import ACCOUNT, ACCOUNT_KEY, azurite

NAMES = ["sqft", "bedrooms", "age"]
OUT = "price"
SOURCE = ("/subscriptions/0000/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/"
          "onlineEndpoints/ep/deployments/blue")


def event(kind: str, data: object, cid: str | None, when: str = "2026-12-03T08:59:48Z", **extra: object) -> str:
    doc: dict[str, object] = {"specversion": "1.0", "id": f"id-{kind}-{cid}", "source": SOURCE,
                              "type": f"azureml.inference.{kind}", "datacontenttype": "application/json",
                              "time": when, "data": data}
    if cid is not None:
        doc["correlationid"] = doc["xrequestid"] = cid
    doc.update(extra)
    return json.dumps(doc)


def write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def payload_logging(root: Path) -> None:
    """The collector's layout: <endpoint>/<deployment>/<collection>/<yyyy>/<MM>/<dd>/<HH>/<instance>.jsonl.
    Responses come in another order than their requests."""
    write(root / "ep" / "blue" / "request" / "2026" / "12" / "03" / "08" / "i1.jsonl", [
        event("request", {"data": [[1000, 2, 5], [2000, 4, 1]]}, "c1"),
        event("request", {"input": {"sqft": 1500, "bedrooms": 3, "age": 10}}, "c2", "2026-12-03T09:10:00Z"),
        event("request", "1200,3,2\n", "c3", datacontenttype="text/csv"),
    ])
    write(root / "ep" / "blue" / "response" / "2026" / "12" / "03" / "08" / "i1.jsonl", [
        event("response", {"price": 300000.5}, "c2"),
        event("response", [11055.97, 4503.07], "c1"),
        event("response", {"predictions": [277577.88]}, "c3"),
    ])


def custom_logging(root: Path) -> None:
    """model_inputs/model_outputs DataFrame records: two requests batched into one record (one
    correlationid) with their own ids logged as a column, and a one-column output named "0"."""
    write(root / "ep" / "blue" / "model_inputs" / "2026" / "12" / "03" / "10" / "a.jsonl", [
        event("model_inputs", [{"sqft": 900, "bedrooms": 2, "age": 30, "correlationid": "row-1"},
                               {"sqft": 950, "bedrooms": 2, "age": 31, "correlationid": "row-2"}], "batch",
              "2026-12-03T10:00:00Z", collectdatatype="pandas.core.frame.DataFrame",
              agent="azureml-ai-monitoring/0.1.0b4"),
        event("model_inputs", [{"sqft": 700, "bedrooms": 1, "age": 50}], "single", "2026-12-03T10:05:00Z"),
    ])
    write(root / "ep" / "blue" / "model_outputs" / "2026" / "12" / "03" / "10" / "a.jsonl", [
        event("model_outputs", [{"price": 1.5}, {"price": 2.5}], "batch"),
        event("model_outputs", [{"0": 7.0}], "single"),
    ])


def by_id(table: CaptureTable) -> dict[str | None, tuple[list[float], float]]:
    return {i: (list(x), float(p)) for i, x, p in zip(table.inference_id, table.X, table.prediction, strict=True)}


def test_payload_logging_pairs_requests_and_responses_by_correlationid(tmp_path: Path) -> None:
    payload_logging(tmp_path)
    table = read_captures(str(tmp_path / "ep" / "blue"), NAMES, OUT)
    assert (table.rows, table.records, table.files, table.skipped_records) == (4, 6, 2, 0)
    assert table.formats[AZURE_FORMAT] == 3 and table.unpaired == 0
    assert list(table.inference_id) == ["c2", "c1", "c1", "c3"]  # paired as the responses arrive
    assert table.X.tolist() == [[1500, 3, 10], [1000, 2, 5], [2000, 4, 1], [1200, 3, 2]]
    assert table.prediction.tolist() == [300000.5, 11055.97, 4503.07, 277577.88]
    assert table.timestamp[0] == np.datetime64("2026-12-03T09:10:00", "ms")  # the request's time


def test_custom_logging_batched_records_and_row_ids(tmp_path: Path) -> None:
    custom_logging(tmp_path)
    table = read_captures(str(tmp_path), NAMES, OUT)
    assert by_id(table) == {"row-1": ([900, 2, 30], 1.5), "row-2": ([950, 2, 31], 2.5),
                            "single": ([700, 1, 50], 7.0)}
    assert table.skipped_records == 0 and table.unpaired == 0


def test_unpaired_and_unusable_azure_records_are_counted(tmp_path: Path) -> None:
    write(tmp_path / "x.jsonl", [
        event("model_outputs", [{"price": 1.0}], "lonely-output"),
        event("model_inputs", [{"sqft": 1, "bedrooms": 1, "age": 1}], "lonely-input"),
        event("model_inputs", [{"sqft": 2, "bedrooms": 2, "age": 2}, {"sqft": 3, "bedrooms": 3, "age": 3}], "short"),
        event("model_outputs", [{"price": 9.0}], "short"),  # one prediction for two rows: cannot pair them
        event("request", "https://acct.blob.core.windows.net/modeldata/mdc/x", "big", datainblob="true"),
        event("signals", {"a": 1}, "s"),
        event("response", [1.0], None),
    ])
    table = read_captures(str(tmp_path), NAMES, OUT)
    assert table.records == 7 and table.rows == 3 and table.unpaired == 2
    assert math.isnan(table.prediction[0]) and all(math.isnan(p) for p in table.prediction)
    assert dict(table.skipped) == {UNMATCHED_OUTPUT: 2, PAYLOAD_ELSEWHERE: 1, UNKNOWN_FORMAT: 1}
    assert any("x.jsonl:1" in e for e in table.examples[UNMATCHED_OUTPUT])
    assert "collection 'signals'" in table.examples[UNKNOWN_FORMAT][0]


@pytest.mark.parametrize(("url", "expected"), [
    ("https://acct01.blob.core.windows.net/insights/ep/blue?sv=2024&sig=x",
     AzureLocation("https://acct01.blob.core.windows.net", "acct01", "insights", "ep/blue", "sv=2024&sig=x")),
    ("https://acct01.blob.core.chinacloudapi.cn/insights",
     AzureLocation("https://acct01.blob.core.chinacloudapi.cn", "acct01", "insights", "")),
    ("http://127.0.0.1:10000/devstoreaccount1/captures/a/b",
     AzureLocation("http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1", "captures", "a/b")),
    ("wasbs://insights@acct01.blob.core.windows.net/ep",
     AzureLocation("https://acct01.blob.core.windows.net", "acct01", "insights", "ep")),
    ("abfss://insights@acct01.dfs.core.windows.net/ep/blue",
     AzureLocation("https://acct01.blob.core.windows.net", "acct01", "insights", "ep/blue")),
    ("az://azureml-blobstore-1234/modelDataCollector", AzureLocation(None, None, "azureml-blobstore-1234",
                                                                     "modelDataCollector")),
])
def test_azure_url_forms(url: str, expected: AzureLocation) -> None:
    assert parse(url) == expected


@pytest.mark.parametrize(("url", "message"), [
    ("az://ab/x", "'ab' is not a container name (expected 3-63 lower-case"),
    ("az://Bad_Name/x", "'Bad_Name' is not a container name"),
    ("https://acct01.blob.core.windows.net/a--b/x", "'a--b' is not a container name"),
    ("https://acct01.blob.core.windows.net/", "no container in the URL"),
    ("http://127.0.0.1:10000/devstoreaccount1", "expected http://127.0.0.1:10000/<account>/<container>/<prefix>"),
    ("wasbs://insights@acct01.example.com/x", "expected wasbs://<container>@<account>.blob.core.windows.net"),
])
def test_bad_azure_urls_are_refused_by_name(url: str, message: str) -> None:
    with pytest.raises(CaptureError, match=re.escape(message)):
        read_captures(url, NAMES, OUT)


def test_az_urls_need_an_account(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(CaptureError, match="az:// needs AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT"):
        read_captures("az://captures/x", NAMES, OUT)


# -- the same files from Azurite ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def blob_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Azurite with container `captures` holding both collections under modelDataCollector/, as the
    workspace blob store lays them out; yields the connection string and the local copy."""
    from azure.storage.blob import BlobServiceClient

    local = tmp_path_factory.mktemp("azure")
    payload_logging(local)
    custom_logging(local)
    with azurite() as connection_string:
        service = BlobServiceClient.from_connection_string(connection_string)
        container = service.create_container("captures")
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            with path.open("rb") as data:
                container.upload_blob(f"modelDataCollector/{path.relative_to(local)}", data)
        yield connection_string, local


def same(a: CaptureTable, b: CaptureTable) -> None:
    assert (a.rows, a.records, a.files, dict(a.skipped)) == (b.rows, b.records, b.files, dict(b.skipped))
    rows = [sorted((str(i), x.tolist(), repr(float(p))) for i, x, p in zip(t.inference_id, t.X, t.prediction,
                                                                            strict=True)) for t in (a, b)]
    assert rows[0] == rows[1]  # repr: NaN predictions compare equal


def port_of(connection_string: str) -> int:
    return int(connection_string.split("BlobEndpoint=http://127.0.0.1:", 1)[1].split("/", 1)[0])


def test_az_url_with_a_connection_string(blob_store: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    connection_string, local = blob_store
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string)
    table = read_captures("az://captures/modelDataCollector/ep/blue", NAMES, OUT)
    same(table, read_captures(str(local / "ep" / "blue"), NAMES, OUT))
    assert table.rows == 7


def test_blob_url_with_a_key_or_a_sas(blob_store: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    connection_string, local = blob_store
    expected = read_captures(str(local / "ep" / "blue" / "request"), NAMES, OUT)
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    url = f"http://127.0.0.1:{port_of(connection_string)}/{ACCOUNT}/captures/modelDataCollector/ep/blue/request"
    monkeypatch.setenv("AZURE_STORAGE_KEY", ACCOUNT_KEY)
    same(read_captures(url, NAMES, OUT), expected)
    monkeypatch.delenv("AZURE_STORAGE_KEY")
    sas = generate_container_sas(ACCOUNT, "captures", account_key=ACCOUNT_KEY,
                                 permission=ContainerSasPermissions(read=True, list=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=1))
    same(read_captures(f"{url}?{sas}", NAMES, OUT), expected)
    missing = url.replace("/captures/", "/other-container/")
    with pytest.raises(CaptureError, match="other-container/modelDataCollector") as caught:
        read_captures(f"{missing}?{sas}", NAMES, OUT)
    assert "sig=" not in str(caught.value)  # a SAS is a secret: never in a message


def test_azure_failures_are_one_clear_line(blob_store: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    connection_string, _ = blob_store
    port = port_of(connection_string)
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("AZURE_STORAGE_KEY", "d3Jvbmcta2V5")  # base64 of "wrong-key"
    with pytest.raises(CaptureError, match=r"cannot list blobs: .*(authenticat|[Ss]ignature)"):
        read_captures(f"http://127.0.0.1:{port}/{ACCOUNT}/captures/x", NAMES, OUT)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string)
    with pytest.raises(CaptureError, match=r"az://missing-container/x: cannot list blobs: .*container"):
        read_captures("az://missing-container/x", NAMES, OUT)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string.replace(str(port), "1"))
    started = time.monotonic()
    with pytest.raises(CaptureError, match="cannot list blobs"):
        read_captures("az://captures/x", NAMES, OUT)
    assert time.monotonic() - started < 30  # a few short retries, not the SDK's minutes of backoff


def test_size_limit_and_gzip_from_azurite(blob_store: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.storage.blob import BlobServiceClient

    connection_string, local = blob_store
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string)
    container = BlobServiceClient.from_connection_string(connection_string).get_container_client("captures")
    plain = (local / "ep" / "blue" / "model_inputs" / "2026" / "12" / "03" / "10" / "a.jsonl").read_bytes()
    container.upload_blob("zipped/model_inputs/a.jsonl.gz", gzip.compress(plain), overwrite=True)
    container.upload_blob("zipped/model_inputs/big.jsonl", b"x" * 5000, overwrite=True)
    table = read_captures("az://captures/zipped", NAMES, OUT, max_file_bytes=4096)
    assert table.rows == 3 and table.unpaired == 2  # the inputs, with no outputs collected
    assert dict(table.skipped_files) == {FILE_TOO_LARGE: 1}
    assert table.examples[FILE_TOO_LARGE] == ["az://captures/zipped/model_inputs/big.jsonl: 5000 bytes > 4096"]


def test_hostile_records_are_counted_not_fatal(tmp_path: Path) -> None:
    """Bodies nested a thousand deep (orjson parses them; a recursive reader would not survive), ids
    of the wrong type, data of the wrong shape: each record is counted, none stops the read."""
    deep = '{"price":' * 1000 + "1" + "}" * 1000
    write(tmp_path / "x.jsonl", [
        '{"specversion":"1.0","type":"azureml.inference.response","correlationid":"a","data":' + deep + "}",
        event("request", {"input": [1, 2, 3]}, "a"),
        json.dumps({"captureData": {"endpointInput": {"data": "1,2,3", "encoding": "CSV"},
                                    "endpointOutput": {"data": deep, "encoding": "JSON"}}}),
        event("request", [[4, 5, 6]], None, correlationid=["not", "a", "string"]),
        event("request", None, "b"),
        event("model_inputs", [[[[[[1]]]]]], "c"),
    ])
    table = read_captures(str(tmp_path), NAMES, OUT)
    assert table.rows == 3 and table.records == 6 and table.unpaired == 3
    assert all(math.isnan(p) for p in table.prediction)
    assert list(table.inference_id) == ["a", None, None]
    assert table.skipped_records == 2
