"""Batch scoring of a file: CSV, Parquet or JSON Lines in and out, streamed in chunks.

Memory stays bounded whatever the input size: CSV is read block by block (pyarrow's streaming CSV
reader), Parquet batch by batch (ParquetFile.iter_batches), JSON Lines line by line; each chunk is
validated, scored and written before the next is read. Row order is kept.

Row numbers are 1-based and count data lines: row N is line N + 1 of a CSV file (line 1 is the
header), line N of a JSON Lines file, the N-th row of a Parquet file. Blank lines are skipped but
keep their number, so a row number always points at its line.

Validation is the HTTP API's: a chunk is checked with whole-matrix operations (the fast path of
RowEncoder), and every row that fails is handed to the same per-row check as a request row
(RowEncoder.encode_row), so an errors-file message is the one the API gives for that row, with
the file's row number. Scoring is model.scoring.Scorer's, the runtime's. pyarrow is imported only
here, and only for CSV and Parquet: the serving image does not need it.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import csv
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import orjson

from model.errors import ModelstageError, SchemaError
from model.schema import RowEncoder
from model.scoring import Scorer

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("csv", "parquet", "jsonl")
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl",
             ".jsonlines": "jsonl"}
DEFAULT_CHUNK_ROWS = 65_536
ROW_COLUMN = "row"
Progress = Callable[[int, float | None], None]  # (rows read so far, fraction of the input read or None)


class BatchInputError(ModelstageError):
    """The input cannot be scored at all (missing, unreadable, wrong columns, empty, every row refused)."""

    exit_code = 2


@dataclass
class BatchResult:
    output: Path
    errors: Path
    scored: int = 0
    refused: int = 0
    seconds: float = 0.0
    first_error: str | None = None

    @property
    def rows(self) -> int:
        return self.scored + self.refused

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Chunk:
    """Rows of the input: `numbers` (1-based), `X` the values as floats (NaN: missing or not a
    number), `odd` the cells that were not numbers {row index in chunk: {column: value}}, and
    `refused` rows already known bad while reading (a line that is not JSON, a CSV line of the wrong width)."""

    numbers: np.ndarray
    X: np.ndarray
    odd: dict[int, dict[int, object]] = field(default_factory=dict)
    refused: list[dict[str, object]] = field(default_factory=list)
    fraction: float | None = None


def format_for(path: Path, given: str | None, what: str) -> str:
    if given:
        if given not in FORMATS:
            raise BatchInputError(f"unknown format {given!r} for {what}: expected one of {', '.join(FORMATS)}")
        return given
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise BatchInputError(f"cannot tell the format of {what} {path} from its suffix {path.suffix!r}: "
                              f"name it .csv, .parquet or .jsonl, or give --format csv|parquet|jsonl")
    return fmt


def _pyarrow(fmt: str) -> Any:
    try:
        import pyarrow
    except ImportError:
        raise BatchInputError(f"{fmt} needs pyarrow: pip install 'modelstage[train]' (or pyarrow)") from None
    return pyarrow


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


# -- columns: arrow arrays to floats ---------------------------------------------------------------
def _column(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, dict[int, object]]:
    """-> (floats with NaN for missing and non-numbers, {row index: the non-number value})."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t):
        return np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64), {}
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        with contextlib.suppress(pa.ArrowInvalid):
            return np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64), {}
    x = np.full(len(arr), np.nan)
    odd: dict[int, object] = {}
    for i, v in enumerate(arr.to_pylist()):
        if v is None:
            continue
        if isinstance(v, str):
            try:
                f = float(v)
            except ValueError:
                odd[i] = v
                continue
            x[i] = f  # "nan" stays NaN: missing, as in a CSV request
        elif type(v) in (int, float):
            x[i] = float(v)
        else:
            odd[i] = v  # bool, dates, lists: refused by the encoder, naming the value
    return x, odd


