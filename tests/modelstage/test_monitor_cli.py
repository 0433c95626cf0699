"""`modelstage drift` and `modelstage accuracy` end to end: traffic sent to the real serving process
with capture on, its capture files read back, labels joined by the inference ids the server
returned, and the HTML reports opened in headless Chromium (Debian's, installed by
scripts/test-tools.sh) through Playwright."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from container.local import ServerProcess, free_port
from model.bundle import Bundle
from model.dataset import make_house_prices

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def run(*args: str, cwd: Path | None = None, timeout: float = 180,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modelstage", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=cwd, env=None if env is None else {**os.environ, **env})


@dataclass(frozen=True)
class Traffic:
    captures: Path
    ids: list[str]
    y: np.ndarray  # the true prices of the rows sent, in the order sent


def _rows(n: int, seed: int, bundle: Bundle, shift: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    data = make_house_prices(n_rows=n, seed=seed)
    X = data.X.copy()
    defaults = np.array([f.default for f in bundle.schema.features])
    X = np.where(np.isnan(X), defaults, X)  # JSON requests carry numbers
    X[:, 0] *= shift
    return X, data.y


@pytest.fixture(scope="module")
def traffic(bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    """300 single-row requests like the training data, then 300 with a larger living area, captured."""
    work = tmp_path_factory.mktemp("traffic")
    captures = work / "captures"
    server = ServerProcess(bundle.path, free_port(), env={"MODELSTAGE_CAPTURE_DIR": str(captures)},
                           log_file=work / "server.log")
    ids: list[str] = []
    ys: list[np.ndarray] = []
    try:
        server.wait_healthy(30)
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        for seed, shift in ((201, 1.0), (202, 1.6)):
            X, y = _rows(300, seed, bundle, shift)
            ys.append(y)
            for row in X:
                conn.request("POST", "/invocations", json.dumps({"input": row.tolist()}),
                             {"Content-Type": "application/json"})
                resp = conn.getresponse()
                assert resp.status == 200, resp.read()
                resp.read()
                ids.append(resp.headers["X-Modelstage-Inference-Id"])
        conn.close()
    finally:
        assert server.stop(20) == 0  # the writer flushes every record on SIGTERM
    yield Traffic(captures, ids, np.concatenate(ys))


def _labels(path: Path, ids: list[str], y: np.ndarray) -> Path:
    path.write_text("inference_id,price\n" + "".join(f"{i},{v}\n" for i, v in zip(ids, y, strict=True)))
    return path


def test_drift_over_the_captured_traffic(bundle: Bundle, traffic: Traffic, tmp_path: Path) -> None:
    out_json, out_html = tmp_path / "drift.json", tmp_path / "drift.html"
    r = run("drift", "--bundle", str(bundle.path), "--current", str(traffic.captures), "--every", "150",
            "--json", str(out_json), "--html", str(out_html))
    assert r.returncode == 1, r.stderr
    doc = json.loads(out_json.read_text())["drift"]
    assert doc["rows"] == 600 and doc["drifted"][0] == "living_area_sqft" and "price" in doc["drifted"]
    area = [w["psi"]["living_area_sqft"] for w in doc["windows"]]
    assert len(area) == 4 and max(area[:2]) < 0.2 < min(area[2:])  # the shift starts at request 301
    assert "600 rows from 600 records" in r.stdout and f"wrote {out_html}" in r.stdout
    assert "predicted here" not in r.stdout  # the captures carry the server's predictions


def test_drift_reads_the_captures_from_s3_gcs_and_azure_blob(bundle: Bundle, traffic: Traffic, tmp_path: Path) -> None:
    """The same capture files uploaded to moto's S3 (as SageMaker lays them out under the stack's capture
    prefix), to the GCS emulator and to Azurite, read by the command in its own process."""
    import boto3
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from moto.server import ThreadedMotoServer

    files = [p for p in traffic.captures.rglob("*.jsonl")]
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        url = f"http://{host}:{port}"
        s3 = boto3.client("s3", endpoint_url=url, region_name="eu-west-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
        s3.create_bucket(Bucket="art", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for path in files:
            s3.upload_file(str(path), "art", f"capture/ep/AllTraffic/{path.relative_to(traffic.captures)}")
        r = run("drift", "--bundle", str(bundle.path), "--current", "s3://art/capture/ep", "--json",
                str(tmp_path / "s3.json"), "--html", "-", env={**creds, "AWS_ENDPOINT_URL_S3": url})
    finally:
        moto.stop()
    assert r.returncode == 1, r.stderr
    from_s3 = json.loads((tmp_path / "s3.json").read_text())["drift"]
    assert from_s3["rows"] == 600 and f"600 rows from 600 records in {len(files)} files" in r.stdout

    from tests.gcs import gcs_emulator

    with gcs_emulator() as gcs_host:
        client = storage.Client(project="test", credentials=AnonymousCredentials())
        bucket = client.create_bucket("logs")
        for path in files:
            bucket.blob(f"capture/{path.relative_to(traffic.captures)}").upload_from_filename(str(path))
        r = run("drift", "--bundle", str(bundle.path), "--current", "gs://logs/capture", "--json",
                str(tmp_path / "gs.json"), "--html", "-", env={"STORAGE_EMULATOR_HOST": gcs_host})
    assert r.returncode == 1, r.stderr
    from_gcs = json.loads((tmp_path / "gs.json").read_text())["drift"]
    assert [c["psi"] for c in from_gcs["columns"]] == [c["psi"] for c in from_s3["columns"]]

    from azure.storage.blob import BlobServiceClient

    from tests.azurite import azurite

    with azurite() as connection_string:
        container = BlobServiceClient.from_connection_string(connection_string).create_container("logs")
        for path in files:
            with path.open("rb") as data:
                container.upload_blob(f"capture/{path.relative_to(traffic.captures)}", data)
        r = run("drift", "--bundle", str(bundle.path), "--current", "az://logs/capture", "--json",
                str(tmp_path / "az.json"), "--html", "-", env={"AZURE_STORAGE_CONNECTION_STRING": connection_string})
    assert r.returncode == 1, r.stderr
    from_azure = json.loads((tmp_path / "az.json").read_text())["drift"]
    assert [c["psi"] for c in from_azure["columns"]] == [c["psi"] for c in from_s3["columns"]]


def _azure_payload_logs(traffic: Traffic) -> dict[str, bytes]:
    """The captured traffic as Azure ML payload logging writes it: request and response records in two
    collections, joined by correlationid (here the id the endpoint returned)."""
    requests: list[bytes] = []
    responses: list[bytes] = []
    for path in sorted(traffic.captures.rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            cid = record["eventMetadata"]["eventId"]
            common = {"specversion": "1.0", "datacontenttype": "application/json",
                      "time": record["eventMetadata"]["inferenceTime"], "correlationid": cid, "xrequestid": cid}
            for kind, side, out in (("request", "endpointInput", requests), ("response", "endpointOutput", responses)):
                body = json.loads(record["captureData"][side]["data"])
                out.append(json.dumps({**common, "id": f"{kind}-{cid}", "type": f"azureml.inference.{kind}",
                                       "data": body}).encode())
    folder = "modelDataCollector/ep/blue/{}/2026/12/03/08/instance-1.jsonl"
    return {folder.format("request"): b"\n".join(requests), folder.format("response"): b"\n".join(responses)}


def test_accuracy_of_azure_ml_payload_logs_in_azurite(bundle: Bundle, traffic: Traffic, tmp_path: Path) -> None:
    """Azure ML data collection read from a real blob emulator by the command: labels join on the
    records' correlationid and the shifted half is degraded, as with the runtime's own capture."""
    from azure.storage.blob import BlobServiceClient

    from tests.azurite import ACCOUNT, azurite

    with azurite() as connection_string:
        container = BlobServiceClient.from_connection_string(connection_string).create_container("azureml-blobstore-1")
        for name, data in _azure_payload_logs(traffic).items():
            container.upload_blob(name, data)
        port = connection_string.split("BlobEndpoint=http://127.0.0.1:", 1)[1].split("/", 1)[0]
        url = f"http://127.0.0.1:{port}/{ACCOUNT}/azureml-blobstore-1/modelDataCollector/ep/blue"
        r = run("accuracy", "--bundle", str(bundle.path), "--captured", url,
                "--labels", str(_labels(tmp_path / "all.csv", traffic.ids, traffic.y)), "--every", "100",
                "--tolerance", "0.3", "--json", str(tmp_path / "acc.json"), "--html", "-",
                env={"AZURE_STORAGE_CONNECTION_STRING": connection_string})
    assert r.returncode == 1, r.stdout + r.stderr
    acc = json.loads((tmp_path / "acc.json").read_text())["accuracy"]
    assert acc["matched"] == 600
    assert [bool(w["degraded"]) for w in acc["windows"]] == [False] * 3 + [True] * 3


def test_drift_of_rows_like_the_training_data_exits_0(bundle: Bundle, tmp_path: Path) -> None:
    X, _ = _rows(2000, 203, bundle)
    csv = tmp_path / "recent.csv"
    csv.write_text(",".join(bundle.schema.names) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in X))
    r = run("drift", "--bundle", str(bundle.path), "--current", str(csv), "--json", str(tmp_path / "d.json"),
            "--html", "-")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no drift" in r.stdout and "2000 rows had no prediction: predicted here" in r.stdout
    assert not (tmp_path / "drift.html").exists()


def test_the_stack_sets_the_ks_threshold(bundle: Bundle, tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "stacks").mkdir()
    stack = (ROOT / "stacks" / "Pulumi.aws-dev.yaml").read_text()
    (tmp_path / "stacks" / "Pulumi.aws-try.yaml").write_text(stack + "  modelstage:driftThresholdPercent: 37\n")
    X, _ = _rows(500, 204, bundle)
    csv = tmp_path / "recent.csv"
    csv.write_text(",".join(bundle.schema.names) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in X))
    r = run("drift", "--bundle", str(bundle.path), "--current", str(csv), "--stack", "aws-try", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "drift.json").read_text())["drift"]["thresholds"]["ks_distance"] == 0.37
    r = run("drift", "--bundle", str(bundle.path), "--current", str(csv), "--stack", "aws-try",
            "--ks-threshold", "0.2", "--json", "o.json", cwd=tmp_path)
    assert json.loads((tmp_path / "o.json").read_text())["drift"]["thresholds"]["ks_distance"] == 0.2


def test_accuracy_of_the_captured_predictions(bundle: Bundle, traffic: Traffic, tmp_path: Path) -> None:
    """The first 300 requests are like the training data: accuracy holds. Labels of the shifted 300 are
    the true prices of the unshifted houses, so the model is far off there."""
    ids, y = traffic.ids, traffic.y
    rows = [f"{i},{v}\n" for i, v in zip(ids[:295], y[:295], strict=True)]  # 5 requests stay unlabelled
    rows += [f"{ids[0]},{y[0]}\n", f"{ids[1]},{y[1] + 1}\n", "never-sent,5\n"]  # duplicate, conflict, unknown
    labels = tmp_path / "labels.csv"
    labels.write_text("inference_id,price\n" + "".join(rows))
    out_json, out_html = tmp_path / "acc.json", tmp_path / "acc.html"
    r = run("accuracy", "--bundle", str(bundle.path), "--captured", str(traffic.captures), "--labels", str(labels),
            "--every", "100", "--tolerance", "0.3", "--json", str(out_json), "--html", str(out_html))
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(out_json.read_text())
    acc = doc["accuracy"]
    assert acc["matched"] == 294 and acc["degraded"] is False
    assert acc["counts"]["duplicate labels"] == 2 and acc["counts"]["conflicting labels (rows left out)"] == 1
    assert acc["counts"]["labels for rows never captured"] == 1
    assert acc["counts"]["captured rows without a label"] == 306  # 5 + the conflicting one + the shifted 300
    assert acc["overall"]["rmse"] < bundle.metrics["rmse"] * 1.3
    assert "drift" in doc  # the same report shows the drift of the captured rows

    r = run("accuracy", "--bundle", str(bundle.path), "--captured", str(traffic.captures),
            "--labels", str(_labels(tmp_path / "all.csv", ids, y)), "--every", "100", "--tolerance", "0.3",
            "--json", str(out_json), "--html", str(tmp_path / "acc-bad.html"))
    assert r.returncode == 1, r.stdout + r.stderr
    acc = json.loads(out_json.read_text())["accuracy"]
    assert [bool(w["degraded"]) for w in acc["windows"]] == [False] * 3 + [True] * 3
    assert "DEGRADED" in r.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["drift", "--current", "{empty}"], "no rows with the bundle's features"),
    (["drift", "--current", "{wrong_columns}"], "no rows with the bundle's features"),
    (["drift", "--current", "{missing}"], "no such file"),
    (["drift", "--current", "{good}", "--every", "week"], "--every 'week': expected day, hour"),
    (["drift", "--current", "{good}", "--ks-threshold", "2"], "expected a fraction between 0 and 1"),
    (["drift", "--current", "{good}", "--stack", "nope"], "--stack nope: no Pulumi.yaml in"),
    (["drift", "--current", "az://c/p"], "az://c/p"),
    (["drift"], "expected --current SOURCE"),
    (["accuracy", "--captured", "{good}", "--labels", "{no_id_labels}"], "missing columns ['inference_id']"),
    (["accuracy", "--captured", "{good}", "--labels", "{unknown_labels}"], "no captured prediction has a label"),
    (["accuracy", "--captured", "{good}", "--labels", "{empty}"], "not a readable csv file (Empty CSV file)"),
])
def test_bad_input_gets_one_line_and_exit_2(bundle: Bundle, tmp_path: Path, args: list[str], message: str) -> None:
    files = {
        "empty": "",
        "wrong_columns": "a,b\n1,2\n",
        "good": ",".join(bundle.schema.names) + ",inference_id\n" + ",".join("1" for _ in bundle.schema.names) + ",x\n",
        "no_id_labels": "id,price\n1,2\n",
        "unknown_labels": "inference_id,price\nnope,2\n",
    }
    paths = {"missing": str(tmp_path / "missing.csv")}
    for name, text in files.items():
        (tmp_path / f"{name}.csv").write_text(text)
        paths[name] = str(tmp_path / f"{name}.csv")
    argv = [args[0], "--bundle", str(bundle.path), *(a.format(**paths) for a in args[1:])]
    r = run(*argv, "--json", str(tmp_path / "o.json"), "--html", "-", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "o.json").exists()  # nothing half-done is left behind


# --- the HTML reports in a real browser -----------------------------------------------------------

def _open(html: Path, screenshots: Path) -> tuple[list[str], dict[str, Path]]:
    """Console errors and page errors, and a screenshot of every plot."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    shots: dict[str, Path] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto(html.as_uri(), wait_until="load", timeout=30_000)
            for k, figure in enumerate(page.locator("figure.plot").all()):
                name = figure.get_attribute("data-plot") or str(k)
                shots[name] = screenshots / f"{k}.png"
                figure.locator("svg").screenshot(path=str(shots[name]), timeout=15_000)
        finally:
            browser.close()
    return errors, shots


