"""Capture of requests and responses (issue 11, item 1) against the real server process on 127.0.0.1.

Records are read back after the server has been stopped with SIGTERM (the writer flushes on the way
out), so no test polls for files. MODELSTAGE_CAPTURE_FLUSH_INTERVAL=60 keeps the writer asleep where a
test needs records to stay queued (a full queue, the SIGTERM flush). Every loop is bounded in count
and time.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from container.local import ServerProcess, free_port
from container.runtime.capture import valid_client_id
from container.runtime.capture_record import payload as _payload
from container.runtime.settings import Settings, SettingsError
from model.bundle import Bundle
from model.scoring import Scorer

ONE_ROW = b'{"input": [1200, 3, 2]}'
HEADER = "X-Modelstage-Inference-Id"
CLIENT_HEADER = "X-Amzn-SageMaker-Inference-Id"
FILE_NAME = re.compile(r"^\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl$")


class Client:
    """One keep-alive connection."""

    def __init__(self, server: ServerProcess, timeout: float = 10.0) -> None:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout)

    def post(self, body: bytes, content_type: str = "application/json", path: str = "/invocations",
             headers: dict[str, str] | None = None) -> tuple[int, bytes, http.client.HTTPMessage]:
        self.conn.request("POST", path, body, {"Content-Type": content_type, **(headers or {})})
        resp = self.conn.getresponse()
        return resp.status, resp.read(), resp.headers

    def get(self, path: str) -> bytes:
        self.conn.request("GET", path)
        return self.conn.getresponse().read()

    def close(self) -> None:
        self.conn.close()


def start(bundle: Bundle, log_dir: Path, env: dict[str, str], workers: int = 1) -> ServerProcess:
    proc = ServerProcess(bundle.path, free_port(), workers=workers, env=env, log_file=log_dir / "server.log")
    try:
        proc.wait_healthy(30)
    except BaseException:
        proc.stop()
        raise
    return proc


def stop(proc: ServerProcess, bound: float = 20.0) -> float:
    """SIGTERM; asserts exit 0 within `bound` seconds, returns the seconds it took."""
    started = time.perf_counter()
    code = proc.stop(bound)
    took = time.perf_counter() - started
    assert code == 0, f"exit code {code}"
    assert took < bound
    return took


def records(directory: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(directory.rglob("*.jsonl")):
        assert FILE_NAME.match(path.relative_to(directory).as_posix()), path
        assert path.stat().st_mode & 0o777 == 0o600, oct(path.stat().st_mode)
        for line in path.read_bytes().splitlines():
            found.append(json.loads(line))  # every line is a whole record, also after a full disk
    return found


def metric(client: Client, name: str) -> int:
    text = client.get("/metrics").decode()
    match = re.search(rf"^{re.escape(name)} (\d+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return int(match.group(1))


RECORDS = "modelstage_capture_records_total"
QUEUE_FULL = 'modelstage_capture_dropped_total{reason="queue_full"}'
WRITE_ERROR = 'modelstage_capture_dropped_total{reason="write_error"}'


def inference_id(record: dict[str, Any]) -> str:
    meta = record["eventMetadata"]
    return meta.get("inferenceId") or meta["eventId"]


# -- the format ----------------------------------------------------------------------------------------
def test_records_parse_back_in_sagemaker_format(bundle: Bundle, tmp_path: Path) -> None:
    capture = tmp_path / "capture" / "not-yet-there"  # created by the runtime
    proc = start(bundle, tmp_path, {"MODELSTAGE_CAPTURE_DIR": str(capture)})
    expected = Scorer(bundle).score([[1200, 3, 2]])[0]
    many = json.dumps({"instances": [[1200, 3, 2]] * 1000}).encode()  # 8,000 cells: scored on a thread
    client = Client(proc)
    try:
        sent = {
            "json": client.post(ONE_ROW),
            "csv": client.post(b"1200,3,2\n", "text/csv", headers={"Accept": "text/csv"}),
            "client-id": client.post(ONE_ROW, headers={CLIENT_HEADER: "order-42/line 7"}),
            "bad-client-id": client.post(ONE_ROW, headers={CLIENT_HEADER: "x" * 65}),
            "thread": client.post(many),
            "vertex": client.post(b'{"instances": [[1200, 3, 2]]}', path="/score"),
        }
        bad = client.post(b'{"input": [1200, "x", 2]}')  # a 400: the id header, no record
    finally:
        client.close()
        stop(proc)
    assert all(status == 200 for status, _, _ in sent.values()), {k: v[:2] for k, v in sent.items()}
    assert bad[0] == 400 and bad[2].get(HEADER)
    ids = {name: headers[HEADER] for name, (_, _, headers) in sent.items()}
    assert ids["client-id"] == "order-42/line 7"
    for name in ("json", "csv", "bad-client-id", "thread", "vertex"):
        assert uuid.UUID(ids[name]).version == 4 and uuid.UUID(ids[name]).variant == uuid.RFC_4122, name

    found = {inference_id(r): r for r in records(capture)}
    assert set(found) == set(ids.values()), "one record per 200 reply, none for the 400"
    for name, (_, body, headers) in sent.items():
        record = found[ids[name]]
        assert record["eventVersion"] == "0"
        assert set(record) == {"captureData", "eventMetadata", "eventVersion"}
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", record["eventMetadata"]["inferenceTime"])
        uuid.UUID(record["eventMetadata"]["eventId"])
        out = record["captureData"]["endpointOutput"]
        assert out["mode"] == "OUTPUT" and out["data"] == body.decode()
        assert out["observedContentType"] == headers["Content-Type"]
        assert record["captureData"]["endpointInput"]["mode"] == "INPUT"
    csv_in = found[ids["csv"]]["captureData"]["endpointInput"]
    assert csv_in == {"observedContentType": "text/csv", "mode": "INPUT", "data": "1200,3,2\n", "encoding": "CSV"}
    assert found[ids["csv"]]["captureData"]["endpointOutput"]["encoding"] == "CSV"
    assert float(found[ids["csv"]]["captureData"]["endpointOutput"]["data"]) == expected
    json_in = found[ids["json"]]["captureData"]["endpointInput"]
    assert json_in == {"observedContentType": "application/json", "mode": "INPUT", "data": ONE_ROW.decode(),
                       "encoding": "JSON"}
    assert json.loads(found[ids["json"]]["captureData"]["endpointOutput"]["data"]) == {"price": expected}
    assert found[ids["client-id"]]["eventMetadata"]["inferenceId"] == "order-42/line 7"
    assert "inferenceId" not in found[ids["json"]]["eventMetadata"]
    assert found[ids["json"]]["eventMetadata"]["eventId"] == ids["json"]
    assert len(json.loads(found[ids["thread"]]["captureData"]["endpointOutput"]["data"])["predictions"]) == 1000


def test_payload_encoding_rules() -> None:
    assert _payload("application/json; charset=utf-8", b"[1]", "INPUT")["encoding"] == "JSON"
    assert _payload("text/csv", b"1,2", "INPUT")["encoding"] == "CSV"
    assert _payload("application/jsonlines", b'[1]\n[2]\n', "INPUT")["data"] == "[1]\n[2]\n"
    assert _payload("text/csv", b"\xff\xfe", "INPUT") == {"observedContentType": "text/csv", "mode": "INPUT",
                                                          "data": "//4=", "encoding": "BASE64"}
    assert _payload("application/x-npy", b"\x00", "INPUT")["encoding"] == "BASE64"
    assert valid_client_id(b"a" * 64) and not valid_client_id(b"a" * 65)
    assert not valid_client_id(b"") and not valid_client_id(b" a") and not valid_client_id(b"a\x01")


# -- sampling --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("percent", "n", "low", "high"), [(0, 60, 0, 0), (100, 60, 60, 60), (50, 400, 140, 260)])
def test_sampling_percent(bundle: Bundle, tmp_path: Path, percent: int, n: int, low: int, high: int) -> None:
    """50%: Binomial(400, 0.5) has sd 10; [140, 260] is 6 sd either side (p < 1e-8 of a false failure)."""
    capture = tmp_path / "capture"
    proc = start(bundle, tmp_path, {"MODELSTAGE_CAPTURE_DIR": str(capture), "MODELSTAGE_CAPTURE_PERCENT": str(percent)})
    client = Client(proc)
    try:
        replies = [client.post(ONE_ROW) for _ in range(n)]
    finally:
        client.close()
        stop(proc)
    assert [status for status, _, _ in replies] == [200] * n
    ids = [headers[HEADER] for _, _, headers in replies]
    assert len(set(ids)) == n, "every reply carries its own id, sampled or not"
    found = records(capture)
    print(f"capture at {percent}%: {len(found)} of {n} requests recorded")
    assert low <= len(found) <= high
    assert {inference_id(r) for r in found} <= set(ids)


def test_capture_off_writes_nothing_and_sends_no_header(bundle: Bundle, tmp_path: Path) -> None:
    proc = start(bundle, tmp_path, {"MODELSTAGE_CAPTURE_PERCENT": "100"})  # no directory: off
    client = Client(proc)
    try:
        status, _, headers = client.post(ONE_ROW)
        assert status == 200 and headers.get(HEADER) is None
        status, _, headers = client.post(ONE_ROW, headers={CLIENT_HEADER: "abc"})
        assert status == 200 and headers.get(HEADER) is None
        assert metric(client, RECORDS) == 0 and metric(client, QUEUE_FULL) == 0 and metric(client, WRITE_ERROR) == 0
    finally:
        client.close()
        stop(proc)
    assert not list(tmp_path.rglob("*.jsonl"))


# -- full disk, full queue, SIGTERM ------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A 1 MiB tmpfs (root); else a capture directory whose writes fail (its hour folders are files)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True, timeout=30, check=False) if shutil.which("mount") else None
    if done is not None and done.returncode == 0:
        try:
            yield mount, "tmpfs"
        finally:
            subprocess.run(["umount", str(mount)], capture_output=True, timeout=30, check=False)
        return
    why = done.stderr.strip() if done is not None else "no mount command"
    broken = tmp_path / "broken"
    for hours in (0, 3600):  # this hour and the next: folders the writer needs are plain files
        folder = broken / time.strftime("%Y/%m/%d/%H", time.gmtime(time.time() + hours))
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.write_text("not a directory")
    print(f"tmpfs not mounted ({why}): using a directory whose writes fail")
    yield broken, "failing directory"


def test_full_disk_drops_and_counts_and_no_request_fails(bundle: Bundle, tmp_path: Path,
                                                          small_disk: tuple[Path, str]) -> None:
    directory, kind = small_disk
    proc = start(bundle, tmp_path, {"MODELSTAGE_CAPTURE_DIR": str(directory),
                                    "MODELSTAGE_CAPTURE_FLUSH_INTERVAL": "0.05"})
    body = b'{"input": [1200, 3, 2]}' + b" " * 20_000  # 20 KB a record: 1 MiB is full after ~50
    statuses: list[int] = []
    errors: list[str] = []
    stop_at = time.monotonic() + 20.0
    full = threading.Event()

    def load() -> None:
        client = Client(proc)
        try:
            for _ in range(2000):
                if full.is_set() or time.monotonic() > stop_at:
                    return
                statuses.append(client.post(body)[0])
        except Exception as exc:  # recorded: the assertion below names it
            errors.append(repr(exc))
        finally:
            client.close()

    watcher = Client(proc)
    try:
        threads = [threading.Thread(target=load) for _ in range(8)]
        for t in threads:
            t.start()
        dropped = 0
        for _ in range(400):  # bounded: 400 x 0.05 s
            dropped = metric(watcher, WRITE_ERROR)
            if dropped >= 50 or time.monotonic() > stop_at:
                break
            time.sleep(0.05)
        time.sleep(0.5)  # more load while the disk stays full
        full.set()
        for t in threads:
            t.join(30)
        written, dropped = metric(watcher, RECORDS), metric(watcher, WRITE_ERROR)
        status, _, _ = watcher.post(ONE_ROW)  # still serving
        assert status == 200
    finally:
        watcher.close()
        stop(proc)
    print(f"full disk ({kind}): {len(statuses)} requests, {written} records written, {dropped} dropped")
    assert not errors, errors[:3]
    assert statuses and set(statuses) == {200}
    assert dropped > 0
    if kind == "tmpfs":
        assert written > 0 and len(records(directory)) >= written  # whole lines only (records() parses each)


def test_full_queue_drops_and_counts(bundle: Bundle, tmp_path: Path) -> None:
    """A queue of 5 and a writer asleep for 60 s: of 30 requests, 25 are dropped, all are answered."""
    capture = tmp_path / "capture"
    proc = start(bundle, tmp_path, {"MODELSTAGE_CAPTURE_DIR": str(capture), "MODELSTAGE_CAPTURE_QUEUE": "5",
                                    "MODELSTAGE_CAPTURE_FLUSH_INTERVAL": "60"})
    client = Client(proc)
    try:
        statuses = [client.post(ONE_ROW)[0] for _ in range(30)]
        assert statuses == [200] * 30
        assert metric(client, QUEUE_FULL) == 25 and metric(client, RECORDS) == 0
    finally:
        client.close()
        stop(proc)
    assert len(records(capture)) == 5  # the queued five, flushed on SIGTERM


def test_full_queue_under_a_burst(bundle: Bundle, tmp_path: Path) -> None:
    """16 connections at once against a queue of 2 (writer waking every 0.5 s): drops, no failure."""
    capture = tmp_path / "capture"
    proc = start(bundle, tmp_path, {"MODELSTAGE_CAPTURE_DIR": str(capture), "MODELSTAGE_CAPTURE_QUEUE": "2",
                                    "MODELSTAGE_CAPTURE_FLUSH_INTERVAL": "0.5"})
    statuses: list[int] = []

    def burst() -> None:
        client = Client(proc)
        try:
            statuses.extend(client.post(ONE_ROW)[0] for _ in range(25))
        finally:
            client.close()

    threads = [threading.Thread(target=burst) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    watcher = Client(proc)
    try:
        dropped = metric(watcher, QUEUE_FULL)
    finally:
        watcher.close()
        stop(proc)
    written = len(records(capture))
    print(f"burst: {len(statuses)} requests, {written} written, {dropped} dropped (queue full)")
    assert statuses == [200] * 400
    assert dropped > 0 and written + dropped == 400


# -- the writer process ----------------------------------------------------------------------------------
def writer_pids(parent: int) -> list[int]:
    """The capture writer processes whose parent is `parent` (a zombie counts as gone)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if (int(fields[1]) == parent and fields[0] != "Z"
                    and b"capture_writer" in (stat.parent / "cmdline").read_bytes()):
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def wait_for(check: Any, seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not true within {seconds} s: {check}")


def fast_flushing(bundle: Bundle, tmp_path: Path) -> tuple[Path, ServerProcess]:
    """A server capturing into tmp_path/capture, handing records to its writer every 0.05 s."""
    capture = tmp_path / "capture"
    return capture, start(bundle, tmp_path, {"MODELSTAGE_CAPTURE_DIR": str(capture),
                                             "MODELSTAGE_CAPTURE_FLUSH_INTERVAL": "0.05"})


def test_the_writer_is_its_own_process_and_a_killed_one_is_replaced(bundle: Bundle, tmp_path: Path) -> None:
    """Records are encoded and written by a child process of the worker, at a lower priority than the
    worker's requests. SIGKILL it: requests go on being answered, another writer takes over, and every
    record is either written or counted as dropped."""
    capture, proc = fast_flushing(bundle, tmp_path)
    client = Client(proc)
    try:
        (first,) = wait_for(lambda: writer_pids(proc.proc.pid))
        wait_for(lambda: nice(first) == min(19, nice(proc.proc.pid) + 10))  # set once it has started
        statuses = [client.post(ONE_ROW)[0] for _ in range(50)]
        wait_for(lambda: metric(client, RECORDS) == 50)
        os.kill(first, 9)
        wait_for(lambda: first not in writer_pids(proc.proc.pid))
        time.sleep(1.0)  # the worker starts another writer at most once a second
        statuses += [client.post(ONE_ROW)[0] for _ in range(100)]
        (second,) = wait_for(lambda: writer_pids(proc.proc.pid))
        assert second != first
        wait_for(lambda: metric(client, RECORDS) + metric(client, WRITE_ERROR) == 150)
        written = metric(client, RECORDS)
    finally:
        client.close()
        stop(proc)
    assert statuses == [200] * 150
    assert written >= 100 and len(records(capture)) == written


def test_a_killed_worker_leaves_no_writer_behind(bundle: Bundle, tmp_path: Path) -> None:
    """The writer reads until its pipe closes: when the worker dies, it writes what it has and exits."""
    capture, proc = fast_flushing(bundle, tmp_path)
    client = Client(proc)
    try:
        (writer,) = wait_for(lambda: writer_pids(proc.proc.pid))
        assert [client.post(ONE_ROW)[0] for _ in range(20)] == [200] * 20
        wait_for(lambda: metric(client, RECORDS) == 20)
    finally:
        client.close()
    proc.proc.kill()
    proc.proc.wait(10)

    def gone() -> bool:
        try:
            return Path(f"/proc/{writer}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return True

    wait_for(gone, 10)
    assert len(records(capture)) == 20


def test_sigterm_flushes_queued_records(bundle: Bundle, tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    proc = start(bundle, tmp_path, {"MODELSTAGE_CAPTURE_DIR": str(capture),
                                    "MODELSTAGE_CAPTURE_FLUSH_INTERVAL": "60"}, workers=2)
    client = Client(proc)
    try:
        ids = [client.post(ONE_ROW)[2][HEADER] for _ in range(300)]
    finally:
        client.close()
    took = stop(proc)
    found = records(capture)
    print(f"SIGTERM with 300 queued records (2 workers): exit after {took:.2f} s, {len(found)} written")
    assert sorted(inference_id(r) for r in found) == sorted(ids)


# -- settings ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "value", "message"), [
    ("MODELSTAGE_CAPTURE_PERCENT", "101", "MODELSTAGE_CAPTURE_PERCENT=101: expected a whole number between 0 and 100"),
    ("MODELSTAGE_CAPTURE_PERCENT", "half", "MODELSTAGE_CAPTURE_PERCENT='half': expected a whole number"),
    ("MODELSTAGE_CAPTURE_QUEUE", "0", "MODELSTAGE_CAPTURE_QUEUE=0: expected a whole number between 1 and"),
    ("MODELSTAGE_CAPTURE_MAX_FILE_BYTES", "10", "MODELSTAGE_CAPTURE_MAX_FILE_BYTES=10: expected a whole number"),
    ("MODELSTAGE_CAPTURE_DIR", "relative/dir", "MODELSTAGE_CAPTURE_DIR='relative/dir': expected an absolute path"),
])
def test_bad_settings_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"MODELSTAGE_CAPTURE_DIR": "/tmp/c", name: value})
    assert str(info.value).startswith(message)


