"""Opt-in capture of scored requests and their responses, in SageMaker's data-capture format.

With `MODELSTAGE_CAPTURE_DIR` set, a sample (`MODELSTAGE_CAPTURE_PERCENT`) of the 200 responses of
the scoring routes is written as JSON Lines, one record a line, in the format SageMaker's data
capture writes to S3 (so local and cloud captures are read by one reader):

    {"captureData": {"endpointInput":  {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "1200,3,2", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                        "data": "{\"price\":277577.88}", "encoding": "JSON"}},
     "eventMetadata": {"eventId": "<uuid4>", "inferenceId": "<the client's id, if it sent one>",
                       "inferenceTime": "2026-12-03T07:45:01Z"},
     "eventVersion": "0"}

`data` is the body as text with `encoding` "JSON" or "CSV" for those media types (JSON Lines counts
as "JSON"), else the body in base64 with "BASE64" (as SageMaker does for content types it was not
told are JSON or CSV). Files are
`<dir>/<yyyy>/<mm>/<dd>/<hh>/<mm>-<ss>-<mmm>-<uuid>.jsonl` (UTC; the hour of the file's first record),
as SageMaker lays out `s3://<destination>/<endpoint>/<variant>/<yyyy>/<mm>/<dd>/<hh>/<file>.jsonl`.
References (AWS documentation):

- Data capture: https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture.html and
  "View captured data" in https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html
  (the record above and the S3 layout).
- DataCaptureConfig (InitialSamplingPercentage 0-100, base64 unless the content type is declared JSON
  or CSV): https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataCaptureConfig.html
- InvokeEndpoint's InferenceId (`X-Amzn-SageMaker-Inference-Id`, 1-64 printable characters, "added to
  the captured data"): https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html

The inference id is the client's `X-Amzn-SageMaker-Inference-Id` when it sent a valid one, else the
record's eventId (UUID4-shaped: random per process, counted per record; see `new_id`); it is returned
in `X-Modelstage-Inference-Id` on every response of a scoring route while capture is on, sampled or
not, so labels can be joined later (a request not sampled has an id and no record).

Off the request path, and off the worker's core: the event loop appends each sampled exchange, as a
tuple of what it already has, to a deque (no encoding, no lock). A feeder thread wakes every
`MODELSTAGE_CAPTURE_FLUSH_INTERVAL` seconds, takes what is queued and writes it as one marshalled batch
(capture_record.py: one C call) to the pipe of a writer process (capture_writer.py) that encodes the
records and writes the files. Encoding in a thread of the worker took about 7% of its CPU
samples (py-spy under load) and the GIL from the event loop. The queue (records and bytes not yet handed to the writer)
is bounded; when it is full, or a write fails (ENOSPC, EDQUOT, any OSError: the partial line is
truncated away), or the writer process is gone, records are dropped and counted (the writer publishes
its counts in shared memory); requests never wait for capture. On shutdown `close` hands over what is
queued, closes the pipe and waits for the writer to finish, within a bounded time.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import mmap
import operator
import os
import random
import select
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from container.runtime import capture_record
from container.runtime.capture_writer import COUNTERS, DIR_MODE, FileWriter
from container.runtime.codec import JSON

log = logging.getLogger("modelstage.runtime")
HEADER = b"x-modelstage-inference-id"
CLIENT_HEADER = b"x-amzn-sagemaker-inference-id"
FLUSH_TIMEOUT_S = 3.0  # on shutdown: the bound for handing over and writing what is queued
PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size for an unprivileged process
RESPAWN_S = 1.0  # a writer process that died is started again at most this often
_SIZE = operator.itemgetter(7)  # an item's body bytes
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # where `container` is, for the writer's -m


@dataclass(frozen=True)
class CaptureSettings:
    """MODELSTAGE_CAPTURE_*: read in settings.py with the other variables."""

    directory: str | None = None  # None: capture is off
    percent: int = 100  # of scored requests, 0-100
    queue_records: int = 10_000  # records waiting for the writer
    queue_bytes: int = 64 << 20  # request + response bytes waiting for the writer
    max_file_bytes: int = 64 << 20  # a file is closed and a new one started past this size
    flush_interval: float = 0.25  # seconds between the writer's wake-ups


def valid_client_id(value: bytes) -> bool:
    """InvokeEndpoint's InferenceId: 1-64 printable ASCII characters, not starting with a space."""
    return 0 < len(value) <= 64 and value[0] != 0x20 and all(0x20 <= b < 0x7F for b in value)


