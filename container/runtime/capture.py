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

Off the request path: the event loop appends a tuple to a bounded deque (`put_nowait`: no lock, no
encoding, no I/O; the deque is thread-safe and has one producer, the event loop) and one writer
thread wakes every `MODELSTAGE_CAPTURE_FLUSH_INTERVAL` seconds, encodes what is queued and writes it
in one `write`. A full queue (records or bytes) or a failed write (ENOSPC, EDQUOT, any OSError: the
partial line is truncated away) drops the records and counts them; requests never wait for capture.
On shutdown `close` flushes what is queued within a bounded time.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from container.runtime.codec import CSV, JSON, media_type

log = logging.getLogger("modelstage.runtime")
HEADER = b"x-modelstage-inference-id"
CLIENT_HEADER = b"x-amzn-sagemaker-inference-id"
FLUSH_TIMEOUT_S = 3.0  # on shutdown: the writer's bound for flushing what is queued
_DIR_MODE = 0o700
_FILE_MODE = 0o600
# As text: JSON and CSV, and JSON Lines (Batch Transform's SplitType Line bodies), which SageMaker
# records as text when listed in CaptureContentTypeHeader.JsonContentTypes; anything else as base64.
_ENCODINGS = {JSON: "JSON", CSV: "CSV", "application/jsonlines": "JSON", "application/x-jsonlines": "JSON"}


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
    """The queue, the counters and the writer thread of one worker process."""

    def __init__(self, settings: CaptureSettings) -> None:
        assert settings.directory is not None
        self.settings = settings
        self.directory = settings.directory
        self.records = 0  # written (writer thread)
        self.dropped_queue_full = 0  # event loop
        self.dropped_write_error = 0  # writer thread
        self._rng = random.Random()
        self._random = self._rng.random
        # new_id: 74 random bits name the process (UUID4's version and variant bits set), a 48-bit counter
        # starting at a random value the record: unique until 2**48 ids in one process.
        bits = int.from_bytes(os.urandom(10), "big") & ~(0xF000 << 16 | 0xC000) | (0x4000 << 16 | 0x8000)
        head = f"{bits:020x}"
        self._id_prefix = f"{head[:8]}-{head[8:12]}-{head[12:16]}-{head[16:20]}-"
        self._counter = itertools.count(int.from_bytes(os.urandom(6), "big"))
        self._threshold = settings.percent / 100.0
        self._queue: deque[tuple[float, str | None, str | None, str, bytes, str, bytes]] = deque()
        self._limit = settings.queue_records
        self._byte_limit = settings.queue_bytes
        self._bytes_in = 0  # event loop: bytes queued, ever
        self._bytes_out = 0  # writer: bytes taken off the queue, ever
        self._stop = threading.Event()
        self._fd = -1
        self._file_hour = ""
        self._file_size = 0
        self._last_errno: int | None = None
        self._thread: threading.Thread | None = None
        try:
            os.makedirs(self.directory, mode=_DIR_MODE, exist_ok=True)
            if not os.access(self.directory, os.W_OK | os.X_OK):
                log.error("capture: %s is not writable by uid %d; records will be dropped", self.directory,
                          os.getuid())
        except OSError as exc:
            log.error("capture: cannot create %s (%s); records will be dropped", self.directory, exc)

    # -- the request path (event loop) ----------------------------------------------------------
    def sampled(self) -> bool:
        threshold = self._threshold
        return threshold >= 1.0 or (threshold > 0.0 and self._random() < threshold)

    def new_id(self) -> str:
        """A UUID4-shaped id: a random prefix drawn once per process and a counter. Ids need to be unique,
        not unguessable; this costs a quarter of a random UUID4 per request."""
        return f"{self._id_prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"

    def put_nowait(self, client_id: str | None, event_id: str | None, content_type: str | None, body: bytes,
                   out_type: str, out_body: bytes) -> bool:
        """Queue one record; False (and counted) when the queue is full. Never blocks, never raises."""
        size = len(body) + len(out_body)
        if len(self._queue) >= self._limit or self._bytes_in - self._bytes_out + size > self._byte_limit:
            self.dropped_queue_full += 1
            return False
        self._bytes_in += size
        self._queue.append((time.time(), client_id, event_id, content_type or JSON, body, out_type, out_body))
        return True

    # -- the writer thread ----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.flush_interval):
            self._drain(None)
        self._drain(time.monotonic() + FLUSH_TIMEOUT_S)
        self._close_file()

    def _drain(self, deadline: float | None) -> None:
        """Write what is queued, in batches; stop at `deadline` (shutdown) if one is given."""
        queue = self._queue
        while queue:
            if deadline is not None and time.monotonic() > deadline:
                return
            batch: list[bytes] = []
            taken = 0
            hour = ""
            second, stamp, item_hour = -1, b"", ""
            while queue and len(batch) < 2000:
                item = queue[0]
                if int(item[0]) != second:  # formatting times costs more than the record: once a second
                    second = int(item[0])
                    when = time.gmtime(second)
                    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", when).encode()
                    item_hour = time.strftime("%Y/%m/%d/%H", when)
                if hour and item_hour != hour:
                    break  # one file per hour: the next batch starts the next hour's file
                hour = item_hour
                queue.popleft()
                taken += len(item[4]) + len(item[6])
                batch.append(_line(item, stamp, self.new_id))
            self._bytes_out += taken
            self._write(hour, batch)

    def _write(self, hour: str, lines: list[bytes]) -> None:
        data = b"".join(lines)
        try:
            if self._fd < 0 or hour != self._file_hour or self._file_size >= self.settings.max_file_bytes:
                self._open(hour)
            view, written = memoryview(data), 0
            try:
                while written < len(data):
                    written += os.write(self._fd, view[written:])
            except OSError:
                self._undo(written)
                raise
        except OSError as exc:
            if self.dropped_write_error == 0 or exc.errno != self._last_errno:
                log.warning("capture: dropping records, cannot write under %s: %s", self.directory, exc)
            self._last_errno = exc.errno
            self.dropped_write_error += len(lines)
            return
        self._file_size += len(data)
        self.records += len(lines)

    def _undo(self, written: int) -> None:
        """A write failed part-way: cut the partial line off, or give the file up if that fails too."""
        if not written:
            return
        try:
            os.ftruncate(self._fd, self._file_size)
        except OSError:
            self._close_file()

    def _open(self, hour: str) -> None:
        self._close_file()
        folder = os.path.join(self.directory, hour)
        os.makedirs(folder, mode=_DIR_MODE, exist_ok=True)
        now = time.time()
        stamp = time.strftime("%M-%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"
        path = os.path.join(folder, f"{stamp}-{self.new_id()}.jsonl")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, _FILE_MODE)
        try:
            os.fchmod(fd, _FILE_MODE)  # whatever the umask
        except OSError:
            os.close(fd)
            raise
        self._fd, self._file_hour, self._file_size = fd, hour, 0

    def _close_file(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self, timeout: float = FLUSH_TIMEOUT_S + 0.5) -> None:
        """Flush what is queued (bounded by FLUSH_TIMEOUT_S) and stop the writer. Idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("capture: the writer did not finish in %.1f s; %d records not written", timeout,
                            len(self._queue))
        elif self._queue:  # never started: flush here, bounded all the same
            self._drain(time.monotonic() + FLUSH_TIMEOUT_S)
            self._close_file()
        if self._queue:
            log.warning("capture: %d queued records were not written before exit", len(self._queue))


def _payload(content_type: str, body: bytes, mode: str) -> dict[str, str]:
    """One side of a record, as a dict (the shape `_line` writes)."""
    return orjson.loads(_side(content_type, body, mode))


_SIDES: dict[tuple[str, str], tuple[bytes, bytes | None]] = {}  # (type, mode) -> (prefix, text suffix)


def _side(content_type: str, body: bytes, mode: str) -> bytes:
    """{"observedContentType", "mode", "data", "encoding"} as JSON bytes, built from cached pieces: the
    writer thread shares the GIL with the event loop, so a record costs it as little as possible."""
    pieces = _SIDES.get((content_type, mode))
    if pieces is None:
        prefix = b'{"observedContentType":' + orjson.dumps(content_type) + b',"mode":"' + mode.encode() + b'","data":'
        encoding = _ENCODINGS.get(media_type(content_type))
        pieces = (prefix, b',"encoding":"' + encoding.encode() + b'"}' if encoding else None)
        if len(_SIDES) < 64:  # content types come from clients: cache a few
            _SIDES[(content_type, mode)] = pieces
    prefix, text_suffix = pieces
    if text_suffix is not None:
        try:
            return prefix + orjson.dumps(body.decode("utf-8")) + text_suffix
        except UnicodeDecodeError:
            pass
    return prefix + b'"' + base64.b64encode(body) + b'","encoding":"BASE64"}'


def _line(item: tuple[float, str | None, str | None, str, bytes, str, bytes], stamp: bytes,
          new_id: Callable[[], str]) -> bytes:
    _, client_id, event_id, in_type, body, out_type, out_body = item
    client = b',"inferenceId":' + orjson.dumps(client_id) if client_id is not None else b""
    return b"".join((b'{"captureData":{"endpointInput":', _side(in_type, body, "INPUT"), b',"endpointOutput":',
                     _side(out_type, out_body, "OUTPUT"), b'},"eventMetadata":{"eventId":"',
                     (event_id or new_id()).encode(), b'","inferenceTime":"', stamp, b'"', client,
                     b'},"eventVersion":"0"}\n'))
