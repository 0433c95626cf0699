"""The capture writer: turns batches of items (capture_record.py) into JSON Lines files, one file per UTC hour.

It runs as a child process of each worker (`python -m container.runtime.capture_writer DIR MAX_BYTES FD`):
the worker's event loop only queues a tuple, and the encoding, the file writes and their errors cost
another core rather than the worker's GIL. It reads batches from stdin until end of file (the worker
closed the pipe, or died), writes what it has and exits; SIGINT and SIGTERM are ignored so a signal to
the process group does not lose the records the worker is still flushing. Its two counters (records
written, records dropped on a write error) are published in the shared memory at FD.

`FileWriter` is also used in the worker itself when capture was never started (a test, or close()
before start()).
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import signal
import struct
import sys
import time
from collections.abc import Callable

from container.runtime.capture_record import Item, decode_batches, id_source, line

log = logging.getLogger("modelstage.runtime")
COUNTERS = struct.Struct("<QQ")  # records written, records dropped on a write error
READ_BYTES = 1 << 20
BATCH_RECORDS = 2000
NICE = 10
DIR_MODE = 0o700
FILE_MODE = 0o600


class FileWriter:
    """Records into `<dir>/<yyyy>/<mm>/<dd>/<hh>/<mm>-<ss>-<mmm>-<uuid>.jsonl`, a new file per hour and past
    `max_file_bytes`. A write that fails (ENOSPC, EDQUOT, any OSError) keeps the whole lines it wrote, cuts
    the partial one off and counts the rest of its batch as dropped."""

    def __init__(self, directory: str, max_file_bytes: int, new_id: Callable[[], str] | None = None) -> None:
        self.directory = directory
        self.max_file_bytes = max_file_bytes
        self.new_id = new_id or id_source()
        self.records = 0
        self.dropped_write_error = 0
        self._fd = -1
        self._file_hour = ""
        self._file_size = 0
        self._last_errno: int | None = None

    def write_items(self, items: list[Item], deadline: float | None = None) -> int:
        """Write the items in order, in batches; stop at `deadline` if given. -> how many were taken."""
        taken, n = 0, len(items)
        second, stamp, item_hour = -1, b"", ""
        while taken < n:
            if deadline is not None and time.monotonic() > deadline:
                return taken
            batch: list[bytes] = []
            hour = ""
            # bytes already in the file this batch goes to (0: it opens a new one); a batch stops where the
            # file reaches max_file_bytes, so a file passes the limit by one line at most
            size = self._file_size if self._fd >= 0 and self._file_size < self.max_file_bytes else 0
            while taken < n and len(batch) < BATCH_RECORDS and size < self.max_file_bytes:
                item = items[taken]
                if int(item[0]) != second:  # formatting times costs more than the record: once a second
                    second = int(item[0])
                    when = time.gmtime(second)
                    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", when).encode()
                    item_hour = time.strftime("%Y/%m/%d/%H", when)
                if hour and item_hour != hour:
                    break  # one file per hour: the next batch starts the next hour's file
                hour = item_hour
                record = line(item, stamp, self.new_id)
                batch.append(record)
                size += len(record)
                taken += 1
            self._write(hour, batch)
        return taken

    def _write(self, hour: str, lines: list[bytes]) -> None:
        data = b"".join(lines)
        kept = 0  # bytes of whole lines on disk when a write fails part-way
        try:
            if self._fd < 0 or hour != self._file_hour or self._file_size >= self.max_file_bytes:
                self._open(hour)
            view, written = memoryview(data), 0
            try:
                while written < len(data):
                    written += os.write(self._fd, view[written:])
            except OSError:
                kept = self._cut(data, written)
                raise
        except OSError as exc:
            if self.dropped_write_error == 0 or exc.errno != self._last_errno:
                log.warning("capture: dropping records, cannot write under %s: %s", self.directory, exc)
            self._last_errno = exc.errno
            whole = data.count(b"\n", 0, kept)
            self._file_size += kept
            self.records += whole
            self.dropped_write_error += len(lines) - whole
            return
        self._file_size += len(data)
        self.records += len(lines)

    def _cut(self, data: bytes, written: int) -> int:
        """A write failed part-way: keep the whole lines written, cut the partial one off. -> bytes kept
        (0, and the file given up, if even the cut fails)."""
        if not written:
            return 0
        kept = data.rfind(b"\n", 0, written) + 1
        try:
            os.ftruncate(self._fd, self._file_size + kept)
        except OSError:
            self.close()
            return 0
        return kept

    def _open(self, hour: str) -> None:
        self.close()
        folder = os.path.join(self.directory, hour)
        os.makedirs(folder, mode=DIR_MODE, exist_ok=True)
        now = time.time()
        stamp = time.strftime("%M-%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"
        path = os.path.join(folder, f"{stamp}-{self.new_id()}.jsonl")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)  # whatever the umask
        except OSError:
            os.close(fd)
            raise
        self._fd, self._file_hour, self._file_size = fd, hour, 0

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            with contextlib.suppress(OSError):
                os.close(fd)


def serve(source_fd: int, writer: FileWriter, publish: Callable[[int, int], None]) -> None:
    """Batches from `source_fd` until end of file, written as they come."""
    pending = bytearray()
    while chunk := os.read(source_fd, READ_BYTES):
        pending += chunk
        items, used = decode_batches(pending)
        if used:
            del pending[:used]
            writer.write_items(items)
            publish(writer.records, writer.dropped_write_error)
    if pending:
        log.warning("capture: %d bytes of an incomplete batch at exit", len(pending))


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # the worker's requests come first when both want the same core
        os.nice(NICE)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    directory, max_file_bytes, counters_fd = argv[1], int(argv[2]), int(argv[3])
    counters = mmap.mmap(counters_fd, COUNTERS.size)
    writer = FileWriter(directory, max_file_bytes)
    try:
        serve(sys.stdin.fileno(), writer, lambda written, failed: COUNTERS.pack_into(counters, 0, written, failed))
    finally:
        writer.close()
        COUNTERS.pack_into(counters, 0, writer.records, writer.dropped_write_error)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