class Capture:
    """The queue, the counters, the feeder thread and the writer process of one worker process."""

    def __init__(self, settings: CaptureSettings) -> None:
        assert settings.directory is not None
        self.settings = settings
        self.directory = settings.directory
        self.dropped_queue_full = 0  # event loop
        self._rng = random.Random()
        self._random = self._rng.random
        self.new_id = capture_record.id_source()
        self._threshold = settings.percent / 100.0
        self._queue: deque[capture_record.Item] = deque()  # appended by the event loop, popped by the feeder
        self._records_in = self._bytes_in = 0  # event loop: queued, ever
        self._records_out = self._bytes_out = 0  # feeder: handed over or dropped, ever
        self._lost = 0  # feeder: records the writer process never got (its pipe was broken)
        self._counted = (0, 0)  # written and failed by writer processes that have exited
        self._counters: mmap.mmap | None = None
        self._counters_fd = -1
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._sent = 0  # records handed to the current writer process
        self._local: FileWriter | None = None  # close() before start(): write in this process
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            os.makedirs(self.directory, mode=DIR_MODE, exist_ok=True)
            if not os.access(self.directory, os.W_OK | os.X_OK):
                log.error("capture: %s is not writable by uid %d; records will be dropped", self.directory,
                          os.getuid())
        except OSError as exc:
            log.error("capture: cannot create %s (%s); records will be dropped", self.directory, exc)

    # -- counters (/metrics) ----------------------------------------------------------------------
    def _published(self) -> tuple[int, int]:
        written, failed = self._counted
        if self._counters is not None:
            now_written, now_failed = COUNTERS.unpack_from(self._counters, 0)
            written, failed = written + now_written, failed + now_failed
        if self._local is not None:
            written, failed = written + self._local.records, failed + self._local.dropped_write_error
        return written, failed

    @property
    def records(self) -> int:
        """Records written."""
        return self._published()[0]

    @property
    def dropped_write_error(self) -> int:
        """Records dropped because a write failed or the writer process was gone."""
        return self._published()[1] + self._lost

    # -- the request path (event loop) ----------------------------------------------------------
    def sampled(self) -> bool:
        threshold = self._threshold
        return threshold >= 1.0 or (threshold > 0.0 and self._random() < threshold)

    def put_nowait(self, client_id: str | None, event_id: str | None, content_type: str | None, body: bytes,
                   out_type: str, out_body: bytes) -> bool:
        """Queue one record; False (and counted) when the queue is full. Never blocks on I/O, never raises."""
        size = len(body) + len(out_body)
        if (self._records_in - self._records_out >= self.settings.queue_records
                or self._bytes_in - self._bytes_out + size > self.settings.queue_bytes):
            self.dropped_queue_full += 1
            return False
        self._records_in += 1
        self._bytes_in += size
        self._queue.append((time.time(), client_id, event_id, content_type or JSON, body, out_type, out_body, size))
        return True

    # -- the feeder thread and the writer process ---------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            fd = os.memfd_create("modelstage-capture-counters", os.MFD_CLOEXEC)
            os.ftruncate(fd, COUNTERS.size)
            self._counters_fd, self._counters = fd, mmap.mmap(fd, COUNTERS.size)
            self._spawn()
            self._thread = threading.Thread(target=self._run, name="capture-feeder", daemon=True)
            self._thread.start()

    def _spawn(self) -> None:
        """Start a writer process, its counters from zero (what an earlier one counted is kept)."""
        assert self._counters is not None
        if self._proc is not None:
            self._reap()
        self._started_at = time.monotonic()
        self._sent = 0
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")) if p)}
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "container.runtime.capture_writer", self.directory,
                 str(self.settings.max_file_bytes), str(self._counters_fd)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, pass_fds=(self._counters_fd,), env=env,
                close_fds=True)
        except OSError as exc:
            log.error("capture: cannot start the writer process (%s); records will be dropped", exc)
            self._proc = None
            return
        if self._proc.stdin is not None:
            fd = self._proc.stdin.fileno()
            os.set_blocking(fd, False)  # _send waits in select, with a deadline
            with contextlib.suppress(OSError):  # one write per flush rather than one per 64 KiB
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)

    def _reap(self) -> None:
        """The writer process is gone or going: keep its counts, forget it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.1)
        if proc.poll() is None:
            proc.kill()
            proc.wait(1.0)
        if self._counters is not None:
            written, failed = COUNTERS.unpack_from(self._counters, 0)
            self._counted = (self._counted[0] + written, self._counted[1] + failed)
            COUNTERS.pack_into(self._counters, 0, 0, 0)
            # handed over but never written or counted: in its pipe when it died (or past the deadline)
            self._lost += max(0, self._sent - written - failed)
            self._sent = 0

    def _run(self) -> None:
        while not self._stop.wait(self.settings.flush_interval):
            self._hand_over(None)
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        self._hand_over(deadline)
        self._finish(deadline)

    def _take(self) -> tuple[list[capture_record.Item], int]:
        """What is queued now (the event loop only appends, this thread only pops: a deque needs no lock)."""
        queue = self._queue
        items = [queue.popleft() for _ in range(len(queue))]
        return items, sum(map(_SIZE, items))

    def _hand_over(self, deadline: float | None) -> None:
        items, size = self._take()
        if not items:
            return
        count = len(items)
        proc = self._proc
        if proc is None or proc.poll() is not None:
            if time.monotonic() - self._started_at >= RESPAWN_S and not self._stop.is_set():
                log.warning("capture: the writer process exited (%s); starting another",
                            None if proc is None else proc.returncode)
                self._spawn()
            proc = self._proc
        sent = (proc is not None and proc.stdin is not None
                and self._send(proc.stdin.fileno(), capture_record.encode_batch(items), deadline))
        if sent:
            self._sent += count
        else:
            self._lost += count
        self._records_out += count
        self._bytes_out += size

    def _send(self, fd: int, data: bytes, deadline: float | None) -> bool:
        """All of data into the pipe; False when the pipe is broken or the deadline passes. A writer that
        falls behind blocks this thread only: the queue fills and the event loop drops."""
        view, sent = memoryview(data), 0
        try:
            while sent < len(data):
                wait = 0.5 if deadline is None else deadline - time.monotonic()
                if wait <= 0:
                    return False
                _, ready, _ = select.select([], [fd], [], wait)
                if ready:
                    with contextlib.suppress(BlockingIOError):
                        sent += os.write(fd, view[sent:])
                elif deadline is None and self._stop.is_set():
                    deadline = time.monotonic() + FLUSH_TIMEOUT_S
        except OSError as exc:  # EPIPE: the writer process died
            log.warning("capture: the writer process is gone (%s); dropping records", exc)
            return False
        finally:
            view.release()
        return True

    def _finish(self, deadline: float) -> None:
        """Close the pipe and let the writer write what it holds, until the deadline."""
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("capture: the writer did not finish in %.1f s; stopping it", FLUSH_TIMEOUT_S)
        self._reap()

    def close(self, timeout: float = FLUSH_TIMEOUT_S + 0.5) -> None:
        """Flush what is queued (bounded by FLUSH_TIMEOUT_S) and stop the writer. Idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("capture: the feeder did not finish in %.1f s", timeout)
            return
        items, size = self._take()  # never started: write here, bounded all the same
        if items:
            if self._local is None:
                self._local = FileWriter(self.directory, self.settings.max_file_bytes, self.new_id)
            taken = self._local.write_items(items, time.monotonic() + FLUSH_TIMEOUT_S)
            self._local.close()
            self._records_out += len(items)
            self._bytes_out += size
            if taken < len(items):
                self._lost += len(items) - taken
                log.warning("capture: %d queued records were not written before exit", len(items) - taken)