def _arrow_chunk(batch: pa.RecordBatch, names: Sequence[str], numbers: np.ndarray) -> Chunk:
    X = np.empty((batch.num_rows, len(names)), dtype=np.float64)
    odd: dict[int, dict[int, object]] = {}
    for c, name in enumerate(names):
        X[:, c], cells = _column(batch.column(name))
        for i, v in cells.items():
            odd.setdefault(i, {})[c] = v
    return Chunk(numbers, X, odd)


def _missing_columns(names: Sequence[str], present: Sequence[str], path: Path) -> None:
    missing = [n for n in names if n not in present]
    if missing:
        shown = ", ".join(list(present)[:20]) or "none"
        raise BatchInputError(f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                              f"(the bundle needs {', '.join(names)}; the file has {shown})")


# -- readers ---------------------------------------------------------------------------------------
class _Numbering:
    """Row numbers for CSV records: line - 1, skipping the lines the parser sets aside (blank, or of
    the wrong width). Those are added to `skipped` before the block that holds them is yielded."""

    def __init__(self) -> None:
        self.next = 1
        self.skipped: list[int] = []
        self._k = 0

        self.blank: list[int] = []  # line numbers of blank lines

    def skip(self, row: int) -> None:
        bisect.insort(self.skipped, row, lo=self._k)

    def line_of(self, parsed: int) -> int:
        """The parser's line number (which does not count blank lines) -> the line in the file."""
        line = parsed
        while True:
            actual = parsed + bisect.bisect_right(self.blank, line)
            if actual == line:
                return line
            line = actual

    def take(self, n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.int64)
        i = 0
        while i < n:
            skip = self.skipped[self._k] if self._k < len(self.skipped) else None
            run = n - i if skip is None else min(n - i, skip - self.next)
            if run > 0:
                out[i:i + run] = np.arange(self.next, self.next + run)
                i += run
                self.next += run
            if i < n and skip is not None and self.next == skip:
                self.next += 1
                self._k += 1
        return out


class _BlankLines:
    """A binary file that reports its blank lines as it is read (the CSV parser drops them unseen)."""

    def __init__(self, raw: IO[bytes], numbering: _Numbering) -> None:
        self.raw = raw
        self.numbering = numbering
        self.lines = 0  # newlines read so far
        self.last = b""  # the byte before this read, to see a blank line split across reads
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if not data:
            return data
        for pattern in (b"\n\n", b"\n\r\n"):
            window = self.last + data
            at = window.find(pattern)
            while at != -1:
                line = self.lines + window.count(b"\n", len(self.last), at + 1) + 1  # the blank one
                self.numbering.skip(line - 1)
                bisect.insort(self.numbering.blank, line)
                at = window.find(pattern, at + 1)
        self.lines += data.count(b"\n")
        self.last = data[-2:] if data.endswith(b"\r") else data[-1:]
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.raw.tell()

    def close(self) -> None:
        self.closed = True