def test_settings_defaults() -> None:
    off = Settings.from_env({}).capture
    assert off.directory is None
    on = Settings.from_env({"MODELSTAGE_CAPTURE_DIR": "/tmp/c"}).capture
    assert (on.directory, on.percent, on.queue_records, on.max_file_bytes) == ("/tmp/c", 100, 10_000, 64 << 20)


def test_a_bad_setting_stops_the_runtime_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "MODELSTAGE_CAPTURE_DIR": str(tmp_path), "MODELSTAGE_CAPTURE_PERCENT": "-1"}
    done = subprocess.run([sys.executable, "-m", "container.runtime"], env=env, capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 64
    assert done.stderr.strip() == "modelstage: MODELSTAGE_CAPTURE_PERCENT=-1: expected a whole number between 0 and 100"


def test_files_rotate_at_the_size_limit(bundle: Bundle, tmp_path: Path) -> None:
    capture = tmp_path / "capture"
    proc = start(bundle, tmp_path, {"MODELSTAGE_CAPTURE_DIR": str(capture), "MODELSTAGE_CAPTURE_MAX_FILE_BYTES": "4096",
                                    "MODELSTAGE_CAPTURE_FLUSH_INTERVAL": "0.01"})
    client = Client(proc)
    try:
        for _ in range(60):
            assert client.post(ONE_ROW)[0] == 200
            time.sleep(0.005)
    finally:
        client.close()
        stop(proc)
    files = list(capture.rglob("*.jsonl"))
    assert len(records(capture)) == 60
    assert len(files) > 1
    # a file is closed once it reaches the limit, however many records arrive at once: one line past it at most
    assert all(f.stat().st_size < 4096 + 1000 for f in files), sorted(f.stat().st_size for f in files)