def _drawn_share(png: Path) -> tuple[float, int]:
    """Share of pixels that are not background, and the number of distinct colours."""
    from PIL import Image

    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int32)
    ink = np.any(pixels < 235, axis=2)
    colours = len({tuple(c) for c in pixels[ink][:: max(1, int(ink.sum()) // 20_000)]})
    return float(ink.mean()), colours


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs chromium: run scripts/test-tools.sh (make test does)")
def test_the_reports_render_in_chromium(bundle: Bundle, traffic: Traffic, tmp_path: Path) -> None:
    labels = _labels(tmp_path / "labels.csv", traffic.ids, traffic.y)
    html = tmp_path / "report.html"
    r = run("accuracy", "--bundle", str(bundle.path), "--captured", str(traffic.captures), "--labels", str(labels),
            "--every", "100", "--json", "-", "--html", str(html))
    assert r.returncode in (0, 1), r.stderr
    errors, shots = _open(html, tmp_path)
    assert errors == []
    columns = [*bundle.schema.names, bundle.schema.output.name]
    assert set(shots) == {*(f"distribution:{c}" for c in columns), "drift-over-time", "accuracy-over-time:rmse",
                          "accuracy-over-time:mae"}
    for name, png in shots.items():
        share, colours = _drawn_share(png)
        assert share > 0.03 and colours >= 3, f"{name}: {share:.1%} drawn, {colours} colours"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs chromium: run scripts/test-tools.sh (make test does)")
def test_the_retrain_comparison_renders_in_chromium(bundle: Bundle, tmp_path: Path) -> None:
    from tests.model.test_retrain import shifted_prices

    data = shifted_prices(tmp_path / "new.csv", 600)
    r = run("retrain", "--bundle", str(bundle.path), "--data", str(data), "--out", str(tmp_path / "next"),
            "--report", str(tmp_path / "cmp.json"))
    assert r.returncode == 0, r.stdout + r.stderr
    errors, shots = _open(tmp_path / "cmp.html", tmp_path)
    assert errors == [] and len(shots) == len(bundle.schema.names) + 1  # a distribution per column
    for name, png in shots.items():
        share, colours = _drawn_share(png)
        assert share > 0.03 and colours >= 3, f"{name}: {share:.1%} drawn, {colours} colours"