def _read_csv(path: Path, names: Sequence[str], chunk_rows: int) -> Iterator[Chunk]:
    pa = _pyarrow("CSV")
    import pyarrow.csv as pacsv

    try:
        with path.open(newline="", encoding="utf-8-sig") as f:  # a spreadsheet's BOM is no part of a name
            header = next(csv.reader(f), None)
    except UnicodeDecodeError as exc:
        raise BatchInputError(f"cannot read {path} as CSV: not UTF-8 text (byte {exc.start})") from None
    if not header or not any(h.strip() for h in header):
        raise BatchInputError(f"{path} is empty: expected a header of feature names and at least one row")
    header = [h.strip() for h in header]
    _missing_columns(names, header, path)
    width = len(header)
    numbering = _Numbering()
    refused: list[dict[str, object]] = []

    def invalid(row: Any) -> str:
        line = numbering.line_of(int(row.number))
        numbering.skip(line - 1)
        if row.text.strip():
            r = line - 1
            # the HTTP API's message for a CSV line of the wrong width under a header (codec.decode_csv)
            refused.append({"code": "wrong_feature_count", "message": f"row {r}: {row.actual_columns} values for "
                            f"{width} header columns", "row": r, "expected": f"{width} values"})
        return "skip"

    read = pacsv.ReadOptions(block_size=max(1 << 20, min(chunk_rows * 64, 64 << 20)), use_threads=False)
    parse = pacsv.ParseOptions(invalid_row_handler=invalid)
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, include_columns=list(names),
                                   strings_can_be_null=True)
    size = max(path.stat().st_size, 1)
    with path.open("rb") as raw:
        try:
            reader = pacsv.open_csv(_BlankLines(raw, numbering), read_options=read, parse_options=parse,
                                    convert_options=convert)
            for batch in reader:
                fraction = min(raw.tell() / size, 1.0)
                for start in range(0, max(batch.num_rows, 1), chunk_rows):
                    part = batch.slice(start, chunk_rows)
                    chunk = _arrow_chunk(part, names, numbering.take(part.num_rows))
                    last = int(chunk.numbers[-1]) if len(chunk.numbers) else 0
                    taken = 0  # the set-aside lines before this chunk's last row go with it, in order
                    while taken < len(refused) and int(refused[taken]["row"]) < last:  # type: ignore[arg-type]
                        taken += 1
                    chunk.refused, refused[:taken] = refused[:taken], []
                    chunk.fraction = fraction
                    yield chunk
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
            raise BatchInputError(f"cannot read {path} as CSV: {_first_line(exc)}") from None
    if refused:
        yield Chunk(np.empty(0, dtype=np.int64), np.empty((0, len(names))), refused=refused, fraction=1.0)


def _read_parquet(path: Path, names: Sequence[str], chunk_rows: int) -> Iterator[Chunk]:
    pa = _pyarrow("Parquet")
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path, buffer_size=1 << 20)  # buffered reads: a column chunk is not read whole
    except (pa.ArrowInvalid, OSError) as exc:
        raise BatchInputError(f"cannot read {path} as Parquet: {_first_line(exc)}") from None
    _missing_columns(names, pf.schema_arrow.names, path)
    total = max(pf.metadata.num_rows, 1)
    done = 0
    try:
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=list(names)):
            numbers = np.arange(done + 1, done + 1 + batch.num_rows, dtype=np.int64)
            done += batch.num_rows
            chunk = _arrow_chunk(batch, names, numbers)
            chunk.fraction = done / total
            yield chunk
    except (pa.ArrowInvalid, OSError) as exc:
        raise BatchInputError(f"cannot read {path} as Parquet: {_first_line(exc)}") from None


def _read_jsonl(path: Path, names: Sequence[str], chunk_rows: int, encoder: RowEncoder) -> Iterator[Chunk]:
    """Each line one row, as in a request: an array of values by position or an object keyed by
    feature name (features left out take the bundle's defaults)."""
    size = max(path.stat().st_size, 1)
    with path.open("rb") as f:
        line_no = 0
        while True:
            numbers: list[int] = []
            rows: list[list[float]] = []
            refused: list[dict[str, object]] = []
            for raw in f:
                line_no += 1
                if not raw.strip():
                    continue
                try:
                    row = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    refused.append({"code": "malformed_json", "message": f"row {line_no}: the line is not valid "
                                    f"JSON: {str(exc)[:200]}", "row": line_no, "expected": "a JSON document"})
                    continue
                try:
                    rows.append(encoder.encode_row(line_no, row))  # the request rows' own check and messages
                    numbers.append(line_no)
                except SchemaError as exc:
                    refused.append(exc.to_dict())
                if len(numbers) + len(refused) >= chunk_rows:
                    break
            if not numbers and not refused:
                return
            X = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
            yield Chunk(np.array(numbers, dtype=np.int64), X, refused=refused, fraction=min(f.tell() / size, 1.0))


# -- validation ------------------------------------------------------------------------------------
class _Checker:
    """The encoder's whole-matrix checks, per row; rows that fail go through its per-row check."""

    def __init__(self, encoder: RowEncoder) -> None:
        self.encoder = encoder
        self.names = encoder.names
        self._lo, self._hi = encoder.minimums, encoder.maximums
        self._imputable, self._integer = encoder.imputable, encoder.integer

    def split(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray, list[dict[str, object]]]:
        """-> (rows to score, their numbers, refusals in row order)."""
        X = chunk.X
        refusals = list(chunk.refused)
        if len(X) == 0:
            return X, chunk.numbers, refusals
        missing = np.isnan(X)
        bad = np.asarray((missing & ~self._imputable).any(axis=1))
        in_range = np.greater_equal(X, self._lo) & np.less_equal(X, self._hi)  # False for NaN
        bad |= ~(in_range | missing).all(axis=1)
        whole = X[:, self._integer]
        if whole.size:
            bad |= ~((whole == np.floor(whole)) | np.isnan(whole)).all(axis=1)
        if chunk.odd:
            bad[list(chunk.odd)] = True
        if not bad.any():
            return X, chunk.numbers, refusals
        keep: np.ndarray = ~bad
        for i in np.flatnonzero(bad).tolist():
            cells = chunk.odd.get(i, {})
            values = X[i].tolist()
            row = {name: cells[c] if c in cells else (None if math.isnan(values[c]) else values[c])
                   for c, name in enumerate(self.names)}
            number = int(chunk.numbers[i])
            try:
                X[i] = self.encoder.encode_row(number, row)  # accepted after all: score it
                keep[i] = True
            except SchemaError as exc:
                refusals.append(exc.to_dict())
        refusals.sort(key=lambda e: int(e.get("row", 0)))  # type: ignore[arg-type]
        return X[keep], chunk.numbers[keep], refusals


# -- writers ---------------------------------------------------------------------------------------
class _Writer:
    def __init__(self, path: Path, fmt: str, output_name: str) -> None:
        self.fmt, self.output_name = fmt, output_name
        self._file: IO[bytes] = path.open("wb")
        self._arrow: Any = None
        if fmt in ("csv", "parquet"):
            pa = _pyarrow(fmt)
            self._schema = pa.schema([(ROW_COLUMN, pa.int64()), (output_name, pa.float64())])
            if fmt == "csv":
                import pyarrow.csv as pacsv

                self._file.write(f"{ROW_COLUMN},{output_name}\n".encode())
                self._arrow = pacsv.CSVWriter(self._file, self._schema,
                                              write_options=pacsv.WriteOptions(include_header=False))
            else:
                import pyarrow.parquet as pq

                self._arrow = pq.ParquetWriter(self._file, self._schema)
        self._key = orjson.dumps(output_name)

    def write(self, numbers: np.ndarray, predictions: list[float]) -> None:
        if not predictions:
            return
        if self._arrow is not None:
            import pyarrow as pa

            self._arrow.write_table(pa.table({ROW_COLUMN: pa.array(numbers, pa.int64()),
                                              self.output_name: pa.array(predictions, pa.float64())},
                                             schema=self._schema))
            return
        key = self._key.decode()
        self._file.write(b"".join(
            f'{{"{ROW_COLUMN}":{n},{key}:'.encode() + orjson.dumps(p) + b"}\n"
            for n, p in zip(numbers.tolist(), predictions, strict=True)))

    def close(self) -> None:
        if self._arrow is not None:
            self._arrow.close()
        self._file.close()


_Split = tuple[np.ndarray, np.ndarray, list[dict[str, object]], float | None]
_END = object()


def _prefetch(chunks: Iterator[Chunk], checker: _Checker, depth: int = 2) -> Iterator[_Split]:
    """Read and validate the next chunks on a thread while the caller scores this one: the CSV and
    Parquet readers and ONNX Runtime release the GIL, so reading overlaps scoring. At most `depth`
    chunks wait in the queue (memory stays bounded); a reader error is raised in the caller."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for chunk in chunks:
                X, numbers, refusals = checker.split(chunk)
                if not put((X, numbers, refusals, chunk.fraction)):
                    return
        except BaseException as exc:  # handed to the caller, which raises it
            put(exc)
            return
        put(_END)

    thread = threading.Thread(target=work, name="batch-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)
        with contextlib.suppress(Exception):
            chunks.close()  # type: ignore[attr-defined]


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def default_errors_path(output: Path) -> Path:
    return output.with_name(output.name + ".errors.jsonl")


def score_file(scorer: Scorer, source: Path, output: Path, *, errors: Path | None = None,
               input_format: str | None = None, output_format: str | None = None,
               chunk_rows: int = DEFAULT_CHUNK_ROWS, progress: Progress | None = None,
               threads: int | None = None) -> BatchResult:
    """Score every row of `source` into `output` (row number, prediction); refused rows go to
    `errors` (JSON Lines: row, code, message, field, expected). Both are written to temporary files
    beside their targets and renamed only on success. Raises BatchInputError for bad input.

    `threads` chunks are scored at once (default: one per CPU), each by the runtime's predictor on
    one ONNX Runtime thread; results are written in input order. At most `threads` + 2 chunks are in
    memory at a time."""
    fmt_in = format_for(source, input_format, "the input")
    fmt_out = format_for(output, output_format or (None if output.suffix.lower() in _SUFFIXES else fmt_in),
                         "the output")
    errors = errors or default_errors_path(output)
    if not source.is_file():
        raise BatchInputError(f"no input file {source}" + (" (it is a directory)" if source.is_dir() else ""))
    if chunk_rows < 1:
        raise BatchInputError(f"--chunk-rows must be at least 1, got {chunk_rows}")
    threads = threads or max(1, min(os.cpu_count() or 1, 8))
    names = scorer.encoder.names
    if fmt_in == "csv":
        chunks = _read_csv(source, names, chunk_rows)
    elif fmt_in == "parquet":
        chunks = _read_parquet(source, names, chunk_rows)
    else:
        chunks = _read_jsonl(source, names, chunk_rows, scorer.encoder)
    checker = _Checker(scorer.encoder)
    result = BatchResult(output, errors)
    out_tmp, err_tmp = _partial(output), _partial(errors)
    output.parent.mkdir(parents=True, exist_ok=True)
    errors.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    writer: _Writer | None = None
    try:
        writer = _Writer(out_tmp, fmt_out, scorer.output_name)
        with err_tmp.open("wb") as err_file, ThreadPoolExecutor(threads, thread_name_prefix="batch-score") as pool:
            pending: collections.deque[tuple[Future[list[float]] | None, _Split]] = collections.deque()

            def finish_one() -> None:
                assert writer is not None
                future, (X, numbers, refusals, fraction) = pending.popleft()
                if future is not None:
                    writer.write(numbers, future.result())
                    result.scored += len(X)
                if refusals:
                    if result.first_error is None:
                        result.first_error = str(refusals[0]["message"])
                    err_file.write(b"".join(orjson.dumps(r) + b"\n" for r in refusals))
                    result.refused += len(refusals)
                if progress is not None:
                    progress(result.rows, fraction)

            try:
                for split in _prefetch(chunks, checker):
                    X = split[0]
                    pending.append((pool.submit(scorer.predict_matrix, X) if len(X) else None, split))
                    while len(pending) > threads:
                        finish_one()
                while pending:
                    finish_one()
            finally:
                for future, _ in pending:
                    if future is not None:
                        future.cancel()
        writer.close()
        writer = None
        result.seconds = time.perf_counter() - started
        if result.rows == 0:
            raise BatchInputError(f"{source} has no rows: expected at least one row after the header"
                                  if fmt_in == "csv" else f"{source} has no rows")
        if result.scored == 0:
            os.replace(err_tmp, errors)
            raise BatchInputError(f"all {result.refused} rows of {source} were refused, the first: "
                                  f"{result.first_error} (every reason is in {errors})")
        os.replace(out_tmp, output)
        os.replace(err_tmp, errors)
    finally:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        _remove(out_tmp)
        _remove(err_tmp)
    return result


def peak_rss_bytes() -> int:
    """This process's peak resident set size. Linux: VmHWM, which starts afresh at exec (ru_maxrss
    carries a parent's peak over into the child it runs); elsewhere ru_maxrss (macOS bytes, else KiB)."""
    import resource
    import sys

    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
